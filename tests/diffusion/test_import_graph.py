"""The import graph of diffusion/ and numerics/: no cycle (lazy imports included), the library
core imports nothing from the layers built on it, every module imports on its own in a fresh
interpreter in any order, and ``import diffusion`` stays light (no diffusers)."""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ("sampler", "schedule", "guidance", "models", "operators", "priors", "divergence")
ABOVE_CORE = ("baselines", "training", "metrics", "data", "experiments")
#: The fit command lives in priors/ but is a driver: it reads the data sets.
CORE_DRIVERS = {"diffusion.priors.fit_gmm": {"diffusion.data.patches", "diffusion.data.digits"}}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in ("diffusion", "numerics"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


def _graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its body (lazy imports too)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    if sub in mods:
                        out.add(sub)
                    elif node.module in mods:
                        out.add(node.module)
        graph[name] = out
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in graph[v]:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_core_imports_nothing_built_on_it():
    bad = []
    for name, deps in _graph().items():
        parts = name.split(".")
        if parts[0] != "diffusion" or len(parts) < 2 or parts[1] not in CORE:
            continue
        for dep in deps - CORE_DRIVERS.get(name, set()):
            dparts = dep.split(".")
            if dparts[0] == "diffusion" and len(dparts) > 1 and dparts[1] in ABOVE_CORE:
                bad.append(f"{name} -> {dep}")
    assert bad == []


@pytest.mark.parametrize("seed", [0, 1])
def test_every_module_imports_in_a_fresh_interpreter_in_random_order(seed):
    names = [m for m in _modules() if m.startswith("diffusion")]
    random.Random(seed).shuffle(names)
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(
        [sys.executable, "-c", code, *names], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]


def test_import_diffusion_is_light():
    code = (
        "import sys, diffusion\n"
        "heavy = [m for m in ('diffusers', 'sklearn', 'matplotlib', 'skimage', 'ot')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == ""


def test_numerics_reaches_torch_and_diffusion_only_through_the_bridge():
    """numerics/ imports torch or diffusion/ (lazily or not) in ``dp_curve._torch_bridge`` alone."""
    offenders = []
    for p in sorted((ROOT / "numerics").rglob("*.py")):
        if p.name == "_torch_bridge.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                if n.split(".")[0] in {"torch", "diffusion"}:
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} imports {n}")
    assert not offenders, offenders
