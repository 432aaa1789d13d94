r"""The symbols shared by the derivations, with their assumptions.

Schedule symbols are positive, so that ``sqrt(alpha_t * alphabar_t-1)`` splits soundly.
The schedule relations :math:`\beta_t = 1 - \alpha_t` and
:math:`\bar\alpha_t = \alpha_t \bar\alpha_{t-1}` are not built into the symbols (so results
print as in the paper); identities that need them are checked after substituting
:data:`SCHEDULE`.

Matrix symbols have the symbolic size ``d``: identities proven for them hold for every d.

Examples
--------
>>> from theory.symbols import alphabar_t, SCHEDULE
>>> SCHEDULE[alphabar_t]
alpha_t*alphabar_t-1
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "SCHEDULE",
    "S",
    "Sigma_t",
    "Tex",
    "alpha_t",
    "alphabar_T",
    "alphabar_t",
    "alphabar_tm1",
    "beta_t",
    "d",
    "eta",
    "lam",
    "m",
    "x_0",
    "x_t",
    "x_tm1",
]


class Tex(sp.Symbol):
    """A symbol that typesets as its (LaTeX) name: labels such as ``E[x_{t-1} | x_t]``.

    Used only for left-hand sides that name a quantity; every right-hand side is a
    derived sympy expression.
    """

    def _latex(self, printer):
        return self.name


alpha_t = sp.Symbol("alpha_t", positive=True)
beta_t = sp.Symbol("beta_t", positive=True)
alphabar_t = sp.Symbol("alphabar_t", positive=True)
alphabar_tm1 = sp.Symbol("alphabar_t-1", positive=True)
alphabar_T = sp.Symbol("alphabar_T", positive=True)
#: eigenvalue of the posterior covariance S (one eigendirection)
lam = sp.Symbol("lambda", positive=True)
#: variance scale of the reverse steps, in [0, 1]
eta = sp.Symbol("eta", nonnegative=True)
x_0 = sp.Symbol("x_0", real=True)
x_t = sp.Symbol("x_t", real=True)
x_tm1 = sp.Symbol("x_t-1", real=True)
#: posterior mean (one eigencoordinate)
m = sp.Symbol("m", real=True)
#: dimension
d = sp.Symbol("d", integer=True, positive=True)
S = sp.MatrixSymbol("S", d, d)
Sigma_t = sp.MatrixSymbol("Sigma_t", d, d)

#: schedule relations, applied before simplifying identities that need them
SCHEDULE = {beta_t: 1 - alpha_t, alphabar_t: alpha_t * alphabar_tm1}
