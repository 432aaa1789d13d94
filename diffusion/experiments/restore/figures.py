"""Figures of :mod:`diffusion.restore`: sample grids, the DP curves of a run, and the
convergence figure over several runs. Every PNG is written atomically (a temporary file
beside it, then :func:`os.replace`), so an interrupted run never leaves a broken figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from diffusion.experiments.restore.aggregate import load_records
from numerics.dp import dp_function
from numerics.io import atomic_write

__all__ = [
    "convergence_figure", "dataset_dp_figure", "exact_dp_figure", "grid_figures", "image_grid",
    "plots",
]  # fmt: skip


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` atomically and close it."""
    atomic_write(path, lambda p: fig.savefig(p, dpi=dpi))
    _pyplot().close(fig)
    return Path(path)


def _load(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def plots(setup, res: dict, curves, out: Path) -> None:
    """Every figure of a finished run in ``out``: ``grid_<curve>.png``, ``dp_curve.png``
    (exact posterior: MSE given y against the exact perception) and the dataset-level
    ``dp_curve.png`` (no exact posterior) or ``dp_curve_dataset.png`` (with baselines)."""
    grid_figures(setup, res, curves, out)
    if "posterior" in res:
        exact_dp_figure(setup.config, res, curves, out)
    if "posterior" not in res or "baselines" in res:
        path = out / ("dp_curve_dataset.png" if "posterior" in res else "dp_curve.png")
        dataset_dp_figure(setup.config, setup.patch_size, res, curves, path)


def grid_figures(setup, res: dict, curves, out: Path) -> None:
    """``grid_<curve>.png``: clean | measurement | η = 0 ... 1 (several samples each) |
    one column per baseline (its most stochastic point) | exact posterior mean."""
    plt = _pyplot()
    cfg, clean, op = setup.config, setup.clean, setup.op
    s = setup.patch_size
    n_show = min(cfg.grid_images, cfg.n_images)
    G = min(cfg.grid_samples, cfg.samples_per_image)
    E = len(cfg.etas)
    bcols = []  # (title, [N, M, d] samples): one column per baseline, its most stochastic point
    for name, rows in res.get("baselines", {}).items():
        pick = rows[-1] if name == "diffpir" else next(r for r in rows if r["key"] == "n1_sz1")
        lab = f"DiffPIR ζ={pick['zeta']:g}" if name == "diffpir" else "PSCGAN N=1"
        bcols.append((lab, _load(out / "baselines" / f"{name}_{pick['key']}.npy")))

    def show(ax, img):
        ax.imshow(img.reshape(s, s), cmap="gray", vmin=-1, vmax=1)

    for c, curve in enumerate(curves):
        ncol = 2 + E + len(bcols) + (1 if "posterior" in res else 0)
        fig, axes = plt.subplots(
            n_show * G, ncol, figsize=(0.9 * ncol, 0.9 * n_show * G), squeeze=False
        )
        for a in axes.ravel():
            a.axis("off")
        for i in range(n_show):
            smp = _load(out / "samples" / f"{i:05d}.npy")[c]
            y = _load(out / "samples" / f"{i:05d}_y.npy").reshape(op.out_shape)[0]
            for g in range(G):
                r = i * G + g
                if g == 0:
                    show(axes[r, 0], clean[i])
                    axes[r, 1].imshow(y, cmap="gray", vmin=-1, vmax=1)
                    if "posterior" in res:
                        show(axes[r, -1], _load(out / "samples" / f"{i:05d}_mean.npy"))
                for e in range(E):
                    show(axes[r, 2 + e], smp[e, g])
                for b, (_, arr) in enumerate(bcols):
                    show(axes[r, 2 + E + b], arr[i, g])
        titles = ["clean", "y"] + [f"η={eta:g}" for eta in cfg.etas] + [t for t, _ in bcols]
        if "posterior" in res:
            titles.append("E[x|y]")
        for k, t in enumerate(titles):
            axes[0, k].set_title(t, fontsize=7)
        fig.suptitle(
            f"{cfg.task}, σ_y={cfg.sigma_y:g}, {curve} guidance, {cfg.variance}", fontsize=8
        )
        fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.3 / (0.9 * n_show * G)))
        _save(fig, out / f"grid_{curve}.png", 110)


