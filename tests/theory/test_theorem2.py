"""theory.theorem2: KKT, the η-curve and the general bound, cross-checked against numerics.dp,
numerics.gaussian and exact discrete optimal transport (POT)."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import sympy as sp
from scipy.optimize import minimize

from numerics.dp import dp_function, gaussian_eta_curve, shrink, shrink_factor_for_perception
from numerics.gaussian import bures_w2, eta_chain_moments
from numerics.schedule import linear_schedule
from tests.strategies import random_spd
from tests.theory.helpers import assert_checks_point_to_tests, assert_passed, close, lam, run
from theory import theorem2 as t2
from theory.symbols import eta


def test_checks_point_to_tests():
    assert_checks_point_to_tests(t2.CHECKS, globals(), "theorem2_")


def _w2_empirical(x, y, wx=None, wy=None):
    """Exact W2 between two discrete laws (network simplex)."""
    wx = np.full(len(x), 1 / len(x)) if wx is None else wx
    wy = np.full(len(y), 1 / len(y)) if wy is None else wy
    return np.sqrt(max(ot.emd2(wx, wy, ot.dist(x, y), numItermax=10**6), 0.0))


def _slsqp(lam_n, P):
    """Numerically minimise sum u^2 s.t. sum (sqrt(lambda) - u)^2 <= P^2."""
    sq = np.sqrt(lam_n)
    return minimize(
        lambda v: np.sum(v**2),
        sq,
        jac=lambda v: 2 * v,
        constraints=[
            {
                "type": "ineq",
                "fun": lambda v: P**2 - np.sum((sq - v) ** 2),
                "jac": lambda v: 2 * (sq - v),
            }
        ],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )


def test_kkt_stationarity(rng):
    """The KKT point solves the convex program: SLSQP on random eigenvalues finds the same
    optimum, and it equals numerics.dp.dp_function."""
    assert_passed(run(t2.check_kkt_stationarity))
    k = t2.kkt()
    u_of = lam(
        k["u"].xreplace({t2.lam_i[t2.i]: sp.Symbol("l", positive=True)}),
        [sp.Symbol("l", positive=True), t2.mu],
    )
    for _ in range(3):
        lam_n = np.exp(rng.uniform(np.log(1e-2), 0, size=5))
        tau = lam_n.sum()
        P = rng.uniform(0.05, 0.95) * np.sqrt(tau)
        mu_star = np.sqrt(tau) / P - 1
        u = u_of(lam_n, mu_star)
        close(np.sum((np.sqrt(lam_n) - u) ** 2), P**2)  # constraint active
        close(tau + np.sum(u**2), dp_function(tau, P))
        res = _slsqp(lam_n, P)
        # an independent numerical optimum (feasible to 1e-9) agrees with the KKT value
        assert P**2 - np.sum((np.sqrt(lam_n) - res.x) ** 2) >= -1e-9
        close(tau + res.fun, dp_function(tau, P), rtol=1e-6)
        close(res.x, u, rtol=1e-3, atol=1e-5)


def test_kkt_branches(rng):
    assert_passed(run(t2.check_kkt_branches))
    k = t2.kkt()
    f_active = lam(k["D_active"], [t2.tau, t2.P])
    for tau in rng.uniform(0.1, 5, size=4):
        P_in = rng.uniform(0.01, 1) * np.sqrt(tau)
        close(f_active(tau, P_in), dp_function(tau, P_in))
        P_out = np.sqrt(tau) * rng.uniform(1.0, 3.0)
        close(float(k["D_inactive"].subs(t2.tau, tau)), dp_function(tau, P_out))
    # the excluded multiplier is negative for every tau, P > 0
    assert all(r.is_negative for r in k["roots"] if r != k["mu_active"])


def test_dp_function():
    assert_passed(run(t2.check_dp_function))
    f = lam(
        t2.dp_function(),
        [t2.tau, t2.P],
    )
    for tau in (0.3, 1.0, 7.5):
        P = np.linspace(0, 3 * np.sqrt(tau), 41)
        close([f(tau, p) for p in P], dp_function(tau, P))


@pytest.mark.parametrize("dim", [2, 5])
def test_eta_curve(rng, dim):
    """MSE(eta), W2(eta) lambdified vs numerics.dp.gaussian_eta_curve, vs Bures W2 of the
    η-chain's exact end point, and vs the MSE of that end point (tr S + tr cov)."""
    assert_passed(run(t2.check_eta_curve))
    mse, w2, _ = t2.eta_curve()
    f_mse, f_w2 = lam(mse, [t2.tau, eta]), lam(w2, [t2.tau, eta])
    Sn, mn = random_spd(rng, dim), rng.normal(size=dim)
    tau = np.trace(Sn)
    s = linear_schedule(40, fixed_horizon=True)
    for etan in (0.0, 0.2, 0.7, 1.0):
        ref_mse, ref_w2 = gaussian_eta_curve(tau, etan)
        close(f_mse(tau, etan), ref_mse)
        close(f_w2(tau, etan), ref_w2, atol=1e-12)
        mean, cov = eta_chain_moments(mn, Sn, etan, s, start="exact")
        close(np.sum((mean - mn) ** 2) + tau + np.trace(cov), f_mse(tau, etan), rtol=1e-8)
        # compare squares near 0 (W2 is a square root of a cancellation there)
        close(
            bures_w2(mean, cov + 1e-300 * np.eye(dim), mn, Sn, squared=True),
            f_w2(tau, etan) ** 2,
            rtol=1e-6,
            atol=1e-9,
        )


