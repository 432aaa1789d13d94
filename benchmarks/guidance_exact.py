"""Benchmark: the η-curves of exact / DPS / covariance-aware / ΠGDM guidance on the exact
patch benchmark (``diffusion.restore --prior gmm``), same noise for every curve.

Per (task, σ_y), one set of test patches and their exact posteriors (as ``diffusion.restore``
makes them), then every curve on the same chain seeds (``run_unit``), scored as
``--tune-zeta`` scores (``score_zeta``): the mean over images of MSE/MMSE (MSE to the
posterior mean plus the MMSE) and of the excess over D(P); each row also keeps the per-image
MSE/MMSE (``ratios``), from which the table gives, with two or more images, the standard error
of the mean over images and of the paired gap to the exact score. DPS uses the tuned table
``--zeta ours`` (reference form); cov and pigdm use ζ = 1 (no table); ``--discrepancy`` adds
DPS and cov with ζ(η) from ``--zeta discrepancy``. Rows are printed as they finish and the
whole table is written to ``--json``.

Run: ``nice -n 10 python benchmarks/guidance_exact.py [--tasks deblur,sr2,sr4,inpaint]
[--sigma-y 0.05,0.2] [--eta 0,0.5,1] [--n-images 2] [--samples-per-image 2] [--steps 50]
[--n-cg 5] [--ref-samples 256] [--threads N] [--json guidance_exact.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.restore.chains import DivergedError, run_unit
from diffusion.experiments.restore.config import RestoreConfig
from diffusion.experiments.restore.discrepancy import calibrate_discrepancy
from diffusion.experiments.restore.problems import make_problem, make_setup
from diffusion.experiments.restore.tune import score_zeta
from numerics.io import write_json


def _floats(text):
    return tuple(float(v) for v in text.split(","))


def standard_error(values) -> float:
    """Standard error of the mean of ``values`` (shape (n,), n ≥ 2): the sample standard
    deviation (ddof = 1) over √n."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values: need a 1-D array of at least 2 numbers, got shape {v.shape}")
    return float(np.std(v, ddof=1) / np.sqrt(v.size))


def paired_gap(ratios, exact_ratios) -> tuple[float, float]:
    """``(gap, se)``: the mean over images of ``ratios − exact_ratios`` (each of shape
    (n_images,), the per-image MSE/MMSE of one η on the same images and chain seeds) and its
    standard error (``standard_error`` of the per-image differences)."""
    a, b = np.asarray(ratios, dtype=float), np.asarray(exact_ratios, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"exact_ratios: shape {b.shape} differs from ratios' {a.shape}")
    return float(np.mean(a - b)), standard_error(a - b)


def _fmt_zeta(r) -> str:
    z = r.get("zeta")
    if z is None:
        return {"dps": "ours", "exact": "—"}.get(r["curve"], "1")
    return " / ".join(f"{z[k]:.3g}" for k in sorted(z, key=float))


