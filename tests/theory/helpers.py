"""Helpers for the theory tests: evaluate sympy results with numpy at concrete sizes.

Only the tests import numpy/numerics; theory/ itself imports sympy alone.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np
import sympy as sp

from theory.symbols import d

#: float64 agreement between a lambdified closed form and numerics/ (both exact formulas; the
#: matrices used have condition numbers <= 1e3, so rounding stays far below this)
RTOL = 1e-9
ATOL = 1e-11


def lam(expr, args, dim: int | None = None, **sizes):
    """``sympy.lambdify(args, expr, "numpy")`` after fixing symbolic sizes.

    ``dim`` replaces the dimension symbol ``d``; ``sizes`` replace other integer size
    symbols by name (e.g. ``k=2``). Matrix-symbol arguments take numpy arrays of the fixed
    shape (vectors as ``(n, 1)`` columns).
    """
    sub = {}
    if dim is not None:
        sub[d] = dim
    for name, value in sizes.items():
        sub[sp.Symbol(name, integer=True, positive=True)] = value
    if sub:
        expr = expr.subs(sub)
        args = [a.subs(sub) for a in args]
    return sp.lambdify(args, expr, "numpy")


def col(v):
    """A 1-d array as a column vector."""
    return np.asarray(v, dtype=np.float64).reshape(-1, 1)


def close(a, b, rtol=RTOL, atol=ATOL):
    """Assert elementwise closeness with the module's float64 tolerances."""
    np.testing.assert_allclose(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol
    )


@functools.cache
def run(check_fn):
    """Run one ``theory.<module>.check_*`` function once per test process."""
    return check_fn()


def assert_checks_point_to_tests(checks, test_module_globals, prefix):
    """Static (nothing is run): every check of a module has the module prefix, a unique name,
    an importable deriving function, and names an existing test in this test file."""
    names = [c.result_name for c in checks]
    assert len(set(names)) == len(names), "duplicate result names"
    this_file = f"tests/theory/{test_module_globals['__name__'].rsplit('.', 1)[-1]}.py"
    for c in checks:
        assert c.result_name.startswith(prefix), c.result_name
        module, func_name = c.derived_by.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), func_name, None)), c.derived_by
        path, func = c.tested_by.split("::")
        assert path == this_file, c.tested_by
        assert callable(test_module_globals.get(func)), f"{c.result_name}: no test {func}"


def assert_passed(result):
    """The check passed; on failure say which result and what it claims."""
    assert result.passed, f"{result.name}: {result.shown}"
    assert result.latex()  # typesets
