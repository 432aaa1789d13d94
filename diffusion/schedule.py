r"""The VP (DDPM) schedule as torch tensors, and per-sample broadcasting.

:class:`TorchSchedule` wraps a :class:`numerics.schedule.Schedule` (float64, index = t,
length ``T + 1``; entry 0 is clean data). Its tensors stay float64 on the CPU and are cast
at use, to the dtype and device of the tensor they multiply (:meth:`TorchSchedule.gather`);
per-step scalars are handed out as Python floats (:meth:`TorchSchedule.step`), which keep
float64 precision and never upcast a float32 tensor. ``1 - alpha_bar`` is always read from
``one_minus_alpha_bar`` (computed with ``expm1`` in float64), never formed in float32.

The reverse-step mean of the η-sampler,

.. math::

    \mu_t = \frac{x_t + \beta_t \nabla\log p_t(x_t)}{\sqrt{\alpha_t}}
    = c^{(0)}_t\, \hat x_0 + c^{(x)}_t\, x_t, \qquad
    c^{(0)}_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}, \quad
    c^{(x)}_t = \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t},

is written through the Tweedie denoiser :math:`\hat x_0 = E[x_0 \mid x_t]` (using
:math:`\nabla\log p_t = (\sqrt{\bar\alpha_t}\hat x_0 - x_t)/(1 - \bar\alpha_t)`), the
DDPM posterior-mean form, which has no cancellation near t = 1.

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, eq. 7.
2. T. Karras et al., k-diffusion ``append_dims`` (broadcasting helper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from numerics.schedule import Schedule

__all__ = ["StepCoefficients", "TorchSchedule", "append_dims", "as_torch_schedule"]

_FIELDS = ("beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "beta_tilde")


def append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a per-sample tensor ``v`` of shape ``[B]`` as ``[B, 1, ..., 1]`` with ``ndim`` dims.

    Parameters
    ----------
    v : real tensor of shape [B] (or any shape with ``v.ndim <= ndim``), finite
    ndim : int
        Number of dimensions of the tensor ``v`` is to broadcast against.

    Examples
    --------
    >>> append_dims(torch.ones(4), 4).shape
    torch.Size([4, 1, 1, 1])
    """
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"v: expected a torch.Tensor, got {type(v).__name__}")
    if v.is_complex() or v.is_meta:
        raise ValueError(f"v: expected a real tensor with data, got {v.dtype} on {v.device}")
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)):
        raise TypeError(f"ndim: expected an integer, got {ndim!r}")
    if v.is_floating_point() and not bool(torch.isfinite(v).all()):
        raise ValueError("v: contains NaN or Inf")
    return _append_dims(v, int(ndim))


def _append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """:func:`append_dims` without the checks on ``v``'s values (per-step use)."""
    extra = ndim - v.ndim
    if extra < 0:
        raise ValueError(f"v: has {v.ndim} dims, more than the target ndim={ndim}")
    return v.reshape(*v.shape, *([1] * extra))


def check_time_tensor(t, device, name: str = "t") -> torch.Tensor:
    """Time indices ``t`` (an int or an integer tensor) as an int64 tensor on ``device``.

    Raises TypeError/ValueError naming ``name`` for a non-integer, a negative or a meta
    tensor (the range against a schedule is the caller's check).
    """
    if isinstance(t, torch.Tensor):
        if t.is_meta:
            raise ValueError(f"{name}: a meta tensor has no data")
        if t.dtype.is_floating_point or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name}: expected integer time indices, got dtype {t.dtype}")
        return t.to(device=device, dtype=torch.long)
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
        raise TypeError(f"{name}: expected integer time indices, got {t!r}")
    return torch.tensor(int(t), dtype=torch.long, device=device)


@dataclass(frozen=True)
class StepCoefficients:
    r"""Python-float (float64) coefficients of reverse step ``k`` (from x_k to x_{k-1}).

    Attributes
    ----------
    k : int
        Step index in the (possibly respaced) schedule, 1..T.
    t_model : int
        ``timesteps[k]``: the time index of the model's own base schedule.
    beta, alpha, alpha_bar, one_minus_alpha_bar, beta_tilde : float
        Schedule values at k.
    alpha_bar_prev, one_minus_alpha_bar_prev : float
        Values at k - 1.
    c0, cx : float
        Mean coefficients, :math:`\mu = c_0 \hat x_0 + c_x x_t` (module docstring).
    """

    k: int
    t_model: int
    beta: float
    alpha: float
    alpha_bar: float
    one_minus_alpha_bar: float
    beta_tilde: float
    alpha_bar_prev: float
    one_minus_alpha_bar_prev: float
    c0: float
    cx: float


