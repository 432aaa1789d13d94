"""diffusion.guidance: zeta specifications, the exact-guidance step mean, and DPS gradients
against closed forms for a Gaussian prior and a dense operator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.guidance import ZETA_PRESETS, DPSGuidance, ExactGuidance, zeta_function
from diffusion.operators import DenseOperator, Identity
from diffusion.priors.analytic import GaussianPrior
from diffusion.schedule import TorchSchedule
from tests.diffusion._helpers import (  # noqa: F401  (one_thread: autouse)
    SCHED,
    joint_conditional_score,
    one_thread,
    paper_gmm,
    paper_prior,
)
from tests.strategies import random_spd

TS = TorchSchedule(SCHED)


def test_zeta_specifications():
    eta = np.array([0.0, 0.05, 0.5, 1.0])
    assert zeta_function(2.5)(eta).tolist() == [2.5] * 4
    assert zeta_function(lambda e: 1 + e)(eta).tolist() == [1.0, 1.05, 1.5, 2.0]
    table = zeta_function({1.0: 3.0, 0.0: 1.0})  # order of keys does not matter
    assert table(eta).tolist() == [1.0, 1.1, 2.0, 3.0]
    # presets: the paper's tables at eta = 0, 0.1, ..., 1 (Appendix E)
    assert zeta_function("paper_table2")(np.array([0.0, 1.0])).tolist() == [33.0, 6.5]
    assert sorted(ZETA_PRESETS) == ["paper_table1", "paper_table2", "paper_table3"]
    assert all(len(v) == 11 for v in ZETA_PRESETS.values())
    for bad in (-1.0, float("nan"), "paper_table9", {}, {0.0: -1.0}, True, "x"):
        with pytest.raises(ValueError, match="zeta"):
            zeta_function(bad)
    with pytest.raises(ValueError, match="zeta"):
        zeta_function(lambda e: -1.0)(eta)


def test_exact_guidance_step_is_conditional_score_step(rng):
    """mean = c0 x0_hat + cx x equals (x + beta s(x|y))/sqrt(alpha), s the x-gradient of the
    joint (x_t, y) mixture density by dense solves (independent of the posterior code)."""
    gm = paper_gmm()
    A, y, sig = rng.normal(size=(1, 2)), np.array([0.7]), 0.4
    g = ExactGuidance.from_prior(paper_prior(), A, sig, y)
    x = rng.normal(size=(5, 2))
    for k in (1, 2, 400, 1000):
        st = TS.step(k)
        x0, delta = g(torch.tensor(x), st, torch.full((5,), k), model=None)
        assert delta is None
        mean = st.c0 * x0.numpy() + st.cx * x
        s = joint_conditional_score(gm, A, sig, y, x, k, SCHED)
        ref = (x + SCHED.beta[k] * s) / np.sqrt(SCHED.alpha[k])
        np.testing.assert_allclose(mean, ref, rtol=1e-10, atol=1e-12)


def _gaussian_setup(rng, d=3, m=2):
    S = random_spd(rng, d, cond=20.0)
    mu = rng.normal(size=d)
    A = rng.normal(size=(m, d))
    prior = GaussianPrior(mu, S, SCHED)
    return prior, S, mu, A


@pytest.mark.parametrize("form", ["likelihood", "reference"])
def test_dps_gradient_closed_form(form, rng, device):
    """delta = -zeta J^T A^T r / sigma^2 (likelihood) or -zeta J^T A^T r/||r|| (reference),
    J = sqrt(ab) S Sigma_t^{-1} the Jacobian of the Gaussian Tweedie mean."""
    prior, S, mu, A = _gaussian_setup(rng)
    y = rng.normal(size=2)
    sig, k = 0.3, 600
    eta = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64, device=device)
    zeta = {0.0: 2.0, 1.0: 4.0}
    g = DPSGuidance(DenseOperator(A), torch.tensor(y), zeta, form=form, sigma_y=sig)
    x = rng.normal(size=(3, 3))
    xt = torch.tensor(x, device=device)
    g.prepare(xt, eta)
    x0, delta = g(xt, TS.step(k), torch.full((3,), k, device=device), prior)
    ab, omab = SCHED.alpha_bar[k], SCHED.one_minus_alpha_bar[k]
    J = np.sqrt(ab) * S @ np.linalg.inv(ab * S + omab * np.eye(3))
    for b, zb in enumerate([2.0, 3.0, 4.0]):
        x0_ref = mu + J @ (x[b] - np.sqrt(ab) * mu)
        r = y - A @ x0_ref
        grad = -(J.T @ A.T @ r) / (sig**2 if form == "likelihood" else np.linalg.norm(r))
        np.testing.assert_allclose(x0[b].cpu().numpy(), x0_ref, rtol=1e-10)
        np.testing.assert_allclose(delta[b].cpu().numpy(), -zb * grad, rtol=1e-9, atol=1e-12)
    assert not x0.requires_grad and not delta.requires_grad


def test_dps_scale_by_beta_and_per_sample_y(rng):
    prior, S, mu, A = _gaussian_setup(rng)
    ys = torch.tensor(rng.normal(size=(2, 2)))
    x = torch.tensor(rng.normal(size=(2, 3)))
    st, t = TS.step(900), torch.full((2,), 900)
    eta = torch.zeros(2, dtype=torch.float64)
    plain = DPSGuidance(DenseOperator(A), ys, 1.0, form="likelihood", sigma_y=0.2)
    scaled = DPSGuidance(
        DenseOperator(A), ys, 1.0, form="likelihood", sigma_y=0.2, scale_by_beta=True
    )
    single = DPSGuidance(DenseOperator(A), ys[1], 1.0, form="likelihood", sigma_y=0.2)
    for g in (plain, scaled, single):
        g.prepare(x, eta)
    d_plain = plain(x, st, t, prior)[1]
    d_scaled = scaled(x, st, t, prior)[1]
    torch.testing.assert_close(d_scaled, d_plain * SCHED.beta[900] / np.sqrt(SCHED.alpha[900]))
    # per-sample y: sample 1 sees ys[1] exactly as a run with the single measurement ys[1]
    torch.testing.assert_close(d_plain[1], single(x, st, t, prior)[1][1])


def test_dps_bad_input():
    op = Identity(3)
    with pytest.raises(ValueError, match=r"y: expected shape \[3\]"):
        DPSGuidance(op, torch.zeros(4), 1.0, sigma_y=0.1)
    with pytest.raises(ValueError, match="NaN"):
        DPSGuidance(op, torch.tensor([0.0, float("nan"), 0.0]), 1.0, sigma_y=0.1)
    with pytest.raises(ValueError, match="sigma_y"):
        DPSGuidance(op, torch.zeros(3), 1.0, form="likelihood")  # needs sigma_y
    with pytest.raises(ValueError, match="sigma_y"):
        DPSGuidance(op, torch.zeros(3), 1.0, sigma_y=0.0)
    with pytest.raises(ValueError, match="form"):
        DPSGuidance(op, torch.zeros(3), 1.0, form="squared", sigma_y=0.1)
    with pytest.raises(ValueError, match="operator"):
        DPSGuidance(np.eye(3), torch.zeros(3), 1.0, sigma_y=0.1)
    g = DPSGuidance(op, torch.zeros(3, 3), 1.0, form="reference")
    with pytest.raises(ValueError, match="3 measurements for a batch of 2"):
        g.prepare(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="does not match the operator"):
        g.prepare(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="posterior"):
        ExactGuidance(object())


@pytest.mark.parametrize(
    "eta",
    [
        torch.tensor([0.5, float("nan")], dtype=torch.float64),
        torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64),
        torch.tensor([0.5, 1.5], dtype=torch.float64),
        float("inf"),
    ],
    ids=["nan", "wrong-length", "above-1", "inf-scalar"],
)
def test_dps_prepare_checks_eta(eta):
    """prepare() used to accept a NaN eta or an eta batch of the wrong length (zeta then NaN,
    or a step size for the wrong sample)."""
    g = DPSGuidance(Identity(3), torch.zeros(3), {0.0: 1.0, 1.0: 2.0}, form="reference")
    with pytest.raises(ValueError, match="eta"):
        g.prepare(torch.zeros(2, 3), eta)
    g.prepare(torch.zeros(2, 3), 0.5)  # a scalar is broadcast
    assert g._zeta_t.tolist() == [1.5, 1.5]
