r"""Blur by any 2-D kernel computed with FFTs: :class:`FFTBlur`, :class:`FFTGaussianBlur`,
:class:`MotionBlur`.

The paper's blurs use 61 x 61 kernels on 256 x 256 colour images. A direct convolution costs
:math:`61^2 = 3721` multiply-adds per pixel and channel; an FFT of the (padded) image costs
:math:`O(\log N)` per pixel, whatever the kernel size, and works for kernels that are not
separable (motion blur). :class:`~diffusion.operators.GaussianBlur` (two dense ``(n, n)``
matrices) stays as it is: its numbers are those of the existing experiments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from diffusion.operators.base import LinearOperator, _as_float64_cpu, _as_int, _as_shape, _fmt
from diffusion.operators.blur import _extend_index, _gaussian_taps
from diffusion.operators.kernels import motion_kernel
from numerics.validate import check_positive

__all__ = ["FFTBlur", "FFTGaussianBlur", "MotionBlur"]

BOUNDARIES = ("zero", "reflect", "circular")


def _fast_length(n: int) -> int:
    """The smallest 5-smooth integer >= n (a size pocketfft / cuFFT transform fast)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


class FFTBlur(LinearOperator):
    r"""Blur of each channel by a 2-D kernel ``k`` via FFTs, with a chosen boundary extension.

    .. math::

        y_{c,i,j} = \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1} k_{u,v}\,
        \tilde x_{c,\, i + u - c_h,\, j + v - c_w},
        \qquad c_h = (k_h - 1)/2,\ c_w = (k_w - 1)/2,

    ``[B, C, H, W] -> [B, C, H, W]`` for any ``C`` (every channel blurred by the same kernel),
    where :math:`\tilde x` is ``x`` extended beyond its support by ``boundary``. This is the
    cross-correlation of ``torch.nn.functional.conv2d`` (and of the DPS reference code's
    ``Blurkernel``): ``A(x)`` equals ``F.conv2d(pad(x), k[None, None].expand(C, 1, kh, kw),
    groups=C)`` with ``pad`` the boundary extension by ``(c_h, c_w)`` pixels; for a symmetric
    kernel (Gaussian) it is also the convolution.

    Boundary conditions (``boundary``), as in :class:`~diffusion.operators.GaussianBlur`:

    - ``"circular"`` (default): periodic, :math:`\tilde x_{i} = x_{i \bmod H}`. The blur is then
      a circulant matrix, diagonalised by the DFT of size ``H x W``: with :math:`K` the DFT of
      the kernel wrapped onto the ``H x W`` grid (taps that land on the same pixel add up, so
      kernels wider than the image are fine), :math:`\hat y = \bar K \hat x` and
      :math:`\widehat{A^\top y} = K \hat y` (the exact transpose), and :meth:`prox_l2` has the
      closed form :math:`z + \mathcal F^{-1}[K \hat r / (|K|^2 + \rho)]`,
      :math:`r = y - A z`: exact, no iterations.
    - ``"zero"``: the image is padded with zeros by ``(c_h, c_w)`` to full size, blurred by a
      linear (non-wrapping) correlation computed with an FFT of a size :math:`\ge (H + k_h - 1)
      \times (W + k_w - 1)` (the next 5-smooth size), and cropped to ``H x W``
      (``scipy.signal.correlate2d(x, k, mode="same")``). The adjoint is the full linear
      convolution of ``y`` with ``k`` cropped back to ``H x W``, the exact transpose.
    - ``"reflect"``: mirrored about the edge pixels, ``d c b | a b c d | c b a``, repeated
      periodically when the kernel is wider than the image (torch ``F.pad(mode="reflect")``
      where that applies; the DPS reference code's ``ReflectionPad2d`` then a valid
      convolution). Padded like ``"zero"`` but with the mirrored pixels; the adjoint adds the
      mirrored margins back onto the pixels they were copied from.

    ``"zero"`` and ``"reflect"`` have no diagonalising transform, so their :meth:`prox_l2`
    uses the base class's conjugate gradients (each iteration one forward and one adjoint
    blur). Computation is in the input's dtype (float32 or float64; half precision is computed
    in float32 and cast back), on its device; the kernel's spectrum is computed once in float64
    and cached per device and dtype. Differentiable by autograd.

    Parameters
    ----------
    kernel : (kh, kw) array or tensor
        Finite; ``kh`` and ``kw`` odd (the centre tap is ``(kh // 2, kw // 2)``). Not
        normalised here (a blur kernel usually sums to 1).
    in_shape : (C, H, W) tuple of int
    boundary : {"circular", "zero", "reflect"}

    Examples
    --------
    >>> op = FFTBlur([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]], (1, 1, 4))
    >>> op.A(torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]]))  # y_j = (x_j + x_{j+1}) / 2, circular
    tensor([[[[1.5000, 2.5000, 3.5000, 2.5000]]]])
    >>> op.A_adjoint(torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]]))
    tensor([[[[0.5000, 0.5000, 0.0000, 0.0000]]]])
    """

    def __init__(self, kernel, in_shape, *, boundary: str = "circular"):
        k = _as_float64_cpu(kernel, "kernel")
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
            raise ValueError(f"kernel: expected a 2-d array of odd sizes, got {_fmt(k.shape)}")
        l1 = float(k.abs().sum())  # bounds the gain max|A x| / max|x|
        if not l1 <= torch.finfo(torch.float32).max:
            raise ValueError(
                f"kernel: sum of |k| = {l1:.3g} is beyond the float32 range, so A(x) overflows "
                "for inputs of order 1 (a blur kernel usually sums to 1)"
            )
        self.in_shape = _as_shape(in_shape, "in_shape", ndim=3)
        self.out_shape = self.in_shape
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
        self.boundary = boundary
        self._k = k
        _, H, W = self.in_shape
        kh, kw = k.shape
        self._c = (kh // 2, kw // 2)
        if boundary == "circular":
            self._n = (H, W)
            rows = (torch.arange(kh) - kh // 2) % H
            cols = (torch.arange(kw) - kw // 2) % W
            grid = torch.zeros((H, W), dtype=torch.float64)
            grid.index_put_((rows[:, None].expand(kh, kw), cols.expand(kh, kw)), k, accumulate=True)
        else:
            self._n = (_fast_length(H + kh - 1), _fast_length(W + kw - 1))
            grid = torch.zeros(self._n, dtype=torch.float64)
            grid[:kh, :kw] = k
        # "reflect": the source pixel of each padded row and column
        self._src = None
        if boundary == "reflect":
            self._src = tuple(
                _extend_index(torch.arange(n + 2 * c) - c, n, boundary)
                for n, c in ((H, kh // 2), (W, kw // 2))
            )
        self._K = torch.fft.rfft2(grid)  # complex128, (n_h, n_w // 2 + 1)
        self._cache: dict[tuple, tuple] = {}

    @property
    def kernel(self) -> torch.Tensor:
        """The ``(kh, kw)`` float64 CPU kernel (a copy)."""
        return self._k.clone()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kernel_shape={tuple(self._k.shape)}, "
            f"in_shape={self.in_shape}, boundary={self.boundary!r})"
        )

    # -- internals
    def _consts(self, x: torch.Tensor):
        """(spectrum, source indices) on ``x``'s device, spectrum in the complex dtype of the
        working precision (cached)."""
        key = (x.device, x.dtype)
        c = self._cache.get(key)
        if c is None:
            cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
            src = None if self._src is None else tuple(s.to(x.device) for s in self._src)
            c = (self._K.to(device=x.device, dtype=cdtype), src)
            self._cache[key] = c
        return c

    def _filter(self, x: torch.Tensor, conj: bool) -> torch.Tensor:
        """Multiply the DFT of size ``self._n`` of ``x`` (zero-padded) by :math:`\\bar K` or
        :math:`K`; returns the full ``self._n`` result."""
        K, _ = self._consts(x)
        X = torch.fft.rfft2(x, s=self._n)
        return torch.fft.irfft2(X * (K.conj() if conj else K), s=self._n)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        ch, cw = self._c
        if self.boundary == "zero":
            return F.pad(x, (cw, cw, ch, ch))
        _, (sh, sw) = self._consts(x)
        return x.index_select(-2, sh).index_select(-1, sw)

    def _unpad(self, z: torch.Tensor) -> torch.Tensor:
        """The adjoint of :meth:`_pad`: crop (zero), or fold the mirrored margins back."""
        _, H, W = self.in_shape
        ch, cw = self._c
        if self.boundary == "zero":
            return z[..., ch : ch + H, cw : cw + W]
        _, (sh, sw) = self._consts(z)
        rows = z.new_zeros((*z.shape[:-2], H, z.shape[-1])).index_add(-2, sh, z)
        return rows.new_zeros((*z.shape[:-2], H, W)).index_add(-1, sw, rows)

    def _run(self, fn, x: torch.Tensor) -> torch.Tensor:
        """Compute ``fn`` in float32 for half-precision inputs (FFTs need float32/64)."""
        if x.dtype in (torch.float32, torch.float64):
            return fn(x)
        return fn(x.float()).to(x.dtype)

    def _apply(self, x):
        return self._run(self._forward, x)

    def _apply_adjoint(self, y):
        return self._run(self._adjoint, y)

    def _forward(self, x):
        _, H, W = self.in_shape
        if self.boundary == "circular":
            return self._filter(x, conj=True)
        return self._filter(self._pad(x), conj=True)[..., :H, :W]

    def _adjoint(self, y):
        _, H, W = self.in_shape
        if self.boundary == "circular":
            return self._filter(y, conj=False)
        kh, kw = self._k.shape
        return self._unpad(self._filter(y, conj=False)[..., : H + kh - 1, : W + kw - 1])

    def _prox(self, z, y, rho):
        if self.boundary != "circular":
            return super()._prox(z, y, rho)

        def step(z):
            K, _ = self._consts(z)
            R = torch.fft.rfft2(y.to(z.dtype) - self._forward(z))
            return z + torch.fft.irfft2(R * (K / (K.abs() ** 2 + rho)), s=self._n)

        return self._run(step, z)


class FFTGaussianBlur(FFTBlur):
    r"""Gaussian blur by FFT: :class:`FFTBlur` with the kernel of
    :class:`~diffusion.operators.GaussianBlur`.

    .. math::

        k_{ij} = g_i g_j, \qquad g_i \propto e^{-(i-c)^2/(2 s^2)}, \quad \sum_i g_i = 1,

    the sampled Gaussian of standard deviation ``std`` normalised over the
    ``kernel_size x kernel_size`` window (the same taps as ``GaussianBlur``, so for each
    boundary the two operators agree to rounding). The paper uses ``kernel_size=61``,
    ``std=3.0`` at 256 x 256; at that size one forward blur of a 3-channel image is three FFTs
    of ``320 x 320`` instead of :math:`3 \cdot 256^2 \cdot 61^2 \approx 7.3 \cdot 10^8`
    multiply-adds of a direct convolution. A separate class rather than an option of
    ``GaussianBlur``: that class's matrices and numbers stay as they are, and the FFT machinery
    is the one :class:`MotionBlur` (not separable) needs anyway.

    Parameters
    ----------
    kernel_size : int, odd, >= 1
    std : float > 0, in pixels
    in_shape : (C, H, W) tuple of int
    boundary : {"circular", "zero", "reflect"}
        See :class:`FFTBlur`; ``"circular"`` (default) has the closed-form :meth:`prox_l2`.

    Examples
    --------
    >>> op = FFTGaussianBlur(61, 3.0, (3, 256, 256))
    >>> op.A(torch.ones(1, 3, 256, 256)).sub(1).abs().max() < 1e-5  # a constant stays constant
    tensor(True)
    """

    def __init__(self, kernel_size: int, std: float, in_shape, *, boundary: str = "circular"):
        self.kernel_size = _as_int(kernel_size, "kernel_size", minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd int, got {kernel_size!r}")
        self.std = check_positive(std, "std")
        g = _gaussian_taps(self.kernel_size, self.std)
        super().__init__(torch.outer(g, g), in_shape, boundary=boundary)

    def __repr__(self) -> str:
        return (
            f"FFTGaussianBlur(kernel_size={self.kernel_size}, std={self.std}, "
            f"in_shape={self.in_shape}, boundary={self.boundary!r})"
        )


class MotionBlur(FFTBlur):
    r"""Motion blur by a seeded random camera-shake kernel, applied by FFT (:class:`FFTBlur`).

    The kernel is :func:`~diffusion.operators.kernels.motion_kernel` ``(kernel_size,
    intensity, seed)``: non-negative, summing to 1, a deterministic function of the seed. The
    DPS experiments (and the paper) use 61 x 61 kernels of intensity 0.5.

    Parameters
    ----------
    kernel_size : int, odd, >= 3
    intensity : float in [0, 1]
    in_shape : (C, H, W) tuple of int
    seed : int >= 0
    boundary : {"circular", "zero", "reflect"}

    Examples
    --------
    >>> op = MotionBlur(15, 0.5, (3, 32, 32), seed=1)
    >>> round(float(op.kernel.sum()), 12), op.A(torch.zeros(2, 3, 32, 32)).shape
    (1.0, torch.Size([2, 3, 32, 32]))
    """

    def __init__(
        self,
        kernel_size: int,
        intensity: float,
        in_shape,
        *,
        seed: int = 0,
        boundary: str = "circular",
    ):
        try:
            k = motion_kernel(kernel_size, intensity, seed)
        except ValueError as exc:  # motion_kernel calls it "size"
            msg = str(exc)
            if msg.startswith("size:"):
                raise ValueError("kernel_size:" + msg[len("size:"):]) from exc
            raise
        self.kernel_size, self.intensity, self.seed = k.shape[0], float(intensity), int(seed)
        super().__init__(k, in_shape, boundary=boundary)

    def __repr__(self) -> str:
        return (
            f"MotionBlur(kernel_size={self.kernel_size}, intensity={self.intensity}, "
            f"in_shape={self.in_shape}, seed={self.seed}, boundary={self.boundary!r})"
        )
