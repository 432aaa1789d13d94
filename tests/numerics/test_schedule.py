"""numerics.schedule: the float64 VP schedule against independent high-precision routes."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from numerics.schedule import linear_schedule, respace, schedule_from_alpha_bar


def _exact_one_minus_alpha_bar(beta, t):
    """1 - prod_{s<=t}(1 - beta_s) in exact rational arithmetic of the float64 betas."""
    prod = Fraction(1)
    for b in beta[1 : t + 1]:
        prod *= 1 - Fraction(float(b))
    return float(1 - prod)


@pytest.mark.parametrize("T", [10, 100, 1000])
def test_alpha_bar_is_cumulative_product(T):
    s = linear_schedule(T)
    np.testing.assert_allclose(s.alpha_bar[1:], np.cumprod(1.0 - s.beta[1:]), rtol=1e-13)
    np.testing.assert_allclose(s.alpha, 1.0 - s.beta, rtol=0, atol=0)
    assert s.alpha_bar[0] == 1.0 and s.one_minus_alpha_bar[0] == 0.0 and s.beta[0] == 0.0


def test_one_minus_alpha_bar_full_precision_near_t1():
    s = linear_schedule(1000)
    for t in [1, 2, 3, 10, 50, 1000]:
        exact = _exact_one_minus_alpha_bar(s.beta, t)
        assert abs(s.one_minus_alpha_bar[t] - exact) <= 4e-16 * exact, t
    # The naive float32 route loses about four digits at t = 1: the reason for expm1.
    naive32 = 1 - np.cumprod((1 - s.beta[1:]).astype(np.float32))[0]
    assert abs(naive32 - s.one_minus_alpha_bar[1]) / s.one_minus_alpha_bar[1] > 1e-5


def test_linear_endpoints_and_beta_tilde():
    s = linear_schedule(1000)
    assert s.beta[1] == 1e-4 and s.beta[1000] == 0.02
    np.testing.assert_allclose(np.diff(s.beta[1:]), (0.02 - 1e-4) / 999, rtol=1e-9)
    assert s.beta_tilde[1] == 0.0
    t = np.arange(2, 1001)
    direct = s.beta[t] * (1 - s.alpha_bar[t - 1]) / (1 - s.alpha_bar[t])
    np.testing.assert_allclose(s.beta_tilde[t], direct, rtol=1e-10)
    assert np.all(s.beta_tilde[2:] < s.beta[2:])


def test_arrays_are_read_only():
    s = linear_schedule(10)
    with pytest.raises(ValueError):
        s.beta[1] = 0.5


def test_fixed_horizon_converges_like_one_over_T():
    # The VP SDE with beta(s) linear from 0.1 to 20 on s in [0, 1]: alpha_bar(1) = exp(-10.05).
    limit = math.exp(-(0.1 + 20.0) / 2)
    errs = []
    for T in [200, 400, 800, 1600]:
        s = linear_schedule(T, fixed_horizon=True)
        errs.append(abs(math.log(s.alpha_bar[T]) - math.log(limit)))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    # The error halves when T doubles (O(1/T)); the O(1/T^2) term makes the ratio approach 2
    # from above, so it must also decrease.
    assert np.all(np.abs(ratios - 2.0) < 0.1) and np.all(np.diff(ratios) < 0), ratios
    assert linear_schedule(1000, fixed_horizon=True).beta[1] == linear_schedule(1000).beta[1]
    # Without rescaling, T = 10 stops far from noise: alpha_bar_T ~ 0.90.
    assert 0.85 < linear_schedule(10).alpha_bar[10] < 0.95


@pytest.mark.parametrize("steps", [1, 10, 50, 999, 1000])
def test_respace_keeps_alpha_bar(steps):
    parent = linear_schedule(1000)
    s = respace(parent, steps)
    assert s.T == steps and s.timesteps[0] == 0 and s.timesteps[-1] == 1000
    np.testing.assert_allclose(s.alpha_bar, parent.alpha_bar[s.timesteps], rtol=1e-12)
    np.testing.assert_allclose(np.cumprod(s.alpha[1:]), s.alpha_bar[1:], rtol=1e-11)
    # beta_tilde of the respaced chain, from its own alpha_bar (DDPM's definition).
    ab = parent.alpha_bar[s.timesteps]
    np.testing.assert_allclose(
        s.beta_tilde[1:], s.beta[1:] * (1 - ab[:-1]) / (1 - ab[1:]), rtol=1e-10
    )
    if steps == 1000:
        np.testing.assert_allclose(s.beta, parent.beta, rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(T=0),
        dict(T=2.5),
        dict(T=True),
        dict(T=10, beta_start=-1e-4),
        dict(T=5, beta_end=0.5, fixed_horizon=True),
    ],
)
def test_bad_schedule_arguments(kwargs):
    with pytest.raises(ValueError, match="T|beta"):
        linear_schedule(**kwargs)


def test_bad_respace():
    with pytest.raises(ValueError, match="steps"):
        respace(linear_schedule(10), 11)
    with pytest.raises(ValueError, match="steps"):
        respace(linear_schedule(10), 0)


def _log_alpha_bar(T=5):
    return np.log(linear_schedule(T).alpha_bar)


@pytest.mark.parametrize(
    "timesteps",
    [[0, 2, 1, 3, 4, 5], [0, 1, 1, 3, 4, 5], [-1, 0, 2, 3, 4, 5], [0, 1.5, 2, 3, 4, 5]],
    ids=["non-monotone", "repeated", "negative", "fractional"],
)
def test_schedule_from_alpha_bar_refuses_bad_timesteps(timesteps):
    with pytest.raises(ValueError, match="^timesteps"):
        schedule_from_alpha_bar(_log_alpha_bar(), timesteps)


@pytest.mark.parametrize(
    "beta",
    [
        [0.0, -0.1, 0.1, 0.1, 0.1, 0.1],
        [0.0, np.nan, 0.1, 0.1, 0.1, 0.1],
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
        [0.0, 0.5, 0.5, 0.5, 0.5, 0.5],  # in (0, 1) but not the betas of log_alpha_bar
    ],
    ids=["negative", "nan", "beta0", "inconsistent"],
)
def test_schedule_from_alpha_bar_refuses_bad_beta(beta):
    with pytest.raises(ValueError, match="^beta"):
        schedule_from_alpha_bar(_log_alpha_bar(), beta=beta)


def test_schedule_from_alpha_bar_keeps_good_input_and_leaves_it_writable():
    parent = linear_schedule(5)
    ts = np.arange(6) * 2
    s = schedule_from_alpha_bar(_log_alpha_bar(), ts, beta=parent.beta.copy())
    assert s.timesteps.tolist() == ts.tolist() and np.array_equal(s.beta, parent.beta)
    ts[0] = 0  # the caller's array is not frozen by the schedule
    assert not s.timesteps.flags.writeable


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(beta_start=0.02, beta_end=1e-4), "beta_start"),
        (dict(fixed_horizon="yes"), "fixed_horizon"),
        (dict(fixed_horizon=1), "fixed_horizon"),
        (dict(beta_start=1e-4 + 0j), "beta_start"),
        (dict(beta_end=float("nan")), "beta_end"),
    ],
)
def test_linear_schedule_refuses_decreasing_ramp_and_non_boolean_flags(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        linear_schedule(10, **kwargs)
