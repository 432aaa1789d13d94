"""Tests of diffusion.operators: exact adjoints, dense matrices, blur/SR/inpainting formulas
against independent numpy/scipy computations, the noise model, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps
import torch
import torch.nn.functional as F

from diffusion.operators import (
    AveragePoolSR,
    ComposedOperator,
    DenseOperator,
    GaussianBlur,
    GaussianNoise,
    Identity,
    Inpainting,
    LinearOperator,
    adjointness_test,
    box_mask,
    random_mask,
)
from tests.strategies import random_operator

U32 = 2.0**-24  # float32 unit roundoff

# Every operator the module offers, small enough for as_matrix; the paper's blur (61 x 61,
# std 3.0) appears with both boundary conditions.
OPERATORS = {
    "identity-image": lambda: Identity((2, 3, 4)),
    "identity-vector": lambda: Identity(6),
    "dense-wide": lambda: DenseOperator(random_operator(np.random.default_rng(1), 8, "wide")),
    "dense-tall": lambda: DenseOperator(random_operator(np.random.default_rng(2), 5, "tall")),
    # banded, clamped at the ends: not symmetric, so a transpose mix-up shows
    "dense-banded": lambda: DenseOperator(random_operator(np.random.default_rng(3), 9, "blur")),
    "blur-zero": lambda: GaussianBlur(7, 1.5, (2, 12, 10)),
    "blur-reflect": lambda: GaussianBlur(7, 1.5, (2, 12, 10), boundary="reflect"),
    "blur-paper-zero": lambda: GaussianBlur(61, 3.0, (1, 16, 16)),
    "blur-paper-reflect": lambda: GaussianBlur(61, 3.0, (1, 32, 32), boundary="reflect"),
    "blur-circular": lambda: GaussianBlur(7, 1.5, (2, 12, 10), boundary="circular"),
    # kernel wider than the image: the extensions repeat
    "blur-paper-reflect-small": lambda: GaussianBlur(61, 3.0, (1, 9, 14), boundary="reflect"),
    "blur-paper-circular-small": lambda: GaussianBlur(61, 3.0, (1, 9, 14), boundary="circular"),
    "sr-x2": lambda: AveragePoolSR(2, (3, 8, 6)),
    "sr-x4": lambda: AveragePoolSR(4, (1, 16, 16)),
    "inpaint-box": lambda: Inpainting(box_mask((3, 10, 8), (2, 1, 5, 4))),
    "inpaint-random": lambda: Inpainting(
        random_mask((2, 9, 7), 0.4, torch.Generator().manual_seed(5))
    ),
    # compositions: SR of a blurred image (the usual SR model), a masked blur, two matrices
    "composed-sr-blur": lambda: (
        AveragePoolSR(2, (2, 12, 10)) @ GaussianBlur(7, 1.5, (2, 12, 10), boundary="reflect")
    ),
    "composed-inpaint-blur": lambda: ComposedOperator(
        Inpainting(box_mask((1, 9, 8), (2, 2, 4, 3))), GaussianBlur(5, 1.0, (1, 9, 8))
    ),
    "composed-dense": lambda: (
        DenseOperator(random_operator(np.random.default_rng(4), 3, "tall"))
        @ DenseOperator(random_operator(np.random.default_rng(5), 6, "wide"))
    ),
}


@pytest.fixture(params=sorted(OPERATORS))
def op(request) -> LinearOperator:
    return OPERATORS[request.param]()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(shape, seed=0, dtype=torch.float64):
    return torch.randn(shape, generator=_gen(seed), dtype=dtype)


def _np_gaussian_kernel(size: int, std: float) -> np.ndarray:
    """Independent 2-D kernel: exp(-(i^2 + j^2) / (2 std^2)) normalised over the window."""
    r = np.arange(size) - size // 2
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * std**2))
    return k / k.sum()


# --------------------------------------------------------------------------- adjointness


def test_adjointness_float64(op):
    assert adjointness_test(op, batch=3, dtype=torch.float64, generator=_gen(1)) < 1e-12


def test_adjointness_float32(op, device):
    # Tolerance: rounding of float32 sums of N terms grows like sqrt(N) u for random data; N is
    # at most in_dim + out_dim here and we allow 4 sqrt(N) u (<= 1.7e-5). A wrong adjoint
    # gives errors of order 1/sqrt(out_dim) >= 0.03 (see test_adjointness_detects_...).
    # On CUDA, TF32 matmuls (10-bit mantissa; off by default) would void this: test float32.
    tol = 4.0 * math.sqrt(op.in_dim + op.out_dim) * U32
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        err = adjointness_test(op, batch=3, dtype=torch.float32, generator=_gen(2), device=device)
    finally:
        torch.set_float32_matmul_precision(precision)
    assert err < tol


def test_adjoint_equals_autograd_vjp(op):
    # d/dx <A x, y> = A^T y: autograd differentiates A independently of A_adjoint's code
    x = _randn((2, *op.in_shape), 3).requires_grad_(True)
    y = _randn((2, *op.out_shape), 4)
    (op.A(x) * y).sum().backward()
    torch.testing.assert_close(x.grad, op.A_adjoint(y), rtol=1e-12, atol=1e-14)


class _DPSBlur(GaussianBlur):
    """The DPS reference code's blur: its 'transpose' returns the input unchanged."""

    def _apply_adjoint(self, y):
        return y


