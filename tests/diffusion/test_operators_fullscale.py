"""Tests of the paper's operators at full scale (diffusion.operators.fft_blur, bicubic, kernels,
masks, paper): exact adjoints at 256 x 256 x 3, FFT blur against direct convolution, bicubic
against torch's interpolate, prox_l2 against the dense normal equations, seeded kernels and
masks.

Tolerances (float64, unit roundoff u = 1.1e-16): every compared quantity is a sum of at most
~10^5 products of O(1) numbers (or an FFT of at most 320 x 320 points, whose error is
O(u log2 N) relative to the signal's norm, Higham 2002 Sec. 24.1), so rounding stays below
~1e-13 in absolute terms for unit-variance inputs; the tests allow 1e-12 (measured: < 1e-15).
A wrong operator (a transposed kernel, a missing boundary fold, another cubic) errs by O(0.1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffusion.operators import (
    PAPER_OPERATORS,
    AveragePoolSR,
    BicubicSR,
    FFTBlur,
    FFTGaussianBlur,
    GaussianBlur,
    Inpainting,
    LinearOperator,
    MotionBlur,
    RandomInpainting,
    adjointness_test,
    bicubic_matrix,
    box_mask,
    centre_box,
    motion_kernel,
    paper_operator,
    scaled_blur,
)

TOL = 1e-12
U32 = 2.0**-24
BOUNDARIES = ("zero", "reflect", "circular")
PAD_MODE = {"zero": "constant", "reflect": "reflect", "circular": "circular"}


def _per_boundary(prefix, make):
    """``{prefix-boundary: () -> make(boundary)}`` for the three boundaries."""
    return {f"{prefix}-{b}": (lambda b=b: make(b)) for b in BOUNDARIES}


C256 = (3, 256, 256)

# Every new operator at the paper's size, 256 x 256 colour
FULLSCALE = {
    **_per_boundary("gauss61", lambda b: FFTGaussianBlur(61, 3.0, C256, boundary=b)),
    **_per_boundary("motion61", lambda b: MotionBlur(61, 0.5, C256, seed=1, boundary=b)),
    "bicubic-x4": lambda: BicubicSR(4, C256),
    "bicubic-x8": lambda: BicubicSR(8, C256),
    "avgpool-x4": lambda: AveragePoolSR(4, C256),
    "avgpool-x8": lambda: AveragePoolSR(8, C256),
    "box-128": lambda: Inpainting(box_mask(C256, centre_box(256, 128))),
    "random-70": lambda: RandomInpainting(C256, 0.7, seed=0),
    "random-92": lambda: RandomInpainting(C256, 0.92, seed=0),
}

# Small enough for as_matrix and dense solves
SMALL = {
    **_per_boundary("gauss7", lambda b: FFTGaussianBlur(7, 1.5, (2, 12, 10), boundary=b)),
    # kernel wider than the image: the extensions repeat / wrap several times
    **_per_boundary("gauss61-small", lambda b: FFTGaussianBlur(61, 3.0, (1, 9, 14), boundary=b)),
    **_per_boundary("motion9", lambda b: MotionBlur(9, 0.5, (3, 11, 8), seed=2, boundary=b)),
    "blur-rect-kernel": lambda: FFTBlur(np.random.default_rng(0).uniform(size=(3, 5)), (2, 7, 9)),
    "bicubic-x2": lambda: BicubicSR(2, (3, 8, 6)),
    "bicubic-x3": lambda: BicubicSR(3, (1, 12, 9)),
    "bicubic-x4": lambda: BicubicSR(4, (2, 16, 16)),
    "random-70": lambda: RandomInpainting((3, 9, 7), 0.7, seed=4),
    **{f"paper-{n}": (lambda n=n: paper_operator(n, 16, 3, seed=1)) for n in PAPER_OPERATORS},
}


def _randn(shape, seed, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture(params=sorted(SMALL))
def op(request) -> LinearOperator:
    return SMALL[request.param]()


# --------------------------------------------------------------------------- adjointness


@pytest.mark.parametrize("name", sorted(FULLSCALE))
def test_adjointness_at_256_colour(name):
    op = FULLSCALE[name]()
    assert op.in_shape == (3, 256, 256)
    err = adjointness_test(op, batch=2, generator=torch.Generator().manual_seed(0))
    assert err < TOL, err


def test_adjointness_small_float64(op):
    assert adjointness_test(op, batch=3, generator=torch.Generator().manual_seed(1)) < TOL


def test_adjointness_small_float32(op, device):
    # float32 rounding of sums of N = in_dim + out_dim terms: 4 sqrt(N) u, as in test_operators
    # (which sets TF32 off around its test; here it must simply be off, torch's default)
    assert torch.get_float32_matmul_precision() == "highest"
    tol = 4.0 * math.sqrt(op.in_dim + op.out_dim) * U32
    gen = torch.Generator().manual_seed(2)
    assert adjointness_test(op, batch=3, dtype=torch.float32, generator=gen, device=device) < tol


def test_adjoint_is_the_autograd_vector_jacobian_product(op):
    """torch.autograd.functional.vjp differentiates A independently of A_adjoint's code."""
    x, y = _randn((2, *op.in_shape), 3), _randn((2, *op.out_shape), 4)
    _, vjp = torch.autograd.functional.vjp(op.A, x, y)
    torch.testing.assert_close(vjp, op.A_adjoint(y), rtol=TOL, atol=TOL)


