r"""The one model interface of the sampler, and adapters from common parametrisations.

**Interface.** A *denoiser* is a callable

.. code-block:: python

    x0_hat = model(x_t, t)    # x_t: [B, ...] float tensor, t: int64 tensor [B]

returning the Tweedie estimate :math:`\hat x_0 = E[x_0 \mid x_t]` with the shape of
``x_t``. ``t`` is the time index of the model's own **base** schedule (the 1000-step one it
was trained on): a sampler running a respaced schedule passes ``schedule.timesteps[k]``.
A denoiser carries its base schedule as ``model.schedule`` (a :class:`TorchSchedule`).
The score and the noise prediction follow from it:

.. math::

    \nabla \log p_t(x_t) = \frac{\sqrt{\bar\alpha_t}\,\hat x_0 - x_t}{1 - \bar\alpha_t},
    \qquad
    \hat\varepsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}{\sqrt{1 - \bar\alpha_t}}.

**Adapters** turn a network ``net(x_t, t)`` with another output into a denoiser:
:class:`EpsilonAdapter` (ε-prediction, DDPM/DPS checkpoints),
:class:`X0Adapter` (x₀-prediction) and :class:`ScoreAdapter` (score networks). The
analytic priors of :mod:`diffusion.priors` implement the interface directly. Every
adapter checks the network's output shape at the boundary (``ValueError``).

A denoiser must treat the samples of a batch independently (no batch statistics, e.g.
BatchNorm in training mode): per-sample η and per-sample DPS gradients rely on it.

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. Y. Song et al., "Score-Based Generative Modeling through SDEs", ICLR 2021.
3. B. Efron, "Tweedie's formula and selection bias", JASA 106 (2011).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from diffusion._checks import check_finite, check_result, check_tensor
from diffusion.schedule import (
    TorchSchedule,
    _append_dims,
    append_dims,
    as_torch_schedule,
    check_time_tensor,
)

__all__ = [
    "Denoiser",
    "EpsilonAdapter",
    "ScoreAdapter",
    "X0Adapter",
    "call_denoiser",
    "check_time",
    "eps_from_denoiser",
    "score_from_denoiser",
]


def check_time(t, x: torch.Tensor, *, name: str = "x_t", t_name: str = "t", T=None) -> torch.Tensor:
    """Return the time index ``t`` as an int64 tensor [B] on ``x``'s device.

    An int (or 0-d tensor) is broadcast to the batch; a tensor must have shape [B]. ``x``
    (called ``name`` in messages) must be a floating tensor with data and a non-empty batch
    axis; ``t`` (called ``t_name``) integer indices >= 0, and <= ``T`` when ``T`` is given.
    """
    check_tensor(x, name)
    if T is not None and (isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 0):
        raise ValueError(f"T: expected an integer >= 0 (the base schedule's steps), got {T!r}")
    B = x.shape[0]
    t = check_time_tensor(t, x.device, t_name)
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(
            f"{t_name}: expected shape [{B}] (one time index per sample of {name}), "
            f"got {list(t.shape)}"
        )
    if t.numel() and not t.is_meta:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or (T is not None and hi > T):
            want = ">= 0" if T is None else f"in [0, T] of the base schedule (T = {T})"
            raise ValueError(f"{t_name}: expected time indices {want}, got {lo}..{hi}")
    return t


def _schedule_T(model):
    """``T`` of a denoiser's base schedule, or None when it carries none."""
    base = getattr(model, "schedule", None)
    T = getattr(base, "T", None)
    return T if isinstance(T, int) else None