class _SRNoScale(AveragePoolSR):
    """Average pooling with the adjoint's 1/s^2 forgotten."""

    def _apply_adjoint(self, y):
        return super()._apply_adjoint(y) * self.factor**2


@pytest.mark.parametrize(
    "bad",
    [
        _DPSBlur(61, 3.0, (1, 32, 32), boundary="reflect"),
        _DPSBlur(7, 1.5, (2, 12, 10)),
        _SRNoScale(4, (1, 16, 16)),
    ],
    ids=["dps-transpose-reflect", "dps-transpose-zero", "sr-missing-1/s^2"],
)
def test_adjointness_detects_wrong_adjoint(bad):
    # errors of order 1/sqrt(out_dim) (out_dim <= 1024 here), far above any rounding
    err = adjointness_test(bad, generator=_gen(5))
    assert err > 0.1 / math.sqrt(bad.out_dim)


# --------------------------------------------------------------------------- dense matrices


def test_as_matrix_matches_operator(op):
    M = op.as_matrix()
    assert M.shape == (op.out_dim, op.in_dim) and M.dtype == torch.float64
    x = _randn((4, *op.in_shape), 6)
    y = _randn((4, *op.out_shape), 7)
    torch.testing.assert_close(
        op.A(x).reshape(4, -1), x.reshape(4, -1) @ M.T, rtol=1e-12, atol=1e-13
    )
    torch.testing.assert_close(
        op.A_adjoint(y).reshape(4, -1), y.reshape(4, -1) @ M, rtol=1e-12, atol=1e-13
    )


def test_as_matrix_batch_size_does_not_matter(op):
    torch.testing.assert_close(op.as_matrix(batch_size=100), op.as_matrix(), rtol=0, atol=0)


def test_dense_operator_matrix_is_its_own():
    A = random_operator(np.random.default_rng(8), 6, "wide")
    op = DenseOperator(A)
    np.testing.assert_array_equal(op.as_matrix().numpy(), A)
    np.testing.assert_array_equal(op.matrix.numpy(), A)


def test_dtype_and_device_follow_input(op, device):
    x = _randn((2, *op.in_shape), 9, torch.float32).to(device)
    y = _randn((2, *op.out_shape), 10, torch.float32).to(device)
    noise = GaussianNoise(0.1, seed=0)
    for out, shape in (
        (op.A(x), op.out_shape),
        (op.A_adjoint(y), op.in_shape),
        (op.forward(x, noise), op.out_shape),
    ):
        assert out.dtype == torch.float32 and out.device.type == device
        assert tuple(out.shape) == (2, *shape)