class TorchSchedule:
    """A :class:`numerics.schedule.Schedule` as float64 CPU tensors, cast at use.

    Parameters
    ----------
    schedule : numerics.schedule.Schedule

    Attributes
    ----------
    schedule : numerics.schedule.Schedule
        The float64 numpy original.
    beta, alpha, alpha_bar, one_minus_alpha_bar, beta_tilde : float64 tensors [T + 1]
    timesteps : int64 tensor [T + 1]
        Parent (model) time index of each step.
    T : int

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> ts = TorchSchedule(linear_schedule(1000))
    >>> ts.T, ts.alpha_bar.dtype
    (1000, torch.float64)
    >>> ts.gather("beta", torch.tensor([1, 1000]), torch.zeros(2, dtype=torch.float32))
    tensor([1.0000e-04, 2.0000e-02])
    """

    def __init__(self, schedule: Schedule):
        if isinstance(schedule, TorchSchedule):
            schedule = schedule.schedule
        if not isinstance(schedule, Schedule):
            raise ValueError(
                f"schedule: expected a numerics.schedule.Schedule, got {type(schedule).__name__}"
            )
        self.schedule = schedule
        for name in _FIELDS:
            setattr(self, name, torch.from_numpy(np.array(getattr(schedule, name))))
        self.timesteps = torch.from_numpy(np.array(schedule.timesteps, dtype=np.int64))
        self._cache: dict = {}

    @property
    def T(self) -> int:
        """Number of steps."""
        return self.schedule.T

    def __repr__(self) -> str:
        return f"TorchSchedule({self.schedule!r})"

    def gather(
        self, name: str, t: torch.Tensor, like: torch.Tensor, *, t_name: str = "t"
    ) -> torch.Tensor:
        """Values of field ``name`` at per-sample indices ``t`` [B], in ``like``'s dtype and device.

        Parameters
        ----------
        name : {"beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "beta_tilde"}
        t : int64 tensor [B] (or int)
        like : tensor
            Supplies dtype and device.
        t_name : str
            What messages call ``t`` (the caller's argument name).

        Returns
        -------
        tensor [B] (a 0-d tensor for an int ``t``)
        """
        if name not in _FIELDS:
            raise ValueError(f"name: expected one of {_FIELDS}, got {name!r}")
        if not isinstance(like, torch.Tensor) or not like.is_floating_point() or like.is_meta:
            what = f"{like.dtype} on {like.device}" if isinstance(like, torch.Tensor) else type(
                like
            ).__name__
            raise TypeError(f"like: expected a floating-point tensor with data, got {what}")
        t = check_time_tensor(t, like.device, t_name)
        key = (name, like.dtype, like.device)
        table = self._cache.get(key)
        if table is None:
            table = getattr(self, name).to(device=like.device, dtype=like.dtype)
            self._cache[key] = table
        if t.numel() and bool(((t < 0) | (t > self.T)).any()):
            raise ValueError(
                f"{t_name}: expected time indices in [0, {self.T}], got "
                f"{int(t.min())}..{int(t.max())}"
            )
        return table[t]

    def _take(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """:meth:`gather` without the checks, for checked int64 ``t`` (no synchronisation)."""
        key = (name, like.dtype, like.device)
        table = self._cache.get(key)
        if table is None:
            table = getattr(self, name).to(device=like.device, dtype=like.dtype)
            self._cache[key] = table
        return table[t]

    def step(self, k: int) -> StepCoefficients:
        """Coefficients of reverse step ``k`` (1..T) as float64 Python floats."""
        s = self.schedule
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= s.T:
            raise ValueError(f"k: expected an integer in [1, {s.T}], got {k!r}")
        k = int(k)
        omab, omab_prev = float(s.one_minus_alpha_bar[k]), float(s.one_minus_alpha_bar[k - 1])
        ab_prev = float(s.alpha_bar[k - 1])
        beta, alpha = float(s.beta[k]), float(s.alpha[k])
        return StepCoefficients(
            k=k,
            t_model=int(s.timesteps[k]),
            beta=beta,
            alpha=alpha,
            alpha_bar=float(s.alpha_bar[k]),
            one_minus_alpha_bar=omab,
            beta_tilde=float(s.beta_tilde[k]),
            alpha_bar_prev=ab_prev,
            one_minus_alpha_bar_prev=omab_prev,
            c0=float(np.sqrt(ab_prev) * beta / omab),
            cx=float(np.sqrt(alpha) * omab_prev / omab),
        )


def as_torch_schedule(schedule) -> TorchSchedule:
    """Return ``schedule`` as a :class:`TorchSchedule` (accepts a numpy ``Schedule`` or a TorchSchedule)."""
    if isinstance(schedule, TorchSchedule):
        return schedule
    return TorchSchedule(schedule)
