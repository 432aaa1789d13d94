r"""Super-resolution measurement by average pooling (block means)."""

from __future__ import annotations

import torch.nn.functional as F

from diffusion.operators.base import LinearOperator, _as_int, _as_shape

__all__ = ["AveragePoolSR"]


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
    >>> import torch
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

    def _prox(self, z, y, rho):
        # A A^T = I/f^2, so (A^T A + rho I)^-1 A^T = A^T/(1/f^2 + rho) (push-through identity)
        f2 = float(self.factor) ** 2
        return z + self._apply_adjoint(y - self._apply(z)) / (1.0 / f2 + rho)
