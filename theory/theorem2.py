r"""Theorem 2: the conditional distortion-perception function with MSE and W2.

Given y, the posterior has mean m and covariance S, :math:`\tau = \operatorname{tr} S` (the MMSE).
An estimator :math:`\hat x` with :math:`x - y - \hat x` (a Markov chain) has
:math:`\mathrm{MSE} = \tau + \mathbb{E}\|\hat x - m\|^2`, and

.. math::

    D(P) = \min_{W_2(p_{\hat x}, p_{x|y}) \le P} \mathrm{MSE}
         = \tau + \big(\sqrt\tau - P\big)_+^2 .

Gaussian case, by KKT (the paper's Appendix C): with :math:`\hat x \mid y \sim N(m, \hat S)` and
:math:`\hat S` in S's eigenbasis with eigenvalues :math:`u_i^2`, minimise :math:`\sum_i u_i^2`
subject to :math:`\sum_i (\sqrt{\lambda_i} - u_i)^2 \le P^2` (the squared Bures distance).
Stationarity gives :math:`u_i = \mu\sqrt{\lambda_i}/(1+\mu)`; complementary slackness leaves
:math:`\mu = 0` (:math:`P \ge \sqrt\tau`, D = τ) or :math:`1 + \mu = \sqrt\tau/P`
(:math:`P \le \sqrt\tau`, :math:`D = \tau + (\sqrt\tau - P)^2`). The problem is convex in u
(objective and constraint are convex quadratics), so KKT points are optimal. The η-chain's
end point N(m, ηS) has

.. math::

    \mathrm{MSE}(\eta) = (1 + \eta)\tau, \qquad W_2(\eta) = (1 - \sqrt\eta)\sqrt\tau, \qquad
    D(W_2(\eta)) = \mathrm{MSE}(\eta), \qquad \mathrm{MSE}(1) = 2\tau .

General posterior (no Gaussianity, no shared eigenbasis -- this also covers the
restriction of the KKT step to S's eigenbasis): with X' a posterior sample coupled optimally
with :math:`\hat X`, Minkowski's inequality in :math:`L^2` gives
:math:`\sqrt\tau = \|X' - m\| \le \|X' - \hat X\| + \|\hat X - m\| = W_2 + e`, hence
:math:`e^2 \ge (\sqrt\tau - W_2)_+^2` and :math:`\mathrm{MSE} \ge D(W_2)`; the shrunk sample
:math:`m + c(X' - m)`, :math:`c = 1 - P/\sqrt\tau`, attains it.

What is proven and how:

* KKT, D(P), the η-curve: symbolic for symbolic dimension d (sums over indexed eigenvalues,
  :math:`\sum_i\lambda_i = \tau`).
* the general bound, as a chain of checked steps: (1) the orthogonality MSE = τ + e² is
  checked for independent discrete laws on symbolic atoms in ℝ² (3 and 2 atoms; the general
  proof is one line: the cross term is :math:`\mathbb{E}[X - m]\cdot\mathbb{E}[\hat X - m] = 0`);
  (2) Cauchy-Schwarz from the weighted Lagrange identity (a symbolic identity for 4 atoms, the
  sum of squares nonnegative by sympy's assumptions); (3) Minkowski from (2) by algebra;
  (4) monotonicity of the square on :math:`[0, \infty)` as a factorisation with a
  nonnegative sign checked by sympy; (5) the shrunk sample's MSE and W2 as identities.
  The steps for general laws on :math:`L^2` are standard; the machine checks are of the
  algebra in each step, not a formalisation of measure theory.

Examples
--------
>>> from theory.theorem2 import dp_function, P, tau
>>> dp_function().subs({tau: 4, P: 1})
5

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Theorem 2 and Appendix C.
2. D. Freirich, T. Michaeli, R. Meir, "A Theory of the Distortion-Perception Tradeoff in
   Wasserstein Space", NeurIPS 2021.
"""

from __future__ import annotations

import itertools

