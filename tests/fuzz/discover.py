"""The public entry points of numerics/ and diffusion/, derived from the packages themselves.

Every module found by :func:`pkgutil.walk_packages` is walked, except private ones (a dotted
part starting with ``_``, which also skips ``__main__``). A module's public names are its
``__all__``; a module without ``__all__`` contributes the public functions and classes it
defines itself (so the thin ``python -m`` entry shims, which only import ``main`` /
``build_parser``, contribute nothing, and a new module that forgets ``__all__`` is still
seen). Re-exports are de-duplicated by the object's identity: an entry point is known by
the first public name met in walk order, and a registry entry may use any of its names.

The public methods of each public class (defined in the class itself, plus ``__call__``)
are entry points too, named ``<class entry>.<method>``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from functools import cache

PACKAGES = ("numerics", "diffusion")


@dataclass
class EntryPoint:
    """One public object: ``name`` (canonical), ``aliases`` (every public dotted name)."""

    name: str
    obj: object
    kind: str  # "function", "class", "method" or "constant"
    aliases: list[str] = field(default_factory=list)
    owner: type | None = None  # the class of a method


def public_modules():
    """Import and yield every public module of :data:`PACKAGES`, in walk order."""
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        yield mod
        for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            yield importlib.import_module(info.name)


def public_names(mod) -> list[str]:
    """``mod.__all__``, or the public functions and classes ``mod`` defines itself."""
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    return [
        n
        for n, o in vars(mod).items()
        if not n.startswith("_")
        and (inspect.isfunction(o) or inspect.isclass(o))
        and getattr(o, "__module__", None) == mod.__name__
    ]


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "constant"


def _is_project_class(cls) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def class_methods(cls) -> dict[str, object]:
    """Public methods defined in ``cls`` itself (functions, class/static methods, ``__call__``)."""
    out = {}
    for n, v in vars(cls).items():
        if n.startswith("_") and n != "__call__":
            continue
        if isinstance(v, (classmethod, staticmethod)):
            out[n] = v.__func__
        elif inspect.isfunction(v):
            out[n] = v
    return out


def n_parameters(fn) -> int:
    """Parameters of ``fn`` other than self/cls and ``*args``/``**kwargs``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return len(params)


@cache
def entry_points() -> dict[str, EntryPoint]:
    """Canonical name -> :class:`EntryPoint`, for every public function, class, constant and method."""
    by_id: dict[int, EntryPoint] = {}
    order: list[EntryPoint] = []
    for mod in public_modules():
        for n in public_names(mod):
            obj = getattr(mod, n)
            dotted = f"{mod.__name__}.{n}"
            ep = by_id.get(id(obj))
            if ep is None:
                ep = EntryPoint(dotted, obj, _kind(obj))
                by_id[id(obj)] = ep
                order.append(ep)
            ep.aliases.append(dotted)
    out = {ep.name: ep for ep in order}
    for ep in list(order):
        if ep.kind != "class" or not _is_project_class(ep.obj):
            continue
        for m, fn in class_methods(ep.obj).items():
            name = f"{ep.name}.{m}"
            aliases = [f"{a}.{m}" for a in ep.aliases]
            out[name] = EntryPoint(name, fn, "method", aliases, owner=ep.obj)
    return out


def alias_map() -> dict[str, str]:
    """Every public dotted name (aliases included) -> canonical name."""
    return {a: ep.name for ep in entry_points().values() for a in ep.aliases}
