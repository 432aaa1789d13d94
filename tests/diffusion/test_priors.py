"""diffusion.priors: the torch mixture/Gaussian denoisers equal numerics.gmm in float64, are
differentiable with the right Jacobian, sample the exact diffused law, and scale to d=256, K=32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.priors.analytic import GaussianPrior, MixturePrior
from numerics.gmm import GaussianMixture
from tests.diffusion._helpers import (  # noqa: F401  (one_thread: autouse)
    SCHED,
    condition_gaussian,
    gen,
    one_thread,
    paper_gmm,
    paper_prior,
)
from tests.strategies import random_spd


def _random_gmm(rng, K, d):
    covs = np.stack([random_spd(rng, d, cond=30.0, scale=0.5) for _ in range(K)])
    return GaussianMixture(rng.dirichlet(np.ones(K)), rng.normal(size=(K, d)), covs)


T_VALUES = np.array([0, 1, 2, 10, 100, 500, 999, 1000])


def test_mixture_equals_numerics_gmm(rng, device):
    gm = _random_gmm(rng, 4, 3)
    prior = MixturePrior(gm, SCHED)
    x = rng.normal(size=(T_VALUES.size, 3))
    xt = torch.tensor(x, device=device)
    t = torch.tensor(T_VALUES, device=device)
    got = dict(
        score=prior.score(xt, t),
        logpdf=prior.logpdf(xt, t),
        resp=prior.responsibilities(xt, t),
        hess=prior.hessian(xt, t),
        x0=prior(xt, t),
    )
    for i, ti in enumerate(T_VALUES):
        xi = x[i : i + 1]
        ti = int(ti)
        np.testing.assert_allclose(got["score"][i].cpu(), gm.score(xi, ti, SCHED)[0], atol=1e-10)
        np.testing.assert_allclose(got["logpdf"][i].cpu(), gm.logpdf(xi, ti, SCHED)[0], atol=1e-10)
        np.testing.assert_allclose(
            got["resp"][i].cpu(), gm.responsibilities(xi, ti, SCHED)[0], atol=1e-12
        )
        np.testing.assert_allclose(
            got["hess"][i].cpu(), gm.hessian(xi, ti, SCHED)[0], rtol=1e-9, atol=1e-9
        )
        if ti >= 1:
            np.testing.assert_allclose(
                got["x0"][i].cpu(), gm.tweedie_mean(xi, ti, SCHED)[0], rtol=1e-10, atol=1e-12
            )


def test_tweedie_jacobian_is_posterior_covariance(rng):
    """d E[x0|x_t]/dx_t = sqrt(ab)/(1-ab) Cov[x0|x_t] (autograd vs numerics' tweedie_cov)."""
    gm = paper_gmm()
    prior = MixturePrior(gm, SCHED)
    x = rng.normal(size=(3, 2))
    for t in (5, 200, 800):
        xt = torch.tensor(x, requires_grad=True)
        J = torch.autograd.functional.jacobian(
            lambda z, t=t: prior(z, torch.full((3,), t)).sum(0), xt
        )  # [2 (out), 3 (batch), 2 (in)]
        ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
        C = gm.tweedie_cov(x, t, SCHED)
        for b in range(3):
            np.testing.assert_allclose(J[:, b, :].numpy(), np.sqrt(ab) / omab * C[b], rtol=1e-8)


def test_gaussian_prior_closed_form_and_constant_hessian(rng):
    S = random_spd(rng, 3, cond=100.0)
    m = rng.normal(size=3)
    prior = GaussianPrior(m, S, SCHED)
    x = rng.normal(size=(5, 3))
    t = 700
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    Sig = ab * S + omab * np.eye(3)
    ref = m + (np.sqrt(ab) * S @ np.linalg.solve(Sig, (x - np.sqrt(ab) * m).T)).T
    got = prior(torch.tensor(x), torch.full((5,), t)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    H = prior.hessian(torch.tensor(x), torch.full((5,), t))
    assert H.shape == (1, 3, 3)  # x-independent: one matrix for the batch
    np.testing.assert_allclose(H[0].numpy(), -np.linalg.inv(Sig), rtol=1e-9)


def test_image_shaped_input_and_float32(rng):
    gm = _random_gmm(rng, 3, 8)
    prior = MixturePrior(gm, SCHED)
    x = rng.normal(size=(4, 2, 2, 2))
    t = torch.tensor([3, 30, 300, 1000])
    out64 = prior(torch.tensor(x), t)
    assert out64.shape == (4, 2, 2, 2)
    ref = np.stack([gm.tweedie_mean(x[i].reshape(1, 8), int(t[i]), SCHED)[0] for i in range(4)])
    np.testing.assert_allclose(out64.reshape(4, 8).numpy(), ref, rtol=1e-10, atol=1e-12)
    out32 = prior(torch.tensor(x, dtype=torch.float32), t)
    assert out32.dtype == torch.float32
    # float32: ~1e-7 relative per operation over a handful of O(d K) sums
    np.testing.assert_allclose(out32.double().numpy(), out64.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="8 values per sample"):
        prior(torch.zeros(2, 3), torch.tensor([1, 1]))


@pytest.mark.parametrize("t", [0, 50, 1000])
def test_sample_xt_moments(t):
    """Exact x_t draws: mean and covariance of gmm.diffused(t) within 4 MC sd (n = 40000)."""
    gm = paper_gmm()
    prior = MixturePrior(gm, SCHED)
    n = 40_000
    x = prior.sample_xt(n, t, generator=gen(1)).numpy()
    law = gm.diffused(SCHED, t)
    mean, cov = law.mean(), law.cov()
    sd_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 4 * sd_mean)
    # covariance entries: sd from the 4th moments of the sample itself
    xc = x - x.mean(0)
    for i in range(2):
        for j in range(2):
            prod = xc[:, i] * xc[:, j]
            assert abs(prod.mean() - cov[i, j]) < 4 * prod.std() / np.sqrt(n)
    np.testing.assert_allclose(prior.mean_xt(t), mean, atol=1e-14)


def test_posterior_matches_joint_gaussian_conditioning(rng):
    """Independent route: each component's (x, y) joint Gaussian conditioned by a dense solve in
    the test (condition_gaussian), weights from the evidences N(y; A mu_k, A S_k A^T + s^2 I)."""
    gm = paper_gmm()
    A = rng.normal(size=(1, 2))
    post = MixturePrior(gm, SCHED).posterior(A, 0.3, [0.4])
    parts = [
        condition_gaussian(mu, S, A, 0.3, [0.4]) for mu, S in zip(gm.means, gm.covs, strict=True)
    ]
    logw = np.log(gm.weights) + np.array([p[2] for p in parts])
    np.testing.assert_allclose(
        post.gmm.weights, np.exp(logw - logw.max()) / np.exp(logw - logw.max()).sum(), rtol=1e-12
    )
    np.testing.assert_allclose(post.gmm.means, [p[0] for p in parts], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(post.gmm.covs, [p[1] for p in parts], rtol=1e-12, atol=1e-14)
    S = random_spd(rng, 2)
    y64 = torch.tensor([0.4], dtype=torch.float64)
    gp = GaussianPrior([0.0, 1.0], S, SCHED).posterior(torch.tensor(A), 0.3, y64)
    m, C, _ = condition_gaussian([0.0, 1.0], S, A, 0.3, [0.4])
    np.testing.assert_allclose(gp.loc, m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gp.cov, C, rtol=1e-12, atol=1e-14)


def test_zero_weight_components_are_dropped():
    gm = GaussianMixture([1.0, 0.0], [[0.0], [5.0]], [[[1.0]], [[1.0]]])
    prior = MixturePrior(gm, SCHED)
    assert prior.K == 1
    out = prior(torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([0]))
    assert out.item() == pytest.approx(0.3, abs=1e-15)


def test_patch_scale_d256_k32():
    """The image-patch size of the later issue: one denoise + gradient + Hessian run, finite."""
    rng = np.random.default_rng(0)
    K, d = 32, 256
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]  # one basis, per-component spectra (cheap)
    lam = np.exp(rng.uniform(np.log(1e-4), 0.0, size=(K, d)))
    covs = (U[None] * lam[:, None, :]) @ U.T[None]
    covs = 0.5 * (covs + covs.transpose(0, 2, 1))
    prior = MixturePrior(GaussianMixture(np.full(K, 1.0 / K), rng.normal(size=(K, d)), covs), SCHED)
    x = torch.randn(4, 1, 16, 16, generator=gen(0)).requires_grad_(True)
    t = torch.full((4,), 300)
    x0 = prior(x, t)
    (g,) = torch.autograd.grad(x0.square().sum(), x)
    H = prior.hessian(x.detach(), t)
    assert x0.shape == x.shape and H.shape == (4, d, d)
    assert torch.isfinite(g).all() and torch.isfinite(H).all()


def _scaled_winner(gm, x, t):
    """Reference at huge |x|: the component of least Mahalanobis distance (forms scaled by
    1/|x|^2 so they do not overflow) and its Sigma_{t,k}^{-1}, in numpy float64."""
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    u = x / np.abs(x).max()
    precs = [np.linalg.inv(ab * S + omab * np.eye(gm.d)) for S in gm.covs]
    k = int(np.argmin([u @ P @ u for P in precs]))
    return k, precs[k], np.sqrt(ab) * gm.means[k]


@pytest.mark.parametrize("dtype, scale", [(torch.float64, 1e200), (torch.float32, 1e25)])
def test_far_away_points_stay_finite(dtype, scale):
    """At |x| = 1e200 every component density underflows: score, Hessian, responsibilities and
    the Tweedie mean used to be NaN. Now the nearest component (in Mahalanobis distance)
    takes all the weight: score = -Sigma_k^-1 (x - sqrt(ab) mu_k), Hessian = -Sigma_k^-1;
    the log-density, below the float range, is refused with a ValueError naming x."""
    gm = paper_gmm()
    prior = MixturePrior(gm, SCHED)
    x = np.array([[1.0, -0.3], [1.0, 1.0], [-0.2, 1.0]]) * scale
    for t in (0, 500):
        xt = torch.tensor(x, dtype=dtype)
        tt = torch.full((3,), t)
        score, H = prior.score(xt, tt), prior.hessian(xt, tt)
        r, x0 = prior.responsibilities(xt, tt), prior(xt, tt)
        for out in (score, H, r, x0):
            assert torch.isfinite(out).all()
        for b in range(3):
            k, P, m = _scaled_winner(gm, x[b], t)
            assert r[b, k] == 1.0
            ref = -P @ (x[b] - m)
            np.testing.assert_allclose(score[b].double().numpy(), ref, rtol=1e-5)
            np.testing.assert_allclose(H[b].double().numpy(), -P, rtol=1e-5)
        with pytest.raises(ValueError, match=r"\bx(_t)?: "):
            prior.logpdf(xt, tt)
    # a mixed batch: the ordinary rows keep their ordinary values (same batch shape)
    xt = torch.tensor([[1e200, 0.0], [0.3, -0.2]], dtype=torch.float64)
    near = torch.tensor([[5.0, 0.0], [0.3, -0.2]], dtype=torch.float64)
    torch.testing.assert_close(prior.score(xt, 40)[1], prior.score(near, 40)[1], rtol=0, atol=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_x_is_refused(bad):
    for prior in (paper_prior(), GaussianPrior([0.0, 0.0], np.eye(2), SCHED)):
        x = torch.tensor([[0.0, 0.0], [bad, 1.0]], dtype=torch.float64)
        for f in (prior.score, prior.logpdf, prior.responsibilities, prior.hessian, prior):
            # the Denoiser interface (``prior(x_t, t)``) names its argument x_t
            with pytest.raises(ValueError, match=r"\bx(_t)?: contains NaN or Inf"):
                f(x, torch.tensor([10, 10]))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, "float32"])
def test_sample_xt_refuses_non_floating_dtype(dtype):
    """sample_xt(dtype=torch.int64) used to return the draws truncated to integers."""
    with pytest.raises(TypeError, match="dtype"):
        paper_prior().sample_xt(4, 10, dtype=dtype)
    with pytest.raises(TypeError, match="dtype"):
        paper_prior().sample(4, dtype=dtype)
