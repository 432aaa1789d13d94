"""The torch sampler against exact ground truth (the issue's "must show").

* Gaussian prior, linear A, exact guidance: end-point mean and covariance equal
  ``numerics.gaussian.eta_chain_moments`` with the same variance rule and start, for
  eta in {0, 0.3, 1}, to Monte-Carlo error; with ``variance="exact"`` MSE(eta=1)/MMSE = 2.
* Posteriors with variances near beta_1: DDPM's beta_tilde under-disperses (a fact the torch
  chain reproduces, matching the numerics prediction), the exact variance does not.
* The paper's 2-D mixture with exact guidance: MSE(eta=1)/MMSE = 2 and W2 to exact posterior
  samples at the two-exact-sets floor.

Tolerances: a sample mean is within 4 sd = 4 sqrt(C_ii/n) of the predicted mean; a sample
covariance entry within 4 sd, Var(C^_ij) = (C_ij^2 + C_ii C_jj)/(n - 1) (Wishart, exact for the
Gaussian end point); a ratio MSE/MMSE = 1 + mean||x - m||^2/tr S within 4 sd of its sample
standard error. Deterministic chains (eta = 0 from the exact start) have C = 0: there the
float64 floor 1e-10 applies (T = 1000 steps of O(1e-16) rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.guidance import ExactGuidance
from diffusion.sampler import sample
from numerics.gaussian import eta_chain_moments, linear_gaussian_posterior
from numerics.metrics import metric_floor, w2_empirical
from numerics.schedule import linear_schedule, respace
from tests.diffusion._helpers import (  # noqa: F401
    SCHED,
    Y_BIMODAL,
    Y_UNIMODAL,
    gen,
    mse_ratio,
    one_thread,
    paper_gmm,
    paper_prior,
)
from tests.strategies import random_spd

ETAS = (0.0, 0.3, 1.0)
FLOOR = 1e-10


def _gaussian_posterior_problem(schedule=SCHED):
    """d = 3, prior N(mu, P), A (2 x 3), sigma_y = 0.05: two posterior directions of variance
    ~1e-3 (comparable to beta_1 = 1e-4 .. beta_20) and one of the prior's scale."""
    from diffusion.priors.analytic import GaussianPrior

    rng = np.random.default_rng(7)
    P = random_spd(rng, 3, cond=10.0)
    mu = 0.5 * rng.normal(size=3)
    A = rng.normal(size=(2, 3))
    y = A @ rng.multivariate_normal(mu, P) + 0.05 * rng.normal(size=2)
    prior = GaussianPrior(mu, P, schedule)
    m, S = linear_gaussian_posterior(mu, P, A, 0.05, y)
    return prior, A, y, m, S


def _run_blocks(guidance, schedule, n, *, variance, start, seed, device, steps=None, d=3):
    eta = torch.tensor(ETAS, dtype=torch.float64).repeat_interleave(n)
    x = sample(
        None,
        (len(ETAS) * n, d),
        schedule,
        eta=eta,
        guidance=guidance,
        variance=variance,
        start=start,
        steps=steps,
        generator=gen(seed, device),
        device=device,
        dtype=torch.float64,
    )
    return np.split(x.cpu().numpy(), len(ETAS))


def _assert_moments(x, mean, cov, label):
    n = x.shape[0]
    sd_mean = np.sqrt(np.clip(np.diag(cov), 0, None) / n)
    err_mean = np.abs(x.mean(0) - mean)
    assert np.all(err_mean <= 4 * sd_mean + FLOOR), (label, err_mean, sd_mean)
    C = np.cov(x, rowvar=False)
    dg = np.clip(np.diag(cov), 0, None)
    sd_cov = np.sqrt((cov**2 + np.outer(dg, dg)) / (n - 1))
    err_cov = np.abs(C - cov)
    assert np.all(err_cov <= 4 * sd_cov + FLOOR), (label, err_cov, sd_cov)


def _check_gaussian(schedule, n, variance, start, device, steps=None):
    prior, A, y, m, S = _gaussian_posterior_problem(schedule)
    g = ExactGuidance.from_prior(prior, A, 0.05, y)
    blocks = _run_blocks(
        g, schedule, n, variance=variance, start=start, seed=11, device=device, steps=steps
    )
    sched = schedule if steps is None else respace(schedule, steps)
    for eta, x in zip(ETAS, blocks, strict=True):
        mean, cov = eta_chain_moments(m, S, eta, sched, start=start, variance=variance)
        _assert_moments(x, mean, cov, (variance, start, eta))
        r, sd = mse_ratio(x, m, np.trace(S))
        r_pred = 1 + (np.trace(cov) + np.sum((mean - m) ** 2)) / np.trace(S)
        assert abs(r - r_pred) <= 4 * sd + FLOOR, (variance, start, eta, r, r_pred, sd)
        # Theorems 1-2: MSE(1) = 2 MMSE from the exact start; from N(0, I) up to O(alpha_bar_T)
        if variance == "exact" and eta == 1.0 and (start == "exact" or sched.alpha_bar[-1] < 1e-3):
            assert abs(r - 2.0) <= 4 * sd, (start, r, sd)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde", "exact"])
@pytest.mark.parametrize("start", ["standard", "exact"])
def test_gaussian_moments_respaced(variance, start, device):
    """Quick version: the 1000-step schedule respaced to 100 steps, n = 4000 per eta
    (the prediction uses the same respaced schedule)."""
    _check_gaussian(SCHED, 4000, variance, start, device, steps=100)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde", "exact"])