import sympy as sp

from ._core import check, eq, module_checks, vanishes
from .symbols import Tex, d, eta

__all__ = [
    "CHECKS",
    "P",
    "cauchy_schwarz",
    "checks",
    "dp_function",
    "eta_curve",
    "kkt",
    "minkowski",
    "orthogonality",
    "shrink_attains",
    "square_monotone",
    "tau",
]

#: tr S (the MMSE)
tau = sp.Symbol("tau", positive=True)
#: perception level (W2 budget)
P = sp.Symbol("P", positive=True)
mu = sp.Symbol("mu", nonnegative=True)
i = sp.Symbol("i", integer=True, positive=True)
lam_i = sp.IndexedBase("lambda", positive=True)
u_i = sp.IndexedBase("u")


def _trace(expr):
    """Pull constants out of a sum over i and name :math:`\\sum_i \\lambda_i = \\tau`."""
    return sp.simplify(expr).xreplace({sp.Sum(lam_i[i], (i, 1, d)): tau})


def kkt():
    r"""KKT conditions of :math:`\min \sum_i u_i^2` s.t. :math:`\sum_i(\sqrt{\lambda_i} - u_i)^2 \le P^2`.

    Returns
    -------
    dict with
        ``lagrangian_i``: the i-th term of the Lagrangian;
        ``u``: the stationary :math:`u_i(\mu)`; ``curvature``: :math:`\partial^2 L/\partial u_i^2`;
        ``constraint``: :math:`\sum_i(\sqrt{\lambda_i} - u_i(\mu))^2` in terms of τ;
        ``roots``: solutions μ of :math:`\text{constraint} = P^2` (complementary slackness,
        active branch); ``mu_active``: the root that can be :math:`\ge 0`;
        ``D_active``, ``D_inactive``: :math:`\tau + \sum_i u_i^2` on each branch;
        ``feasible_inactive``: the constraint at μ = 0 (u = 0), i.e. τ.
    """
    # i-th term of L = sum_i u_i^2 + mu (sum_i (sqrt(lambda_i) - u_i)^2 - P^2), up to -mu P^2
    L_i = u_i[i] ** 2 + mu * (sp.sqrt(lam_i[i]) - u_i[i]) ** 2
    (u_star,) = sp.solve(sp.diff(L_i, u_i[i]), u_i[i])
    constraint = _trace(sp.Sum(sp.factor((sp.sqrt(lam_i[i]) - u_star) ** 2), (i, 1, d)))
    roots = sp.solve(sp.Eq(constraint, P**2), mu)
    active = [r for r in roots if not r.is_negative]
    if len(active) != 1:  # pragma: no cover - structural guard
        raise AssertionError(f"expected one admissible multiplier, got {roots}")
    energy = _trace(sp.Sum(u_star**2, (i, 1, d)))
    return {
        "lagrangian_i": L_i,
        "u": u_star,
        "curvature": sp.diff(L_i, u_i[i], 2),
        "constraint": constraint,
        "roots": roots,
        "mu_active": active[0],
        "D_active": sp.simplify(tau + energy.subs(mu, active[0])),
        "D_inactive": tau + energy.subs(mu, 0),
        "feasible_inactive": constraint.subs(mu, 0),
    }


def dp_function():
    r""":math:`D(P) = \tau + \max(0, \sqrt\tau - P)^2`."""
    return tau + sp.Max(0, sp.sqrt(tau) - P) ** 2