def test_dtype_and_device_follow_input(op, device):
    for dtype in (torch.float32, torch.float64):
        x = _randn((2, *op.in_shape), 5, dtype).to(device)
        y = _randn((2, *op.out_shape), 6, dtype).to(device)
        for out, shape in ((op.A(x), op.out_shape), (op.A_adjoint(y), op.in_shape)):
            assert out.dtype == dtype and out.device.type == device
            assert tuple(out.shape) == (2, *shape)


def test_half_precision_is_computed_in_float32():
    op = FFTGaussianBlur(7, 1.5, (3, 16, 16), boundary="reflect")
    x = _randn((2, 3, 16, 16), 7, torch.float32)
    out = op.A(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    # bfloat16 input rounding (8-bit mantissa, 2^-9 relative) dominates
    torch.testing.assert_close(out.float(), op.A(x), rtol=0, atol=4 * 2.0**-9 * x.abs().max())


# --------------------------------------------------------------------------- FFT blur = direct


def _direct(x, kernel, boundary):
    """F.conv2d (cross-correlation) of the boundary-padded image, one kernel for every channel."""
    C = x.shape[1]
    kh, kw = kernel.shape
    xp = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode=PAD_MODE[boundary])
    return F.conv2d(xp, kernel.to(x.dtype).expand(C, 1, kh, kw), groups=C)


def _direct_adjoint(y, kernel, boundary):
    """The adjoint of _direct by autograd (conv_transpose + the pad's fold)."""
    x = torch.zeros_like(y, requires_grad=True)
    (_direct(x, kernel, boundary) * y).sum().backward()
    return x.grad


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda s, b: FFTGaussianBlur(7, 1.5, s, boundary=b), (3, 16, 16)),
        (lambda s, b: MotionBlur(7, 0.8, s, seed=3, boundary=b), (3, 16, 16)),
        (
            lambda s, b: FFTBlur(np.random.default_rng(1).normal(size=(5, 3)), s, boundary=b),
            (1, 13, 16),
        ),
        (lambda s, b: FFTGaussianBlur(61, 3.0, s, boundary=b), (1, 64, 64)),
        (lambda s, b: MotionBlur(61, 0.5, s, seed=0, boundary=b), (3, 64, 64)),
    ],
    ids=["gauss7-16px", "motion7-16px", "asymmetric5x3-13x16px", "gauss61-64px", "motion61-64px"],
)
def test_fft_blur_equals_direct_convolution(make, shape, boundary):
    op = make(shape, boundary)
    x = _randn((2, *shape), 8)
    torch.testing.assert_close(op.A(x), _direct(x, op.kernel, boundary), rtol=0, atol=TOL)
    torch.testing.assert_close(
        op.A_adjoint(x), _direct_adjoint(x, op.kernel, boundary), rtol=0, atol=TOL
    )


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("k, std, shape", [(7, 1.5, (2, 12, 10)), (61, 3.0, (1, 9, 14))])
def test_fft_gaussian_blur_equals_matrix_gaussian_blur(k, std, shape, boundary):
    """The same taps and boundary semantics as GaussianBlur (also when the kernel is wider
    than the image, which F.pad's reflect cannot do)."""
    fft, ref = (
        FFTGaussianBlur(k, std, shape, boundary=boundary),
        GaussianBlur(k, std, shape, boundary=boundary),
    )
    torch.testing.assert_close(fft.kernel, ref.kernel, rtol=0, atol=0)
    x = _randn((2, *shape), 9)
    torch.testing.assert_close(fft.A(x), ref.A(x), rtol=0, atol=TOL)
    torch.testing.assert_close(fft.A_adjoint(x), ref.A_adjoint(x), rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "make",
    [
        lambda: FFTGaussianBlur(61, 3.0, C256, boundary="reflect"),
        lambda: MotionBlur(61, 0.5, C256, seed=2, boundary="reflect"),
    ],
    ids=["gauss61", "motion61"],
)
def test_paper_blurs_at_256_match_direct_convolution_on_patches(make):
    """At full size a direct 61 x 61 convolution of the whole image is slow on the CPU: compare
    5 x 5 output patches at a corner (reflected margins), the centre and the opposite corner."""
    op = make()
    x = _randn((1, *C256), 10)
    out = op.A(x)
    xp = F.pad(x, (30, 30, 30, 30), mode="reflect")
    k = op.kernel.expand(3, 1, 61, 61)
    for r, c in ((0, 0), (126, 126), (251, 251), (0, 251)):
        ref = F.conv2d(xp[..., r : r + 65, c : c + 65], k, groups=3)
        torch.testing.assert_close(out[..., r : r + 5, c : c + 5], ref, rtol=0, atol=TOL)
    ones = torch.ones(1, *C256, dtype=torch.float64)  # a constant image stays constant
    torch.testing.assert_close(op.A(ones), ones, rtol=0, atol=TOL)


