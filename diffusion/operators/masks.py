r"""The paper's inpainting masks at any size: a centred box, and seeded random missing pixels."""

from __future__ import annotations

import torch

from diffusion.operators.base import _as_int, _as_shape
from diffusion.operators.inpainting import Inpainting, random_mask

__all__ = ["RandomInpainting", "centre_box"]


def _pair(value, name: str) -> tuple[int, int]:
    """An int ``n`` as ``(n, n)``, or a pair of positive ints."""
    out = _as_shape(value, name)
    if len(out) == 1:
        out = out * 2
    if len(out) != 2:
        raise ValueError(f"{name}: expected an int or an (H, W) pair, got {value!r}")
    return out


def centre_box(size, box) -> tuple[int, int, int, int]:
    """The ``(top, left, height, width)`` of a ``box`` centred in an image of ``size``.

    For :func:`~diffusion.operators.box_mask`: ``top = (H - height) // 2`` (and likewise
    ``left``), so an odd margin puts the extra pixel below / to the right. The paper's box
    inpainting is ``centre_box(256, 128)``.

    Parameters
    ----------
    size : int or (H, W) tuple of int
    box : int or (height, width) tuple of int, not larger than ``size``

    Examples
    --------
    >>> centre_box(256, 128)
    (64, 64, 128, 128)
    >>> centre_box((5, 8), (2, 3))
    (1, 2, 2, 3)
    """
    H, W = _pair(size, "size")
    h, w = _pair(box, "box")
    if h > H or w > W:
        raise ValueError(f"box: {h} x {w} does not fit in an image of {H} x {W}")
    return ((H - h) // 2, (W - w) // 2, h, w)


class RandomInpainting(Inpainting):
    r"""Inpainting with a seeded random mask: a ``fraction`` of the pixel positions missing.

    The mask is :func:`~diffusion.operators.random_mask` ``(in_shape, fraction,
    torch.Generator().manual_seed(seed))``: exactly ``round(fraction * H * W)`` pixel
    positions, drawn without replacement, are missing, and the *same* positions in every
    channel (a missing pixel is missing in all its colours, as in the DPS reference code). A
    deterministic function of ``(in_shape[-2:], fraction, seed)``. :meth:`prox_l2` is the
    closed form of :class:`~diffusion.operators.Inpainting`.

    Parameters
    ----------
    in_shape : (C, H, W) tuple of int
    fraction : float in [0, 1]
        Fraction missing; the paper's settings are 0.7 and 0.92.
    seed : int >= 0

    Examples
    --------
    >>> op = RandomInpainting((3, 10, 10), 0.7, seed=0)
    >>> int((op.mask[0] == 0).sum()), bool((op.mask == op.mask[:1]).all())
    (70, True)
    """

    def __init__(self, in_shape, fraction: float, *, seed: int = 0):
        shape = _as_shape(in_shape, "in_shape", ndim=3)
        self.seed = _as_int(seed, "seed", minimum=0)
        if self.seed >= 2**64:
            raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        super().__init__(random_mask(shape, fraction, torch.Generator().manual_seed(self.seed)))
        self.fraction = float(fraction)

    def __repr__(self) -> str:
        return (
            f"RandomInpainting(in_shape={self.in_shape}, fraction={self.fraction}, "
            f"seed={self.seed})"
        )
