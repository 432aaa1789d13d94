"""theory: the paper's derivations as sympy code (imports sympy only).

One module per derivation; each has a ``checks()`` returning :class:`~theory._core.Result`
records (name, passed, what was shown, the sympy equation, deriving function, checking test)
that both ``python -m theory`` and the docs fragments use:

- :mod:`theory.vp` -- VP forward marginals and q(x_{t-1} | x_t, x_0).
- :mod:`theory.reverse_posterior` -- exact Gaussian reverse kernel, score-form mean (eq. 7),
  one-step Tweedie of both orders for any distribution (derived in :mod:`theory.tweedie`).
- :mod:`theory.theorem1` -- the η-scaled chain ends at N(m, ηS); standard-normal start.
- :mod:`theory.theorem2` -- the conditional DP function D(P) by KKT; the general bound.
- :mod:`theory.gmm` -- Gaussian-mixture posterior, diffused mixture, score, Tweedie.

:mod:`theory.symbols` holds the shared symbols and their assumptions.
"""

from __future__ import annotations

import importlib

__all__ = ["MODULES", "all_checks"]

#: the derivation modules, in the order ``python -m theory`` runs them
MODULES = ("vp", "reverse_posterior", "theorem1", "theorem2", "gmm")


def all_checks(modules=MODULES):
    """Run ``checks()`` of each module; returns ``{module name: [Result, ...]}``."""
    return {name: importlib.import_module(f"theory.{name}").checks() for name in modules}