# --------------------------------------------------------------------------- bicubic


@pytest.mark.parametrize(
    "factor, shape",
    [(4, (3, 256, 256)), (8, (3, 256, 256)), (2, (1, 16, 16)), (4, (3, 16, 24)), (3, (2, 12, 9))],
)
def test_bicubic_equals_interpolate(factor, shape):
    op = BicubicSR(factor, shape)
    x = _randn((2, *shape), 11)
    ref = F.interpolate(
        x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False
    )
    assert op.out_shape == tuple(ref.shape[1:])
    torch.testing.assert_close(op.A(x), ref, rtol=0, atol=TOL)
    # float32: same map, rounding of sums of <= 4 factor taps per axis
    torch.testing.assert_close(op.A(x.float()), ref.float(), rtol=0, atol=1e-5)


def test_bicubic_matrix_rows():
    D = bicubic_matrix(256, 4)
    assert D.shape == (64, 256)
    torch.testing.assert_close(D.sum(1), torch.ones(64, dtype=torch.float64), rtol=0, atol=TOL)
    # interior rows: the same stretched Keys cubic (a = -0.5), shifted by the factor
    torch.testing.assert_close(D[10, 4:56], D[11, 8:60], rtol=0, atol=0)
    assert (D[10] != 0).sum() == 16  # support 4 * factor taps
    # antialiased (stretched) cubic: differs from plain bicubic decimation
    basis = torch.eye(256, dtype=torch.float64)[:, None, :, None].expand(256, 1, 256, 2)
    plain = F.interpolate(basis, scale_factor=(0.25, 1.0), mode="bicubic", align_corners=False)
    assert (plain[:, 0, :, 0].T - D).abs().max() > 0.05


def test_bicubic_refuses_indivisible_sizes():
    with pytest.raises(ValueError, match="divisible"):
        BicubicSR(8, (3, 256, 250))
    with pytest.raises(ValueError, match="multiple"):
        bicubic_matrix(10, 4)


# --------------------------------------------------------------------------- prox_l2


def _dense_prox(op, z, y, gamma):
    """(A^T A + I/gamma) x = A^T y + z/gamma with the dense matrix, per sample (torch solve)."""
    M = op.as_matrix()
    lhs = M.T @ M + torch.eye(op.in_dim, dtype=torch.float64) / gamma
    rhs = y.flatten(1) @ M + z.flatten(1) / gamma
    return torch.linalg.solve(lhs, rhs.T).T.reshape(z.shape)


