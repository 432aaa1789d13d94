"""numerics.dp: the DP function against Gaussian end points computed by independent routes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numerics.dp import (
    dp_function,
    eta_for_perception,
    gaussian_eta_curve,
    shrink,
    shrink_factor_for_perception,
)
from numerics.gaussian import bures_w2, eta_chain_moments
from numerics.schedule import linear_schedule
from tests.strategies import random_spd, seeds

SCHED = linear_schedule(100)


def test_dp_function_reference_values():
    # D(0) = 2 MMSE, D(sqrt MMSE) = MMSE, flat beyond.
    assert dp_function(3.0, 0.0) == pytest.approx(6.0)
    assert dp_function(4.0, 2.0) == pytest.approx(4.0)
    assert dp_function(4.0, 7.0) == pytest.approx(4.0)
    assert dp_function(4.0, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(dp_function(1.0, np.array([0.0, 0.5])), [2.0, 1.25])


@given(seed=seeds, d=st.integers(1, 5), eta=st.floats(0.0, 1.0))
def test_gaussian_eta_curve_lies_on_dp_function(seed, d, eta):
    """MSE and Bures W2 of the exact chain end point N(m, eta S) trace D(P)."""
    rng = np.random.default_rng(seed)
    S = random_spd(rng, d, cond=100.0)
    m = rng.normal(size=d)
    mean, cov = eta_chain_moments(m, S, eta, SCHED, start="exact", variance="exact")
    trS = np.trace(S)
    mse_ref = trS + np.trace(cov) + np.sum((mean - m) ** 2)
    w2_ref = bures_w2(mean, cov, m, S)
    mse, w2 = gaussian_eta_curve(trS, eta)
    assert mse == pytest.approx(mse_ref, rel=1e-9)
    assert w2 == pytest.approx(w2_ref, rel=1e-6, abs=1e-6)
    assert dp_function(trS, w2) == pytest.approx(mse, rel=1e-9)
    assert eta_for_perception(trS, w2) == pytest.approx(eta, abs=1e-9)


@given(seed=seeds, d=st.integers(1, 4), c=st.floats(0.0, 1.0))
def test_shrinkage_attains_dp_function(seed, d, c):
    """Shrunk Gaussian posterior law N(m, c^2 S): W2 and MSE by Bures route sit on D(P)."""
    rng = np.random.default_rng(seed)
    S = random_spd(rng, d, cond=100.0)
    m = rng.normal(size=d)
    w2 = bures_w2(m, c**2 * S, m, S)
    mse = (1 + c**2) * np.trace(S)
    assert dp_function(np.trace(S), w2) == pytest.approx(mse, rel=1e-6)
    assert shrink_factor_for_perception(np.trace(S), w2) == pytest.approx(c, abs=1e-6)


def test_shrink_samples(rng):
    x = rng.normal(size=(5, 3))
    m = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(shrink(x, m, 0.0), np.broadcast_to(m, x.shape))
    np.testing.assert_allclose(shrink(x, m, 1.0), x)
    c = np.linspace(0, 1, 5)
    np.testing.assert_allclose(shrink(x, m, c)[2], m + 0.5 * (x[2] - m))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dp_function(0.0, 1.0), "mmse"),
        (lambda: dp_function(1.0, -0.1), "P"),
        (lambda: gaussian_eta_curve(1.0, 1.2), "eta"),
        (lambda: shrink(np.zeros((3, 2)), np.zeros(3), 0.5), "mean"),
        (lambda: shrink(np.zeros((3, 2)), np.zeros(2), 2.0), "c"),
    ],
)
def test_dp_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
