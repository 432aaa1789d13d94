r"""Super-resolution measurement by antialiased bicubic downsampling, as a separable matrix map."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from diffusion.operators.base import LinearOperator, _as_int, _CastCache
from diffusion.operators.sr import AveragePoolSR

__all__ = ["BicubicSR", "bicubic_matrix"]


def bicubic_matrix(n: int, factor: int) -> torch.Tensor:
    r"""The ``(n // factor, n)`` float64 matrix :math:`D` of 1-D antialiased bicubic downsampling.

    Row ``i`` holds the weights that ``torch.nn.functional.interpolate(..., scale_factor=1/factor,
    mode="bicubic", antialias=True, align_corners=False)`` gives the input samples for output
    sample ``i`` along one axis (the Keys cubic with :math:`a = -0.5`, stretched by ``factor``
    and renormalised at the borders, as in PIL's ``Image.resize(..., BICUBIC)``). Built by
    applying that very call to the identity: ``n`` images of size ``n x 2`` whose rows are the
    unit vectors, downsampled along the first axis only. (The second axis keeps 2 columns
    because torch 2.13's antialiased CPU kernel returns wrong values when the output is 1 pixel
    wide.)

    Examples
    --------
    >>> D = bicubic_matrix(8, 2)
    >>> D.shape, bool(torch.allclose(D.sum(1), torch.ones(4, dtype=torch.float64)))
    (torch.Size([4, 8]), True)
    """
    n = _as_int(n, "n", minimum=1)
    factor = _as_int(factor, "factor", minimum=1)
    if n % factor:
        raise ValueError(f"n: expected a multiple of factor={factor}, got {n}")
    basis = torch.eye(n, dtype=torch.float64)[:, None, :, None].expand(n, 1, n, 2).contiguous()
    out = F.interpolate(
        basis,
        scale_factor=(1.0 / factor, 1.0),
        mode="bicubic",
        antialias=True,
        align_corners=False,
    )
    if out.shape[2] != n // factor:  # pragma: no cover - torch's rounding of n * (1/factor)
        raise ValueError(
            f"factor: interpolate gives {out.shape[2]} samples for n={n}, factor={factor}"
        )
    return out[:, 0, :, 0].T.contiguous()


class BicubicSR(LinearOperator):
    r"""Super-resolution measurement: antialiased bicubic downsampling by ``factor`` :math:`s`.

    .. math::

        A x = D_H\, x_c\, D_W^\top \ \text{per channel } c, \qquad
        A^\top y = D_H^\top\, y_c\, D_W,

    ``[B, C, H, W] -> [B, C, H/s, W/s]`` for any ``C``, with :math:`D_n` = :func:`bicubic_matrix`
    ``(n, s)``. Convention: ``A(x)`` equals ``torch.nn.functional.interpolate(x,
    scale_factor=1/s, mode="bicubic", antialias=True, align_corners=False)`` (to rounding; the
    antialiased resize is separable, so the two 1-D matrices reproduce it exactly). The kernel is
    that of the DPS reference code's super-resolution task (its ``Resizer``, MATLAB's
    ``imresize``: the antialiased Keys cubic, :math:`a = -0.5`); the borders differ (that code
    mirrors the image, torch renormalises the truncated weights). The adjoint is the exact
    transpose (two matmuls), unlike an ``interpolate`` upsampling.

    :meth:`prox_l2` is closed-form: with the thin SVDs :math:`D_n = U_n \mathrm{diag}(s_n)
    V_n^\top` (computed once, in float64),

    .. math::

        \operatorname{prox}(z) = z + V_H\big[(U_H^\top R\, U_W) \odot
        \tfrac{S}{S \odot S + \rho}\big] V_W^\top, \qquad R = y - A z,\ S = s_H s_W^\top,

    i.e. :math:`A^\top (A A^\top + \rho I)^{-1} R`: exact, :math:`O(H W \cdot H/s)` per channel.

    Parameters
    ----------
    factor : int >= 1
        The paper uses 4 and 8.
    in_shape : (C, H, W) tuple of int, ``H`` and ``W`` divisible by ``factor``

    Examples
    --------
    >>> op = BicubicSR(4, (3, 256, 256))
    >>> x = torch.randn(2, 3, 256, 256, dtype=torch.float64)
    >>> ref = F.interpolate(x, scale_factor=1 / 4, mode="bicubic", antialias=True,
    ...                     align_corners=False)
    >>> op.out_shape, bool((op.A(x) - ref).abs().max() < 1e-12)
    ((3, 64, 64), True)
    """

    def __init__(self, factor: int, in_shape):
        pool = AveragePoolSR(factor, in_shape)  # the same checks and shapes as average pooling
        self.factor, self.in_shape, self.out_shape = pool.factor, pool.in_shape, pool.out_shape
        _, H, W = self.in_shape
        self._DH = _CastCache(bicubic_matrix(H, self.factor))
        self._DW = self._DH if W == H else _CastCache(bicubic_matrix(W, self.factor))
        self._svd: _CastCache | None = None

    def __repr__(self) -> str:
        return f"BicubicSR(factor={self.factor}, in_shape={self.in_shape})"

    @property
    def matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D_H, D_W)``, float64 CPU copies."""
        return self._DH.value.clone(), self._DW.value.clone()

    def _apply(self, x):
        return self._DH.like(x) @ x @ self._DW.like(x).T

    def _apply_adjoint(self, y):
        return self._DH.like(y).T @ y @ self._DW.like(y)

    def _prox(self, z, y, rho):
        if self._svd is None:
            parts = {}
            for axis, D in (("H", self._DH.value), ("W", self._DW.value)):
                U, sv, Vh = torch.linalg.svd(D, full_matrices=False)
                parts["U" + axis], parts["s" + axis], parts["V" + axis] = U, sv, Vh.T
            self._svd = _CastCache(parts)
        c = self._svd.like(z)
        S = torch.outer(c["sH"], c["sW"])
        R = c["UH"].T @ (y - self._apply(z)) @ c["UW"]
        return z + c["VH"] @ (R * (S / (S * S + rho))) @ c["VW"].T
