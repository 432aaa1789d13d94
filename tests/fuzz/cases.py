"""Fuzz cases (one per entry point and argument) and the two profiles that run them.

* quick (default test run): every canonical nonsense family of the argument's kind, plus
  :data:`QUICK_DRAWS` hypothesis draws;
* deep (``-m slow`` and ``python -m tests.fuzz.report --deep``): the canonical families plus
  :data:`DEEP_DRAWS` draws, and the ``heavy`` entry points (training loops, whole drivers:
  seconds per call, so only their canonical families).

Both are derandomized (hypothesis ``derandomize=True``, no example database), so a run
gives the same calls every time and :file:`known_failures.txt` can be exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import HEAVY_LIMIT, Outcome, Param, TmpDir, classify, params_of
from tests.fuzz.kinds import canonical, strategy
from tests.fuzz.registry import Entry, resolved

QUICK_DRAWS = 2
DEEP_DRAWS = 20

KNOWN_FAILURES = Path(__file__).with_name("known_failures.txt")


@dataclass(frozen=True)
class Case:
    entry: str
    param: Param
    heavy: bool

    @property
    def id(self) -> str:
        return f"{self.entry}::{self.param.name}"


@cache
def entries() -> dict[str, Entry]:
    return resolved()[0]


@cache
def all_cases() -> tuple[Case, ...]:
    """One case per (entry point, argument), in a stable order."""
    out = []
    for name, e in sorted(entries().items()):
        with TmpDir() as tmp:
            c = e.factory(tmp)
            for p, _v, _o in params_of(c):
                out.append(Case(name, p, e.heavy))
    return tuple(out)


def _valid_of(c, param: Param):
    for p, v, o in params_of(c):
        if p == param:
            return v, o
    raise KeyError(param)


_WARM: set[str] = set()


def warm_up(name: str) -> None:
    """Run ``name``'s valid call once per process without a tight time limit.

    Lazy imports (diffusers, torch submodules, scikit-learn) then happen here, not inside a
    timed fuzz call: an alarm that interrupted an import would leave a half-initialised module
    behind for every later call, and a slow first import would count as a hang.
    """
    if name in _WARM:
        return
    _WARM.add(name)
    e = entries()[name]
    with TmpDir() as tmp:
        classify(e.factory(tmp), None, None, None, 10 * HEAVY_LIMIT)


def run_valid(name: str) -> Outcome:
    """The registry's own valid call of ``name`` (must give a finite result)."""
    warm_up(name)
    with TmpDir() as tmp:
        e = entries()[name]
        return classify(e.factory(tmp), None, None, None, e.limit)


def draws_for(case: Case, deep: bool) -> int:
    if not deep:
        return QUICK_DRAWS
    return 0 if case.heavy else DEEP_DRAWS


def run_case(case: Case, draws: int) -> list[tuple[str, Outcome]]:
    """Every canonical nonsense of the case's kind, then ``draws`` hypothesis draws."""
    warm_up(case.entry)
    factory, limit = entries()[case.entry].factory, entries()[case.entry].limit
    results: list[tuple[str, Outcome]] = []
    with TmpDir() as tmp:
        valid, opts = _valid_of(factory(tmp), case.param)
        families = canonical(case.param.kind, valid, opts)
    for i in range(len(families)):
        with TmpDir() as tmp:
            c = factory(tmp)
            valid, opts = _valid_of(c, case.param)
            nz = canonical(case.param.kind, valid, opts)[i]
            value = nz.make(tmp)
            results.append((nz.label, classify(c, case.param, nz, value, limit)))
    if draws <= 0:
        return results

    @settings(
        max_examples=draws,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def drawn(data):
        with TmpDir() as tmp:
            c = factory(tmp)
            valid, opts = _valid_of(c, case.param)
            nz = data.draw(strategy(case.param.kind, valid, opts))
            value = nz.make(tmp)
            results.append((f"drawn: {nz.label}", classify(c, case.param, nz, value, limit)))

    drawn()
    return results


def read_known_failures(path: Path = KNOWN_FAILURES) -> dict[str, set[str]]:
    """``case id -> {"quick", "deep"}``: the profiles in which the case fails today.

    A line is ``<case id>`` (fails in both profiles), ``<case id> @deep`` or ``<case id> @quick``
    (fails only in that profile: the hypothesis draws differ); ``#`` starts a comment. CLI cases
    (``<command>::<case>``) live here too.
    """
    out: dict[str, set[str]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        parsed = parse_known_failure(line)
        if parsed is not None:
            cid, tags = parsed
            out[cid] = tags or {"quick", "deep"}
    return out


def parse_known_failure(line: str) -> tuple[str, set[str]] | None:
    """``(case id, {tags})`` of one line of the known-failures file, or None for a comment.

    Case ids may contain spaces (``diffusion.toy2d::unknown option``); trailing ``@tags``
    and everything after ``#`` are not part of the id.
    """
    words = line.split("#", 1)[0].split()
    tags = set()
    while words and words[-1].startswith("@"):
        tags.add(words.pop()[1:])
    if not words:
        return None
    return " ".join(words), tags
