r"""Theorem 1: the η-scaled reverse chain of a Gaussian posterior ends at N(m, η S).

Each reverse step keeps the exact kernel mean and scales its covariance by η:
:math:`x_{t-1} = \sqrt{\bar\alpha_{t-1}} m + K_t (x_t - \sqrt{\bar\alpha_t} m) + (\eta C_t)^{1/2} z`.
If :math:`x_t \sim N(a_t, Q_t)` then :math:`x_{t-1} \sim N(a_{t-1}, Q_{t-1})` with

.. math::

    Q_{t-1} - \eta\Sigma_{t-1} = K_t (Q_t - \eta\Sigma_t) K_t^\top, \qquad
    a_{t-1} - \sqrt{\bar\alpha_{t-1}} m = K_t (a_t - \sqrt{\bar\alpha_t} m),

and the gains telescope, :math:`K_1 K_2 \cdots K_T = \sqrt{\bar\alpha_T}\, S \Sigma_T^{-1}`. So from
any start :math:`N(a, Q)` the end point is
:math:`N\big(m + P(a - \sqrt{\bar\alpha_T} m),\ \eta S + P (Q - \eta\Sigma_T) P^\top\big)`,
:math:`P = \sqrt{\bar\alpha_T} S \Sigma_T^{-1}`: exactly :math:`N(m, \eta S)` from
:math:`N(\sqrt{\bar\alpha_T} m, \eta\Sigma_T)`, and from :math:`N(0, I)`

.. math::

    N\Big((1 - \bar\alpha_T)\Sigma_T^{-1} m,\ \
    \eta (1 - \bar\alpha_T) S\Sigma_T^{-1} + \bar\alpha_T S^2 \Sigma_T^{-2}\Big),

an error of order :math:`\bar\alpha_T` (limits :math:`-\lambda m` and :math:`(1-\eta)\lambda^2` per
eigenvalue after dividing by :math:`\bar\alpha_T`).

What is proven and how:

* induction step (mean and covariance): matrix-symbol identity, symbolic size d, with an
  arbitrary :math:`Q_t` that need **not** commute with S (proof for every d and t).
* telescoped product, general T: per eigenvalue, sympy's ``summation`` telescopes
  :math:`\sum_{t=1}^T [\log\sigma_{t-1} - \log\sigma_t]` for symbolic T, and
  :math:`\sum_t \log\alpha_t = \log\bar\alpha_T` is the definition of :math:`\bar\alpha_T`.
  Also T = 1..4 as non-commutative products of matrix symbols :math:`\Sigma_0 = S, \Sigma_1, \dots`
  (any d; the telescoping needs no commutation) and unrolled per eigenvalue with independent
  :math:`\alpha_1..\alpha_4`. sympy's ``Product`` does not telescope by itself; the log-sum is how.
* end points: from the induction step and the product (general T); the closed forms of the
  standard-normal start are matrix identities in S and :math:`\Sigma_T` (any d); the whole
  chain for T = 1..4 is also unrolled per eigenvalue from a symbolic start (a, q).

Examples
--------
>>> import sympy as sp
>>> from theory.theorem1 import kernel_product_general
>>> kernel_product_general()
sqrt(alphabar_T)*lambda/(alphabar_T*lambda - alphabar_T + 1)

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Theorem 1 and Appendix B.
"""

from __future__ import annotations

import sympy as sp

from ._core import (
    check,
    collect_matrix,
    eq,
    module_checks,
    reparametrize,
    symmetric,
    vanishes,
)
from .reverse_posterior import exact_kernel, m_vec
from .symbols import SCHEDULE, S, Sigma_t, Tex, alphabar_T, alphabar_t, alphabar_tm1, d, eta, lam, m
from .vp import diffused_covariance

__all__ = [
    "CHECKS",
    "checks",
    "chain_unrolled",
    "end_point",
    "end_point_standard",
    "induction_step",
    "kernel_product_general",
    "kernel_product_matrix",
    "residual_order",
]

Sigma_T = sp.MatrixSymbol("Sigma_T", d, d)
Q_t = sp.MatrixSymbol("Q_t", d, d)
a_t = sp.MatrixSymbol("a_t", d, 1)


def induction_step():
    r"""Push :math:`x_t \sim N(a_t, Q_t)` (Q_t a symmetric matrix symbol) through one η-step.

    Returns
    -------
    a_tm1, Q_tm1 : matrix expressions in S, Q_t, a_t, m
        :math:`a_{t-1} = \sqrt{\bar\alpha_{t-1}} m + K_t(a_t - \sqrt{\bar\alpha_t} m)`,
        :math:`Q_{t-1} = K_t Q_t K_t^\top + \eta C_t`.
    kernel : :class:`~theory.reverse_posterior.Kernel`
    """
    k = exact_kernel(S)
    x_vec = sp.MatrixSymbol("x_t", d, 1)
    a_tm1 = k.mean.xreplace({x_vec: a_t})
    KT = symmetric(k.K.T, S)
    Q_tm1 = symmetric(k.K * Q_t * KT + eta * k.C, S, Q_t)
    return a_tm1, Q_tm1, k