def eta_curve():
    r"""MSE and W2 of the end point :math:`N(m, \eta S)` against the posterior :math:`N(m, S)`.

    :math:`\mathrm{MSE} = \|m - m\|^2 + \operatorname{tr} S + \operatorname{tr}(\eta S)` (independent
    given y) and :math:`W_2^2 = \sum_i (\sqrt{\lambda_i} - \sqrt{\eta\lambda_i})^2` (Bures, commuting).

    Returns
    -------
    mse, w2 : expressions in η, τ; ``w2`` uses :math:`|1 - \sqrt\eta| = 1 - \sqrt\eta` (η ≤ 1)
    w2_squared : :math:`W_2^2` before the square root
    """
    mse = _trace(sp.Sum(lam_i[i] + eta * lam_i[i], (i, 1, d)))
    w2_sq = _trace(sp.Sum((sp.sqrt(lam_i[i]) - sp.sqrt(eta * lam_i[i])) ** 2, (i, 1, d)))
    r = sp.Symbol("r", nonnegative=True)  # r = sqrt(eta), so that the square factors
    w2 = sp.sqrt(sp.factor(w2_sq.xreplace({eta: r**2})))
    w2 = sp.refine(w2, sp.Q.nonnegative(1 - r)).xreplace({r: sp.sqrt(eta)})
    return mse, w2, w2_sq


def orthogonality(n_x: int = 3, n_hat: int = 2):
    r""":math:`\mathbb{E}\|X - \hat X\|^2` vs :math:`\mathbb{E}\|X - m\|^2 + \mathbb{E}\|\hat X - m\|^2`
    for independent discrete laws in ℝ² on symbolic atoms with symbolic probabilities.

    Returns
    -------
    mse, decomposed : the two sides
    """
    xs = [sp.Matrix(sp.symbols(f"x_{k}1 x_{k}2", real=True)) for k in range(1, n_x + 1)]
    zs = [sp.Matrix(sp.symbols(f"z_{k}1 z_{k}2", real=True)) for k in range(1, n_hat + 1)]
    p = list(sp.symbols(f"p_1:{n_x}", positive=True))
    q = list(sp.symbols(f"q_1:{n_hat}", positive=True))
    p.append(1 - sum(p))
    q.append(1 - sum(q))
    mean = sum((pk * xk for pk, xk in zip(p, xs, strict=True)), sp.zeros(2, 1))
    sq = lambda v: (v.T * v)[0, 0]  # noqa: E731
    mse = sum(
        pk * ql * sq(xk - zl)
        for (pk, xk), (ql, zl) in itertools.product(
            zip(p, xs, strict=True), zip(q, zs, strict=True)
        )
    )
    tau_ = sum(pk * sq(xk - mean) for pk, xk in zip(p, xs, strict=True))
    e2 = sum(ql * sq(zl - mean) for ql, zl in zip(q, zs, strict=True))
    return mse, tau_ + e2


def cauchy_schwarz(n: int = 4):
    r"""Weighted Lagrange identity on n atoms:
    :math:`\|u\|^2\|v\|^2 - \langle u, v\rangle^2 = \tfrac12\sum_{k,l} w_k w_l (u_k v_l - u_l v_k)^2`,
    :math:`\langle u, v\rangle = \sum_k w_k u_k v_k` (an :math:`L^2` inner product of a discrete
    coupling; vector values contribute one atom per coordinate).

    Returns
    -------
    gap, sos : the two sides; ``sos`` is a sum of squares with positive weights
    """
    u = sp.symbols(f"u_1:{n + 1}", real=True)
    v = sp.symbols(f"v_1:{n + 1}", real=True)
    w = sp.symbols(f"w_1:{n + 1}", positive=True)
    ip = lambda a, b: sum(wk * ak * bk for wk, ak, bk in zip(w, a, b, strict=True))  # noqa: E731
    gap = ip(u, u) * ip(v, v) - ip(u, v) ** 2
    sos = sp.Rational(1, 2) * sum(
        w[k] * w[l] * (u[k] * v[l] - u[l] * v[k]) ** 2 for k in range(n) for l in range(n)
    )
    return gap, sos


