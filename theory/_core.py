r"""Shared machinery of theory/: result records, zero tests, Gaussian conditioning.

Private module. Everything here is plain sympy; the derivations live in the public modules.

* :class:`Result` -- one checked result (name, passed, what was shown, the sympy equation,
  the function that derived it, the test that checks it). ``python -m theory`` prints them
  and writes them as MyST fragments; the tests assert them. One place for both.
* :func:`vanishes` -- ``simplify(expr) == 0`` for scalars, every entry for explicit matrices,
  and a coefficient-wise normal form (:func:`collect_matrix`) for matrix expressions built
  from :class:`~sympy.MatrixSymbol` (non-commutative; sympy cancels ``X X^{-1}`` itself).
* :func:`condition` -- Bishop's Lemma (PRML Sec. 2.3.3, the paper's Lemma 3): the
  conditional of one block of a joint Gaussian given the other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

__all__ = [
    "Result",
    "check",
    "collect_matrix",
    "condition",
    "eq",
    "module_checks",
    "normal_pdf",
    "reparametrize",
    "split_integrals",
    "symmetric",
    "transpose",
    "vanishes",
    "vanishes_rational",
]


@dataclass(frozen=True)
class Result:
    """One machine-checked result.

    Attributes
    ----------
    name : str
        Stable identifier; also the file stem and the MyST label of its LaTeX fragment.
    passed : bool
        Whether sympy verified it (computed, never set by hand).
    shown : str
        One line: what was shown, and how (proof for general d / T, or at which sizes).
    equation : sympy relation or tuple of them
        The result itself, typeset by :func:`sympy.latex` for the docs.
    derived_by : str
        Dotted name of the function that derives it.
    tested_by : str
        ``tests/theory/test_<module>.py::test_<name>`` -- the test that checks it.
    """

    name: str
    passed: bool
    shown: str
    equation: object
    derived_by: str
    tested_by: str

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        """``name  PASS/FAIL  what was shown`` (one line of ``python -m theory``)."""
        return f"{self.name:<34} {self.status}  {self.shown}"

    def latex(self) -> str:
        """The equation(s) as LaTeX, produced by :func:`sympy.latex` (several: ``gathered``)."""
        eqs = self.equation if isinstance(self.equation, tuple) else (self.equation,)
        body = [sp.latex(e) for e in eqs]
        if len(body) == 1:
            return body[0]
        return "\\begin{gathered}\n" + " \\\\\n".join(body) + "\n\\end{gathered}"

    def fragment(self) -> str:
        """A MyST Markdown fragment: a labelled dollarmath block plus one provenance line."""
        return (
            f"$$\n{self.latex()}\n$$ ({self.name})\n\n"
            f"{self.shown}. Derived by `{self.derived_by}`; checked by `{self.tested_by}`"
            f" ({self.status} when generated).\n"
        )


def check(name: str, derived_by: str, test: str):
    """Decorator: ``fn() -> (passed, shown, equation)`` becomes a zero-argument function
    returning a :class:`Result` named ``name``.

    ``derived_by`` is the dotted name of the deriving function (``theory.<module>.<fn>``); the
    checking test is ``tests/theory/test_<module>.py::<test>`` for the module ``<module>`` that
    defines the check. The decorated function carries ``result_name``, ``derived_by`` and
    ``tested_by`` so that they are known without running it.
    """

    def deco(fn):
        module = fn.__module__.rsplit(".", 1)[-1]
        tested_by = f"tests/theory/test_{module}.py::{test}"

        @functools.wraps(fn)
        def run() -> Result:
            passed, shown, equation = fn()
            return Result(name, bool(passed), shown, equation, derived_by, tested_by)

        run.result_name = name
        run.derived_by = derived_by
        run.tested_by = tested_by
        return run

    return deco


def module_checks(namespace: dict):
    """``(CHECKS, checks)`` of a derivation module, from its ``globals()``.

    ``CHECKS`` is the tuple of the module's own :func:`check` functions in the order they are
    defined; ``checks()`` runs them and returns one :class:`Result` each (what
    ``python -m theory`` prints and the docs fragments show). Called once, at the end of the
    module: ``CHECKS, checks = module_checks(globals())``.
    """
    modname = namespace["__name__"]
    found = tuple(
        v
        for v in namespace.values()
        if callable(v) and hasattr(v, "result_name") and getattr(v, "__module__", None) == modname
    )

    def checks() -> list[Result]:
        return [c() for c in found]

    checks.__module__ = modname
    checks.__doc__ = "Run this module's derivations; one :class:`~theory._core.Result` per result."
    return found, checks


def eq(lhs, rhs):
    """``Eq(lhs, rhs)`` left unevaluated (``Eq(Symbol, Matrix)`` would evaluate to False)."""
    return sp.Eq(lhs, rhs, evaluate=False)


def transpose(e):
    """Transpose of a matrix (expression); scalars are returned unchanged."""
    if isinstance(e, (MatrixExpr, sp.MatrixBase)):
        return e.T
    return e


def symmetric(e, *mats):
    """Replace ``M.T`` by ``M`` for the given symmetric matrix symbols."""
    return e.xreplace({m.T: m for m in mats}) if mats else e


def _is_zero_matrix(e) -> bool:
    return e == 0 or isinstance(e, sp.ZeroMatrix) or getattr(e, "is_ZeroMatrix", False)


def _mexpand(e):
    """Distribute matrix products over sums (also inside positive integer powers of sums);
    inverses of sums are left alone. Returns a MatAdd of MatMul monomials."""
    if not isinstance(e, MatrixExpr):
        return e
    if isinstance(e, sp.MatAdd):
        return sp.MatAdd(*(_mexpand(a) for a in e.args)).doit()
    if (
        isinstance(e, sp.MatPow)
        and e.exp.is_Integer
        and e.exp > 1
        and isinstance(e.base, (sp.MatAdd, sp.MatMul))
    ):
        return _mexpand(sp.MatMul(*([e.base] * int(e.exp)), evaluate=False))
    if isinstance(e, sp.MatMul):
        coeff, factors = e.as_coeff_matrices()
        terms = [(coeff, [])]
        for f in factors:
            parts = [p.as_coeff_mmul() for p in sp.MatAdd.make_args(_mexpand(f))]
            terms = [(c * pc, t + [pm]) for c, t in terms for pc, pm in parts]
        return sp.MatAdd(*(sp.MatMul(c, *t).doit() for c, t in terms)).doit()
    if isinstance(e, sp.Transpose):
        inner = e.doit()
        return inner if isinstance(inner, sp.Transpose) else _mexpand(inner)
    return e


def collect_matrix(expr, subs=None):
    """Normal form of a matrix expression: expand, group terms by their matrix monomial,
    simplify each scalar coefficient (after ``subs``), drop the zero ones.

    Non-commutative: ``A B`` and ``B A`` are different monomials; only sympy's own
    rules (``X X^{-1} = I``, powers of one symbol) merge products.
    """
    e = _mexpand(expr.doit())
    if _is_zero_matrix(e):
        return sp.ZeroMatrix(*expr.shape)
    groups: dict = {}
    for term in sp.MatAdd.make_args(e):
        if _is_zero_matrix(term):
            continue
        coeff, mono = term.as_coeff_mmul()
        mono = mono.doit()
        groups[mono] = groups.get(mono, 0) + coeff
    out = []
    for mono, coeff in groups.items():
        c = coeff.xreplace(subs) if subs else coeff
        c = sp.simplify(c)
        if c != 0:
            out.append(c * mono)
    if not out:
        return sp.ZeroMatrix(*expr.shape)
    return sp.MatAdd(*out).doit()


def vanishes(expr, subs=None) -> bool:
    """True when sympy proves ``expr == 0`` (scalar, explicit matrix or matrix expression).

    ``subs`` (a dict, e.g. :data:`theory.symbols.SCHEDULE`) is applied first.
    """
    if isinstance(expr, sp.MatrixBase):
        return all(vanishes(e, subs) for e in expr)
    if isinstance(expr, MatrixExpr):
        return _is_zero_matrix(collect_matrix(expr, subs))
    if subs:
        expr = expr.xreplace(subs)
    return sp.simplify(expr) == 0


def condition(mean_a, mean_b, cov_aa, cov_ab, cov_bb_inv, b):
    r"""Conditional of block a given block b of a joint Gaussian (Lemma 3 / Schur complement).

    .. math::

        a \mid b \sim N\big(\mu_a + \Sigma_{ab}\Sigma_{bb}^{-1}(b - \mu_b),\
        \Sigma_{aa} - \Sigma_{ab}\Sigma_{bb}^{-1}\Sigma_{ab}^\top\big)

    Works for scalars and for matrix expressions; the caller passes :math:`\Sigma_{bb}^{-1}`
    (for matrix symbols, as ``X.I`` of a symbol X proven equal to :math:`\Sigma_{bb}`).

    Returns
    -------
    mean, cov, gain : the conditional mean, covariance and the gain
        :math:`\Sigma_{ab}\Sigma_{bb}^{-1}`.
    """
    gain = cov_ab * cov_bb_inv
    return mean_a + gain * (b - mean_b), cov_aa - gain * transpose(cov_ab), gain


def normal_pdf(x, mean, var):
    r"""Scalar Gaussian density :math:`N(x; \mu, v) = e^{-(x-\mu)^2/2v}/\sqrt{2\pi v}`."""
    return sp.exp(-((x - mean) ** 2) / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def reparametrize(expr, S_, Sig, abar):
    r"""Rewrite an expression in S as one in :math:`\Sigma = \bar\alpha S + (1-\bar\alpha) I`.

    Every power of :math:`(\bar\alpha S + (1-\bar\alpha) I)^{-1}` becomes a power of the
    matrix symbol ``Sig`` and S becomes :math:`(\Sigma - (1-\bar\alpha) I)/\bar\alpha`: an
    affine bijection, so an identity in ``Sig`` and its inverse (which sympy cancels
    non-commutatively) is the same identity in S, for every size d.
    """
    I = sp.Identity(S_.shape[0])
    target = abar * S_ + (1 - abar) * I

    def hit(e):
        if isinstance(e, sp.Inverse):
            return e.args[0] == target
        return isinstance(e, sp.MatPow) and e.args[0] == target

    def swap(e):
        if isinstance(e, sp.Inverse):
            return Sig.I
        return sp.MatPow(Sig, e.args[1])

    e = expr.replace(hit, swap)
    return e.xreplace({S_: (Sig - (1 - abar) * I) / abar})


def split_integrals(expr):
    """Linearity: split each Integral over the terms of its expanded integrand and pull out
    the factors free of the integration variables (so that sympy can cancel equal integrals)."""

    def split(z):
        variables = [lim[0] for lim in z.limits]
        out = 0
        for term in sp.Add.make_args(sp.expand(z.function, power_exp=False)):
            c, r = term.as_independent(*variables, as_Add=False)
            out += c * sp.Integral(r, *z.limits)
        return out

    return expr.replace(lambda z: isinstance(z, sp.Integral), split)


def vanishes_rational(expr, squares=()) -> bool:
    r"""Zero test for sums of Gaussian densities: a faster, still sound, route than simplify.

    Each positive symbol in ``squares`` is written as the square of a new positive symbol (a
    bijection of the positive reals, which removes its square roots); each exponential
    :math:`e^{c f}` (c rational, f primitive) becomes :math:`E_f^{\,c}` with a fresh positive
    symbol :math:`E_f`; the result must cancel to 0 as a rational function. Treating the
    :math:`E_f` as independent proves a stronger statement, so True is a proof; False only
    means this route failed.
    """
    e = expr.xreplace({s: sp.Dummy(positive=True) ** 2 for s in squares})
    bases: dict = {}
    rep = {}
    for a in e.atoms(sp.exp):
        c, base = sp.expand(a.args[0]).primitive()
        if base not in bases:
            bases[base] = sp.Dummy(positive=True)
        rep[a] = bases[base] ** c
    return sp.cancel(sp.together(e.xreplace(rep))) == 0
