r"""Inpainting by a 0/1 mask, and the box and random masks it is built with."""

from __future__ import annotations

import operator

import torch

from diffusion.operators.base import LinearOperator, _as_float64_cpu, _as_shape, _CastCache, _fmt

__all__ = ["Inpainting", "box_mask", "random_mask"]


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

    def _prox(self, z, y, rho):
        # A^T A = diag(m), m in {0, 1}: the gain m/(m + rho) is m/(1 + rho)
        return z + self._m.like(z) * (y - z) / (1.0 + rho)


def _index(v) -> int:
    """An integer (int, numpy or 0-d torch integer); a fraction or a bool is a TypeError."""
    if isinstance(v, bool):
        raise TypeError("bool")
    return operator.index(v)


def box_mask(shape, box) -> torch.Tensor:
    """A float64 0/1 mask of ``shape`` (``(H, W)`` or ``(C, H, W)``) with a missing box.

    Parameters
    ----------
    shape : tuple of int, ``(H, W)`` or ``(C, H, W)``
    box : (top, left, height, width) tuple of int
        Integers (a fractional entry such as 1.5 or 2.0 is refused). The rectangle ``[top, top + height) x [left, left + width)`` is set to 0 (missing) in
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
        top, left, height, width = (_index(v) for v in box)
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