def minkowski():
    r"""Minkowski from Cauchy-Schwarz: with :math:`A = \|u\|^2`, :math:`B = \|v\|^2`,
    :math:`C = \langle u, v\rangle` and :math:`\|u + v\|^2 = A + B + 2C`,
    :math:`(\sqrt A + \sqrt B)^2 - \|u+v\|^2 = 2(\sqrt{A}\sqrt{B} - C) \ge 0`.

    Returns
    -------
    lhs, rhs : :math:`(\sqrt A + \sqrt B)^2 - (A + B + 2C)` and :math:`2(\sqrt A\sqrt B - C)`
    bilinear : :math:`\|u + v\|^2 - (A + B + 2C)` for explicit 4-atom vectors (must vanish)
    """
    A, B = sp.symbols("A B", nonnegative=True)
    C = sp.Symbol("C", real=True)
    u = sp.symbols("u_1:5", real=True)
    v = sp.symbols("v_1:5", real=True)
    w = sp.symbols("w_1:5", positive=True)
    ip = lambda a, b: sum(wk * ak * bk for wk, ak, bk in zip(w, a, b, strict=True))  # noqa: E731
    s = [a + b for a, b in zip(u, v, strict=True)]
    bilinear = ip(s, s) - (ip(u, u) + ip(v, v) + 2 * ip(u, v))
    return (
        (sp.sqrt(A) + sp.sqrt(B)) ** 2 - (A + B + 2 * C),
        2 * (sp.sqrt(A) * sp.sqrt(B) - C),
        bilinear,
    )


def square_monotone():
    r""":math:`e \ge (a - b)_+ \ge 0 \Rightarrow e^2 \ge (a - b)_+^2`: with
    :math:`e = (a-b)_+ + \delta`, :math:`\delta \ge 0`,
    :math:`e^2 - (a-b)_+^2 = \delta\,(\delta + 2 (a - b)_+)`.

    Returns
    -------
    difference, factored : the two sides (``factored`` is nonnegative by assumptions)
    """
    a, b = sp.symbols("a b", positive=True)
    delta = sp.Symbol("delta", nonnegative=True)
    plus = sp.Max(0, a - b)
    e = plus + delta
    return e**2 - plus**2, delta * (delta + 2 * plus)


def shrink_attains():
    r"""The shrunk posterior sample :math:`\hat x = m + c(x' - m)`, :math:`c = 1 - P/\sqrt\tau`,
    :math:`P \le \sqrt\tau`, on a 3-atom posterior in ℝ² with symbolic atoms and probabilities.

    Returns
    -------
    dict with ``tau`` (:math:`\mathbb{E}\|x' - m\|^2`), ``e2`` (:math:`\mathbb{E}\|\hat x - m\|^2`),
    ``coupling_cost`` (:math:`\mathbb{E}\|\hat x - x'\|^2` under the identity coupling, an upper
    bound on :math:`W_2^2`), ``c`` (the symbol).
    """
    xs = [sp.Matrix(sp.symbols(f"x_{k}1 x_{k}2", real=True)) for k in range(1, 4)]
    p = list(sp.symbols("p_1:3", positive=True))
    p.append(1 - sum(p))
    c = sp.Symbol("c", nonnegative=True)
    mean = sum((pk * xk for pk, xk in zip(p, xs, strict=True)), sp.zeros(2, 1))
    sq = lambda v: (v.T * v)[0, 0]  # noqa: E731
    hat = [mean + c * (xk - mean) for xk in xs]
    tau_ = sum(pk * sq(xk - mean) for pk, xk in zip(p, xs, strict=True))
    e2 = sum(pk * sq(hk - mean) for pk, hk in zip(p, hat, strict=True))
    cost = sum(pk * sq(hk - xk) for pk, hk, xk in zip(p, hat, xs, strict=True))
    return {"tau": tau_, "e2": e2, "coupling_cost": cost, "c": c}


