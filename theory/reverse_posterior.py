r"""The reverse posterior p(x_{t-1} | x_t, y): exact Gaussian kernel, score form, Tweedie.

For a Gaussian posterior :math:`x_0 \mid y \sim N(m, S)` the diffused posterior is
:math:`x_t \mid y \sim N(\sqrt{\bar\alpha_t} m, \Sigma_t)`,
:math:`\Sigma_t = \bar\alpha_t S + (1 - \bar\alpha_t) I`. Conditioning the joint Gaussian of
:math:`(x_{t-1}, x_t)` (with :math:`x_t = \sqrt{\alpha_t} x_{t-1} + \sqrt{\beta_t}\varepsilon`)
gives the exact reverse kernel

.. math::

    p(x_{t-1} \mid x_t, y) = N\big(\sqrt{\bar\alpha_{t-1}} m + K_t (x_t - \sqrt{\bar\alpha_t} m),
    \ C_t\big), \qquad K_t = \sqrt{\alpha_t}\,\Sigma_{t-1}\Sigma_t^{-1}, \qquad
    C_t = \beta_t\,\Sigma_{t-1}\Sigma_t^{-1},

whose mean is the score form (the paper's eq. 7)
:math:`(x_t + \beta_t \nabla \log p_t(x_t \mid y))/\sqrt{\alpha_t}`. That is one-step Tweedie,
true for **any** law of :math:`x_{t-1}`:

.. math::

    \mathbb{E}[x_{t-1} \mid x_t] = \frac{x_t + \beta_t \nabla\log p_t(x_t)}{\sqrt{\alpha_t}},
    \qquad
    \mathrm{Cov}[x_{t-1} \mid x_t] = \frac{\beta_t}{\alpha_t}\big(I + \beta_t \nabla^2 \log p_t(x_t)\big).

What is proven and how:

* kernel, score-form mean, second-order Tweedie for the Gaussian: matrix-symbol identities
  of symbolic size d (every d, S any symmetric positive-definite matrix), after the affine
  reparametrisation :math:`S = (\Sigma_t - (1-\bar\alpha_t) I)/\bar\alpha_t`, plus the per-eigenvalue
  scalar forms.
* general Tweedie (both orders, derived in :mod:`theory.tweedie`): for an **arbitrary** density p of :math:`x_{t-1}` in d = 1
  and (first order) d = 2, written as unevaluated integrals
  :math:`p_t(x) = \int p(u) N(x; \sqrt{\alpha_t} u, \beta_t I)\,du`; sympy differentiates
  under the integral sign (assumed: p such that this is allowed, e.g. bounded moments) and
  the identity follows by linearity of the integral. For symbolic d the argument is the same
  coordinate by coordinate (the kernel factorises), but that was not machine-checked.
  Also checked symbolically for a discrete law on three symbolic atoms and for a 1-D
  two-component Gaussian mixture.
* the conditional score :math:`\nabla\log p_t(x \mid y) = \nabla\log p_t(x) + \nabla\log p_t(y \mid x)`
  (Bayes' rule) for abstract functions, so everything above holds conditionally on y.

Examples
--------
>>> import sympy as sp
>>> from theory.reverse_posterior import exact_kernel
>>> from theory.symbols import SCHEDULE, lam, beta_t
>>> k = exact_kernel(lam)
>>> sp.simplify((k.C - beta_t * k.sigma_tm1 / k.sigma_t).xreplace(SCHEDULE))
0

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), eq. (7), Appendix A, Lemma 3.
2. B. Efron, "Tweedie's formula and selection bias", JASA 106 (2011).
3. Y. Xue et al., arXiv 2410.05646 (2024).
"""

from __future__ import annotations

from typing import NamedTuple

import sympy as sp

from ._core import (
    check,
    condition,
    eq,
    module_checks,
    normal_pdf,
    reparametrize,
    split_integrals,
    symmetric,
    vanishes,
    vanishes_rational,
)
from .symbols import (
    SCHEDULE,
    S,
    Sigma_t,
    Tex,
    alpha_t,
    alphabar_t,
    alphabar_tm1,
    beta_t,
    d,
    lam,
    m,
    x_t,
)
from .tweedie import (
    one_step_mean,
    one_step_var,
    tweedie_discrete,
    tweedie_integrals,
    tweedie_mixture_1d,
)
from .vp import diffused_covariance

__all__ = [
    "CHECKS",
    "Kernel",
    "checks",
    "conditional_score",
    "exact_kernel",
    "gaussian_score",
    "score_form_mean",
    "tweedie_second_order_gaussian",
]

