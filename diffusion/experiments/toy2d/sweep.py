r"""The measurements of the 2-D experiment: the guided η sweep, the oracle posterior, one DP point.

* :func:`sweep_ours`: the η-scaled reverse chain with DPS guidance for every η in one batch
  (the method under test);
* :func:`oracle_posterior`: the exact posterior of an empirical prior for y = x + σ_y n (self-
  normalised importance weights), the reference that attains the conditional DP bound;
* :func:`dp_point`: distortion (MSE) and perception (W2 and k-NN KL of the joint and marginal
  laws) of a set of estimates.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion.guidance import DPSGuidance
from diffusion.operators import Identity
from diffusion.operators.base import check_float_dtype
from diffusion.sampler import sample
from numerics.metrics import knn_kl_or_none, w2_empirical
from numerics.progress import Progress
from numerics.schedule import check_schedule
from numerics.validate import (
    as_samples,
    as_scalar,
    check_bool,
    check_callable,
    check_eta,
    check_int,
    check_rng,
    check_std,
)

__all__ = ["dp_point", "oracle_posterior", "sweep_ours"]


def sweep_ours(
    denoiser,
    y,
    sigma_y: float,
    etas,
    zeta,
    schedule,
    *,
    generator: torch.Generator,
    form: str = "likelihood",
    scale_by_beta: bool = False,
    steps: int | None = None,
    variance: str = "beta_tilde",
    progress: bool = False,
    dtype=torch.float32,
) -> np.ndarray:
    r"""The η-scaled reverse chain with DPS guidance for every η at once; returns [len(etas), n, d].

    One batch of ``len(etas) * n`` chains: block j runs η = ``etas[j]`` on the n measurements
    ``y`` (y = x + n, operator the identity), with the DPS step of
    :class:`~diffusion.guidance.DPSGuidance` (ζ constant over η and t).

    Parameters
    ----------
    denoiser : callable ``(x_t [B, d], t int64 [B]) -> x0_hat`` (:mod:`diffusion.models`)
    y : (n, d) array
    sigma_y : float > 0
    etas : sequence of float in [0, 1]
    zeta : float >= 0
    schedule : numerics Schedule (the denoiser's base schedule)
    generator : torch.Generator
    form, scale_by_beta : passed to DPSGuidance
    steps : int, optional
        Respace the schedule to this many steps (None: all T).
    variance : {"beta_tilde", "beta"}
    """
    check_schedule(schedule)
    check_bool(scale_by_beta, "scale_by_beta")
    check_bool(progress, "progress")
    check_callable(denoiser, "denoiser")
    dtype = check_float_dtype(dtype)
    if steps is not None:
        steps = check_int(steps, "steps", minimum=1)
    y = as_samples(y, "y")
    sigma_y = check_std(sigma_y, "sigma_y")
    etas = check_eta(etas, "etas")
    if etas.ndim != 1 or etas.shape[0] < 1:
        raise ValueError(f"etas: expected a non-empty list of values in [0, 1], got {etas!r}")
    zeta = as_scalar(zeta, "zeta")
    if zeta < 0:
        raise ValueError(f"zeta: expected a number >= 0, got {zeta!r}")
    n, d = y.shape
    _probe(denoiser, d, schedule.T, dtype)
    k = etas.shape[0]
    eta_all = torch.as_tensor(np.repeat(etas, n), dtype=dtype)
    y_all = torch.as_tensor(np.tile(y, (k, 1)), dtype=dtype)
    guide = DPSGuidance(
        Identity((d,)),
        y_all,
        zeta,
        form=form,
        sigma_y=sigma_y if form == "likelihood" else None,
        scale_by_beta=scale_by_beta,
    )
    n_steps = steps if steps is not None else schedule.T
    eta = Progress(n_steps, f"{k * n} chains x {n_steps} steps", bar=False, prog="toy2d")
    x0 = sample(
        denoiser,
        (k * n, d),
        schedule,
        eta=eta_all,
        guidance=guide,
        variance=variance,
        steps=steps if steps is not None and steps != schedule.T else None,
        generator=generator,
        callback=lambda *_: eta.update(1),  # at x_T too: the clock starts there
        progress=progress,
        dtype=dtype,
    )
    return x0.detach().to(torch.float64).numpy().reshape(k, n, d)


def _probe(denoiser, d: int, T: int, dtype) -> None:
    """One call of ``denoiser`` at x_T = 0, t = T before the chains start: a denoiser that
    refuses points of y's dimension d, or returns the wrong shape or non-finite values, fails
    here with ValueError naming ``y`` or ``denoiser`` (the sampler would name neither). It
    reads no random numbers, so the chains are the same with or without it."""
    x = torch.zeros(1, d, dtype=dtype)
    try:
        with torch.no_grad():
            out = denoiser(x, torch.full((1,), T, dtype=torch.int64))
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"y: points of y's dimension d = {d} do not fit the denoiser: {exc}"
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"denoiser: expected a tensor output, got {type(out).__name__}")
    if tuple(out.shape) != (1, d):
        raise ValueError(f"denoiser: returned shape {list(out.shape)} for input shape [1, {d}]")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"denoiser: returned NaN or Inf at x_T = 0, t = {T}")


def oracle_posterior(prior_x, y, sigma_y: float, rng: np.random.Generator, *, chunk: int = 16):
    r"""Exact posterior of an empirical prior by self-normalised importance weights.

    For the empirical law of ``prior_x`` (M points) and y = x + σ_y n, the posterior is the
    weighted empirical law with :math:`w_m \propto \exp(-\|y - x_m\|^2 / 2\sigma_y^2)`:

    .. math::

        E[x \mid y] = \sum_m w_m x_m, \qquad
        \operatorname{tr}\operatorname{Cov}[x \mid y] = \sum_m w_m \|x_m - E[x \mid y]\|^2,

    and a posterior draw is :math:`x_m` with probability :math:`w_m`. As M grows this is the
    posterior of the data law itself.

    Parameters
    ----------
    prior_x : (M, d) array
    y : (n, d) array
    sigma_y : float > 0
    rng : numpy.random.Generator
        One uniform per y for the draw.

    Returns
    -------
    mean : (n, d) array
    draw : (n, d) array
    trace_cov : (n,) array
    ess : (n,) array
        Effective sample size :math:`1/\sum_m w_m^2` of each y.
    """
    X = as_samples(prior_x, "prior_x")
    Y = as_samples(y, "y", d=X.shape[1])
    sigma_y = check_std(sigma_y, "sigma_y")
    check_rng(rng)
    chunk = check_int(chunk, "chunk", minimum=1)
    n, d = Y.shape
    mean = np.empty((n, d))
    draw = np.empty((n, d))
    tr = np.empty(n)
    ess = np.empty(n)
    x2 = np.sum(X * X, axis=1)
    u = rng.random(n)
    for i0 in range(0, n, chunk):
        Yc = Y[i0 : i0 + chunk]
        d2 = np.sum(Yc * Yc, axis=1)[:, None] + x2[None] - 2.0 * Yc @ X.T
        with np.errstate(over="ignore"):  # checked on the next line
            logw = -0.5 * d2 / sigma_y**2
        if not np.all(np.isfinite(logw)):  # far points / tiny σ_y: d2 / σ_y² overflowed
            # the same weights, with the nearest point subtracted before the division
            with np.errstate(over="ignore"):  # inf here is a weight of exactly 0
                logw = -0.5 * ((d2 - d2.min(axis=1, keepdims=True)) / sigma_y**2)
        logw -= logw.max(axis=1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(axis=1, keepdims=True)
        m = w @ X
        mean[i0 : i0 + chunk] = m
        tr[i0 : i0 + chunk] = w @ x2 - np.sum(m * m, axis=1)
        ess[i0 : i0 + chunk] = 1.0 / np.sum(w * w, axis=1)
        cw = np.cumsum(w, axis=1)
        idx = np.minimum((cw < u[i0 : i0 + chunk, None] * cw[:, -1:]).sum(axis=1), X.shape[0] - 1)
        draw[i0 : i0 + chunk] = X[idx]
    return mean, draw, np.maximum(tr, 0.0), ess


def dp_point(xhat, x, y, ref_x, ref_y) -> dict:
    r"""Distortion and perception of estimates ``xhat`` of the test pairs ``(x, y)``.

    * ``mse``: :math:`\frac1n\sum_i\|\hat x_i - x_i\|^2` (``mse_se`` its standard error);
    * ``w2_joint``: empirical W2 between :math:`\{(\hat x_i, y_i)\}` and an independent
      reference set :math:`\{(x'_j, y'_j)\}` of the joint law (4-D, exact LP);
    * ``w2_marginal``: empirical W2 between :math:`\{\hat x_i\}` and :math:`\{x'_j\}` (2-D);
    * ``kl_joint``, ``kl_marginal``: k-NN KL (k = 1) of the same pairs of sets, None where
      undefined (tied points).

    Parameters
    ----------
    xhat, x, y : (n, d) arrays
    ref_x, ref_y : (m, d) arrays, independent of the test pairs
    """
    xhat = as_samples(xhat, "xhat")
    n, d = xhat.shape
    if n < 2:
        raise ValueError(
            f"xhat: expected n >= 2 estimates (mse_se needs two), got shape {xhat.shape}"
        )
    x = as_samples(x, "x", d=d)
    y = as_samples(y, "y")
    ref_x = as_samples(ref_x, "ref_x", d=d)
    ref_y = as_samples(ref_y, "ref_y", d=y.shape[1])
    for name, a, m in (("x", x, n), ("y", y, n), ("ref_y", ref_y, ref_x.shape[0])):
        if a.shape[0] != m:
            raise ValueError(f"{name}: expected {m} rows (one per point), got shape {a.shape}")
    err = np.sum((xhat - x) ** 2, axis=1)
    J = np.column_stack([xhat, y])
    Jr = np.column_stack([ref_x, ref_y])
    return dict(
        mse=float(err.mean()),
        mse_se=float(err.std(ddof=1) / math.sqrt(err.shape[0])),
        w2_joint=w2_empirical(J, Jr),
        w2_marginal=w2_empirical(xhat, ref_x),
        kl_joint=knn_kl_or_none(J, Jr),
        kl_marginal=knn_kl_or_none(xhat, ref_x),
    )