def _check_output(out, x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor, got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(
            f"{what}: returned shape {list(out.shape)} for input shape {list(x.shape)}; "
            "expected the same shape"
        )
    return out


def _call_denoiser(model: Callable, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """:func:`call_denoiser` without the data checks, for a checked int64 ``t`` [B]: the
    sampler's per-step path (no device synchronisation; divergence is the sampler's check)."""
    if isinstance(model, Denoiser):
        out = _check_output(model._denoise(x_t, t), x_t, "model")
    else:
        out = _check_output(model(x_t, t), x_t, "model")
    if out.dtype != x_t.dtype:
        out = out.to(x_t.dtype)
    return out


def call_denoiser(model: Callable, x_t: torch.Tensor, t) -> torch.Tensor:
    """Evaluate ``model(x_t, t)`` and check it returned a finite tensor of ``x_t``'s shape.

    Parameters
    ----------
    model : callable ``model(x_t, t) -> x0_hat``
    x_t : finite floating tensor [B, ...]
    t : int or int64 tensor [B]
        Within the model's base schedule ``[0, model.schedule.T]`` when it carries one.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: a non-callable model, a non-tensor or non-finite ``x_t``, bad
        time indices, or an output that is not a finite tensor of the input's shape.
    """
    if not callable(model):
        raise TypeError(f"model: expected a callable denoiser, got {type(model).__name__}")
    check_tensor(x_t, "x_t", finite=True)
    t = check_time(t, x_t, T=_schedule_T(model))
    out = _check_output(model(x_t, t), x_t, "model")  # a Denoiser checks x_t against itself
    if out.dtype != x_t.dtype:
        out = out.to(x_t.dtype)
    if not bool(torch.isfinite(out).all()):
        raise ValueError("model: returned NaN or Inf (or overflowed) for a finite x_t")
    return out


def _tweedie_inputs(x0_hat, x_t, t, schedule):
    """Checked (x0_hat, x_t, t, TorchSchedule) of :func:`score_from_denoiser`."""
    check_tensor(x_t, "x_t", finite=True)
    check_tensor(x0_hat, "x0_hat", finite=True)
    if x0_hat.shape != x_t.shape:
        raise ValueError(
            f"x0_hat: shape {list(x0_hat.shape)} differs from x_t's {list(x_t.shape)}"
        )
    if x0_hat.device != x_t.device:
        raise ValueError(f"x0_hat: on {x0_hat.device}, x_t on {x_t.device}")
    ts = as_torch_schedule(schedule)
    t = check_time(t, x_t, T=ts.T)
    return x0_hat.to(x_t.dtype), ts, t


def score_from_denoiser(
    x0_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule
) -> torch.Tensor:
    r""":math:`\nabla\log p_t(x_t) = (\sqrt{\bar\alpha_t}\hat x_0 - x_t)/(1 - \bar\alpha_t)`, per sample.

    Parameters
    ----------
    x0_hat, x_t : finite floating tensors [B, ...] of one shape
    t : int or int64 tensor [B]
        Indices into ``schedule``.
    schedule : TorchSchedule or numerics Schedule

    Returns
    -------
    tensor [B, ...] in ``x_t``'s dtype (ValueError naming the inputs if it overflows)
    """
    x0_hat, ts, t = _tweedie_inputs(x0_hat, x_t, t, schedule)
    ab = append_dims(ts.gather("alpha_bar", t, x_t), x_t.ndim)
    omab = append_dims(ts.gather("one_minus_alpha_bar", t, x_t), x_t.ndim)
    return check_result((ab.sqrt() * x0_hat - x_t) / omab, "x0_hat, x_t, t")


def eps_from_denoiser(
    x0_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule
) -> torch.Tensor:
    r""":math:`\hat\varepsilon = (x_t - \sqrt{\bar\alpha_t}\hat x_0)/\sqrt{1 - \bar\alpha_t}`.

    Arguments as :func:`score_from_denoiser`; returns a tensor [B, ...].
    """
    x0_hat, ts, t = _tweedie_inputs(x0_hat, x_t, t, schedule)
    ab = append_dims(ts.gather("alpha_bar", t, x_t), x_t.ndim)
    omab = append_dims(ts.gather("one_minus_alpha_bar", t, x_t), x_t.ndim)
    return check_result((x_t - ab.sqrt() * x0_hat) / omab.sqrt(), "x0_hat, x_t, t")


class Denoiser:
    """Base class of denoisers: ``__call__(x_t, t) -> x0_hat`` over a base ``schedule``.

    Subclasses implement :meth:`denoise` (or, for unchecked internals, ``_denoise``);
    ``__call__`` checks ``x_t`` (a finite floating tensor with a non-empty batch; ``d``
    values per sample when the subclass sets an int attribute ``d``), ``t`` (within the base
    schedule) and the output (a finite tensor of ``x_t``'s shape), with one device
    synchronisation before and one after the call.

    Parameters
    ----------
    schedule : numerics Schedule or TorchSchedule
        The base schedule the model's time index refers to.
    """

    #: How messages name the callable that produced a bad output.
    _output_name = "denoiser"

    def __init__(self, schedule):
        self.schedule: TorchSchedule = as_torch_schedule(schedule)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _denoise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.denoise(x_t, t)

    def _check_inputs(self, x_t, t) -> torch.Tensor:
        """Checked ``t`` as int64 [B] (and ``x_t``): one synchronisation."""
        check_tensor(x_t, "x_t")
        d = getattr(self, "d", None)
        if isinstance(d, int) and (x_t.ndim < 2 or math.prod(x_t.shape[1:]) != d):
            raise ValueError(
                f"x_t: expected shape [B, ...] with {d} values per sample, got {list(x_t.shape)}"
            )
        t = check_time(t, x_t)
        T = self.schedule.T
        if not bool((torch.isfinite(x_t).all() & ((t >= 0) & (t <= T)).all()).item()):
            check_finite(x_t, "x_t")
            raise ValueError(
                f"t: expected time indices in [0, {T}], got {int(t.min())}..{int(t.max())}"
            )
        return t

    def _check_out(self, out, x_t) -> torch.Tensor:
        _check_output(out, x_t, type(self).__name__)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"{self._output_name}: returned NaN or Inf for a finite x_t (or x_t too large "
                f"for {x_t.dtype})"
            )
        return out

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        t = self._check_inputs(x_t, t)
        return self._check_out(self._denoise(x_t, t), x_t)

    def score(self, x_t: torch.Tensor, t) -> torch.Tensor:
        r""":math:`\nabla\log p_t(x_t)` from the denoiser (:func:`score_from_denoiser`)."""
        t = self._check_inputs(x_t, t)
        return score_from_denoiser(self(x_t, t), x_t, t, self.schedule)


def _check_clip(clip):
    if clip is None:
        return None
    msg = f"clip: expected (low, high) with finite numbers low < high, got {clip!r}"
    try:
        lo, hi = clip
    except (TypeError, ValueError) as exc:
        raise ValueError(msg) from exc
    if any(isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating))
           for c in (lo, hi)):  # fmt: skip
        raise ValueError(msg)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(msg)
    return lo, hi