@pytest.mark.parametrize(
    "dtype", [torch.int64, torch.int32, torch.bool, torch.complex128, "float64"]
)
def test_non_floating_dtypes_are_refused(dtype):
    """as_matrix(dtype=int64) used to return a silently truncated matrix (the blur's taps
    rounded to 0)."""
    op = GaussianBlur(3, 1.0, (1, 4, 4))
    with pytest.raises(TypeError, match="dtype"):
        op.as_matrix(dtype)
    with pytest.raises(TypeError, match="dtype"):
        adjointness_test(op, dtype=dtype)
    assert op.as_matrix(torch.float32).dtype == torch.float32


def test_box_mask_accepts_integer_types():
    m = box_mask((4, 4), (np.int64(1), 1, torch.tensor(2), 1))
    assert torch.equal(m, box_mask((4, 4), (1, 1, 2, 1)))


def test_as_matrix_refuses_huge():
    with pytest.raises(ValueError, match="max_entries"):
        GaussianBlur(61, 3.0, (3, 256, 256)).as_matrix()


# --------------------------------------------------------------------------- prox_l2 and composition


def _dense_prox(op, z, y, gamma):
    """Independent route: np.linalg.solve(A^T A + I/gamma, A^T y + z/gamma), per sample, float64."""
    M = op.as_matrix().numpy()
    B = z.shape[0]
    rhs = y.reshape(B, -1).numpy() @ M + z.reshape(B, -1).numpy() / gamma
    return np.linalg.solve(M.T @ M + np.eye(M.shape[1]) / gamma, rhs.T).T


@pytest.mark.parametrize("gamma", [1e-2, 1.0, 1e3])
def test_prox_l2_matches_dense_solve(op, gamma):
    """Every operator's prox_l2 (closed form, or conjugate gradients for compositions) is the
    solution of the normal equations of argmin ||Ax - y||^2/2 + ||x - z||^2/(2 gamma)."""
    z = _randn((3, *op.in_shape), 30)
    y = _randn((3, *op.out_shape), 31)
    ref = _dense_prox(op, z, y, gamma)
    out = op.prox_l2(z, y, gamma)
    assert out.shape == z.shape and out.dtype == torch.float64
    err = np.abs(out.reshape(3, -1).numpy() - ref).max()
    assert err <= 1e-10 * max(1.0, np.abs(ref).max()), err
    # rho = 1/gamma as a keyword: the same step
    torch.testing.assert_close(op.prox_l2(z, y, rho=1.0 / gamma), out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "name", ["blur-zero", "blur-circular", "sr-x2", "inpaint-box", "dense-tall"]
)
def test_conjugate_gradient_route_matches_closed_form(name):
    """The base class's generic route (conjugate gradients) on operators that have a closed form:
    same step, also at a small rho (condition number (||A||^2 + rho)/rho ~ 1e3)."""
    op = OPERATORS[name]()
    z = _randn((2, *op.in_shape), 32)
    y = _randn((2, *op.out_shape), 33)
    for rho in (1e-3, 1.0):
        closed = op.prox_l2(z, y, rho=rho)
        generic = LinearOperator._prox(op, z, y, rho)
        assert (generic - closed).abs().max().item() <= 1e-9 * max(1.0, closed.abs().max().item())