def kernel_product_general():
    r""":math:`\prod_{t=1}^T k_t` per eigenvalue for symbolic T, by telescoping the log-sum.

    :math:`k_t = \sqrt{\alpha_t}\,\sigma_{t-1}/\sigma_t`, :math:`\sigma_t = \bar\alpha_t\lambda + 1 - \bar\alpha_t`
    with :math:`\bar\alpha_t` an undefined function of t, :math:`\bar\alpha_0 = 1`.

    Returns
    -------
    expression in ``alphabar_T`` and ``lambda``
    """
    t = sp.Symbol("t", integer=True, positive=True)
    T = sp.Symbol("T", integer=True, positive=True)
    ab = sp.Function("alphabar", positive=True)
    al = sp.Function("alpha", positive=True)
    sig = lambda s: ab(s) * lam + 1 - ab(s)  # noqa: E731
    telescoped = sp.summation(sp.log(sig(t - 1)) - sp.log(sig(t)), (t, 1, T))
    if telescoped.has(sp.Sum):  # pragma: no cover - sympy did not telescope
        raise AssertionError("sympy did not telescope the log-sum")
    # sum_t log alpha_t = log alphabar_T by definition of alphabar_T = prod_t alpha_t
    log_prod = sp.Sum(sp.log(al(t)), (t, 1, T)) / 2 + telescoped
    log_prod = log_prod.xreplace({sp.Sum(sp.log(al(t)), (t, 1, T)): sp.log(ab(T))})
    log_prod = log_prod.subs(ab(0), 1).subs(ab(T), alphabar_T)
    return sp.simplify(sp.exp(log_prod))


def kernel_product_matrix(T: int):
    r""":math:`K_1 K_2 \cdots K_T` with :math:`K_t = \sqrt{\alpha_t}\Sigma_{t-1}\Sigma_t^{-1}`,
    :math:`\Sigma_0 = S`, each :math:`\Sigma_t` its own (non-commuting) matrix symbol.

    Returns
    -------
    product : matrix expression (sympy cancels :math:`\Sigma_t^{-1}\Sigma_t` itself)
    alphas : the symbols :math:`\alpha_1..\alpha_T`
    sigmas : the matrix symbols :math:`\Sigma_1..\Sigma_T`
    """
    alphas = sp.symbols(f"alpha_1:{T + 1}", positive=True)
    sigmas = [S] + [sp.MatrixSymbol(f"Sigma_{t}", d, d) for t in range(1, T + 1)]
    prod = sp.Identity(d)
    for t in range(1, T + 1):
        prod = prod * (sp.sqrt(alphas[t - 1]) * sigmas[t - 1] * sigmas[t].I)
    return prod.doit(), alphas, sigmas[1:]


def chain_unrolled(T: int, start="symbolic"):
    r"""Run the η-chain per eigenvalue for T steps with independent :math:`\alpha_1..\alpha_T`.

    Parameters
    ----------
    T : int
    start : {"symbolic", "exact", "standard"}
        :math:`N(a, q)` with symbols a, q; :math:`N(\sqrt{\bar\alpha_T} m, \eta\sigma_T)`; or
        :math:`N(0, 1)`.

    Returns
    -------
    mean, var : end-point moments
    info : dict with ``alphas``, ``alphabar_T`` (product), ``sigma_T``, ``a``, ``q``
    """
    alphas = sp.symbols(f"alpha_1:{T + 1}", positive=True)
    abar = [sp.Integer(1)]
    for a in alphas:
        abar.append(abar[-1] * a)
    sig = [ab * lam + 1 - ab for ab in abar]
    if start == "symbolic":
        a, q = sp.Symbol("a", real=True), sp.Symbol("q", positive=True)
    elif start == "exact":
        a, q = sp.sqrt(abar[T]) * m, eta * sig[T]
    elif start == "standard":
        a, q = sp.Integer(0), sp.Integer(1)
    else:
        raise ValueError(f"start: expected 'symbolic', 'exact' or 'standard', got {start!r}")
    mean, var = a, q
    for t in range(T, 0, -1):
        k = sp.sqrt(alphas[t - 1]) * sig[t - 1] / sig[t]
        c = (1 - alphas[t - 1]) * sig[t - 1] / sig[t]
        mean = sp.sqrt(abar[t - 1]) * m + k * (mean - sp.sqrt(abar[t]) * m)
        var = k**2 * var + eta * c
    return mean, var, dict(alphas=alphas, alphabar_T=abar[T], sigma_T=sig[T], a=a, q=q)


