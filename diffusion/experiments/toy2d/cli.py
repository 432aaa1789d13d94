"""Command line of ``python -m diffusion.toy2d``: parse once into :class:`~.experiment.Options`.

A bad command line, ``--config`` file or ``--out`` folder ends with one line on stderr that
names the option, and exit status 2 (:func:`numerics.cli.fail`), before any work is done; so
does a cached checkpoint under ``--out`` that cannot be loaded safely (it is never executed
and never silently replaced).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import torch

from diffusion.data.toy2d import DATASETS
from diffusion.experiments.toy2d.config import CONFIG_PATH, ConfigError, load_config
from diffusion.experiments.toy2d.experiment import Options, run_experiment, validate_experiment
from diffusion.experiments.toy2d.networks import CheckpointError
from numerics.cli import (
    ArgumentParser,
    UsageError,
    check_out_dir,
    fail,
    positive_int,
    seed_int,
)

__all__ = ["build_parser", "main", "prepare_out"]

PROG = "python -m diffusion.toy2d"


def build_parser() -> ArgumentParser:
    """The command's parser (errors raise :class:`numerics.cli.UsageError`)."""
    p = ArgumentParser(
        prog=PROG,
        description="2-D distortion-perception experiments (pinwheel, S-curve, moons): one trained "
        "score network with the eta-scaled DPS sampler vs PSCGAN (arXiv 2503.20297, Sec. IV-A).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", choices=[*DATASETS, "all"], required=True, help="data set to run")
    p.add_argument("--out", type=Path, default=Path("out/toy2d"), help="output and cache directory")
    p.add_argument(
        "--seed", type=seed_int, default=0, help="seed of every data stream, network and chain"
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny smoke run (seconds; numbers meaningless)"
    )
    p.add_argument(
        "--config", type=Path, default=None, help=f"settings file (default {CONFIG_PATH})"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch CPU threads (1 is fastest for these tiny nets on a shared machine)",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the figures (JSON only)")
    p.add_argument(
        "--validate-only",
        action="store_true",
        help="train/load the networks, check sample quality, run the zeta validation sweep on "
        "validation pairs, print the zeta it selects, and stop (how configs/toy2d.json's zeta was chosen)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _check_out_kind(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a directory")


def prepare_out(out: Path, datasets=()) -> None:
    """Create the ``--out`` folder and check that files can be written in it.

    ``out`` must be a path and ``datasets`` a list or tuple of data set names (TypeError /
    ValueError naming them otherwise).

    Raises
    ------
    UsageError
        ``--out`` (or its folder of one of ``datasets``) is a file, lies under a file, or
        cannot be created or written (the message names ``--out``).
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a path (str or os.PathLike), got {type(out).__name__}")
    out = Path(out)
    if not isinstance(datasets, (list, tuple)) or any(
        not isinstance(ds, str) or ds not in DATASETS for ds in datasets
    ):
        raise ValueError(
            f"datasets: expected a list of names from {sorted(DATASETS)}, got {datasets!r:.60}"
        )
    _check_out_kind(out)
    for ds in datasets:
        _check_out_kind(out / ds)
    check_out_dir(out, "--out", create=True)


def main(argv=None, *, on_unit_saved: Callable[[str], None] | None = None) -> int:
    """Run the command; returns the exit status (2 for a bad command line, one line on stderr).

    ``on_unit_saved(name)`` is called after every unit or network is on disk (tests use it
    to interrupt a run).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check_out_kind(args.out)
        try:
            cfg = load_config(args.config, quick=args.quick)
        except ConfigError as exc:
            raise UsageError(f"--config: {exc}") from exc
        datasets = tuple(DATASETS) if args.dataset == "all" else (args.dataset,)
        prepare_out(args.out, datasets)
    except UsageError as exc:
        return fail(parser.prog, exc)
    options = Options(
        datasets=datasets,
        out=args.out,
        seed=args.seed,
        quick=bool(args.quick),
        figures=not args.no_figures,
        progress=not args.no_progress,
    )
    torch.set_num_threads(args.threads)
    try:
        if args.validate_only:
            validate_experiment(options, cfg, on_unit_saved=on_unit_saved)
        else:
            run_experiment(options, cfg, on_unit_saved=on_unit_saved)
    except CheckpointError as exc:
        return fail(parser.prog, UsageError(f"--out: {exc}"))
    return 0