def test_composition_is_the_product_of_matrices():
    outer = AveragePoolSR(2, (1, 6, 4))
    inner = GaussianBlur(3, 1.0, (1, 6, 4), boundary="reflect")
    op = outer @ inner
    assert isinstance(op, ComposedOperator) and op.in_shape == (1, 6, 4)
    assert op.out_shape == (1, 3, 2)
    ref = outer.as_matrix() @ inner.as_matrix()
    torch.testing.assert_close(op.as_matrix(), ref, rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="inner"):
        inner @ outer  # (1, 3, 2) is not the blur's input shape
    with pytest.raises(TypeError):
        outer @ 2.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=float("nan")), "gamma"),
        (dict(rho=-1.0), "rho"),
        (dict(), "gamma"),
        (dict(gamma=1.0, rho=1.0), "gamma"),
        (dict(gamma=1.0, z=torch.zeros(2, 5, dtype=torch.float64)), "z"),
        (dict(gamma=1.0, y=torch.zeros(2, 3, dtype=torch.float64)), "y"),
    ],
)
def test_prox_l2_bad_arguments(kwargs, name):
    args = dict(z=torch.zeros(2, 4, dtype=torch.float64), y=torch.zeros(2, 4, dtype=torch.float64))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        Identity(4).prox_l2(args.pop("z"), args.pop("y"), **args)


# --------------------------------------------------------------------------- Gaussian blur


def test_blur_paper_kernel_sums_to_one_and_is_gaussian():
    op = GaussianBlur(61, 3.0, (3, 64, 64))
    K = op.kernel
    assert K.shape == (61, 61)
    assert abs(float(K.sum()) - 1.0) < 1e-14
    np.testing.assert_allclose(K.numpy(), _np_gaussian_kernel(61, 3.0), rtol=1e-13, atol=0)
    c = 30  # neighbouring-tap ratio is exp(-1/(2 std^2)) at the centre
    assert float(K[c, c + 1] / K[c, c]) == pytest.approx(math.exp(-1 / 18), rel=1e-14)


def test_blur_kernel_close_to_dps_reference_kernel():
    # The DPS code builds its kernel as gaussian_filter(delta) (truncated at 4 std): the
    # docstring states the two differ by < 1e-4 of the peak per tap.
    delta = np.zeros((61, 61))
    delta[30, 30] = 1.0
    k_dps = ndi.gaussian_filter(delta, sigma=3.0)
    K = GaussianBlur(61, 3.0, (1, 64, 64)).kernel.numpy()
    assert np.count_nonzero(k_dps.sum(axis=0)) == 25  # 4 std support, as documented
    assert np.abs(K - k_dps).max() < 1e-4 * K.max()


@pytest.mark.parametrize(("size", "std", "shape"), [(7, 1.5, (2, 12, 10)), (61, 3.0, (1, 40, 33))])
def test_blur_zero_boundary_matches_scipy(size, std, shape):
    op = GaussianBlur(size, std, shape)
    x = _randn((2, *shape), 11)
    K = _np_gaussian_kernel(size, std)
    got = op.A(x).numpy()
    for b in range(2):
        for c in range(shape[0]):
            xi = x[b, c].numpy()
            ref = ndi.convolve(xi, K, mode="constant", cval=0.0)
            np.testing.assert_allclose(got[b, c], ref, rtol=1e-12, atol=1e-14)
            ref2 = sps.convolve2d(xi, K, mode="same", boundary="fill", fillvalue=0.0)
            np.testing.assert_allclose(got[b, c], ref2, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("boundary", "mode"), [("reflect", "mirror"), ("circular", "wrap")])
@pytest.mark.parametrize(
    ("size", "std", "shape"),
    [(7, 1.5, (2, 12, 10)), (61, 3.0, (1, 40, 33)), (61, 3.0, (1, 9, 14))],
)
def test_blur_reflect_circular_match_scipy(size, std, shape, boundary, mode):
    # torch 'reflect' (d c b | a b c d | c b a) is scipy.ndimage's 'mirror'; circular is 'wrap'.
    # (1, 9, 14) has the kernel wider than the image: the extension repeats.
    op = GaussianBlur(size, std, shape, boundary=boundary)
    x = _randn((2, *shape), 12)
    K = _np_gaussian_kernel(size, std)
    got = op.A(x).numpy()
    for b in range(2):
        for c in range(shape[0]):
            ref = ndi.convolve(x[b, c].numpy(), K, mode=mode)
            np.testing.assert_allclose(got[b, c], ref, rtol=1e-12, atol=1e-14)


