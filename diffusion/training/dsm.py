r"""The denoising-score-matching loss of an ε-network, the one home of this formula.

For a variance-preserving schedule with :math:`\bar\alpha_t`, a clean batch :math:`x_0`, time
indices t and noise :math:`\varepsilon \sim N(0, I)`, the network sees the diffused point
(:func:`diffuse`) and is asked for the noise,

.. math::

    x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon, \qquad
    \ell = \big\|\varepsilon - \varepsilon_\theta(x_t, t)\big\|^2 ,

(:func:`dsm_loss`). Its minimiser is :math:`\varepsilon_\theta(x_t, t) = -\sqrt{1 - \bar\alpha_t}
\,\nabla \log p_t(x_t)`, the score of the diffused law (ref. 2), which is why an ε-network
trained this way is a score model. Two reductions are used in the project, and kept apart
because they differ in the last bits: ``"sum"`` sums ℓ over each sample's coordinates and
averages over the batch (the 2-D experiments); ``"mean"`` averages over every coordinate too
(Ho et al.'s :math:`L_{simple}`, the UNet priors), i.e. ``"sum"`` / D.

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. P. Vincent, "A connection between score matching and denoising autoencoders", Neural
   Computation 23 (2011).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from diffusion.schedule import _append_dims as append_dims
from numerics.schedule import Schedule, check_schedule

__all__ = ["REDUCTIONS", "alpha_tables", "diffuse", "dsm_loss"]

#: Reductions of :func:`dsm_loss` (module notes).
REDUCTIONS = ("sum", "mean")


def alpha_tables(schedule: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`(\sqrt{\bar\alpha_t}, \sqrt{1 - \bar\alpha_t})_{t=0..T}` as float32 tensors.

    The square roots are taken in float64 (correctly rounded, so numpy and torch agree to the
    bit), then rounded once to float32.

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> sab, somab = alpha_tables(linear_schedule(1000))
    >>> sab.shape, sab.dtype, float(sab[0]), float(somab[0])
    (torch.Size([1001]), torch.float32, 1.0, 0.0)
    """
    check_schedule(schedule)
    ab = torch.from_numpy(np.array(schedule.alpha_bar, dtype=np.float64))  # a writable copy
    omab = torch.from_numpy(np.array(schedule.one_minus_alpha_bar, dtype=np.float64))
    return ab.sqrt().float(), omab.sqrt().float()


def _tables(schedule) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(schedule, Schedule):
        return alpha_tables(schedule)
    try:
        sab, somab = schedule
    except (TypeError, ValueError):
        raise TypeError(
            "schedule: expected a numerics Schedule or the pair alpha_tables(schedule), "
            f"got {type(schedule).__name__}"
        ) from None
    return sab, somab


def diffuse(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule) -> torch.Tensor:
    r""":math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon`, per sample.

    Parameters
    ----------
    x0, eps : tensors ``[B, ...]``
    t : int64 tensor ``[B]``, values in 0..T
    schedule : numerics Schedule, or the pair :func:`alpha_tables` of it (cheaper in a loop)
    """
    sab, somab = _tables(schedule)
    _check_batch(x0, t, eps, sab.shape[0] - 1)
    return append_dims(sab[t], x0.ndim) * x0 + append_dims(somab[t], x0.ndim) * eps


def _check_batch(x0, t, eps, T: int) -> None:
    """ValueError / TypeError naming the argument unless x0 and eps are finite real floating
    tensors ``[B, ...]`` of one shape and device and t an integer tensor ``[B]`` in 0..T."""
    for v, name in ((x0, "x0"), (eps, "eps")):
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(v).__name__}")
        if not v.is_floating_point():
            raise TypeError(f"{name}: expected a real floating-point tensor, got {v.dtype}")
        if v.is_meta:
            raise ValueError(f"{name}: a tensor on the meta device (no data)")
        if v.ndim < 1 or v.shape[0] < 1:
            raise ValueError(f"{name}: expected shape [B, ...] with B >= 1, got {list(v.shape)}")
    if eps.shape != x0.shape or eps.device != x0.device:
        raise ValueError(f"eps: shape {list(eps.shape)} on {eps.device}, x0: {list(x0.shape)} on "
                         f"{x0.device}; expected the same")  # fmt: skip
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t: expected an int64 tensor [B], got {type(t).__name__}")
    if t.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"t: expected an integer tensor, got {t.dtype}")
    if t.is_meta:
        raise ValueError("t: a tensor on the meta device (no data)")
    if t.shape != x0.shape[:1]:
        raise ValueError(f"t: expected shape [{x0.shape[0]}] (x0's batch), got {list(t.shape)}")
    if t.numel() and not (0 <= int(t.min()) and int(t.max()) <= T):
        raise ValueError(f"t: expected time indices in 0..T={T}, got {int(t.min())}..{int(t.max())}")
    for v, name in ((x0, "x0"), (eps, "eps")):
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{name}: contains NaN or Inf")



