"""Covariance-aware guidance and ΠGDM (diffusion.guidance_gaussian) against independent routes.

* Gaussian prior (exact linear Tweedie denoiser): the covariance-aware score equals
  ∇log p_t(y | x_t) = ∇log p_t(x_t | y) − ∇log p_t(x_t), both scores of Gaussians written here
  in numpy (x_t | y ~ N(√ᾱ m, ᾱ S + (1 − ᾱ) I) with (m, S) the posterior), to 1e-10 relative,
  with n_cg = m (the measurement size).
* CG: the error of the solved u in the system matrix's norm decreases at every iteration and
  vanishes (1e-10) after m iterations.
* A Gaussian mixture (not exact there): the score equals the Gaussian-approximation formula
  written in numpy from numerics.gmm_posterior.mixture_posterior (Cov[x0 | x_t] in closed form,
  x_t being a linear Gaussian observation of x0), to 1e-9 relative.
* ΠGDM: exact for the prior N(0, I), where Cov[x0 | x_t] = (1 − ᾱ_t) I.
* The η-chain with covariance-aware guidance on a Gaussian prior is, path by path, the chain
  with the exact conditional score (same seed, 1e-8), and its end-point moments match
  numerics.gaussian.eta_chain_moments (n = 3000 per η, 4 sd, as in test_sampler_statistics).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.guidance import CovarianceAwareGuidance, ExactGuidance, PiGDMGuidance
from diffusion.operators import DenseOperator
from diffusion.priors.analytic import GaussianPrior, MixturePrior
from diffusion.sampler import sample
from numerics.gaussian import eta_chain_moments, linear_gaussian_posterior
from numerics.gmm_posterior import mixture_posterior
from tests.diffusion._helpers import SCHED, gen, paper_gmm
from tests.strategies import random_spd

AB = SCHED.alpha_bar


def _problem(d=5, m=3, sigma_y=0.1, seed=0, cond=10.0):
    rng = np.random.default_rng(seed)
    P = random_spd(rng, d, cond=cond)
    mu = 0.5 * rng.normal(size=d)
    A = rng.normal(size=(m, d)) / np.sqrt(d)
    y = A @ rng.multivariate_normal(mu, P) + sigma_y * rng.normal(size=m)
    return mu, P, A, y, sigma_y


def _gauss_score(x, mean, cov):
    """∇ log N(x; mean, cov), rows of x (n, d)."""
    return -np.linalg.solve(cov, (x - mean).T).T


def _true_measurement_score(mu, P, A, y, s, x, t):
    """∇log p_t(y | x_t) for x0 ~ N(mu, P): difference of two Gaussian scores (numpy)."""
    a, d = AB[t], len(mu)
    m, S = linear_gaussian_posterior(mu, P, A, s, y)
    post = _gauss_score(x, np.sqrt(a) * m, a * S + (1 - a) * np.eye(d))
    prior = _gauss_score(x, np.sqrt(a) * mu, a * P + (1 - a) * np.eye(d))
    return post - prior


def _score(g, model, x, t):
    xt = torch.as_tensor(x)
    tt = torch.full((x.shape[0],), t, dtype=torch.long)
    return g.measurement_score(xt, tt, model, AB[t])[1].numpy()


@pytest.mark.parametrize("t", [1, 20, 200, 600, 1000])
def test_covariance_aware_score_is_exact_for_a_gaussian_prior(t):
    mu, P, A, y, s = _problem()
    prior = GaussianPrior(mu, P, SCHED)
    x = np.random.default_rng(1).normal(size=(4, 5)) * np.sqrt(AB[t] * 2 + 1 - AB[t])
    got = _score(CovarianceAwareGuidance(DenseOperator(A), y, s, n_cg=3), prior, x, t)
    want = _true_measurement_score(mu, P, A, y, s, x, t)
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max(), (t, got, want)


def test_too_few_cg_iterations_are_not_exact():
    """The exactness above is CG's doing: one iteration is off (this test can fail)."""
    mu, P, A, y, s = _problem()
    prior = GaussianPrior(mu, P, SCHED)
    x = np.random.default_rng(1).normal(size=(4, 5))
    got = _score(CovarianceAwareGuidance(DenseOperator(A), y, s, n_cg=1), prior, x, 300)
    want = _true_measurement_score(mu, P, A, y, s, x, 300)
    assert np.abs(got - want).max() > 1e-3 * np.abs(want).max()


