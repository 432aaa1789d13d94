"""Check where a command will write before it spends minutes computing.

:func:`check_out_dir` (an output folder) and :func:`check_out_file` (an output file) raise
:class:`numerics.cli.UsageError` with one line naming the option when the place cannot be
written: the folder is a file, lies under a file, or is read-only (tested by creating and
removing a probe file, so it also holds for root on a read-only mount). They create the
folder (and its parents) when it is missing, as the command would.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from numerics.cli import ArgumentParser, positive_float, positive_int, seed_int
from numerics.cli import check_out_dir as _check_out_dir
from numerics.cli import check_out_file as _check_out_file
from numerics.validate import check_int

__all__ = ["check_out_dir", "check_out_file", "minutes_float", "weights_parser"]


def check_out_dir(path, option: str = "--out") -> Path:
    """:func:`numerics.cli.check_out_dir` with ``create=True``: the folder is made and probed."""
    return _check_out_dir(path, option, create=True)


def check_out_file(path, option: str = "--out") -> Path:
    """:func:`numerics.cli.check_out_file` with ``create=True``."""
    return _check_out_file(path, option, create=True)


def minutes_float(text: str) -> float:
    """An argparse ``type=`` for a duration in minutes: a finite number > 0 whose value in
    seconds (x 60) is finite too (a 1e308-minute budget would be an infinite one).

    Examples
    --------
    >>> minutes_float("2.5")
    2.5
    """
    v = positive_float(text)
    if not math.isfinite(60.0 * v):
        raise argparse.ArgumentTypeError(f"expected a number of minutes whose seconds are "
                                         f"finite, got {text!r}")  # fmt: skip
    return v


def weights_parser(
    prog: str, description: str, default_out, *, seed: int = 0, train_help: str | None = None
) -> ArgumentParser:
    """A parser with the options of a command that trains (or reads) one weights file:
    ``--train``, ``--out FILE`` (default ``default_out``), ``--seed`` (default ``seed``, an
    integer in [0, 2**32)), ``--threads``."""
    seed = check_int(seed, "seed", maximum=2**32 - 1)
    p = ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    p.add_argument(
        "--train", action="store_true", help=train_help or "train and save the weights to --out"
    )
    p.add_argument("--out", type=Path, default=default_out, help="weights file")
    p.add_argument("--seed", type=seed_int, default=seed, help="seed of the training")
    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads")
    return p
