"""``results.json`` of :mod:`diffusion.restore`: the per-image records of a finished run
averaged per η, the dataset-level metrics and their reference values."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.restore.baselines import baseline_metrics
from diffusion.experiments.restore.metrics import check_finite, digit_metrics, oracle_mse_at
from diffusion.experiments.restore.problems import clean_images
from numerics.metrics import frechet_distance, sliced_w2

__all__ = ["aggregate", "load_records", "machine"]

METRIC_NOTES = (
    "mse, mse_post, mmse, dp_bound, excess: summed over the d pixels; perception = sqrt(d) * "
    "sliced W2 over one orthonormal basis; psnr/ssim per sample, range [-1, 1]"
)


def machine() -> dict:
    """The machine a run ran on (CPU, cores, torch and its threads, Python)."""
    return dict(
        cpu=platform.processor() or platform.machine(),
        cores=os.cpu_count(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        python=platform.python_version(),
    )


def load_records(out: Path, n: int) -> list[dict]:
    """The per-image records ``out/records/00000.json`` ... of images 0 .. n-1 (``OSError``
    naming the file of a missing one; ``ValueError`` naming it for one that is not JSON)."""
    from numerics.validate import check_int

    if not isinstance(out, Path):
        raise TypeError(f"out: expected a pathlib.Path, got {type(out).__name__}")
    n = check_int(n, "n")
    return [json.loads((out / "records" / f"{i:05d}.json").read_text()) for i in range(n)]


def _load_samples(out: Path, name: str) -> np.ndarray:
    return np.load(out / "samples" / name, allow_pickle=False).astype(np.float64)


def _posterior_summary(recs: list[dict]) -> tuple[dict, list[dict]]:
    """The mean posterior statistics and the mean shrinkage oracle over images."""
    post = dict(
        mmse=float(np.mean([r["mmse"] for r in recs])),
        k_eff_mean=float(np.mean([r["k_eff"] for r in recs])),
        k_eff_1e3_mean=float(np.mean([r["k_eff_1e3"] for r in recs])),
        dropped_mass_max=float(max(r["dropped_mass"] for r in recs)),
        perception_floor=float(np.mean([r["perception_floor"] for r in recs])),
    )
    oracle = [
        dict(
            c=recs[0]["oracle"][k]["c"],
            mse_post=float(np.mean([r["oracle"][k]["mse_post"] for r in recs])),
            perception=float(np.mean([r["oracle"][k]["perception"] for r in recs])),
        )
        for k in range(len(recs[0]["oracle"]))
    ]
    return post, oracle


def _exact_row(recs, rows, M, perception_floor) -> dict:
    """The exact-posterior columns of one η: MSE given y, its ratio to the MMSE and the
    Gaussian-chain prediction, perception, D(P), the excesses, one-component images."""
    mm = np.array([r["mmse"] for r in recs])
    tot_mmse = float(mm.sum())
    mp = np.array([x["mse_post"] for x in rows])
    row = dict(
        mmse=float(mm.mean()),
        mse_post=float(mp.mean()),
        ratio=float(mp.sum() / tot_mmse),
        ratio_sd=float(math.sqrt(sum(x["q_var"] for x in rows) / M) / tot_mmse),
        ratio_sd_exact=float(math.sqrt(sum(r["q_var_exact"] for r in recs) / M) / tot_mmse),
        pred_ratio=float(sum(x["pred_mse_post"] for x in rows) / tot_mmse),
        perception=float(np.mean([x["perception"] for x in rows])),
        perception_floor=perception_floor,
        dp_bound=float(np.mean([x["dp_bound"] for x in rows])),
        excess=float(np.mean([x["excess"] for x in rows])),
        excess_rel=float(sum(x["excess"] for x in rows) / tot_mmse),
    )
    # The shrinkage oracle measured with the same estimator (same M, same reference set,
    # same upward bias of P), read at the measured P.
    orc = [oracle_mse_at(r["oracle"], x["perception"]) for r, x in zip(recs, rows, strict=True)]
    row.update(
        oracle_mse_at_P=float(np.mean(orc)),
        excess_oracle_rel=float((mp.sum() - sum(orc)) / tot_mmse),
    )
    # Images whose posterior is (to 1e-3) one Gaussian: where the Gaussian-chain prediction
    # applies exactly; the others show the mixture effect.
    one = [k for k, r in enumerate(recs) if r["k_eff_1e3"] == 1]
    if one:
        mm1 = float(mm[one].sum())
        row.update(
            n_unimodal=len(one),
            ratio_unimodal=float(sum(rows[k]["mse_post"] for k in one) / mm1),
            ratio_unimodal_sd=float(math.sqrt(sum(rows[k]["q_var"] for k in one) / M) / mm1),
            ratio_unimodal_sd_exact=float(
                math.sqrt(sum(recs[k]["q_var_exact"] for k in one) / M) / mm1
            ),
            pred_ratio_unimodal=float(sum(rows[k]["pred_mse_post"] for k in one) / mm1),
        )
    return row


def aggregate(setup, record: dict, curves, out: Path) -> dict:
    """The results of a finished run in ``out`` (records, samples and baselines written).

    Parameters
    ----------
    setup : :class:`~diffusion.experiments.restore.problems.Setup`
    record : dict
        The run's configuration record (:meth:`RestoreConfig.record`), stored as ``config``.
    curves : sequence of str
    out : Path

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    cfg, clean, sources, theta = setup.config, setup.clean, setup.sources, setup.theta
    data, size = cfg.data, setup.patch_size
    N, M = cfg.n_images, cfg.samples_per_image
    recs = load_records(out, N)
    smp = [_load_samples(out, f"{i:05d}.npy") for i in range(N)]
    exact = "mmse" in recs[0]
    pool = clean_images(data, "pool", cfg.pool_size, size=size, seed=cfg.image_seed)[0]
    pool = pool.reshape(pool.shape[0], -1)
    res = dict(
        config=record,
        status="complete",
        machine=machine(),
        task=cfg.task_spec.description,
        prior=dict(name=cfg.prior.name, help=cfg.prior.help),
        images=[dict(image=r["image"], source=r["source"]) for r in recs],
        metric_notes=METRIC_NOTES,
        curves={},
    )
    if exact:
        res["posterior"], res["oracle"] = _posterior_summary(recs)
    clean2 = clean_images(data, "clean2", N * M, size=size, seed=cfg.image_seed)[0]
    clean2 = clean2.reshape(clean2.shape[0], -1)
    ref = res["dataset_reference"] = dict(
        fd_clean=frechet_distance(clean2, pool, rank_safe=True),
        sw2_clean=sliced_w2(clean2, pool, theta, rescale=True),
        n=N * M,
        n_clean=int(clean2.shape[0]),
        pool=int(pool.shape[0]),
        **digit_metrics(data, clean2, None, pool, "_clean"),
    )
    labels = np.repeat(sources, M)
    # What a perfect restorer (x_hat = x, M times) scores: the fair reference for sets of
    # N images x M samples, whose diversity is that of N images, not of N * M.
    truth = np.repeat(clean, M, axis=0)
    ref.update(
        fd_truth=frechet_distance(truth, pool, rank_safe=True),
        sw2_truth=sliced_w2(truth, pool, theta, rescale=True),
        **digit_metrics(data, truth, labels, pool, "_truth"),
    )
    if exact:
        ex = np.concatenate([_load_samples(out, f"{i:05d}_exact.npy") for i in range(N)])
        ref.update(
            fd_exact_posterior=frechet_distance(ex, pool, rank_safe=True),
            sw2_exact_posterior=sliced_w2(ex, pool, theta, rescale=True),
            **digit_metrics(data, ex, labels, pool, "_exact_posterior"),
        )
    for c, curve in enumerate(curves):
        per_eta = []
        for e, eta in enumerate(cfg.etas):
            rows = [r["curves"][curve][e] for r in recs]
            row = dict(
                eta=eta,
                mse=float(np.mean([x["mse"] for x in rows])),
                mse_se=float(math.sqrt(sum(x["mse_var"] for x in rows) / M) / N),
                psnr=float(np.mean([x["psnr"] for x in rows])),
                ssim=float(np.mean([x["ssim"] for x in rows])),
            )
            if exact:
                row.update(_exact_row(recs, rows, M, res["posterior"]["perception_floor"]))
            R = np.concatenate([s[c, e] for s in smp])
            row.update(
                fd=frechet_distance(R, pool, rank_safe=True),
                sw2=sliced_w2(R, pool, theta, rescale=True),
            )
            row.update(digit_metrics(data, R, labels, pool, ""))
            per_eta.append(row)
        res["curves"][curve] = dict(per_eta=per_eta)
    if cfg.baselines:
        res["baselines"] = baseline_metrics(setup, pool, out)
    check_finite(res, "the aggregate")
    return res
