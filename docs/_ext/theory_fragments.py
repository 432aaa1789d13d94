"""Run the theory/ derivations at build time and write one MyST fragment per result.

Hook ``builder-inited``. Every public module of :mod:`theory` that has a ``checks()``
function is run (in worker processes, one module each); each returned
:class:`theory._core.Result` becomes

* ``_generated/theory/<name>.md`` -- a labelled display equation (``$$ ... $$ (<name>)``)
  whose LaTeX is :meth:`Result.latex`, i.e. :func:`sympy.latex` of the derived expression,
  followed by what was shown, a link to the deriving function (API reference) and a link
  to the checking test (its source, on the :doc:`/checks` page), and PASS/FAIL;
* an entry of ``_generated/theory/checks.md`` (the list of all results plus the source of
  every checking test);
* ``_generated/theory/rest_<module>.md`` -- the module's results that no page includes by
  name, so every result is shown exactly once.

Pages include fragments with ``{include} /_generated/theory/<name>.md`` and cite them with
``{eq}`<name>```. Nothing is typed by hand.

A Sphinx **warning** (so ``-W`` fails the build) is raised when a result FAILs, when an
equation evaluated to a bare True/False (``Eq(Symbol, Matrix)`` without ``evaluate=False``),
when the deriving function cannot be imported, or when the checking test does not exist.

The derivations are cached in ``_generated/theory/results.json`` keyed by a hash of the
theory sources (and sympy's version and this file): the html and doctest builds of one
CI run derive once. ``DPTRAVERSE_DOCS_REUSE_THEORY=1`` reuses that cache even when the
sources changed (for editing prose while theory/ is in flux; never in CI).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import multiprocessing
import os
import pkgutil
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _util import (
    DOCS,
    GENERATED,
    MARKER,
    ROOT,
    anchor,
    md_escape,
    remove_stale,
    write_if_changed,
)
from sphinx.util import logging

logger = logging.getLogger(__name__)

OUT = GENERATED / "theory"
CACHE = OUT / "results.json"
#: Order of the modules on the checks page (the argument's order); others follow, sorted.
ORDER = (
    "theory.vp",
    "theory.reverse_posterior",
    "theory.theorem1",
    "theory.theorem2",
    "theory.gmm",
)
_INCLUDE = re.compile(r"/_generated/theory/([A-Za-z0-9_]+)\.md")


# --------------------------------------------------------------------------- derive
def theory_modules() -> list[str]:
    """Public submodules of :mod:`theory` (no ``_private``, no ``__main__``), sorted."""
    import theory

    names = []
    for info in pkgutil.iter_modules(theory.__path__, "theory."):
        leaf = info.name.rsplit(".", 1)[1]
        if not leaf.startswith("_"):
            names.append(info.name)
    rank = {m: i for i, m in enumerate(ORDER)}
    return sorted(names, key=lambda m: (rank.get(m, len(ORDER)), m))


def _run_module(modname: str) -> dict:
    """Worker: import one module, run its ``checks()``, return plain records."""
    import sympy as sp

    t0 = time.perf_counter()
    mod = importlib.import_module(modname)
    if not callable(getattr(mod, "checks", None)):
        return {"module": modname, "results": None, "seconds": 0.0}
    records = []
    for r in mod.checks():
        eqs = r.equation if isinstance(r.equation, tuple) else (r.equation,)
        records.append(
            {
                "module": modname,
                "name": r.name,
                "passed": bool(r.passed),
                "shown": r.shown,
                "latex": r.latex(),
                "derived_by": r.derived_by,
                "tested_by": r.tested_by,
                "boolean_equation": any(isinstance(e, sp.logic.boolalg.BooleanAtom) for e in eqs),
            }
        )
    return {"module": modname, "results": records, "seconds": time.perf_counter() - t0}


def _source_hash(modules: list[str]) -> str:
    import sympy

    h = hashlib.sha256()
    h.update(sympy.__version__.encode())
    h.update(Path(__file__).read_bytes())
    for p in sorted((ROOT / "theory").rglob("*.py")):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    h.update(" ".join(modules).encode())
    return h.hexdigest()


def derive(modules: list[str]) -> list[dict]:
    """Run (or load from the cache) every module's checks; returns the records."""
    key = _source_hash(modules)
    if CACHE.exists():
        try:
            cached = json.loads(CACHE.read_text(encoding="utf-8"))
            reuse = os.environ.get("DPTRAVERSE_DOCS_REUSE_THEORY") == "1"
            if cached.get("key") == key or reuse:
                return cached["records"]
        except (OSError, ValueError, KeyError):
            pass
    t0 = time.perf_counter()
    workers = max(1, min(len(modules), os.cpu_count() or 1))
    records: list[dict] = []
    errors = []
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no Sphinx state forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {m: pool.submit(_run_module, m) for m in modules}
        for m, fut in futures.items():
            try:
                out = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported as a build warning
                errors.append(f"{m}: {type(exc).__name__}: {exc}")
                continue
            if out["results"] is None:
                continue
            records.extend(out["results"])
            logger.info("theory: %s derived in %.1f s", m, out["seconds"])
    for e in errors:
        logger.warning("theory derivation failed: %s", e, type="dptraverse", subtype="theory")
    logger.info("theory: all derivations in %.1f s", time.perf_counter() - t0)
    if not errors:
        OUT.mkdir(parents=True, exist_ok=True)
        write_if_changed(CACHE, json.dumps({"key": key, "records": records}, indent=1) + "\n")
    return records