def end_point(a=None, Q=None):
    r"""End point of the chain from :math:`N(a, Q)` (general T, from the induction step and
    the telescoped product :math:`P = \sqrt{\bar\alpha_T} S\Sigma_T^{-1}`).

    Parameters
    ----------
    a : (d, 1) matrix expression, default the symbol ``a_T``
    Q : (d, d) matrix expression, default the symbol ``Q_T`` (any symmetric matrix)

    Returns
    -------
    mean, cov : matrix expressions in S, m, a, Q (with :math:`\Sigma_T = \bar\alpha_T S + (1-\bar\alpha_T) I`)
    """
    a = sp.MatrixSymbol("a_T", d, 1) if a is None else a
    Q = sp.MatrixSymbol("Q_T", d, d) if Q is None else Q
    sig_T = diffused_covariance(S, alphabar_T)
    P = sp.sqrt(alphabar_T) * S * sp.Inverse(sig_T)
    PT = sp.sqrt(alphabar_T) * sp.Inverse(sig_T) * S  # P^T: S and Sigma_T are symmetric
    mean = m_vec + P * (a - sp.sqrt(alphabar_T) * m_vec)
    cov = eta * S + P * (Q - eta * sig_T) * PT
    return mean, cov


def end_point_standard():
    r"""Closed form of the end point from :math:`N(0, I)` (claimed; proven in :func:`checks`).

    Returns
    -------
    mean, cov : :math:`(1-\bar\alpha_T)\Sigma_T^{-1} m` and
        :math:`\eta(1-\bar\alpha_T) S\Sigma_T^{-1} + \bar\alpha_T S^2\Sigma_T^{-2}` (in S)
    """
    inv = sp.Inverse(diffused_covariance(S, alphabar_T))
    mean = (1 - alphabar_T) * inv * m_vec
    cov = eta * (1 - alphabar_T) * S * inv + alphabar_T * S * S * inv * inv
    return mean, cov


def residual_order():
    r"""Per eigenvalue: the standard-start error divided by :math:`\bar\alpha_T` as
    :math:`\bar\alpha_T \to 0`.

    Returns
    -------
    mean_limit, var_limit : :math:`-\lambda m` and :math:`(1 - \eta)\lambda^2`
    mean_err, var_err : the errors themselves (standard-start moments minus m, ηλ)
    """
    sig = alphabar_T * lam + 1 - alphabar_T
    p = sp.sqrt(alphabar_T) * lam / sig
    mean_err = p * (0 - sp.sqrt(alphabar_T) * m)
    var_err = p**2 * (1 - eta * sig)
    return (
        sp.limit(mean_err / alphabar_T, alphabar_T, 0),
        sp.limit(var_err / alphabar_T, alphabar_T, 0),
        sp.simplify(mean_err),
        sp.simplify(var_err),
    )


def _in_sig_T(e):
    return reparametrize(e, S, Sigma_T, alphabar_T)


def _back_to_S(e):
    """Simplified form in S: cancel in Sigma_T, then substitute Sigma_T back and collect."""
    return collect_matrix(
        collect_matrix(_in_sig_T(e)).xreplace({Sigma_T: diffused_covariance(S, alphabar_T)})
    )


@check("theorem1_induction", "theory.theorem1.induction_step", "test_induction")
def check_induction():
    a_tm1, Q_tm1, k = induction_step()
    KT = symmetric(k.K.T, S)
    cov_res = Q_tm1 - eta * k.sigma_tm1 - k.K * (Q_t - eta * k.sigma_t) * KT
    mean_res = a_tm1 - sp.sqrt(alphabar_tm1) * m_vec - k.K * (a_t - sp.sqrt(alphabar_t) * m_vec)
    in_sig = lambda e: reparametrize(e, S, Sigma_t, alphabar_t)  # noqa: E731
    ok = vanishes(in_sig(cov_res), SCHEDULE) and vanishes(in_sig(mean_res), SCHEDULE)
    K = sp.MatrixSymbol("K_t", d, d)
    return (
        ok,
        "Q_{t-1} - eta Sigma_{t-1} = K_t (Q_t - eta Sigma_t) K_t^T for any symmetric Q_t (no commuting), any d",
        (
            eq(
                sp.MatrixSymbol("Q_t-1", d, d) - eta * sp.MatrixSymbol("Sigma_t-1", d, d),
                K * (Q_t - eta * Sigma_t) * K.T,
            ),
            eq(
                Tex("a_{t-1} - \\sqrt{\\bar\\alpha_{t-1}} m"),
                K * (a_t - sp.sqrt(alphabar_t) * m_vec),
            ),
        ),
    )