class NonFiniteLossError(FloatingPointError, ValueError):
    """The denoising loss is NaN or Inf: a ``ValueError`` for the arguments that caused it
    and a ``FloatingPointError`` for training loops, which report a diverged run."""


def dsm_loss(
    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    schedule,
    *,
    reduction: str = "sum",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Denoising-score-matching loss of an ε-network on one batch (module notes).

    .. math::

        \frac1B\sum_b \big\|\varepsilon_b - \varepsilon_\theta(\sqrt{\bar\alpha_{t_b}} x_{0,b}
        + \sqrt{1 - \bar\alpha_{t_b}}\,\varepsilon_b,\ t_b)\big\|^2
        \quad (\text{divided by } D \text{ for } ``"mean"``)

    Parameters
    ----------
    net : callable ``net(x_t, t) -> eps_hat``
        The ε-network (``t`` as given here; shift it inside ``net`` if the network reads
        another index, e.g. diffusers' ``t - 1``).
    x0, eps : tensors ``[B, ...]``
    t : int64 tensor ``[B]``, values in 1..T
    schedule : numerics Schedule, or the pair :func:`alpha_tables` of it
    reduction : {"sum", "mean"}
        ``"sum"``: over each sample's coordinates, then the mean over the batch; ``"mean"``:
        the mean over every entry.
    device : optional
        Where ``net`` lives: :math:`x_t` is formed where ``x0`` is (e.g. from CPU-drawn
        batches), then ``x_t``, ``t`` and ``eps`` are moved there.

    Returns
    -------
    scalar tensor

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> zero = lambda x, t: torch.zeros_like(x)       # predicts no noise: loss = ||eps||^2
    >>> eps = torch.ones(3, 2)
    >>> t = torch.tensor([1, 2, 3])
    >>> float(dsm_loss(zero, torch.zeros(3, 2), t, eps, linear_schedule(10)))
    2.0
    >>> float(dsm_loss(zero, torch.zeros(3, 2), t, eps, linear_schedule(10), reduction="mean"))
    1.0
    """
    if not callable(net):
        raise TypeError(f"net: expected a callable net(x_t, t) -> eps_hat, got {type(net).__name__}")
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
    x_t = diffuse(x0, t, eps, schedule)
    if device is not None and torch.device(device).type != x_t.device.type:
        x_t, t, eps = (v.to(device, non_blocking=True) for v in (x_t, t, eps))
    try:
        eps_hat = net(x_t, t)
    except (TypeError, ValueError) as exc:
        # e.g. a float64 x0/eps for a float32 network: the combination is what is wrong
        raise type(exc)(f"net(x_t, t) refused x_t formed from x0 and eps: {exc}") from exc
    if not isinstance(eps_hat, torch.Tensor) or eps_hat.shape != eps.shape:
        got = list(eps_hat.shape) if isinstance(eps_hat, torch.Tensor) else type(eps_hat).__name__
        raise ValueError(f"net: expected a tensor of eps's shape {list(eps.shape)}, got {got}")
    err = (eps_hat - eps) ** 2
    loss = err.mean() if reduction == "mean" else err.flatten(1).sum(1).mean()
    if not bool(torch.isfinite(loss)):
        raise NonFiniteLossError(
            f"net, x0, eps: the loss is {float(loss.detach())} (x0 or eps too large for {err.dtype}, or "
            "a network output that is not finite, e.g. after a step size too large)"
        )
    return loss