#: vector symbols of size d
m_vec = sp.MatrixSymbol("m", d, 1)
x_vec = sp.MatrixSymbol("x_t", d, 1)


class Kernel(NamedTuple):
    """The exact reverse kernel N(mean, C) of one step, derived by conditioning.

    ``cov_xt`` is the covariance of :math:`x_t` computed from the step
    (:math:`\\alpha_t \\Sigma_{t-1} + \\beta_t I`), proven equal to ``sigma_t`` before its
    inverse is used.
    """

    mean: object
    K: object
    C: object
    sigma_tm1: object
    sigma_t: object
    cov_xt: object


def exact_kernel(S_=S) -> Kernel:
    r"""Condition the joint Gaussian of :math:`(x_{t-1}, x_t) \mid y`.

    Parameters
    ----------
    S_ : (d, d) matrix symbol or positive scalar symbol
        The posterior covariance S, or one eigenvalue :math:`\lambda` of it (scalar case).

    Returns
    -------
    Kernel
        ``mean`` in the symbols x_t, m (vectors ``x_t``, ``m`` of size d in the matrix case).
    """
    matrix = isinstance(S_, sp.MatrixExpr)
    sig_tm1 = diffused_covariance(S_, alphabar_tm1)
    sig_t = diffused_covariance(S_, alphabar_t)
    I = sp.Identity(S_.shape[0]) if matrix else 1
    cov_xt = alpha_t * sig_tm1 + beta_t * I
    inv = sp.Inverse(sig_t) if matrix else 1 / sig_t
    mm, xx = (m_vec, x_vec) if matrix else (m, x_t)
    mean, C, K = condition(
        mean_a=sp.sqrt(alphabar_tm1) * mm,
        mean_b=sp.sqrt(alphabar_t) * mm,
        cov_aa=sig_tm1,
        cov_ab=sp.sqrt(alpha_t) * sig_tm1,
        cov_bb_inv=inv,
        b=xx,
    )
    if matrix:
        C = symmetric(C, S_)
    return Kernel(mean, K, C, sig_tm1, sig_t, cov_xt)


def gaussian_score(x, mean, precision, *, hessian: bool = False):
    r""":math:`\nabla_x \log N(x; \mu, P^{-1}) = -P (x - \mu)` and
    :math:`\nabla_x^2 \log N = -P`, by differentiating :math:`-\tfrac12 (x-\mu)^\top P (x-\mu)`
    with sympy's matrix calculus (P symmetric).

    ``x`` is a (d, 1) matrix symbol, ``mean`` a (d, 1) matrix expression, ``precision`` a
    (d, d) matrix symbol. Returns the gradient, or the Hessian with ``hessian=True``.
    """
    mu = sp.MatrixSymbol("mu", *x.shape)  # placeholder: sympy's matrix calculus wants symbols
    quad = (x - mu).T * precision * (x - mu)
    out = symmetric(sp.diff(-quad / 2, x), precision)
    if hessian:
        out = symmetric(sp.diff(out, x), precision)
    return out.xreplace({mu: mean})


def score_form_mean(S_=S):
    r"""The paper's eq. (7): :math:`(x_t + \beta_t \nabla\log p_t(x_t \mid y))/\sqrt{\alpha_t}` for
    :math:`x_t \mid y \sim N(\sqrt{\bar\alpha_t} m, \Sigma_t)` (score from :func:`gaussian_score`)."""
    if isinstance(S_, sp.MatrixExpr):
        P = sp.MatrixSymbol("P", d, d)
        score = gaussian_score(x_vec, sp.sqrt(alphabar_t) * m_vec, P)
        score = score.xreplace({P: sp.Inverse(diffused_covariance(S_, alphabar_t))})
        return (x_vec + beta_t * score) / sp.sqrt(alpha_t)
    logp = sp.log(normal_pdf(x_t, sp.sqrt(alphabar_t) * m, diffused_covariance(S_, alphabar_t)))
    return one_step_mean(x_t, logp)


def tweedie_second_order_gaussian(S_=S):
    r""":math:`(\beta_t/\alpha_t)(I + \beta_t \nabla^2\log p_t)` with the Gaussian Hessian
    :math:`\nabla^2 \log p_t = -\Sigma_t^{-1}` (from differentiating :func:`gaussian_score`)."""
    if isinstance(S_, sp.MatrixExpr):
        P = sp.MatrixSymbol("P", d, d)
        hess = gaussian_score(x_vec, sp.sqrt(alphabar_t) * m_vec, P, hessian=True)
        hess = hess.xreplace({P: sp.Inverse(diffused_covariance(S_, alphabar_t))})
        return beta_t / alpha_t * (sp.Identity(d) + beta_t * hess)
    logp = sp.log(normal_pdf(x_t, sp.sqrt(alphabar_t) * m, diffused_covariance(S_, alphabar_t)))
    return one_step_var(x_t, logp)