def test_cg_error_decreases_and_is_exact_after_m_iterations():
    """u_k (recovered from the score J Aᵀ u_k by least squares: J Aᵀ has full column rank) has
    ‖u_k − u*‖_M strictly decreasing for k = 1 .. m and ≤ 1e-10 ‖u*‖_M at k = m = 4; M =
    σ² I + A C Aᵀ with C = (1 − ᾱ)/√ᾱ J, J = √ᾱ P Σ_t⁻¹ (numpy)."""
    d, m, t = 6, 4, 300
    mu, P, A, y, s = _problem(d=d, m=m, sigma_y=0.05, seed=3, cond=30.0)
    prior = GaussianPrior(mu, P, SCHED)
    a = AB[t]
    Sig = a * P + (1 - a) * np.eye(d)
    J = np.sqrt(a) * P @ np.linalg.inv(Sig)
    M = s**2 * np.eye(m) + (1 - a) / np.sqrt(a) * A @ J @ A.T
    x = np.random.default_rng(2).normal(size=(3, d))
    x0 = mu + (J @ (x - np.sqrt(a) * mu).T).T
    u_star = np.linalg.solve(M, (y - x0 @ A.T).T).T  # (3, m)
    JA = J @ A.T

    def err(k):
        g = _score(CovarianceAwareGuidance(DenseOperator(A), y, s, n_cg=k), prior, x, t)
        u = np.linalg.lstsq(JA, g.T, rcond=None)[0].T
        e = u - u_star
        return np.sqrt(np.einsum("bi,ij,bj->b", e, M, e))

    errs = np.array([err(k) for k in range(1, m + 1)])  # (m, 3)
    norm = np.sqrt(np.einsum("bi,ij,bj->b", u_star, M, u_star))
    assert np.all(np.diff(errs, axis=0) < 0), errs
    assert np.all(errs[-1] <= 1e-10 * norm), (errs[-1], norm)
    assert np.all(errs[0] > 1e-3 * norm)  # not already converged at k = 1


def _gmm_gaussian_approx_score(gm, A, y, s, x, t):
    """The Gaussian-approximation formula in numpy: x_t/√ᾱ = x0 + N(0, (1-ᾱ)/ᾱ I), so
    p(x0 | x_t) is the mixture posterior with A = I; its mean and covariance give x̂0, C and
    J = √ᾱ/(1 − ᾱ) C."""
    a = AB[t]
    d = gm.means.shape[1]
    out = []
    for xi in x:
        w, ms, Cs, _ = mixture_posterior(gm, np.eye(d), np.sqrt((1 - a) / a), xi / np.sqrt(a))
        x0 = w @ ms
        C = np.einsum("k,kij->ij", w, Cs) + np.einsum("k,ki,kj->ij", w, ms, ms) - np.outer(x0, x0)
        J = np.sqrt(a) / (1 - a) * C
        G = s**2 * np.eye(A.shape[0]) + A @ C @ A.T
        out.append(J @ A.T @ np.linalg.solve(G, y - A @ x0))
    return np.array(out)


@pytest.mark.parametrize("t", [5, 100, 400, 900])
def test_covariance_aware_score_matches_the_numerics_gaussian_approximation_on_a_gmm(t):
    gm = paper_gmm()
    A, y, s = np.array([[1.0, 0.5]]), np.array([0.7]), 0.2
    x = np.random.default_rng(4).normal(size=(6, 2)) * 1.5
    got = _score(
        CovarianceAwareGuidance(DenseOperator(A), y, s, n_cg=1), MixturePrior(gm, SCHED), x, t
    )
    want = _gmm_gaussian_approx_score(gm, A, y, s, x, t)
    assert np.abs(got - want).max() <= 1e-9 * np.abs(want).max(), (t, got, want)


