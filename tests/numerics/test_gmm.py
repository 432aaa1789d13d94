"""numerics.gmm: mixture posteriors, diffused densities, scores and Tweedie moments against
brute-force grid integrals, finite differences, Monte Carlo and per-component references.

Grid tolerances. Every grid integrand here is a sum of Gaussian bumps (times a polynomial of
degree <= 2 for moments). On an infinite lattice of spacing h the rectangle rule has, by
Poisson summation, relative error about 2 exp(-2 pi^2 s^2 / h^2) per axis for a bump of
standard deviation s; the box is chosen so that the integrand at its boundary is checked to be
negligible. With s/h >= 2.5 the aliasing bound is < 1e-50, far below rounding, so the
tolerance is set by float64 summation over the grid (~1e-16 * sqrt(N) relative) and the
conditioning of the quantity (a covariance is a difference of second moments): 1e-10 relative
(measured: <= 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp

from numerics.gaussian import linear_gaussian_posterior
from numerics.gmm import GaussianMixture, conditional_score
from numerics.schedule import linear_schedule
from tests.strategies import operator_kinds, random_operator, random_spd, seeds, sigma_ys

# The 2-D, K = 2 mixture used by the grid tests (paper Section III-D style, parameters ours):
# means (-1, -1) and (1, 1), marginal variances 0.15-0.3, correlations +0.41 and -0.52.
W2 = np.array([0.4, 0.6])
M2 = np.array([[-1.0, -1.0], [1.0, 1.0]])
C2 = np.array([[[0.2, 0.1], [0.1, 0.3]], [[0.25, -0.1], [-0.1, 0.15]]])
OPERATORS = {
    "identity": np.eye(2),
    "random": np.array([[1.2, -0.7], [0.3, 0.9]]),
    "wide": np.array([[1.0, 0.5]]),
}
X_STAR = np.array([0.1, -0.2])  # the clean point behind y: both posterior weights non-trivial
SCHED = linear_schedule(1000)
GRID_RTOL = 1e-10


def _gm2():
    return GaussianMixture(W2, M2, C2)


def _random_mixture(rng, K, d, *, cond=1e2, spread=1.0):
    w = rng.dirichlet(np.ones(K))
    means = spread * rng.normal(size=(K, d))
    covs = np.stack([random_spd(rng, d, cond=cond, scale=rng.uniform(0.2, 1.0)) for _ in range(K)])
    return w, means, covs


def _aliasing(s_min, h):
    """Poisson-summation bound on the relative rectangle-rule error, per axis."""
    return 2.0 * np.exp(-2.0 * np.pi**2 * (s_min / h) ** 2)


def _log_components(x, weights, means, covs):
    """(n, K) log w_k + log N(x; mu_k, S_k) by scipy (independent of numerics.gmm)."""
    with np.errstate(divide="ignore"):
        return np.stack(
            [
                np.log(w) + ss.multivariate_normal(m, c).logpdf(x)
                for w, m, c in zip(weights, means, covs, strict=True)
            ],
            axis=-1,
        )


def _moments(f, X):
    """Normalised mean and covariance of grid weights f (N,) at points X (N, d)."""
    Z = f.sum()
    mean = f @ X / Z
    D = X - mean
    return mean, (D.T * f) @ D / Z


# --------------------------------------------------------------------------- posterior
def _grid_posterior(A, sigma_y, y, *, R=12.0, npts=401):
    """Brute-force posterior of the 2-D mixture on a grid aligned with the likelihood.

    x = c + L u with J = I + A^T A / sigma_y^2 = L^-T L^-1 and c = J^-1 A^T y / sigma_y^2
    (a ridge estimate), u on [-R, R]^2: every component posterior has covariance <= J^-1,
    i.e. standard deviations <= 1 in u.
    """
    J = np.eye(2) + A.T @ A / sigma_y**2
    jv, V = np.linalg.eigh(J)
    L = V / np.sqrt(jv)
    c = np.linalg.solve(J, A.T @ y / sigma_y**2)
    u = np.linspace(-R, R, npts)
    h = u[1] - u[0]
    U1, U2 = np.meshgrid(u, u, indexing="ij")
    Ugrid = np.stack([U1.ravel(), U2.ravel()], axis=1)
    X = c + Ugrid @ L.T
    loglik = -0.5 * np.sum((X @ A.T - y) ** 2, axis=1) / sigma_y**2
    logf = _log_components(X, W2, M2, C2) + loglik[:, None]  # (N, K)
    f = np.exp(logf - logf.max())
    on_edge = (np.abs(Ugrid) >= R - 1e-9).any(axis=1)
    # Smallest sd of a component posterior in u: 1/sqrt(max eig of L^T P_k L).
    s_min = min(
        1.0 / np.sqrt(np.linalg.eigvalsh(L.T @ (np.linalg.inv(S) + A.T @ A / sigma_y**2) @ L)[-1])
        for S in C2
    )
    return dict(X=X, f=f, edge=f[on_edge].max() / f.max(), alias=_aliasing(s_min, h))


@pytest.mark.parametrize("op", list(OPERATORS))
@pytest.mark.parametrize("sigma_y", [1e-2, 0.1, 0.5])
def test_posterior_matches_grid_integration(op, sigma_y):
    A = OPERATORS[op]
    y = A @ X_STAR
    post = _gm2().posterior(A, sigma_y, y)
    g = _grid_posterior(A, sigma_y, y)
    assert g["edge"] < 1e-20 and g["alias"] < 1e-20  # box and spacing are not the error
    X, f = g["X"], g["f"]
    Zk = f.sum(axis=0)
    np.testing.assert_allclose(post.weights, Zk / Zk.sum(), rtol=0, atol=GRID_RTOL)
    assert 1e-4 < post.weights.min()  # both components matter: the weights are tested
    for k in range(2):
        mk, Ck = _moments(f[:, k], X)
        scale = np.sqrt(np.linalg.eigvalsh(Ck)[-1])
        np.testing.assert_allclose(post.means[k], mk, rtol=0, atol=GRID_RTOL * scale)
        np.testing.assert_allclose(post.covs[k], Ck, rtol=0, atol=GRID_RTOL * scale**2)
    m, C = _moments(f.sum(axis=1), X)
    scale = np.sqrt(np.linalg.eigvalsh(C)[-1])
    np.testing.assert_allclose(post.mean(), m, rtol=0, atol=GRID_RTOL * scale)
    np.testing.assert_allclose(post.cov(), C, rtol=0, atol=GRID_RTOL * scale**2)
    np.testing.assert_allclose(post.mmse(), np.trace(C), rtol=GRID_RTOL)


def test_single_component_posterior_is_linear_gaussian(rng):
    """K = 1: weight exactly 1 and the joint Gaussian of (x, y) conditioned on y, computed
    here with a dense LU solve (numerics uses Cholesky factors)."""
    d = 5
    mu, S = rng.normal(size=d), random_spd(rng, d, cond=1e2)
    A = random_operator(rng, d, "wide")
    y = rng.normal(size=A.shape[0])
    post = GaussianMixture([1.0], mu[None], S[None]).posterior(A, 0.1, y)
    G = A @ S @ A.T + 0.1**2 * np.eye(A.shape[0])
    sol = np.linalg.solve(G, np.column_stack([y - A @ mu, A @ S]))
    m, P = mu + S @ A.T @ sol[:, 0], S - S @ A.T @ sol[:, 1:]
    assert post.K == 1 and post.weights[0] == 1.0
    np.testing.assert_allclose(post.means[0], m, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(post.covs[0], P, rtol=1e-13, atol=1e-13)


@given(
    seed=seeds,
    d=st.integers(1, 4),
    K=st.integers(1, 3),
    kind=operator_kinds,
    sigma_y=sigma_ys,
)
def test_posterior_property_information_route(seed, d, K, kind, sigma_y):
    """Components against the information form; weights against the Bayes identity
    p(y | k) = N(x; mu_k, S_k) N(y; A x, sigma_y^2 I) / N(x; m_k, C_k) at x = m_k, which
    never forms A S_k A^T + sigma_y^2 I."""
    rng = np.random.default_rng(seed)
    w, means, covs = _random_mixture(rng, K, d, cond=1e3)
    A = random_operator(rng, d, kind)
    y = A @ (means[0] + rng.normal(size=d)) + sigma_y * rng.normal(size=A.shape[0])
    post = GaussianMixture(w, means, covs).posterior(A, sigma_y, y)
    log_ev = np.empty(K)
    for k in range(K):
        m, C = linear_gaussian_posterior(means[k], covs[k], A, sigma_y, y, form="information")
        scale = np.sqrt(np.linalg.eigvalsh(C)[-1])
        np.testing.assert_allclose(post.means[k], m, rtol=0, atol=1e-8 * scale)
        np.testing.assert_allclose(post.covs[k], C, rtol=0, atol=1e-8 * scale**2)
        log_ev[k] = (
            ss.multivariate_normal(means[k], covs[k]).logpdf(m)
            + ss.norm(A @ m, sigma_y).logpdf(y).sum()
            - ss.multivariate_normal(m, C).logpdf(m)
        )
    lw = np.log(w) + log_ev
    np.testing.assert_allclose(post.weights, np.exp(lw - logsumexp(lw)), rtol=0, atol=1e-10)
    assert np.all(post.weights >= 0) and abs(post.weights.sum() - 1) < 1e-12


def test_posterior_far_component_gets_zero_weight():
    """A component 50 sd away from y: its evidence underflows; weight 0, no NaN."""
    gm = GaussianMixture([0.5, 0.5], [[0.0, 0.0], [50.0, 0.0]], [np.eye(2), np.eye(2)])
    post = gm.posterior(np.eye(2), 1e-3, np.zeros(2))
    assert np.all(np.isfinite(post.weights)) and np.all(np.isfinite(post.means))
    assert post.weights[1] < 1e-300 and post.weights[0] == 1.0
    # Near the first component the far one has responsibility exp(-1250) = 0: an N(0, I) score.
    np.testing.assert_allclose(gm.score([[0.5, -0.3]]), [[-0.5, 0.3]], rtol=1e-15)
    # Everything downstream stays finite too, also at t > 0 and far from all components.
    x = np.array([[0.0, 0.0], [1e4, -1e4]])
    for t in [0, 1, 1000]:
        assert np.all(np.isfinite(post.score(x, t, SCHED)))
        assert np.all(np.isfinite(post.hessian(x, t, SCHED)))
        np.testing.assert_allclose(post.responsibilities(x, t, SCHED).sum(axis=1), 1.0)
    assert np.all(np.isfinite(post.tweedie_cov(x, 1, SCHED)))


def test_zero_weight_component_is_inert(rng):
    w, means, covs = _random_mixture(rng, 2, 3)
    gm0 = GaussianMixture([1.0, 0.0], means, covs)
    gm1 = GaussianMixture([1.0], means[:1], covs[:1])
    x = rng.normal(size=(4, 3))
    for t in [0, 7, 1000]:
        np.testing.assert_allclose(gm0.score(x, t, SCHED), gm1.score(x, t, SCHED), rtol=1e-14)
        np.testing.assert_allclose(gm0.logpdf(x, t, SCHED), gm1.logpdf(x, t, SCHED), rtol=1e-14)
    post = gm0.posterior(np.eye(3), 0.3, x[0])
    assert post.weights[1] == 0.0
    # A zero-weight component is never drawn: same draws as the one-component mixture.
    for k, wk in [(0, [1.0, 0.0]), (1, [0.0, 1.0])]:
        got = GaussianMixture(wk, means, covs).sample(500, np.random.default_rng(k))
        ref = GaussianMixture([1.0], means[k : k + 1], covs[k : k + 1])
        np.testing.assert_array_equal(got, ref.sample(500, np.random.default_rng(k)))


# ----------------------------------------------------------- derivatives by differences
def _fd(fun, x, h):
    """Fourth-order central differences of fun: (n, d) -> (n, ...) along each coordinate.

    Error <= h^4 max|f^(5)| / 30 + 3 eps max|f| / h; with h = 1e-3 and derivatives of the
    test mixtures bounded by ~1e3 (smallest component sd >= 0.2) both terms are <= 1e-9.
    """
    out = []
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        out.append((-fun(x + 2 * e) + 8 * fun(x + e) - 8 * fun(x - e) + fun(x - 2 * e)) / (12 * h))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("t", [0, 1, 10, 200, 999, 1000])
def test_score_and_hessian_match_finite_differences(rng, t):
    gm = GaussianMixture(*_random_mixture(rng, 3, 3, cond=10.0))
    x = gm.diffused(SCHED, t).sample(6, rng)
    s = gm.score(x, t, SCHED)
    H = gm.hessian(x, t, SCHED)
    fd_s = _fd(lambda z: gm.logpdf(z, t, SCHED), x, 1e-3)
    fd_H = _fd(lambda z: gm.score(z, t, SCHED), x, 1e-3)
    np.testing.assert_allclose(s, fd_s, rtol=0, atol=1e-9 * max(1.0, np.abs(s).max()))
    np.testing.assert_allclose(H, fd_H, rtol=0, atol=1e-9 * max(1.0, np.abs(H).max()))
    np.testing.assert_allclose(H, np.swapaxes(H, 1, 2), rtol=0, atol=0)


def test_schedule_none_means_t0(rng):
    gm = GaussianMixture(*_random_mixture(rng, 2, 2))
    x = rng.normal(size=(3, 2))
    np.testing.assert_array_equal(gm.score(x), gm.score(x, 0, SCHED))
    np.testing.assert_array_equal(gm.hessian(x), gm.hessian(x, 0, SCHED))
    np.testing.assert_array_equal(gm.logpdf(x), gm.logpdf(x, 0, SCHED))
    np.testing.assert_array_equal(gm.score(x, np.int64(5), SCHED), gm.score(x, 5, SCHED))


# ------------------------------------------------- diffusion by grid convolution / Bayes
def _grid_diffusion(x, t, *, A=None, sigma_y=None, y=None, box=8.0):
    """Brute-force p_t(x), grad log p_t(x), E[x0|x_t], Cov[x0|x_t] of the 2-D mixture.

    p_t(x) = sum_grid p_0(x0) N(x; sqrt(ab) x0, (1 - ab) I) h^2, optionally times the
    likelihood N(y; A x0, sigma_y^2 I) (then everything is conditional on y, unnormalised).
    """
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    kernel_sd = np.sqrt(omab / ab)  # sd of the kernel in x0 space
    lam_min = min(np.linalg.eigvalsh(S)[0] for S in C2)
    s_min = 1.0 / np.sqrt(1.0 / lam_min + 1.0 / kernel_sd**2)  # sd of prior x kernel
    h = s_min / 2.5
    g = np.arange(-box, box + h / 2, h)
    G1, G2 = np.meshgrid(g, g, indexing="ij")
    X0 = np.stack([G1.ravel(), G2.ravel()], axis=1)
    logp0 = logsumexp(_log_components(X0, W2, M2, C2), axis=1)
    if A is not None:
        logp0 = logp0 - 0.5 * np.sum((X0 @ A.T - y) ** 2, axis=1) / sigma_y**2
    edge = (np.abs(X0) >= g[-1] - 1e-9).any(axis=1)
    assert np.exp(logp0[edge].max() - logp0.max()) < 1e-20  # the box holds the mass
    assert _aliasing(s_min, h) < 1e-50
    out = []
    for xi in x:
        logk = -0.5 * np.sum((xi - np.sqrt(ab) * X0) ** 2, axis=1) / omab - np.log(2 * np.pi * omab)
        lf = logp0 + logk
        c = lf.max()
        f = np.exp(lf - c)
        logpt = c + np.log(f.sum() * h**2)
        score = f @ (-(xi - np.sqrt(ab) * X0) / omab) / f.sum()
        mean, cov = _moments(f, X0)
        out.append((logpt, score, mean, cov))
    return [np.array(v) for v in zip(*out, strict=True)]


X_TEST = np.array([[0.0, 0.0], [-1.0, -0.8], [1.3, 0.6], [0.5, -1.5], [2.5, 2.5]])


@pytest.mark.parametrize("t", [20, 200, 1000])
def test_diffused_density_score_and_tweedie_match_grid(t):
    gm = _gm2()
    x = np.sqrt(SCHED.alpha_bar[t]) * X_TEST + 0.1 * np.sqrt(SCHED.one_minus_alpha_bar[t])
    logpt, score, mean, cov = _grid_diffusion(x, t)
    gt = gm.diffused(SCHED, t)
    np.testing.assert_allclose(gt.logpdf(x), logpt, rtol=0, atol=GRID_RTOL)
    np.testing.assert_allclose(gm.logpdf(x, t, SCHED), logpt, rtol=0, atol=GRID_RTOL)
    sscale = np.abs(score).max()
    np.testing.assert_allclose(gm.score(x, t, SCHED), score, rtol=0, atol=GRID_RTOL * sscale)
    np.testing.assert_allclose(gt.score(x), score, rtol=0, atol=GRID_RTOL * sscale)
    mscale = np.sqrt(np.linalg.eigvalsh(cov)[:, -1])[:, None]
    np.testing.assert_allclose(
        gm.tweedie_mean(x, t, SCHED), mean, rtol=0, atol=GRID_RTOL * np.max(mscale)
    )
    np.testing.assert_allclose(
        gm.tweedie_cov(x, t, SCHED), cov, rtol=0, atol=GRID_RTOL * np.max(mscale) ** 2
    )


@pytest.mark.parametrize("t", [0, 30, 1000])
def test_conditional_score_matches_grid(t):
    """grad log p_t(x | y) by Bayes on the grid (prior x likelihood x kernel)."""
    A, sigma_y = OPERATORS["wide"], 0.3
    y = A @ X_STAR
    post = _gm2().posterior(A, sigma_y, y)
    x = np.sqrt(SCHED.alpha_bar[t]) * X_TEST[:3]
    if t == 0:  # no kernel: grad log p_0(x) by differences of scipy's density, + likelihood
        ref = _fd(lambda z: logsumexp(_log_components(z, W2, M2, C2), axis=1), x, 1e-3)
        ref = ref - (x @ A.T - y) @ A / sigma_y**2
    else:
        _, ref, _, _ = _grid_diffusion(x, t, A=A, sigma_y=sigma_y, y=y)
    got = conditional_score(_gm2(), A, sigma_y, y, x, t, SCHED)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(post.score(x, t, SCHED), ref, rtol=0, atol=1e-9 * np.abs(ref).max())


# ------------------------------------------------------------- Tweedie identities
@given(seed=seeds, d=st.integers(1, 5), K=st.integers(1, 4), t=st.integers(1, 1000))
def test_tweedie_equals_score_and_hessian_forms(seed, d, K, t):
    """tweedie_mean/cov (per-component route) equal the score/Hessian (Tweedie) forms and a
    direct per-component computation with dense solves."""
    rng = np.random.default_rng(seed)
    w, means, covs = _random_mixture(rng, K, d, cond=1e2, spread=2.0)
    gm = GaussianMixture(w, means, covs)
    x = gm.diffused(SCHED, t).sample(4, rng)
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    m = gm.tweedie_mean(x, t, SCHED)
    C = gm.tweedie_cov(x, t, SCHED)
    # Tweedie forms. They divide by sqrt(ab) (>= 6e-3) and ab, amplifying the rounding
    # error of score and Hessian: tolerances carry those factors (measured use: <= 1 %).
    m_tw = (x + omab * gm.score(x, t, SCHED)) / np.sqrt(ab)
    C_tw = omab / ab * (np.eye(d) + omab * gm.hessian(x, t, SCHED))
    np.testing.assert_allclose(m, m_tw, rtol=0, atol=1e-13 * (1 + np.abs(x).max()) / np.sqrt(ab))
    np.testing.assert_allclose(C, C_tw, rtol=0, atol=1e-12 / ab)
    # Per-component route with dense solves, responsibilities from scipy.
    lr = _log_components(x, w, np.sqrt(ab) * means, ab * covs + omab * np.eye(d))
    r = np.exp(lr - logsumexp(lr, axis=1, keepdims=True))
    mk = np.stack(
        [
            means[k]
            + np.sqrt(ab)
            * (
                covs[k]
                @ np.linalg.solve(ab * covs[k] + omab * np.eye(d), (x - np.sqrt(ab) * means[k]).T)
            ).T
            for k in range(K)
        ],
        axis=1,
    )
    np.testing.assert_allclose(m, np.einsum("nk,nki->ni", r, mk), rtol=0, atol=1e-11)
    np.testing.assert_allclose(gm.responsibilities(x, t, SCHED), r, rtol=0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(C) > -1e-12)


# ------------------------------------------------------------------ moments, samples
def test_mean_cov_mmse_match_samples(rng):
    n = 200_000
    gm = GaussianMixture(*_random_mixture(rng, 3, 3, spread=1.5))
    x = gm.sample(n, rng)
    assert x.shape == (n, 3)
    # Monte-Carlo sd of the sample mean and of each sample second moment, from the samples.
    xm = x.mean(axis=0)
    sd_mean = x.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(gm.mean() - xm), 4.5 * sd_mean)
    D = x - gm.mean()  # centre at the true mean: unbiased second moments
    prods = D[:, :, None] * D[:, None, :]
    sd_cov = prods.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(gm.cov() - prods.mean(axis=0)), 4.5 * sd_cov)
    # mmse = tr cov = sum_k w_k (tr S_k + |mu_k|^2) - |mean|^2 (moments about 0).
    w, mu, S = gm.weights, gm.means, gm.covs
    second = w @ (np.trace(S, axis1=1, axis2=2) + np.sum(mu**2, axis=1))
    np.testing.assert_allclose(gm.mmse(), second - np.sum((w @ mu) ** 2), rtol=1e-12)
    np.testing.assert_allclose(gm.mmse(), np.trace(gm.cov()), rtol=1e-13)


def test_sample_is_reproducible_and_diffused_samples_have_diffused_moments(rng):
    gm = _gm2()
    a = gm.sample(5, np.random.default_rng(1))
    b = gm.sample(5, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert gm.sample(0, rng).shape == (0, 2)
    # diffused() against the forward process applied to samples: x_t = sqrt(ab) x0 + ...
    n, t = 200_000, 300
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    xt = np.sqrt(ab) * gm.sample(n, rng) + np.sqrt(omab) * rng.normal(size=(n, 2))
    gt = gm.diffused(SCHED, t)
    D = xt - gt.mean()
    np.testing.assert_array_less(np.abs(D.mean(axis=0)), 4.5 * xt.std(axis=0) / np.sqrt(n))
    prods = D[:, :, None] * D[:, None, :]
    np.testing.assert_array_less(
        np.abs(gt.cov() - prods.mean(axis=0)), 4.5 * prods.std(axis=0) / np.sqrt(n)
    )


def test_mean_cov_match_grid():
    g = np.arange(-7.0, 7.0, 0.05)  # s_min = sqrt(0.0875)/0.05 ~ 5.9: no aliasing
    G1, G2 = np.meshgrid(g, g, indexing="ij")
    X = np.stack([G1.ravel(), G2.ravel()], axis=1)
    f = np.exp(logsumexp(_log_components(X, W2, M2, C2), axis=1))
    m, C = _moments(f, X)
    gm = _gm2()
    np.testing.assert_allclose(gm.mean(), m, rtol=0, atol=GRID_RTOL)
    np.testing.assert_allclose(gm.cov(), C, rtol=0, atol=GRID_RTOL)
    np.testing.assert_allclose(f.sum() * 0.05**2, 1.0, rtol=GRID_RTOL)  # logpdf's density


# ------------------------------------------------------------------ high dimension
def _dense_reference(gm, x):
    """Per-component logpdf by scipy, score by dense solves."""
    lc = _log_components(x, gm.weights, gm.means, gm.covs)
    lp = logsumexp(lc, axis=1)
    r = np.exp(lc - lp[:, None])
    g = np.stack([-np.linalg.solve(gm.covs[k], (x - gm.means[k]).T).T for k in range(gm.K)], axis=1)
    return lp, np.einsum("nk,nki->ni", r, g), r


def _high_dim(rng, d, K=4):
    w, means, covs = _random_mixture(rng, K, d, cond=1e2, spread=3.0)
    return GaussianMixture(w, means, covs)


def _boundary_point(gm, i, j):
    """A point on the segment mu_i -> mu_j where components i and j are equally responsible
    (bisection on scipy's log-densities). With the means ~70 apart, log p there is ~ -2e4:
    exp(log p) underflows, and the responsibilities are ~1/2 only if normalised in log space."""
    comps = [ss.multivariate_normal(gm.means[k], gm.covs[k]) for k in (i, j)]
    logw = np.log(gm.weights[[i, j]])

    def gap(a):
        x = (1 - a) * gm.means[i] + a * gm.means[j]
        return logw[0] + comps[0].logpdf(x) - logw[1] - comps[1].logpdf(x)

    lo, hi = 0.0, 1.0
    assert gap(lo) > 0 > gap(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) > 0 else (lo, mid)
    return (1 - lo) * gm.means[i] + lo * gm.means[j]


def _check_high_dim(gm, rng):
    d = gm.d
    x = np.concatenate(
        [gm.sample(3, rng), [_boundary_point(gm, 0, 1)], [_boundary_point(gm, 2, 3)]]
    )
    lp, s, r = _dense_reference(gm, x)
    assert np.all(np.isfinite(lp)) and lp[3:].max() < -745  # exp(lp) underflows to 0
    assert np.all(r[3, :2] > 0.4) and np.all(r[4, 2:] > 0.4)  # the boundary points are
    np.testing.assert_allclose(gm.logpdf(x), lp, rtol=1e-12)
    # log-densities ~ 3e4 carry absolute rounding ~ 3e4 * 1e-15 = 3e-11 into log r and r.
    np.testing.assert_allclose(gm.responsibilities(x), r, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gm.score(x), s, rtol=0, atol=1e-9 * np.abs(s).max())
    for t in [1, 500, 1000]:
        xt = np.sqrt(SCHED.alpha_bar[t]) * x
        for out in (gm.score(xt, t, SCHED), gm.tweedie_mean(xt, t, SCHED)):
            assert out.shape == (5, d) and np.all(np.isfinite(out))
        for out in (gm.hessian(xt, t, SCHED), gm.tweedie_cov(xt, t, SCHED)):
            assert out.shape == (5, d, d) and np.all(np.isfinite(out))


def test_high_dimension_d256(rng):
    _check_high_dim(_high_dim(rng, 256), rng)


@pytest.mark.slow
def test_high_dimension_d1024(rng):
    _check_high_dim(_high_dim(rng, 1024), rng)


# ------------------------------------------------------------------ bad inputs
def _bad_inputs():
    gm = _gm2()
    ok_x = np.zeros((2, 2))
    S = C2
    return [
        ("weights", lambda: GaussianMixture([0.5, 0.6], M2, S)),
        ("weights", lambda: GaussianMixture([1.5, -0.5], M2, S)),
        ("weights", lambda: GaussianMixture([np.nan, 1.0], M2, S)),
        ("weights", lambda: GaussianMixture([[0.5, 0.5]], M2, S)),
        ("weights", lambda: GaussianMixture([], M2[:0], S[:0])),
        ("means", lambda: GaussianMixture(W2, M2[:1], S)),
        ("means", lambda: GaussianMixture(W2, [[0.0, np.inf], [1.0, 1.0]], S)),
        ("means", lambda: GaussianMixture(W2, M2[0], S)),
        ("covs", lambda: GaussianMixture(W2, M2, S[:, :1, :1])),
        ("covs", lambda: GaussianMixture(W2, M2, S[0])),
        ("covs", lambda: GaussianMixture(W2, M2, S * np.nan)),
        (r"covs\[1\]", lambda: GaussianMixture(W2, M2, [S[0], [[1.0, 0.5], [0.4, 1.0]]])),
        (r"covs\[0\]", lambda: GaussianMixture(W2, M2, [[[1.0, 2.0], [2.0, 1.0]], S[1]])),
        ("A", lambda: gm.posterior(np.eye(3), 0.1, np.zeros(3))),
        ("A", lambda: gm.posterior(np.ones(2), 0.1, np.zeros(1))),
        ("A", lambda: gm.posterior([[np.nan, 0.0]], 0.1, np.zeros(1))),
        ("sigma_y", lambda: gm.posterior(np.eye(2), 0.0, np.zeros(2))),
        ("sigma_y", lambda: gm.posterior(np.eye(2), -1.0, np.zeros(2))),
        ("sigma_y", lambda: gm.posterior(np.eye(2), np.inf, np.zeros(2))),
        ("y", lambda: gm.posterior(np.eye(2), 0.1, np.zeros(3))),
        ("y", lambda: gm.posterior(np.eye(2), 0.1, [0.0, np.nan])),
        ("x", lambda: gm.score(np.zeros(2))),
        ("x", lambda: gm.logpdf(np.zeros((2, 3)))),
        ("x", lambda: gm.hessian([[np.nan, 0.0]])),
        ("x", lambda: gm.tweedie_mean(np.zeros((1, 3)), 5, SCHED)),
        ("t", lambda: gm.score(ok_x, 1001, SCHED)),
        ("t", lambda: gm.score(ok_x, -1, SCHED)),
        ("t", lambda: gm.score(ok_x, 2.0, SCHED)),
        ("t", lambda: gm.score(ok_x, True, SCHED)),
        ("t", lambda: gm.score(ok_x, 3)),  # t > 0 needs a schedule
        ("t", lambda: gm.tweedie_mean(ok_x, 0, SCHED)),
        ("t", lambda: gm.tweedie_cov(ok_x, 0, SCHED)),
        ("t", lambda: gm.diffused(SCHED, 1001)),
        ("schedule", lambda: gm.diffused(None, 0)),
        ("schedule", lambda: gm.tweedie_mean(ok_x, 1, None)),
        ("schedule", lambda: gm.responsibilities(ok_x, 1, "linear")),
        ("n", lambda: gm.sample(-1, np.random.default_rng(0))),
        ("n", lambda: gm.sample(2.5, np.random.default_rng(0))),
        ("rng", lambda: gm.sample(3, 0)),
        ("rng", lambda: gm.sample(3, np.random.RandomState(0))),
        ("prior", lambda: conditional_score(None, np.eye(2), 0.1, np.zeros(2), ok_x, 0, None)),
    ]


@pytest.mark.parametrize("case", range(len(_bad_inputs())))
def test_bad_input_raises_value_error_naming_argument(case):
    name, call = _bad_inputs()[case]
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


def test_arrays_read_only_and_eig_cached(rng):
    gm = _gm2()
    for a in (gm.weights, gm.means, gm.covs, *gm.eig):
        with pytest.raises(ValueError):
            a.flat[0] = 1.0
    assert gm.eig is gm.eig
    lam, U = gm.eig
    np.testing.assert_allclose(np.matmul(U * lam[:, None, :], np.swapaxes(U, 1, 2)), C2, atol=1e-15)
    # diffused() reuses the eigenvectors and shifts the eigenvalues.
    gt = gm.diffused(SCHED, 100)
    lam_t, U_t = gt.eig
    assert U_t is U
    np.testing.assert_allclose(
        lam_t, SCHED.alpha_bar[100] * lam + SCHED.one_minus_alpha_bar[100], rtol=1e-15
    )
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(gt.covs), axis=1), lam_t, rtol=1e-13)
    assert gm.diffused(SCHED, 0).logpdf(X_TEST).tolist() == gm.logpdf(X_TEST).tolist()
