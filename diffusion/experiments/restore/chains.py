"""The η-chains of :mod:`diffusion.restore`: schedules, per-sample generators and one
batched run of the sampler over a unit of images.

Randomness: sample j of image i at η uses its own generator, seeded by ``(seed, i, η, j)``
and shared by all curves (common random numbers), so results do not depend on which other η
or images are in the batch.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "DivergedError",
    "chain_generator",
    "generators",
    "make_guidance",
    "run_unit",
    "schedules",
    "seed_of",
]


class DivergedError(Exception):
    """A chain diverged: reported as one line on stderr, exit status 3."""


def schedules(config):
    """``(base, run)``: the 1000-step training schedule of the prior and the schedule the
    chains run on (``--steps`` respaced, or a fixed-horizon schedule of ``--steps``)."""
    from diffusion.experiments.restore._checks import check_config
    from numerics.cli import UsageError
    from numerics.schedule import linear_schedule, respace

    check_config(config)

    if config.schedule == "fixed-horizon":
        try:
            base = linear_schedule(config.steps, fixed_horizon=True)
        except ValueError as exc:  # too few steps: the scaled β leave (0, 1)
            raise UsageError(
                f"--steps: {config.steps} is too few for --schedule fixed-horizon ({exc})"
            ) from exc
        return base, base
    base = linear_schedule(1000)
    return base, (respace(base, config.steps) if config.steps < base.T else base)


def seed_of(*parts) -> int:
    """A 63-bit seed from integers (:class:`numpy.random.SeedSequence`)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def _eta_key(eta: float) -> int:
    return int(round(eta * 1_000_000))


def chain_generator(seed: int, i: int, eta: float, j: int) -> torch.Generator:
    """The CPU generator of sample j of image i at η, seeded by ``(seed, i, η, j)``.

    ``seed``, ``i`` and ``j`` are integers >= 0, ``eta`` a number in [0, 1] (``TypeError``
    / ``ValueError`` naming the argument otherwise)."""
    from numerics.validate import as_scalar, check_int

    seed, i, j = check_int(seed, "seed"), check_int(i, "i"), check_int(j, "j")
    eta = as_scalar(eta, "eta")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta: expected a number in [0, 1], got {eta!r}")
    return torch.Generator().manual_seed(seed_of(seed, i, _eta_key(eta), j))


def generators(seed: int, images, etas, M: int) -> list[torch.Generator]:
    """One generator per (image, η, sample j), in that order."""
    from numerics.validate import check_eta, check_int

    seed, M = check_int(seed, "seed"), check_int(M, "M")
    etas = [float(e) for e in np.atleast_1d(check_eta(etas, "etas"))]
    return [chain_generator(seed, i, eta, j) for i in images for eta in etas for j in range(M)]


def make_guidance(curve: str, op, ys, zeta, config):
    """The guidance object of a gradient curve: ``"dps"`` (``config.dps_form``; the
    likelihood form with σ_y and the β-scaled step), ``"cov"`` (``config.n_cg`` CG
    iterations) or ``"pigdm"``, with step ζ(η) ``zeta`` and measurements ``ys``
    ``[B, *out_shape]``."""
    from diffusion.guidance import CovarianceAwareGuidance, DPSGuidance, PiGDMGuidance

    if curve == "cov":
        return CovarianceAwareGuidance(op, ys, config.sigma_y, n_cg=config.n_cg, zeta=zeta)
    if curve == "pigdm":
        return PiGDMGuidance(op, ys, config.sigma_y, zeta=zeta)
    if curve != "dps":
        raise ValueError(f"curve: expected 'dps', 'cov' or 'pigdm', got {curve!r}")
    form = config.dps_form
    return DPSGuidance(
        op, ys, zeta, form=form, sigma_y=config.sigma_y if form == "likelihood" else None,
        scale_by_beta=(form == "likelihood"),
    )  # fmt: skip


def run_unit(problems, curve: str, setup, bar=None, zeta=None) -> list[np.ndarray]:
    """Sample every (image, η, j) of a unit of problems with one curve.

    Parameters
    ----------
    problems : list of :class:`~diffusion.experiments.restore.problems.Problem`
    curve : {"exact", "dps", "cov", "pigdm"}
        ``"exact"``: the exact conditional score of each image's posterior mixture, one
        sampler call per image; the others (:func:`make_guidance`) over ``setup.prior``, all
        images in one call.
    setup : :class:`~diffusion.experiments.restore.problems.Setup`
    bar : tqdm, optional
        Advanced by one per (η, image) and step.
    zeta : optional
        ζ instead of ``setup.config.zeta`` (tuning).

    Returns
    -------
    list of (n_eta, M, d) float64 arrays, one per problem

    Raises :class:`DivergedError` naming the images and the reverse step.
    """
    from diffusion.guidance import ExactGuidance
    from diffusion.priors.gmm_image import GMMImagePrior
    from diffusion.sampler import DivergenceError, sample

    cfg = setup.config
    M, E = cfg.samples_per_image, len(cfg.etas)
    shape = (1, setup.patch_size, setup.patch_size)
    dtype, device = cfg.torch_dtype, torch.device(cfg.device)
    run_sched = setup.run_sched
    etas_t = torch.tensor([eta for eta in cfg.etas for _ in range(M)], dtype=torch.float64)
    n_per_call = E if curve == "exact" else E * len(problems)

    def cb(i, t, x, x0):
        if bar is not None and x0 is not None:
            bar.update(n_per_call)

    outs = []
    try:
        if curve == "exact":
            for pb in problems:
                g = ExactGuidance(GMMImagePrior(pb.post, setup.base_sched))
                x = sample(
                    None, (E * M, *shape), run_sched, eta=etas_t, guidance=g, variance=cfg.variance,
                    start=cfg.start, generator=generators(cfg.seed, [pb.i], cfg.etas, M),
                    callback=cb, dtype=dtype, device=device, max_abs=cfg.max_abs,
                )  # fmt: skip
                outs.append(x.reshape(E, M, -1).cpu().double().numpy())
        else:
            op = setup.op
            ys = torch.stack(
                [
                    torch.from_numpy(pb.y).reshape(op.out_shape)
                    for pb in problems
                    for _ in range(E * M)
                ]
            )
            spec = cfg.zeta if zeta is None else zeta
            g = make_guidance(curve, op, ys, dict(spec) if hasattr(spec, "keys") else spec, cfg)
            gens = generators(cfg.seed, [pb.i for pb in problems], cfg.etas, M)
            x = sample(
                setup.prior, (len(gens), *shape), run_sched, eta=etas_t.repeat(len(problems)),
                guidance=g, variance=cfg.variance, generator=gens, callback=cb, dtype=dtype,
                device=device, max_abs=cfg.max_abs,
            )  # fmt: skip
            outs = list(x.reshape(len(problems), E, M, -1).detach().cpu().double().numpy())
    except DivergenceError as exc:
        who = ", ".join(str(pb.i) for pb in problems)
        raise DivergedError(
            f"{curve} guidance diverged on image(s) {who} at reverse step k={exc.k} of "
            f"{run_sched.T} (model time t={exc.t_model}): {str(exc).split(': ', 1)[-1]}"
        ) from exc
    return outs
