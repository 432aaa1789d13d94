"""Formulas the restoration driver uses, at their one home in numerics: the pruned GMM
posterior, the variance of the squared error, sliced W2 along orthonormal bases, the
rank-safe Fréchet distance and PSNR."""

from __future__ import annotations

import numpy as np
import pytest

from numerics.gmm import pruned_posterior, squared_error_variance
from numerics.metrics import frechet_distance, orthonormal_directions, psnr, sliced_w2


def test_pruned_posterior_equals_the_per_component_posterior(rng):
    from numerics.gmm import GaussianMixture
    from tests.strategies import random_spd

    K, d = 4, 16
    gm = GaussianMixture(
        rng.dirichlet(np.ones(K)),
        rng.normal(size=(K, d)),
        np.stack([random_spd(rng, d, cond=1e3, scale=0.3) for _ in range(K)]),
    )
    A = np.kron(np.eye(4), np.full((1, 4), 0.25))  # (4, 16): means of 4 consecutive pixels
    y = A @ gm.sample(1, rng)[0] + 0.05 * rng.normal(size=A.shape[0])
    ref = gm.posterior(A, 0.05, y)
    got, dropped = pruned_posterior(gm, A, 0.05, y, floor=0.0)
    assert dropped == 0.0
    np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(got.means, ref.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.covs, ref.covs, rtol=1e-10, atol=1e-12)
    # Pruning drops the light components, reports their mass and renormalises the rest.
    keep = ref.weights >= 0.2
    pruned, dropped = pruned_posterior(gm, A, 0.05, y, floor=0.2)
    assert pruned.K == keep.sum()
    assert dropped == pytest.approx(ref.weights[~keep].sum(), abs=1e-12)
    np.testing.assert_allclose(pruned.weights, ref.weights[keep] / ref.weights[keep].sum())


def test_q_variance_is_the_law_of_total_variance(rng):
    """Var ||x - m||^2 for a mixture: E_k Var_k + Var_k E_k with Gaussian moments per k."""
    from numerics.gmm import GaussianMixture
    from tests.strategies import random_spd

    K, d = 3, 5
    gm = GaussianMixture(
        rng.dirichlet(np.ones(K)),
        rng.normal(size=(K, d)),
        np.stack([random_spd(rng, d, scale=0.5) for _ in range(K)]),
    )
    m = gm.mean()
    w, a, C = gm.weights, gm.means - m, gm.covs
    mean_k = np.array([np.trace(C[k]) + a[k] @ a[k] for k in range(K)])
    var_k = np.array([2 * np.trace(C[k] @ C[k]) + 4 * a[k] @ C[k] @ a[k] for k in range(K)])
    ref = w @ var_k + w @ (mean_k - w @ mean_k) ** 2
    assert squared_error_variance(gm, m) == pytest.approx(ref, rel=1e-12)


def test_sliced_perception_translation_and_shrinkage(rng):
    d = 6
    th = orthonormal_directions(d, 2, 0)
    np.testing.assert_allclose(th @ th.T / (2 * d), np.eye(d) / d, atol=1e-12)
    X = rng.normal(size=(40, d))
    v = rng.normal(size=d)
    assert sliced_w2(X, X + v, th, rescale=True) == pytest.approx(np.linalg.norm(v), rel=1e-10)
    # Shrinking a sample set toward its centre by c moves every projected quantile
    # by (1 - c) of its distance: P = (1 - c) * P(point mass, set) exactly (same n).
    m = X.mean(axis=0)
    for c in (0.0, 0.3, 1.0):
        P = sliced_w2(m + c * (X - m), X, th, rescale=True)
        assert P == pytest.approx((1 - c) * np.sqrt(np.sum((X - m) ** 2) / 40), rel=1e-9)


def test_frechet_rank_safe_finite_when_singular_and_exact_when_not():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 20)), rng.normal(size=(50, 20))  # n < d: singular fits
    fd = frechet_distance(X, Y, rank_safe=True)
    assert np.isfinite(fd) and fd > 0
    A = rng.normal(size=(300, 3))
    ref = (
        np.sum((A.mean(0) - (2 * A).mean(0)) ** 2)
        + np.trace(np.cov(A.T)) * (1 + 4 - 2 * 2)  # S_Y = 4 S_X: tr S + 4 tr S - 2 * 2 tr S
    )
    assert frechet_distance(A, 2 * A, rank_safe=True) == pytest.approx(ref, rel=1e-9)
    assert frechet_distance(A, 2 * A) == pytest.approx(ref, rel=1e-9)


def test_psnr_rows_against_the_definition():
    x = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, -0.5, 0.5, -0.5]])
    ref = np.zeros(4)
    # MSE 0 -> clipped at 1e-20 -> 10 log10(4e20); MSE 0.25 -> 10 log10(16)
    np.testing.assert_allclose(psnr(x, ref), [10 * np.log10(4e20), 10 * np.log10(16.0)])
