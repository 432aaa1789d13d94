r"""The VP (DDPM) noise schedule in float64.

Indexing convention (used everywhere in this project): every array has length
``T + 1`` and **index = t**. Entry 0 is the clean data, with the conventions
``beta[0] = 0``, ``alpha[0] = 1``, ``alpha_bar[0] = 1``, ``one_minus_alpha_bar[0] = 0``
and ``beta_tilde[0] = 0``; the reverse steps are t = T, ..., 1.

.. math::

    \bar\alpha_t = \prod_{s \le t} (1 - \beta_s), \qquad
    1 - \bar\alpha_t = -\operatorname{expm1}\Big(\sum_{s\le t} \log(1 - \beta_s)\Big), \qquad
    \tilde\beta_t = \beta_t \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}.

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. A. Nichol, P. Dhariwal, "Improved DDPM", ICML 2021 (respacing of the schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.validate import as_array, as_scalar

__all__ = [
    "Schedule",
    "check_schedule",
    "check_time_index",
    "linear_schedule", "respace", "schedule_from_alpha_bar"]

_FIELDS = ("beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "beta_tilde", "timesteps")


@dataclass(frozen=True, eq=False)
class Schedule:
    """A VP schedule; all arrays are float64, read-only, of shape ``(T + 1,)``, index = t.

    Attributes
    ----------
    beta, alpha, alpha_bar, one_minus_alpha_bar, beta_tilde : (T + 1,) arrays
        See the module docstring; entry 0 is t = 0.
    timesteps : (T + 1,) int array
        The time index of each step in the schedule this one was respaced from
        (``timesteps[t] == t`` for a schedule built directly). Networks trained on
        the parent schedule are evaluated at ``timesteps[t]``.
    """

    beta: np.ndarray
    alpha: np.ndarray
    alpha_bar: np.ndarray
    one_minus_alpha_bar: np.ndarray
    beta_tilde: np.ndarray
    timesteps: np.ndarray

    def __post_init__(self):
        """Refuse a record no factory could have built (T < 1, NaN, β outside [0, 1), ...).

        Every consumer of a schedule may then trust it; the factories below give the
        reasons in terms of their own arguments first.
        """
        n = None
        for name in _FIELDS:
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.ndim != 1:
                raise ValueError(f"{name}: expected a 1-d numpy array, got {type(a).__name__}")
            if n is not None and a.shape[0] != n:
                raise ValueError(f"{name}: expected length {n} (T + 1) like beta, got {a.shape[0]}")
            n = a.shape[0]
            if name != "timesteps" and (a.dtype.kind != "f" or not np.all(np.isfinite(a))):
                raise ValueError(f"{name}: expected finite float values")
        if n < 2:
            raise ValueError(f"beta: expected length T + 1 >= 2 (at least one step), got {n}")
        b, ab = self.beta, self.alpha_bar
        if b[0] != 0.0 or not np.all((b[1:] > 0) & (b[1:] < 1)):
            raise ValueError("beta: expected beta[0] = 0 and values in (0, 1) for t >= 1")
        if not np.all((ab > 0) & (ab <= 1)):
            raise ValueError("alpha_bar: expected values in (0, 1]")
        ts = self.timesteps
        if ts.dtype.kind not in "iu" or ts[0] < 0 or not np.all(np.diff(ts) > 0):
            raise ValueError("timesteps: expected strictly increasing integers >= 0")

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return self.beta.shape[0] - 1

    def __repr__(self) -> str:
        return (
            f"Schedule(T={self.T}, beta=[{self.beta[1]:.3g}..{self.beta[-1]:.3g}], "
            f"alpha_bar_T={self.alpha_bar[-1]:.3g})"
        )


def check_schedule(schedule, name: str = "schedule") -> Schedule:
    """Return ``schedule`` after checking it is a :class:`Schedule` (``ValueError`` naming
    ``name`` otherwise; its fields were checked when it was built)."""
    if not isinstance(schedule, Schedule):
        raise ValueError(f"{name}: expected a Schedule, got {type(schedule).__name__}")
    return schedule


def check_time_index(t, schedule, *, min_t: int = 1) -> int:
    """Return the time index ``t`` of ``schedule`` as an int after checking it is an integer in
    ``[min_t, T]`` (``ValueError`` naming ``t``, or ``schedule`` if that is not a Schedule)."""
    T = check_schedule(schedule).T
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not min_t <= t <= T:
        raise ValueError(f"t: expected an integer in [{min_t}, {T}], got {t!r}")
    return int(t)


def schedule_from_alpha_bar(log_alpha_bar, timesteps=None, *, beta=None) -> Schedule:
    """Build a :class:`Schedule` from ``log ᾱ_t`` for t = 0..T (``log ᾱ_0 = 0``).

    Parameters
    ----------
    log_alpha_bar : (T + 1,) array
        Strictly decreasing, starting at 0.
    timesteps : (T + 1,) int array, optional
        Parent time indices, strictly increasing integers >= 0 (default ``arange(T + 1)``).
    beta : (T + 1,) array, optional
        The exact β_t when known (``beta[0] = 0``, values in (0, 1), consistent with
        ``log_alpha_bar`` to rounding); default :math:`1 - \bar\alpha_t/\bar\alpha_{t-1}`
        from ``log_alpha_bar``.

    Raises
    ------
    ValueError
        Naming the argument that is not as described.
    """
    lab = as_array(log_alpha_bar, "log_alpha_bar", ndim=1)
    if lab.shape[0] < 2:
        raise ValueError("log_alpha_bar: expected a 1-d array of length T + 1 >= 2")
    if lab[0] != 0.0 or not np.all(np.diff(lab) < 0):
        raise ValueError("log_alpha_bar: expected finite values starting at 0, strictly decreasing")
    T = lab.shape[0] - 1
    if timesteps is None:
        timesteps = np.arange(T + 1)
    else:
        ts = as_array(timesteps, "timesteps", shape=lab.shape)
        if np.any(ts != np.round(ts)) or np.any(ts < 0) or not np.all(np.diff(ts) > 0):
            raise ValueError(
                "timesteps: expected strictly increasing integers >= 0 (parent time indices), "
                f"got {ts[:6].tolist()}{' ...' if ts.size > 6 else ''}"
            )
        timesteps = ts.astype(np.int64)
    if beta is None:
        beta = 0.0 - np.expm1(np.concatenate([[0.0], np.diff(lab)])) + 0.0  # -0.0 -> 0.0
    else:
        beta = np.array(as_array(beta, "beta", shape=lab.shape))
        if beta[0] != 0.0 or not np.all((beta[1:] > 0) & (beta[1:] < 1)):
            raise ValueError("beta: expected beta[0] = 0 and values in (0, 1) for t >= 1")
        # beta must be the one of log_alpha_bar (rounding aside): 1 - beta_t = abar_t / abar_{t-1}
        step = np.diff(lab)
        if not np.allclose(np.log1p(-beta[1:]), step, rtol=1e-6, atol=1e-12 * np.abs(lab).max()):
            raise ValueError(
                "beta: inconsistent with log_alpha_bar (1 - beta_t != abar_t/abar_t-1)"
            )
    alpha = 1.0 - beta
    alpha_bar = np.exp(lab)
    omab = 0.0 - np.expm1(lab) + 0.0
    beta_tilde = np.zeros_like(beta)
    beta_tilde[1:] = beta[1:] * omab[:-1] / omab[1:]
    arrays = (beta, alpha, alpha_bar, omab, beta_tilde, timesteps)  # the fields, in order
    for a in arrays:
        a.setflags(write=False)
    return Schedule(*arrays)


def linear_schedule(
    T: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    *,
    fixed_horizon: bool = False,
) -> Schedule:
    r"""DDPM's linear schedule :math:`\beta_t` from ``beta_start`` to ``beta_end``, t = 1..T.

    Parameters
    ----------
    T : int
        Number of steps, >= 1.
    beta_start, beta_end : float
        End points of the linear ramp, in (0, 1), ``beta_start <= beta_end``.
    fixed_horizon : bool
        Rescale β by 1000/T, i.e. discretise the same VP SDE with T steps. With
        β fixed at 1e-4..0.02 and T != 1000 the chain is a different process (at
        T = 10, ᾱ_T = 0.90) and converges only like T^(-1/2); the rescaled one has
        a β -> 0 limit and converges like 1/T.

    Examples
    --------
    >>> s = linear_schedule(1000)
    >>> s.T, float(s.beta[1]), float(s.beta[1000])
    (1000, 0.0001, 0.02)
    >>> bool(s.one_minus_alpha_bar[1] == s.beta[1])
    True
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T: expected an integer >= 1, got {T!r}")
    if not isinstance(fixed_horizon, (bool, np.bool_)):
        raise ValueError(f"fixed_horizon: expected True or False, got {fixed_horizon!r}")
    beta_start = as_scalar(beta_start, "beta_start")
    beta_end = as_scalar(beta_end, "beta_end")
    if beta_start > beta_end:
        raise ValueError(
            f"beta_start, beta_end: expected beta_start <= beta_end (an increasing ramp), "
            f"got {beta_start!r} > {beta_end!r}"
        )
    scale = 1000.0 / T if fixed_horizon else 1.0
    b0, b1 = beta_start * scale, beta_end * scale
    if not (0 < b0 < 1 and 0 < b1 < 1):
        raise ValueError(
            f"beta_start, beta_end: expected values in (0, 1) after scaling, got {b0!r}, {b1!r}"
        )
    beta = np.linspace(b0, b1, T, dtype=np.float64) if T > 1 else np.array([b0])
    lab = np.concatenate([[0.0], np.cumsum(np.log1p(-beta))])
    # Pass the exact β values (a diff of the cumsum of log1p would round them).
    return schedule_from_alpha_bar(lab, beta=np.concatenate([[0.0], beta]))


def respace(schedule: Schedule, steps: int) -> Schedule:
    r"""Sub-sequence of ``steps`` evenly strided times of ``schedule``, with the correct α.

    The kept times are ``round(linspace(0, T, steps + 1))``; the new step k keeps
    :math:`\bar\alpha` of its parent time and has
    :math:`\beta_k = 1 - \bar\alpha_{t_k}/\bar\alpha_{t_{k-1}}` (Nichol & Dhariwal 2021).
    ``timesteps`` maps each new index to the parent time index.

    Examples
    --------
    >>> s = respace(linear_schedule(1000), 10)
    >>> s.T, int(s.timesteps[-1])
    (10, 1000)
    """
    T = check_schedule(schedule).T
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise ValueError(f"steps: expected an integer in [1, {T}], got {steps!r}")
    keep = np.unique(np.round(np.linspace(0, T, steps + 1)).astype(np.int64))
    lab = np.log(schedule.alpha_bar[keep])
    lab[0] = 0.0
    return schedule_from_alpha_bar(lab, timesteps=schedule.timesteps[keep])