def markdown_table(rows) -> str:
    """Rows of a run as markdown: MSE/MMSE per η (mean over images), and the largest
    |MSE/MMSE − exact's| over η (exact score on the same chains' noise: the latest exact row
    of the same task and σ_y before the row). Rows with
    per-image ``ratios`` of two or more images also get ± the standard error over images
    (``standard_error``), and the gap the η where it is largest, as the signed paired mean
    difference ± its standard error (``paired_gap``). Rows with a calibrated ζ (``zeta``)
    add a ζ column (ζ per η, in the order of the η columns)."""
    scored = [r for r in rows if "per_eta" in r]
    if not scored:
        raise ValueError("rows: no row with per-η scores (per_eta)")
    etas = [q["eta"] for q in scored[0]["per_eta"]]
    with_zeta = any("zeta" in r for r in rows)
    head = "| task | σ_y | guidance | " + ("ζ | " if with_zeta else "")
    head += " | ".join(f"η = {e:g}" for e in etas)
    ncol = 4 + len(etas) + with_zeta
    lines = [head + " | max gap to exact |", "| --- " * ncol + "|"]
    exact = {}  # (task, σ_y) -> the latest exact row before this one
    for r in rows:
        if r["curve"] == "exact":
            exact[(r["task"], r["sigma_y"])] = r
        ex = exact.get((r["task"], r["sigma_y"]))
        if "per_eta" not in r:
            cells = ["diverged"] * len(etas) + ["—"]
        else:
            per = r["per_eta"]
            se = all(len(q.get("ratios", ())) >= 2 for q in per)
            cells = [
                f"{q['ratio']:.2f}" + (f" ± {standard_error(q['ratios']):.2f}" if se else "")
                for q in per
            ]
            gap = "—"
            if ex is not None and r["curve"] != "exact":
                pairs = list(zip(per, ex["per_eta"], strict=True))
                k = max(
                    range(len(pairs)),
                    key=lambda i: abs(pairs[i][0]["ratio"] - pairs[i][1]["ratio"]),
                )
                a, b = pairs[k]
                if se and all(len(q.get("ratios", ())) == len(a["ratios"]) for q in ex["per_eta"]):
                    g, s = paired_gap(a["ratios"], b["ratios"])
                    gap = f"{g:+.2f} ± {s:.2f} (η = {a['eta']:g})"
                else:
                    gap = f"{abs(a['ratio'] - b['ratio']):.2f}"
            cells.append(gap)
        zcell = [_fmt_zeta(r)] if with_zeta else []
        lines.append(
            f"| {r['task']} | {r['sigma_y']:g} | {r['curve']} | " + " | ".join(zcell + cells) + " |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="deblur,sr2,sr4,inpaint", help="(default: all four)")
    p.add_argument("--sigma-y", type=_floats, default=(0.05, 0.2), help="(default: 0.05,0.2)")
    p.add_argument("--eta", type=_floats, default=(0.0, 0.5, 1.0), help="(default: 0,0.5,1)")
    p.add_argument("--n-images", type=int, default=2, help="test patches (default: 2)")
    p.add_argument("--samples-per-image", type=int, default=2, help="(default: 2)")
    p.add_argument("--steps", type=int, default=50, help="reverse steps (default: 50)")
    p.add_argument("--n-cg", type=int, default=5, help="CG iterations of cov (default: 5)")
    p.add_argument("--discrepancy", action="store_true",
                   help="also DPS and cov with --zeta discrepancy (default: off)")  # fmt: skip
    p.add_argument("--ref-samples", type=int, default=256,
                   help="exact posterior samples of the perception reference (default: 256)")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", default="guidance_exact.json", help="(default: guidance_exact.json)")
    p.add_argument("--table", default=None,
                   help="only print the markdown table of earlier --json files, comma-separated, "
                        "rows in that order (default: run)")  # fmt: skip
    p.add_argument("--curves", default=None,
                   help="with --table: print only these curves, comma-separated, e.g. "
                        "exact,cov,cov-disc (default: all)")  # fmt: skip
    args = p.parse_args(argv)
    if args.curves is not None and args.table is None:
        print("--curves: only with --table", file=sys.stderr)
        return 2
    if args.table is not None:
        rows = []
        for name in args.table.split(","):
            try:
                rows += json.loads(Path(name).read_text(encoding="utf-8"))["rows"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"--table: cannot read rows from {name!r}: {exc!r}", file=sys.stderr)
                return 2
        if args.curves is not None:
            keep = set(args.curves.split(","))
            rows = [r for r in rows if r["curve"] in keep]
        try:
            print(markdown_table(rows))
        except ValueError as exc:
            print(f"--table/--curves: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    curves = [("exact", None), ("dps", None), ("cov", 1.0), ("pigdm", 1.0)]
    if args.discrepancy:
        curves += [("dps", "discrepancy"), ("cov", "discrepancy")]
    table = []
    for task in args.tasks.split(","):
        for s in args.sigma_y:
            cfg = RestoreConfig(
                task=task, prior="gmm", sigma_y=s, etas=args.eta, guidance="dps", zeta="ours",
                n_images=args.n_images, samples_per_image=args.samples_per_image,
                steps=args.steps, n_cg=args.n_cg, out="/tmp/guidance_exact_unused",
                progress=False, ref_samples=args.ref_samples, grid_images=args.n_images, grid_samples=args.samples_per_image,
            )  # fmt: skip
            setup = make_setup(cfg)
            problems = [make_problem(setup, i) for i in range(args.n_images)]
            for curve, zeta in curves:
                t0 = time.perf_counter()
                name = curve if zeta != "discrepancy" else f"{curve}-disc"
                row = dict(task=task, sigma_y=s, curve=name)
                try:
                    if zeta == "discrepancy":
                        zeta, rep = calibrate_discrepancy(setup, curve)
                        row["zeta"] = {str(k): v for k, v in zeta.items()}
                        row["calibration_chains"] = rep["chains"]
                    smp = run_unit(problems, curve, setup, None, zeta=zeta)
                    row["per_eta"] = score_zeta(problems, smp, cfg.etas, setup.theta)
                    each = [score_zeta([pb], [x], cfg.etas, setup.theta) for pb, x in
                            zip(problems, smp, strict=True)]  # fmt: skip
                    for e, q in enumerate(row["per_eta"]):
                        q["ratios"] = [one[e]["ratio"] for one in each]
                except DivergedError as exc:
                    row["diverged"] = str(exc)
                row["seconds"] = round(time.perf_counter() - t0, 1)
                table.append(row)
                cells = (
                    " ".join(f"{r['eta']:g}:{r['ratio']:.3f}" for r in row["per_eta"])
                    if "per_eta" in row
                    else "diverged"
                )
                print(f"{task:8s} {s:<5g} {name:10s} MSE/MMSE {cells}  ({row['seconds']} s)",
                      flush=True)  # fmt: skip
                write_json(args.json, dict(args=vars(args), rows=table), sort_keys=True)
    by = {(r["task"], r["sigma_y"], r["curve"]): r for r in table}
    for (task, s, c), r in by.items():
        ex = by.get((task, s, "exact"))
        if c == "exact" or "per_eta" not in r or ex is None:
            continue
        gap = [
            abs(a["ratio"] - b["ratio"]) for a, b in zip(r["per_eta"], ex["per_eta"], strict=True)
        ]
        print(f"{task:8s} {s:<5g} {c:10s} max |MSE/MMSE - exact's| = {max(gap):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