def test_blur_reflect_is_the_dps_forward_map():
    # DPS: nn.ReflectionPad2d(ks // 2) then a valid conv2d with the 2-D kernel
    op = GaussianBlur(61, 3.0, (3, 40, 36), boundary="reflect")
    x = _randn((2, 3, 40, 36), 19)
    w = torch.as_tensor(_np_gaussian_kernel(61, 3.0)).reshape(1, 1, 61, 61)
    ref = F.conv2d(F.pad(x.reshape(6, 1, 40, 36), (30, 30, 30, 30), mode="reflect"), w)
    torch.testing.assert_close(op.A(x), ref.reshape(2, 3, 40, 36), rtol=1e-12, atol=1e-14)


def test_blur_of_constant_image():
    vals = torch.tensor([0.7, -0.3], dtype=torch.float64)
    x = vals.reshape(1, 2, 1, 1).expand(1, 2, 12, 10).clone()
    # reflect and circular keep a constant image constant everywhere
    for boundary in ("reflect", "circular"):
        out = GaussianBlur(7, 1.5, (2, 12, 10), boundary=boundary).A(x)
        torch.testing.assert_close(out, x, rtol=1e-14, atol=1e-15)
    # zero padding keeps it only at least kernel_size // 2 = 3 pixels from the border
    out = GaussianBlur(7, 1.5, (2, 12, 10)).A(x)
    torch.testing.assert_close(out[..., 3:-3, 3:-3], x[..., 3:-3, 3:-3], rtol=1e-14, atol=1e-15)
    assert torch.all(out[..., 0, 0].abs() < x[..., 0, 0].abs())


# --------------------------------------------------------------------------- super-resolution