def exact_dp_figure(config, res: dict, curves, out: Path) -> Path:
    """``dp_curve.png``: MSE given y against the exact-posterior perception: η-curves,
    oracle, D(P)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for curve in curves:
        pe = res["curves"][curve]["per_eta"]
        if "perception" not in pe[0]:
            continue
        P = [r["perception"] for r in pe]
        D = [r["mse_post"] for r in pe]
        ax.plot(P, D, "o-", label=f"{curve} guidance η-curve ({config.variance})")
        for r in pe:
            ax.annotate(f"{r['eta']:g}", (r["perception"], r["mse_post"]), fontsize=6)
    if "oracle" in res:
        P = [r["perception"] for r in res["oracle"]]
        ax.plot(P, [r["mse_post"] for r in res["oracle"]], "k--", label="shrinkage oracle")
        mm = np.array([r["mmse"] for r in load_records(out, config.n_images)])
        grid = np.linspace(0.0, max(max(P), np.sqrt(mm).max()) * 1.05, 200)
        ax.plot(
            grid,
            [float(np.mean(dp_function(mm, p))) for p in grid],
            "k-",
            lw=1,
            label="D(P) (mean over images)",
        )
        ax.axvline(
            res["posterior"]["perception_floor"], color="gray", ls=":", label="perception floor"
        )
        ax.axhline(float(mm.mean()), color="gray", lw=0.5)
        ax.axhline(2 * float(mm.mean()), color="gray", lw=0.5, ls="--")
    ax.set_xlabel("perception P = √d · sliced W2 to the exact posterior")
    ax.set_ylabel("MSE given y (sum over pixels)")
    ax.set_title(f"{config.task}, σ_y={config.sigma_y:g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out / "dp_curve.png", 120)


def dataset_dp_figure(config, patch_size: int, res: dict, curves, path: Path) -> Path:
    """MSE to the clean image against a dataset-level perception measure (Figs. 6, 10)."""
    plt = _pyplot()
    pe0 = res["curves"][curves[0]]["per_eta"][0]
    key, xlab = ("fd", "Fréchet distance in pixel space")
    if config.data == "digits":
        key, xlab = ("cfd", "Fréchet distance, digit-classifier features") if "cfd" in pe0 else (
            "kid", "KID, digit-classifier features")  # fmt: skip
    d = patch_size**2
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for curve in curves:
        pe = res["curves"][curve]["per_eta"]
        ax.plot([r[key] for r in pe], [r["mse"] / d for r in pe], "o-", label=f"ours ({curve}), η")
        for r in pe:
            ax.annotate(f"{r['eta']:g}", (r[key], r["mse"] / d), fontsize=6)
    for name, rows in res.get("baselines", {}).items():
        if name == "diffpir":
            ax.plot([r[key] for r in rows], [r["mse"] / d for r in rows], "s--", label="DiffPIR, ζ")
            for r in rows:
                ax.annotate(f"ζ={r['zeta']:g}", (r[key], r["mse"] / d), fontsize=6)
        else:
            for sel, lab, mk in (
                ([r for r in rows if r["sigma_z"] == 1.0], "PSCGAN, N averaged", "^-"),
                ([r for r in rows if r["n_avg"] == 1], "PSCGAN, σ_z (N = 1)", "v:"),
            ):
                sel = sorted(sel, key=lambda r: (r["n_avg"], r["sigma_z"]))
                ax.plot([r[key] for r in sel], [r["mse"] / d for r in sel], mk, label=lab)
    ref = res["dataset_reference"]
    M = config.samples_per_image
    ax.axvline(ref[f"{key}_truth"], color="gray", ls=":", label=f"perfect restorer (clean × {M})")
    if f"{key}_exact_posterior" in ref:
        ax.axvline(ref[f"{key}_exact_posterior"], color="k", ls="--", lw=0.8,
                   label=f"exact posterior samples (× {M})")  # fmt: skip
    ax.set_xlabel(xlab)
    ax.set_ylabel("MSE to the clean image (per pixel)")
    ax.set_title(f"{config.prior.name}, {config.task}, σ_y={config.sigma_y:g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, 120)


def convergence_figure(run_dirs, path, *, eta: float = 1.0) -> Path:
    """MSE(η)/MMSE against the number of steps T for finished runs (one point per run).

    Runs are grouped by (schedule, variance); each group is drawn with its measured ratio
    (± 1 sd from the samples) and the Gaussian-chain prediction ``pred_ratio``. The
    horizontal line is the target 1 + η of Theorem 1.
    """
    plt = _pyplot()
    groups: dict = {}
    for d in run_dirs:
        res = json.loads((Path(d) / "results.json").read_text())
        cfg = res["config"]
        row = next(r for r in res["curves"]["exact"]["per_eta"] if r["eta"] == eta)
        key = (cfg["schedule"], cfg["variance"])
        groups.setdefault(key, []).append(
            (cfg["steps"], row["ratio"], row["ratio_sd"], row["pred_ratio"])
        )
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for (sched, var), pts in sorted(groups.items()):
        pts.sort()
        T, r, sd, pr = (np.array(v) for v in zip(*pts, strict=True))
        line = ax.errorbar(T, r, yerr=sd, fmt="o", capsize=2, label=f"{sched}, {var}: measured")
        ax.plot(T, pr, "--", color=line[0].get_color(), label=f"{sched}, {var}: Gaussian chain")
    ax.axhline(1 + eta, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("steps T")
    ax.set_ylabel(f"MSE(η={eta:g}) / MMSE")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, 120)


def image_grid(path, rows, titles, suptitle: str, *, cell: float = 1.1) -> Path:
    """A grid of images as an RGB PNG, written atomically.

    Parameters
    ----------
    rows : list of lists of (C, H, W) arrays in [-1, 1] (C = 1: grey, 3: colour) or None
        (an empty cell); every row as long as ``titles``.
    titles : list of str
        Column titles (over the first row).
    """
    from PIL import Image

    plt = _pyplot()
    nr, nc = len(rows), len(titles)
    fig, axes = plt.subplots(nr, nc, figsize=(cell * nc, cell * nr + 0.35), squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r, c]
            ax.axis("off")
            if img is None:
                continue
            a = (np.clip(np.asarray(img, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0
            if a.shape[0] == 1:
                ax.imshow(a[0], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(a.transpose(1, 2, 0))
    for c, t in enumerate(titles):
        axes[0, c].set_title(t, fontsize=7)
    fig.suptitle(suptitle, fontsize=8)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.3 / (cell * nr + 0.35)))
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy(), mode="RGB")
    plt.close(fig)
    return atomic_write(path, lambda p: rgb.save(p, format="PNG"))
