r"""The operator base class :class:`LinearOperator`, composition and the adjointness test.

A subclass sets ``in_shape`` / ``out_shape`` and implements ``_apply`` and ``_apply_adjoint``;
everything else (shape checks, :meth:`~LinearOperator.as_matrix`,
:meth:`~LinearOperator.prox_l2` by conjugate gradients, ``A @ B``) comes from here. Subclasses
with a closed-form proximal step override ``_prox(z, y, rho)`` (see :mod:`diffusion.operators`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion._checks import check_device, check_tensor
from numerics.validate import check_positive

__all__ = ["ComposedOperator", "LinearOperator", "adjointness_test", "check_float_dtype"]


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
    """A finite float64 CPU copy of an array-like or tensor (complex refused)."""
    if (isinstance(value, torch.Tensor) and value.is_complex()) or (
        not isinstance(value, torch.Tensor) and np.iscomplexobj(value)
    ):
        raise ValueError(f"{name}: expected real numbers, got a complex array")
    if isinstance(value, torch.Tensor) and value.is_meta:
        raise ValueError(f"{name}: a meta tensor has no data")
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


def check_float_dtype(dtype, name: str = "dtype") -> torch.dtype:
    """Return ``dtype`` if it is a floating-point ``torch.dtype``, else raise TypeError naming it.

    An integer dtype would silently truncate (an operator's matrix, a prior's draws).

    Examples
    --------
    >>> check_float_dtype(torch.float32)
    torch.float32
    >>> check_float_dtype(torch.int64)
    Traceback (most recent call last):
    ...
    TypeError: dtype: expected a floating-point torch.dtype (e.g. torch.float64), got torch.int64
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"{name}: expected a floating-point torch.dtype (e.g. torch.float64), got {dtype!r}"
        )
    return dtype


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
        """Apply the operator: ``[B, *in_shape] -> [B, *out_shape]``.

        ``x`` is checked (a floating tensor of that shape) and so is the result: finite,
        else ValueError naming ``x`` (NaN/Inf in ``x``, or an overflow of its dtype); one
        device synchronisation. Guidance calls the unchecked ``_A`` per step.
        """
        return _checked_result(self._A(x), x, "x")

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Apply the exact adjoint: ``[B, *out_shape] -> [B, *in_shape]`` (checked as :meth:`A`)."""
        return _checked_result(self._A_adjoint(y), y, "y")

    def _A(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`A` with the shape check only (no synchronisation)."""
        self._check_shape(x, self.in_shape, "x")
        return self._apply(x)

    def _A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """:meth:`A_adjoint` with the shape check only (no synchronisation)."""
        self._check_shape(y, self.out_shape, "y")
        return self._apply_adjoint(y)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def forward(self, x: torch.Tensor, noise=None) -> torch.Tensor:
        """Simulate a measurement: ``noise(A(x))`` when a noise model is given, else ``A(x)``.

        ``noise`` is a callable ``y -> y + n`` (e.g. :class:`~diffusion.operators.GaussianNoise`)
        or None; its result must be a finite tensor of ``A(x)``'s shape.
        """
        if noise is not None and not callable(noise):
            raise TypeError(f"noise: expected a callable noise model or None, got {noise!r}")
        y = self.A(x)
        if noise is None:
            return y
        out = noise(y)
        if not isinstance(out, torch.Tensor) or out.shape != y.shape:
            raise ValueError(f"noise: expected a tensor of shape {list(y.shape)}, got {out!r}")
        return _checked_result(out, y, "noise")

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
        float64): meant for small problems, exact posteriors and tests; ``dtype`` must be a
        floating-point dtype (TypeError otherwise: an integer matrix would be truncated).
        """
        dtype = check_float_dtype(dtype)
        batch_size = _as_int(batch_size, "batch_size", minimum=1)
        max_entries = _as_int(max_entries, "max_entries", minimum=1)
        m, d = self.out_dim, self.in_dim
        if m * d > max_entries:
            raise ValueError(
                f"as_matrix: the matrix would have {m} x {d} = {m * d} entries > max_entries="
                f"{max_entries}; use A / A_adjoint instead or raise max_entries"
            )
        device = torch.device("cpu") if device is None else check_device(device)
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

    def prox_l2(self, z: torch.Tensor, y: torch.Tensor, gamma=None, *, rho=None) -> torch.Tensor:
        r"""Proximal point of the data term (deepinv's ``LinearPhysics.prox_l2`` convention).

        .. math::

            \operatorname{prox}(z) = \arg\min_x \tfrac12\|A x - y\|^2
            + \tfrac{1}{2\gamma}\|x - z\|^2
            = z + (A^\top A + \rho I)^{-1} A^\top (y - A z), \qquad \rho = 1/\gamma,

        the data step of DiffPIR and of half-quadratic splitting. Always computed in this
        residual form, which never forms :math:`A^\top y + \rho z` (in DiffPIR's first steps
        :math:`\rho \approx 10^{-7}`, and in float32 :math:`\rho z` would be lost in the rounding
        of :math:`A^\top y`). Operators with a closed form use it (identity, inpainting,
        average-pooling SR, Gaussian blur, dense matrices: exact, no iterations, factorisations
        computed once per operator in float64 and cached); any other operator (e.g. a
        :class:`ComposedOperator`) solves :math:`(A^\top A + \rho I) d = A^\top(y - Az)` by
        conjugate gradients, per sample, to a relative residual of ``100 * eps`` of the dtype
        (at most ``10 * in_dim`` iterations; in floating point CG needs about
        :math:`\sqrt{\kappa}\log(1/\epsilon)` of them, :math:`\kappa = (\|A\|^2 + \rho)/\rho`).

        Parameters
        ----------
        z : finite tensor [B, *in_shape]
            The point the step starts from (DiffPIR: the denoiser's :math:`\hat x_0`).
        y : finite tensor [B or 1, *out_shape]
        gamma : float > 0
            Step size of the proximal map (deepinv's convention).
        rho : float > 0, keyword-only
            Instead of ``gamma``: the ridge weight :math:`\rho = 1/\gamma` of
            :math:`\arg\min_x \|y - Ax\|^2 + \rho\|x - z\|^2` (DiffPIR's form), used as
            given (no :math:`1/(1/\rho)` rounding). Give exactly one of the two.

        Returns
        -------
        tensor [B, *in_shape], in ``z``'s dtype and device

        Examples
        --------
        >>> from diffusion.operators import Inpainting
        >>> op = Inpainting(torch.tensor([1.0, 0.0]))
        >>> op.prox_l2(torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 5.0]]), 1.0)
        tensor([[1., 1.]])
        """
        if (gamma is None) == (rho is None):
            raise ValueError("gamma: give exactly one of gamma and rho (rho = 1/gamma)")
        if rho is None:
            rho = 1.0 / check_positive(gamma, "gamma")
            if not math.isfinite(rho):
                raise ValueError(f"gamma: {gamma!r} is too small, rho = 1/gamma overflows")
        else:
            rho = check_positive(rho, "rho")
        check_tensor(z, "z", finite=True)
        check_tensor(y, "y", finite=True)
        if y.shape[0] not in (1, z.shape[0]):
            raise ValueError(f"y: {y.shape[0]} measurements for a batch of {z.shape[0]} (z)")
        out = self._prox_l2(z, y, rho)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"z, y, gamma, rho: the proximal step overflows {out.dtype} (values of z, y too "
                "large, or rho = 1/gamma too extreme for them)"
            )
        return out

    def _prox_l2(self, z: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
        """:meth:`prox_l2` for a checked ``rho``, with the shape checks only (no device
        synchronisation: the per-step call of DiffPIR and ΠGDM)."""
        self._check_shape(z, self.in_shape, "z")
        self._check_shape(y, self.out_shape, "y")
        return self._prox(z, y, rho)

    def _prox(self, z: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
        """The generic route: conjugate gradients on the normal equations (residual form)."""
        b = self._apply_adjoint(y - self._apply(z))
        return z + _conjugate_gradient(
            lambda v: self._apply_adjoint(self._apply(v)) + rho * v, b, max_iter=10 * self.in_dim
        )

    def __matmul__(self, other):
        r"""``A @ B`` is the composition :math:`x \mapsto A(B(x))` (:class:`ComposedOperator`)."""
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return ComposedOperator(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_shape={self.in_shape}, out_shape={self.out_shape})"

    # -- internals
    @staticmethod
    def _check_shape(x, shape: tuple[int, ...], name: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.is_meta:
            raise ValueError(f"{name}: a meta tensor has no data")
        if not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"{name}: expected shape [B, {', '.join(map(str, shape))}] "
                f"(batch, then per-sample shape {_fmt(shape)}), got {_fmt(x.shape)}"
            )


def _checked_result(out: torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    """``out`` if finite, else ValueError naming ``name`` (the input ``x``)."""
    if not bool(torch.isfinite(out).all()):
        _check_finite(x, name)
        raise ValueError(f"{name}: values too large, the result overflows {out.dtype}")
    return out


def _check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf")


class _CastCache:
    """A float64 CPU tensor, or a dict of them (a factorisation), with per-(device, dtype)
    cached copies (constants, no grad)."""

    def __init__(self, value):
        self.value = value
        self._cache: dict[tuple, object] = {}

    def like(self, x: torch.Tensor):
        key = (x.device, x.dtype)
        t = self._cache.get(key)
        if t is None:
            cast = dict(device=x.device, dtype=x.dtype)
            v = self.value
            t = {k: a.to(**cast) for k, a in v.items()} if isinstance(v, dict) else v.to(**cast)
            self._cache[key] = t
        return t


def _conjugate_gradient(matvec, b: torch.Tensor, *, max_iter: int) -> torch.Tensor:
    r"""Solve :math:`M d = b` per sample (``b`` [B, ...]) for a symmetric positive-definite
    ``matvec``, from :math:`d = 0`, until :math:`\|r\| \le 100\,\epsilon\,\|b\|` for every
    sample or ``max_iter`` iterations (Hestenes-Stiefel; exact after ``in_dim`` steps only in
    exact arithmetic)."""
    B = b.shape[0]
    view = (B,) + (1,) * (b.ndim - 1)

    def dot(u, v):
        return (u * v).reshape(B, -1).sum(1)

    d = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = dot(r, r)
    stop = (100.0 * torch.finfo(b.dtype).eps) ** 2 * rs
    for _ in range(max(1, int(max_iter))):
        if bool((rs <= stop).all()):
            break
        Mp = matvec(p)
        pMp = dot(p, Mp)
        alpha = torch.where(pMp > 0, rs / pMp.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        d = d + alpha.reshape(view) * p
        r = r - alpha.reshape(view) * Mp
        rs_new = dot(r, r)
        beta = torch.where(rs > 0, rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        p = r + beta.reshape(view) * p
        rs = rs_new
    return d


# --------------------------------------------------------------------------- composition


class ComposedOperator(LinearOperator):
    r"""The composition :math:`A = A_{\rm outer} A_{\rm inner}`, :math:`x \mapsto
    A_{\rm outer}(A_{\rm inner}(x))`; also written ``outer @ inner``.

    .. math::

        A^\top = A_{\rm inner}^\top A_{\rm outer}^\top .

    ``in_shape`` is the inner operator's, ``out_shape`` the outer one's; the inner operator's
    ``out_shape`` must equal the outer one's ``in_shape``. Its :meth:`prox_l2` uses conjugate
    gradients (no closed form in general).

    Parameters
    ----------
    outer, inner : LinearOperator

    Examples
    --------
    >>> from diffusion.operators import AveragePoolSR, GaussianBlur
    >>> op = AveragePoolSR(2, (1, 4, 4)) @ GaussianBlur(3, 1.0, (1, 4, 4))
    >>> op.in_shape, op.out_shape
    ((1, 4, 4), (1, 2, 2))
    """

    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        for name, o in (("outer", outer), ("inner", inner)):
            if not isinstance(o, LinearOperator):
                raise ValueError(f"{name}: expected a LinearOperator, got {type(o).__name__}")
        if tuple(inner.out_shape) != tuple(outer.in_shape):
            raise ValueError(
                f"inner: its out_shape {_fmt(inner.out_shape)} is not the outer operator's "
                f"in_shape {_fmt(outer.in_shape)}"
            )
        self.outer, self.inner = outer, inner
        self.in_shape, self.out_shape = tuple(inner.in_shape), tuple(outer.out_shape)

    def __repr__(self) -> str:
        return f"ComposedOperator({self.outer!r}, {self.inner!r})"

    def _apply(self, x):
        return self.outer._apply(self.inner._apply(x))

    def _apply_adjoint(self, y):
        return self.inner._apply_adjoint(self.outer._apply_adjoint(y))


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
    if not isinstance(op, LinearOperator):
        raise TypeError(f"op: expected a LinearOperator, got {type(op).__name__}")
    batch = _as_int(batch, "batch", minimum=1)
    dtype = check_float_dtype(dtype)
    device = torch.device("cpu") if device is None else check_device(device)
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