@check("theorem2_kkt_stationarity", "theory.theorem2.kkt", "test_kkt_stationarity")
def check_kkt_stationarity():
    k = kkt()
    ok = vanishes(k["u"] - mu * sp.sqrt(lam_i[i]) / (1 + mu)) and bool(k["curvature"].is_positive)
    return (
        ok,
        "stationarity u_i = mu sqrt(lambda_i)/(1+mu), Lagrangian strictly convex in u, any d",
        (
            eq(
                Tex(r"L(u, \mu)"),
                sp.Sum(u_i[i] ** 2, (i, 1, d))
                + mu * (sp.Sum((sp.sqrt(lam_i[i]) - u_i[i]) ** 2, (i, 1, d)) - P**2),
            ),
            eq(u_i[i], k["u"]),
        ),
    )


@check("theorem2_kkt_branches", "theory.theorem2.kkt", "test_kkt_branches")
def check_kkt_branches():
    k = kkt()
    mu_a = k["mu_active"]
    excluded = [r for r in k["roots"] if r != mu_a]
    ok = (
        vanishes(k["constraint"] - tau / (1 + mu) ** 2)
        and vanishes(mu_a - (sp.sqrt(tau) / P - 1))
        and all(bool(r.is_negative) for r in excluded)
        and vanishes(k["D_active"] - (tau + (sp.sqrt(tau) - P) ** 2))
        and vanishes(k["D_inactive"] - tau)
        and vanishes(k["feasible_inactive"] - tau)
    )
    return (
        ok,
        "complementary slackness: mu = sqrt(tau)/P - 1 >= 0 iff P <= sqrt(tau) (D = tau + (sqrt(tau)-P)^2), "
        "else mu = 0 (u = 0, feasible iff tau <= P^2, D = tau)",
        (
            eq(Tex(r"\sum_i (\sqrt{\lambda_i} - u_i)^2"), k["constraint"]),
            eq(Tex(r"\mu^\star"), mu_a),
            eq(k["D_active"], tau + (sp.sqrt(tau) - P) ** 2),
            eq(Tex(r"D_{\mu^\star = 0}"), k["D_inactive"]),
        ),
    )


_delta = sp.Symbol("delta", nonnegative=True)


@check("theorem2_dp_function", "theory.theorem2.dp_function", "test_dp_function")
def check_dp_function():
    k = kkt()
    D = dp_function()
    below = D.xreplace({P: sp.sqrt(tau) - _delta})  # P <= sqrt(tau): active branch
    above = D.xreplace({P: sp.sqrt(tau) + _delta})  # P >= sqrt(tau): inactive branch
    ok = vanishes(below - k["D_active"].xreplace({P: sp.sqrt(tau) - _delta})) and vanishes(
        above - k["D_inactive"]
    )
    return ok, "D(P) = tau + (sqrt(tau) - P)_+^2 joins the two KKT branches", eq(Tex("D(P)"), D)


@check("theorem2_eta_curve", "theory.theorem2.eta_curve", "test_eta_curve")
def check_eta_curve():
    mse, w2, w2_sq = eta_curve()
    ok = vanishes(mse - (1 + eta) * tau) and vanishes(w2_sq - (1 - sp.sqrt(eta)) ** 2 * tau)
    ok = ok and vanishes(w2 - (1 - sp.sqrt(eta)) * sp.sqrt(tau))
    return (
        ok,
        "N(m, eta S): MSE = (1+eta) tr S, W2 = (1 - sqrt(eta)) sqrt(tr S), any d",
        (eq(Tex(r"\mathrm{MSE}(\eta)"), mse), eq(Tex(r"W_2(\eta)"), w2)),
    )


@check("theorem2_eta_traces_dp", "theory.theorem2.eta_curve", "test_eta_traces_dp")
def check_eta_traces_dp():
    mse, w2, _ = eta_curve()
    D = dp_function()
    traced = D.xreplace({P: w2})
    return (
        vanishes(traced - mse) and vanishes(mse.subs(eta, 1) - 2 * tau),
        "D(W2(eta)) = MSE(eta) for eta in [0, 1], and MSE(1) = 2 MMSE",
        (
            eq(D.xreplace({P: Tex(r"W_2(\eta)")}), traced),
            eq(Tex(r"\mathrm{MSE}(1)"), mse.subs(eta, 1)),
        ),
    )


