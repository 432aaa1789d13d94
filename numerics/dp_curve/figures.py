"""The figures of ``python -m numerics.dp_curve``: Fig. 3 (MSE vs W2 and vs KL) and Fig. 2
(trajectories), drawn from the :func:`numerics.dp_curve.run` results dict (matplotlib, Agg).

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Figs. 2-3.
"""

from __future__ import annotations

import numpy as np

from numerics.dp_curve.problem import Problem
from numerics.gmm import GaussianMixture

__all__ = ["plot_dp_curve", "plot_trajectories"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shrinkage(ax, points, key, label):
    """The measured shrinkage curve: MSE against ``point[key]`` (W2 or KL)."""
    x = [p[key] for p in points]
    ax.plot(x, [p["mse"] for p in points], "s--", color="tab:green", ms=4, label=label)


def _label_etas(ax, runs, key):
    """Write each run's η beside its point (x = ``run[key]``, y = its MSE)."""
    for r in runs:
        ax.annotate(
            f"{r['eta']:g}",
            (r[key], r["mse"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
        )


def plot_dp_curve(result: dict):
    """Fig. 3 done properly: MSE vs W2 and MSE vs KL with D(P), floors and the shrinkage curve.

    Returns the matplotlib Figure.
    """
    plt = _pyplot()

    runs, shr = result["runs"], result["shrinkage"]
    mmse = result["mmse"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    ax = axes[0]
    ax.plot(
        result["theory"]["P"], result["theory"]["D"], "k-", lw=1.5, label="optimal D(P) (theory)"
    )
    _shrinkage(ax, shr, "w2", "shrinkage of exact posterior samples (measured)")
    ax.errorbar(
        [r["w2"] for r in runs],
        [r["mse"] for r in runs],
        yerr=[2 * r["mse_sd"] for r in runs],
        fmt="o-",
        color="tab:blue",
        ms=5,
        capsize=2,
        label=f"η-chain ({result['settings']['variance']}, "
        f"{result['settings']['guidance']} guidance)",
    )
    _label_etas(ax, runs, "w2")
    ax.axvline(result["floors"]["w2"], color="gray", ls=":", label="W2 floor (two exact sets)")
    ax.axhline(mmse, color="tab:red", ls=":", lw=1, label="MMSE")
    ax.axhline(2 * mmse, color="tab:red", ls="--", lw=0.8, label="2·MMSE")
    ax.set_xlabel("perception: empirical W2 to exact posterior samples")
    ax.set_ylabel("distortion: conditional MSE")
    ax.legend(fontsize=7)
    ax.set_title("MSE vs W2")
    ax = axes[1]
    kl_runs = [r for r in runs if r["kl"] is not None and r["kl"] > 0]
    kl_shr = [p for p in shr if p["kl"] is not None and p["kl"] > 0]
    _shrinkage(ax, kl_shr, "kl", "shrinkage")
    ax.plot(
        [r["kl"] for r in kl_runs],
        [r["mse"] for r in kl_runs],
        "o-",
        color="tab:blue",
        ms=5,
        label="η-chain",
    )
    _label_etas(ax, kl_runs, "kl")
    if result["floors"]["kl"] > 0:
        ax.axvline(result["floors"]["kl"], color="gray", ls=":", label="KL floor")
    ax.axhline(mmse, color="tab:red", ls=":", lw=1)
    if kl_runs or kl_shr or result["floors"]["kl"] > 0:
        ax.set_xscale("log")  # (a log axis without a positive value cannot be drawn)
    else:  # tiny sample sets: every k-NN KL estimate can be <= 0
        ax.text(0.5, 0.5, "no KL estimate > 0", transform=ax.transAxes, ha="center")
    ax.set_xlabel("perception: k-NN KL(samples ‖ posterior) [nats]")
    ax.set_ylabel("distortion: conditional MSE")
    ax.set_title("MSE vs KL (points with KL ≤ 0 or undefined omitted)")
    ax.legend(fontsize=7)
    s = result["settings"]
    fig.suptitle(
        f"DP tradeoff, MMSE = {mmse:.4f}; T = {s['steps']}, n = {s['n']} per η, seed {s['seed']}",
        fontsize=10,
    )
    return fig


def plot_trajectories(result: dict, problem: Problem):
    """Fig. 2: trajectories from the same x_T for eta = 0, 0.5, 1 over the posterior density.

    Returns the matplotlib Figure.
    """
    plt = _pyplot()

    trajs = result["_trajectories"]
    post = problem.posterior()
    d = post.d
    fig, axes = plt.subplots(
        1, len(trajs), figsize=(4.2 * len(trajs), 4), constrained_layout=True, squeeze=False
    )
    for ax, (eta, path) in zip(axes[0], trajs.items(), strict=True):
        if d >= 2:
            marg = GaussianMixture(post.weights, post.means[:, :2], post.covs[:, :2, :2])
            lo = np.minimum(path[..., :2].min(axis=(0, 1)), post.means[:, :2].min(0) - 1.5) - 0.2
            hi = np.maximum(path[..., :2].max(axis=(0, 1)), post.means[:, :2].max(0) + 1.5) + 0.2
            gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
            dens = np.exp(marg.logpdf(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
            ax.contourf(gx, gy, dens, levels=12, cmap="Blues")
            for j in range(path.shape[1]):
                ax.plot(path[:, j, 0], path[:, j, 1], "-", lw=0.5, color="tab:orange", alpha=0.6)
                ax.plot(path[0, j, 0], path[0, j, 1], "o", color="k", ms=3)
                ax.plot(path[-1, j, 0], path[-1, j, 1], "x", color="tab:red", ms=6)
            ax.plot(
                *result["posterior_mean"][:2], "*", color="gold", mec="k", ms=14, label="E[x|y]"
            )
            ax.set_xlabel("x₁")
            ax.set_ylabel("x₂")
        else:
            tt = np.arange(path.shape[0])[::-1]
            ax.plot(tt, path[:, :, 0], lw=0.8)
            ax.axhline(result["posterior_mean"][0], color="gold", label="E[x|y]")
            ax.set_xlabel("t")
            ax.set_ylabel("x")
        ax.set_title(f"η = {eta:g}")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Reverse trajectories from the same x_T (o: x_T, x: x_0) over the posterior density",
        fontsize=10,
    )
    return fig
