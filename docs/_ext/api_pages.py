"""Generate one autodoc page per public module of theory/, numerics/ and diffusion/.

Hook ``builder-inited``. Pages are written to ``docs/api/<module>.md`` (git-ignored;
``docs/api/index.md`` globs them), so a module that does not exist yet is simply not
listed, and a removed one disappears. A module that exists but fails to import is a
build warning (``-W`` fails): the reference must not silently drop it.

Each page starts with a ``testsetup`` that loads the module's globals, so the
``sphinx.ext.doctest`` builder runs the docstring examples exactly as
``pytest --doctest-modules`` does (same namespace).
"""

from __future__ import annotations

import importlib
import pkgutil

from _util import DOCS, MARKER, remove_stale, write_if_changed
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The packages documented, in this order.
PACKAGES = ("theory", "numerics", "diffusion")
API = DOCS / "api"


def public_modules(package: str) -> list[str]:
    """The package and its public submodules (no ``_private`` part, no ``__main__``)."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts):
            continue
        names.append(info.name)
    return sorted(names)


def reexports(modname: str) -> list[str]:
    """Lines linking the names of ``__all__`` that the module re-exports from elsewhere."""
    mod = importlib.import_module(modname)
    lines = []
    for name in getattr(mod, "__all__", ()):
        obj = getattr(mod, name, None)
        home = getattr(obj, "__module__", None)
        if obj is None or home is None or home == modname or not hasattr(obj, "__qualname__"):
            continue
        lines.append(f"- {{py:obj}}`{name} <{home}.{obj.__qualname__}>` (from `{home}`)")
    if lines:
        lines = ["Public names re-exported here, documented where they are defined:", "", *lines, ""]
    return lines


def page(modname: str) -> str:
    # ``:ignore-module-all:``: each object is documented once, in the module that defines it
    # (a package's ``__all__`` re-exports are listed as links instead), and its docstring
    # examples run in that module's namespace.
    return "\n".join(
        [
            MARKER,
            f"# `{modname}`",
            "",
            "```{testsetup} *",
            "import importlib",
            f"globals().update(vars(importlib.import_module({modname!r})))",
            "```",
            "",
            f"```{{eval-rst}}\n.. automodule:: {modname}\n   :members:\n   :ignore-module-all:\n"
            "   :show-inheritance:\n```",
            "",
            *reexports(modname),
        ]
    )


def generate(app) -> None:
    keep = set()
    for package in PACKAGES:
        try:
            modules = public_modules(package)
        except ImportError as exc:
            logger.warning("api: package %s cannot be imported: %s", package, exc)
            continue
        for modname in modules:
            try:
                importlib.import_module(modname)
            except Exception as exc:  # noqa: BLE001 - reported as a build warning
                logger.warning(
                    "api: %s exists but cannot be imported (%s: %s); left out",
                    modname,
                    type(exc).__name__,
                    exc,
                    type="dptraverse",
                    subtype="api",
                )
                continue
            path = API / f"{modname}.md"
            keep.add(path)
            write_if_changed(path, page(modname))
    remove_stale(API, keep)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