def test_eta_traces_dp(rng):
    assert_passed(run(t2.check_eta_traces_dp))
    mse, w2, _ = t2.eta_curve()
    for tau in rng.uniform(0.1, 10, size=3):
        for etan in np.linspace(0, 1, 11):
            w = float(w2.subs({t2.tau: tau, eta: etan}))
            close(dp_function(tau, w), float(mse.subs({t2.tau: tau, eta: etan})))
        close(float(mse.subs({t2.tau: tau, eta: 1})), 2 * tau)


def test_orthogonality(rng):
    assert_passed(run(t2.check_orthogonality))
    lhs, rhs = t2.orthogonality()
    syms = sorted(lhs.free_symbols | rhs.free_symbols, key=lambda z: z.name)
    vals = [
        rng.uniform(0.1, 0.3) if z.name.startswith(("p_", "q_")) else rng.normal() for z in syms
    ]
    close(lam(lhs, syms)(*vals), lam(rhs, syms)(*vals))


def test_cauchy_schwarz(rng):
    assert_passed(run(t2.check_cauchy_schwarz))
    gap, sos = t2.cauchy_schwarz(4)
    syms = sorted(gap.free_symbols, key=lambda z: z.name)
    for _ in range(5):
        vals = [rng.uniform(0.1, 1) if z.name.startswith("w") else rng.normal() for z in syms]
        g = lam(gap, syms)(*vals)
        assert g >= -1e-12
        close(g, lam(sos, syms)(*vals))


def test_minkowski(rng):
    assert_passed(run(t2.check_minkowski))
    lhs, rhs, bil = t2.minkowski()
    assert sp.expand(bil) == 0
    assert sp.simplify(lhs - rhs) == 0
    u, v = rng.normal(size=(2, 6))
    assert np.linalg.norm(u + v) <= np.linalg.norm(u) + np.linalg.norm(v)


def test_general_bound(rng):
    """Random discrete posteriors and estimator laws in R^2 (exact W2 by POT):
    MSE = tr S + E|xhat - m|^2 >= D(W2) from numerics.dp.dp_function."""
    assert_passed(run(t2.check_general_bound))
    diff_, factored = t2.square_monotone()
    assert sp.simplify(diff_ - factored) == 0 and factored.is_nonnegative
    slack = []
    for _ in range(30):
        post = rng.normal(size=(rng.integers(3, 9), 2)) * rng.uniform(0.3, 2)
        est = (
            rng.normal(size=(rng.integers(2, 9), 2)) * rng.uniform(0.1, 2)
            + rng.normal(size=2) * 0.3
        )
        wp = rng.dirichlet(np.ones(len(post)))
        we = rng.dirichlet(np.ones(len(est)))
        m = wp @ post
        tau = wp @ np.sum((post - m) ** 2, axis=1)
        e2 = we @ np.sum((est - m) ** 2, axis=1)
        # MSE by brute force over the independent pair (x, xhat): the orthogonality step
        mse = np.sum(wp[:, None] * we[None, :] * np.sum((post[:, None] - est[None]) ** 2, axis=2))
        close(mse, tau + e2)
        W = _w2_empirical(post, est, wp, we)
        slack.append(mse - dp_function(tau, W))
    assert min(slack) >= -1e-10


def test_shrink_attains(rng):
    """Shrunk posterior samples m + c(x' - m), c from numerics.dp: exact W2 to the posterior
    (POT) equals P and MSE equals D(P)."""
    assert_passed(run(t2.check_shrink_attains))
    sh = t2.shrink_attains()
    c = sh["c"]
    assert sp.simplify(sh["e2"] - c**2 * sh["tau"]) == 0
    post = rng.normal(size=(40, 2)) @ np.array([[1.0, 0.4], [0.0, 0.5]])
    m = post.mean(axis=0)
    tau = np.mean(np.sum((post - m) ** 2, axis=1))
    for P in (0.0, 0.2 * np.sqrt(tau), 0.7 * np.sqrt(tau), np.sqrt(tau)):
        cn = shrink_factor_for_perception(tau, P)
        est = shrink(post, m, cn)
        close(_w2_empirical(post, est), P, atol=1e-7)
        mse = np.mean(np.sum((post[:, None] - est[None]) ** 2, axis=2))  # independent pair
        close(mse, dp_function(tau, P))
