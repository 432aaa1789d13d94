"""The Steihaug-truncated CG of the covariance-aware guidance (diffusion.guidance_gaussian).

* On symmetric systems with M ⪰ σ² I (what a PSD covariance gives) it is plain CG: the
  iterates equal a textbook Hestenes-Stiefel CG written here in numpy, at every k, float64,
  and no truncation is reported; on a Gaussian prior the guidance never truncates.
* On a non-symmetric, indefinite system (a linear "denoiser" x̂0 = K x whose Jacobian K is not
  symmetric PSD, the situation measured on the digit network in docs/guidance.md) plain CG's
  iterate leaves the ball ‖u‖ ≤ ‖r‖/σ² (checked here with the numpy CG: a precondition that
  can fail), while the guidance's solve stays inside it and reports the truncation. Without
  the safeguard (plain CG in the guidance) this test fails.
* The curvature stop: a first direction with pᵀMp < σ² pᵀp returns u = 0.
"""

from __future__ import annotations

import numpy as np
import torch

from diffusion.guidance import CovarianceAwareGuidance
from diffusion.guidance_gaussian import _truncated_cg
from diffusion.operators import DenseOperator
from diffusion.priors.analytic import GaussianPrior
from tests.diffusion._helpers import SCHED
from tests.strategies import random_spd

AB = SCHED.alpha_bar


def _plain_cg(M, b, k):
    """k iterations of textbook CG for M u = b from u = 0 (numpy, no safeguards), or fewer
    if the residual vanishes."""
    u, r = np.zeros_like(b), b.copy()
    p, rs = r.copy(), r @ r
    for _ in range(k):
        if rs == 0.0:
            break
        Mp = M @ p
        alpha = rs / (p @ Mp)
        u, r = u + alpha * p, r - alpha * Mp
        rs, rs_old = r @ r, rs
        p = r + (rs / rs_old) * p
    return u


def _solve(M, b, k, floor):
    Mt = torch.as_tensor(M)
    u, trunc = _truncated_cg(lambda v: v @ Mt.T, torch.as_tensor(b), max_iter=k, floor=floor)
    return u.numpy(), trunc.numpy()


def test_truncated_cg_is_plain_cg_on_a_system_above_the_floor():
    rng = np.random.default_rng(0)
    m, s2 = 7, 0.05**2
    P = random_spd(rng, m, cond=50.0)
    M = s2 * np.eye(m) + P  # symmetric, ⪰ σ² I
    b = rng.normal(size=(3, m))
    for k in range(1, m + 1):
        u, trunc = _solve(M, b, k, s2)
        want = np.array([_plain_cg(M, bi, k) for bi in b])
        assert not trunc.any(), k
        assert np.abs(u - want).max() <= 1e-10 * np.abs(want).max(), (k, u, want)
    assert np.abs(u - np.linalg.solve(M, b.T).T).max() <= 1e-8 * np.abs(u).max()


def test_curvature_stop_keeps_the_last_iterate():
    s2 = 0.01
    M = np.diag([-1.0, 2.0])  # p = b = e1 has pᵀMp = -1 < σ²
    u, trunc = _solve(M, np.array([[1.0, 0.0], [0.0, 1.0]]), 2, s2)
    assert trunc.tolist() == [True, False]
    np.testing.assert_array_equal(u[0], [0.0, 0.0])
    np.testing.assert_allclose(u[1], [0.0, 0.5], rtol=1e-12)


def test_guidance_with_a_nonsymmetric_indefinite_jacobian_does_not_blow_up():
    d, s, t = 6, 0.05, 600
    a = AB[t]
    c = (1 - a) / np.sqrt(a)
    rng = np.random.default_rng(0)
    W = rng.normal(size=(d, d)) * 0.01
    r = rng.normal(size=d)
    K = 100.0 / c * W  # the stub's Jacobian: M = σ² I + c Kᵀ = σ² I + 100 Wᵀ (A = I)
    M = s**2 * np.eye(d) + c * K.T
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() < 0  # indefinite, as on the network
    bound = np.linalg.norm(r) / s**2
    plain = _plain_cg(M, r, d)
    assert np.linalg.norm(plain) > 10 * bound  # plain CG blows up here (precondition)

    Kt = torch.as_tensor(K)

    def model(x, t_):  # x̂0 = K x, Jacobian K (not symmetric, not PSD)
        return x @ Kt.T

    x = rng.normal(size=(1, d))
    y = r + x @ K.T  # so that y − A x̂0 = r
    g = CovarianceAwareGuidance(DenseOperator(np.eye(d)), y, s, n_cg=d)
    _, score = g.measurement_score(torch.as_tensor(x), torch.tensor([t]), model, a)
    u = np.linalg.solve(K, score.numpy()[0])  # score = Kᵀ Aᵀ u, row form u @ K
    assert np.linalg.norm(u) <= bound * (1 + 1e-12), (np.linalg.norm(u), bound)
    assert g.cg_solves == 1 and g.cg_truncations == 1


def test_guidance_on_a_gaussian_prior_never_truncates():
    rng = np.random.default_rng(3)
    d, m, s = 5, 3, 0.05
    P = random_spd(rng, d, cond=30.0)
    A = rng.normal(size=(m, d)) / np.sqrt(d)
    prior = GaussianPrior(np.zeros(d), P, SCHED)
    g = CovarianceAwareGuidance(DenseOperator(A), rng.normal(size=m), s, n_cg=m)
    for t in (1, 50, 300, 700, 1000):
        x = torch.as_tensor(rng.normal(size=(4, d)))
        g.measurement_score(x, torch.full((4,), t), prior, AB[t])
    assert g.cg_solves == 20 and g.cg_truncations == 0