def test_pigdm_is_exact_for_the_standard_normal_prior():
    """Prior N(0, I): Cov[x0 | x_t] = (1 − ᾱ_t) I = r_t² I, so ΠGDM is the exact score."""
    d = 4
    mu, _, A, y, s = _problem(d=d, m=2)
    prior = GaussianPrior(np.zeros(d), np.eye(d), SCHED)
    x = np.random.default_rng(5).normal(size=(3, d))
    for t in (3, 150, 800):
        got = _score(PiGDMGuidance(DenseOperator(A), y, s), prior, x, t)
        want = _true_measurement_score(np.zeros(d), np.eye(d), A, y, s, x, t)
        assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max(), (t, got, want)
    # and not exact for a correlated prior (the test can fail)
    _, P, *_ = _problem(d=d, m=2)
    got = _score(PiGDMGuidance(DenseOperator(A), y, s), GaussianPrior(mu, P, SCHED), x, 150)
    want = _true_measurement_score(mu, P, A, y, s, x, 150)
    assert np.abs(got - want).max() > 1e-3 * np.abs(want).max()


def test_chain_with_covariance_aware_guidance_is_the_exact_chain():
    """d = 3, m = 2, σ_y = 0.05, 100 respaced steps, beta_tilde, N(0, I) start: same seed,
    same path as ExactGuidance (1e-8), and end-point moments = eta_chain_moments (n = 3000
    per η, 4 sd, Wishart sd for covariances)."""
    from numerics.schedule import respace

    mu, P, A, y, s = _problem(d=3, m=2, sigma_y=0.05, seed=7)
    prior = GaussianPrior(mu, P, SCHED)
    etas, n = (0.0, 1.0), 3000
    eta = torch.tensor(etas, dtype=torch.float64).repeat_interleave(n)
    kw = dict(eta=eta, steps=100, variance="beta_tilde", dtype=torch.float64)
    cov_g = CovarianceAwareGuidance(DenseOperator(A), y, s, n_cg=2)
    x_cov = sample(prior, (2 * n, 3), SCHED, guidance=cov_g, generator=gen(11), **kw).numpy()
    ex_g = ExactGuidance.from_prior(prior, A, s, y)
    x_ex = sample(None, (2 * n, 3), SCHED, guidance=ex_g, generator=gen(11), **kw).numpy()
    assert np.abs(x_cov - x_ex).max() <= 1e-8, np.abs(x_cov - x_ex).max()
    m, S = linear_gaussian_posterior(mu, P, A, s, y)
    sched = respace(SCHED, 100)
    for e, xb in zip(etas, np.split(x_cov, 2), strict=True):
        mean, cov = eta_chain_moments(m, S, e, sched, start="standard", variance="beta_tilde")
        sd_mean = np.sqrt(np.diag(cov) / n)
        assert np.all(np.abs(xb.mean(0) - mean) <= 4 * sd_mean + 1e-10), (e, xb.mean(0), mean)
        dg = np.diag(cov)
        sd_cov = np.sqrt((cov**2 + np.outer(dg, dg)) / (n - 1))
        assert np.all(np.abs(np.cov(xb, rowvar=False) - cov) <= 4 * sd_cov + 1e-10), e


def test_bad_arguments_are_refused():
    op = DenseOperator(np.eye(2))
    with pytest.raises(ValueError, match="n_cg"):
        CovarianceAwareGuidance(op, [0.0, 0.0], 0.1, n_cg=0)
    with pytest.raises(ValueError, match="sigma_y"):
        PiGDMGuidance(op, [0.0, 0.0], 0.0)
    with pytest.raises(ValueError, match="y: expected shape"):
        PiGDMGuidance(op, [0.0, 0.0, 0.0], 0.1)
    with pytest.raises(ValueError, match="operator"):
        CovarianceAwareGuidance(object(), [0.0], 0.1)
    g = CovarianceAwareGuidance(op, [0.0, 0.0], 0.1)
    with pytest.raises(ValueError, match="prepare"):
        g(torch.zeros(1, 2), None, torch.tensor([1]), lambda x, t: x)
    with pytest.raises(ValueError, match="alpha_bar"):
        g.measurement_score(torch.zeros(1, 2), torch.tensor([1]), lambda x, t: x, 1.0)
