"""diffusion.schedule: the torch schedule equals numerics', and the step-mean coefficients
equal the score form of the reverse mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.schedule import TorchSchedule, append_dims, as_torch_schedule
from numerics.schedule import linear_schedule, respace


def test_tensors_equal_numpy_schedule():
    s = respace(linear_schedule(1000), 37)
    ts = TorchSchedule(s)
    for name in ("beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "beta_tilde"):
        t = getattr(ts, name)
        assert t.dtype == torch.float64
        np.testing.assert_array_equal(t.numpy(), getattr(s, name))
    np.testing.assert_array_equal(ts.timesteps.numpy(), s.timesteps)
    assert ts.T == 37 and as_torch_schedule(ts) is ts and as_torch_schedule(s).T == 37


def test_gather_casts_to_like(device):
    ts = TorchSchedule(linear_schedule(1000))
    like = torch.zeros(3, dtype=torch.float32, device=device)
    v = ts.gather("one_minus_alpha_bar", torch.tensor([1, 2, 1000]), like)
    assert v.dtype == torch.float32 and v.device.type == device
    expect = linear_schedule(1000).one_minus_alpha_bar[[1, 2, 1000]]
    np.testing.assert_allclose(v.cpu().numpy(), expect, rtol=1e-7)
    with pytest.raises(ValueError, match="t: expected time indices"):
        ts.gather("beta", torch.tensor([1001]), like)
    with pytest.raises(ValueError, match="name"):
        ts.gather("sigma", torch.tensor([1]), like)


@pytest.mark.parametrize("steps", [1000, 50, 3])
def test_step_coefficients_equal_score_form(steps, rng):
    """c0 x0 + cx x == (x + beta s)/sqrt(alpha) with s = (sqrt(ab) x0 - x)/(1 - ab)."""
    s = respace(linear_schedule(1000), steps)
    ts = TorchSchedule(s)
    x, x0 = rng.normal(size=5), rng.normal(size=5)
    for k in (1, 2, s.T // 2 + 1, s.T):
        st = ts.step(k)
        ab, omab = s.alpha_bar[k], s.one_minus_alpha_bar[k]
        score = (np.sqrt(ab) * x0 - x) / omab
        ref = (x + s.beta[k] * score) / np.sqrt(s.alpha[k])
        np.testing.assert_allclose(st.c0 * x0 + st.cx * x, ref, rtol=1e-12, atol=1e-12)
        assert st.t_model == s.timesteps[k] and st.beta_tilde == s.beta_tilde[k]
    with pytest.raises(ValueError, match="k: expected"):
        ts.step(0)


def test_append_dims():
    v = torch.arange(3.0)
    assert append_dims(v, 4).shape == (3, 1, 1, 1)
    assert append_dims(v, 1).shape == (3,)
    with pytest.raises(ValueError):
        append_dims(torch.zeros(2, 2), 1)


def test_rejects_non_schedule():
    with pytest.raises(ValueError, match="schedule"):
        TorchSchedule(np.linspace(0, 1, 10))