def conditional_score():
    r"""Bayes: :math:`\log p_t(x \mid y) = \log p_t(x) + \log p_t(y \mid x) - \log p(y)`, so
    :math:`\nabla_x \log p_t(x\mid y) = \nabla_x\log p_t(x) + \nabla_x \log p_t(y \mid x)`.

    Returns
    -------
    lhs, rhs : expressions in abstract functions ``p_t(x)``, ``l(y, x)`` (likelihood), ``Z(y)``
    """
    x = sp.Symbol("x", real=True)
    y = sp.Symbol("y", real=True)
    pt, lik, Z = sp.Function("p_t"), sp.Function("ell"), sp.Function("Z")
    posterior = pt(x) * lik(y, x) / Z(y)
    return sp.diff(sp.log(posterior), x), sp.diff(sp.log(pt(x)), x) + sp.diff(sp.log(lik(y, x)), x)


_x, _y = sp.symbols("x y", real=True)
_pt = sp.Function("p_t")  # display only


class _CondDensity(sp.Function):
    """Display only: ``_CondDensity(a, b)`` typesets as :math:`p_t(a \\mid b)`."""

    nargs = 2

    def _latex(self, printer, exp=None):
        a, b = (printer._print(x) for x in self.args)
        return rf"p_t({a} \mid {b})"


def _in_sigma(expr):
    return reparametrize(expr, S, Sigma_t, alphabar_t)


_SIG_TM1 = sp.MatrixSymbol("Sigma_t-1", d, d)


def _display(expr):
    """Typeset with the matrix symbols Sigma_{t-1}, Sigma_t^{-1} in place of their expressions in S."""
    return expr.xreplace(
        {
            diffused_covariance(S, alphabar_tm1): _SIG_TM1,
            sp.Inverse(diffused_covariance(S, alphabar_t)): Sigma_t.I,
        }
    )


def _conditioned_cov_display():
    """The Schur complement of the joint covariance, written in the symbols Sigma_{t-1}, Sigma_t."""
    zero = sp.ZeroMatrix(d, 1)
    _, C, _ = condition(zero, zero, _SIG_TM1, sp.sqrt(alpha_t) * _SIG_TM1, Sigma_t.I, zero)
    return symmetric(C, _SIG_TM1)


@check("rp_kernel_eigen", "theory.reverse_posterior.exact_kernel", "test_kernel_eigen")
def check_kernel_eigen():
    k = exact_kernel(lam)
    ok = vanishes(k.cov_xt - k.sigma_t, SCHEDULE) and vanishes(
        k.C - beta_t * k.sigma_tm1 / k.sigma_t, SCHEDULE
    )
    return (
        ok,
        "per eigenvalue: joint Gaussian of (x_{t-1}, x_t) gives K_t, C_t = beta_t sigma_{t-1}/sigma_t",
        (eq(Tex("k_t"), k.K), eq(Tex("c_t"), beta_t * k.sigma_tm1 / k.sigma_t)),
    )


@check("rp_kernel_matrix", "theory.reverse_posterior.exact_kernel", "test_kernel_matrix")
def check_kernel_matrix():
    k = exact_kernel(S)
    ok = vanishes(_in_sigma(k.cov_xt) - Sigma_t, SCHEDULE) and vanishes(
        _in_sigma(k.C - beta_t * k.sigma_tm1 * sp.Inverse(k.sigma_t)), SCHEDULE
    )
    return (
        ok,
        "matrix kernel K_t = sqrt(alpha_t) Sigma_{t-1} Sigma_t^-1, C_t = beta_t Sigma_{t-1} Sigma_t^-1, any d",
        (
            eq(Tex("K_t"), _display(k.K)),
            eq(_conditioned_cov_display(), beta_t * _SIG_TM1 * Sigma_t.I),
        ),
    )


@check("rp_score_mean", "theory.reverse_posterior.score_form_mean", "test_score_mean")
def check_score_mean():
    k = exact_kernel(S)
    sf = score_form_mean(S)
    ok = vanishes(_in_sigma(sf - k.mean), SCHEDULE) and vanishes(
        score_form_mean(lam) - exact_kernel(lam).mean, SCHEDULE
    )
    return (
        ok,
        "score-form mean (x_t + beta_t grad log p_t(x_t|y))/sqrt(alpha_t) = exact kernel mean, any d",
        eq(_display(sf), _display(k.mean)),
    )


