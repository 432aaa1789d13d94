"""The run-reading helpers and the convergence figure of :mod:`diffusion.experiments.report_images`
(kept apart so that module stays under 500 lines; everything here is re-exported there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from numerics.io import as_path, atomic_write

CONVERGENCE = (
    [("fixed-horizon", v, T, f"conv_fh_{v}_{T}") for v in ("beta_tilde", "beta") for T in (250, 1000, 4000)]
    + [("linear", "beta_tilde", T, f"conv_lin_beta_tilde_{T}") for T in (100, 250, 1000)]
)  # fmt: skip
#: The same schedules with 2 patches x 128 samples at η = 1: enough to resolve the effect.
CONVERGENCE_128 = tuple(
    ("fixed-horizon", v, T, f"conv128_fh_{v}_{T}")
    for v in ("beta_tilde", "beta")
    for T in (250, 1000, 4000)
)


def _runs_folder(runs) -> Path:
    """``runs`` as a Path, after checking it is a folder (``ValueError`` naming ``runs``)."""
    p = as_path(runs, "runs")
    if not p.is_dir():
        raise ValueError(f"runs: {p} is not a folder")
    return p


def load_run(runs: Path, name: str) -> dict | None:
    """``results.json`` of run ``name`` under ``runs`` (a run folder or a flat ``name.json``);
    None when that run is not there (its table cells then read "—")."""
    runs = _runs_folder(runs)
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name: expected the name of a run (no folder part), got {name!r}")
    for p in (runs / name / "results.json", runs / f"{name}.json"):
        if p.exists():
            return json.loads(p.read_text())
    return None


def convergence_figure(runs: Path, path: Path) -> Path:
    """MSE(η=1)/MMSE against T per schedule and variance rule, measured ± 2 sd and predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    series = {}
    use128 = any(load_run(runs, n) is not None for *_, n in CONVERGENCE_128)
    for kind, v, T, name in CONVERGENCE_128 if use128 else CONVERGENCE:
        r = load_run(runs, name)
        if r is None:
            continue
        x = {e["eta"]: e for e in r["curves"]["exact"]["per_eta"]}[1.0]
        series.setdefault((kind, v), []).append(
            (T, x["ratio"], x.get("ratio_sd_exact", x["ratio_sd"]), x["pred_ratio"])
        )
    styles = {
        ("fixed-horizon", "beta_tilde"): ("C0", "fixed horizon, β̃"),
        ("fixed-horizon", "beta"): ("C1", "fixed horizon, β"),
        ("linear", "beta_tilde"): ("C2", "linear (respaced), β̃"),
    }
    for key, pts in series.items():
        pts.sort()
        T, m, sd, pred = (np.array(c) for c in zip(*pts, strict=True))
        col, lab = styles[key]
        ax.errorbar(
            T, m, yerr=2 * sd, fmt="o", color=col, capsize=3, label=f"{lab}: measured ± 2 sd"
        )
        ax.plot(T, pred, "--", color=col, lw=1, label=f"{lab}: Gaussian-chain prediction")
    ax.axhline(2.0, color="k", lw=0.8)
    ax.set_xscale("log")
    Ts = sorted({T for pts in series.values() for T, *_ in pts})
    ax.set_xticks(Ts, [str(T) for T in Ts])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("number of reverse steps T")
    ax.set_ylabel("MSE(η = 1) / MMSE")
    who = "2 test patches × 128 samples" if use128 else "4 test patches × 8 samples"
    ax.set_title(f"sr2, σ_y = 0.05, exact score ({who})", fontsize=8)
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120))
    plt.close(fig)
    return Path(path)
