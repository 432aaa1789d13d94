r"""Linear measurement operators :math:`y = A x + n` and the Gaussian noise model, in torch.

Every operator maps a batch ``x`` of shape ``[B, *in_shape]`` to ``A(x)`` of shape
``[B, *out_shape]`` (images are ``[B, C, H, W]``, vectors ``[B, d]``), has the exact adjoint
``A_adjoint`` (:math:`\langle A x, y\rangle = \langle x, A^\top y\rangle`, checked for every
operator by :func:`adjointness_test`), and a dense per-sample matrix :meth:`LinearOperator.as_matrix`
for exact posteriors and tests. Operator parameters (kernel, mask, matrix) are kept in float64 on
the CPU and cast to the input's dtype and device at use, so one operator serves CPU and CUDA,
float32 and float64. All maps are differentiable by autograd (DPS backpropagates through
``A``).

Pixel range convention: images live in :math:`[-1, 1]` (as in the DPS reference code), so the
noise level :math:`\sigma_y` is in those units: :math:`\sigma_y = 0.05` in :math:`[-1, 1]` is
:math:`0.025` in :math:`[0, 1]` units, i.e. :math:`\approx 6.4/255`.

``A(x)`` and ``A_adjoint(y)`` check shapes only (cheap, no device synchronisation);
:meth:`LinearOperator.check_input` / :meth:`LinearOperator.check_measurement` also check for NaN or
Inf and are meant for public boundaries (the sampler's entry), not for every step.

References
----------
1. H. Chung, J. Kim, M. T. Mccann, M. L. Klasky, J. C. Ye, "Diffusion Posterior Sampling for
   General Noisy Inverse Problems", ICLR 2023 (code: github.com/DPS2022/diffusion-posterior-sampling,
   ``guided_diffusion/measurements.py``, ``util/img_utils.py``).
2. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025), Section IV.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from numerics.validate import check_positive

__all__ = [
    "AveragePoolSR",
    "DenseOperator",
    "GaussianBlur",
    "GaussianNoise",
    "Identity",
    "Inpainting",
    "LinearOperator",
    "adjointness_test",
    "box_mask",
    "random_mask",
]


# --------------------------------------------------------------------------- helpers


def _as_shape(shape, name: str, *, ndim: int | None = None) -> tuple[int, ...]:
    """Return ``shape`` (an int or a sequence of positive ints) as a tuple, checking it."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        out = tuple(shape)
    except TypeError as exc:
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shape!r}") from exc
    if (
        len(out) == 0
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in out)
        or any(s <= 0 for s in out)
    ):
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shape!r}")
    out = tuple(int(s) for s in out)
    if ndim is not None and len(out) != ndim:
        want = {3: "(C, H, W)", 1: "(d,)"}.get(ndim, f"{ndim} entries")
        raise ValueError(f"{name}: expected {want}, got {out}")
    return out


def _as_int(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _as_float64_cpu(value, name: str) -> torch.Tensor:
    """A finite float64 CPU copy of an array-like or tensor."""
    try:
        if isinstance(value, torch.Tensor):
            t = value.detach().to(device="cpu", dtype=torch.float64).clone()
        else:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64)).clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from exc
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    return t


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


# --------------------------------------------------------------------------- base class


