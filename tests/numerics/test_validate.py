"""numerics.validate: the one place of input checks; real numbers only, one named error.

A float conversion of a complex number drops its imaginary part with only a warning, so
before these checks complex input gave a silently wrong (real) answer."""

from __future__ import annotations

import numpy as np
import pytest

from numerics.dp import dp_function
from numerics.gmm import GaussianMixture
from numerics.metrics import conditional_mse, psnr, sliced_w2
from numerics.validate import as_array, as_scalar, check_positive


@pytest.mark.parametrize(
    "value",
    [1 + 2j, [1.0 + 0j, 2.0], np.complex128(1.0), np.array([[1j]]), [1, 2j]],
    ids=["complex", "complex list", "numpy complex scalar", "complex array", "mixed list"],
)
def test_complex_is_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="^arg: expected real numbers"):
        as_array(value, "arg")


@pytest.mark.parametrize("value", ["1.5", None, [1.0, None], 10**400, [1, 10**400], {"a": 1}, b"1"])
def test_non_numbers_are_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="^arg: "):
        as_array(value, "arg")


def test_scalars():
    assert as_scalar(np.float32(0.25), "s") == 0.25 and as_scalar(np.array([3]), "s") == 3.0
    for bad in (True, "2", 1j, [1.0, 2.0], float("inf")):
        with pytest.raises(ValueError, match="^s: "):
            as_scalar(bad, "s")
    for bad in (np.complex128(2.0), 2 + 0j, "2", True, 0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="^sigma_y: "):
            check_positive(bad, "sigma_y")


def test_real_input_is_unchanged():
    x = np.array([[1.0, 2.0]])
    assert as_array(x, "x") is x  # no copy for float64 input
    np.testing.assert_array_equal(as_array([[True, False]], "x"), [[1.0, 0.0]])
    assert as_array(np.float32(0.1), "x") == np.float64(np.float32(0.1))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: GaussianMixture(np.array([1.0 + 0j]), [[0.0]], [[[1.0]]]), "weights"),
        (lambda: GaussianMixture([1.0], [[0.0]], np.array([[[1.0 + 1e-3j]]])), "covs"),
        (lambda: dp_function(np.complex128(1.0), 0.5), "mmse"),
        (lambda: conditional_mse(np.array([[1j, 0.0]]), [0.0, 0.0], 1.0), "samples"),
        (lambda: psnr(np.zeros((2, 3)) + 0j, np.zeros(3)), "x"),
        (lambda: sliced_w2(np.zeros((2, 2)) + 1j, np.zeros((2, 2)), np.eye(2)), "X"),
    ],
)
def test_public_functions_refuse_complex_input(call, name):
    with pytest.raises(ValueError, match=f"^{name}: expected real numbers"):
        call()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: psnr(np.zeros((2, 3)), np.zeros(4)), "ref"),
        (lambda: psnr(np.zeros((2, 3)), np.zeros(3), data_range=0.0), "data_range"),
        (lambda: sliced_w2(np.zeros((2, 2)), np.zeros((2, 3)), np.eye(2)), "Y"),
        (lambda: sliced_w2(np.zeros((2, 2)), np.zeros((2, 2)), np.eye(3)), "theta"),
        (lambda: sliced_w2(np.zeros((2, 2)), np.zeros((2, 2)), np.eye(2), b=[1.0]), "b"),
    ],
)
def test_metrics_refuse_misshapen_input(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()