@check(
    "rp_tweedie_any_density",
    "theory.tweedie.tweedie_integrals",
    "test_tweedie_any_density",
)
def check_tweedie_any_density():
    t1 = tweedie_integrals(1)
    t2 = tweedie_integrals(2)
    pairs = zip(t1["mean"] + t2["mean"], t1["mean_score"] + t2["mean_score"], strict=True)
    return (
        all(vanishes(split_integrals(a - b)) for a, b in pairs),
        "E[x_{t-1}|x_t] = (x_t + beta_t grad log p_t)/sqrt(alpha_t) for an abstract density, d = 1, 2",
        eq(
            Tex(r"\mathbb{E}[x_{t-1} \mid x_t = x]"),
            (_x + beta_t * sp.Derivative(sp.log(_pt(_x)), _x)) / sp.sqrt(alpha_t),
        ),
    )


@check(
    "rp_tweedie2_any_density",
    "theory.tweedie.tweedie_integrals",
    "test_tweedie2_any_density",
)
def check_tweedie2_any_density():
    t1 = tweedie_integrals(1)
    return (
        vanishes(split_integrals(t1["var"] - t1["var_score"])),
        "Var[x_{t-1}|x_t] = (beta_t/alpha_t)(1 + beta_t d^2 log p_t) for an abstract density, d = 1",
        eq(
            Tex(r"\mathrm{Var}[x_{t-1} \mid x_t = x]"),
            beta_t / alpha_t * (1 + beta_t * sp.Derivative(sp.log(_pt(_x)), (_x, 2))),
        ),
    )


@check("rp_tweedie_discrete", "theory.tweedie.tweedie_discrete", "test_tweedie_discrete")
def check_tweedie_discrete():
    td = tweedie_discrete(3)
    return (
        all(
            vanishes_rational(td[a] - td[a + "_score"], squares=(alpha_t,)) for a in ("mean", "var")
        ),
        "both Tweedie orders exact for a discrete law on 3 symbolic atoms with symbolic weights",
        eq(Tex(r"\mathbb{E}[x_{t-1} \mid x_t = x]"), tweedie_discrete(2)["mean"]),
    )


@check("rp_tweedie_mixture", "theory.tweedie.tweedie_mixture_1d", "test_tweedie_mixture")
def check_tweedie_mixture():
    tm = tweedie_mixture_1d()
    return (
        all(
            vanishes_rational(tm[a] - tm[a + "_score"], squares=(alpha_t,)) for a in ("mean", "var")
        ),
        "both Tweedie orders exact for a 1-D two-component Gaussian mixture (symbolic parameters)",
        eq(Tex(r"\mathrm{Var}[x_{t-1} \mid x_t = x]"), tm["var"]),
    )


@check(
    "rp_tweedie2_gaussian",
    "theory.reverse_posterior.tweedie_second_order_gaussian",
    "test_tweedie2_gaussian",
)
def check_tweedie2_gaussian():
    k = exact_kernel(S)
    t2g = tweedie_second_order_gaussian(S)
    ok = vanishes(
        _in_sigma(t2g - beta_t * k.sigma_tm1 * sp.Inverse(k.sigma_t)), SCHEDULE
    ) and vanishes(tweedie_second_order_gaussian(lam) - exact_kernel(lam).C, SCHEDULE)
    return (
        ok,
        "(beta_t/alpha_t)(I + beta_t Hess log p_t) = C_t for the Gaussian posterior, any d",
        eq(_display(t2g), beta_t * _SIG_TM1 * Sigma_t.I),
    )


@check(
    "rp_conditional_score", "theory.reverse_posterior.conditional_score", "test_conditional_score"
)
def check_conditional_score():
    lhs, rhs = conditional_score()
    return (
        vanishes(lhs - rhs),
        "grad log p_t(x|y) = grad log p_t(x) + grad log p_t(y|x) (Bayes)",
        eq(
            sp.Derivative(sp.log(_CondDensity(_x, _y)), _x),
            sp.Derivative(sp.log(_pt(_x)), _x) + sp.Derivative(sp.log(_CondDensity(_y, _x)), _x),
        ),
    )


#: this module's checks in the order they are defined, and ``checks()`` that runs them
CHECKS, checks = module_checks(globals())
