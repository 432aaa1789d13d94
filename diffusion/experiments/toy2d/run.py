r"""One data set of the 2-D experiment, as a sequence of resumable stages.

:func:`run_dataset` builds a :class:`DatasetPlan` (everything the stages share, derived once
from the config), loads or trains the two networks (:mod:`.networks`), and runs

1. :func:`quality_stage`: unconditional samples of the ε-network (η = 1, no guidance) against
   true samples, with the finite-sample W2 floor;
2. :func:`zeta_validation_stage`: the DPS weight ζ swept on **validation** pairs at η ∈ {0, 1}
   for every σ_y (reported; the run uses the configured ζ);
3. :func:`sigma_stage` for every σ_y on the same test pairs: floors, oracle, ours, PSCGAN
   (:mod:`.evaluate`);
4. :func:`ablation_stage` (pinwheel only): η = 1 with ζ varied, at the main σ_y;

each stage a unit of :class:`~.store.Store` (computed once, reused on a rerun with the same
key), then :func:`assemble_result` gathers the result dict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from diffusion.data.toy2d import make_data
from diffusion.experiments.toy2d.config import fmt_sigma
from diffusion.experiments.toy2d.evaluate import sigma_stage
from diffusion.experiments.toy2d.networks import load_or_train
from diffusion.experiments.toy2d.plan import Chain, DatasetPlan, Pairs, check_stage
from diffusion.experiments.toy2d.store import Store, unit
from diffusion.experiments.toy2d.sweep import dp_point
from diffusion.models import EpsilonAdapter
from diffusion.sampler import sample
from numerics.metrics import metric_floor, w2_empirical

__all__ = [
    "ablation_stage",
    "assemble_result",
    "iter_units",
    "quality_stage",
    "run_dataset",
    "zeta_validation_stage",
]


# --------------------------------------------------------------------------- 1. sample quality
def _quality(plan: DatasetPlan, chain: Chain):
    # R independent generated sets, each against its own fresh true set (W2 of a generated
    # set varies a lot between sampling seeds: a few samples between the modes cost much).
    ds = plan.ds
    n, R = plan.sizes["n_quality"], plan.sizes["floor_repeats"]
    x = sample(
        chain.denoiser,
        (R * n, 2),
        plan.schedule,
        eta=1.0,
        variance=plan.cfg["variance"],
        steps=plan.sampler_steps,
        generator=plan.generator("quality"),
        progress=plan.progress,
    )
    x = x.to(torch.float64).numpy().reshape(R, n, 2)
    rng = plan.rng("quality_ref")
    w2s = np.array([w2_empirical(x[r], make_data(ds, n, rng)) for r in range(R)])
    floor, floor_sd = metric_floor(
        w2_empirical, lambda m, r: make_data(ds, m, r), n, rng, repeats=R, return_sd=True
    )
    w2 = float(w2s.mean())
    meta = dict(
        n=n,
        repeats=R,
        w2=w2,
        w2_sd=float(w2s.std(ddof=1)),
        w2_each=w2s.tolist(),
        w2_floor=floor,
        w2_floor_sd=floor_sd,
        ratio=w2 / floor,
        passed=bool(w2 <= 1.5 * floor),
        criterion="mean W2(generated, true) over R sets <= 1.5 x floor (mean W2 of two "
        "true sets of the same n, R repeats)",
    )
    return meta, dict(samples=x[0].astype(np.float32))


def quality_stage(plan: DatasetPlan, chain: Chain, store: Store, timing: dict):
    """Unit ``quality``: W2 of R unconditional sample sets to true sets vs the floor."""
    check_stage(plan, chain, store, timing)
    key = dict(
        plan.common, chain=chain.key, n=plan.sizes["n_quality"], r=plan.sizes["floor_repeats"], v2=2
    )
    return unit(store, "quality", key, lambda: _quality(plan, chain), timing, log=plan.log)


# --------------------------------------------------------------------------- 2. zeta validation
def _zeta_validation(plan: DatasetPlan, chain: Chain, sigma: float):
    n = plan.sizes["n_val"]
    val, ref = Pairs.draw(plan, n, "val"), Pairs.draw(plan, n, "val_ref")
    x, y, rx, ry = val.x, val.y(sigma), ref.x, ref.y(sigma)
    rows = []
    grid = plan.cfg["zeta_grid"]
    for z in tqdm(grid, desc="zeta validation", disable=not plan.progress, leave=False):
        xs = chain.sweep(plan, y, sigma, [0.0, 1.0], float(z), ("val_chain", sigma, z))
        for e, xh in zip((0.0, 1.0), xs, strict=True):
            rows.append(dict(zeta=float(z), eta=e, **dp_point(xh, x, y, rx, ry)))
    at1 = [r for r in rows if r["eta"] == 1.0]
    best = min(at1, key=lambda r: r["w2_joint"])["zeta"]
    meta = dict(
        sigma_y=sigma,
        n=n,
        rows=rows,
        argmin_w2_joint_eta1=best,
        criterion="smallest joint W2 at eta = 1 on validation pairs",
    )
    return meta, None


def zeta_validation_stage(plan: DatasetPlan, chain: Chain, store: Store, timing: dict) -> dict:
    """Units ``zeta_validation_s<σ>``: the ζ grid on validation pairs, every σ_y; by σ_y key."""
    check_stage(plan, chain, store, timing)
    zvals = {}
    for sigma in plan.sigmas:
        tag = fmt_sigma(sigma)
        zvals[tag], _ = unit(
            store,
            f"zeta_validation_s{tag}",
            dict(
                plan.common,
                chain=chain.key,
                grid=plan.cfg["zeta_grid"],
                n=plan.sizes["n_val"],
                sigma=sigma,
            ),
            lambda sigma=sigma: _zeta_validation(plan, chain, sigma),
            timing,
            log=plan.log,
        )
        if zvals[tag]["argmin_w2_joint_eta1"] != plan.zetas[tag]:
            plan.log(
                f"  [{plan.ds}] note: sigma_y = {tag}: configured zeta = {plan.zetas[tag]:g}, "
                f"validation argmin = {zvals[tag]['argmin_w2_joint_eta1']:g} "
                "(the configured value is used)"
            )
    return zvals


# --------------------------------------------------------------------------- 4. zeta ablation
def ablation_stage(plan: DatasetPlan, chain: Chain, test: Pairs, store: Store, timing: dict):
    """Unit ``zeta_ablation`` (pinwheel only, else None): η = 1, ζ times each ablation factor."""
    check_stage(plan, chain, store, timing)
    if not isinstance(test, Pairs):
        raise TypeError(f"test: expected Pairs, got {type(test).__name__}")
    if plan.ds != "pinwheel":
        return None
    sigma = plan.sigmas[0]
    y = test.y(sigma)
    ref = Pairs.draw(plan, test.n, "ref")
    ry = ref.y(sigma)
    zs = [plan.zetas[fmt_sigma(sigma)] * float(f) for f in plan.cfg["zeta_ablation_factors"]]

    def compute():
        pts = []
        for z in tqdm(zs, desc="zeta ablation", disable=not plan.progress, leave=False):
            xs = chain.sweep(plan, y, sigma, [1.0], z, ("ablation", z))
            pts.append(dict(zeta=z, eta=1.0, **dp_point(xs[0], test.x, y, ref.x, ry)))
        return dict(sigma_y=sigma, points=pts), None

    key = dict(plan.common, chain=chain.key, zs=zs, sigma=sigma, n=test.n)
    return unit(store, "zeta_ablation", key, compute, timing, log=plan.log)[0]


# --------------------------------------------------------------------------- result
def iter_units(result: dict):
    """``(unit name, meta)`` of every unit in a result dict, in run order (ValueError naming
    ``result`` if it is not one: checked before the first item)."""
    if not isinstance(result, dict) or not all(
        k in result for k in ("quality", "zeta_validation", "results", "zeta_ablation")
    ):
        raise ValueError(
            "result: expected a data set's result dict with quality, zeta_validation, results "
            f"and zeta_ablation, got {type(result).__name__}"
        )
    return _iter_units(result)


def _iter_units(result: dict):
    yield "quality", result["quality"]
    for tag, z in result["zeta_validation"].items():
        yield f"zeta_validation_s{tag}", z
    for tag, r in result["results"].items():
        for k in ("floors", "oracle", "ours", "pscgan"):
            yield f"{k}_s{tag}", r[k]
    if result["zeta_ablation"] is not None:
        yield "zeta_ablation", result["zeta_ablation"]


def assemble_result(
    plan: DatasetPlan,
    score_info: dict,
    gan_info: dict,
    quality: dict,
    zvals: dict,
    per_sigma: dict,
    ablation,
    timing: dict,
) -> dict:
    """The result dict of one data set (``_timing`` added; arrays are added by the caller)."""
    result = dict(
        dataset=plan.ds,
        data=plan.common["data"],
        zeta=plan.zetas,
        sigma_y=plan.sigmas[0],
        sigma_y_other=plan.sigmas[1:],
        score_net=dict(
            parameters=score_info["parameters"],
            loss=score_info["loss"],
            log_every=score_info["log_every"],
            settings=score_info["settings"],
        ),
        pscgan_net=dict(
            parameters=gan_info["parameters"],
            penalty=gan_info["penalty"],
            critic=gan_info["critic"],
            log_every=gan_info["log_every"],
            settings=gan_info["settings"],
            trained_at_sigma_y=gan_info["sigma_y"],
        ),
        quality=quality,
        zeta_validation=zvals,
        results=per_sigma,
        zeta_ablation=ablation,
    )
    timing.setdefault("score_training", score_info.get("_timing"))
    timing.setdefault("pscgan_training", gan_info.get("_timing"))
    for name, meta in iter_units(result):
        if "_timing" in meta:
            timing.setdefault(name, meta["_timing"])
    result["_timing"] = timing
    return result


def run_dataset(
    ds: str,
    cfg: dict,
    out: Path,
    *,
    seed: int = 0,
    progress: bool = True,
    log=print,
    validate_only: bool = False,
    on_unit_saved: Callable[[str], None] | None = None,
) -> dict:
    """Run (or resume) every unit of data set ``ds``; returns its result dict (with timings).

    With ``validate_only`` it stops after the networks, the sample-quality check and the ζ
    validation sweeps, and returns ``{"dataset", "quality", "zeta_validation", "zeta"}``.
    ``on_unit_saved(name)`` is called after each unit or network is on disk.
    """
    plan = DatasetPlan.build(ds, cfg, seed=seed, progress=progress, log=log)
    store = Store(Path(out) / ds, on_save=on_unit_saved)
    timing: dict = {}
    net, score_info = load_or_train(
        "score", store, ds, cfg, seed, timing, log=log, progress=progress
    )
    clip = cfg.get("x0_clip")
    den = EpsilonAdapter(
        net, plan.schedule, clip=None if clip is None else (-float(clip), float(clip))
    )
    g, gan_info = load_or_train("pscgan", store, ds, cfg, seed, timing, log=log, progress=progress)
    chain = Chain.build(plan, den, score_info["key"])

    quality_meta, quality_arr = quality_stage(plan, chain, store, timing)
    zvals = zeta_validation_stage(plan, chain, store, timing)
    if validate_only:
        return dict(dataset=ds, quality=quality_meta, zeta_validation=zvals, zeta=plan.zetas)

    test = Pairs.draw(plan, cfg["sizes"]["n_test"], "test")
    per_sigma, figs_arrays = {}, {}
    for sigma in plan.sigmas:
        tag = fmt_sigma(sigma)
        per_sigma[tag], figs_arrays[tag] = sigma_stage(
            plan, chain, g, gan_info["key"], test, sigma, store, timing
        )
    ablation = ablation_stage(plan, chain, test, store, timing)
    result = assemble_result(
        plan, score_info, gan_info, quality_meta, zvals, per_sigma, ablation, timing
    )
    result["_arrays"] = dict(x_test=test.x, quality=quality_arr["samples"], per_sigma=figs_arrays)
    return result
