"""Divergence of a reverse chain: a state with a non-finite entry or ``|x| > max_abs``.

:func:`check_divergence` checks one state (one host synchronisation when nothing is wrong);
:class:`DivergenceWatch` checks a run of states with one synchronisation per check, by
keeping each step's per-sample ``max |x|`` on the device, and reports the first step that
went bad with the message :func:`check_divergence` would have given at that step. Used by
:func:`diffusion.sampler.sample` (every step on the CPU, every
:data:`DIVERGENCE_CHECK_EVERY` steps elsewhere) and the DiffPIR baseline.
"""

from __future__ import annotations

import math
import numbers

import torch

from diffusion._checks import check_positive_or_none, check_tensor
from numerics.validate import check_int

__all__ = ["DIVERGENCE_CHECK_EVERY", "DivergenceError", "DivergenceWatch", "check_divergence"]

#: Reverse steps between divergence checks (host synchronisations) off the CPU.
DIVERGENCE_CHECK_EVERY = 25


class DivergenceError(FloatingPointError):
    """The reverse chain blew up (a non-finite state or ``|x| > max_abs``) at step ``k``.

    Attributes
    ----------
    k : int
        Reverse step of the sampler's schedule at which it was detected (state k - 1).
    t_model : int
        The model time index of that step.
    n_bad : int
        Number of samples affected.
    """

    def __init__(self, message: str, *, k: int, t_model: int, n_bad: int):
        super().__init__(message)
        self.k, self.t_model, self.n_bad = k, t_model, n_bad


def check_divergence(
    x: torch.Tensor, max_abs, *, k: int, t_model: int, who: str = "sampler", hint: str = ""
) -> None:
    """Raise :class:`DivergenceError` if ``x`` [B, ...] has a non-finite entry or ``|x| > max_abs``.

    ``x`` is a floating tensor with a non-empty batch, ``max_abs`` a finite number > 0 or
    None (None checks only for non-finite values), ``k >= 1`` and ``t_model >= 0`` ints
    (TypeError/ValueError naming them otherwise). One device synchronisation when nothing
    is wrong. The message names ``who``, the reverse step ``k``, the model time, how
    many samples are affected and the largest ``|x|``, then ``hint``.
    """
    check_tensor(x, "x")
    max_abs = check_positive_or_none(max_abs, "max_abs")
    k = check_int(k, "k", minimum=1)
    t_model = check_int(t_model, "t_model", minimum=0)
    _check_divergence(x, max_abs, k=k, t_model=t_model, who=who, hint=hint)


def _check_divergence(x, max_abs, *, k: int, t_model: int, who: str = "sampler", hint: str = ""):
    """:func:`check_divergence` for checked arguments (the sampler's per-step call)."""
    limit = math.inf if max_abs is None else float(max_abs)
    amax = x.abs().amax()
    if bool(torch.isfinite(amax) & (amax <= limit)):
        return
    raise _divergence(x.reshape(x.shape[0], -1).abs().amax(1), max_abs, k, t_model, who, hint)


def _divergence(per: torch.Tensor, max_abs, k: int, t_model: int, who: str, hint: str):
    """The :class:`DivergenceError` of a state whose per-sample ``max |x|`` is ``per`` [B]
    (a NaN or Inf entry of the state gives a NaN or Inf ``per``)."""
    limit = math.inf if max_abs is None else float(max_abs)
    n_bad = int((~(torch.isfinite(per) & (per <= limit))).sum())
    what = "non-finite values" if not bool(torch.isfinite(per).all()) else f"|x| > {max_abs:g}"
    return DivergenceError(
        f"{who} diverged at reverse step k={k} (model time t={t_model}): {what} in "
        f"{n_bad} of {per.shape[0]} samples (max |x| = {float(per.amax()):.3g}){hint}",
        k=k,
        t_model=t_model,
        n_bad=n_bad,
    )


class DivergenceWatch:
    """Divergence checks of a chain of ``T`` steps of ``B`` samples with one host
    synchronisation per :meth:`check` instead of one per step.

    :meth:`record` stores the state's per-sample ``max |x|`` in a device tensor [T + 1, B]
    (no synchronisation); :meth:`check` looks at the steps recorded since the last check and
    raises the :class:`DivergenceError` of the first bad one, with the message
    :func:`check_divergence` gives for that state.

    Parameters
    ----------
    T, B : int >= 1
        Steps (recorded as k = T, ..., 1) and samples.
    max_abs : finite float > 0 or None
        As in :func:`check_divergence`.
    dtype, device : the states' dtype and device
    who, hint : str
        As in :func:`check_divergence`.

    Examples
    --------
    >>> w = DivergenceWatch(3, 2, 10.0)
    >>> w.record(torch.ones(2, 4), k=3, t_model=999)
    >>> w.record(torch.full((2, 4), 20.0), k=2, t_model=500)
    >>> w.check()
    Traceback (most recent call last):
    ...
    diffusion.divergence.DivergenceError: sampler diverged at reverse step k=2 (model time t=500): |x| > 10 in 2 of 2 samples (max |x| = 20)
    """

    def __init__(self, T: int, B: int, max_abs, *, dtype=torch.float32, device="cpu",
                 who: str = "sampler", hint: str = ""):  # fmt: skip
        for name, v in (("T", T), ("B", B)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if max_abs is not None:
            if (
                isinstance(max_abs, bool)
                or not isinstance(max_abs, numbers.Real)
                or not 0 < max_abs < math.inf
            ):
                raise ValueError(f"max_abs: expected a positive number or None, got {max_abs!r}")
        self.hist = torch.zeros((T + 1, B), dtype=dtype, device=device)
        self.max_abs, self.who, self.hint = max_abs, who, hint
        self.pending: list[tuple[int, int]] = []  # (k, t_model), in the order run

    def record(self, x: torch.Tensor, k: int, t_model: int) -> None:
        """Store the per-sample ``max |x|`` of the state after step ``k`` ([B, ...])."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < self.hist.shape[0]:
            raise ValueError(f"k: expected an integer in [1, {self.hist.shape[0] - 1}], got {k!r}")
        B = self.hist.shape[1]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 1:
            raise ValueError(f"x: expected a real floating tensor [B, ...], got {type(x).__name__}")
        if x.shape[0] != B or x.device != self.hist.device:
            raise ValueError(
                f"x: expected {B} samples on {self.hist.device}, got {list(x.shape)} on {x.device}"
            )
        self.hist[k] = x.detach().reshape(x.shape[0], -1).abs().amax(1)
        self.pending.append((k, int(t_model)))

    def check(self) -> None:
        """Raise :class:`DivergenceError` for the first recorded step that went bad (one
        synchronisation); forget the recorded steps."""
        if not self.pending:
            return
        ks = [k for k, _ in self.pending]
        idx = torch.tensor(ks, device=self.hist.device)
        rows = self.hist.index_select(0, idx)
        limit = math.inf if self.max_abs is None else float(self.max_abs)
        bad = (~(torch.isfinite(rows) & (rows <= limit))).any(1).cpu()  # one sync
        pending, self.pending = self.pending, []
        for n, (k, t_model) in enumerate(pending):
            if bool(bad[n]):
                raise _divergence(self.hist[k], self.max_abs, k, t_model, self.who, self.hint)
