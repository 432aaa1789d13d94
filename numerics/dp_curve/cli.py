"""``python -m numerics.dp_curve``: the command line, and writing its outputs.

Writes ``dp_curve.json`` (the :func:`numerics.dp_curve.run` results; its fields are a
contract), ``dp_curve.png``/``.svg`` (Fig. 3 of the paper with D(P), floors and the shrinkage
curve) and ``trajectories.png`` (Fig. 2), each through a temporary file and a rename
(:func:`numerics.io.atomic_write`), so an interrupt never leaves a half-written file.

A bad command line or problem file ends with one line on stderr naming the option or the
field, exit status 2, and no output written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from numerics.chain import STARTS, VARIANCES
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
from numerics.dp_curve.figures import plot_dp_curve, plot_trajectories
from numerics.dp_curve.problem import DEFAULT_PROBLEM, Problem, ProblemError, load_problem
from numerics.dp_curve.run import DEFAULT_ETAS, run
from numerics.io import atomic_write, write_json

__all__ = ["PROG", "build_parser", "main", "write_outputs"]

PROG = "python -m numerics.dp_curve"

#: Largest --zeta. The DPS term moves a sample by about ``zeta * norm(A) / sqrt(alpha_bar_t)`` per step
#: (the reference form's gradient has a unit-norm residual), so zeta = 1e6 already throws every
#: sample about 1e6 problem scales per step; a larger weight is a typo (1e308 overflows).
MAX_ZETA = 1e6

#: The keys of a :func:`numerics.dp_curve.run` result that the figures read.
RESULT_KEYS = ("mmse", "posterior_mean", "theory", "runs", "shrinkage", "floors", "settings")


def build_parser() -> ArgumentParser:
    """The command line of ``python -m numerics.dp_curve`` (errors raise :class:`UsageError`)."""
    p = ArgumentParser(
        prog=PROG,
        description="Theory vs empirical distortion-perception curves of the eta-scaled reverse diffusion "
        "on an exact Gaussian-mixture posterior (the paper's Section III-D, with the optimality gap measured).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--problem",
        type=Path,
        default=None,
        help="JSON problem file {prior: {weights, means, covs}, A, sigma_y, y}; default: the paper's "
        "2-component 2-D mixture, A = I, sigma_y = 0.5, y = (0, 0) (bimodal posterior)",
    )
    p.add_argument(
        "--eta",
        type=parse_etas,
        default=list(DEFAULT_ETAS),
        help="comma-separated variance scales in [0, 1] (default 0,0.1,...,1)",
    )
    p.add_argument(
        "--samples",
        type=positive_int,
        default=1000,
        help="samples per eta, and size of every exact reference set (W2 and its floor)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=1000,
        help="diffusion steps T (linear beta 1e-4..0.02)",
    )
    p.add_argument(
        "--sampler",
        choices=["numpy", "torch"],
        default="numpy",
        help="float64 numpy ground-truth sampler, or the diffusion/ torch sampler",
    )
    p.add_argument(
        "--guidance",
        choices=["exact", "dps"],
        default="exact",
        help="exact conditional score (posterior mixture), or DPS over the exact prior score",
    )
    p.add_argument(
        "--zeta",
        type=_zeta,
        default=1.0,
        help=f"DPS step weight in [0, {MAX_ZETA:g}] (with --guidance dps)",
    )
    p.add_argument(
        "--dps-form",
        choices=["reference", "likelihood"],
        default="reference",
        help="DPS step: zeta*grad||y-A x0|| (reference code) or zeta*grad||y-A x0||^2/(2 sigma_y^2)",
    )
    p.add_argument(
        "--variance",
        choices=list(VARIANCES),
        default="beta_tilde",
        help="reverse-step variance: DDPM's beta or beta_tilde, or the exact (second-order Tweedie) "
        "covariance, i.e. the discretisation-free curve",
    )
    p.add_argument(
        "--start",
        choices=list(STARTS),
        default="standard",
        help="x_T ~ N(0, I), or the exact law of x_T | y scaled by eta (Theorem 1)",
    )
    p.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="torch device (--sampler torch)"
    )
    p.add_argument(
        "--seed", type=seed_int, default=0, help="seed; the same seed gives the same JSON"
    )
    p.add_argument("--out", type=Path, default=Path("out/dp_curve"), help="output directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv=None) -> int:
    """Run the command; returns the exit status (0, or 2 after one line on stderr)."""
    try:
        args = build_parser().parse_args(argv)
        problem = _load(args.problem)
        _check_device(args.sampler, args.device)
        out = check_out_dir(args.out, "--out")
        result = run(
            problem,
            etas=args.eta,
            n=args.samples,
            steps=args.steps,
            sampler=args.sampler,
            guidance=args.guidance,
            zeta=args.zeta,
            dps_form=args.dps_form,
            variance=args.variance,
            start=args.start,
            device=args.device,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except (ValueError, FloatingPointError) as exc:  # UsageError and ProblemError included
        return fail(PROG, exc)
    try:
        write_outputs(result, problem, out)
    except OSError as exc:
        return fail(PROG, UsageError(f"--out {out}: cannot write: {exc.strerror or exc}"))
    mmse = result["mmse"]
    print(
        f"MMSE = {mmse:.5f}   W2 floor = {result['floors']['w2']:.4f}   (n = {args.samples} per eta)"
    )
    print(f"{'eta':>5} {'MSE/MMSE':>9} {'±sd':>7} {'W2':>7} {'D(W2)/MMSE':>10} {'excess/MMSE':>11}")
    for r in result["runs"]:
        print(
            f"{r['eta']:5.2f} {r['mse'] / mmse:9.4f} {r['mse_sd'] / mmse:7.4f} {r['w2']:7.4f} "
            f"{r['D_at_w2'] / mmse:10.4f} {r['excess_mse'] / mmse:11.4f}"
        )
    print(f"wrote {out / 'dp_curve.json'}, dp_curve.png, dp_curve.svg, trajectories.png")
    return 0


def _zeta(text: str) -> float:
    """--zeta: a finite number in [0, MAX_ZETA]."""
    v = nonneg_float(text)
    if v > MAX_ZETA:
        raise argparse.ArgumentTypeError(f"expected a number in [0, {MAX_ZETA:g}], got {text!r}")
    return v


def _load(path) -> Problem:
    if path is None:
        return load_problem(DEFAULT_PROBLEM)
    try:
        return load_problem(path)
    except ProblemError as exc:
        raise UsageError(f"--problem {path}: {exc}") from exc


def _check_device(sampler: str, device: str) -> None:
    if device != "cuda":
        return
    if sampler == "numpy":
        raise UsageError("--device cuda needs --sampler torch")
    from numerics.dp_curve._torch_bridge import cuda_available  # lazy: the one door to torch

    if not cuda_available():
        raise UsageError("--device cuda: no CUDA device is available here")


def write_outputs(result: dict, problem: Problem, out: Path) -> None:
    """Write ``dp_curve.json``, ``dp_curve.png``/``.svg`` and ``trajectories.png`` into ``out``.

    Every file goes through :func:`numerics.io.atomic_write` (temporary file + rename). The
    private ``_trajectories`` entry of ``result`` is drawn, not written to the JSON (it is
    removed from ``result``). ``out`` is made if missing.

    Raises
    ------
    TypeError, ValueError
        Naming ``result`` (not a dict from :func:`numerics.dp_curve.run`), ``problem`` (not a
        :class:`Problem`) or ``out`` (not a writable folder), before anything is written.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, dict):
        raise TypeError(
            f"result: expected the dict of numerics.dp_curve.run, got {type(result).__name__}"
        )
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f"result: expected the dict of numerics.dp_curve.run, missing {missing}")
    if not isinstance(problem, Problem):
        raise TypeError(
            f"problem: expected a numerics.dp_curve.Problem, got {type(problem).__name__}"
        )
    out = check_out_dir(out, "out", create=True)

    traj = result.pop("_trajectories", None)
    write_json(out / "dp_curve.json", result, indent=1)
    fig = plot_dp_curve(result)
    atomic_write(out / "dp_curve.png", lambda p: fig.savefig(p, dpi=130))
    atomic_write(out / "dp_curve.svg", lambda p: fig.savefig(p))
    plt.close(fig)
    if traj is not None:
        fig = plot_trajectories({**result, "_trajectories": traj}, problem)
        atomic_write(out / "trajectories.png", lambda p: fig.savefig(p, dpi=120))
        plt.close(fig)
