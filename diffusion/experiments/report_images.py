r"""The tables and the convergence figure of ``docs/images.md``, from the runs' ``results.json``.

``python -m diffusion.report_images RUNS [--figure FILE]`` reads the ``results.json`` of every
run named below (``RUNS/<name>/results.json`` or ``RUNS/<name>.json``), prints the Markdown
tables of the results page, and draws the convergence figure. ``docs/figures/images/run_all.sh``
holds the commands that made every run; ``docs/figures/images/runs/`` holds their
``results.json``, so the page can be rebuilt without re-running (``bash
docs/figures/images/run_all.sh`` re-runs everything: about 2.5 hours on 2 CPU cores).

Run names: ``exact_<variance>_<task>_<σ_y>`` (exact guidance, 6 test patches × 8 samples,
η = 0, 0.2, …, 1), ``exactvar_<task>_<σ_y>`` (``--variance exact``, η = 1, 2 patches × 16),
``dps_<lik|paper1|ours>_<task>_<σ_y>`` (DPS, 4 patches × 4), ``conv_<fh|lin>_<variance>_<T>``
(schedules, sr2 at σ_y = 0.05, 4 patches × 8) and ``tune_<task>_0.05/zeta_table.json``.
A missing run prints as "(missing)"; nothing is computed here beyond reading and arranging.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diffusion.experiments._report_runs import (  # noqa: F401 - re-exported
    CONVERGENCE,
    CONVERGENCE_128,
    _runs_folder,
    convergence_figure,
    load_run,
)
from numerics.cli import ArgumentParser, UsageError, check_out_file, fail

__all__ = [
    "SIGMAS", "TASKS", "build_parser", "convergence_figure", "learned_tables", "load_run", "main",
    "tables",
]  # fmt: skip

TASKS = ("deblur", "sr2", "sr4", "inpaint")
SIGMAS = ("0.05", "0.2")
ETAS = ("0", "0.2", "0.4", "0.6", "0.8", "1")



def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(cols) -> list[str]:
    return [_row(cols), _row(["---"] * len(cols))]


def _eta_cols() -> list[str]:
    return [f"η = {e}" for e in ETAS]


def table_exact_variance(runs: Path) -> list[str]:
    out = [
        "| task | σ_y | patches × samples | components ≥ 1e-3 | MSE(1)/MMSE ± sd | (ratio − 2)/sd |",
        "|---|---|---|---|---|---|",
    ]
    for t in TASKS:
        for s in SIGMAS:
            r = load_run(runs, f"exactvar_{t}_{s}")
            if r is None:
                out.append(_row([t, s, "(missing)", "", "", ""]))
                continue
            x = r["curves"]["exact"]["per_eta"][0]
            sd = x.get("ratio_sd_exact", x["ratio_sd"])
            c = r["config"]
            out.append(
                _row(
                    [
                        t,
                        s,
                        f"{c['n_images']} × {c['samples_per_image']}",
                        f"{r['posterior']['k_eff_1e3_mean']:.1f}",
                        f"{x['ratio']:.3f} ± {sd:.3f}",
                        f"{(x['ratio'] - 2) / sd:+.2f}",
                    ]
                )  # fmt: skip
            )
    return out


def table_rule(runs: Path, variance: str) -> list[str]:
    out = _head(["task", "σ_y", "MMSE", "components ≥ 1e-3", *_eta_cols()])
    for t in TASKS:
        for s in SIGMAS:
            r = load_run(runs, f"exact_{variance}_{t}_{s}")
            if r is None:
                out.append(_row([t, s, "(missing)"]))
                continue
            pe = r["curves"]["exact"]["per_eta"]
            cells = [
                f"{x['ratio']:.3f} ± {x.get('ratio_sd_exact', x['ratio_sd']):.3f} ({x['pred_ratio']:.3f})"
                for x in pe
            ]
            post = r["posterior"]
            out.append(_row([t, s, f"{post['mmse']:.3f}", f"{post['k_eff_1e3_mean']:.1f}", *cells]))
    return out


def table_unimodal(runs: Path) -> list[str]:
    out = _head(["variance", "task", "σ_y", "patches", *_eta_cols()])
    for v in ("beta_tilde", "beta"):
        for t in TASKS:
            for s in SIGMAS:
                r = load_run(runs, f"exact_{v}_{t}_{s}")
                if r is None or "n_unimodal" not in r["curves"]["exact"]["per_eta"][0]:
                    continue
                pe = r["curves"]["exact"]["per_eta"]
                cells = [
                    f"{x['ratio_unimodal']:.3f} ± "
                    f"{x.get('ratio_unimodal_sd_exact', x['ratio_unimodal_sd']):.3f} "
                    f"({x['pred_ratio_unimodal']:.3f})"
                    for x in pe
                ]
                out.append(_row([v, t, s, pe[0]["n_unimodal"], *cells]))
    return out


def table_dps(runs: Path) -> list[str]:
    out = _head(["task", "σ_y", "guidance", "status", *_eta_cols()])
    labels = (
        ("dps_lik", "DPS likelihood, ζ = 1"),
        ("dps_paper1", "DPS reference, paper_table1"),
        ("dps_ours", "DPS reference, ours"),
    )
    for t in TASKS:
        for s in SIGMAS:
            ref = None
            for name, lab in labels:
                r = load_run(runs, f"{name}_{t}_{s}")
                if r is None:
                    out.append(_row([t, s, lab, "(missing)", *[""] * len(ETAS)]))
                    continue
                if r["status"] == "diverged":
                    k = r["divergence"].split("reverse step k=")[1].split(" ")[0]
                    out.append(_row([t, s, lab, f"**diverged** at k = {k}", *["—"] * len(ETAS)]))
                    continue
                pe = r["curves"]["dps"]["per_eta"]
                cells = [f"{x['ratio']:.2f} / {x['excess_oracle_rel']:+.2f}" for x in pe]
                out.append(_row([t, s, lab, "stable", *cells]))
                if "exact" in r["curves"]:
                    ref = r
            if ref is not None:
                pe = ref["curves"]["exact"]["per_eta"]
                cells = [f"{x['ratio']:.2f} / {x['excess_oracle_rel']:+.2f}" for x in pe]
                out.append(_row([t, s, "exact score, same noise", "—", *cells]))
    return out


def _beta_tilde_runs(runs: Path):
    """(task, σ_y, results) of every committed exact-score β̃ run, in table order."""
    for t in TASKS:
        for s in SIGMAS:
            r = load_run(runs, f"exact_beta_tilde_{t}_{s}")
            if r is not None:
                yield t, s, r


def table_perception(runs: Path) -> list[str]:
    out = _head(["task", "σ_y", "floor / √MMSE", *_eta_cols()])
    for t, s, r in _beta_tilde_runs(runs):
        pe = r["curves"]["exact"]["per_eta"]
        root = np.sqrt(pe[0]["mmse"])
        cells = [f"{x['perception'] / root:.2f} ({x['excess_oracle_rel']:+.3f})" for x in pe]
        out.append(_row([t, s, f"{pe[0]['perception_floor'] / root:.2f}", *cells]))
    return out


def table_dataset(runs: Path) -> list[str]:
    out = _head(["task", "σ_y", "exact posterior", "clean", *_eta_cols()])
    for t, s, r in _beta_tilde_runs(runs):
        d = r["dataset_reference"]
        pe = r["curves"]["exact"]["per_eta"]
        out.append(
            _row(
                [
                    t,
                    s,
                    f"{d['fd_exact_posterior']:.1f} / {d['sw2_exact_posterior']:.2f}",
                    f"{d['fd_clean']:.1f} / {d['sw2_clean']:.2f}",
                    *[f"{x['fd']:.1f} / {x['sw2']:.2f}" for x in pe],
                ]
            )  # fmt: skip
        )
    return out


def table_distortion(runs: Path) -> list[str]:
    out = _head(["task", "σ_y", *_eta_cols()])
    for t, s, r in _beta_tilde_runs(runs):
        pe = r["curves"]["exact"]["per_eta"]
        out.append(_row([t, s, *[f"{x['psnr']:.2f} / {x['ssim']:.3f}" for x in pe]]))
    return out


def _first_beta(schedule_kind: str, T: int) -> float:
    from numerics.schedule import linear_schedule, respace

    if schedule_kind == "fixed-horizon":
        return float(linear_schedule(T, fixed_horizon=True).beta[1])
    base = linear_schedule(1000)
    return float((respace(base, T) if T < 1000 else base).beta[1])


def table_convergence(runs: Path) -> list[str]:
    out = _head(["schedule", "variance", "T", "β_1", "η = 1 (prediction)", "η = 0 (prediction)"])
    for kind, v, T, name in CONVERGENCE:
        r = load_run(runs, name)
        if r is None:
            out.append(_row([kind, v, T, "(missing)", "", ""]))
            continue
        pe = {x["eta"]: x for x in r["curves"]["exact"]["per_eta"]}
        one, zero = pe[1.0], pe[0.0]
        sd = one.get("ratio_sd_exact", one["ratio_sd"])
        out.append(
            _row(
                [
                    kind,
                    v,
                    T,
                    f"{_first_beta(kind, T):.2g}",
                    f"{one['ratio']:.3f} ± {sd:.3f} ({one['pred_ratio']:.3f})",
                    f"{zero['ratio']:.3f} ({zero['pred_ratio']:.3f})",
                ]
            )  # fmt: skip
        )
    return out


def table_convergence_128(runs: Path) -> list[str]:
    out = _head(["variance", "T", "β_1", "all patches: η = 1 (prediction)",
                 "one-component posteriors: η = 1 (prediction)"])  # fmt: skip
    for _kind, v, T, name in CONVERGENCE_128:
        r = load_run(runs, name)
        if r is None:
            out.append(_row([v, T, "(missing)", "", ""]))
            continue
        x = {e["eta"]: e for e in r["curves"]["exact"]["per_eta"]}[1.0]
        uni = "—"
        if "n_unimodal" in x:
            uni = (
                f"{x['ratio_unimodal']:.3f} ± {x['ratio_unimodal_sd_exact']:.3f} "
                f"({x['pred_ratio_unimodal']:.3f}), {x['n_unimodal']} patch(es)"
            )
        out.append(
            _row(
                [
                    v,
                    T,
                    f"{_first_beta('fixed-horizon', T):.2g}",
                    f"{x['ratio']:.3f} ± {x['ratio_sd_exact']:.3f} ({x['pred_ratio']:.3f})",
                    uni,
                ]
            )  # fmt: skip
        )
    return out


def table_zeta(runs: Path) -> list[str]:
    out = _head(["task", *_eta_cols()])
    for t in TASKS:
        p = runs / f"tune_{t}_0.05" / "zeta_table.json"
        if not p.exists():
            p = runs / f"tune_{t}_0.05.json"
        if not p.exists():
            out.append(_row([t, "(missing)"]))
            continue
        chosen = json.loads(p.read_text())["chosen"]
        out.append(_row([t, *[f"{chosen[k]:g}" for k in sorted(chosen, key=float)]]))
    return out




#: Learned-prior runs (docs/learned.md): name -> label.
LEARNED_RUNS = (
    ("dps_digits16_deblur_0.05", "digits16 network, DPS"),
    ("dps_digits16_deblur_0.2", "digits16 network, DPS"),
    ("gmm_digits_deblur_0.05", "digits GMM, exact score"),
    ("gmm_digits_deblur_0.2", "digits GMM, exact score"),
    ("dps_digits16_sr4_0.2", "digits16 network, DPS"),
    ("dps_digits16_inpaint_0.2", "digits16 network, DPS"),
    ("dps_digits16_sr2_0.2", "digits16 network, DPS"),
    # run on an H200 (benchmarks/gpu_session.sh): 11 eta, DiffPIR as the baseline
    ("dps_digits16_sr2_0.05", "digits16 network, DPS"),
    ("dps_digits16_sr4_0.05", "digits16 network, DPS"),
    ("dps_digits16_inpaint_0.05", "digits16 network, DPS"),
    ("dps_digits16_deblur_0.05_gpu", "digits16 network, DPS"),
    ("paper_table1_digits16_deblur_0.05", "digits16 network, DPS, the paper's zeta"),
    ("paper_table2_digits16_deblur_0.05", "digits16 network, DPS, the paper's zeta"),
    ("paper_table3_digits16_deblur_0.05", "digits16 network, DPS, the paper's zeta"),
    ("dps_patches32_deblur_0.05", "patches32 network, DPS"),
    ("dps_patches32_deblur_0.2", "patches32 network, DPS"),
    # CPU, 8 patches x 2 samples, 4 eta
    ("dps_patches32_sr2_0.05", "patches32 network, DPS"),
    ("dps_patches32_sr2_0.2", "patches32 network, DPS"),
    ("dps_patches32_sr4_0.05", "patches32 network, DPS"),
    ("dps_patches32_sr4_0.2", "patches32 network, DPS"),
    ("dps_patches32_inpaint_0.05", "patches32 network, DPS"),
    ("dps_patches32_inpaint_0.2", "patches32 network, DPS"),
)


def table_learned(runs: Path, name: str) -> list[str]:
    """One run's η-curve and baselines: MSE/px, PSNR, SSIM, classifier FD, KID, accuracy.

    A run without the digit classifier's metrics (a photograph-patch prior) gets pixel-space
    FD and sliced W2 in their place.
    """
    r = load_run(runs, name)
    if r is not None and not any("cfd" in x for v in r["curves"].values() for x in v["per_eta"]):
        return _table_learned_pixels(r)
    out = _head(["method", "MSE / px", "PSNR", "SSIM", "FD (classifier)", "KID", "accuracy"])
    if r is None:
        return [*out, _row(["(missing)", *[""] * 6])]
    d = r["config"]["patch_size"] ** 2

    def cells(x):
        cfd = f"{x['cfd']:.3f}" if "cfd" in x else "—"
        return [f"{x['mse'] / d:.4f}", f"{x['psnr']:.2f}", f"{x['ssim']:.3f}", cfd,
                f"{x['kid']:.4f}", f"{x['accuracy']:.3f}"]  # fmt: skip

    def ref_cells(ref, suffix):
        if f"kid{suffix}" not in ref:
            return None
        cfd = f"{ref[f'cfd{suffix}']:.3f}" if f"cfd{suffix}" in ref else "—"
        acc = f"{ref[f'accuracy{suffix}']:.3f}" if f"accuracy{suffix}" in ref else "—"
        return [cfd, f"{ref[f'kid{suffix}']:.4f}", acc]

    refs = (
        ("_truth", "the clean test digits, each × {M} (a perfect restorer)"),
        ("_exact_posterior", "exact posterior samples of the GMM, {M} per digit"),
        ("_clean", "{n_clean} other clean digits (validation)"),
    )
    return out + _method_rows(r, cells) + _reference_rows(r, refs, ref_cells)


def _reference_rows(r: dict, refs, ref_cells) -> list[str]:
    """Rows of the run's reference sets: ``refs`` are (key suffix, label with ``{M}`` and
    ``{n_clean}``); ``ref_cells(ref, suffix)`` formats the perception cells or is None."""
    ref = r["dataset_reference"]
    fill = dict(M=r["config"]["samples_per_image"], n_clean=ref.get("n_clean", ""))
    out = []
    for suffix, lab in refs:
        c = ref_cells(ref, suffix)
        if c is not None:
            out.append(_row([lab.format(**fill), "—", "—", "—", *c]))
    return out


def _method_rows(r: dict, cells) -> list[str]:
    """Table rows of the η-curves, then DiffPIR's and PSCGAN's points; ``cells(x)`` formats one."""
    out = []
    for curve, v in r["curves"].items():
        lab = "ours, DPS" if curve == "dps" else "ours, exact score"
        for x in v["per_eta"]:
            out.append(_row([f"{lab}, η = {x['eta']:g}", *cells(x)]))
    for x in r.get("baselines", {}).get("diffpir", []):
        out.append(_row([f"DiffPIR, ζ = {x['zeta']:g}, λ = {x['lam']:g}", *cells(x)]))
    for x in r.get("baselines", {}).get("pscgan", []):
        out.append(_row([f"PSCGAN, N = {x['n_avg']}, σ_z = {x['sigma_z']:g}", *cells(x)]))
    return out


def _table_learned_pixels(r: dict) -> list[str]:
    """:func:`table_learned` for a run with pixel-space perception metrics only."""
    out = _head(["method", "MSE / px", "PSNR", "SSIM", "FD (pixels)", "sliced W2"])
    d = r["config"]["patch_size"] ** 2

    def cells(x):
        return [f"{x['mse'] / d:.4f}", f"{x['psnr']:.2f}", f"{x['ssim']:.3f}", f"{x['fd']:.1f}",
                f"{x['sw2']:.3f}"]  # fmt: skip

    def ref_cells(ref, suffix):
        if f"fd{suffix}" not in ref:
            return None
        return [f"{ref[f'fd{suffix}']:.1f}", f"{ref[f'sw2{suffix}']:.3f}"]

    refs = (
        ("_truth", "the clean test patches, each × {M} (a perfect restorer)"),
        ("_clean", "{n_clean} other clean patches"),
    )
    return out + _method_rows(r, cells) + _reference_rows(r, refs, ref_cells)


def tables(runs: Path) -> dict[str, list[str]]:
    """Every table of the page, as Markdown lines, keyed by name."""
    runs = _runs_folder(runs)
    return {
        "exact_variance": table_exact_variance(runs),
        "beta_tilde": table_rule(runs, "beta_tilde"),
        "beta": table_rule(runs, "beta"),
        "unimodal": table_unimodal(runs),
        "convergence": table_convergence(runs),
        "convergence_128": table_convergence_128(runs),
        "zeta": table_zeta(runs),
        "dps": table_dps(runs),
        "perception": table_perception(runs),
        "dataset": table_dataset(runs),
        "distortion": table_distortion(runs),
    }


def learned_tables(runs: Path) -> dict[str, list[str]]:
    """The tables of docs/learned.md (``--learned``), keyed by run name."""
    runs = _runs_folder(runs)
    return {n: table_learned(runs, n) for n, _ in LEARNED_RUNS}


PROG = "python -m diffusion.report_images"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG,
                                description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.add_argument("runs", type=Path, help="folder of run folders (or of <name>.json files)")
    p.add_argument("--figure", type=Path, default=None,
                   help="write the convergence figure here (None: no figure)")  # fmt: skip
    p.add_argument("--only", default=None, help="comma-separated table names (None: all)")
    p.add_argument("--learned", action="store_true", help="the learned-prior tables instead")
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if not args.runs.is_dir():  # = _runs_folder's check, as a usage error
            raise UsageError(f"runs: {args.runs} is not a folder")
        if args.figure is not None:
            check_out_file(args.figure, "--figure")
        tabs = learned_tables(args.runs) if args.learned else tables(args.runs)
        names = list(tabs) if args.only is None else args.only.split(",")
        unknown = [n for n in names if n not in tabs]
        if unknown:
            raise UsageError(f"--only: unknown table {unknown[0]!r}; expected some of {list(tabs)}")
    except UsageError as exc:
        return fail(PROG, exc)
    for n in names:
        print(f"<!-- table: {n} -->")
        print("\n".join(tabs[n]))
        print()
    if args.figure is not None and not args.learned:
        convergence_figure(args.runs, args.figure)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
