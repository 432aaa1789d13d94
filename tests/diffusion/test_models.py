"""diffusion.models: adapters turn eps-, x0- and score-networks into the same denoiser;
the model boundary rejects wrong shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.models import (
    EpsilonAdapter,
    ScoreAdapter,
    X0Adapter,
    call_denoiser,
    check_time,
    eps_from_denoiser,
    score_from_denoiser,
)
from diffusion.priors.analytic import GaussianPrior
from tests.diffusion._helpers import SCHED, one_thread  # noqa: F401


@pytest.fixture
def prior(rng):
    from tests.strategies import random_spd

    return GaussianPrior(rng.normal(size=3), random_spd(rng, 3, cond=20.0), SCHED)


def _closed_form(prior, x, t):
    """Gaussian Tweedie m + sqrt(ab) S Sigma_t^{-1} (x - sqrt(ab) m), numpy float64."""
    ab, omab = SCHED.alpha_bar[t], SCHED.one_minus_alpha_bar[t]
    m, S = prior.loc, prior.cov
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        Sig = ab[i] * S + omab[i] * np.eye(3)
        out[i] = m + np.sqrt(ab[i]) * S @ np.linalg.solve(Sig, x[i] - np.sqrt(ab[i]) * m)
    return out


@pytest.mark.parametrize("Adapter", [EpsilonAdapter, X0Adapter, ScoreAdapter])
def test_adapters_recover_the_denoiser(Adapter, prior, rng, device):
    """A network outputting the prior's exact eps / x0 / score gives back the exact x0."""
    x = torch.tensor(rng.normal(size=(6, 3)), device=device)
    t = torch.tensor([1, 2, 10, 300, 999, 1000], device=device)
    kind = {EpsilonAdapter: "eps", X0Adapter: "x0", ScoreAdapter: "score"}[Adapter]

    def net(x_t, tt):
        x0 = prior(x_t, tt)
        if kind == "eps":
            return eps_from_denoiser(x0, x_t, tt, SCHED)
        if kind == "score":
            return score_from_denoiser(x0, x_t, tt, SCHED)
        return x0

    got = Adapter(net, SCHED)(x, t)
    ref = _closed_form(prior, x.cpu().numpy(), t.cpu().numpy())
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-9, atol=1e-9)


def test_score_from_denoiser_matches_gaussian_score(prior, rng):
    x = rng.normal(size=(4, 3))
    t = np.array([1, 5, 500, 1000])
    s = prior.score(torch.tensor(x), torch.tensor(t)).numpy()
    for i in range(4):
        ab, omab = SCHED.alpha_bar[t[i]], SCHED.one_minus_alpha_bar[t[i]]
        Sig = ab * prior.cov + omab * np.eye(3)
        ref = -np.linalg.solve(Sig, x[i] - np.sqrt(ab) * prior.loc)
        np.testing.assert_allclose(s[i], ref, rtol=1e-9, atol=1e-9)


def test_clip():
    den = X0Adapter(lambda x, t: 3 * x, SCHED, clip=(-1, 1))
    out = den(torch.tensor([[0.1, 2.0]]), torch.tensor([5]))
    assert out.tolist() == [[pytest.approx(0.3), 1.0]]
    with pytest.raises(ValueError, match="clip"):
        X0Adapter(lambda x, t: x, SCHED, clip=(1, -1))


def test_wrong_output_shape_is_a_value_error():
    bad = EpsilonAdapter(lambda x, t: x[:, :1], SCHED)
    with pytest.raises(ValueError, match=r"returned shape \[2, 1\] for input shape \[2, 3\]"):
        bad(torch.zeros(2, 3), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="model: returned shape"):
        call_denoiser(lambda x, t: x.sum(1), torch.zeros(2, 3), 5)
    with pytest.raises(ValueError, match="expected a tensor"):
        call_denoiser(lambda x, t: 1.0, torch.zeros(2, 3), 5)
    with pytest.raises(ValueError, match="net"):
        EpsilonAdapter("not callable", SCHED)


def test_check_time():
    x = torch.zeros(3, 2)
    assert check_time(7, x).tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="integer"):
        check_time(torch.tensor([0.5, 1.0, 2.0]), x)
    with pytest.raises(ValueError, match="one time index per sample"):
        check_time(torch.tensor([1, 2]), x)


def test_check_time_refuses_indices_outside_the_schedule():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="t: expected time indices >= 0"):
        check_time(torch.tensor([-1, 2]), x)
    with pytest.raises(ValueError, match=r"T = 5\)"):
        check_time(6, x, T=5)
    assert check_time(5, x, T=5).tolist() == [5, 5]
