"""The divergence check without a per-step host synchronisation (``check_every > 1``, the
default off the CPU): same samples when nothing diverges, and the same error (step, count,
max |x|, message) as the per-step check of :func:`~diffusion.sampler.check_divergence`
when something does. Run on the CPU, where the per-step route is the independent reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.divergence import DivergenceWatch
from diffusion.guidance import DPSGuidance
from diffusion.models import Denoiser
from diffusion.operators import Identity
from diffusion.priors.analytic import GaussianPrior
from diffusion.sampler import DivergenceError, sample
from tests.diffusion._helpers import SCHED, gen


def _dps_blowup(check_every):
    """DPS in the likelihood form at sigma_y = 0.01 with zeta = 1 blows up (test_sampler)."""
    prior = GaussianPrior([0.0, 0.0], np.eye(2), SCHED)
    g = DPSGuidance(Identity(2), torch.tensor([0.5, -0.5]), 1.0, form="likelihood", sigma_y=0.01)
    with pytest.raises(DivergenceError) as err:
        sample(prior, (4, 2), SCHED, eta=1.0, guidance=g, generator=gen(0), check_every=check_every)
    return err.value


@pytest.mark.parametrize("every", [2, 7, 25, 1000])
def test_deferred_check_reports_the_step_of_the_per_step_check(every):
    ref = _dps_blowup(1)
    got = _dps_blowup(every)
    assert str(got) == str(ref)
    assert (got.k, got.t_model, got.n_bad) == (ref.k, ref.t_model, ref.n_bad)
    assert ref.k < 1000  # the blow-up is mid-chain, so the window matters


def test_deferred_check_returns_the_same_samples():
    prior = GaussianPrior([1.0, -1.0], [[0.5, 0.0], [0.0, 0.2]], SCHED)
    a = sample(prior, (6, 2), SCHED, eta=0.5, steps=40, generator=gen(3))
    b = sample(prior, (6, 2), SCHED, eta=0.5, steps=40, generator=gen(3), check_every=9)
    assert torch.equal(a, b)


class _InfThenFail(Denoiser):
    """x0_hat = Inf at the first step; any later call on a non-finite state raises."""

    def denoise(self, x_t, t):
        if not bool(torch.isfinite(x_t).all()):
            raise RuntimeError("model: non-finite input")
        return torch.full_like(x_t, float("inf"))


def test_a_step_failing_on_a_blown_up_state_reports_the_divergence_first():
    """The window hides the bad state from the per-step check; the model then fails on it.
    The error is still the divergence at the first step, as a per-step check gives."""
    with pytest.raises(DivergenceError) as ref:
        sample(_InfThenFail(SCHED), (3, 2), SCHED, eta=0.0, steps=5, max_abs=None, generator=gen(0))
    with pytest.raises(DivergenceError) as got:
        sample(_InfThenFail(SCHED), (3, 2), SCHED, eta=0.0, steps=5, max_abs=None,
               generator=gen(0), check_every=4)  # fmt: skip
    assert str(got.value) == str(ref.value) and got.value.k == 5
    assert "non-finite values in 3 of 3 samples" in str(got.value)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_check_every_must_be_a_positive_integer(bad):
    prior = GaussianPrior([0.0], [[1.0]], SCHED)
    with pytest.raises(ValueError, match="check_every"):
        sample(prior, (2, 1), SCHED, eta=0.5, steps=3, check_every=bad)


def test_watch_finds_the_first_bad_step_and_then_forgets():
    w = DivergenceWatch(4, 2, 5.0)
    w.record(torch.tensor([[1.0], [2.0]]), k=4, t_model=999)
    w.record(torch.tensor([[9.0], [1.0]]), k=3, t_model=700)
    w.record(torch.tensor([[float("nan")], [1.0]]), k=2, t_model=400)
    with pytest.raises(DivergenceError, match=r"k=3 \(model time t=700\): \|x\| > 5 in 1 of 2"):
        w.check()
    w.check()  # nothing pending any more
    with pytest.raises(ValueError, match="k:"):
        w.record(torch.zeros(2, 1), k=5, t_model=0)