class _NetAdapter(Denoiser):
    _output_name = "net"

    def __init__(self, net: Callable, schedule, *, clip=None):
        super().__init__(schedule)
        if not callable(net):
            raise ValueError(f"net: expected a callable net(x_t, t), got {type(net).__name__}")
        self.net = net
        self.clip = _check_clip(clip)

    def _net(self, x_t, t):
        return _check_output(self.net(x_t, t), x_t, f"{type(self).__name__}.net")

    def _coefs(self, x_t, t):
        ab = _append_dims(self.schedule._take("alpha_bar", t, x_t), x_t.ndim)
        omab = _append_dims(self.schedule._take("one_minus_alpha_bar", t, x_t), x_t.ndim)
        return ab, omab

    def _finish(self, x0):
        return x0 if self.clip is None else x0.clamp(*self.clip)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.net).__name__}, {self.schedule!r})"


class EpsilonAdapter(_NetAdapter):
    r"""Denoiser from an ε-prediction network: :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,
    \hat\varepsilon(x_t, t))/\sqrt{\bar\alpha_t}`.

    The division by :math:`\sqrt{\bar\alpha_t}` (about 6e-3 at t = 1000) amplifies the
    network's error there by ~150x; in float32 that is ~1e-5 relative on :math:`\hat x_0`.

    Parameters
    ----------
    net : callable ``net(x_t [B, ...], t int64 [B]) -> eps [B, ...]``
        E.g. ``lambda x, t: unet(x, t).sample`` for a diffusers ``UNet2DModel``.
    schedule : Schedule or TorchSchedule
        The network's training schedule.
    clip : (low, high), optional
        Clamp :math:`\hat x_0` (the DPS reference code clips to [-1, 1]).
    """

    def denoise(self, x_t, t):
        r""":math:`\hat x_0` [B, ...] for ``x_t`` [B, ...] and time indices ``t`` (int or [B]),
        with the checks of ``__call__``."""
        return self(x_t, t)

    def _denoise(self, x_t, t):
        ab, omab = self._coefs(x_t, t)
        return self._finish((x_t - omab.sqrt() * self._net(x_t, t)) / ab.sqrt())


class X0Adapter(_NetAdapter):
    r"""Denoiser from an x₀-prediction network (output used as :math:`\hat x_0`).

    Parameters
    ----------
    net : callable ``net(x_t, t) -> x0_hat``
    schedule : Schedule or TorchSchedule
    clip : (low, high), optional
    """

    def denoise(self, x_t, t):
        r""":math:`\hat x_0` [B, ...] for ``x_t`` [B, ...] and time indices ``t`` (int or [B]),
        with the checks of ``__call__``."""
        return self(x_t, t)

    def _denoise(self, x_t, t):
        return self._finish(self._net(x_t, t))


class ScoreAdapter(_NetAdapter):
    r"""Denoiser from a score network: :math:`\hat x_0 = (x_t + (1-\bar\alpha_t)\, s(x_t, t))/
    \sqrt{\bar\alpha_t}` (Tweedie).

    Parameters
    ----------
    net : callable ``net(x_t, t) -> score`` (:math:`\nabla\log p_t(x_t)`)
    schedule : Schedule or TorchSchedule
    clip : (low, high), optional
    """

    def denoise(self, x_t, t):
        r""":math:`\hat x_0` [B, ...] for ``x_t`` [B, ...] and time indices ``t`` (int or [B]),
        with the checks of ``__call__``."""
        return self(x_t, t)

    def _denoise(self, x_t, t):
        ab, omab = self._coefs(x_t, t)
        return self._finish((x_t + omab * self._net(x_t, t)) / ab.sqrt())