@check("theorem1_product", "theory.theorem1.kernel_product_general", "test_product")
def check_product():
    prod = kernel_product_general()
    sig_T = alphabar_T * lam + 1 - alphabar_T
    ok = vanishes(prod - sp.sqrt(alphabar_T) * lam / sig_T)
    for T in range(1, 5):
        pm, alphas, sigmas = kernel_product_matrix(T)
        ok = ok and vanishes(pm - sp.sqrt(sp.Mul(*alphas)) * S * sigmas[-1].I)
        mean, _, info = chain_unrolled(T, "symbolic")  # the gain of the mean is the product
        ok = ok and vanishes(
            sp.diff(mean, info["a"]) - sp.sqrt(info["alphabar_T"]) * lam / info["sigma_T"]
        )
    t = sp.Symbol("t", integer=True, positive=True)
    T = sp.Symbol("T", integer=True, positive=True)
    return (
        ok,
        "K_1...K_T = sqrt(abar_T) S Sigma_T^-1: per eigenvalue for symbolic T (telescoped log-sum), "
        "matrix symbols and unrolled for T = 1..4",
        (
            eq(sp.Product(sp.Indexed("k", t), (t, 1, T)), prod),
            eq(Tex(r"K_1 K_2 \cdots K_T"), sp.sqrt(alphabar_T) * S * Sigma_T.I),
        ),
    )


@check("theorem1_exact_start", "theory.theorem1.end_point", "test_exact_start")
def check_exact_start():
    # general T: the induction step applied T times and the product; checked against the
    # unrolled chain for T = 1..4 per eigenvalue
    ok = True
    for T in range(1, 5):
        mean, var, info = chain_unrolled(T, "symbolic")
        p = sp.sqrt(info["alphabar_T"]) * lam / info["sigma_T"]
        ok = ok and vanishes(mean - (m + p * (info["a"] - sp.sqrt(info["alphabar_T"]) * m)))
        ok = ok and vanishes(var - (eta * lam + p**2 * (info["q"] - eta * info["sigma_T"])))
        mean, var, info = chain_unrolled(T, "exact")
        ok = ok and vanishes(mean - m) and vanishes(var - eta * lam)
    mean_e, cov_e = end_point(sp.sqrt(alphabar_T) * m_vec, eta * diffused_covariance(S, alphabar_T))
    ok = ok and vanishes(_in_sig_T(mean_e - m_vec)) and vanishes(_in_sig_T(cov_e - eta * S))
    return (
        ok,
        "from N(sqrt(abar_T) m, eta Sigma_T) the chain ends at N(m, eta S): general T, any d; "
        "unrolled per eigenvalue for T = 1..4",
        (
            eq(Tex(r"\mathbb{E}[x_0]"), _back_to_S(mean_e)),
            eq(Tex(r"\mathrm{Cov}[x_0]"), _back_to_S(cov_e)),
        ),
    )


@check("theorem1_standard_start", "theory.theorem1.end_point_standard", "test_standard_start")
def check_standard_start():
    mean_s, cov_s = end_point(sp.ZeroMatrix(d, 1), sp.Identity(d))
    cm, cc = end_point_standard()
    ok = vanishes(_in_sig_T(mean_s - cm)) and vanishes(_in_sig_T(symmetric(cov_s - cc, S)))
    for T in range(1, 5):
        mean, var, info = chain_unrolled(T, "standard")
        ab, sg = info["alphabar_T"], info["sigma_T"]
        ok = ok and vanishes(mean - (1 - ab) * m / sg)
        ok = ok and vanishes(var - (eta * (1 - ab) * lam / sg + ab * lam**2 / sg**2))
    return (
        ok,
        "from N(0, I): mean (1-abar_T) Sigma_T^-1 m, cov eta(1-abar_T) S Sigma_T^-1 + abar_T S^2 Sigma_T^-2, "
        "any d; unrolled for T = 1..4",
        (
            eq(Tex(r"\mathbb{E}[x_0]"), (1 - alphabar_T) * Sigma_T.I * m_vec),
            eq(
                Tex(r"\mathrm{Cov}[x_0]"),
                eta * (1 - alphabar_T) * S * Sigma_T.I + alphabar_T * S**2 * Sigma_T**-2,
            ),
        ),
    )


@check("theorem1_residual_order", "theory.theorem1.residual_order", "test_residual_order")
def check_residual_order():
    ml, vl, me, ve = residual_order()
    return (
        vanishes(ml + lam * m) and vanishes(vl - (1 - eta) * lam**2),
        "standard-start error is O(abar_T): error/abar_T -> (-lambda m, (1-eta) lambda^2) per eigenvalue",
        (
            eq(sp.Limit(me / alphabar_T, alphabar_T, 0), ml),
            eq(sp.Limit(ve / alphabar_T, alphabar_T, 0), vl),
        ),
    )


#: this module's checks in the order they are defined, and ``checks()`` that runs them
CHECKS, checks = module_checks(globals())
