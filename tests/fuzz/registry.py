"""The registry: one small factory per entry point giving a valid call on tiny inputs, and the
reasoned exemptions.

A factory takes a fresh temporary folder and returns a :class:`~tests.fuzz.harness.Call`;
argument kinds are inferred from the values (a float is a ``"float"``, a tensor a
``"tensor"``, a :class:`~numerics.schedule.Schedule` a ``"schedule"``...) unless given with
``K(value, kind)``. Entries are named by any public dotted name of the object (re-exports
count). ``heavy=True`` entries (training loops, whole drivers) are fuzzed in the deep
(``-m slow``) run only.

Exempt without an entry, automatically: constants (data, not callable), exception classes
(raised, not called), and methods without arguments (nothing to replace; the constructor
entries call them on the object they build, see ``then=``). Every other exemption is listed
in :data:`EXEMPT` with its reason.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from tests.fuzz.discover import EntryPoint, alias_map, entry_points, n_parameters
from tests.fuzz.harness import HEAVY_LIMIT, TIME_LIMIT


@dataclass
class Entry:
    name: str
    factory: Callable
    heavy: bool = False

    @property
    def limit(self) -> float:
        return HEAVY_LIMIT if self.heavy else TIME_LIMIT


REGISTRY: dict[str, Entry] = {}
EXEMPT: dict[str, str] = {}

REGISTRY_MODULES = (
    "tests.fuzz.registry_numerics",
    "tests.fuzz.registry_core",
    "tests.fuzz.registry_more",
    "tests.fuzz.registry_new",
    "tests.fuzz.registry_toy26",
    "tests.fuzz.registry_base26",
    "tests.fuzz.registry_expt26",
    "tests.fuzz.registry_metr26",
    "tests.fuzz.registry_core26",
)


def entry(name: str, *, heavy: bool = False):
    """Decorator: register ``factory(tmp) -> Call`` for the entry point ``name``."""

    def deco(factory):
        if name in REGISTRY:
            raise ValueError(f"duplicate registry entry {name}")
        REGISTRY[name] = Entry(name, factory, heavy)
        return factory

    return deco


def exempt(name: str, reason: str) -> None:
    EXEMPT[name] = reason


def load() -> None:
    for m in REGISTRY_MODULES:
        importlib.import_module(m)


def auto_exemption(ep: EntryPoint) -> str | None:
    """The reason an entry point needs no registry entry, or None."""
    if ep.kind == "constant":
        return "data constant, not callable"
    if ep.kind == "class" and issubclass(ep.obj, BaseException):
        return "exception class (raised, not called)"
    if ep.kind == "method" and n_parameters(ep.obj) == 0:
        return "method without arguments (nothing to replace)"
    if ep.kind == "method" and inspect.isabstract(ep.owner):
        return "abstract method"
    return None


def resolved() -> tuple[dict[str, Entry], dict[str, str], list[str]]:
    """(canonical name -> Entry, canonical name -> exemption reason, stale names)."""
    load()
    amap = alias_map()
    eps = entry_points()
    entries, exemptions, stale = {}, {}, []
    for table, out in ((REGISTRY, entries), (EXEMPT, exemptions)):
        for name, value in table.items():
            canon = amap.get(name)
            if canon is None:
                stale.append(name)
            else:
                out[canon] = value
    for ep in eps.values():
        if ep.name not in entries and ep.name not in exemptions:
            why = auto_exemption(ep)
            if why:
                exemptions[ep.name] = why
    return entries, exemptions, stale
