"""Command line of ``python -m diffusion.mcgdiff_benchmark``: parse once into a
:class:`~.config.BenchmarkConfig`, then :func:`~.run.run`.

A bad command line, or an ``--out`` that cannot be written or holds a ``results.json`` made
with other settings, ends with one line on stderr naming the option and exit status 2
(:func:`numerics.cli.fail`), before any work is done.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from diffusion.experiments.mcgdiff.config import DEFAULT_ETAS, BenchmarkConfig
from diffusion.experiments.mcgdiff.guidances import GUIDANCES
from diffusion.experiments.mcgdiff.run import PROG, ResumeError, run
from numerics.cli import (
    ArgumentParser,
    UsageError,
    check_out_dir,
    fail,
    nonneg_float,
    parse_etas,
    positive_int,
    seed_int,
)

__all__ = ["build_parser", "config_from_args", "main"]

#: config field -> the option that sets it (for one-line errors)
OPTION_OF = {
    "dims": "--d/--dy",
    "guidances": "--guidances",
    "n_problems": "--n-problems",
    "n_samples": "--n-samples",
    "etas": "--etas",
    "steps": "--steps",
    "variance": "--variance",
    "zeta_reference": "--zeta-reference",
    "zeta_likelihood": "--zeta-likelihood",
    "zeta_cov": "--zeta-cov",
    "zeta_pigdm": "--zeta-pigdm",
    "n_cg": "--n-cg",
    "n_projections": "--n-projections",
    "floor_repeats": "--floor-repeats",
    "dtype": "--dtype",
    "seed": "--seed",
    "device": "--device",
}


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one value")
    if len(set(vals)) != len(vals):
        raise argparse.ArgumentTypeError(f"repeated values in {text!r}")
    return vals


def _names(text: str) -> list[str]:
    vals = [v for v in text.replace(" ", "").split(",") if v != ""]
    bad = [v for v in vals if v not in GUIDANCES]
    if not vals or bad:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names from {','.join(GUIDANCES)}, got {text!r}"
        )
    return vals


def build_parser() -> ArgumentParser:
    """The command's parser (errors raise :class:`numerics.cli.UsageError`)."""
    p = ArgumentParser(
        prog=PROG,
        description="The MCGDiff Gaussian-mixture benchmark (Cardoso et al., ICLR 2024): sliced "
        "W2 to exact posterior samples at eta = 1 and the eta-curve (MSE/MMSE, W2, excess over "
        "D(P)) of the exact score, DPS (both forms), the covariance-aware guidance and PiGDM.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a("--d", type=_int_list, default="8,80,800", help="dimensions d (even), comma-separated")
    a("--dy", type=_int_list, default="1,2,4", help="measurement dimensions d_y, comma-separated")
    a("--n-problems", type=positive_int, default=20, help="random problems per (d, d_y)")
    a("--n-samples", type=positive_int, default=200, help="chains per eta and guidance")
    a(
        "--etas",
        type=parse_etas,
        default=",".join(f"{e:g}" for e in DEFAULT_ETAS),
        help="eta values",
    )
    a("--steps", type=positive_int, default=1000, help="reverse steps (of the T = 1000 schedule)")
    a("--guidances", type=_names, default=",".join(GUIDANCES), help="guidances to run")
    a("--variance", choices=("beta_tilde", "beta"), default="beta_tilde", help="step variance")
    a("--zeta-reference", type=nonneg_float, default=1.0, help="zeta of DPS, reference form")
    a("--zeta-likelihood", type=nonneg_float, default=1.0, help="zeta of DPS, likelihood form")
    a("--zeta-cov", type=nonneg_float, default=1.0, help="zeta of the covariance-aware guidance")
    a("--zeta-pigdm", type=nonneg_float, default=1.0, help="zeta of PiGDM")
    a(
        "--n-cg",
        type=positive_int,
        default=10,
        help="CG iterations of the covariance-aware guidance",
    )
    a("--n-projections", type=positive_int, default=200, help="directions of the sliced W2")
    a("--floor-repeats", type=positive_int, default=3, help="exact-vs-exact pairs per floor (>= 2)")
    a("--dtype", choices=("float32", "float64"), default="float32", help="chain dtype")
    a("--seed", type=seed_int, default=0, help="seed of every problem, reference set and chain")
    a("--device", default="cpu", help="torch device of the chains (e.g. cuda)")
    a("--out", type=Path, default=Path("out/mcgdiff"), help="folder of results.json and report.md")
    a("--threads", type=positive_int, default=1, help="torch CPU threads")
    a("--no-progress", action="store_true", help="hide the progress bar")
    a(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite report.md from the results.json under --out",
    )
    return p


def config_from_args(args) -> BenchmarkConfig:
    """The :class:`BenchmarkConfig` of parsed arguments; UsageError names the bad option."""
    d_list = args.d if isinstance(args.d, list) else _int_list(args.d)
    dy_list = args.dy if isinstance(args.dy, list) else _int_list(args.dy)
    etas = args.etas if isinstance(args.etas, list) else parse_etas(args.etas)
    names = args.guidances if isinstance(args.guidances, list) else _names(args.guidances)
    try:
        return BenchmarkConfig(
            dims=tuple((d, dy) for d in d_list for dy in dy_list),
            guidances=tuple(names),
            n_problems=args.n_problems,
            n_samples=args.n_samples,
            etas=tuple(etas),
            steps=args.steps,
            variance=args.variance,
            zeta_reference=args.zeta_reference,
            zeta_likelihood=args.zeta_likelihood,
            zeta_cov=args.zeta_cov,
            zeta_pigdm=args.zeta_pigdm,
            n_cg=args.n_cg,
            n_projections=args.n_projections,
            floor_repeats=args.floor_repeats,
            dtype=args.dtype,
            seed=args.seed,
            device=args.device,
        )
    except ValueError as exc:
        field, _, rest = str(exc).partition(":")
        raise UsageError(f"{OPTION_OF.get(field, field)}:{rest}") from exc


def main(argv=None) -> int:
    """Run the command; returns the exit status (2 for a bad command line, one line on stderr)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        if args.out.exists() and not args.out.is_dir():
            raise UsageError(f"--out: {args.out} exists and is not a directory")
        if args.report_only and not (args.out / "results.json").is_file():
            raise UsageError(f"--out: no results.json in {args.out} to report (--report-only)")
        check_out_dir(args.out, "--out", create=True)
    except UsageError as exc:
        return fail(parser.prog, exc)
    torch.set_num_threads(args.threads)
    try:
        res = run(cfg, args.out, progress=not args.no_progress, report_only=args.report_only)
    except ResumeError as exc:
        return fail(parser.prog, UsageError(f"--out: {exc}"))
    n_ok = sum(u["status"] == "ok" for u in res["units"].values())
    print(
        f"{PROG}: {n_ok} units in {args.out / 'results.json'}; summary in {args.out / 'report.md'}"
    )
    return 0
