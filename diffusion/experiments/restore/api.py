r"""Restore your own images in one call: :func:`restore_images` (also ``from diffusion import
restore_images``).

Given clean images ``[B, C, H, W]`` in [-1, 1] (or a measurement y), an operator A
(:mod:`diffusion.operators`) and a prior (a denoiser of :mod:`diffusion.models`: a loaded
``UNet2DModel`` checkpoint, :func:`diffusion.priors.load_unet_prior`, or an analytic prior),
it measures :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)` with seeded noise, runs the
η-scaled reverse sampler (:func:`diffusion.sampler.sample`) with DPS or exact guidance for
every η and sample, and returns the restorations ``[len(etas), samples, B, C, H, W]`` with
per-η metrics (:class:`Restoration`).

Conventions (the same as ``python -m diffusion.restore --input``):

* **measurement**: image b's noise is drawn from ``numpy.random.default_rng([seed, 1, b])``;
  entries of y that A never reads (zero rows: the missing pixels of inpainting) are set to 0,
  also in a y you pass (they carry no information);
* **randomness of the chains**: sample j of image b at η has its own generator, seeded by
  ``(seed, b, η, j)`` (:func:`~diffusion.experiments.restore.chains.generators`), so the
  results do not depend on ``batch`` or on which other η are run;
* **schedule**: the prior's own training schedule (``prior.schedule``), respaced to
  ``steps`` evenly strided steps;
* **metrics** (:mod:`diffusion.metrics.pixel`), per restored image against its clean image,
  then the mean over images and samples: ``mse`` (mean over pixels and channels, [-1, 1]
  units), ``psnr`` (:math:`10\log_{10}(2^2/\text{mse})`, dB), ``ssim`` (per channel, averaged;
  images of at least 7 x 7 pixels); and always ``residual`` :math:`\|y - A\hat x\|` and
  ``residual_rms`` = residual / :math:`\sqrt m` (m = entries A reads; about σ_y for a
  restoration consistent with y).

Examples
--------
A Gaussian prior over 3 x 8 x 8 colour images and 2 x 2 average-pooling super-resolution:

>>> import torch
>>> from numerics.schedule import linear_schedule
>>> from diffusion import restore_images
>>> from diffusion.operators import AveragePoolSR
>>> from diffusion.priors import GaussianPrior
>>> d = 3 * 8 * 8
>>> prior = GaussianPrior(torch.zeros(d), 0.3 * torch.eye(d), linear_schedule(1000))
>>> images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) - 0.5
>>> res = restore_images(images, AveragePoolSR(2, (3, 8, 8)), prior, etas=[0, 1], samples=2,
...                      guidance="dps", zeta=0.5, sigma_y=0.05, steps=10, seed=0)
>>> res.samples.shape          # [len(etas), samples, B, C, H, W]
torch.Size([2, 2, 2, 3, 8, 8])
>>> sorted(res.metrics[1.0])
['mse', 'psnr', 'residual', 'residual_rms', 'ssim']
>>> res.metrics[0.0]["mse"] < res.metrics[1.0]["mse"]   # η = 0 is the low-distortion end
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from diffusion.experiments.restore._checks import as_images as _images
from diffusion.experiments.restore._checks import as_tensor, check_operator, check_restoration
from diffusion.experiments.restore.chains import chain_generator

__all__ = [
    "DPS_FORMS", "GUIDANCES", "Restoration", "as_measurement", "chain_metrics", "chunks", "exact_posterior", "measure",
    "probe_step", "restore_images", "run_chunk", "run_schedule", "unread",
]  # fmt: skip

#: ``guidance=`` values of :func:`restore_images`.
GUIDANCES = ("dps", "exact")

#: ``dps_form=`` values of :func:`restore_images` (:class:`~diffusion.guidance.DPSGuidance`).
DPS_FORMS = ("likelihood", "reference")


@dataclass(frozen=True)
class Restoration:
    """What :func:`restore_images` returns.

    Attributes
    ----------
    samples : tensor ``[len(etas), samples, B, C, H, W]`` (CPU)
    y : float64 tensor ``[B, *operator.out_shape]`` (CPU)
        The measurements used (unread entries 0).
    etas : tuple of float
    metrics : dict ``{eta: {name: value}}``
        Means over images and samples (module notes: ``mse``, ``psnr``, ``ssim`` when clean
        images were given; ``residual``, ``residual_rms`` always).
    values : dict ``{name: (len(etas), samples, B) array}``
        The same metrics per restoration.
    """

    samples: torch.Tensor
    y: torch.Tensor
    etas: tuple
    metrics: dict
    values: dict

    def __post_init__(self):
        # Checked once, at construction (restore_images builds only valid ones): a record
        # assembled by hand fails here, naming the field, not later in a plot or a table.
        check_restoration(self)


def unread(operator) -> torch.Tensor:
    """Boolean mask ``out_shape`` of the entries of y that A never reads (zero rows).

    Found with one application of A to a seeded Gaussian input in float64: an entry with a
    non-zero row is non-zero with probability one.
    """
    check_operator(operator)
    g = torch.Generator().manual_seed(0)
    probe = torch.randn((1, *operator.in_shape), generator=g, dtype=torch.float64)
    return operator.A(probe)[0] == 0


def measure(images, operator, sigma_y: float, seed: int, ids=None) -> torch.Tensor:
    """``y = A x + n`` per image, float64 ``[B, *out_shape]``; image b's noise from
    ``default_rng([seed, 1, ids[b]])`` (``ids`` default ``0..B-1``); unread entries 0."""
    from numerics.validate import check_int, check_positive

    check_operator(operator)
    x = _images(images, "images", shape=operator.in_shape)
    sigma_y, seed = check_positive(sigma_y, "sigma_y"), check_int(seed, "seed")
    ids = range(x.shape[0]) if ids is None else ids
    Ax = operator.A(x)
    noise = np.stack(
        [
            np.random.default_rng([int(seed), 1, int(i)]).standard_normal(operator.out_shape)
            for i in ids
        ]
    )
    y = Ax + float(sigma_y) * torch.from_numpy(noise)
    return y.masked_fill(unread(operator), 0.0)


def chain_metrics(x_hat, operator, y, clean=None) -> dict:
    """Metrics of restorations ``x_hat [E, S, B, C, H, W]``: ``{name: (E, S, B) array}``
    (module notes); ``clean [B, C, H, W]`` adds ``mse``, ``psnr`` and ``ssim``."""
    from diffusion.metrics.pixel import psnr, ssim

    check_operator(operator)
    x_hat = as_tensor(x_hat, "x_hat", shape=(None, None, None, *operator.in_shape))
    E, S, B = x_hat.shape[:3]
    flat = x_hat.reshape(E * S * B, *x_hat.shape[3:])
    y = as_tensor(y, "y", shape=(B, *operator.out_shape))
    r = (y.repeat(E * S, *([1] * (y.ndim - 1))) - operator.A(flat)).reshape(E * S * B, -1)
    m = max(int((~unread(operator)).sum()), 1)
    res = torch.linalg.vector_norm(r, dim=1).numpy()
    out = {"residual": res, "residual_rms": res / math.sqrt(m)}
    if clean is not None:
        c = _images(clean, "clean", shape=operator.in_shape, n=B).repeat(E * S, 1, 1, 1)
        out["mse"] = ((flat - c) ** 2).reshape(E * S * B, -1).mean(1).numpy()
        out["psnr"] = psnr(flat, c, per_image=True)
        if min(flat.shape[-2:]) >= 7:
            out["ssim"] = ssim(flat, c, per_image=True)
    return {k: np.asarray(v, dtype=np.float64).reshape(E, S, B) for k, v in out.items()}


def chunks(n_images: int, per_image: int, batch: int, *, split_images: bool) -> list[range]:
    """The chain indices of each sampler call: consecutive runs of at most ``batch`` of the
    ``n_images * per_image`` chains (image-major), cut at image boundaries if
    ``split_images`` (exact guidance: one posterior per call).

    ``n_images`` >= 0, ``per_image`` >= 1 and ``batch`` >= 1 are integers (``TypeError`` /
    ``ValueError`` naming the argument otherwise: a batch of 0 would never finish).

    Examples
    --------
    >>> chunks(2, 3, 4, split_images=False), chunks(2, 3, 4, split_images=True)
    ([range(0, 4), range(4, 6)], [range(0, 3), range(3, 6)])
    """
    from numerics.validate import check_bool, check_int

    n_images = check_int(n_images, "n_images")
    per_image = check_int(per_image, "per_image", minimum=1)
    batch = check_int(batch, "batch", minimum=1)
    split_images = check_bool(split_images, "split_images")
    out, k, total = [], 0, n_images * per_image
    while k < total:
        stop = min(k + batch, total)
        if split_images:
            stop = min(stop, (k // per_image + 1) * per_image)
        out.append(range(k, stop))
        k = stop
    return out


def run_chunk(
    ks: range, prior, operator, y, ids, *, etas, samples: int, guidance: str, zeta,
    sigma_y: float, dps_form: str, run_sched, seed: int, variance: str, start: str, device,
    dtype, max_abs, on_step: Callable | None = None,
) -> torch.Tensor:  # fmt: skip
    """One sampler call over the chains ``ks`` (chain k: image ``b = k // (E S)`` of
    ``y``/``ids``, η index ``(k // S) % E``, sample ``k % S``); returns ``[len(ks),
    *in_shape]`` on the CPU. ``on_step(n)`` is called after each reverse step."""
    from diffusion.guidance import DPSGuidance, ExactGuidance
    from diffusion.sampler import sample

    E, S, shape = len(etas), int(samples), tuple(operator.in_shape)
    b_of = [k // (E * S) for k in ks]
    e_of = [(k // S) % E for k in ks]
    gens = [
        chain_generator(seed, ids[b], etas[e], k % S)
        for k, b, e in zip(ks, b_of, e_of, strict=True)
    ]
    eta_t = torch.tensor([float(etas[e]) for e in e_of], dtype=torch.float64)
    if guidance == "exact":
        if len(set(b_of)) != 1:
            raise ValueError("exact guidance: one image per sampler call")
        g, model = ExactGuidance(exact_posterior(prior, operator, sigma_y, y[b_of[0]])), None
    else:
        g = DPSGuidance(
            operator, y[b_of], zeta, form=dps_form,
            sigma_y=sigma_y if dps_form == "likelihood" else None,
            scale_by_beta=(dps_form == "likelihood"),
        )  # fmt: skip
        model = prior

    def cb(i, t, x, x0):
        if on_step is not None and x0 is not None:
            on_step(x.shape[0])

    x = sample(
        model, (len(ks), *shape), run_sched, eta=eta_t, guidance=g, variance=variance,
        start=start, generator=gens, callback=cb, dtype=dtype, device=device, max_abs=max_abs,
    )  # fmt: skip
    return x.detach().cpu().to(dtype)


def exact_posterior(prior, operator, sigma_y: float, y):
    """The exact posterior of an analytic prior given one ``y`` (``out_shape``), as a prior.

    A Gaussian mixture's posterior drops the components of weight below 1e-10
    (:func:`numerics.gmm.pruned_posterior`, as the data-set runs do), over the entries of y
    that A reads; other priors use their own ``.posterior``.
    """
    from diffusion.experiments.restore.problems import WEIGHT_FLOOR
    from diffusion.priors import GaussianPrior, GMMImagePrior, MixturePrior
    from numerics.gmm import pruned_posterior

    check_operator(operator)
    if not isinstance(prior, MixturePrior) and not hasattr(prior, "posterior"):
        raise TypeError(f"prior: expected an analytic prior (.posterior), got {type(prior).__name__}")
    y = as_tensor(y, "y", shape=tuple(operator.out_shape))
    if isinstance(prior, GaussianPrior) or not isinstance(prior, MixturePrior):
        return prior.posterior(operator, sigma_y, y)
    keep = ~unread(operator).reshape(-1).numpy()
    A = operator.as_matrix().numpy()[keep]
    yv = y.detach().cpu().double().reshape(-1).numpy()[keep]
    post, _ = pruned_posterior(prior.gmm, A, sigma_y, yv, floor=WEIGHT_FLOOR)
    cls = GMMImagePrior if isinstance(prior, GMMImagePrior) else MixturePrior
    return cls(post, prior.schedule)


def base_schedule(prior):
    """The prior's training schedule (numerics :class:`~numerics.schedule.Schedule`)."""
    sched = getattr(prior, "schedule", None)
    sched = getattr(sched, "schedule", sched)
    if sched is None or not hasattr(sched, "alpha_bar"):
        raise ValueError(
            f"prior: expected a denoiser with a .schedule (diffusion.models), got {type(prior).__name__}"
        )
    return sched


def run_schedule(prior, steps: int):
    """The prior's schedule respaced to ``steps`` (all of them if ``steps`` >= its T)."""
    from numerics.schedule import respace

    base = base_schedule(prior)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    return respace(base, int(steps)) if steps < base.T else base


def restore_images(
    images,
    operator,
    prior,
    *,
    y=None,
    etas=(0.0, 0.5, 1.0),
    guidance: str = "dps",
    zeta=1.0,
    samples: int = 1,
    sigma_y: float = 0.05,
    steps: int = 100,
    seed: int = 0,
    variance: str = "beta_tilde",
    dps_form: str = "reference",
    batch: int | str | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    max_abs: float | None = 1e3,
    progress: bool = False,
) -> Restoration:
    r"""Restore images from :math:`y = A x + n` at every η (module notes and example).

    Parameters
    ----------
    images : ``[B, C, H, W]`` (or ``[C, H, W]``) tensor or array in [-1, 1], or None
        Clean images: measured (unless ``y`` is given) and used for the metrics.
    operator : :class:`~diffusion.operators.LinearOperator`
        ``in_shape`` = ``(C, H, W)``.
    prior : denoiser
        With its training schedule as ``.schedule`` (every prior of :mod:`diffusion.priors`);
        ``guidance="exact"`` needs an analytic one (``.posterior``).
    y : ``[B, *operator.out_shape]`` (or one ``out_shape``), optional
        A measurement you already have (same units); then ``images`` may be None.
    etas : sequence of float in [0, 1]
    guidance : {"dps", "exact"}
    zeta : float, preset name, table ``{eta: zeta}`` or callable
        DPS step ζ(η) (:func:`diffusion.guidance.zeta_function`).
    samples : int >= 1
        Restorations per image and η.
    sigma_y : float > 0
        Noise sd, in [-1, 1] units.
    steps : int >= 1
        Reverse steps (the prior's schedule respaced).
    seed : int >= 0
    variance, dps_form :
        As :func:`diffusion.sampler.sample` and :class:`~diffusion.guidance.DPSGuidance`
        (``"likelihood"``: ζ scales the plug-in likelihood score with this σ_y).
    batch : int, "auto" or None
        Chains (image x η x sample) per sampler call: None all at once; ``"auto"`` from
        free GPU memory (:mod:`~diffusion.experiments.restore.batching`; 8 on the CPU).
    device, dtype :
        Where and in which precision the chains run (default CPU, float32).
    max_abs : float or None
        Divergence threshold of the sampler.
    progress : bool
        A tqdm bar (and the time estimate of a long run).

    Returns
    -------
    Restoration

    Raises
    ------
    ValueError
        Bad shapes or values (naming the argument).
    diffusion.sampler.DivergenceError
        A chain diverged (DPS with too large a ζ).
    """
    from diffusion.experiments.restore.progress import Progress
    from numerics.validate import check_bool, check_int

    if guidance not in GUIDANCES:
        raise ValueError(f"guidance: expected one of {GUIDANCES}, got {guidance!r}")
    if dps_form not in DPS_FORMS:
        raise ValueError(f"dps_form: expected one of {DPS_FORMS}, got {dps_form!r}")
    check_operator(operator)
    seed = check_int(seed, "seed")
    progress = check_bool(progress, "progress")
    if max_abs is not None and (
        isinstance(max_abs, bool) or not isinstance(max_abs, (int, float, np.integer, np.floating))
    ):
        raise TypeError(f"max_abs: expected a number > 0 or None, got {type(max_abs).__name__}")
    try:
        etas = tuple(float(e) for e in np.atleast_1d(np.asarray(etas, dtype=np.float64)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"etas: expected numbers in [0, 1], got {etas!r:.40}") from exc
    if not etas or any(not 0.0 <= e <= 1.0 for e in etas) or len(set(etas)) != len(etas):
        raise ValueError(f"etas: expected distinct values in [0, 1], got {list(etas)}")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples: expected an integer >= 1, got {samples!r}")
    if not (isinstance(sigma_y, (int, float)) and math.isfinite(sigma_y) and sigma_y > 0):
        raise ValueError(f"sigma_y: expected a number > 0, got {sigma_y!r}")
    shape = tuple(operator.in_shape)
    clean = None if images is None else _images(images, "images")
    if clean is not None and tuple(clean.shape[1:]) != shape:
        raise ValueError(
            f"images: per-image shape {list(clean.shape[1:])} does not match the operator's "
            f"in_shape {list(shape)}"
        )
    _check_prior_shape(prior, shape)
    if guidance == "exact" and not hasattr(prior, "posterior"):
        raise ValueError("guidance='exact': the prior has no exact posterior (.posterior)")
    if y is None:
        if clean is None:
            raise ValueError("images, y: give the clean images, a measurement y, or both")
        y_t = measure(clean, operator, sigma_y, seed)
    else:
        y_t = as_measurement(y, operator)
        if clean is not None and y_t.shape[0] != clean.shape[0]:
            raise ValueError(f"y: {y_t.shape[0]} measurements for {clean.shape[0]} images")
    B = y_t.shape[0]
    ids = list(range(B))
    n_chains = B * len(etas) * samples
    run_sched = run_schedule(prior, steps)
    device = torch.device(device) if device is not None else torch.device("cpu")
    kw = dict(
        etas=etas, samples=int(samples), guidance=guidance, zeta=zeta, sigma_y=float(sigma_y),
        dps_form=dps_form, run_sched=run_sched, seed=int(seed), variance=variance,
        start="standard", device=device, dtype=dtype, max_abs=max_abs,
    )  # fmt: skip
    if batch == "auto":
        from diffusion.experiments.restore.batching import auto_batch

        batch = auto_batch(lambda n: probe_step(prior, operator, y_t, kw, n), n_chains, device)
    elif batch is None:
        batch = n_chains
    elif isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch: expected an integer >= 1, 'auto' or None, got {batch!r}")
    bar = Progress(n_chains * run_sched.T, f"{n_chains} chains x {run_sched.T} steps", bar=progress)
    parts = []
    try:
        for ks in chunks(B, len(etas) * samples, int(batch), split_images=guidance == "exact"):
            parts.append(run_chunk(ks, prior, operator, y_t, ids, on_step=bar.update, **kw))
    finally:
        bar.close()
    x = torch.cat(parts).reshape(B, len(etas), samples, *shape)
    x_hat = x.permute(1, 2, 0, 3, 4, 5)  # [E, S, B, C, H, W]
    values = chain_metrics(x_hat, operator, y_t, clean)
    metrics = {
        eta: {k: float(v[e].mean()) for k, v in sorted(values.items())}
        for e, eta in enumerate(etas)
    }
    return Restoration(x_hat.contiguous(), y_t, etas, metrics, values)


def probe_step(prior, operator, y, kw: dict, n: int) -> None:
    """One reverse step of ``n`` chains of image 0 (the memory probe of ``batch="auto"``)."""
    from numerics.schedule import respace

    one = dict(kw, etas=kw["etas"][:1], samples=n, run_sched=respace(kw["run_sched"], 1))
    run_chunk(range(n), prior, operator, y[:1], [0], **one)


def as_measurement(y, operator) -> torch.Tensor:
    """A given y (``out_shape`` or ``[B, *out_shape]``) as float64 ``[B, *out_shape]``,
    checked (:meth:`~diffusion.operators.LinearOperator.check_measurement`), unread
    entries set to 0."""
    check_operator(operator)
    t = as_tensor(y, "y")
    if tuple(t.shape) == tuple(operator.out_shape):
        t = t[None]
    return operator.check_measurement(t).masked_fill(unread(operator), 0.0)


def _check_prior_shape(prior, shape) -> None:
    """The prior's image shape (``image_shape``, ``patch_shape`` or dimension ``d``) must be
    the operator's ``in_shape``."""
    have = getattr(prior, "image_shape", None) or getattr(prior, "patch_shape", None)
    if have is not None and tuple(have) != tuple(shape):
        raise ValueError(f"prior: takes images of shape {list(have)}, the operator {list(shape)}")
    d = getattr(prior, "d", None)
    if have is None and d is not None and int(d) != math.prod(shape):
        raise ValueError(f"prior: has dimension {d}, the operator's images {math.prod(shape)}")
