r"""The η-scaled reverse sampler (the paper's Algorithm 1) as one plain function.

One reverse step, from state k to k - 1 of a (possibly respaced) schedule, for every sample
b of the batch:

.. math::

    x_{k-1} = \frac{x_k + \beta_k \nabla\log p_k(x_k \mid y)}{\sqrt{\alpha_k}}
    + \sqrt{\eta_b}\; V_k^{1/2} z, \qquad z \sim N(0, I),

with the mean written as :math:`c^{(0)}_k \hat x_0 + c^{(x)}_k x_k + \delta` from the
denoiser's :math:`\hat x_0` and the guidance's correction δ (:mod:`diffusion.guidance`,
:mod:`diffusion.schedule`), and the step covariance

* ``"beta"``: :math:`V_k = \beta_k I` (over-disperses);
* ``"beta_tilde"``: :math:`V_k = \tilde\beta_k I`, DDPM's choice (:math:`\tilde\beta_1 = 0`;
  under-disperses when posterior variances are comparable to :math:`\beta_1`);
* ``"exact"``: the second-order Tweedie covariance
  :math:`V_k = \frac{\beta_k}{\alpha_k}\big(I + \beta_k \nabla^2\log p_k(x_k \mid y)\big)`,
  equal to the exact reverse-kernel covariance :math:`\beta_k\Sigma_{k-1}\Sigma_k^{-1}` for a
  Gaussian posterior; it needs the Hessian (:class:`~diffusion.guidance.ExactGuidance` or an
  analytic prior as the model). It is sampled per step through the symmetric square root
  :math:`V^{1/2} = Q \operatorname{diag}(w^{1/2}) Q^\top` of an ``eigh``; eigenvalues in
  :math:`[-\tau, 0)`, :math:`\tau = 100\,\epsilon_{\rm dtype}\,(\beta_k/\alpha_k)(1 + \beta_k
  \|H\|)`, are rounding and clipped to 0; below :math:`-\tau` is an error. The covariance is
  ``[D, D]`` per sample (D values per sample): meant for analytic priors of moderate D.

Start: ``"standard"`` draws :math:`x_T \sim N(0, I)`; ``"exact"`` draws
:math:`x_T = \mu_T + \sqrt{\eta}\,(x' - \mu_T)` with :math:`x'` from the exact law of
:math:`x_T \mid y` and :math:`\mu_T` its mean (Theorem 1's start; for a Gaussian posterior
:math:`N(\sqrt{\bar\alpha_T} m, \eta\Sigma_T)`, as in
``numerics.gaussian.eta_chain_moments(start="exact")``).

Randomness: x_T and one ``[B, ...]`` standard normal per step are drawn whatever η is (even
at η = 0 and when :math:`\tilde\beta_1 = 0`), so that a per-sample η gives exactly the numbers
of separate runs with the same seed. The normals are drawn in float32 on the generator's
device and then cast to the working dtype, so float32 and float64 runs see the same noise
(float32 normals have a relative resolution of 2^-24, far below any Monte-Carlo error; torch
draws them ~5x faster than float64 ones, 0.3 vs 1.8 ms for 8 x 3 x 64 x 64 on one CPU core).
The exact start's draw from the analytic law is made in float64. With a list of B generators,
sample b uses only generator b: a batch then equals separate single-sample runs with those
generators.

Precision: float32 by default (float64 accepted: pass ``dtype`` or a float64 ``x_T``). On the
paper's 2-D mixture (exact guidance, T = 1000, same x_T and seed, 256 samples, η from 0 to 1)
the float32 end point differs from the float64 one by at most 6.3e-6 (``beta_tilde``) and
3.8e-6 (``exact``), max over samples and coordinates, with :math:`|x| \le 1.6`. The test
``tests/diffusion/test_sampler.py::test_float32_matches_float64`` holds it below
:math:`5\sqrt{T}\,\epsilon_{32}\max(1, |x|)` (2.9e-5 here: rounding accumulating as a random
walk over T contracting steps). With the mean in the :math:`c^{(0)}\hat x_0 + c^{(x)} x` form
nothing is divided by :math:`\sqrt{\bar\alpha_T}` in the sampler itself (an ε-network's
adapter does divide, amplifying the network's float32 error ~150x at t = 1000).

Divergence: every state is checked for a non-finite entry or :math:`|x| >` ``max_abs``. On
the CPU that is done after every step (:func:`check_divergence`). On other devices
(``check_every`` steps, default :data:`DIVERGENCE_CHECK_EVERY`) each step only stores the
per-sample :math:`\max|x|` in a device tensor, without a host synchronisation, and every
``check_every`` steps (and after the last) one synchronisation looks at the stored rows: the
error is raised for the first step where they went bad, with the same message (same step,
count and :math:`\max|x|`) as a per-step check. The chain has then run up to
``check_every - 1`` steps further (a ``callback`` sees those states). ``variance="exact"``
synchronises every step anyway and is checked every step.

References
----------
1. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025), Algorithm 1, Theorem 1.
2. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
3. A. Nichol, P. Dhariwal, "Improved DDPM", ICML 2021 (respaced schedules).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from diffusion._checks import check_device, check_flag, check_positive_or_none
from diffusion.divergence import (
    DIVERGENCE_CHECK_EVERY,
    DivergenceError,
    DivergenceWatch,
    _check_divergence,
    check_divergence,
)
from diffusion.guidance import Guidance, check_eta_batch
from diffusion.models import _call_denoiser
from diffusion.schedule import TorchSchedule, append_dims
from numerics.schedule import Schedule, respace

__all__ = [
    "DIVERGENCE_CHECK_EVERY",
    "DivergenceError",
    "STARTS",
    "VARIANCES",
    "check_divergence",
    "sample",
]

VARIANCES = ("beta", "beta_tilde", "exact")
STARTS = ("standard", "exact")


def sample(
    model: Callable | None,
    x_T,
    schedule,
    *,
    eta,
    guidance: Guidance | None = None,
    variance: str = "beta_tilde",
    start: str = "standard",
    steps: int | None = None,
    generator=None,
    callback: Callable | None = None,
    progress: bool = False,
    dtype: torch.dtype | None = None,
    device=None,
    max_abs: float | None = 1e3,
    check_every: int | None = None,
) -> torch.Tensor:
    r"""Run the η-scaled reverse chain and return :math:`x_0`, shape ``[B, ...]``.

    Parameters
    ----------
    model : callable ``model(x_t [B, ...], t int64 [B]) -> x0_hat [B, ...]``
        A denoiser (:mod:`diffusion.models`); ``t`` is ``schedule.timesteps[k]``, the time
        index of the model's base schedule. May be None with :class:`ExactGuidance` (whose
        step does not use the prior's score).
    x_T : tensor [B, ...] or shape tuple
        The initial state, or the shape to draw it with (required for ``start="exact"``).
    schedule : numerics.schedule.Schedule or TorchSchedule
        The schedule to run (its ``timesteps`` map to the model's time index).
    eta : float or tensor [B] in [0, 1]
        Variance scale; a tensor gives one η per sample (one batch sweeps many η).
    guidance : Guidance, optional
        :class:`~diffusion.guidance.ExactGuidance`, :class:`~diffusion.guidance.DPSGuidance`;
        None samples the model's own law.
    variance : {"beta_tilde", "beta", "exact"}
    start : {"standard", "exact"}
    steps : int, optional
        Respace ``schedule`` to this many evenly strided steps (``numerics.schedule.respace``,
        correct α for the stride); at most ``schedule.T``.
    generator : torch.Generator or sequence of B generators, optional
        Source of all randomness (see the module notes). None uses a fresh generator seeded
        from the OS (not reproducible; pass one to reproduce a run).
    callback : callable ``(i, t, x_i, x0_hat) -> None``, optional
        Called with the initial state (i = T, ``x0_hat=None``) and after every step with the
        new state :math:`x_i` (i = T - 1, ..., 0), its model time ``t = timesteps[i]`` and the
        :math:`\hat x_0` the step used. For trajectories; the tensors are not copied.
    progress : bool
        tqdm bar over the steps (off by default).
    dtype : torch.dtype, optional
        Working dtype; default ``x_T``'s dtype, or float32 when a shape is given.
    device : torch device, optional
        Default ``x_T``'s device, or the CPU when a shape is given.
    max_abs : float or None
        Divergence threshold: a state with a non-finite entry or ``|x| > max_abs`` stops the
        run with :class:`DivergenceError` naming the step (None: only non-finite states).
    check_every : int >= 1, optional
        Steps between divergence checks (one host synchronisation each; the step that
        went bad is reported either way, see the module notes). Default: 1 on the CPU and
        with ``variance="exact"``, :data:`DIVERGENCE_CHECK_EVERY` on other devices.

    Returns
    -------
    x_0 : tensor [B, ...]

    Raises
    ------
    TypeError
        A ``callback`` that is not callable.
    ValueError
        Bad input: η outside [0, 1] or not of shape [] / [B], non-finite x_T, steps > T, an
        unknown variance or start, ``"exact"`` variance/start without an analytic law, a model
        whose base schedule disagrees with ``schedule``, a model returning a wrong shape, a
        measurement that does not match the operator (raised by the guidance).
    DivergenceError
        The chain blew up (typically DPS with too large a step).

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> from diffusion.priors import GaussianPrior
    >>> prior = GaussianPrior([1.0, -1.0], [[0.5, 0.0], [0.0, 0.2]], linear_schedule(1000))
    >>> x0 = sample(prior, (4, 2), linear_schedule(1000), eta=0.0, steps=50,
    ...             generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x0.shape
    torch.Size([4, 2])
    """
    # ---- schedule
    np_sched = schedule.schedule if isinstance(schedule, TorchSchedule) else schedule
    if not isinstance(np_sched, Schedule):
        raise ValueError(
            f"schedule: expected a numerics Schedule or TorchSchedule, got {type(schedule).__name__}"
        )
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise ValueError(f"steps: expected an integer, got {steps!r}")
        if not 1 <= steps <= np_sched.T:
            raise ValueError(f"steps: expected an integer in [1, T={np_sched.T}], got {steps}")
        if steps != np_sched.T:
            np_sched = respace(np_sched, int(steps))
    ts = TorchSchedule(np_sched)
    T = ts.T
    if variance not in VARIANCES:
        raise ValueError(f"variance: expected one of {VARIANCES}, got {variance!r}")
    if start not in STARTS:
        raise ValueError(f"start: expected one of {STARTS}, got {start!r}")
    if guidance is not None and not isinstance(guidance, Guidance):
        raise ValueError(f"guidance: expected a Guidance object, got {type(guidance).__name__}")
    if model is None:
        if guidance is None or guidance.needs_grad or guidance.exact_law is None:
            raise ValueError("model: expected a denoiser (None is allowed only with ExactGuidance)")
    elif not callable(model):
        raise ValueError(f"model: expected a callable denoiser, got {type(model).__name__}")
    for who, obj in (("model", model), ("guidance", getattr(guidance, "exact_law", None))):
        _check_base_schedule(obj, ts, who)

    # ---- state shape, dtype, device
    if device is not None:
        device = check_device(device)
    progress = check_flag(progress, "progress")
    max_abs = check_positive_or_none(max_abs, "max_abs")
    if isinstance(x_T, torch.Tensor):
        if x_T.is_meta or x_T.is_complex() or x_T.ndim < 1 or x_T.shape[0] == 0:
            raise ValueError(
                f"x_T: expected a real tensor with data and a non-empty batch, got {x_T.dtype} "
                f"{list(x_T.shape)} on {x_T.device}"
            )
        if start == "exact":
            raise ValueError("x_T: start='exact' draws x_T itself; pass its shape instead")
        if not x_T.is_floating_point() or x_T.ndim < 2:
            raise ValueError(
                f"x_T: expected a floating tensor [B, ...], got {x_T.dtype} {list(x_T.shape)}"
            )
        dtype = dtype or x_T.dtype
        device = torch.device(device) if device is not None else x_T.device
        x = x_T.detach().to(device=device, dtype=dtype)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x_T: contains NaN or Inf")
        shape = tuple(x.shape)
    else:
        shape = _check_shape(x_T)
        dtype = dtype or torch.float32
        device = torch.device(device) if device is not None else torch.device("cpu")
        x = None
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
    B, ndim = shape[0], len(shape)
    eta64 = check_eta_batch(eta, B)
    eta_w = eta64.to(device=device, dtype=dtype)
    sq_eta = append_dims(eta_w.sqrt(), ndim)
    gens = _check_generators(generator, B)
    if check_every is None:
        check_every = 1 if device.type == "cpu" else DIVERGENCE_CHECK_EVERY
    elif isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)):
        raise ValueError(f"check_every: expected an integer >= 1, got {check_every!r}")
    elif check_every < 1:
        raise ValueError(f"check_every: expected an integer >= 1, got {check_every}")
    if variance == "exact":
        check_every = 1
    if callback is not None and not callable(callback):
        raise TypeError(
            f"callback: expected a callable (i, t, x_i, x0_hat) or None, got {callback!r}"
        )

    # ---- what the variance rule and the start need
    if variance == "exact":
        if guidance is not None:
            if type(guidance).hessian is Guidance.hessian:
                raise ValueError(
                    f"variance='exact' needs the Hessian of log p_t(x_t | y), which "
                    f"{type(guidance).__name__} does not provide: use ExactGuidance"
                )
            hess = guidance.hessian
        elif hasattr(model, "hessian"):
            hess = model.hessian
        else:
            raise ValueError(
                "variance='exact' needs the Hessian of log p_t(x_t | y): use ExactGuidance, or "
                "an analytic prior (GaussianPrior/MixturePrior) as the model without guidance"
            )
    if x is None:
        if start == "exact":
            law = guidance.exact_law if guidance is not None else model
            if law is None or not hasattr(law, "sample_xt"):
                raise ValueError(
                    "start='exact' needs the exact law of x_T | y: use ExactGuidance, or an "
                    "analytic prior as the model without guidance"
                )
            t_T = int(ts.timesteps[T])
            D = math.prod(shape[1:])
            if D != law.d:
                raise ValueError(f"x_T: {D} values per sample, but the exact law has d={law.d}")
            if isinstance(gens, list):
                xp = torch.cat([law.sample_xt(1, t_T, generator=g) for g in gens])
            else:
                xp = law.sample_xt(B, t_T, generator=gens)
            mu = torch.as_tensor(law.mean_xt(t_T), dtype=torch.float64)
            x64 = mu + eta64.sqrt()[:, None] * (xp.to(torch.float64) - mu)
            x = x64.reshape(shape).to(device=device, dtype=dtype)
        else:
            x = _randn(shape, gens).to(device=device, dtype=dtype)
    if guidance is not None:
        guidance.prepare(x, eta_w)
        # built-in guidances: the unchecked step (its arguments are checked here, once)
        builtin = type(guidance)._guide is not Guidance._guide
        guide = guidance._guide if builtin else guidance

    # ---- the reverse chain
    tT = int(ts.timesteps[T])
    hint = _divergence_hint(guidance)
    watch = None
    if check_every > 1:
        limit = max_abs
        watch = DivergenceWatch(T, B, limit, dtype=dtype, device=device, hint=hint)
    if callback is not None:
        callback(T, tT, x, None)
    try:
        with torch.no_grad():
            for k in tqdm(range(T, 0, -1), desc="sampling", disable=not progress, leave=False):
                st = ts.step(k)
                t_model = torch.full((B,), st.t_model, dtype=torch.long, device=device)
                if guidance is None:
                    x0, delta = _call_denoiser(model, x, t_model), None
                else:
                    x0, delta = guide(x, st, t_model, model)
                    if x0.shape != x.shape:
                        raise ValueError(f"guidance: returned x0_hat of shape {list(x0.shape)}")
                mean = st.c0 * x0 + st.cx * x
                if delta is not None:
                    mean = mean + delta
                z = _randn(shape, gens).to(device=device, dtype=dtype)
                if variance == "beta":
                    noise = math.sqrt(st.beta) * z
                elif variance == "beta_tilde":
                    noise = math.sqrt(st.beta_tilde) * z
                else:
                    noise = _exact_noise(hess(x, t_model), z, st)
                x = mean + sq_eta * noise
                if watch is None:
                    _check_divergence(x, max_abs, k=st.k, t_model=st.t_model, hint=hint)
                else:
                    watch.record(x, st.k, st.t_model)
                    if (T - k + 1) % check_every == 0 or k == 1:
                        watch.check()
                if callback is not None:
                    callback(k - 1, int(ts.timesteps[k - 1]), x, x0)
    except DivergenceError:
        raise
    except Exception:
        if watch is not None:  # a blown-up state may be why this step failed: report it first
            watch.check()
        raise
    return x


# --------------------------------------------------------------------------- helpers


def _check_shape(shape) -> tuple[int, ...]:
    try:
        out = tuple(shape)
    except TypeError as exc:
        raise ValueError(
            f"x_T: expected a tensor or a shape tuple, got {type(shape).__name__}"
        ) from exc
    if (
        len(out) < 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in out)
        or any(s < 1 for s in out)
    ):
        raise ValueError(
            f"x_T: expected a shape (B, ...) of positive ints with B first, got {shape!r}"
        )
    return tuple(int(s) for s in out)


def _check_generators(generator, B: int):
    if generator is None:
        g = torch.Generator()
        g.seed()
        return g
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, Sequence) and all(isinstance(g, torch.Generator) for g in generator):
        if len(generator) != B:
            raise ValueError(
                f"generator: expected one generator per sample ({B}), got {len(generator)}"
            )
        return list(generator)
    raise ValueError(
        f"generator: expected a torch.Generator or a list of {B}, got {type(generator).__name__}"
    )


def _randn(shape, gens) -> torch.Tensor:
    """Standard normal [shape], drawn in float32 on the generator's device (see module notes)."""
    if isinstance(gens, list):
        return torch.stack(
            [
                torch.randn(shape[1:], generator=g, dtype=torch.float32, device=g.device).cpu()
                for g in gens
            ]
        )
    return torch.randn(shape, generator=gens, dtype=torch.float32, device=gens.device)


def _exact_noise(H: torch.Tensor, z: torch.Tensor, st) -> torch.Tensor:
    r"""Noise with covariance :math:`(\beta/\alpha)(I + \beta H)` per sample, via its symmetric root."""
    B = z.shape[0]
    D = math.prod(z.shape[1:])
    if H.ndim != 3 or H.shape[1:] != (D, D) or H.shape[0] not in (1, B):
        raise ValueError(f"hessian: expected shape [B or 1, {D}, {D}], got {list(H.shape)}")
    H = H.to(z.dtype)
    c = st.beta / st.alpha
    V = c * (torch.eye(D, dtype=z.dtype, device=z.device) + st.beta * H)
    V = 0.5 * (V + V.transpose(1, 2))
    w, Q = torch.linalg.eigh(V)
    hnorm = H.abs().amax(dim=(1, 2)).max()
    tol = 100.0 * torch.finfo(z.dtype).eps * c * (1.0 + st.beta * float(hnorm))
    wmin = float(w.min())
    if wmin < -tol:
        raise ValueError(
            f"variance='exact': step covariance at step k={st.k} has eigenvalue {wmin:.3g} < "
            f"-{tol:.3g}; I + beta_t * Hessian is indefinite (not the Hessian of a diffused density?)"
        )
    root = (Q * w.clamp(min=0.0).sqrt()[:, None, :]) @ Q.transpose(1, 2)  # [B|1, D, D]
    if root.shape[0] == 1:  # one covariance for the whole batch (Gaussian posterior)
        return (z.reshape(B, D) @ root[0]).reshape(z.shape)  # root is symmetric
    return (root @ z.reshape(B, D, 1)).reshape(z.shape)


def _divergence_hint(guidance) -> str:
    """The guidance, then what to try next: a smaller step, and the normalised form if not
    already in use."""
    if guidance is None:
        return ". The model's own reverse chain is unstable (check its schedule and output)."
    hint = f"; guidance: {guidance!r}. Reduce the guidance step (zeta)"
    if getattr(guidance, "form", None) == "likelihood":
        return hint + " or use DPSGuidance(form='reference')."
    return hint + "."


def _check_base_schedule(obj, ts: TorchSchedule, who: str) -> None:
    """The model's base schedule must give the sampler's alpha_bar at the mapped times."""
    base = getattr(obj, "schedule", None)
    base = getattr(base, "schedule", base)
    if not isinstance(base, Schedule):
        return
    tsteps = ts.schedule.timesteps
    if int(tsteps.max()) > base.T:
        raise ValueError(
            f"{who}: schedule timesteps go up to {int(tsteps.max())}, beyond the model's base "
            f"schedule T={base.T}"
        )
    if not np.allclose(base.alpha_bar[tsteps], ts.schedule.alpha_bar, rtol=1e-9, atol=0.0):
        raise ValueError(
            f"{who}: its base schedule's alpha_bar at schedule.timesteps differs from the "
            "sampler's schedule (respace the model's own schedule, or pass the matching one)"
        )