# --------------------------------------------------------------------------- validate
def _split_test(tested_by: str) -> tuple[str, str]:
    path, _, node = tested_by.partition("::")
    node = re.sub(r"\[.*\]$", "", node)  # parametrised ids
    return path, node.replace("::", ".")


def _test_exists(tested_by: str) -> str | None:
    """None if ``path::test`` exists, else a reason."""
    path, node = _split_test(tested_by)
    f = ROOT / path
    if not f.is_file():
        return f"test file {path} does not exist"
    tree = ast.parse(f.read_text(encoding="utf-8"))
    scope = tree.body
    for part in node.split("."):
        hit = [
            n
            for n in scope
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.name == part
        ]
        if not hit:
            return f"{path} has no {node}"
        scope = getattr(hit[0], "body", [])
    return None


def _importable(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def validate(records: list[dict]) -> dict[str, str | None]:
    """Warn about every problem; return ``{tested_by: reason-or-None}``."""
    seen = set()
    tests: dict[str, str | None] = {}
    for r in records:
        where = f"theory result {r['name']} ({r['module']})"
        if r["name"] in seen:
            logger.warning("%s: duplicate result name", where, type="dptraverse", subtype="theory")
        seen.add(r["name"])
        if not r["passed"]:
            logger.warning("%s FAILS: %s", where, r["shown"], type="dptraverse", subtype="theory")
        if r["boolean_equation"]:
            logger.warning(
                "%s: an equation evaluated to True/False (build it with evaluate=False)",
                where,
                type="dptraverse",
                subtype="theory",
            )
        if not _importable(r["derived_by"]):
            logger.warning(
                "%s: derived_by %s cannot be imported",
                where,
                r["derived_by"],
                type="dptraverse",
                subtype="theory",
            )
        if r["tested_by"] not in tests:
            tests[r["tested_by"]] = _test_exists(r["tested_by"])
        if tests[r["tested_by"]]:
            logger.warning(
                "%s: checking test missing: %s",
                where,
                tests[r["tested_by"]],
                type="dptraverse",
                subtype="theory",
            )
    return tests


# --------------------------------------------------------------------------- write
def test_label(tested_by: str) -> str:
    return "check-" + anchor(tested_by.replace(".py", ""))


def fragment(r: dict) -> str:
    """The MyST fragment of one result (labelled equation + provenance line)."""
    status = "PASS" if r["passed"] else "FAIL"
    path, node = _split_test(r["tested_by"])
    return (
        f"{MARKER}\n\n"
        f"$$\n{r['latex']}\n$$ ({r['name']})\n\n"
        "{.provenance}\n"
        f"`{r['name']}`: *{md_escape(r['shown'])}.* "
        f"Derived by {{py:obj}}`{r['derived_by']}`; "
        f"checked by {{ref}}`{node} <{test_label(r['tested_by'])}>` "
        f"(`{path}`): **{status}** when these pages were built.\n"
    )


def placed_results() -> set[str]:
    """Result names that some page includes by name."""
    names = set()
    for p in DOCS.rglob("*.md"):
        rel = p.relative_to(DOCS).parts
        if rel[0] in ("_build", "_generated"):
            continue
        names.update(_INCLUDE.findall(p.read_text(encoding="utf-8")))
    return names


def write(records: list[dict], tests: dict[str, str | None], modules: list[str]) -> None:
    keep: set[Path] = set()

    def emit(name: str, text: str) -> None:
        path = OUT / name
        keep.add(path)
        write_if_changed(path, text)

    for r in records:
        emit(f"{r['name']}.md", fragment(r))

    placed = placed_results()
    by_module: dict[str, list[dict]] = {}
    for r in records:
        by_module.setdefault(r["module"], []).append(r)
    for m, rs in by_module.items():
        rest = [r for r in rs if r["name"] not in placed]
        body = [MARKER, ""]
        if rest:
            body += [
                f"Further results checked by `{m}` (each with its equation, function and test):",
                "",
            ]
            for r in rest:
                body += [f"```{{include}} /_generated/theory/{r['name']}.md", "```", ""]
        emit(f"rest_{m.split('.')[-1]}.md", "\n".join(body) + "\n")

    # The checks page: one table per module, then the source of every checking test.
    lines = [MARKER, ""]
    n_pass = sum(r["passed"] for r in records)
    lines += [
        f"{n_pass} of {len(records)} results pass "
        f"(modules: {', '.join(f'`{m}`' for m in by_module)}).",
        "",
    ]
    for m, rs in by_module.items():
        if not rs:
            continue
        lines += [f"## `{m}`", ""]
        for r in rs:
            _, node = _split_test(r["tested_by"])
            status = "PASS" if r["passed"] else "**FAIL**"
            lines.append(
                f"- {{eq}}`{r['name']}` `{r['name']}`: {status}. {md_escape(r['shown'])}. "
                f"Derived by {{py:obj}}`~{r['derived_by']}`; "
                f"checked by {{ref}}`{node} <{test_label(r['tested_by'])}>`."
            )
        lines.append("")
    lines += ["## The checking tests", ""]
    for tested_by, missing in tests.items():
        path, node = _split_test(tested_by)
        lines += [f"({test_label(tested_by)})=", f"### `{tested_by}`", ""]
        if missing:
            lines += [f"*Not found:* {md_escape(missing)}.", ""]
            continue
        lines += [
            f"```{{literalinclude}} /../{path}",
            f":pyobject: {node}",
            ":language: python",
            "```",
            "",
        ]
    emit("checks.md", "\n".join(lines))
    remove_stale(OUT, keep)


def generate(app) -> None:
    modules = theory_modules()
    records = derive(modules)
    tests = validate(records)
    write(records, tests, modules)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
