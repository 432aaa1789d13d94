"""A checkpoint whose pickle would run code, for the safe-loading tests (not a test module).

:func:`crafted_checkpoint` writes, with ``torch.save``, a dict holding an object whose
``__reduce__`` calls ``open(marker, "w")``: an ordinary ``torch.load(weights_only=False)``
creates the marker file, a safe load refuses the file and creates nothing.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest
import torch


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def crafted_checkpoint(path, marker, **plain) -> Path:
    """Write the crafted file at ``path`` (``plain`` entries added beside the payload)."""
    torch.save({**plain, "payload": _Payload(marker)}, path)
    return Path(path)


def unsafe_load_runs_code(path, marker) -> bool:
    """True if the plain unpickler runs the payload (proof the file is really hostile)."""
    opened = torch.load(path, weights_only=False)["payload"]  # the file the payload opened
    opened.close()
    ran = Path(marker).exists()
    Path(marker).unlink(missing_ok=True)
    return ran


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in (skips the test where none can be made)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores the mode bits: use sysfs, read-only to root too
        ro = Path("/sys/dptraverse-out")
        if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _can_create("/sys"):
            pytest.skip("no read-only folder available")
    return ro


def _can_create(folder) -> bool:
    try:
        Path(folder, ".dptraverse-probe").mkdir()
    except OSError:
        return False
    Path(folder, ".dptraverse-probe").rmdir()
    return True


def bad_out_files(tmp_path: Path) -> list[tuple[Path, str]]:
    """Output *file* names that cannot be written, with the words their error must hold."""
    f = tmp_path / "file"
    f.write_text("x")
    ro = read_only_folder(tmp_path)
    return [(tmp_path, "is a folder"), (f / "w.pt", "lies under"), (ro / "w.pt", "cannot write")]


def assert_one_line(err: str, *needles) -> None:
    """``err`` is one line, no traceback, and names every needle."""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert str(n) in err, (n, err)
