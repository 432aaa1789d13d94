"""The MCGDiff mixture problem family: the generator's recipe and the exact posterior against
independent routes (scipy densities, grid quadrature)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from numerics.mcgdiff import GRID_SPACING, mcgdiff_means, mcgdiff_problem


def test_means_are_the_repeated_grid():
    m = mcgdiff_means(6)
    assert m.shape == (25, 6)
    pairs = {(a, b) for a in range(-2, 3) for b in range(-2, 3)}
    assert {(r[0] / GRID_SPACING, r[1] / GRID_SPACING) for r in m} == pairs
    np.testing.assert_array_equal(m[:, 2:4], m[:, :2])
    np.testing.assert_array_equal(m[:, 4:6], m[:, :2])


@pytest.mark.parametrize("d, d_y", [(8, 1), (8, 4), (20, 3)])
def test_generator_recipe(d, d_y):
    p = mcgdiff_problem(d, d_y, np.random.default_rng(3))
    assert p.A.shape == (d_y, d) and p.y.shape == (d_y,) and p.x_true.shape == (d,)
    assert (p.d, p.d_y) == (d, d_y)
    s = p.singular_values
    assert np.all(np.diff(s) <= 0) and np.all((s > 0) & (s < 1))
    # A's singular values are exactly the sorted uniforms
    np.testing.assert_allclose(np.linalg.svd(p.A, compute_uv=False), s, rtol=1e-12)
    assert 0 < p.sigma_y <= s.max()
    np.testing.assert_allclose(p.prior.covs, np.broadcast_to(np.eye(d), (25, d, d)))
    np.testing.assert_allclose(p.prior.weights.sum(), 1.0)
    np.testing.assert_array_equal(p.prior.means, mcgdiff_means(d))


def test_weights_are_squared_normals_in_draw_order():
    rng = np.random.default_rng(11)
    p = mcgdiff_problem(4, 1, np.random.default_rng(11))
    eps = rng.standard_normal(25)
    np.testing.assert_allclose(p.prior.weights, eps**2 / np.sum(eps**2), rtol=1e-14)


def test_seeding():
    a = mcgdiff_problem(8, 2, np.random.default_rng(5))
    b = mcgdiff_problem(8, 2, np.random.default_rng(5))
    c = mcgdiff_problem(8, 2, np.random.default_rng(6))
    np.testing.assert_array_equal(a.A, b.A)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.sigma_y == b.sigma_y
    assert not np.array_equal(a.A, c.A)


@pytest.mark.parametrize(
    "bad", [dict(d=3, d_y=1), dict(d=4, d_y=5), dict(d=0, d_y=1), dict(d=4, d_y=True)]
)
def test_bad_dimensions_are_refused(bad):
    with pytest.raises(ValueError, match="d"):
        mcgdiff_problem(rng=np.random.default_rng(0), **bad)


def _log_unnormalised_posterior(p, X):
    """log prior + log likelihood at X (n, d), with scipy's densities (independent route)."""
    lp = logsumexp(
        [
            np.log(w) + multivariate_normal(mu, np.eye(p.d)).logpdf(X)
            for w, mu in zip(p.prior.weights, p.prior.means, strict=True)
        ],
        axis=0,
    )
    ll = multivariate_normal(p.y, p.sigma_y**2 * np.eye(p.d_y)).logpdf(X @ p.A.T)
    return lp + ll


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_posterior_density_matches_bayes_rule(seed):
    """log p(x|y) - log p(x) - log p(y|x) is the same constant at every x (= -log p(y))."""
    p = mcgdiff_problem(6, 2, np.random.default_rng(seed))
    X = np.concatenate(
        [
            p.sample_posterior(20, np.random.default_rng(0)),
            np.random.default_rng(1).normal(size=(5, 6)) * 10,
        ]
    )
    diff = p.posterior.logpdf(X) - _log_unnormalised_posterior(p, X)
    assert np.ptp(diff) < 1e-8 * max(1.0, np.abs(diff).max())


def test_posterior_moments_by_grid_quadrature():
    """Mean and MMSE in d = 2 from Bayes' rule on a 2-D grid (independent route)."""
    for seed in range(3):
        p = mcgdiff_problem(2, 1, np.random.default_rng(seed))
        # a Riemann sum of a Gaussian of sd >= 2h is exact to ~exp(-2 pi^2 (sd/h)^2) ~ 1e-34
        h = min(0.2, 0.5 * np.sqrt(np.linalg.eigvalsh(p.posterior.covs[0])[0]))
        g = np.arange(-30.0, 30.0 + h, h)
        X = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
        # the 2-D densities written out (identity prior covariances), no scipy at 1.4 M points
        mu = p.prior.means
        d2 = (X * X).sum(1)[:, None] - 2.0 * X @ mu.T + (mu * mu).sum(1)[None]  # (n, 25)
        lw = logsumexp(np.log(p.prior.weights) - 0.5 * d2, axis=1)
        lw = lw - 0.5 * ((X @ p.A.T - p.y) ** 2).sum(1) / p.sigma_y**2
        w = np.exp(lw - lw.max())
        w /= w.sum()
        mean = w @ X
        mmse = float(w @ np.sum((X - mean) ** 2, axis=1))
        np.testing.assert_allclose(p.posterior_mean(), mean, atol=1e-6)
        np.testing.assert_allclose(p.mmse(), mmse, rtol=1e-6)


def test_exact_samples_have_the_posterior_mean():
    """Sample mean of n = 4000 exact draws within 5 standard errors (per coordinate)."""
    p = mcgdiff_problem(8, 2, np.random.default_rng(4))
    n = 4000
    X = p.sample_posterior(n, np.random.default_rng(9))
    assert X.shape == (n, 8)
    se = np.sqrt(np.diag(p.posterior.cov()) / n)
    assert np.all(np.abs(X.mean(0) - p.posterior_mean()) < 5 * se)


def test_shared_decomposition_is_the_posterior_of_gmm_posterior():
    """The posterior built around one eigendecomposition is GaussianMixture.posterior's mixture."""
    p = mcgdiff_problem(6, 2, np.random.default_rng(8))
    ref = p.prior.posterior(p.A, p.sigma_y, p.y)
    post = p.posterior
    np.testing.assert_array_equal(post.weights, ref.weights)
    np.testing.assert_array_equal(post.means, ref.means)
    np.testing.assert_array_equal(post.covs, ref.covs)
    lam, U = post.eig
    for k in (0, 24):
        np.testing.assert_allclose((U[k] * lam[k]) @ U[k].T, ref.covs[k], atol=1e-13)
    assert lam.min() > 0
