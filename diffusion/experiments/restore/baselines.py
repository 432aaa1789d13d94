"""Baselines of :mod:`diffusion.restore` (``--baselines``) on the same images, measurements
and metrics as the η-curves: DiffPIR over the same denoiser, and PSCGAN (digits deblurring).

Every baseline point is written to ``baselines/<name>_<key>.npy`` [N, M, d] when done and
skipped when present (``--resume``). Generators are seeded by (seed, 99, point index), so a
point's output does not depend on the others.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from diffusion.experiments.restore.chains import DivergedError, seed_of
from diffusion.experiments.restore.metrics import digit_metrics, psnr_ssim
from numerics.io import atomic_write
from numerics.metrics import frechet_distance, sliced_w2

__all__ = ["BASELINES", "PSCGAN_POINTS", "baseline_metrics", "baseline_points", "run_baselines"]

#: Baselines run on the same images, measurements and metrics (``--baselines``):
#: name -> what its points are.
BASELINES = MappingProxyType({
    "diffpir": "DiffPIR (diffusion.diffpir) over the same denoiser, one point per --diffpir-zeta",
    "pscgan": "PSCGAN (diffusion.pscgan_images, digits deblurring, trained at sigma_y 0.05): "
    "averages of N = 1 ... 64 samples (sigma_z = 1) and latent scales sigma_z = 0 ... 0.75 (N = 1)",
})  # fmt: skip
#: PSCGAN's points: (samples averaged N, latent scale σ_z).
PSCGAN_POINTS = tuple((n, 1.0) for n in (1, 2, 4, 8, 16, 32, 64)) + tuple(
    (1, sz) for sz in (0.0, 0.25, 0.5, 0.75)
)


def baseline_points(config) -> list[tuple[str, str, dict]]:
    """(baseline, key, parameters) of every baseline point of the run."""
    from diffusion.experiments.restore._checks import check_config

    check_config(config)
    pts = []
    for b in config.baselines:
        if b == "diffpir":
            for z in config.diffpir_zetas:
                pts.append(("diffpir", f"zeta{z:g}", dict(zeta=z, lam=config.diffpir_lambda)))
        elif b == "pscgan":
            for n, sz in PSCGAN_POINTS:
                pts.append(("pscgan", f"n{n}_sz{sz:g}", dict(n_avg=n, sigma_z=sz)))
    return pts


def run_baselines(setup, out: Path, bar=None) -> None:
    """Restore every image with every baseline point, from the measurements saved in
    ``out/samples``; write ``out/baselines/<name>_<key>.npy`` [N, M, d] (float32)."""
    from diffusion.baselines.diffpir import diffpir
    from diffusion.sampler import DivergenceError

    cfg, op = setup.config, setup.op
    N, M = cfg.n_images, cfg.samples_per_image
    bdir = out / "baselines"
    bdir.mkdir(exist_ok=True)
    ys = torch.stack(
        [
            torch.from_numpy(
                np.load(out / "samples" / f"{i:05d}_y.npy", allow_pickle=False).astype(np.float64)
            )
            for i in range(N)
        ]
    ).reshape(N, *op.out_shape)
    ys = ys.repeat_interleave(M, dim=0).to(dtype=cfg.torch_dtype, device=cfg.device)
    gan = None
    for k, (name, key, prm) in enumerate(baseline_points(cfg)):
        path = bdir / f"{name}_{key}.npy"
        if path.exists():
            continue
        gen = torch.Generator(device=cfg.device).manual_seed(seed_of(cfg.seed, 99, k))
        if name == "diffpir":
            try:
                x = diffpir(
                    setup.prior, ys, op, cfg.sigma_y, steps=cfg.diffpir_steps, zeta=prm["zeta"],
                    lam=prm["lam"], generator=gen, max_abs=cfg.max_abs,
                )  # fmt: skip
            except DivergenceError as exc:
                raise DivergedError(f"DiffPIR (zeta={prm['zeta']:g}) diverged: {exc}") from exc
        else:
            from diffusion.baselines.pscgan_images import load_pscgan, pscgan_restore

            gan = gan or load_pscgan(device=cfg.device)
            x = pscgan_restore(
                gan, ys.float(), n_avg=prm["n_avg"], sigma_z=prm["sigma_z"], generator=gen
            )
        arr = x.detach().reshape(N, M, -1).cpu().double().numpy()
        if not np.isfinite(arr).all():
            raise DivergedError(f"{name} {key}: non-finite output")
        atomic_write(path, lambda p, a=arr: np.save(p, a.astype(np.float32)))
        if bar is not None:
            bar.set_postfix_str(f"{name} {key}")


def baseline_metrics(setup, pool: np.ndarray, out: Path) -> dict:
    """Distortion and dataset-level perception of every baseline point (like the η-curves):
    baseline name -> list of rows."""
    cfg, clean, theta = setup.config, setup.clean, setup.theta
    N, M = cfg.n_images, cfg.samples_per_image
    res: dict[str, list] = {}
    for name, key, prm in baseline_points(cfg):
        path = out / "baselines" / f"{name}_{key}.npy"
        X = np.load(path, allow_pickle=False).astype(np.float64)  # [N, M, d]
        err = np.sum((X - clean[:, None, :]) ** 2, axis=2)
        ps = [psnr_ssim(X[i], clean[i]) for i in range(N)]
        R = X.reshape(N * M, -1)
        row = dict(
            key=key,
            **prm,
            mse=float(err.mean()),
            mse_se_images=float(err.mean(axis=1).std(ddof=1) / math.sqrt(N)) if N > 1 else 0.0,
            psnr=float(np.mean([p.mean() for p, _ in ps])),
            ssim=float(np.mean([q.mean() for _, q in ps])),
            fd=frechet_distance(R, pool, rank_safe=True),
            sw2=sliced_w2(R, pool, theta, rescale=True),
            **digit_metrics(cfg.data, R, np.repeat(setup.sources, M), pool, ""),
        )
        res.setdefault(name, []).append(row)
    return res
