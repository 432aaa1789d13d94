"""Print the fuzz figures: ``python -m tests.fuzz.report [--deep] [-j N] [--list]``.

Entry points covered (public names of numerics/ and diffusion/ with a registry entry, and
the exempt ones), cases (entry point x argument), calls tried, and what came back: finite
results, named errors, silent NaN/Inf, silent wrong results, wrong exception types, errors
not naming the argument, hangs. ``--list`` also prints one line per failing case;
``--write-known-failures FILE`` rewrites the fuzz lines of ``known_failures.txt`` (its
command-line lines are kept; run it with ``--both`` to mark the cases failing in one profile
only ``@deep`` / ``@quick``); ``--markdown`` prints one line per failing entry point; ``--known`` (runs nothing) groups the
lines of ``known_failures.txt`` by failure kind, first failing family and module.

Run from the repository root with the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter, defaultdict

from tests.fuzz import cases as C
from tests.fuzz.discover import entry_points
from tests.fuzz.harness import FAILURES, PASSES
from tests.fuzz.registry import resolved

CORE = ("schedule", "models", "guidance", "sampler", "operators", "priors")


def area(entry: str) -> str:
    """The restructure area an entry point belongs to (for the per-area counts)."""
    parts = entry.split(".")
    if parts[0] == "numerics":
        return "numerics"
    sub = parts[1]
    if sub in CORE and not entry.startswith("diffusion.priors.fit_gmm"):
        return "diffusion core"
    if entry.startswith("diffusion.experiments.restore"):
        return "restore"
    if entry.startswith(("diffusion.experiments.toy2d", "diffusion.data.toy2d")):
        return "toy2d"
    if sub == "training":
        return "training"
    return "diffusion other"


def _run(args):
    case, draws = args
    return case, C.run_case(case, draws)


def run_profile(deep: bool, jobs: int):
    todo = [(c, C.draws_for(c, deep)) for c in C.all_cases() if deep or not c.heavy]
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            return list(pool.imap_unordered(_run, todo, chunksize=4))
    return [_run(t) for t in todo]


def summarise(results, *, deep: bool, seconds: float) -> list[str]:
    entries, exemptions, _ = resolved()
    eps = entry_points()
    status = Counter()
    by_area: dict[str, Counter] = defaultdict(Counter)
    failing_cases: dict[str, Counter] = defaultdict(Counter)
    for case, res in results:
        for _label, o in res:
            status[o.status] += 1
            a = area(case.entry)
            by_area[a]["calls"] += 1
            if o.failed:
                by_area[a]["failed"] += 1
                failing_cases[a][case.id] += 1
    n_calls = sum(status.values())
    fuzzed = {c.entry for c, _ in results}
    lines = [
        f"fuzz profile: {'deep' if deep else 'quick'} ({C.DEEP_DRAWS if deep else C.QUICK_DRAWS} "
        f"hypothesis draws per argument on top of the canonical families"
        f"{', none for the heavy entries' if deep else ''}), {seconds:.0f} s",
        f"public names: {len(eps)} (functions, classes, methods and constants)",
        f"entry points covered: {len(entries)} with a registry entry, {len(fuzzed)} fuzzed in this "
        f"profile; {len(exemptions)} exempt "
        f"({sum('constant' in w for w in exemptions.values())} constants)",
        f"cases (entry point x argument): {len(results)}",
        f"calls tried: {n_calls}",
    ]
    for s in PASSES:
        lines.append(f"  {s:16s} {status[s]}")
    for s, what in FAILURES.items():
        lines.append(f"  {s:16s} {status[s]}   ({what})")
    lines.append("by area: calls, failed calls, failing cases")
    for a in sorted(by_area):
        c = by_area[a]
        lines.append(f"  {a:16s} {c['calls']:6d} {c['failed']:6d} {len(failing_cases[a]):5d}")
    return lines


def failing(results) -> dict[str, str]:
    out = {}
    for case, res in sorted(results, key=lambda cr: cr[0].id):
        bad = [(label, o) for label, o in res if o.failed]
        if bad:
            label, o = bad[0]
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            out[case.id] = f"{o.status}: {label}: {o.detail[:110]}{more}"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.fuzz.report", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--deep", action="store_true", help="the deep profile (as -m slow)")
    ap.add_argument("--both", action="store_true", help="run quick and deep")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--list", action="store_true", help="print the failing cases")
    ap.add_argument("--write-known-failures", metavar="FILE")
    ap.add_argument(
        "--markdown", action="store_true", help="one Markdown line per failing entry point"
    )
    ap.add_argument(
        "--known", action="store_true", help="group known_failures.txt by cause; run nothing"
    )
    a = ap.parse_args(argv)
    if a.known:
        print("\n".join(known_summary()))
        return 0
    profiles = [False, True] if a.both else [a.deep]
    fails = {}
    for deep in profiles:
        t0 = time.perf_counter()
        res = run_profile(deep, a.jobs)
        print("\n".join(summarise(res, deep=deep, seconds=time.perf_counter() - t0)), flush=True)
        fails["deep" if deep else "quick"] = failing(res)
        if a.list:
            for cid, why in fails["deep" if deep else "quick"].items():
                print(f"{cid}  # {why}")
        if a.markdown:
            print("\n".join(markdown(fails["deep" if deep else "quick"])))
        print()
    if a.write_known_failures:
        write_known_failures(a.write_known_failures, fails, both=a.both)
    return 0


def write_known_failures(path: str, fails: dict, *, both: bool) -> None:
    """Rewrite the fuzz lines of a known-failures file; its command-line lines are kept."""
    quick, deep = fails.get("quick", {}), fails.get("deep", {})
    fuzz_ids = {c.id for c in C.all_cases()}
    kept = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parsed = C.parse_known_failure(line)
                if parsed is not None and parsed[0] not in fuzz_ids:
                    kept.append(line.rstrip("\n"))
    except FileNotFoundError:
        pass
    lines = [
        "# Fuzz and CLI cases failing today: tests xfail(strict=True) exactly these.",
        "# A line is `<entry point>::<argument>` or `<command>::<case>`; `@deep` / `@quick`:",
        "# fails in that fuzz profile only. Remove a line when its case is fixed.",
        "#",
        "# --- library fuzz (tests/fuzz): <entry point>::<argument>",
    ]
    for cid in sorted(set(quick) | set(deep)):
        tag = ""
        if both and not _heavy(cid):
            tag = " @deep" if cid not in quick else " @quick" if cid not in deep else ""
        lines.append(f"{cid}{tag}  # {quick.get(cid) or deep.get(cid)}")
    n = len(lines) - 5
    lines += ["#", "# --- command lines (tests/cli): <command>::<case>", *kept]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {n} fuzz cases (kept {len(kept)} command-line lines) to {path}", file=sys.stderr)


def markdown(fails: dict[str, str]) -> list[str]:
    """One line per failing entry point: its failing arguments, each with its first failure."""
    by_entry: dict[str, list[str]] = defaultdict(list)
    for cid, why in fails.items():
        entry, arg = cid.split("::", 1)
        parts = why.split(": ")
        status, label = parts[0], parts[2] if parts[1] == "drawn" and len(parts) > 2 else parts[1]
        by_entry[entry].append(f"{arg} ({status}: {label})")
    return [f"- `{e}`: " + "; ".join(args) for e, args in sorted(by_entry.items())]


def known_summary(path=C.KNOWN_FAILURES) -> list[str]:
    """Counts of the known-failure lines: per failure kind (and first failing family), per
    module, and the command-line lines per command, to see which root causes weigh most."""
    kinds, families, modules, commands = Counter(), Counter(), Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        parsed = C.parse_known_failure(line)
        if parsed is None:
            continue
        cid, why = parsed[0], line.partition("#")[2].strip()
        entry = cid.split("::", 1)[0]
        if entry in {c.name for c in _commands()}:
            commands[entry] += 1
            continue
        status, _, rest = why.partition(": ")
        kinds[status] += 1
        families[f"{status}: {rest.split(': ')[0].removeprefix('drawn: ')}"] += 1
        parts = entry.split(".")
        cut = next((i for i, p in enumerate(parts) if p[:1].isupper()), len(parts) - 1)
        modules[".".join(parts[: max(cut, 1)])] += 1  # the module (a class's, a function's)
    out = [f"known failures: {sum(kinds.values())} fuzz cases, {sum(commands.values())} CLI cases"]
    for title, counter, most in (("kind", kinds, None), ("kind: first failing family", families, 15),
                                 ("module", modules, 25), ("command", commands, None)):  # fmt: skip
        out.append(f"by {title}:")
        out += [f"  {n:4d}  {k}" for k, n in counter.most_common(most)]
    return out


def _commands():
    from tests.cli.cases import COMMANDS

    return COMMANDS


def _heavy(cid: str) -> bool:
    return any(c.id == cid and c.heavy for c in C.all_cases())


if __name__ == "__main__":
    raise SystemExit(main())
