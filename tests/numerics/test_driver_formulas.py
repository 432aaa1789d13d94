"""Formulas the restoration driver uses, at their one home in numerics: the pruned GMM
posterior, the variance of the squared error, sliced W2 along orthonormal bases, the
rank-safe Fréchet distance and PSNR."""

from __future__ import annotations

import numpy as np
import pytest

from numerics.gmm import pruned_posterior, squared_error_variance
from numerics.metrics import frechet_distance, orthonormal_directions, psnr, sliced_w2


def _joint_conditioning(mu, S, A, sigma_y, y):
    """x | y for x ~ N(mu, S), y = A x + N(0, sigma_y^2 I): the joint Gaussian of (x, y)
    conditioned with a dense LU solve (an independent route from numerics' Cholesky one)."""
    G = A @ S @ A.T + sigma_y**2 * np.eye(A.shape[0])
    SA = S @ A.T
    sol = np.linalg.solve(G, np.column_stack([y - A @ mu, SA.T]))
    return mu + SA @ sol[:, 0], S - SA @ sol[:, 1:]


def test_pruned_posterior_equals_the_exact_posterior(rng):
    """floor = 0: weights from scipy's evidence densities, components by joint conditioning;
    a floor drops the light components, reports their mass and renormalises the rest."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from numerics.gmm import GaussianMixture
    from tests.strategies import random_spd

    K, d, sigma_y = 4, 16, 0.05
    gm = GaussianMixture(
        rng.dirichlet(np.ones(K)),
        rng.normal(size=(K, d)),
        np.stack([random_spd(rng, d, cond=1e3, scale=0.3) for _ in range(K)]),
    )
    A = np.kron(np.eye(4), np.full((1, 4), 0.25))  # (4, 16): means of 4 consecutive pixels
    y = A @ gm.sample(1, rng)[0] + sigma_y * rng.normal(size=A.shape[0])
    G = [A @ S @ A.T + sigma_y**2 * np.eye(4) for S in gm.covs]
    lw = np.log(gm.weights) + [
        multivariate_normal(A @ mu, Gk).logpdf(y) for mu, Gk in zip(gm.means, G, strict=True)
    ]
    ref_w = np.exp(lw - logsumexp(lw))
    got, dropped = pruned_posterior(gm, A, sigma_y, y, floor=0.0)
    assert dropped == 0.0
    np.testing.assert_allclose(got.weights, ref_w, rtol=1e-9, atol=1e-14)
    for k in range(K):
        m, C = _joint_conditioning(gm.means[k], gm.covs[k], A, sigma_y, y)
        np.testing.assert_allclose(got.means[k], m, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.covs[k], C, rtol=1e-10, atol=1e-12)
    # Pruning drops the light components, reports their mass and renormalises the rest.
    keep = ref_w >= 0.2
    pruned, dropped = pruned_posterior(gm, A, sigma_y, y, floor=0.2)
    assert pruned.K == keep.sum()
    assert dropped == pytest.approx(ref_w[~keep].sum(), abs=1e-12)
    np.testing.assert_allclose(pruned.weights, ref_w[keep] / ref_w[keep].sum())


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


def test_mixture_posterior_floor_keeps_the_heaviest_component():
    """A floor above every weight still leaves the heaviest component (weight 1), and the
    dropped mass is the rest; floor outside [0, 1) is refused."""
    from numerics.gmm import GaussianMixture
    from numerics.gmm_posterior import mixture_posterior

    gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    # y = 0.4: evidences N(0.4; -1, 2) and N(0.4; 1, 2), posterior weights in their ratio
    e = np.exp(-(np.array([1.4, 0.6]) ** 2) / 4)
    w_ref = e / e.sum()
    w, m, C, dropped = mixture_posterior(gm, [[1.0]], 1.0, [0.4], floor=0.9)
    assert w.tolist() == [1.0] and m.shape == (1, 1) and C.shape == (1, 1, 1)
    assert m[0, 0] == pytest.approx((1.0 + 0.4) / 2, rel=1e-14)  # the component at +1
    assert dropped == pytest.approx(w_ref[0], rel=1e-12)
    w, _, _, dropped = mixture_posterior(gm, [[1.0]], 1.0, [0.4])
    np.testing.assert_allclose(w, w_ref, rtol=1e-14)
    assert dropped == 0.0
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="^floor"):
            mixture_posterior(gm, [[1.0]], 1.0, [0.4], floor=bad)