@pytest.mark.parametrize("gamma", [1e-2, 1.0, 1e3])
def test_prox_l2_matches_dense_solve(op, gamma):
    """Closed forms (circular FFT, bicubic SVD, masks) and conjugate gradients (zero/reflect
    blurs): the error of a solve is <= kappa u |x| with kappa = (||A||^2 + rho)/rho <= 1 + 1e3
    here (CG stops at a residual of 100 u), so 1e-10 relative, as in test_operators."""
    z = _randn((2, *op.in_shape), 12)
    y = _randn((2, *op.out_shape), 13)
    ref = _dense_prox(op, z, y, gamma)
    out = op.prox_l2(z, y, gamma)
    assert out.shape == z.shape and out.dtype == torch.float64
    assert (out - ref).abs().max() <= 1e-10 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("name", ["gauss7-circular", "motion9-circular", "bicubic-x3"])
def test_closed_form_prox_matches_conjugate_gradients(name):
    op = SMALL[name]()
    z, y = _randn((2, *op.in_shape), 14), _randn((2, *op.out_shape), 15)
    for rho in (1e-3, 1.0):
        closed = op.prox_l2(z, y, rho=rho)
        generic = LinearOperator._prox(op, z, y, rho)
        assert (generic - closed).abs().max() <= 1e-9 * max(1.0, closed.abs().max().item())


def test_closed_form_prox_at_256_is_a_stationary_point():
    """At full size (no dense matrix): the gradient A^T(Ax - y) + rho (x - z) vanishes."""
    for op in (FFTGaussianBlur(61, 3.0, (3, 256, 256)), BicubicSR(4, (3, 256, 256))):
        z, y = _randn((1, *op.in_shape), 16), _randn((1, *op.out_shape), 17)
        x = op.prox_l2(z, y, rho=1e-2)
        grad = op.A_adjoint(op.A(x) - y) + 1e-2 * (x - z)
        assert grad.abs().max() < 1e-11, grad.abs().max()


# --------------------------------------------------------------------------- kernels and masks


def test_motion_kernel_is_seeded_normalised_and_centred():
    k = motion_kernel(61, 0.5, seed=7)
    assert k.shape == (61, 61) and k.dtype == torch.float64 and bool((k >= 0).all())
    assert abs(float(k.sum()) - 1.0) < TOL
    assert torch.equal(k, motion_kernel(61, 0.5, seed=7))
    assert not torch.equal(k, motion_kernel(61, 0.5, seed=8))
    assert torch.equal(MotionBlur(61, 0.5, (3, 64, 64), seed=7).kernel, k)
    rows, cols = torch.nonzero(k, as_tuple=True)
    # the support's bounding box is centred (to a pixel) and fits in the window
    assert abs((rows.min() + rows.max()).item() / 2 - 30) <= 1
    assert abs((cols.min() + cols.max()).item() / 2 - 30) <= 1
    # a real blur, not a delta: the mass spreads over many pixels
    assert (k > 0).sum() > 40


def test_motion_kernel_intensity_zero_is_a_straight_line():
    k = motion_kernel(31, 0.0, seed=3).numpy()
    r, c = np.indices(k.shape)
    mean = np.array([(k * r).sum(), (k * c).sum()])
    d = np.stack([r - mean[0], c - mean[1]]).reshape(2, -1)
    cov = (d * k.reshape(-1)) @ d.T
    evals = np.linalg.eigvalsh(cov)
    # bilinear splatting spreads a line by at most one pixel across: variance <= 1/4
    assert evals[0] <= 0.25 and evals[1] > 4.0


@pytest.mark.parametrize("fraction", [0.7, 0.92])
def test_random_inpainting_missing_fraction(fraction):
    """random_mask draws exactly round(p H W) positions without replacement: the fraction is
    p to within 1/(2 H W), inside any binomial tolerance (4 sqrt(p(1-p)/(H W)) = 0.007 here)."""
    H = W = 256
    op = RandomInpainting((3, H, W), fraction, seed=5)
    m = op.mask
    missing = int((m[0] == 0).sum())
    assert missing == round(fraction * H * W)
    assert abs(missing / (H * W) - fraction) <= min(
        0.5 / (H * W), 4 * math.sqrt(fraction * (1 - fraction) / (H * W))
    )
    assert torch.equal(m, m[:1].expand_as(m))  # the same mask in every channel
    assert torch.equal(m, RandomInpainting((3, H, W), fraction, seed=5).mask)
    assert not torch.equal(m, RandomInpainting((3, H, W), fraction, seed=6).mask)


