r"""Summaries of a benchmark's ``results.json``: means over problems with 95 % intervals, and markdown.

Every number is averaged over the problems of a setting whose chain finished (diverged units
are counted, not averaged). The interval is Student's t over problems,
:math:`\bar v \pm t_{0.975,\,N-1}\, s/\sqrt N` (N the finished problems; none for N < 2):
it covers the spread of the random problems (and the Monte-Carlo error inside each), not a
bias of the estimators, which the floors (exact versus exact, same n) show.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t

from diffusion.experiments.mcgdiff.guidances import NOT_AVAILABLE

__all__ = ["mean_ci", "markdown", "setting_key", "summarise"]

METRICS = ("mse_over_mmse", "sw", "w2", "excess_over_D")


def setting_key(d: int, d_y: int) -> str:
    """``"d8_dy1"``."""
    return f"d{d}_dy{d_y}"


def mean_ci(values) -> dict:
    r"""Mean and 95 % Student-t half-width of ``values`` (a 1-D sequence), over its first axis.

    Returns ``{"mean": float, "ci95": float or None, "n": int}`` (``ci95`` None for n < 2).

    Examples
    --------
    >>> r = mean_ci([1.0, 2.0, 3.0])
    >>> r["mean"], round(r["ci95"], 4), r["n"]
    (2.0, 2.4841, 3)
    """
    v = np.asarray(values, dtype=np.float64)
    n = int(v.shape[0])
    if n == 0:
        return dict(mean=None, ci95=None, n=0)
    m = v.mean(axis=0)
    ci = None
    if n >= 2:
        ci = student_t.ppf(0.975, n - 1) * v.std(axis=0, ddof=1) / np.sqrt(n)
    tolist = lambda a: a.tolist() if isinstance(a, np.ndarray) else float(a)  # noqa: E731
    return dict(mean=tolist(m), ci95=None if ci is None else tolist(ci), n=n)


def summarise(res: dict, cfg) -> dict:
    """Per setting and guidance: counts, SW at η = 1, and the η-curve of every metric (mean, CI).

    Returns ``{setting: {"floors": {...}, "guidances": {name: {...}}}}``; a guidance not in
    this build is ``{"status": "not available in this build"}``.
    """
    out = {}
    eta = list(cfg.etas)
    i1 = eta.index(1.0) if 1.0 in eta else None
    for d, d_y in cfg.dims:
        sk = setting_key(d, d_y)
        probs = [res["problems"].get(f"{sk}/p{p}") for p in range(cfg.n_problems)]
        probs = [pr for pr in probs if pr is not None]
        floors = {k: mean_ci([pr["floors"][k] for pr in probs])["mean"] for k in ("sw", "w2")}
        entry = dict(
            n_problems=len(probs),
            floors=floors,
            mmse=mean_ci([pr["mmse"] for pr in probs]),
            sigma_y=mean_ci([pr["sigma_y"] for pr in probs]),
            guidances={},
        )
        for g in cfg.guidances:
            if g in res.get("unavailable", {}):
                entry["guidances"][g] = dict(status=NOT_AVAILABLE)
                continue
            units = [res["units"].get(f"{sk}/p{p}/{g}") for p in range(cfg.n_problems)]
            units = [u for u in units if u is not None]
            ok = [u for u in units if u["status"] == "ok"]
            rec = dict(n_ok=len(ok), n_diverged=len(units) - len(ok))
            rec["curve"] = {m: mean_ci([u[m] for u in ok]) for m in METRICS}
            rec["sw_eta1"] = mean_ci([u["sw"][i1] for u in ok]) if i1 is not None else None
            entry["guidances"][g] = rec
        out[sk] = entry
    return out


def _fmt(v, ci=None, digits=3) -> str:
    if v is None:
        return "–"
    s = f"{v:.{digits}g}"
    if ci is not None:
        s += f" ± {ci:.2g}"
    return s


def markdown(res: dict, cfg) -> str:
    """The summary as markdown: the η = 1 sliced-W2 table, then one η-curve table per setting."""
    summ = res.get("summary") or summarise(res, cfg)
    names = list(cfg.guidances)
    lines = [
        f"Sliced W2 to {cfg.n_samples} exact posterior samples at eta = 1 "
        f"(mean ± 95% CI over problems; {cfg.n_projections} random directions; "
        f"{cfg.steps} steps; floor = exact vs exact):",
        "",
        "| d | d_y | problems | " + " | ".join(names) + " | floor |",
        "|" + "---|" * (len(names) + 4),
    ]
    for d, d_y in cfg.dims:
        e = summ[setting_key(d, d_y)]
        cells = []
        for g in names:
            r = e["guidances"][g]
            if r.get("status") == NOT_AVAILABLE:
                cells.append("n/a in this build")
                continue
            s = r["sw_eta1"]
            txt = _fmt(s["mean"], s["ci95"]) if s else "–"
            if r["n_diverged"]:
                txt += f" ({r['n_diverged']} div.)"
            cells.append(txt)
        lines.append(
            f"| {d} | {d_y} | {e['n_problems']} | "
            + " | ".join(cells)
            + f" | {_fmt(e['floors']['sw'])} |"
        )
    eta = list(cfg.etas)
    for d, d_y in cfg.dims:
        e = summ[setting_key(d, d_y)]
        lines += [
            "",
            f"d = {d}, d_y = {d_y}: MSE/MMSE | W2 (floor {_fmt(e['floors']['w2'])}) | "
            f"(MSE - D(W2))/MMSE, per eta (mean over {e['n_problems']} problems)",
            "",
            "| guidance | " + " | ".join(f"eta={x:g}" for x in eta) + " |",
            "|" + "---|" * (len(eta) + 1),
        ]
        for g in names:
            r = e["guidances"][g]
            if r.get("status") == NOT_AVAILABLE or not r["n_ok"]:
                lines.append(f"| {g} | " + " | ".join("–" for _ in eta) + " |")
                continue
            c = r["curve"]
            cells = [
                f"{_fmt(c['mse_over_mmse']['mean'][i])} / {_fmt(c['w2']['mean'][i])} / "
                f"{_fmt(c['excess_over_D']['mean'][i], digits=2)}"
                for i in range(len(eta))
            ]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
    if res.get("unavailable"):
        lines += [
            "",
            "Not available in this build: "
            + "; ".join(f"{g} ({why})" for g, why in sorted(res["unavailable"].items())),
        ]
    return "\n".join(lines) + "\n"