@pytest.mark.parametrize("start", ["standard", "exact"])
def test_gaussian_moments_short_chain(variance, start, device):
    """T = 50 steps of the fixed-horizon schedule (beta up to 0.4, alpha_bar_T = 4e-5) and
    T = 10 of the plain one (alpha_bar_T = 0.90, so the start matters): every step's
    covariance and the start's scaling by eta show in the end point. n = 20000 per eta."""
    for sched in (linear_schedule(50, fixed_horizon=True), linear_schedule(10)):
        _check_gaussian(sched, 20_000, variance, start, device)


@pytest.mark.slow
@pytest.mark.parametrize("variance", ["beta", "beta_tilde", "exact"])
@pytest.mark.parametrize("start", ["standard", "exact"])
def test_gaussian_moments_T1000(variance, start, device):
    """The issue's setting: T = 1000, n = 20000 per eta."""
    _check_gaussian(SCHED, 20_000, variance, start, device)


def _exact_chain(g, n, variance, start, generator):
    """n draws of the eta = 1 chain under exact guidance g (float64, on the generator's device)."""
    kw = dict(eta=1.0, guidance=g, variance=variance, start=start, dtype=torch.float64)
    x = sample(None, (n, 2), SCHED, generator=generator, device=generator.device, **kw)
    return x.cpu().numpy()


@pytest.mark.parametrize("sigma_y", [0.01, 0.02, 0.05])
def test_beta_tilde_underdisperses_near_beta_1(sigma_y, device):
    """Prior N(0, diag(1, 0.5)), A = I: posterior variances ~sigma_y^2 = 1e-4 .. 2.5e-3,
    comparable to beta_1 = 1e-4. With beta_tilde (beta_tilde_1 = 0) the eta = 1 chain ends
    below 2 MMSE -- the torch chain reproduces the numerics prediction, not 2 -- while the
    exact (second-order Tweedie) variance gives 2. n = 2000, T = 1000."""
    from diffusion.priors.analytic import GaussianPrior

    n = 2000
    prior = GaussianPrior([0.0, 0.0], np.diag([1.0, 0.5]), SCHED)
    y = np.array([0.3, -0.2])
    g = ExactGuidance.from_prior(prior, np.eye(2), sigma_y, y)
    m, S = g.posterior.loc, g.posterior.cov
    out = {}
    for variance in ("beta_tilde", "exact"):
        x = _exact_chain(g, n, variance, "exact", gen(21, device))
        r, sd = mse_ratio(x, m, np.trace(S))
        mean, cov = eta_chain_moments(m, S, 1.0, SCHED, start="exact", variance=variance)
        r_pred = 1 + (np.trace(cov) + np.sum((mean - m) ** 2)) / np.trace(S)
        out[variance] = (r, sd, r_pred)
        assert abs(r - r_pred) <= 4 * sd, (variance, r, r_pred, sd)
    r, sd, r_pred = out["beta_tilde"]
    assert r_pred < 2 and abs(r - 2) > 4 * sd  # the fact: measurably below 2
    r, sd, _ = out["exact"]
    assert abs(r - 2) <= 4 * sd


def _gmm_run(y, n, variance, device, seed=31):
    prior = paper_prior()
    g = ExactGuidance.from_prior(prior, np.eye(2), 0.5, y)
    return _exact_chain(g, n, variance, "standard", gen(seed, device)), g.posterior.gmm


def _gmm_report(label, y, device, capsys):
    """n = 20000 draws of the eta = 1 chain (exact variance): MSE(1)/MMSE and its sd, and the
    W2 of 2000 of them to exact posterior samples with its floor (printed)."""
    x, post = _gmm_run(y, 20_000, "exact", device)
    r, sd = mse_ratio(x, post.mean(), post.mmse())
    rng = np.random.default_rng(5)
    w2 = w2_empirical(x[:2000], post.sample(2000, rng))
    floor = metric_floor(w2_empirical, post.sample, 2000, rng)
    with capsys.disabled():
        print(f"\n{label}: MSE(1)/MMSE = {r:.4f} +- {sd:.4f}; W2 = {w2:.4f}, floor {floor:.4f}")
    return r, sd, w2, floor


@pytest.mark.slow
def test_gmm_exact_guidance_unimodal(device, capsys):
    """The paper's mixture, y where one component dominates (weight 0.9996), exact variance:
    MSE(1)/MMSE within 4 sd of 2 (n = 20000, T = 1000) and W2 to exact posterior samples
    <= 1.3 x the floor (n = 2000, exact W2 by POT; floor = mean over 5 pairs of exact sets).
    (With beta_tilde the ratio is not 2 but the Gaussian prediction for the dominant
    component's covariance, 1.978 -- 3 sd from 2 at this n; see docs/dps_accuracy.md.)"""
    r, sd, w2, floor = _gmm_report("near-Gaussian y", Y_UNIMODAL, device, capsys)
    assert abs(r - 2) <= 4 * sd, (r, sd)
    assert w2 <= 1.3 * floor, (w2, floor)


def test_gmm_exact_guidance_unimodal_quick(device):
    """Quick version of the above with n = 4000 and variance="exact"."""
    x, post = _gmm_run(Y_UNIMODAL, 4000, "exact", device)
    r, sd = mse_ratio(x, post.mean(), post.mmse())
    assert abs(r - 2) <= 4 * sd, (r, sd)


@pytest.mark.slow
def test_gmm_exact_guidance_bimodal_is_reported(device, capsys):
    """The bimodal y (posterior weights 0.65 / 0.35): no threshold -- reported (see
    docs/dps_accuracy.md). Only checks the run is finite and prints the numbers."""
    r, sd, w2, floor = _gmm_report("bimodal y", Y_BIMODAL, device, capsys)
    assert np.isfinite(r) and np.isfinite(w2)
