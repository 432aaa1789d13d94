r"""Exponential moving average (EMA) of a network's weights, the one home of the update.

After each optimiser step the averaged copy moves towards the trained weights,
:math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` (:func:`ema_update`), with a
fixed decay d or, for the UNet priors, the warm-up :math:`d_n = \min(d, (1 + n)/(10 + n))`
of diffusers' ``EMAModel`` (:func:`ema_decay_at`), so that short runs average over their last
~n/9 iterations rather than drag in their first ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from numerics.validate import as_scalar

__all__ = ["ema_decay_at", "ema_update"]


def ema_decay_at(n: int, decay: float = 0.999) -> float:
    """EMA decay after iteration ``n`` (1-based): :math:`\\min(d, (1 + n)/(10 + n))`.

    Examples
    --------
    >>> ema_decay_at(1), ema_decay_at(100_000)
    (0.18181818181818182, 0.999)

    ``n``: an integer >= 0; ``decay``: a number in [0, 1] (ValueError naming them otherwise).
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r:.40}")
    decay = _check_decay(decay)
    return min(decay, (1.0 + n) / (10.0 + n))


def _check_decay(decay) -> float:
    decay = as_scalar(decay, "decay")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay: expected a number in [0, 1], got {decay!r}")
    return decay


@torch.no_grad()
def ema_update(
    averaged: Iterable[torch.Tensor], params: Iterable[torch.Tensor], decay: float
) -> None:
    r"""In place, :math:`\bar\theta \leftarrow \bar\theta + (1 - d)(\theta - \bar\theta)` for each pair.

    ``averaged`` and ``params``: the parameters of the averaged and of the trained network,
    in the same order (``module.parameters()``).

    Examples
    --------
    >>> a, p = [torch.zeros(2)], [torch.ones(2)]
    >>> ema_update(a, p, 0.75); a[0]
    tensor([0.2500, 0.2500])
    """
    decay = _check_decay(decay)
    averaged, params = _tensors(averaged, "averaged"), _tensors(params, "params")
    if len(averaged) != len(params):
        raise ValueError(f"averaged, params: {len(averaged)} and {len(params)} tensors, "
                         "expected as many")  # fmt: skip
    for i, (pa, pn) in enumerate(zip(averaged, params, strict=True)):
        if pa.shape != pn.shape or not pa.is_floating_point() or pa.dtype != pn.dtype:
            raise ValueError(f"params[{i}]: {pn.dtype} {list(pn.shape)}, averaged[{i}]: "
                             f"{pa.dtype} {list(pa.shape)}; expected floating, alike")  # fmt: skip
    for pa, pn in zip(averaged, params, strict=True):
        pa.lerp_(pn, 1.0 - decay)


def _tensors(seq, name: str) -> list[torch.Tensor]:
    """The tensors of ``seq`` (e.g. ``module.parameters()``) as a list, else TypeError."""
    try:
        out = list(seq)
    except TypeError:
        raise TypeError(f"{name}: expected an iterable of tensors, got {type(seq).__name__}") from None
    bad = [type(t).__name__ for t in out if not isinstance(t, torch.Tensor)]
    if bad:
        raise TypeError(f"{name}: expected tensors, got {bad[0]}")
    return out
