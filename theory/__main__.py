"""``python -m theory [--latex DIR] [--only MODULE ...]``: run every derivation's checks.

Prints one line per checked result (``name  PASS/FAIL  what was shown``) and exits with
status 0 only when all pass. ``--latex DIR`` also writes each result as a MyST Markdown
fragment ``DIR/<name>.md`` (a labelled ``$$ ... $$ (<name>)`` block produced by
:func:`sympy.latex`, plus one line naming the deriving function and the checking test).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import MODULES, all_checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
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
    start = time.perf_counter()
    results = all_checks(tuple(args.only))
    failed = 0
    for rows in results.values():
        for r in rows:
            print(r.line())
            failed += not r.passed
    total = sum(len(rows) for rows in results.values())
    if args.latex is not None:
        args.latex.mkdir(parents=True, exist_ok=True)
        for rows in results.values():
            for r in rows:
                (args.latex / f"{r.name}.md").write_text(r.fragment(), encoding="utf-8")
        print(f"wrote {total} fragments to {args.latex}")
    elapsed = time.perf_counter() - start
    print(f"{total - failed}/{total} passed in {elapsed:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
