"""The discrepancy rule for ζ(η) (diffusion.experiments.restore.zeta).

* The bisection in log ζ finds the root of a known decreasing function to its stated
  resolution, and treats a divergence as "ζ too large".
* The targets: at η = 1 the residual of a posterior sample is m σ_y² for any prior; checked
  here by Monte Carlo on a Gaussian (n = 20000 draws of (x, y) from the joint, relative sd
  sqrt(2/(m n)) = 0.007, tolerance 4 sd).
* On a Gaussian prior (d = 4, m = 2, σ_y = 0.1, covariance-aware guidance, 40 steps, 64
  measurements × 4 samples per calibration run) the calibrated ζ(η) meets the target residual
  of every η on its calibration chains within 5 %, with 10 bisection steps (a last bracket of
  a factor 1.014 in ζ; with restore's 7 steps, a factor 1.11, η = 0 missed by 7.7 %: the
  residual is steep in ζ there). The chosen ζ were 0.77, 0.81, 0.82 at η = 0, 0.5, 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion.experiments.restore.zeta import (
    bisect_log_zeta,
    discrepancy_targets,
    discrepancy_zeta,
)
from diffusion.guidance import CovarianceAwareGuidance
from diffusion.operators import DenseOperator
from diffusion.priors.analytic import GaussianPrior
from diffusion.sampler import DivergenceError, sample
from numerics.gaussian import linear_gaussian_posterior
from tests.diffusion._helpers import SCHED, gen
from tests.strategies import random_spd


def test_bisection_finds_a_known_root_and_backs_off_divergence():
    z, hist = bisect_log_zeta(lambda z: 3.0 / z**2, 0.75, bracket=(1e-3, 1e3), iters=20)
    assert abs(math.log(z / 2.0)) <= math.log(1e6) / 2**20 * 2, z
    assert len(hist) == 20
    # residual decreasing until ζ = 5, where the chains diverge: the answer stays below 5
    z, hist = bisect_log_zeta(
        lambda z: math.inf if z > 5 else 10.0 / z, 1.0, bracket=(1e-2, 1e2), iters=12
    )
    assert z <= 5 and all(math.isinf(r) for zz, r in hist if zz > 5)


def test_bisection_stays_on_the_falling_branch_of_an_overshooting_residual():
    """r(ζ) = 2/ζ + (ζ/10)⁴ falls to a minimum near ζ = 6.8 and then grows (overshoot); the
    root of r = 0.5 on the falling branch is ζ* = 4.29 (brentq); a bisection that believed
    r decreasing everywhere would run to the bracket's top."""
    from scipy.optimize import brentq

    def r(z):
        return 2.0 / z + (z / 10.0) ** 4

    root = brentq(lambda z: r(z) - 0.5, 1.0, 6.0)
    z, _ = bisect_log_zeta(r, 0.5, bracket=(1e-3, 1e3), iters=20)
    assert abs(math.log(z / root)) <= 1e-4, (z, root)
    # unreachable target (below the minimum 0.37): it closes in on the minimum instead
    z, _ = bisect_log_zeta(r, 0.1, bracket=(1e-3, 1e3), iters=30)
    zmin = (2.0 * 10.0**4 / 4.0) ** 0.2
    assert abs(math.log(z / zmin)) <= 0.05, (z, zmin)


def test_targets():
    t = discrepancy_targets([0.0, 0.25, 1.0], 2.0, 1.0)
    assert t == {0.0: 1.0, 0.25: 1.25, 1.0: 2.0}
    # a spread larger than m σ² is clipped so every target stays positive
    assert discrepancy_targets([0.0], 1.0, 5.0)[0.0] == pytest.approx(0.01)


def test_posterior_sample_residual_is_m_sigma2_for_a_gaussian():
    rng = np.random.default_rng(0)
    d, m, s, n = 4, 2, 0.1, 20000
    P = random_spd(rng, d, cond=10.0)
    A = rng.normal(size=(m, d))
    x = rng.multivariate_normal(np.zeros(d), P, size=n)
    y = x @ A.T + s * rng.normal(size=(n, m))
    _, Sp = linear_gaussian_posterior(np.zeros(d), P, A, s, y[0])  # S does not depend on y
    gain = P @ A.T @ np.linalg.inv(A @ P @ A.T + s**2 * np.eye(m))  # posterior mean = gain y
    xs = y @ gain.T + rng.multivariate_normal(np.zeros(d), Sp, size=n)
    res = np.sum((y - xs @ A.T) ** 2, axis=1)
    assert abs(np.mean(res) / (m * s**2) - 1) <= 4 * math.sqrt(2 / (m * n))


def test_discrepancy_rule_hits_its_target_on_a_gaussian_case():
    rng = np.random.default_rng(1)
    d, m, s, n_y, M = 4, 2, 0.1, 64, 4
    P = random_spd(rng, d, cond=10.0)
    mu = 0.3 * rng.normal(size=d)
    A = rng.normal(size=(m, d))
    xs = rng.multivariate_normal(mu, P, size=n_y)
    ys = xs @ A.T + s * rng.normal(size=(n_y, m))
    prior = GaussianPrior(mu, P, SCHED)
    op = DenseOperator(A)
    y_rep = torch.as_tensor(np.repeat(ys, M, axis=0))

    def residual(eta, zeta):
        g = CovarianceAwareGuidance(op, y_rep, s, n_cg=m, zeta=zeta)
        try:
            x = sample(prior, (n_y * M, d), SCHED, eta=eta, guidance=g, steps=40,
                       generator=gen(2), dtype=torch.float64)  # fmt: skip
        except DivergenceError:
            return math.inf, math.nan
        Ax = (x.numpy() @ A.T).reshape(n_y, M, m)
        r = float(np.mean(np.sum((ys[:, None, :] - Ax) ** 2, axis=2)))
        spread = float(np.mean([np.trace(np.cov(a, rowvar=False)) for a in Ax]))
        return r, spread

    etas = (0.0, 0.5, 1.0)
    table, rep = discrepancy_zeta(residual, etas, m * s**2, iters=10)
    for eta in etas:
        got, _ = residual(eta, table[eta])
        target = rep["targets"][str(eta)]
        assert abs(got / target - 1.0) <= 0.05, (eta, table[eta], got, target, rep["history"])
    assert 0 < rep["spread"] < m * s**2