@pytest.mark.parametrize(("s", "shape"), [(2, (3, 8, 6)), (4, (2, 16, 8)), (8, (1, 16, 24))])
def test_sr_formulas(s, shape):
    op = AveragePoolSR(s, shape)
    C, H, W = shape
    assert op.out_shape == (C, H // s, W // s)
    # a constant image (per channel) pools to the same constant
    vals = torch.linspace(-1, 1, C, dtype=torch.float64)
    const = vals.reshape(1, C, 1, 1).expand(1, C, H, W)
    torch.testing.assert_close(op.A(const), vals.reshape(1, C, 1, 1).expand(1, *op.out_shape))
    # forward = block means (numpy reshape), adjoint = nearest upsampling / s^2 (np.kron)
    x = _randn((2, *shape), 13)
    ref = x.numpy().reshape(2, C, H // s, s, W // s, s).mean(axis=(3, 5))
    np.testing.assert_allclose(op.A(x).numpy(), ref, rtol=1e-13, atol=1e-15)
    y = _randn((2, *op.out_shape), 14)
    ref_adj = np.kron(y.numpy(), np.ones((1, 1, s, s))) / s**2
    np.testing.assert_allclose(op.A_adjoint(y).numpy(), ref_adj, rtol=1e-14, atol=0)
    # and the adjoint is M^T of the dense matrix
    M = op.as_matrix()
    np.testing.assert_allclose(
        op.A_adjoint(y).reshape(2, -1).numpy(),
        (M.T @ y.reshape(2, -1).T).T.numpy(),
        rtol=1e-14,
        atol=0,
    )
    # A A^T = I / s^2
    torch.testing.assert_close(op.A(op.A_adjoint(y)), y / s**2, rtol=1e-14, atol=1e-16)


# --------------------------------------------------------------------------- inpainting


def test_box_mask():
    m = box_mask((3, 10, 8), (2, 1, 5, 4))
    assert m.shape == (3, 10, 8) and m.dtype == torch.float64
    assert torch.all(m[:, 2:7, 1:5] == 0)
    assert int((m == 0).sum()) == 3 * 5 * 4 and int((m == 1).sum()) == 3 * 80 - 60
    m2 = box_mask((10, 8), (0, 0, 10, 8))
    assert torch.all(m2 == 0)


def test_random_mask():
    shape = (3, 9, 7)
    m = random_mask(shape, 0.4, _gen(21))
    assert torch.all((m == 0) | (m == 1))
    assert torch.equal(m[0], m[1]) and torch.equal(m[0], m[2])  # same pixels in every channel
    assert int((m[0] == 0).sum()) == round(0.4 * 63)
    assert torch.equal(m, random_mask(shape, 0.4, _gen(21)))
    assert not torch.equal(m, random_mask(shape, 0.4, _gen(22)))
    assert torch.all(random_mask((4, 5), 0.0, _gen(0)) == 1)
    assert torch.all(random_mask((4, 5), 1.0, _gen(0)) == 0)


def test_inpainting_keeps_shape_and_masks():
    mask = random_mask((2, 9, 7), 0.5, _gen(23))
    op = Inpainting(mask)
    x = _randn((3, 2, 9, 7), 15)
    Ax = op.A(x)
    assert Ax.shape == x.shape
    assert torch.all(Ax[:, mask == 0] == 0)
    assert torch.equal(Ax[:, mask == 1], x[:, mask == 1])
    torch.testing.assert_close(op.A_adjoint(x), x * mask, rtol=0, atol=0)  # self-adjoint
    torch.testing.assert_close(op.A(Ax), Ax, rtol=0, atol=0)  # a projection
    torch.testing.assert_close(op.as_matrix(), torch.diag(mask.flatten()), rtol=0, atol=0)


# --------------------------------------------------------------------------- noise


def test_noise_same_seed_same_noise(device):
    y = torch.zeros(4, 3, 8, 8, device=device)
    a, b = GaussianNoise(0.05, seed=7), GaussianNoise(0.05, seed=7)
    na, nb = a(y), b(y)
    assert torch.equal(na, nb)
    assert not torch.equal(na, a(y))  # the stream advances
    a.reset()
    assert torch.equal(a(y), na)  # reset restarts it
    assert not torch.equal(na, GaussianNoise(0.05, seed=8)(y))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_noise_statistics(dtype):
    # n draws of sigma z: sample sd has standard error sigma / sqrt(2 (n - 1)), the sample mean
    # sigma / sqrt(n); allow 4 of each.
    sigma, n = 0.3, 200_000
    y = torch.full((4, n // 4), 0.25, dtype=dtype)
    out = GaussianNoise(sigma, seed=11)(y)
    assert out.dtype == dtype
    e = (out - y).double().flatten()
    assert abs(float(e.std()) - sigma) < 4 * sigma / math.sqrt(2 * (n - 1))
    assert abs(float(e.mean())) < 4 * sigma / math.sqrt(n)


def test_forward_is_noise_of_A(op):
    x = _randn((2, *op.in_shape), 16)
    y = op.forward(x, GaussianNoise(0.1, seed=3))
    torch.testing.assert_close(
        y, op.A(x) + GaussianNoise(0.1, seed=3).sample(op.A(x)), rtol=0, atol=0
    )
    torch.testing.assert_close(op.forward(x), op.A(x), rtol=0, atol=0)


def test_noise_without_seed_leaves_global_rng_alone():
    state = torch.get_rng_state()
    noise = GaussianNoise(0.1)
    assert isinstance(noise.seed, int) and noise.seed >= 0
    assert torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("sigma_y", [0.0, -0.05, float("nan"), float("inf"), "abc", None])
def test_noise_bad_sigma(sigma_y):
    with pytest.raises(ValueError, match="sigma_y"):
        GaussianNoise(sigma_y)


@pytest.mark.parametrize("seed", [-1, 1.5, 2**64, True])
def test_noise_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        GaussianNoise(0.1, seed=seed)


def test_noise_bad_input():
    with pytest.raises(ValueError, match="y"):
        GaussianNoise(0.1, seed=0)(np.zeros(3))
    with pytest.raises(ValueError, match="y"):
        GaussianNoise(0.1, seed=0)(torch.zeros(3, dtype=torch.int64))


def test_operator_bad_shapes_and_values(op):
    x = _randn((2, *op.in_shape), 17)
    y = _randn((2, *op.out_shape), 18)
    with pytest.raises(ValueError, match="x: expected shape"):
        op.A(x[0])  # unbatched
    with pytest.raises(ValueError, match="x: expected shape"):
        op.A(torch.zeros(2, *op.in_shape[:-1], op.in_shape[-1] + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="y: expected shape"):
        op.A_adjoint(torch.zeros(2, *op.out_shape, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="x: expected a torch.Tensor"):
        op.A(x.numpy())
    with pytest.raises(ValueError, match="x: expected a floating-point"):
        op.A(x.to(torch.int64))
    assert op.check_input(x) is x and op.check_measurement(y) is y
    x[1, ...] = float("nan")
    with pytest.raises(ValueError, match="x: contains NaN or Inf"):
        op.check_input(x)
    y.view(-1)[0] = float("inf")
    with pytest.raises(ValueError, match="y: contains NaN or Inf"):
        op.check_measurement(y)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Identity(0), "in_shape"),
        (lambda: Identity(()), "in_shape"),
        (lambda: Identity((2, -1)), "in_shape"),
        (lambda: DenseOperator([1.0, 2.0]), "matrix"),
        (lambda: DenseOperator([[1.0, float("nan")]]), "matrix"),
        (lambda: DenseOperator(np.zeros((0, 3))), "matrix"),
        (lambda: DenseOperator("abc"), "matrix"),
        (lambda: GaussianBlur(6, 3.0, (1, 16, 16)), "kernel_size"),
        (lambda: GaussianBlur(0, 3.0, (1, 16, 16)), "kernel_size"),
        (lambda: GaussianBlur(2.5, 3.0, (1, 16, 16)), "kernel_size"),
        (lambda: GaussianBlur(61, 0.0, (1, 16, 16)), "std"),
        (lambda: GaussianBlur(61, float("nan"), (1, 16, 16)), "std"),
        (lambda: GaussianBlur(61, 3.0, (16, 16)), "in_shape"),
        (lambda: GaussianBlur(61, 3.0, (1, 16, 16), boundary="valid"), "boundary"),
        (lambda: AveragePoolSR(0, (1, 8, 8)), "factor"),
        (lambda: AveragePoolSR(3, (1, 8, 9)), "in_shape"),
        (lambda: AveragePoolSR(2, (8, 8)), "in_shape"),
        (lambda: Inpainting([[0.0, 0.5]]), "mask"),
        (lambda: Inpainting([[0.0, float("nan")]]), "mask"),
        (lambda: Inpainting(torch.tensor(1.0)), "mask"),
        (lambda: box_mask((4, 4), (2, 2, 3, 1)), "box"),
        (lambda: box_mask((4, 4), (-1, 0, 1, 1)), "box"),
        (lambda: box_mask((4, 4), (0, 0, 1)), "box"),
        (lambda: box_mask((4, 4), (1.5, 0, 1, 1)), "box"),  # fractional: was truncated to 1
        (lambda: box_mask((4, 4), (0, 0, 2.0, 1)), "box"),
        (lambda: box_mask((4, 4), (True, 0, 1, 1)), "box"),
        (lambda: box_mask((5,), (0, 0, 1, 1)), "shape"),
        (lambda: random_mask((4, 4), 1.5), "fraction"),
        (lambda: random_mask((4, 4), float("nan")), "fraction"),
        (lambda: adjointness_test(Identity(3), batch=0), "batch"),
    ],
)
def test_constructor_bad_input(make, name):
    with pytest.raises(ValueError, match=name):
        make()
