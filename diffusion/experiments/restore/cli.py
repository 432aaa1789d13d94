"""``python -m diffusion.restore``: the command line (:func:`build_parser`) and :func:`main`.

A bad command line ends with one line on stderr that names the option and exit status 2;
a diverging chain with one line naming the reverse step and exit status 3.
"""

from __future__ import annotations

import argparse
import sys

from diffusion.experiments.restore.chains import DivergedError
from diffusion.experiments.restore.config import config_from_args
from diffusion.experiments.restore.priors import PRIORS
from diffusion.experiments.restore.run import run
from diffusion.experiments.restore.tasks import TASKS
from diffusion.experiments.restore.tune import tune_zeta
from numerics.cli import (
    ArgumentParser,
    UsageError,
    fail,
    parse_etas,
    positive_float,
    positive_int,
    seed_int,
)

__all__ = ["PROG", "build_parser", "main"]

PROG = "python -m diffusion.restore"
DESCRIPTION = "η-sweeps on real image patches with exact ground truth: python -m diffusion.restore."


def _floats(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers (checked by the configuration)."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from exc


def _names(text: str) -> tuple[str, ...]:
    return tuple(b for b in text.split(",") if b)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m diffusion.restore`` (errors raise
    :class:`~numerics.cli.UsageError`)."""
    p = ArgumentParser(prog=PROG, description=DESCRIPTION)
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--prior", default="gmm", help=f"one of {sorted(PRIORS)} (default gmm)")
    p.add_argument("--sigma-y", type=positive_float, default=0.05, help="noise sd in [-1, 1] units")
    p.add_argument(
        "--eta", type=parse_etas, default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", help="η list"
    )
    p.add_argument("--guidance", choices=("dps", "exact"), default="exact")
    p.add_argument("--variance", choices=("beta", "beta_tilde", "exact"), default="beta_tilde")
    z = p.add_mutually_exclusive_group()
    z.add_argument("--zeta", default=None, help="DPS step: number, preset name or 'ours'")
    z.add_argument("--zeta-table", default=None, help="JSON file {eta: zeta}")
    p.add_argument("--dps-form", choices=("reference", "likelihood"), default="reference")
    p.add_argument("--n-images", type=positive_int, default=8)
    p.add_argument("--samples-per-image", type=positive_int, default=8)
    p.add_argument("--steps", type=positive_int, default=1000)
    p.add_argument("--schedule", choices=("linear", "fixed-horizon"), default="linear")
    p.add_argument("--start", choices=("standard", "exact"), default="standard")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--image-seed", type=seed_int, default=0, help="which test patches")
    p.add_argument("--split", choices=("test", "fit"), default="test")
    p.add_argument("--patch-size", type=positive_int, default=None, help="default: the prior's")
    p.add_argument("--weights", default=None, help="mixture .npz (default: the shipped one)")
    p.add_argument(
        "--ref-samples", type=positive_int, default=256, help="exact posterior samples per image"
    )
    p.add_argument(
        "--pool-size", type=positive_int, default=2000, help="clean test patches (dataset level)"
    )
    p.add_argument("--image-batch", type=positive_int, default=1, help="images per sampler batch")
    p.add_argument("--no-exact-reference", action="store_true")
    p.add_argument(
        "--max-abs", type=positive_float, default=1e3, help="divergence threshold on |x|"
    )
    p.add_argument(
        "--tune-zeta", type=_floats, default=None, help="ζ grid: pick ζ(η) on --split fit"
    )
    p.add_argument("--grid-images", type=positive_int, default=4)
    p.add_argument("--grid-samples", type=positive_int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--threads", type=positive_int, default=None, help="torch CPU threads (default torch's)"
    )
    p.add_argument(
        "--baselines",
        type=_names,
        default=(),
        help="comma-separated: diffpir, pscgan (digits deblur only)",
    )
    p.add_argument(
        "--diffpir-zeta", type=parse_etas, default="0,0.3,0.6,1", help="DiffPIR ζ values (a curve)"
    )
    p.add_argument(
        "--diffpir-lambda", type=positive_float, default=1.75,
        help="DiffPIR λ in ρ_t = λ σ_y² / σ̄_t², σ_y in [-1, 1] units (1.75 = the reference code's 7)",
    )  # fmt: skip
    p.add_argument("--diffpir-steps", type=positive_int, default=100)
    return p


def main(argv=None) -> int:
    """Run ``python -m diffusion.restore`` with ``argv``; returns the exit status (0; 2 for
    a bad command line, 3 when a chain diverged)."""
    try:
        config = config_from_args(build_parser().parse_args(argv))
        if config.zeta_grid is not None:
            tune_zeta(config)
        else:
            run(config)
    except UsageError as exc:
        return fail("restore", exc)
    except DivergedError as exc:
        print(f"restore: diverged: {exc}", file=sys.stderr)
        return 3
    return 0
