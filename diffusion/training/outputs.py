"""Check where a command will write before it spends minutes computing.

:func:`check_out_dir` (an output folder) and :func:`check_out_file` (an output file) raise
:class:`numerics.cli.UsageError` with one line naming the option when the place cannot be
written: the folder is a file, lies under a file, or is read-only (tested by creating and
removing a probe file, so it also holds for root on a read-only mount). They create the
folder (and its parents) when it is missing, as the command would.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from numerics.cli import ArgumentParser, UsageError, positive_int, seed_int

__all__ = ["check_out_dir", "check_out_file", "weights_parser"]


def _first_existing(p: Path) -> Path:
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def check_out_dir(path, option: str = "--out") -> Path:
    """Make sure ``path`` is (or can become) a writable folder; returns it as a Path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_out_dir(d / "run" / "a").is_dir()
    True
    >>> _ = (d / "f").write_text("x")
    >>> check_out_dir(d / "f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    numerics.cli.UsageError: --out: ... is a file, not a folder
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option}: {p} is a file, not a folder")
    base = _first_existing(p)
    if not base.is_dir():
        raise UsageError(f"{option}: {p} lies under {base}, which is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write in {p} ({exc.strerror or exc})") from None
    return p


def check_out_file(path, option: str = "--out") -> Path:
    """Make sure the file ``path`` can be written (its folder via :func:`check_out_dir`)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option}: {p} is a folder, expected a file name")
    base = _first_existing(p.parent)
    if not base.is_dir():
        raise UsageError(f"{option}: {p} lies under {base}, which is a file, not a folder")
    check_out_dir(p.parent, option)
    return p


def weights_parser(
    prog: str, description: str, default_out, *, seed: int = 0, train_help: str | None = None
) -> ArgumentParser:
    """A parser with the options of a command that trains (or reads) one weights file:
    ``--train``, ``--out FILE`` (default ``default_out``), ``--seed``, ``--threads``."""
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument("--train", action="store_true", help=train_help)
    p.add_argument("--out", type=Path, default=default_out, help="weights file")
    p.add_argument("--seed", type=seed_int, default=seed)
    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads")
    return p
