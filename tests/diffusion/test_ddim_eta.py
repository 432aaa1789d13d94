r"""DDIM's η is not this project's η (docs/guidance.md, "The η of DDIM is not this η").

On an exact Gaussian posterior N(m, S) (d = 3, the exact conditional score, T = 1000, x_T ~
N(0, I)):

* DDIM (Song, Meng, Ermon 2021, eq. 12) with η_DDIM = 0 — the marginal-preserving knob of
  DDIM / k-diffusion / DDRM / deepinv — is the deterministic probability-flow map; it still
  ends at a posterior *sample* in law: MSE/MMSE = 1 + E‖x − m‖²/tr S ≈ 2.
* This project's η = 0 (the reverse-step covariance scaled by η) ends at the MMSE estimate:
  MSE/MMSE ≈ 1.

Sample size n = 4000. The estimate r = 1 + mean‖x − m‖²/tr S has sd sqrt(2 tr(S²)/n)/tr S
≤ sqrt(2/n) = 0.022 for Gaussian end points; the DDIM check is against the exact end-point
prediction of the same discretisation (a per-eigendirection scalar recursion in numpy), within
4 sd, and that prediction is within 0.01 of 2. The project's η = 0 chain is deterministic up to
the factor √ᾱ_T of its start: r − 1 ≤ 1e-3.
"""

from __future__ import annotations

import numpy as np
import torch

from diffusion.guidance import ExactGuidance
from diffusion.priors.analytic import GaussianPrior
from diffusion.sampler import sample
from numerics.gaussian import linear_gaussian_posterior
from tests.diffusion._helpers import SCHED, gen
from tests.strategies import random_spd


def ddim_step(x0_hat, x_t, ab_t: float, ab_prev: float, eta_ddim: float, z):
    r"""One DDIM update (Song et al. 2021, eq. 12) from x_t to x_{t-1}:

    .. math::

        x_{t-1} = \sqrt{\bar\alpha_{t-1}}\hat x_0 + \sqrt{1-\bar\alpha_{t-1}-\sigma_t^2}\,\hat\epsilon
        + \sigma_t z, \quad \hat\epsilon = \frac{x_t - \sqrt{\bar\alpha_t}\hat x_0}{\sqrt{1-\bar\alpha_t}},
        \quad \sigma_t = \eta_{\rm DDIM}\sqrt{\frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}
        \Big(1-\frac{\bar\alpha_t}{\bar\alpha_{t-1}}\Big)}.

    Every η_DDIM keeps the marginals of x_t (exactly with the exact score); η_DDIM = 1 is
    DDPM's ancestral step, η_DDIM = 0 the deterministic probability-flow-like map."""
    eps = (x_t - ab_t**0.5 * x0_hat) / (1.0 - ab_t) ** 0.5
    sig2 = eta_ddim**2 * (1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev)
    return ab_prev**0.5 * x0_hat + (1.0 - ab_prev - sig2) ** 0.5 * eps + sig2**0.5 * z


def _posterior():
    rng = np.random.default_rng(3)
    P = random_spd(rng, 3, cond=10.0)
    mu = 0.5 * rng.normal(size=3)
    A = rng.normal(size=(2, 3))
    y = A @ rng.multivariate_normal(mu, P) + 0.1 * rng.normal(size=2)
    return linear_gaussian_posterior(mu, P, A, 0.1, y)


def _ddim_prediction(S, ab):
    """E‖x_0 − m‖²/tr S of DDIM η_DDIM = 0 from N(0, I), exactly for this discretisation:
    along an eigendirection of S (variance λ), with u = x_t − √ᾱ_t m, the step is
    u_{t-1} = (√ᾱ_{t-1} k_t + √(1−ᾱ_{t-1}) (1 − √ᾱ_t k_t)/√(1−ᾱ_t)) u_t, k_t = √ᾱ_t λ/Σ_t;
    the mean offset √ᾱ_T m of the start is neglected (ᾱ_T = 4e-5)."""
    lam = np.linalg.eigvalsh(S)
    gain = np.ones_like(lam)  # u_T has variance 1 along each direction (x_T ~ N(0, I))
    for t in range(len(ab) - 1, 0, -1):
        a, ap = ab[t], ab[t - 1]
        k = np.sqrt(a) * lam / (a * lam + 1.0 - a)
        gain *= np.sqrt(ap) * k + np.sqrt(1.0 - ap) * (1.0 - np.sqrt(a) * k) / np.sqrt(1.0 - a)
    return float(np.sum(gain**2)) / float(np.sum(lam))


def test_ddim_eta0_ends_at_a_sample_while_variance_eta0_ends_at_the_mmse():
    m, S = _posterior()
    post = GaussianPrior(m, S, SCHED)
    n, trS = 4000, float(np.trace(S))
    sd = np.sqrt(2.0 * np.trace(S @ S) / n) / trS

    # DDIM, eta_DDIM = 0, the exact score of the posterior, all 1000 steps
    ab = np.concatenate([[1.0], SCHED.alpha_bar[1:]])  # ab[0] = 1: x_0 itself
    x = torch.randn(n, 3, generator=gen(5), dtype=torch.float64)
    for t in range(SCHED.T, 0, -1):
        x0 = post(x, torch.full((n,), t, dtype=torch.long))
        x = ddim_step(x0, x, float(ab[t]), float(ab[t - 1]), 0.0, 0.0)
    r_ddim = 1.0 + float(np.mean(np.sum((x.numpy() - m) ** 2, axis=1))) / trS
    pred = 1.0 + _ddim_prediction(S, ab)
    assert abs(pred - 2.0) <= 0.01, pred
    assert abs(r_ddim - pred) <= 4 * sd, (r_ddim, pred, sd)

    # this project's eta = 0: the reverse-step covariance scaled to 0
    xs = sample(None, (n, 3), SCHED, eta=0.0, guidance=ExactGuidance(post),
                generator=gen(5), dtype=torch.float64)  # fmt: skip
    r_ours = 1.0 + float(np.mean(np.sum((xs.numpy() - m) ** 2, axis=1))) / trS
    assert 1.0 <= r_ours <= 1.0 + 1e-3, r_ours
