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

from collections.abc import Callable

import torch

from diffusion.schedule import TorchSchedule, append_dims, as_torch_schedule
from numerics.validate import as_scalar, check_int

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


def check_time(t, x: torch.Tensor, *, name: str = "x_t", T: int | None = None) -> torch.Tensor:
    """Return the time index ``t`` as an int64 tensor [B] on ``x``'s device.

    An int (or 0-d tensor) is broadcast to the batch; a tensor must have shape [B]. ``x``
    (called ``name`` in messages) must be a real tensor with a batch axis. Indices must be
    >= 0, and <= ``T`` when ``T`` (the base schedule's number of steps) is given.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        what = type(x).__name__ if not isinstance(x, torch.Tensor) else "a 0-d tensor"
        raise ValueError(f"{name}: expected a torch.Tensor [B, ...], got {what}")
    if x.is_complex():
        raise ValueError(f"{name}: expected a real tensor, got dtype {x.dtype}")
    if T is not None:
        T = check_int(T, "T")
    if isinstance(t, torch.Tensor) and t.is_meta and not x.is_meta:
        raise ValueError("t: a meta tensor holds no data")
    B = x.shape[0]
    try:
        t = torch.as_tensor(t, device=x.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"t: expected integer time indices, got {type(t).__name__}") from exc
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"t: expected integer time indices, got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(
            f"t: expected shape [{B}] (one time index per sample of {name}, whose batch is "
            f"{B}), got {list(t.shape)}"
        )
    if t.numel() and not t.is_meta:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or (T is not None and hi > T):
            want = ">= 0" if T is None else f"in [0, T] of the base schedule (T = {T})"
            raise ValueError(f"t: expected time indices {want}, got {lo}..{hi}")
    return t.long()


def _check_output(out, x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor, got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(
            f"{what}: returned shape {list(out.shape)} for input shape {list(x.shape)}; "
            "expected the same shape"
        )
    return out


def call_denoiser(model: Callable, x_t: torch.Tensor, t) -> torch.Tensor:
    """Evaluate ``model(x_t, t)`` and check it returned a tensor of ``x_t``'s shape.

    Raises
    ------
    ValueError
        If the output is not a tensor of the input's shape.
    """
    t = check_time(t, x_t)
    out = _check_output(model(x_t, t), x_t, "model")
    if out.dtype != x_t.dtype:
        out = out.to(x_t.dtype)
    return out


def score_from_denoiser(
    x0_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule
) -> torch.Tensor:
    r""":math:`\nabla\log p_t(x_t) = (\sqrt{\bar\alpha_t}\hat x_0 - x_t)/(1 - \bar\alpha_t)`, per sample.

    Parameters
    ----------
    x0_hat, x_t : tensors [B, ...]
    t : int64 tensor [B]
        Indices into ``schedule``.
    schedule : TorchSchedule or numerics Schedule
    """
    ts = as_torch_schedule(schedule)
    ab = append_dims(ts.gather("alpha_bar", t, x_t), x_t.ndim)
    omab = append_dims(ts.gather("one_minus_alpha_bar", t, x_t), x_t.ndim)
    return (ab.sqrt() * x0_hat - x_t) / omab


def eps_from_denoiser(
    x0_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule
) -> torch.Tensor:
    r""":math:`\hat\varepsilon = (x_t - \sqrt{\bar\alpha_t}\hat x_0)/\sqrt{1 - \bar\alpha_t}`."""
    ts = as_torch_schedule(schedule)
    ab = append_dims(ts.gather("alpha_bar", t, x_t), x_t.ndim)
    omab = append_dims(ts.gather("one_minus_alpha_bar", t, x_t), x_t.ndim)
    return (x_t - ab.sqrt() * x0_hat) / omab.sqrt()


class Denoiser:
    """Base class of denoisers: ``__call__(x_t, t) -> x0_hat`` over a base ``schedule``.

    Subclasses implement :meth:`denoise`; ``__call__`` checks ``t`` and the output shape.

    Parameters
    ----------
    schedule : numerics Schedule or TorchSchedule
        The base schedule the model's time index refers to.
    """

    def __init__(self, schedule):
        self.schedule: TorchSchedule = as_torch_schedule(schedule)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        t = check_time(t, x_t, T=self.schedule.T)
        return _check_output(self.denoise(x_t, t), x_t, type(self).__name__)

    def score(self, x_t: torch.Tensor, t) -> torch.Tensor:
        r""":math:`\nabla\log p_t(x_t)` from the denoiser (:func:`score_from_denoiser`)."""
        t = check_time(t, x_t, T=self.schedule.T)
        return score_from_denoiser(self(x_t, t), x_t, t, self.schedule)


class _NetAdapter(Denoiser):
    def __init__(self, net: Callable, schedule, *, clip=None):
        super().__init__(schedule)
        if not callable(net):
            raise ValueError(f"net: expected a callable net(x_t, t), got {type(net).__name__}")
        if clip is not None:
            if isinstance(clip, (str, bytes)) or not hasattr(clip, "__len__") or len(clip) != 2:
                raise ValueError(f"clip: expected (low, high), got {clip!r:.60}")
            lo, hi = (as_scalar(c, "clip") for c in clip)
            if not lo < hi:
                raise ValueError(f"clip: expected (low, high) with low < high, got {clip!r}")
            clip = (lo, hi)
        self.net = net
        self.clip = clip

    def _net(self, x_t, t):
        return _check_output(self.net(x_t, t), x_t, f"{type(self).__name__}.net")

    def _coefs(self, x_t, t):
        ab = append_dims(self.schedule.gather("alpha_bar", t, x_t), x_t.ndim)
        omab = append_dims(self.schedule.gather("one_minus_alpha_bar", t, x_t), x_t.ndim)
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
        ab, omab = self._coefs(x_t, t)
        return self._finish((x_t + omab * self._net(x_t, t)) / ab.sqrt())