@check("theorem2_orthogonality", "theory.theorem2.orthogonality", "test_orthogonality")
def check_orthogonality():
    lhs, rhs = orthogonality()
    return (
        vanishes(lhs - rhs),
        "x - y - xhat: E|x - xhat|^2 = tr S + E|xhat - m|^2 (independent discrete laws, symbolic atoms)",
        eq(
            Tex(r"\mathbb{E}\|x - \hat x\|^2"),
            Tex(r"\operatorname{tr} S + \mathbb{E}\|\hat x - m\|^2"),
        ),
    )


@check("theorem2_cauchy_schwarz", "theory.theorem2.cauchy_schwarz", "test_cauchy_schwarz")
def check_cauchy_schwarz():
    pairs = [cauchy_schwarz(4), cauchy_schwarz(2)]
    return (
        all(vanishes(g - q) and bool(q.is_nonnegative) for g, q in pairs),
        "Cauchy-Schwarz: |u|^2|v|^2 - <u,v>^2 is a weighted sum of squares (2 and 4 atoms)",
        eq(*pairs[1]),
    )


@check("theorem2_minkowski", "theory.theorem2.minkowski", "test_minkowski")
def check_minkowski():
    lhs, rhs, bil = minkowski()
    return (
        vanishes(lhs - rhs) and vanishes(bil),
        "Minkowski: (|u| + |v|)^2 - |u+v|^2 = 2(|u||v| - <u,v>) >= 0, so sqrt(tr S) <= W2 + |xhat - m|",
        eq(lhs, rhs),
    )


@check("theorem2_general_bound", "theory.theorem2.square_monotone", "test_general_bound")
def check_general_bound():
    diff_, factored = square_monotone()
    e = sp.Symbol("e", nonnegative=True)
    W = sp.Symbol("W_2", nonnegative=True)
    return (
        vanishes(diff_ - factored) and bool(factored.is_nonnegative),
        "e >= (sqrt(tr S) - W2)_+ implies MSE = tr S + e^2 >= tr S + (sqrt(tr S) - W2)_+^2 = D(W2)",
        (eq(diff_, factored), sp.Ge(tau + e**2, dp_function().xreplace({P: W}), evaluate=False)),
    )


@check("theorem2_shrink_attains", "theory.theorem2.shrink_attains", "test_shrink_attains")
def check_shrink_attains():
    sh = shrink_attains()
    c = sh["c"]
    c_of_P = 1 - P / sp.sqrt(tau)
    below = dp_function().xreplace({P: sp.sqrt(tau) - _delta})  # D on P <= sqrt(tau)
    ok = (
        vanishes(sh["e2"] - c**2 * sh["tau"])
        and vanishes(sh["coupling_cost"] - (1 - c) ** 2 * sh["tau"])
        # on P <= sqrt(tau): MSE = tau + c^2 tau = D(P), and W2 = (1 - c) sqrt(tau) = P
        and vanishes((tau + c_of_P**2 * tau) - below.xreplace({_delta: sp.sqrt(tau) - P}))
        and vanishes((1 - c_of_P) * sp.sqrt(tau) - P)
    )
    return (
        ok,
        "m + c(x' - m), c = 1 - P/sqrt(tr S): e^2 = c^2 tr S and W2 = (1-c) sqrt(tr S) = P, so MSE = D(P)",
        (
            eq(Tex(r"\mathbb{E}\|\hat x - m\|^2"), c**2 * tau),
            eq(Tex(r"\mathbb{E}\|\hat x - x'\|^2"), (1 - c) ** 2 * tau),
            eq(Tex(r"\mathrm{MSE}"), tau + c_of_P**2 * tau),
            eq(tau + c_of_P**2 * tau, tau + (sp.sqrt(tau) - P) ** 2),
        ),
    )


#: this module's checks in the order they are defined, and ``checks()`` that runs them
CHECKS, checks = module_checks(globals())
