r"""The identity (denoising) and a dense matrix on vectors, with their closed-form prox steps."""

from __future__ import annotations

import torch

from diffusion.operators.base import LinearOperator, _as_float64_cpu, _as_shape, _CastCache, _fmt

__all__ = ["DenseOperator", "Identity"]


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

    def _prox(self, z, y, rho):
        return z + (y - z) / (1.0 + rho)


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
        self._svd: _CastCache | None = None

    @property
    def matrix(self) -> torch.Tensor:
        """The ``(m, d)`` float64 CPU matrix (a copy)."""
        return self._M.value.clone()

    def _apply(self, x):
        return x @ self._M.like(x).T

    def _apply_adjoint(self, y):
        return y @ self._M.like(y)

    def _prox(self, z, y, rho):
        # thin SVD A = U diag(s) V^T once: (A^T A + rho I)^-1 A^T = V diag(s / (s^2 + rho)) U^T,
        # a gain <= 1/(2 sqrt(rho)) (solving with A^T A + rho I would amplify rounding by 1/rho)
        if self._svd is None:
            U, sv, Vh = torch.linalg.svd(self.as_matrix(torch.float64), full_matrices=False)
            self._svd = _CastCache(dict(U=U, s=sv, V=Vh.T))
        c = self._svd.like(z)
        w = (y - self._apply(z)) @ c["U"]
        return z + (w * (c["s"] / (c["s"] ** 2 + rho))) @ c["V"].T
