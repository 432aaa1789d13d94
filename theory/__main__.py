"""``python -m theory [--latex DIR] [--only MODULE ...]``: run every derivation's checks.

Prints one line per checked result (``name  PASS/FAIL  what was shown``) and exits with
status 0 only when all pass. ``--latex DIR`` also writes each result as a MyST Markdown
fragment ``DIR/<name>.md`` (a labelled ``$$ ... $$ (<name>)`` block produced by
:func:`sympy.latex`, plus one line naming the deriving function and the checking test).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import MODULES, all_checks


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit status 2 (no usage block); theory/
    imports sympy only, so this is numerics.cli's rule written out here."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}\n")


def _latex_dir(parser: argparse.ArgumentParser, path: Path) -> Path:
    """Make the ``--latex`` folder, or stop with one line naming the option."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--latex: cannot make the folder {path} ({exc.strerror or exc})")
    if not os.access(path, os.W_OK | os.X_OK):
        parser.error(f"--latex: {path} is not writable")
    return path


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file in the same folder and ``os.replace`` (a kill
    leaves the old file or the new one, never a truncated one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    parser = _Parser(prog="python -m theory", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latex", metavar="DIR", type=Path, help="write one MyST fragment per result"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=MODULES,
        default=MODULES,
        metavar="MODULE",
        help=f"run only these modules (of {', '.join(MODULES)})",
    )
    args = parser.parse_args(argv)
    if args.latex is not None:
        _latex_dir(parser, args.latex)
    start = time.perf_counter()
    results = all_checks(tuple(args.only))
    failed = 0
    for rows in results.values():
        for r in rows:
            print(r.line())
            failed += not r.passed
    total = sum(len(rows) for rows in results.values())
    if args.latex is not None:
        for rows in results.values():
            for r in rows:
                _write_text(args.latex / f"{r.name}.md", r.fragment())
        print(f"wrote {total} fragments to {args.latex}")
    elapsed = time.perf_counter() - start
    print(f"{total - failed}/{total} passed in {elapsed:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
