"""Print the command-line figures: ``python -m tests.cli.report [--all] [-j N] [--list]``.

Runs the bad-input cases of ``tests/cli`` (the default-run ones, or ``--all``) and counts
the cases that end as they should (exit status 2, one line naming the option, no
traceback, nothing written outside ``--out``, no code run from a pickle) and, for the
others, what went wrong. Run from the repository root with the repository on
``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cli.cases import COMMANDS, all_cli_cases
from tests.cli.run import PROBLEMS, QUICK_TIMEOUT, SLOW_TIMEOUT, check_case


def _run(case):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        return case, check_case(case, work, SLOW_TIMEOUT if case.slow else QUICK_TIMEOUT)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.cli.report", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--all", action="store_true", help="every case (default: the default-run ones)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="cases run at once (default 1)")
    ap.add_argument("--list", action="store_true", help="print the failing cases")
    a = ap.parse_args(argv)
    todo = [c for c in all_cli_cases() if a.all or not c.slow]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, a.jobs)) as pool:  # the work is in subprocesses
        results = list(pool.map(_run, todo))
    counts, skipped, ok = Counter(), 0, 0
    for _case, res in results:
        if res.skip:
            skipped += 1
        elif not res.problems:
            ok += 1
        for code in {c for c, _t in res.problems}:
            counts[code] += 1
    print(
        f"commands: {len(COMMANDS)}; bad command lines tried: {len(results)} "
        f"({'all' if a.all else 'default-run'} cases), {time.perf_counter() - t0:.0f} s"
    )
    print(f"  ended as they should (exit 2, one line naming the option): {ok}")
    print(f"  skipped: {skipped} (read-only folder cases when running as root)")
    print(f"  failing: {len(results) - ok - skipped}, of which")
    for code, what in PROBLEMS.items():
        print(f"    {what:45s} {counts[code]}")
    if a.list:
        for case, res in results:
            if res.problems:
                print(f"{case.id}  # " + "; ".join(t for _c, t in res.problems))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
