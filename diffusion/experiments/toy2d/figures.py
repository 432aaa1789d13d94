"""Figures of one data set of the 2-D experiment (the paper's Figs. 4/9, 5/10 and 11).

:func:`write_figures` writes each PNG atomically (:func:`numerics.io.atomic_write`): a run
killed while a figure is being written leaves the previous file or none, never a truncated one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from diffusion.experiments.toy2d.config import fmt_sigma
from numerics.io import atomic_write

__all__ = ["plot_dp", "plot_reconstructions", "plot_zeta_ablation", "write_figures"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reconstructions(result: dict, sigma_tag: str, *, n_show: int = 1000):
    """Figs. 4/9: data, network samples, y, reconstructions per η, PSCGAN and exact posterior draws."""
    plt = _plt()
    arr = result["_arrays"]
    ps = arr["per_sigma"][sigma_tag]
    etas = [p["eta"] for p in result["results"][sigma_tag]["ours"]["points"]]
    show = [i for i, e in enumerate(etas) if round(e * 10) % 2 == 0]
    panels = [
        ("data x", arr["x_test"]),
        ("score net, unconditional", arr["quality"]),
        (f"y = x + n, σ_y = {sigma_tag}", ps["y"]),
    ]
    panels += [(f"ours, η = {etas[i]:g}", ps["ours"][i]) for i in show]
    if ps["pscgan"] is not None:
        panels.append(("PSCGAN, N = 1, σ_z = 1", ps["pscgan"]))
    panels.append(("exact posterior draws (oracle)", ps["oracle_draw"]))
    ncol = 4
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 3.0 * nrow), squeeze=False)
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.04, top=0.92, wspace=0.25, hspace=0.3)
    lim = 3.2 if float(sigma_tag) < 0.75 else 4.5
    for ax, (title, pts) in zip(axes.ravel(), panels, strict=False):
        pts = np.asarray(pts)[:n_show]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=2, alpha=0.5, lw=0, color="tab:blue" if "ours" in title else "k"
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{result['dataset']}: reconstructions of the same {min(n_show, len(arr['x_test']))} test pairs "
        f"(σ_y = {sigma_tag}, ζ = {result['zeta'][sigma_tag]:g})",
        fontsize=10,
    )
    return fig


def _curve(ax, pts, xkey, label, style, annotate=None):
    xs = [p[xkey] for p in pts if p[xkey] is not None]
    ys = [p["mse"] for p in pts if p[xkey] is not None]
    ax.plot(xs, ys, style, label=label, ms=4, lw=1.2)
    if annotate:
        for p in pts:
            if p[xkey] is not None:
                ax.annotate(
                    annotate(p),
                    (p[xkey], p["mse"]),
                    textcoords="offset points",
                    xytext=(3, 3),
                    fontsize=6,
                )


def plot_dp(result: dict):
    """Figs. 5/10: MSE vs joint W2, marginal W2 and joint KL, ours vs PSCGAN, for every σ_y."""
    plt = _plt()
    tags = list(result["results"])
    axes_keys = [
        ("w2_joint", "W2 of (x̂, y) vs (x, y)"),
        ("w2_marginal", "W2 of x̂ vs x (marginal)"),
        ("kl_marginal", "k-NN KL(x̂ ‖ x) (marginal) [nats]"),
    ]
    fig, axes = plt.subplots(len(tags), 3, figsize=(15, 4.2 * len(tags)), squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.93, wspace=0.22, hspace=0.35)
    for row, tag in zip(axes, tags, strict=True):
        r = result["results"][tag]
        for ax, (key, lab) in zip(row, axes_keys, strict=True):
            _curve(
                ax,
                r["ours"]["points"],
                key,
                f"ours (η sweep, ζ = {result['zeta'][tag]:g})",
                "o-",
                lambda p: f"{p['eta']:g}",
            )
            _curve(
                ax,
                r["pscgan"]["n_avg"],
                key,
                "PSCGAN, average of N",
                "s--",
                lambda p: f"N{p['n_avg']}",
            )
            _curve(
                ax, r["pscgan"]["sigma_z"], key, "PSCGAN, σ_z", "^--", lambda p: f"{p['sigma_z']:g}"
            )
            _curve(ax, r["oracle"]["shrinkage"], key, "oracle: m + c(x' − m)", "x:", None)
            fkey = "joint" if "joint" in key else "marginal"
            fval = r["floors"][fkey]["w2" if key.startswith("w2") else "kl"]
            ax.axvline(fval, color="gray", ls=":", lw=1, label="floor (two true sets)")
            ax.axhline(r["oracle"]["mmse"], color="tab:red", ls=":", lw=1, label="MMSE (oracle)")
            ax.axhline(2 * r["oracle"]["mmse"], color="tab:red", ls="--", lw=0.7, label="2·MMSE")
            ax.set_xlabel(lab)
            ax.set_ylabel("MSE")
            pscgan_note = (
                ""
                if float(tag) == r["pscgan"]["trained_at_sigma_y"]
                else f" (PSCGAN trained at {r['pscgan']['trained_at_sigma_y']:g})"
            )
            ax.set_title(f"σ_y = {tag}{pscgan_note}", fontsize=9)
        row[0].legend(fontsize=6)
    fig.suptitle(f"{result['dataset']}: distortion-perception tradeoffs", fontsize=11)
    return fig


def plot_zeta_ablation(result: dict):
    """Fig. 11: η sweep at the configured ζ vs ζ sweep at η = 1 (pinwheel, main σ_y)."""
    plt = _plt()
    tag = fmt_sigma(result["sigma_y"])
    r = result["results"][tag]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.88, wspace=0.25)
    for ax, key, lab in (
        (axes[0], "w2_joint", "W2 of (x̂, y) vs (x, y)"),
        (axes[1], "w2_marginal", "W2 of x̂ vs x"),
    ):
        _curve(
            ax,
            r["ours"]["points"],
            key,
            f"η sweep, ζ = {result['zeta'][tag]:g}",
            "o-",
            lambda p: f"η{p['eta']:g}",
        )
        _curve(
            ax,
            result["zeta_ablation"]["points"],
            key,
            "η = 1, ζ sweep",
            "d--",
            lambda p: f"ζ{p['zeta']:.3g}",
        )
        _curve(ax, r["oracle"]["shrinkage"], key, "oracle shrinkage", "x:", None)
        ax.axvline(
            r["floors"]["joint" if "joint" in key else "marginal"]["w2"],
            color="gray",
            ls=":",
            lw=1,
            label="floor",
        )
        ax.set_xlabel(lab)
        ax.set_ylabel("MSE")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{result['dataset']}, σ_y = {tag}: varying the DPS weight ζ at η = 1 vs varying η",
        fontsize=10,
    )
    return fig


def write_figures(result: dict, out: Path) -> list[Path]:
    """Write the figures of one data set under ``out`` (each atomically); returns their paths.

    ``result`` is :func:`~.run.run_dataset`'s dict, with its ``_arrays``.
    """
    plt = _plt()
    paths = []
    ds = result["dataset"]

    def save(fig, name):
        p = Path(out) / name
        try:
            atomic_write(p, lambda q: fig.savefig(q, dpi=110, format="png"))
        finally:
            plt.close(fig)
        paths.append(p)

    for tag in result["results"]:
        save(plot_reconstructions(result, tag), f"{ds}_reconstructions_s{tag}.png")
    save(plot_dp(result), f"{ds}_dp.png")
    if result.get("zeta_ablation"):
        save(plot_zeta_ablation(result), f"{ds}_zeta_ablation.png")
    return paths
