"""Summaries of one data set's results: the paper's claim, measured, and markdown tables."""

from __future__ import annotations

__all__ = ["claim_summary", "markdown_tables"]


def claim_summary(r: dict) -> dict:
    """The paper's claim, measured: extent of each tradeoff, best MSE, and Pareto dominance.

    For ours (η sweep) and PSCGAN (N and σ_z curves together), at one σ_y: the smallest and
    largest MSE and joint / marginal W2; ``dominated``: how many points of one method have a
    point of the other with both a smaller MSE and a smaller joint W2 (no error margin;
    compare with the standard errors and floors in the tables).

    ``r``: a data set's result dict (``ours.points``, ``pscgan.n_avg``, ``pscgan.sigma_z``:
    lists of points with ``mse``, ``mse_se``, ``w2_joint``, ``w2_marginal``; ``oracle.mmse``);
    anything else raises TypeError/ValueError naming ``r``.
    """
    if not isinstance(r, dict):
        raise TypeError(f"r: expected a data set's result dict, got {type(r).__name__}")
    try:
        return _claim_summary(r)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(
            "r: expected ours.points, pscgan.n_avg, pscgan.sigma_z (lists of points with mse, "
            f"mse_se, w2_joint, w2_marginal) and oracle.mmse; missing or wrong: {exc!r}"
        ) from exc


def _claim_summary(r: dict) -> dict:
    ours = r["ours"]["points"]
    gan = list(r["pscgan"]["n_avg"]) + list(r["pscgan"]["sigma_z"])
    if not ours or not gan:
        raise ValueError("r: expected at least one point of ours and one of pscgan")

    def ext(pts):
        out = {}
        for k in ("mse", "w2_joint", "w2_marginal"):
            v = [p[k] for p in pts]
            out[k] = [float(min(v)), float(max(v))]
        best = min(pts, key=lambda p: p["mse"])
        out["mse_min_se"] = best["mse_se"]
        return out

    def dominated(a, b):
        return sum(any(q["mse"] < p["mse"] and q["w2_joint"] < p["w2_joint"] for q in b) for p in a)

    return dict(
        ours=ext(ours),
        pscgan=ext(gan),
        pscgan_points_dominated_by_ours=dominated(gan, ours),
        ours_points_dominated_by_pscgan=dominated(ours, gan),
        n_points=dict(ours=len(ours), pscgan=len(gan)),
        mmse_oracle=r["oracle"]["mmse"],
    )


def markdown_tables(result: dict) -> str:
    """Markdown tables (MSE, W2 joint, W2 marginal) of every point of one data set
    (ValueError/TypeError naming ``result`` if it is not a data set's result dict)."""
    if not isinstance(result, dict):
        raise TypeError(f"result: expected a data set's result dict, got {type(result).__name__}")
    try:
        return _markdown_tables(result)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"result: not a data set's result dict: {exc!r}") from exc


def _markdown_tables(result: dict) -> str:
    lines = []
    for tag, r in result["results"].items():
        fl = r["floors"]
        lines.append(
            f"**{result['dataset']}, σ_y = {tag}** — MMSE (oracle) = {r['oracle']['mmse']:.4f}; "
            f"floors: W2 joint {fl['joint']['w2']:.3f} ± {fl['joint']['w2_sd']:.3f}, "
            f"W2 marginal {fl['marginal']['w2']:.3f} ± {fl['marginal']['w2_sd']:.3f} (n = {fl['n']})\n"
        )
        lines.append("| method | setting | MSE | ± se | W2 joint | W2 marginal | KL marginal |")
        lines.append("|---|---|---|---|---|---|---|")

        def row(method, setting, p):
            kl = "–" if p["kl_marginal"] is None else f"{p['kl_marginal']:.3f}"
            lines.append(
                f"| {method} | {setting} | {p['mse']:.4f} | {p['mse_se']:.4f} | {p['w2_joint']:.3f} | "
                f"{p['w2_marginal']:.3f} | {kl} |"
            )

        for p in r["ours"]["points"]:
            row("ours", f"η = {p['eta']:g}", p)
        for p in r["pscgan"]["n_avg"]:
            row("PSCGAN", f"N = {p['n_avg']}", p)
        for p in r["pscgan"]["sigma_z"]:
            row("PSCGAN", f"σ_z = {p['sigma_z']:g}", p)
        for p in r["oracle"]["shrinkage"]:
            row("oracle", f"c = {p['c']:g}", p)
        lines.append("")
    return "\n".join(lines)