class LinearOperator:
    r"""Base class of a linear per-sample map :math:`A: \mathbb{R}^{in\_shape} \to \mathbb{R}^{out\_shape}`.

    .. math::

        y = A x + n, \qquad \langle A x, y\rangle = \langle x, A^\top y\rangle .

    Subclasses set ``in_shape`` / ``out_shape`` (per-sample shapes, without the batch axis) and
    implement ``_apply(x)`` and ``_apply_adjoint(y)`` on batched tensors, taking dtype and
    device from the input.

    Attributes
    ----------
    in_shape, out_shape : tuple of int
        Per-sample shapes; inputs are ``[B, *in_shape]``, outputs ``[B, *out_shape]``.
    in_dim, out_dim : int
        ``prod(in_shape)`` and ``prod(out_shape)``: :meth:`as_matrix` is ``(out_dim, in_dim)``.
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    # -- to implement
    def _apply(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API
    @property
    def in_dim(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_dim(self) -> int:
        return math.prod(self.out_shape)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator: ``[B, *in_shape] -> [B, *out_shape]`` (shape checked)."""
        self._check_shape(x, self.in_shape, "x")
        return self._apply(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Apply the exact adjoint: ``[B, *out_shape] -> [B, *in_shape]`` (shape checked)."""
        self._check_shape(y, self.out_shape, "y")
        return self._apply_adjoint(y)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        """Simulate a measurement: ``noise(A(x))`` when a noise model is given, else ``A(x)``."""
        y = self.A(x)
        return y if noise is None else noise(y)

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        """Check ``x`` is a finite floating tensor ``[B, *in_shape]``; return it, else ValueError."""
        self._check_shape(x, self.in_shape, name)
        _check_finite(x, name)
        return x

    def check_measurement(self, y, name: str = "y") -> torch.Tensor:
        """Check ``y`` is a finite floating tensor ``[B, *out_shape]``; return it, else ValueError."""
        self._check_shape(y, self.out_shape, name)
        _check_finite(y, name)
        return y

    def as_matrix(
        self,
        dtype: torch.dtype = torch.float64,
        *,
        device=None,
        batch_size: int = 256,
        max_entries: int = 2**27,
    ) -> torch.Tensor:
        r"""The dense ``(out_dim, in_dim)`` matrix :math:`M` of the per-sample map.

        Column ``j`` is ``A(e_j)`` flattened (C order), built by applying ``A`` to the identity
        basis in batches of ``batch_size``, so ``A(x).flatten(1) == x.flatten(1) @ M.T``.
        Refuses (ValueError) when ``out_dim * in_dim > max_entries`` (default 2**27, 1 GiB in
        float64): meant for small problems, exact posteriors and tests.
        """
        batch_size = _as_int(batch_size, "batch_size", minimum=1)
        m, d = self.out_dim, self.in_dim
        if m * d > max_entries:
            raise ValueError(
                f"as_matrix: the matrix would have {m} x {d} = {m * d} entries > max_entries="
                f"{max_entries}; use A / A_adjoint instead or raise max_entries"
            )
        device = torch.device("cpu") if device is None else torch.device(device)
        M = torch.empty((m, d), dtype=dtype, device=device)
        with torch.no_grad():
            for start in range(0, d, batch_size):
                stop = min(start + batch_size, d)
                basis = torch.zeros((stop - start, d), dtype=dtype, device=device)
                idx = torch.arange(stop - start, device=device)
                basis[idx, idx + start] = 1
                cols = self._apply(basis.reshape((stop - start, *self.in_shape)))
                M[:, start:stop] = cols.reshape(stop - start, m).T
        return M

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_shape={self.in_shape}, out_shape={self.out_shape})"

    # -- internals
    @staticmethod
    def _check_shape(x, shape: tuple[int, ...], name: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"{name}: expected shape [B, {', '.join(map(str, shape))}] "
                f"(batch, then per-sample shape {_fmt(shape)}), got {_fmt(x.shape)}"
            )


def _check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf")


class _CastCache:
    """Float64 CPU parameter with per-(device, dtype) cached copies (constants, no grad)."""

    def __init__(self, value: torch.Tensor):
        self.value = value
        self._cache: dict[tuple, torch.Tensor] = {}

    def like(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.dtype)
        t = self._cache.get(key)
        if t is None:
            t = self.value.to(device=x.device, dtype=x.dtype)
            self._cache[key] = t
        return t


# --------------------------------------------------------------------------- operators


class Identity(LinearOperator):
    r"""Denoising: :math:`A = I`, :math:`A^\top = I`.

    Parameters
    ----------
    in_shape : int or tuple of int
        Per-sample shape, e.g. ``(C, H, W)`` or ``d``; ``out_shape == in_shape``.

    Examples
    --------
    >>> op = Identity((1, 2, 2))
    >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> torch.equal(op.A(x), x), torch.equal(op.A_adjoint(x), x)
    (True, True)
    >>> op.as_matrix().shape
    torch.Size([4, 4])
    """

    def __init__(self, in_shape):
        self.in_shape = _as_shape(in_shape, "in_shape")
        self.out_shape = self.in_shape

    def _apply(self, x):
        return x

    def _apply_adjoint(self, y):
        return y


class DenseOperator(LinearOperator):
    r"""A dense matrix on vectors: :math:`y = M x`, :math:`A^\top y = M^\top y`.

    Batched as ``[B, d] -> [B, m]`` (``y = x @ M.T``).

    Parameters
    ----------
    matrix : (m, d) array or tensor
        Finite; stored in float64 on the CPU, cast to the input's dtype/device at use.

    Examples
    --------
    >>> op = DenseOperator([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
    >>> op.in_shape, op.out_shape
    ((3,), (2,))
    >>> op.A(torch.tensor([[1.0, 1.0, 1.0]]))
    tensor([[3., 0.]])
    >>> op.A_adjoint(torch.tensor([[1.0, 1.0]]))
    tensor([[ 1.,  3., -1.]])
    """

    def __init__(self, matrix):
        M = _as_float64_cpu(matrix, "matrix")
        if M.ndim != 2 or M.shape[0] == 0 or M.shape[1] == 0:
            raise ValueError(
                f"matrix: expected a non-empty 2-d (m, d) array, got shape {_fmt(M.shape)}"
            )
        self._M = _CastCache(M)
        self.out_shape, self.in_shape = (M.shape[0],), (M.shape[1],)

    @property
    def matrix(self) -> torch.Tensor:
        """The ``(m, d)`` float64 CPU matrix (a copy)."""
        return self._M.value.clone()

    def _apply(self, x):
        return x @ self._M.like(x).T

    def _apply_adjoint(self, y):
        return y @ self._M.like(y)


def _gaussian_taps(kernel_size: int, std: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``g_i ∝ exp(-(i - c)^2 / (2 std^2))``, float64, sum 1."""
    i = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size // 2)
    g = torch.exp(-0.5 * (i / std) ** 2)
    return g / g.sum()


def _extend_index(j: torch.Tensor, n: int, boundary: str) -> torch.Tensor:
    """Map indices ``j`` (any integers) of the extended signal to ``[0, n)`` (or -1 = zero)."""
    if boundary == "zero":
        return torch.where((j >= 0) & (j < n), j, -1)
    if boundary == "circular":
        return j % n
    # reflect about the edge samples (d c b | a b c d | c b a): period 2 (n - 1)
    if n == 1:
        return torch.zeros_like(j)
    j = j % (2 * (n - 1))
    return torch.where(j > n - 1, 2 * (n - 1) - j, j)


def _conv_matrix(n: int, taps: torch.Tensor, boundary: str) -> torch.Tensor:
    r"""The ``(n, n)`` float64 matrix of a same-size 1-D convolution with ``taps`` (odd length).

    :math:`B_{i j} = \sum_u g_u [\,e(i + u - c) = j\,]`, ``e`` the boundary extension.
    """
    k = taps.shape[0]
    c = k // 2
    out = torch.arange(n).repeat_interleave(k)
    src = _extend_index(out + torch.arange(k).repeat(n) - c, n, boundary)
    vals = taps.repeat(n)
    keep = src >= 0
    B = torch.zeros((n, n), dtype=torch.float64)
    B.index_put_((out[keep], src[keep]), vals[keep], accumulate=True)
    return B


class GaussianBlur(LinearOperator):
    r"""Gaussian blur of each channel: :math:`y = k * x` (a 2-D convolution, same size).

    .. math::

        k_{ij} = g_i g_j, \qquad g_i = \frac{e^{-(i-c)^2/(2 s^2)}}{\sum_l e^{-(l-c)^2/(2 s^2)}},
        \quad c = (\text{kernel\_size} - 1)/2, \qquad \sum_{ij} k_{ij} = 1,

    the sampled Gaussian of standard deviation ``std`` (pixels) normalised over the whole
    ``kernel_size x kernel_size`` window; ``[B, C, H, W] -> [B, C, H, W]``. The kernel is
    symmetric, so convolution and correlation coincide.

    The kernel is separable, so with any of the boundary conditions below the blur is exactly
    :math:`Y = B_H X B_W^\top` per channel, where :math:`B_n` is the ``(n, n)`` matrix of the
    same-size 1-D convolution with ``g`` *including the boundary extension*. The operator applies
    these two matrices (two batched matmuls, :math:`O(HW(H + W))` per channel: at 256 x 256 this
    is about 4x the multiply-adds of a direct 61-tap separable convolution, but BLAS-fast on CPU
    and GPU; on CUDA float32 matmuls are full float32 unless TF32 is switched on, e.g. by
    ``torch.set_float32_matmul_precision("high")``). The adjoint is the exact transpose,
    :math:`A^\top Y = B_H^\top Y B_W`.

    Boundary conditions (``boundary``), i.e. how ``x`` is extended beyond its ``H x W`` support:

    - ``"zero"`` (default): by zeros (``scipy.ndimage.convolve(..., mode="constant")``,
      ``scipy.signal.convolve2d(..., mode="same")``). Pixels within ``kernel_size // 2`` of the
      border lose mass (a constant image darkens there). :math:`B_n` is symmetric, so the adjoint
      is the same blur: correlation with the flipped (= same) kernel, cropped to ``H x W``.
    - ``"reflect"``: mirrored about the edge pixels, ``d c b | a b c d | c b a`` (torch
      ``F.pad(mode="reflect")``, ``scipy.ndimage`` ``mode="mirror"``), repeated periodically
      when the kernel is wider than the image. This is the forward map of the DPS reference code
      (``ReflectionPad2d`` then a valid convolution). Here :math:`B_n` is *not* symmetric: the
      adjoint blurs and folds the mirrored margins back onto the pixels they were copied from.
    - ``"circular"``: periodic (``scipy.ndimage`` ``mode="wrap"``); :math:`B_n` is circulant
      and symmetric, diagonalised by the DFT.

    All three adjoints are true adjoints (checked by :func:`adjointness_test`). The DPS reference
    code's ``GaussialBlurOperator.transpose`` returns its input unchanged, i.e. the identity,
    which is *not* the adjoint of its blur. Its kernel (``scipy.ndimage.gaussian_filter`` of a
    delta) is moreover truncated at 4 std (a 25 x 25 support inside the 61 x 61 window at std 3);
    it differs from this one by at most 1.5e-6 per tap (peak 0.0177), 1.1e-4 in total.

    Parameters
    ----------
    kernel_size : int
        Odd, >= 1. The paper (after DPS) uses 61.
    std : float > 0
        Standard deviation in pixels. The paper uses 3.0.
    in_shape : (C, H, W) tuple of int
    boundary : {"zero", "reflect", "circular"}

    Attributes
    ----------
    kernel : (kernel_size, kernel_size) float64 tensor, sums to 1
    taps : (kernel_size,) float64 tensor, the 1-D factor ``g``
    """

    BOUNDARIES = ("zero", "reflect", "circular")

    def __init__(self, kernel_size: int, std: float, in_shape, *, boundary: str = "zero"):
        self.kernel_size = _as_int(kernel_size, "kernel_size", minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd int, got {kernel_size!r}")
        self.std = check_positive(std, "std")
        self.in_shape = _as_shape(in_shape, "in_shape", ndim=3)
        self.out_shape = self.in_shape
        if boundary not in self.BOUNDARIES:
            raise ValueError(f"boundary: expected one of {self.BOUNDARIES}, got {boundary!r}")
        self.boundary = boundary
        g = _gaussian_taps(self.kernel_size, self.std)
        self._g = g
        _, H, W = self.in_shape
        self._BH = _CastCache(_conv_matrix(H, g, boundary))
        self._BW = self._BH if W == H else _CastCache(_conv_matrix(W, g, boundary))

    @property
    def taps(self) -> torch.Tensor:
        return self._g.clone()

    @property
    def kernel(self) -> torch.Tensor:
        return torch.outer(self._g, self._g)

    def __repr__(self) -> str:
        return (
            f"GaussianBlur(kernel_size={self.kernel_size}, std={self.std}, "
            f"in_shape={self.in_shape}, boundary={self.boundary!r})"
        )

    def _apply(self, x):
        return self._BH.like(x) @ x @ self._BW.like(x).T

    def _apply_adjoint(self, y):
        return self._BH.like(y).T @ y @ self._BW.like(y)


class AveragePoolSR(LinearOperator):
    r"""Super-resolution measurement: average pooling by ``factor`` :math:`s` (block mean).

    .. math::

        (A x)_{c,i,j} = \frac{1}{s^2} \sum_{a,b=0}^{s-1} x_{c,\, s i + a,\, s j + b},
        \qquad (A^\top y)_{c,h,w} = \frac{1}{s^2}\, y_{c,\, \lfloor h/s \rfloor,\, \lfloor w/s \rfloor},

    ``[B, C, H, W] -> [B, C, H/s, W/s]``; the adjoint is nearest-neighbour upsampling divided by
    :math:`s^2` (so :math:`A A^\top = I/s^2`). The downsampler is the box filter (``F.avg_pool2d``),
    not the bicubic anti-aliased ``Resizer`` of the DPS reference code; the paper uses
    :math:`s = 4` and :math:`8`.

    Parameters
    ----------
    factor : int >= 1
    in_shape : (C, H, W) tuple of int, ``H`` and ``W`` divisible by ``factor``

    Examples
    --------
    >>> op = AveragePoolSR(2, (1, 2, 4))
    >>> op.out_shape
    (1, 1, 2)
    >>> op.A(torch.tensor([[[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]]))
    tensor([[[[3.5000, 5.5000]]]])
    >>> op.A_adjoint(torch.tensor([[[[4.0, 8.0]]]]))
    tensor([[[[1., 1., 2., 2.],
              [1., 1., 2., 2.]]]])
    """

    def __init__(self, factor: int, in_shape):
        self.factor = _as_int(factor, "factor", minimum=1)
        self.in_shape = _as_shape(in_shape, "in_shape", ndim=3)
        C, H, W = self.in_shape
        if H % self.factor or W % self.factor:
            raise ValueError(
                f"in_shape: H and W must be divisible by factor={self.factor}, got {self.in_shape}"
            )
        self.out_shape = (C, H // self.factor, W // self.factor)

    def __repr__(self) -> str:
        return f"AveragePoolSR(factor={self.factor}, in_shape={self.in_shape})"

    def _apply(self, x):
        s = self.factor
        return F.avg_pool2d(x, kernel_size=s, stride=s) if s > 1 else x

    def _apply_adjoint(self, y):
        s = self.factor
        if s == 1:
            return y
        return y.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1) / (s * s)


class Inpainting(LinearOperator):
    r"""Inpainting: multiply by a 0/1 mask, :math:`y = m \odot x`, :math:`A^\top y = m \odot y`.

    ``[B, *mask.shape] -> [B, *mask.shape]``: the measurement keeps the full image shape with
    zeros at the missing pixels (mask 0 = missing, 1 = observed), so :meth:`as_matrix` is the
    ``(d, d)`` diagonal matrix :math:`\mathrm{diag}(m)` rather than a ``(k, d)`` row selection.
    Its zero rows carry no information about ``x``: the posterior is the same as observing only
    the kept pixels, but a noise model adds noise at the masked entries of ``y`` too (they are
    ignored by any likelihood through :math:`A^\top`). The map is self-adjoint (a projection).

    Parameters
    ----------
    mask : array or tensor of 0/1 (or bool), any per-sample shape, e.g. ``(C, H, W)``
        Build with :func:`box_mask` or :func:`random_mask`.
    """

    def __init__(self, mask):
        m = _as_float64_cpu(mask, "mask")
        if m.ndim == 0 or m.numel() == 0:
            raise ValueError(f"mask: expected a non-empty array, got shape {_fmt(m.shape)}")
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError("mask: expected values in {0, 1} (0 = missing, 1 = observed)")
        self._m = _CastCache(m)
        self.in_shape = self.out_shape = tuple(m.shape)

    @property
    def mask(self) -> torch.Tensor:
        """The float64 CPU 0/1 mask (a copy)."""
        return self._m.value.clone()

    def _apply(self, x):
        return x * self._m.like(x)

    def _apply_adjoint(self, y):
        return y * self._m.like(y)


def box_mask(shape, box) -> torch.Tensor:
    """A float64 0/1 mask of ``shape`` (``(H, W)`` or ``(C, H, W)``) with a missing box.

    Parameters
    ----------
    shape : tuple of int, ``(H, W)`` or ``(C, H, W)``
    box : (top, left, height, width) tuple of int
        The rectangle ``[top, top + height) x [left, left + width)`` is set to 0 (missing) in
        every channel; it must lie inside ``H x W``. Everything else is 1 (observed).

    Examples
    --------
    >>> box_mask((3, 4), (1, 1, 1, 2))
    tensor([[1., 1., 1., 1.],
            [1., 0., 0., 1.],
            [1., 1., 1., 1.]], dtype=torch.float64)
    """
    shape = _as_shape(shape, "shape")
    if len(shape) not in (2, 3):
        raise ValueError(f"shape: expected (H, W) or (C, H, W), got {shape}")
    H, W = shape[-2:]
    try:
        top, left, height, width = (int(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box: expected (top, left, height, width) ints, got {box!r}") from exc
    if top < 0 or left < 0 or height < 0 or width < 0 or top + height > H or left + width > W:
        raise ValueError(
            f"box: (top, left, height, width)={box!r} does not fit in H x W = {H} x {W}"
        )
    m = torch.ones(shape, dtype=torch.float64)
    m[..., top : top + height, left : left + width] = 0
    return m


def random_mask(shape, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A float64 0/1 mask of ``shape`` with a random ``fraction`` of pixels missing.

    Exactly ``round(fraction * H * W)`` pixel positions, drawn without replacement by
    ``torch.randperm`` with ``generator`` (a CPU ``torch.Generator``; deterministic given its
    seed), are set to 0 in every channel, as in the DPS reference code's random masks.

    Parameters
    ----------
    shape : tuple of int, ``(H, W)`` or ``(C, H, W)``
    fraction : float in [0, 1]
        Fraction of missing pixels.
    generator : torch.Generator, optional
    """
    shape = _as_shape(shape, "shape")
    if len(shape) not in (2, 3):
        raise ValueError(f"shape: expected (H, W) or (C, H, W), got {shape}")
    try:
        frac = float(fraction)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}") from exc
    if not (0.0 <= frac <= 1.0):
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    H, W = shape[-2:]
    n_missing = round(frac * H * W)
    flat = torch.ones(H * W, dtype=torch.float64)
    flat[torch.randperm(H * W, generator=generator)[:n_missing]] = 0
    return flat.reshape(H, W).expand(shape).clone()


# --------------------------------------------------------------------------- noise


class GaussianNoise:
    r"""Additive white Gaussian noise: :math:`y \mapsto y + \sigma_y z`, :math:`z \sim N(0, I)`.

    ``sigma_y`` is in the units of the data: images live in :math:`[-1, 1]`, so
    ``sigma_y=0.05`` (the DPS setting) is 0.025 in :math:`[0, 1]` units, :math:`\approx 6.4/255`.

    Randomness: the object owns one ``torch.Generator`` per device, created at the first call on
    that device and seeded with ``seed`` (drawn once from the OS if ``seed`` is None; readable as
    ``.seed``). Two objects with the same seed produce the same noise sequence on the CPU, and on
    a given CUDA device with the same torch version; the CPU and CUDA streams are different
    generators (MT19937 vs Philox), so the same seed gives *different* noise on CPU and CUDA.
    Successive calls continue the stream; :meth:`reset` restarts it.

    Parameters
    ----------
    sigma_y : float > 0, finite
    seed : int >= 0, optional
    """

    def __init__(self, sigma_y: float, *, seed: int | None = None):
        self.sigma_y = check_positive(sigma_y, "sigma_y")
        if seed is None:
            seed = torch.Generator().seed()  # fresh OS entropy; global RNG state untouched
        self.seed = _as_int(seed, "seed", minimum=0)
        if self.seed >= 2**64:
            raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        self._generators: dict[torch.device, torch.Generator] = {}

    def reset(self) -> None:
        """Restart every device's stream from ``seed``."""
        self._generators.clear()

    def generator(self, device) -> torch.Generator:
        """The generator used on ``device`` (created and seeded on first use)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        g = self._generators.get(device)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._generators[device] = g
        return g

    def sample(self, like: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma_y z`, :math:`z \sim N(0, I)`, with ``like``'s shape, dtype and device."""
        if not isinstance(like, torch.Tensor) or not like.is_floating_point():
            raise ValueError("y: expected a floating-point torch.Tensor")
        z = torch.randn(
            like.shape, generator=self.generator(like.device), device=like.device, dtype=like.dtype
        )
        return self.sigma_y * z

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """Return ``y + sigma_y * z`` (same shape, dtype and device as ``y``)."""
        return y + self.sample(y)

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma_y={self.sigma_y}, seed={self.seed})"


# --------------------------------------------------------------------------- adjointness


def adjointness_test(
    op: LinearOperator,
    *,
    batch: int = 3,
    dtype: torch.dtype = torch.float64,
    generator: torch.Generator | None = None,
    device=None,
) -> float:
    r"""Largest per-sample relative adjointness error of ``op`` on random inputs.

    .. math::

        e = \max_b \frac{|\langle A x_b, y_b\rangle - \langle x_b, A^\top y_b\rangle|}
        {\max(\|A x_b\|\,\|y_b\|,\ \|x_b\|\,\|A^\top y_b\|)}

    with :math:`x_b, y_b \sim N(0, I)` drawn (on the CPU, with ``generator``) in ``dtype`` and
    moved to ``device``. The denominator is the Cauchy–Schwarz bound of both inner products:
    scale-free, and unlike :math:`|\langle A x, y\rangle|` it is not near zero by chance. For an
    exact adjoint :math:`e` is a rounding error (< 1e-12 in float64); a wrong adjoint gives
    :math:`e` of order :math:`1/\sqrt{\text{out\_dim}}` or larger. Returns 0.0 when the
    denominator is 0 (e.g. an all-zero mask).
    """
    batch = _as_int(batch, "batch", minimum=1)
    device = torch.device("cpu") if device is None else torch.device(device)
    x = torch.randn((batch, *op.in_shape), generator=generator, dtype=dtype).to(device)
    y = torch.randn((batch, *op.out_shape), generator=generator, dtype=dtype).to(device)
    with torch.no_grad():
        Ax = op.A(x).reshape(batch, -1)
        Aty = op.A_adjoint(y).reshape(batch, -1)
    x, y = x.reshape(batch, -1), y.reshape(batch, -1)
    lhs = (Ax * y).sum(dim=1)
    rhs = (x * Aty).sum(dim=1)
    denom = torch.maximum(Ax.norm(dim=1) * y.norm(dim=1), x.norm(dim=1) * Aty.norm(dim=1))
    err = torch.where(denom > 0, (lhs - rhs).abs() / denom.clamp_min(torch.finfo(dtype).tiny), 0)
    return float(err.max())
