"""``python -m diffusion.restore``: the command line (:func:`build_parser`) and :func:`main`.

A bad command line ends with one line on stderr that names the option and exit status 2;
a diverging chain with one line naming the reverse step and exit status 3.
"""

from __future__ import annotations

import argparse
import os
import sys

from diffusion.experiments.restore.chains import DivergedError
from diffusion.experiments.restore.config import config_from_args
from diffusion.experiments.restore.priors import PRIORS
from diffusion.experiments.restore.run import run
from diffusion.experiments.restore.tasks import FILES_TASKS, PAPER_TASKS, TASKS
from diffusion.experiments.restore.tune import tune_zeta
from diffusion.operators.paper import PAPER_OPERATORS
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
DESCRIPTION = (
    "Restore images with the eta-scaled diffusion sampler. Two modes: your own images "
    "(--input FILE|FOLDER, or --measurement y.npy|y.png: restorations as PNGs, a grid and "
    "results.json with PSNR/SSIM/MSE per eta) and the data-set sweeps with exact ground truth "
    "(the default: --n-images test patches or digits). Options marked (data sets) apply to "
    "the second mode only."
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help states it (or there is none)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is argparse.SUPPRESS:
            return text
        if action.default is False:  # a flag
            return text + " (default: off)"
        return super()._get_help_string(action)


def _floats(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers (checked by the configuration)."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from exc


def _names(text: str) -> tuple[str, ...]:
    return tuple(b for b in text.split(",") if b)


def _batch(text: str):
    """``auto`` or an integer >= 1."""
    return "auto" if text == "auto" else positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m diffusion.restore`` (errors raise
    :class:`~numerics.cli.UsageError`)."""
    p = ArgumentParser(prog=PROG, description=DESCRIPTION, formatter_class=_HelpFormatter)
    p.add_argument("--task", required=True, choices=sorted(FILES_TASKS),
                   help="the measurement (required): " + "; ".join(f"{t.name}: {t.description}"
                                                        for t in TASKS.values())
                        + ". With --input/--measurement also the paper's operators: "
                        + "; ".join(f"{n}: {PAPER_OPERATORS[n]}".replace("%", "%%")
                                    for n in PAPER_TASKS)
                        + " (settings at 256 px, scaled to the prior's size)")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", default=None, metavar="PATH",
                     help="your own images: a PNG/JPEG file or a folder of them, centre-cropped "
                          "and resized to the prior's size, measured with seeded noise and "
                          "restored (default: none, the data-set mode)")  # fmt: skip
    src.add_argument("--measurement", default=None, metavar="PATH",
                     help="a measurement you already have: .npy ([C, H, W] or [N, C, H, W], "
                          "[-1, 1] units) or .png of the measurement's size; the operator "
                          "comes from --task and the prior's size; reports the residual "
                          "||y - A x|| per eta (default: none)")  # fmt: skip
    p.add_argument("--prior", default="gmm",
                   help=f"a shipped prior {sorted(PRIORS)}, the folder of a diffusers "
                        "UNet2DModel (model folder, or pipeline folder with unet/ and "
                        "scheduler/), or a guided-diffusion (ADM) .pt state dict with --arch; "
                        "with --input any channel count and size")  # fmt: skip
    p.add_argument("--arch", default=None, metavar="PRESET|CONFIG.json",
                   help="the network of an ADM .pt --prior: ffhq256 (DPS's ffhq_10m.pt), "
                        "imagenet256 (OpenAI's 256x256_diffusion_uncond.pt) or a JSON file of "
                        "guided-diffusion configuration fields (default: none; required with "
                        "a .pt prior)")  # fmt: skip
    p.add_argument("--autocast", choices=("none", "fp16", "bf16"), default="none",
                   help="run the network (ADM or UNet2DModel) under torch.autocast in this "
                        "dtype (float32 updates; fp16 needs --device cuda)")  # fmt: skip
    p.add_argument("--sigma-y", type=positive_float, default=0.05,
                   help="measurement noise sd in [-1, 1] pixel units (0.05 = 6.4/255)")  # fmt: skip
    p.add_argument("--eta", type=parse_etas, default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
                   help="comma-separated eta values in [0, 1]: 0 the low-distortion end, "
                        "1 posterior sampling")  # fmt: skip
    p.add_argument("--guidance", choices=("dps", "exact", "cov", "pigdm"), default=None,
                   help="exact: the exact posterior score (mixture priors); dps: diffusion "
                        "posterior sampling; cov: covariance-aware (Tweedie covariance, CG); "
                        "pigdm: PiGDM (default: exact; with --input/--measurement exact "
                        "for a mixture prior, else dps)")  # fmt: skip
    p.add_argument("--n-cg", type=positive_int, default=10,
                   help="(--guidance cov) conjugate-gradient iterations per step (default: 10)")  # fmt: skip
    p.add_argument("--variance", choices=("beta", "beta_tilde", "exact"), default="beta_tilde",
                   help="the reverse-step variance rule scaled by eta")  # fmt: skip
    z = p.add_mutually_exclusive_group()
    z.add_argument("--zeta", default=None,
                   help="guidance step: a number, a preset name, 'ours' (the tuned DPS "
                        "tables) or 'discrepancy' (calibrated on the measurements) (default: 1)")  # fmt: skip
    z.add_argument("--zeta-table", default=None,
                   help="JSON file {eta: zeta} for the DPS step (default: none)")  # fmt: skip
    p.add_argument("--dps-form", choices=("reference", "likelihood"), default="reference",
                   help="reference: the DPS code's step zeta grad ||y - A x0||; likelihood: "
                        "zeta times the plug-in likelihood score with --sigma-y")  # fmt: skip
    p.add_argument("--n-images", type=positive_int, default=8,
                   help="(data sets) test images restored")  # fmt: skip
    p.add_argument("--samples-per-image", type=positive_int, default=None,
                   help="restorations per image and eta (default: 8; 1 with --input/"
                        "--measurement)")  # fmt: skip
    p.add_argument("--steps", type=positive_int, default=1000,
                   help="reverse steps (the training schedule respaced)")  # fmt: skip
    p.add_argument("--schedule", choices=("linear", "fixed-horizon"), default="linear",
                   help="(data sets) linear: the paper's 1000-step schedule respaced to --steps; "
                        "fixed-horizon: a --steps-step discretisation of the same SDE")  # fmt: skip
    p.add_argument("--start", choices=("standard", "exact"), default="standard",
                   help="x_T ~ N(0, I), or exactly from the law of x_T given y (exact guidance)")  # fmt: skip
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where chains run")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the chains")  # fmt: skip
    p.add_argument("--seed", type=seed_int, default=0,
                   help="seeds the measurement noise and every chain")  # fmt: skip
    p.add_argument("--image-seed", type=seed_int, default=0,
                   help="(data sets) which test patches")  # fmt: skip
    p.add_argument("--split", choices=("test", "fit"), default="test",
                   help="(data sets) the images restored; fit: for --tune-zeta")  # fmt: skip
    p.add_argument("--patch-size", type=positive_int, default=None,
                   help="(data sets) image side (default: the prior's)")  # fmt: skip
    p.add_argument("--weights", default=None,
                   help="mixture .npz of a gmm prior (default: the shipped one)")  # fmt: skip
    p.add_argument("--ref-samples", type=positive_int, default=256,
                   help="(data sets) exact posterior samples per image")  # fmt: skip
    p.add_argument("--pool-size", type=positive_int, default=2000,
                   help="(data sets) clean test patches of the dataset-level metrics")  # fmt: skip
    p.add_argument("--image-batch", type=_batch, default=None,
                   help="data sets: images per sampler call (default 1); --input/"
                        "--measurement: chains (image x eta x sample) per sampler call, "
                        "'auto' (the default there) fits them to free GPU memory (8 on the "
                        "CPU)")  # fmt: skip
    p.add_argument("--no-exact-reference", action="store_true",
                   help="(data sets) skip the exact-guidance chains run beside DPS")  # fmt: skip
    p.add_argument("--max-abs", type=positive_float, default=1e3,
                   help="divergence threshold on |x| (exit status 3 beyond it)")  # fmt: skip
    p.add_argument("--tune-zeta", type=_floats, default=None,
                   help="(data sets) a zeta grid: pick zeta(eta) on --split fit (default: no "
                        "tuning)")  # fmt: skip
    p.add_argument("--grid-images", type=positive_int, default=4, help="images in the grid")
    p.add_argument("--grid-samples", type=positive_int, default=3,
                   help="samples per image in the grid")  # fmt: skip
    p.add_argument("--out", default=None,
                   help="output folder (default: runs/restore-<task>-<guidance>-s<sigma_y>; "
                        "with --input/--measurement runs/restore-<name>-<task>-...)")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (same settings), skipping finished images")  # fmt: skip
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (a long run still prints its time estimate)")  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: torch's)")  # fmt: skip
    p.add_argument("--baselines", type=_names, default=(),
                   help="(data sets) comma-separated: diffpir, pscgan (digits deblur only) "
                        "(default: none)")  # fmt: skip
    p.add_argument("--diffpir-zeta", type=parse_etas, default="0,0.3,0.6,1",
                   help="(data sets) DiffPIR zeta values (a curve)")  # fmt: skip
    p.add_argument(
        "--diffpir-lambda", type=positive_float, default=1.75,
        help="(data sets) DiffPIR λ in ρ_t = λ σ_y² / σ̄_t², σ_y in [-1, 1] units (1.75 = the reference code's 7)",
    )  # fmt: skip
    p.add_argument("--diffpir-steps", type=positive_int, default=100,
                   help="(data sets) DiffPIR steps")  # fmt: skip
    return p


def main(argv=None) -> int:
    """Run ``python -m diffusion.restore`` with ``argv``; returns the exit status (0; 2 for
    a bad command line, 3 when a chain diverged)."""
    try:
        config = config_from_args(build_parser().parse_args(argv))
        if (config.files_mode or config.zeta_grid is not None) and _world_size() > 1:
            raise UsageError(
                "torchrun: --input/--measurement and --tune-zeta run in one process; start "
                "them with python -m diffusion.restore (the data-set sweeps are sharded)"
            )
        if config.files_mode:
            from diffusion.experiments.restore.files import run_files

            run_files(config)
        elif config.zeta_grid is not None:
            tune_zeta(config)
        else:
            run(config)
    except UsageError as exc:
        return fail("restore", exc)
    except DivergedError as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun: one line, from rank 0
            print(f"restore: diverged: {exc}", file=sys.stderr)
        return 3
    return 0


def _world_size() -> int:
    """Processes of the run (``WORLD_SIZE`` set by torchrun; 1 without it)."""
    try:
        return int(os.environ.get("WORLD_SIZE") or 1)
    except ValueError:
        return 1
