"""Registry entries of the library core's operators and helpers first fuzzed in session 26
(issue #18; they were exempt as "new in the restructure, not yet fuzzed" in
:mod:`tests.fuzz.registry_new`, whose factories for them moved here)."""

from __future__ import annotations

import torch

from diffusion import guidance as dguidance
from diffusion import operators as ops
from diffusion import sampler as dsampler
from diffusion.operators import base as opbase
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry

_F64 = torch.float64
_IMG = (1, 8, 8)


def _img(n: int = 2, shape=_IMG):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(2), dtype=_F64)


def _op_probe(op):
    """Forward and adjoint of a constructed operator on inputs of its own shapes."""
    return op.A(_img(2, op.in_shape)), op.A_adjoint(_img(2, op.out_shape))


@entry("diffusion.check_divergence")
def _(tmp):
    # k and t_model are "int", not "index": with no schedule here there is no upper bound
    # to check them against (negatives and non-integers are refused).
    return call(
        dsampler.check_divergence,
        _img(),
        K(1e6, "nonneg"),
        k=K(2, "int"),
        t_model=K(2, "int"),
        ok_errors=(dsampler.DivergenceError,),
    )


@entry("diffusion.BicubicSR")
def _(tmp):
    return call(ops.BicubicSR, K(2, "count"), K(_IMG, "shape"), then=_op_probe)


@entry("diffusion.ComposedOperator")
def _(tmp):
    return call(
        ops.ComposedOperator,
        K(ops.AveragePoolSR(2, (1, 4, 4)), "object"),
        K(ops.GaussianBlur(3, 1.0, (1, 4, 4)), "object"),
        then=_op_probe,
    )


@entry("diffusion.FFTBlur")
def _(tmp):
    k = torch.ones(3, 3, dtype=_F64) / 9
    return call(ops.FFTBlur, k, K(_IMG, "shape"), then=_op_probe)


@entry("diffusion.FFTGaussianBlur")
def _(tmp):
    return call(
        ops.FFTGaussianBlur, K(3, "count"), K(1.0, "sigma"), K(_IMG, "shape"), then=_op_probe
    )


@entry("diffusion.MotionBlur")
def _(tmp):
    return call(
        ops.MotionBlur,
        K(5, "count"),
        K(0.5, "prob"),
        K(_IMG, "shape"),
        seed=K(0, "seed"),
        then=_op_probe,
    )


@entry("diffusion.RandomInpainting")
def _(tmp):
    return call(
        ops.RandomInpainting, K(_IMG, "shape"), K(0.5, "prob"), seed=K(0, "seed"), then=_op_probe
    )


@entry("diffusion.bicubic_matrix")
def _(tmp):
    return call(ops.bicubic_matrix, K(8, "count"), K(2, "count"))


@entry("diffusion.centre_box")
def _(tmp):
    return call(ops.centre_box, K(8, "count"), K(4, "count"))


@entry("diffusion.motion_kernel")
def _(tmp):
    return call(
        ops.motion_kernel, K(5, "count"), K(0.5, "prob"), K(0, "seed"), n_samples=K(50, "count")
    )


@entry("diffusion.paper_operator")
def _(tmp):
    return call(
        ops.paper_operator,
        K("deblur_gauss", "choice"),
        K(8, "count"),
        K(1, "count"),
        K(0, "seed"),
        then=_op_probe,
    )


@entry("diffusion.scaled_blur")
def _(tmp):
    return call(ops.scaled_blur, K(16, "count"))


@entry("diffusion.guidance.check_eta_batch")
def _(tmp):
    return call(
        dguidance.check_eta_batch, K(torch.tensor([0.0, 0.5], dtype=_F64), "eta"), K(2, "count")
    )


@entry("diffusion.operators.base.check_float_dtype")
def _(tmp):
    return call(opbase.check_float_dtype, K(_F64, "dtype"), fixed("dtype"))


@entry("diffusion.LinearOperator.prox_l2")
def _(tmp):
    # on a composed operator: the generic conjugate-gradient route (the closed forms of the
    # other operators are checked against it in tests/diffusion/test_operators.py)
    op = ops.AveragePoolSR(2, _IMG) @ ops.FFTBlur(torch.ones(3, 3, dtype=_F64) / 9, _IMG)
    return call(op.prox_l2, _img(), _img(2, op.out_shape), K(0.5, "sigma"))