def test_centre_box_and_the_paper_box():
    assert centre_box(256, 128) == (64, 64, 128, 128)
    assert centre_box((16, 9), (8, 4)) == (4, 2, 8, 4)
    m = box_mask((3, 256, 256), centre_box(256, 128))
    assert torch.equal(m, m[:1].expand_as(m))
    assert m[0].sum() == 256**2 - 128**2 and m[0, 64:192, 64:192].sum() == 0
    with pytest.raises(ValueError, match="box"):
        centre_box(16, 17)


# --------------------------------------------------------------------------- paper_operator


def test_paper_operator_at_256_has_the_papers_parameters():
    ops = {name: paper_operator(name, 256, 3, seed=0) for name in PAPER_OPERATORS}
    g = ops["deblur_gauss"]
    assert isinstance(g, FFTGaussianBlur) and (g.kernel_size, g.std) == (61, 3.0)
    assert g.boundary == "reflect"
    m = ops["deblur_motion"]
    assert isinstance(m, MotionBlur) and (m.kernel_size, m.intensity) == (61, 0.5)
    assert torch.equal(m.kernel, motion_kernel(61, 0.5, seed=0))
    for s in (4, 8):
        assert isinstance(ops[f"sr{s}"], AveragePoolSR) and ops[f"sr{s}"].factor == s
        assert isinstance(ops[f"sr{s}_bicubic"], BicubicSR) and ops[f"sr{s}_bicubic"].factor == s
        assert ops[f"sr{s}"].out_shape == (3, 256 // s, 256 // s)
    assert torch.equal(ops["inpaint_box"].mask, box_mask((3, 256, 256), (64, 64, 128, 128)))
    for p in (70, 92):
        mask = ops[f"inpaint_random{p}"].mask
        assert int((mask[0] == 0).sum()) == round(p / 100 * 256**2)
    assert all(op.in_shape == (3, 256, 256) for op in ops.values())


def test_paper_operator_scaling_rule():
    assert scaled_blur(256) == (61, 3.0) and scaled_blur(16) == (9, 1.5)
    assert scaled_blur(512) == (121, 6.0)
    g = paper_operator("deblur_gauss", 16, 1)
    assert (g.kernel_size, g.std, g.in_shape) == (9, 1.5, (1, 16, 16))
    # at 16 px the box is the restore CLI's patch-scale box (the central quarter)
    assert paper_operator("inpaint_box", 16, 1).mask[0, 4:12, 4:12].sum() == 0
    assert paper_operator("deblur_motion", (32, 48), 3, boundary="circular").in_shape == (3, 32, 48)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("deblur", 256, 3), {}, "name"),
        (("sr8", 20, 3), {}, "divisible"),
        (("deblur_gauss", 256, 0), {}, "channels"),
        (("deblur_gauss", 256, 3), {"boundary": "mirror"}, "boundary"),
        (("inpaint_random70", 256, 3, -1), {}, "seed"),
    ],
)
def test_paper_operator_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        paper_operator(*args, **kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FFTBlur(np.ones((4, 3)), (1, 8, 8)), "odd"),
        (lambda: FFTBlur(np.ones(3), (1, 8, 8)), "2-d"),
        (lambda: FFTBlur([[np.nan]], (1, 8, 8)), "NaN"),
        (lambda: FFTBlur(np.ones((3, 3)), (1, 8, 8), boundary="mirror"), "boundary"),
        (lambda: FFTGaussianBlur(8, 1.0, (1, 8, 8)), "odd"),
        (lambda: FFTGaussianBlur(7, 0.0, (1, 8, 8)), "std"),
        (lambda: MotionBlur(7, 1.5, (1, 8, 8)), "intensity"),
        (lambda: motion_kernel(8), "odd"),
        (lambda: motion_kernel(7, seed=-1), "seed"),
        (lambda: RandomInpainting((1, 8, 8), 1.5), "fraction"),
        (lambda: RandomInpainting((8, 8), 0.5), "in_shape"),
    ],
)
def test_constructor_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_operators_refuse_wrong_shapes():
    op = paper_operator("deblur_motion", 32, 3)
    with pytest.raises(ValueError, match=r"\[B, 3, 32, 32\]"):
        op.A(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="y"):
        BicubicSR(4, (3, 32, 32)).A_adjoint(torch.zeros(1, 3, 32, 32))
