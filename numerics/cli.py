"""Command-line building blocks shared by every command of the project.

A bad command line ends with **one line** on stderr that names the option, and exit status
2, never a traceback: :class:`ArgumentParser` turns argparse's errors into :class:`UsageError`,
which each command's ``main`` prints with :func:`fail`. The ``type=`` converters below
check values at parse time with messages that say what was expected.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

from numerics.validate import check_int

__all__ = [
    "ArgumentParser",
    "UsageError",
    "check_out_dir",
    "check_out_file",
    "check_out_dir",
    "fail",
    "nonneg_float",
    "parse_etas",
    "positive_float",
    "positive_int",
    "seed_int",
]


class UsageError(ValueError):
    """A bad command line or option value; its message is printed as one line (exit 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors raised as :class:`UsageError` (one line, exit 2 via :func:`fail`)."""

    def error(self, message):
        raise UsageError(message)


def fail(prog: str, exc: BaseException, status: int = 2) -> int:
    """Print ``"<prog>: error: <message>"`` as one line on stderr; return ``status``.

    ``exc`` must be an exception and ``status`` an exit status (an int in 0..255); anything
    else is a ``TypeError``/``ValueError`` naming it, raised before anything is printed.
    """
    if not isinstance(exc, BaseException):
        raise TypeError(f"exc: expected an exception, got {type(exc).__name__}")
    status = check_int(status, "status", maximum=255)
    msg = " ".join(str(exc).split())
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return status


def _as_path(path, option: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(
            f"{option}: expected a path (str or os.PathLike), got {type(path).__name__}"
        )
    return Path(path)


def _first_existing(p: Path) -> Path:
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def check_out_dir(path, option: str = "--out", *, create: bool = False) -> Path:
    """Check, before any work, that the output folder ``path`` can be written.

    No part of the path may be a file. Without ``create`` nothing is made: the folder (or its
    nearest existing parent) must be writable (``os.access``). With ``create`` the folder and
    its parents are made and a probe file is written and removed in it, which also catches a
    read-only mount for root. The writes themselves can still fail later (disk full): wrap
    them too.

    Raises
    ------
    UsageError
        One line naming ``option`` and the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_out_dir(d / "run" / "a", create=True).is_dir()
    True
    >>> _ = (d / "f").write_text("x")
    >>> check_out_dir(d / "f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    numerics.cli.UsageError: --out: .../f is a file, not a folder
    >>> check_out_dir(d / "f" / "run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    numerics.cli.UsageError: --out: .../f/run lies under .../f, which is a file, not a folder
    """
    p = _as_path(path, option)
    try:
        if p.exists() and not p.is_dir():
            raise UsageError(f"{option}: {p} is a file, not a folder")
        base = _first_existing(p)
        if not base.is_dir():
            raise UsageError(f"{option}: {p} lies under {base}, which is a file, not a folder")
        if not isinstance(create, bool):
            raise TypeError(f"create: expected True or False, got {create!r}")
        if not create:
            if not os.access(base, os.W_OK | os.X_OK):
                raise UsageError(f"{option}: {base} is not writable")
            return p
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{option}: cannot write in {p} ({exc.strerror or exc})") from None
    return p


def check_out_file(path, option: str = "--out", *, create: bool = False) -> Path:
    """Check that the file ``path`` can be written (its folder by :func:`check_out_dir`)."""
    p = _as_path(path, option)
    if p.is_dir():
        raise UsageError(f"{option}: {p} is a folder, expected a file name")
    base = _first_existing(p.parent)
    if not base.is_dir():
        raise UsageError(f"{option}: {p} lies under {base}, which is a file, not a folder")
    check_out_dir(p.parent, option, create=create)
    return p


def parse_etas(text: str) -> list[float]:
    """Comma-separated η values in [0, 1], at least one, no repeats.

    Examples
    --------
    >>> parse_etas("0, 0.5,1")
    [0.0, 0.5, 1.0]
    >>> parse_etas("1.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected values in [0, 1], got 1.5
    """
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of numbers, got {text!r}"
        ) from exc
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one value")
    bad = [v for v in vals if not (0.0 <= v <= 1.0)]
    if bad:
        raise argparse.ArgumentTypeError(f"expected values in [0, 1], got {bad[0]:g}")
    if len(set(vals)) != len(vals):
        raise argparse.ArgumentTypeError(f"repeated values in {text!r}")
    return vals


def positive_int(text: str) -> int:
    """An integer >= 1."""
    v = _integer(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def seed_int(text: str) -> int:
    """An integer seed in [0, 2**32)."""
    v = _integer(text)
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {v}")
    return v


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc


def _finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    v = _finite(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """A finite number > 0."""
    v = _finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v
