"""theory.theorem1: the η-chain identities, cross-checked against numerics.gaussian."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from numerics.gaussian import eta_chain_moments, reverse_kernel
from numerics.schedule import linear_schedule, respace
from tests.strategies import random_spd
from tests.theory.helpers import assert_checks_point_to_tests, assert_passed, close, col, lam, run
from theory import theorem1 as t1
from theory.reverse_posterior import m_vec
from theory.symbols import S, alpha_t, alphabar_T, alphabar_t, alphabar_tm1, beta_t, eta, m
from theory.symbols import lam as lam_s

SCHEDULES = [
    linear_schedule(1000),
    linear_schedule(30, fixed_horizon=True),
    respace(linear_schedule(1000), 10),
]


def test_checks_point_to_tests():
    assert_checks_point_to_tests(t1.CHECKS, globals(), "theorem1_")


@pytest.mark.parametrize("dim", [2, 4])
def test_induction(rng, dim):
    """One η-step from N(a, Q) with Q not commuting with S, by numerics.reverse_kernel, matches
    the lambdified Q_{t-1}, a_{t-1}, and the induction identity holds numerically."""
    assert_passed(run(t1.check_induction))
    a_tm1, Q_tm1, _ = t1.induction_step()
    args = [S, t1.Q_t, t1.a_t, m_vec, eta, alpha_t, beta_t, alphabar_t, alphabar_tm1]
    fQ, fa = lam(Q_tm1, args, dim=dim), lam(a_tm1, args, dim=dim)
    Sn, mn = random_spd(rng, dim), rng.normal(size=dim)
    Q = random_spd(rng, dim, cond=10.0)
    assert np.abs(Q @ Sn - Sn @ Q).max() > 1e-3  # really non-commuting
    a = rng.normal(size=dim)
    s = SCHEDULES[0]
    for t in (1, 300, 1000):
        etan = rng.uniform()
        K, C = reverse_kernel(Sn, s, t)
        ab, abm = s.alpha_bar[t], s.alpha_bar[t - 1]
        Q_ref = K @ Q @ K.T + etan * C
        a_ref = np.sqrt(abm) * mn + K @ (a - np.sqrt(ab) * mn)
        vals = (Sn, Q, col(a), col(mn), etan, s.alpha[t], s.beta[t], ab, abm)
        close(fQ(*vals), Q_ref)
        close(fa(*vals).ravel(), a_ref)
        Sig = lambda ab_: ab_ * Sn + (1 - ab_) * np.eye(dim)  # noqa: E731
        close(Q_ref - etan * Sig(abm), K @ (Q - etan * Sig(ab)) @ K.T)


def test_product(rng):
    """prod_t K_t from numerics.reverse_kernel equals sqrt(ab_T) S Sigma_T^{-1}, lambdified
    from both the symbolic-T eigenvalue form and the matrix form."""
    assert_passed(run(t1.check_product))
    prod_eig = t1.kernel_product_general()
    assert (
        sp.simplify(prod_eig - sp.sqrt(alphabar_T) * lam_s / (alphabar_T * lam_s + 1 - alphabar_T))
        == 0
    )
    f_eig = lam(prod_eig, [lam_s, alphabar_T])
    dim = 3
    Sn = random_spd(rng, dim)
    f_mat = lam(
        sp.sqrt(alphabar_T) * S * sp.Inverse(t1.diffused_covariance(S, alphabar_T)),
        [S, alphabar_T],
        dim=dim,
    )
    lam_n, U = np.linalg.eigh(Sn)
    for s in SCHEDULES:
        P = np.eye(dim)
        for t in range(1, s.T + 1):
            P = P @ reverse_kernel(Sn, s, t)[0]
        ab = s.alpha_bar[s.T]
        close(P, (U * f_eig(lam_n, ab)) @ U.T, rtol=1e-8, atol=1e-12)
        close(P, f_mat(Sn, ab), rtol=1e-8, atol=1e-12)
    # the unrolled matrix-symbol product telescopes (no commutation used)
    pm, alphas, sigmas = t1.kernel_product_matrix(3)
    assert pm == sp.sqrt(alphas[0]) * sp.sqrt(alphas[1]) * sp.sqrt(alphas[2]) * S * sigmas[-1].I


@pytest.mark.parametrize("dim", [1, 3])
def test_exact_start(rng, dim):
    assert_passed(run(t1.check_exact_start))
    mean_e, cov_e = t1.end_point(
        sp.sqrt(alphabar_T) * m_vec, eta * t1.diffused_covariance(S, alphabar_T)
    )
    args = [m_vec, S, eta, alphabar_T]
    fm, fc = lam(mean_e, args, dim=dim), lam(cov_e, args, dim=dim)
    Sn, mn = random_spd(rng, dim), rng.normal(size=dim)
    for s in SCHEDULES:
        etan = float(rng.uniform())
        mean, cov = eta_chain_moments(mn, Sn, etan, s, start="exact")
        vals = (col(mn), Sn, etan, s.alpha_bar[s.T])
        close(mean, mn, rtol=1e-8)
        close(cov, etan * Sn, rtol=1e-8, atol=1e-12)
        close(fm(*vals).ravel(), mean, rtol=1e-8)
        close(fc(*vals), cov, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("dim", [2, 4])
def test_standard_start(rng, dim):
    """Closed forms from N(0, I) and from a general N(a, Q) against eta_chain_moments."""
    assert_passed(run(t1.check_standard_start))
    cm, cc = t1.end_point_standard()
    args = [m_vec, S, eta, alphabar_T]
    fm, fc = lam(cm, args, dim=dim), lam(cc, args, dim=dim)
    a_s, Q_s = sp.MatrixSymbol("a_T", t1.d, 1), sp.MatrixSymbol("Q_T", t1.d, t1.d)
    gm, gc = t1.end_point()
    fgm = lam(gm, [a_s, Q_s, *args], dim=dim)
    fgc = lam(gc, [a_s, Q_s, *args], dim=dim)
    Sn, mn = random_spd(rng, dim), rng.normal(size=dim)
    a, Q = rng.normal(size=dim), random_spd(rng, dim, cond=5.0)
    for s in SCHEDULES:
        etan = float(rng.uniform())
        vals = (col(mn), Sn, etan, s.alpha_bar[s.T])
        mean, cov = eta_chain_moments(mn, Sn, etan, s, start="standard")
        close(fm(*vals).ravel(), mean, rtol=1e-8, atol=1e-12)
        close(fc(*vals), cov, rtol=1e-8, atol=1e-12)
        mean, cov = eta_chain_moments(mn, Sn, etan, s, start=(a, Q))
        close(fgm(col(a), Q, *vals).ravel(), mean, rtol=1e-8, atol=1e-12)
        close(fgc(col(a), Q, *vals), cov, rtol=1e-8, atol=1e-12)


def test_chain_unrolled_matches_numerics(rng):
    """The per-eigenvalue T = 4 chain from a symbolic start, lambdified with a respaced
    4-step schedule, equals eta_chain_moments in 1-D."""
    mean, var, info = t1.chain_unrolled(4, "symbolic")
    args = [*info["alphas"], info["a"], info["q"], m, lam_s, eta]
    f = lam(sp.Matrix([mean, var]), args)
    s = respace(linear_schedule(1000), 4)
    lam_n, mn, a, q, etan = 0.3, 0.7, -0.2, 0.9, 0.45
    ref_m, ref_c = eta_chain_moments([mn], [[lam_n]], etan, s, start=([a], [[q]]))
    close(f(*s.alpha[1:], a, q, mn, lam_n, etan).ravel(), [ref_m[0], ref_c[0, 0]], rtol=1e-10)


def test_residual_order(rng):
    """At T = 1000, ab_T = 4e-5: the standard-start error divided by ab_T is within
    O(ab_T) (relative) of the derived limits (-lambda m, (1 - eta) lambda^2) per eigenvalue."""
    assert_passed(run(t1.check_residual_order))
    ml, vl, _, _ = t1.residual_order()
    s = linear_schedule(1000)
    ab = s.alpha_bar[s.T]
    dim = 3
    Sn, mn, etan = random_spd(rng, dim, cond=10.0), rng.normal(size=dim), 0.3
    lam_n, U = np.linalg.eigh(Sn)
    mean, cov = eta_chain_moments(mn, Sn, etan, s, start="standard")
    m_e = U.T @ mn
    err_m = U.T @ (mean - mn) / ab
    err_v = np.diag(U.T @ (cov - etan * Sn) @ U) / ab
    lim_m = lam(ml, [lam_s, m])(lam_n, m_e)
    lim_v = lam(vl, [lam_s, eta])(lam_n, etan)
    # exact errors are lim / sigma_T^k with sigma_T = 1 + ab (lambda - 1): relative gap <= 2 ab max|lambda - 1|
    tol = 2 * ab * np.max(np.abs(lam_n - 1)) + 1e-9
    np.testing.assert_allclose(err_m, lim_m, rtol=tol, atol=1e-9)
    np.testing.assert_allclose(err_v, lim_v, rtol=2 * tol, atol=1e-9)
