r"""A float64 numpy η-scaled ancestral sampler over any (conditional) score function.

One reverse step, for t = T, ..., 1:

.. math::

    x_{t-1} = \frac{x_t + \beta_t \nabla \log p_t(x_t \mid y)}{\sqrt{\alpha_t}}
    + \sqrt{\eta}\, V_t^{1/2} z, \qquad z \sim N(0, I),

with the step covariance :math:`V_t = \beta_t I` (``"beta"``), :math:`\tilde\beta_t I`
(``"beta_tilde"``, DDPM's choice) or the second-order Tweedie covariance
:math:`V_t = \frac{\beta_t}{\alpha_t}\big(I + \beta_t \nabla^2 \log p_t(x_t \mid y)\big)`
(``"exact"``; equal to the exact Gaussian kernel covariance :math:`C_t = \beta_t
\Sigma_{t-1}\Sigma_t^{-1}` when the posterior is Gaussian). The mean is the exact
one-step Tweedie mean :math:`E[x_{t-1} \mid x_t, y]` for any distribution.

This is the ground-truth sampler for the torch one in ``diffusion/``: slow but exact
given the score.

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), eq. 7 and Theorem 1.
2. S. Xue et al., arXiv 2410.05646 (2024) (reverse posterior mean in score form).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from numerics.gmm import GaussianMixture
from numerics.schedule import Schedule, check_schedule, check_time_index
from numerics.validate import (
    as_array,
    check_bool,
    check_callable,
    check_eta,
    check_int,
    check_rng,
)

__all__ = ["eta_chain", "initial_state", "run_posterior_chain", "step_covariance"]

VARIANCES = ("beta", "beta_tilde", "exact")
STARTS = ("standard", "exact")


def step_covariance(hessian, schedule: Schedule, t: int) -> np.ndarray:
    r"""Second-order Tweedie covariance :math:`\frac{\beta_t}{\alpha_t}(I + \beta_t H)` of one reverse step.

    Parameters
    ----------
    hessian : (n, d, d) array
        :math:`\nabla^2 \log p_t(x_t \mid y)` at each sample.
    schedule : Schedule
    t : int in 1..T

    Returns
    -------
    (n, d, d) array, symmetric
    """
    t = check_time_index(t, schedule)
    H = as_array(hessian, "hessian")
    if H.ndim < 2 or H.shape[-1] != H.shape[-2]:
        raise ValueError(f"hessian: expected (..., d, d) matrices, got shape {H.shape}")
    d = H.shape[-1]
    b, a = schedule.beta[t], schedule.alpha[t]
    V = (b / a) * (np.eye(d) + b * H)
    return 0.5 * (V + np.swapaxes(V, -1, -2))


def initial_state(n: int, d: int, schedule: Schedule, eta, *, rng, start="standard", law=None):
    r"""Draw x_T for the η-chain.

    ``"standard"``: :math:`x_T \sim N(0, I)`. ``"exact"``: :math:`x_T = \mu_T + \sqrt\eta
    (x' - \mu_T)` with :math:`x'` drawn from the exact law of :math:`x_T \mid y` (``law``,
    e.g. ``posterior.diffused(schedule, schedule.T)``) and :math:`\mu_T` its mean; for a
    Gaussian posterior this is :math:`N(\sqrt{\bar\alpha_T} m, \eta \Sigma_T)` (Theorem 1).

    Parameters
    ----------
    n, d : int
    schedule : Schedule
    eta : float or (n,) array in [0, 1]
    rng : numpy.random.Generator
    start : {"standard", "exact"}
    law : object with ``sample(n, rng) -> (n, d)`` and ``mean() -> (d,)``; needed for "exact"

    Returns
    -------
    (n, d) array
    """
    check_schedule(schedule)
    n, d = check_int(n, "n", minimum=1), check_int(d, "d", minimum=1)
    check_rng(rng)
    eta = check_eta(eta, n=n)
    if start == "standard":
        return rng.standard_normal((n, d))
    if start == "exact":
        if law is None:
            raise ValueError(
                "law: start='exact' needs the exact law of x_T (e.g. a GaussianMixture)"
            )
        mu = np.asarray(law.mean(), dtype=np.float64)
        x = np.asarray(law.sample(n, rng), dtype=np.float64)
        if x.shape != (n, d):
            raise ValueError(f"law: sample(n, rng) returned shape {x.shape}, expected {(n, d)}")
        s = np.sqrt(eta)[:, None] if eta.ndim else np.sqrt(eta)
        return mu + s * (x - mu)
    raise ValueError(f"start: expected one of {STARTS}, got {start!r}")


def eta_chain(
    score: Callable[[np.ndarray, int], np.ndarray],
    x_T,
    schedule: Schedule,
    eta,
    *,
    rng: np.random.Generator,
    variance: str = "beta_tilde",
    hessian: Callable[[np.ndarray, int], np.ndarray] | None = None,
    callback: Callable[[int, np.ndarray], None] | None = None,
    progress: bool = False,
) -> np.ndarray:
    r"""Run the η-scaled reverse chain from ``x_T`` down to :math:`x_0`.

    Parameters
    ----------
    score : callable ``(x (n, d), t) -> (n, d)``
        The conditional score :math:`\nabla \log p_t(x_t \mid y)` at step t of ``schedule``.
    x_T : (n, d) array
    schedule : Schedule
    eta : float or (n,) array in [0, 1]
        Variance scale, one per sample if an array (vectorised η sweep).
    rng : numpy.random.Generator
        Noise source; a fresh (n, d) normal draw is taken every step whatever η is, so a
        per-sample η gives the same numbers as separate runs with the same seed.
    variance : {"beta", "beta_tilde", "exact"}
    hessian : callable ``(x (n, d), t) -> (n, d, d)``, optional
        :math:`\nabla^2 \log p_t(x_t \mid y)`; required for ``variance="exact"``.
    callback : callable ``(t, x_t) -> None``, optional
        Called with the initial state (t = T) and after each step with :math:`x_{t-1}`
        (t - 1 = T - 1, ..., 0); used to record trajectories.
    progress : bool
        Show a tqdm bar over the steps.

    Returns
    -------
    x_0 : (n, d) array

    Notes
    -----
    At η = 0 the chain is deterministic given ``x_T``. Eigenvalues of the "exact" step
    covariance below 0 (possible only through rounding, or for a non-log-concave p_t
    where :math:`I + \beta_t H` is indefinite) are clipped to 0; ``log`` of how often is
    not kept, since for the priors here it does not happen beyond rounding.
    """
    check_schedule(schedule)
    progress = check_bool(progress, "progress")
    check_callable(score, "score")
    check_callable(hessian, "hessian", optional=True)
    check_callable(callback, "callback", optional=True)
    check_rng(rng)
    x = as_array(x_T, "x_T", ndim=2)
    n, d = x.shape
    eta = check_eta(eta, n=n)
    if variance not in VARIANCES:
        raise ValueError(f"variance: expected one of {VARIANCES}, got {variance!r}")
    if variance == "exact" and hessian is None:
        raise ValueError("hessian: variance='exact' needs the Hessian of log p_t(x_t | y)")
    sq_eta = np.sqrt(eta)[:, None] if eta.ndim else np.sqrt(eta)
    if callback is not None:
        callback(schedule.T, x.copy())
    steps = range(schedule.T, 0, -1)
    for t in tqdm(steps, desc="eta-chain", disable=not progress, leave=False):
        s = np.asarray(score(x, t), dtype=np.float64)
        if s.shape != (n, d):
            raise ValueError(f"score: returned shape {s.shape} at t={t}, expected {(n, d)}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"score: returned non-finite values (NaN or Inf) at t={t}")
        mean = (x + schedule.beta[t] * s) / np.sqrt(schedule.alpha[t])
        z = rng.standard_normal((n, d))
        if variance == "beta":
            noise = np.sqrt(schedule.beta[t]) * z
        elif variance == "beta_tilde":
            noise = np.sqrt(schedule.beta_tilde[t]) * z
        else:
            V = step_covariance(hessian(x, t), schedule, t)
            w, U = np.linalg.eigh(V)
            noise = np.einsum("nij,nj->ni", U, np.sqrt(np.clip(w, 0.0, None)) * z)
        x = mean + sq_eta * noise
        if not np.all(np.isfinite(x)):
            raise FloatingPointError(f"eta_chain: non-finite state at step t={t}")
        if callback is not None:
            callback(t - 1, x.copy())
    return x


def run_posterior_chain(
    posterior,
    schedule: Schedule,
    eta,
    n: int,
    *,
    rng: np.random.Generator,
    start: str = "standard",
    variance: str = "beta_tilde",
    score: Callable[[np.ndarray, int], np.ndarray] | None = None,
    callback=None,
    progress: bool = False,
) -> np.ndarray:
    """η-chain over the exact score of a posterior ``GaussianMixture`` (the exact conditional score).

    Draws x_T with :func:`initial_state` and runs :func:`eta_chain` with
    ``posterior.score(x, t, schedule)`` (and ``posterior.hessian`` for ``variance="exact"``).
    ``score`` replaces the posterior's score (e.g. :func:`numerics.dps.dps_score`); x_T's law
    (``start="exact"``) and the Hessian stay the posterior's.

    Returns
    -------
    (n, d) array
    """
    check_schedule(schedule)
    check_bool(progress, "progress")
    check_callable(callback, "callback", optional=True)
    check_rng(rng)
    n = check_int(n, "n", minimum=1)
    if not isinstance(posterior, GaussianMixture):
        raise TypeError(f"posterior: expected a GaussianMixture, got {type(posterior).__name__}")
    law = posterior.diffused(schedule, schedule.T) if start == "exact" else None
    x_T = initial_state(n, posterior.d, schedule, eta, rng=rng, start=start, law=law)
    if score is None:
        score = lambda x, t: posterior.score(x, t, schedule)  # noqa: E731
    return eta_chain(
        score,
        x_T,
        schedule,
        eta,
        rng=rng,
        variance=variance,
        hessian=lambda x, t: posterior.hessian(x, t, schedule),
        callback=callback,
        progress=progress,
    )
