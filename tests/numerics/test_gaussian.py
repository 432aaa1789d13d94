"""numerics.gaussian: posteriors, Gaussian distances, exact reverse kernel and eta-chain moments.

Each function is checked against an independent route: the information form, dense
matrix algebra, joint-Gaussian conditioning, scipy's sqrtm, Monte Carlo.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given
from hypothesis import strategies as st

from numerics.gaussian import (
    bures_w2,
    eta_chain_moments,
    gaussian_kl,
    linear_gaussian_posterior,
    reverse_kernel,
)
from numerics.schedule import linear_schedule
from tests.strategies import horizons, operator_kinds, random_operator, random_spd, seeds, sigma_ys

SCHEDULES = {T: linear_schedule(T) for T in (10, 100, 1000)}


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# --------------------------------------------------------------------------- posterior
@given(seed=seeds, kind=operator_kinds, sigma_y=sigma_ys, d=st.integers(1, 6))
def test_posterior_covariance_form_matches_information_form(seed, kind, sigma_y, d):
    rng = np.random.default_rng(seed)
    P = random_spd(rng, d, cond=100.0)
    mu = rng.normal(size=d)
    A = random_operator(rng, d, kind)
    y = A @ rng.normal(size=d) + sigma_y * rng.normal(size=A.shape[0])
    m1, S1 = linear_gaussian_posterior(mu, P, A, sigma_y, y)
    m2, S2 = linear_gaussian_posterior(mu, P, A, sigma_y, y, form="information")
    # The information form loses accuracy with cond(J) cond(P); the covariance form computes
    # S = P - (...) and loses about |P|/|S| digits to that cancellation.
    J = np.linalg.inv(P) + A.T @ A / sigma_y**2
    cancel = np.max(np.abs(P)) / np.max(np.abs(S1))
    tol = 1e-13 * (np.linalg.cond(J) * np.linalg.cond(P) + cancel) + 1e-12
    assert _rel(S1, S2) < tol
    assert np.max(np.abs(m1 - m2)) < tol * (1 + np.max(np.abs(m2)))
    assert np.all(np.linalg.eigvalsh(S1) > 0)
    assert np.trace(S1) <= np.trace(P) * (1 + 1e-12)  # observing never adds variance


def test_posterior_scalar_closed_form():
    # x ~ N(1, 4), y = 3x + n, sigma_y = 2: S = 1/(1/4 + 9/4) = 0.4, m = S(1/4 + 3*5/4).
    m, S = linear_gaussian_posterior([1.0], [[4.0]], [[3.0]], 2.0, [5.0])
    assert S[0, 0] == pytest.approx(0.4, rel=1e-14)
    assert m[0] == pytest.approx(0.4 * (0.25 + 15 / 4), rel=1e-14)


def test_posterior_matches_joint_monte_carlo(rng):
    """Regression of x on y over joint draws recovers K = P A^T G^-1 and S (n = 400k)."""
    d, n, sigma_y = 3, 400_000, 0.3
    P = random_spd(rng, d, cond=10.0)
    A = random_operator(rng, d, "wide")
    x = rng.multivariate_normal(np.zeros(d), P, size=n)
    yy = x @ A.T + sigma_y * rng.normal(size=(n, A.shape[0]))
    coef, *_ = np.linalg.lstsq(yy, x, rcond=None)  # x ~ yy @ coef
    resid = x - yy @ coef
    S_mc = resid.T @ resid / n
    _, S = linear_gaussian_posterior(np.zeros(d), P, A, sigma_y, np.zeros(A.shape[0]))
    # sd of a sample covariance entry is about sqrt((S_ii S_jj + S_ij^2)/n).
    sd = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)
    assert np.all(np.abs(S_mc - S) < 5 * sd)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cov=[[1.0, 2.0], [0.0, 1.0]]), "cov.*symmetric"),
        (dict(cov=[[1.0, 2.0], [2.0, 1.0]]), "cov.*positive-definite"),
        (dict(sigma_y=0.0), "sigma_y"),
        (dict(sigma_y=-1.0), "sigma_y"),
        (dict(A=np.eye(3)), "A"),
        (dict(y=[1.0, 2.0, 3.0]), "y"),
        (dict(mean=[np.nan, 0.0]), "mean.*NaN"),
        (dict(form="other"), "form"),
    ],
)
def test_posterior_bad_input(kwargs, match):
    args = dict(mean=[0.0, 0.0], cov=np.eye(2), A=np.eye(2), sigma_y=0.1, y=[0.0, 1.0])
    args.update(kwargs)
    form = args.pop("form", "covariance")
    with pytest.raises(ValueError, match=match):
        linear_gaussian_posterior(**args, form=form)


# --------------------------------------------------------------------------- distances
def test_bures_reference_values():
    assert bures_w2([0.0], [[1.0]], [10.0], [[1.0]]) == pytest.approx(10.0, rel=1e-12)
    # Commuting covariances: W2^2 = |dm|^2 + sum (sqrt a - sqrt b)^2.
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    w2sq = 1.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = bures_w2(np.zeros(3), np.diag(a), np.array([1.0, 0, 0]), np.diag(b), squared=True)
    assert got == pytest.approx(w2sq, rel=1e-12)


@given(seed=seeds, d=st.integers(1, 5))
def test_bures_matches_sqrtm_route(seed, d):
    rng = np.random.default_rng(seed)
    S1, S2 = random_spd(rng, d), random_spd(rng, d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    r1 = sla.sqrtm(S1).real
    cross = sla.sqrtm(r1 @ S2 @ r1).real
    w2sq = np.sum((m1 - m2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * np.trace(cross)
    assert bures_w2(m1, S1, m2, S2, squared=True) == pytest.approx(w2sq, rel=1e-8, abs=1e-10)
    assert bures_w2(m1, S1, m2, S2) ** 2 == pytest.approx(w2sq, rel=1e-8, abs=1e-10)


def test_kl_reference_and_monte_carlo(rng):
    assert gaussian_kl([0.0], [[1.0]], [0.0], [[4.0]]) == pytest.approx(
        0.5 * (0.25 - 1 + np.log(4.0)), rel=1e-14
    )
    d, n = 3, 200_000
    S1, S2 = random_spd(rng, d, cond=5.0), random_spd(rng, d, cond=5.0)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    from scipy.stats import multivariate_normal as mvn

    x = rng.multivariate_normal(m1, S1, size=n)
    llr = mvn(m1, S1).logpdf(x) - mvn(m2, S2).logpdf(x)
    kl = gaussian_kl(m1, S1, m2, S2)
    assert abs(llr.mean() - kl) < 4 * llr.std() / np.sqrt(n)


# --------------------------------------------------------------------------- reverse kernel
@given(seed=seeds, d=st.integers(1, 5), T=horizons, frac=st.floats(0.0, 1.0))
def test_reverse_kernel_is_joint_gaussian_conditioning(seed, d, T, frac):
    """K_t, C_t from conditioning the joint law of (x_{t-1}, x_t) with dense algebra."""
    rng = np.random.default_rng(seed)
    sched = SCHEDULES[T]
    t = 1 + int(round(frac * (T - 1)))
    S = random_spd(rng, d, cond=1e3, scale=0.5)
    K, C = reverse_kernel(S, sched, t)
    I = np.eye(d)
    Sig_prev = sched.alpha_bar[t - 1] * S + (1 - sched.alpha_bar[t - 1]) * I
    # x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps, so the joint is explicit:
    cov_tt = sched.alpha[t] * Sig_prev + sched.beta[t] * I
    cov_prev_t = np.sqrt(sched.alpha[t]) * Sig_prev
    K_ref = np.linalg.solve(cov_tt, cov_prev_t.T).T
    C_ref = Sig_prev - K_ref @ cov_prev_t.T
    assert _rel(K, K_ref) < 1e-9
    assert _rel(C, C_ref) < 1e-6 + 1e-12 * np.linalg.cond(cov_tt) / np.max(np.abs(C_ref))


def test_reverse_kernel_bad_t():
    with pytest.raises(ValueError, match="t"):
        reverse_kernel(np.eye(2), SCHEDULES[10], 0)
    with pytest.raises(ValueError, match="t"):
        reverse_kernel(np.eye(2), SCHEDULES[10], 11)


# --------------------------------------------------------------------------- eta chain
def _dense_chain(m, S, eta, sched, a, Q, variance):
    """Independent route: walk the T steps with dense reverse_kernel matrices."""
    d = len(m)
    mean, cov = np.array(a, float), np.array(Q, float)
    for t in range(sched.T, 0, -1):
        K, C = reverse_kernel(S, sched, t)
        V = {
            "exact": C,
            "beta": sched.beta[t] * np.eye(d),
            "beta_tilde": sched.beta_tilde[t] * np.eye(d),
        }[variance]
        mean = np.sqrt(sched.alpha_bar[t - 1]) * m + K @ (mean - np.sqrt(sched.alpha_bar[t]) * m)
        cov = K @ cov @ K.T + eta * V
    return mean, cov


@pytest.mark.parametrize("variance", ["exact", "beta", "beta_tilde"])
def test_eta_chain_moments_match_dense_recursion(rng, variance):
    d, sched = 3, SCHEDULES[10]
    S = random_spd(rng, d, cond=1e3, scale=0.3)
    m = rng.normal(size=d)
    a = rng.normal(size=d)
    Q = random_spd(rng, d)
    for eta in (0.0, 0.3, 1.0):
        mean, cov = eta_chain_moments(m, S, eta, sched, start=(a, Q), variance=variance)
        mean_ref, cov_ref = _dense_chain(m, S, eta, sched, a, Q, variance)
        assert _rel(mean, mean_ref) < 1e-10
        assert _rel(cov, cov_ref) < 1e-10


@given(seed=seeds, d=st.integers(1, 6), T=horizons, eta=st.floats(0.0, 1.0))
def test_theorem1_exact_start_ends_at_m_eta_S(seed, d, T, eta):
    rng = np.random.default_rng(seed)
    S = random_spd(rng, d, cond=1e3, scale=0.5)
    m = rng.normal(size=d)
    mean, cov = eta_chain_moments(m, S, eta, SCHEDULES[T], start="exact", variance="exact")
    assert np.max(np.abs(mean - m)) <= 1e-10 * (1 + np.max(np.abs(m)))
    assert np.max(np.abs(cov - eta * S)) <= 1e-10 * np.max(np.abs(S))
    # MSE of an end-point sample against an independent posterior sample: (1 + eta) tr S.
    mse = np.trace(S) + np.trace(cov) + np.sum((mean - m) ** 2)
    assert mse == pytest.approx((1 + eta) * np.trace(S), rel=1e-10)


@given(seed=seeds, d=st.integers(1, 5), T=horizons, eta=st.floats(0.0, 1.0))
def test_standard_start_closed_form(seed, d, T, eta):
    rng = np.random.default_rng(seed)
    sched = SCHEDULES[T]
    S = random_spd(rng, d, cond=1e3, scale=0.5)
    m = rng.normal(size=d)
    mean, cov = eta_chain_moments(m, S, eta, sched, start="standard", variance="exact")
    ab, omab = sched.alpha_bar[T], sched.one_minus_alpha_bar[T]
    Sig_T = ab * S + omab * np.eye(d)
    Si = np.linalg.inv(Sig_T)
    mean_ref = omab * Si @ m
    cov_ref = eta * omab * S @ Si + ab * S @ S @ Si @ Si
    assert np.max(np.abs(mean - mean_ref)) <= 1e-10 * (1 + np.max(np.abs(mean_ref)))
    assert np.max(np.abs(cov - cov_ref)) <= 1e-10 * np.max(np.abs(cov_ref))


def _scalar_chain_mse_ratio(lam, sched, variance):
    """Plain-Python float recursion for one eigendirection (independent of numpy vectorisation)."""
    var = lam * 1.0 * (sched.alpha_bar[sched.T] * lam + sched.one_minus_alpha_bar[sched.T])
    var /= lam  # exact start at eta = 1: var_T = Sigma_T
    for t in range(sched.T, 0, -1):
        s_prev = sched.alpha_bar[t - 1] * lam + sched.one_minus_alpha_bar[t - 1]
        s_t = sched.alpha_bar[t] * lam + sched.one_minus_alpha_bar[t]
        k = (sched.alpha[t]) ** 0.5 * s_prev / s_t
        v = {
            "exact": sched.beta[t] * s_prev / s_t,
            "beta": sched.beta[t],
            "beta_tilde": sched.beta_tilde[t],
        }[variance]
        var = k * k * var + v
    return 1 + var / lam


def test_beta_tilde_under_disperses_small_posterior_variance():
    """A direction of posterior variance 1e-3 (~ 10 beta_1): beta_tilde ends well below 2 MMSE."""
    sched = SCHEDULES[1000]
    lam = 1e-3
    ratios = {}
    for variance in ("exact", "beta", "beta_tilde"):
        _, cov = eta_chain_moments([0.0], [[lam]], 1.0, sched, start="exact", variance=variance)
        ratios[variance] = 1 + cov[0, 0] / lam
        assert ratios[variance] == pytest.approx(
            _scalar_chain_mse_ratio(lam, sched, variance), rel=1e-9
        )
    assert ratios["exact"] == pytest.approx(2.0, rel=1e-10)
    assert ratios["beta_tilde"] < 1.85  # the fact the project reports, not a tolerance
    assert ratios["beta"] > 2.0  # beta over-disperses
    # Far from beta_1 the rules agree with the exact one to within 1 %.
    for variance in ("beta", "beta_tilde"):
        _, cov = eta_chain_moments([0.0], [[1.0]], 1.0, sched, start="exact", variance=variance)
        assert abs(1 + cov[0, 0] - 2.0) < 0.02


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eta=1.5), "eta"),
        (dict(eta=-0.1), "eta"),
        (dict(eta=[0.1, 0.2]), "eta"),
        (dict(variance="ddim"), "variance"),
        (dict(start="zeros"), "start"),
        (dict(start=(np.zeros(3), np.eye(3))), "start"),
        (dict(S=-np.eye(2)), "S"),
        (dict(m=[np.inf, 0.0]), "m"),
    ],
)
def test_eta_chain_moments_bad_input(kwargs, match):
    args = dict(m=np.zeros(2), S=np.eye(2), eta=0.5, schedule=SCHEDULES[10])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        eta_chain_moments(**args)


# --------------------------------------------------------------------------- extreme inputs
def _rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e154, 1e250, 1e300])
def test_bures_and_kl_are_right_at_extreme_scales(scale):
    """Commuting covariances U diag(a) U^T, U diag(b) U^T: W2^2 = |dm|^2 + sum (sqrt a -
    sqrt b)^2 scales like `scale`, KL is scale-free. The products inside the square roots
    over- or underflow unless the inputs are rescaled (returned NaN, or 1.7x too large at
    1e-300, before)."""
    U = _rotation(0.7)
    a, b = np.array([1.0, 4.0]), np.array([9.0, 1.0])
    S1, S2 = scale * (U * a) @ U.T, scale * (U * b) @ U.T
    dm = np.sqrt(scale) * np.array([0.3, -0.4])
    w2sq_unit = 0.25 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = bures_w2(np.zeros(2), S1, dm, S2)
    assert got == pytest.approx(np.sqrt(scale * w2sq_unit), rel=1e-9)
    kl_unit = 0.5 * (np.sum(a / b) + np.sum((U.T @ [0.3, -0.4]) ** 2 / b) - 2 + np.log(b / a).sum())
    assert gaussian_kl(np.zeros(2), S1, dm, S2) == pytest.approx(kl_unit, rel=1e-9)


def test_bures_of_huge_means_is_finite():
    assert bures_w2([1e300], [[1.0]], [-1e300], [[1.0]]) == pytest.approx(2e300, rel=1e-12)
    with pytest.raises(ValueError, match="m1, S1, m2, S2"):
        bures_w2([1e300], [[1.0]], [-1e300], [[1.0]], squared=True)  # 4e600 overflows


@pytest.mark.parametrize("theta", np.linspace(0.1, 3.0, 12))
def test_bures_of_singular_covariances_is_finite(theta):
    """Rank-1 covariances along one rotated axis: W2 = |sqrt 2 - sqrt 0.5| exactly; POT's
    square root meets a negative rounding eigenvalue there (NaN before)."""
    U = _rotation(theta)
    S1, S2 = (U * [2.0, 0.0]) @ U.T, (U * [0.5, 0.0]) @ U.T
    want = np.sqrt(2.0) - np.sqrt(0.5)
    assert bures_w2(np.zeros(2), S1, np.zeros(2), S2) == pytest.approx(want, rel=1e-7)
    assert bures_w2(np.zeros(2), S1, np.zeros(2), S2, squared=True) == pytest.approx(
        want**2, rel=1e-7
    )


def test_kl_that_overflows_is_an_error_not_nan():
    """KL ~ 1e600: NaN before (an inf - inf inside the solve); now a ValueError."""
    S1 = 1e300 * np.array([[2.0, 1.0], [1.0, 2.0]])
    S2 = 1e-100 * np.array([[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ValueError, match="m1, S1, m2, S2"):
        gaussian_kl(1e300 * np.array([1.0, -1.0]), S1, np.zeros(2), S2)


C = np.complex128  # numpy complex: a float conversion drops the imaginary part with a warning


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: bures_w2(np.array([1j]), [[1.0]], [0.0], [[1.0]]), "m1"),
        (lambda: bures_w2([0.0], [[1.0]], [0.0], np.array([[1.0 + 0.5j]])), "S2"),
        (lambda: gaussian_kl([0.0], np.eye(1, dtype=complex), [0.0], [[1.0]]), "S1"),
        (lambda: linear_gaussian_posterior([0.0], [[1.0]], [[1.0]], C(0.5 + 1j), [0.0]), "sigma_y"),
        (lambda: linear_gaussian_posterior([0.0], [[1.0]], [[1.0]], 0.5, np.array([1j])), "y"),
        (lambda: eta_chain_moments([0.0], [[1.0]], C(0.5), SCHEDULES[10]), "eta"),
    ],
)
def test_complex_input_is_refused_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}: expected (a positive )?real"):
        call()
