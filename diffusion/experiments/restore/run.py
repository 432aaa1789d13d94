"""One :mod:`diffusion.restore` run, resumable: problems -> chains -> records -> results ->
figures, every file written atomically (:mod:`numerics.io`).

Images are sampled in units of ``image_batch``; a unit whose records all exist is skipped,
so a run interrupted at any moment and started again with ``resume=True`` ends with the same
``results.json`` (only ``timing.json`` differs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.restore.aggregate import aggregate, machine
from diffusion.experiments.restore.baselines import run_baselines
from diffusion.experiments.restore.chains import DivergedError, run_unit
from diffusion.experiments.restore.discrepancy import calibrate_discrepancy
from diffusion.experiments.restore.figures import plots
from diffusion.experiments.restore.metrics import image_record
from diffusion.experiments.restore.problems import make_problem, make_setup
from diffusion.experiments.restore.zeta import DISCREPANCY
from numerics.cli import UsageError
from numerics.io import atomic_write, write_json

__all__ = ["apply_threads", "make_out", "prepare_out", "run"]


def apply_threads(config) -> None:
    """Set torch's CPU threads to ``config.threads`` (if given)."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)


def make_out(folder: Path) -> None:
    """Create ``folder`` (and its parents); an error names ``--out``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {folder}: {exc.strerror or exc}") from exc


def _timing_units(path: Path) -> list:
    """The units of an earlier ``timing.json`` (none if it is missing or unreadable)."""
    try:
        units = json.loads(path.read_text(encoding="utf-8"))["units"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return units if isinstance(units, list) else []


def prepare_out(out: Path, record: dict, resume: bool) -> None:
    """Create ``out/records`` and write ``out/config.json``; an existing run is continued
    only with ``resume`` and the same settings (else :class:`~numerics.cli.UsageError`)."""
    make_out(out / "records")
    cfg_path = out / "config.json"
    if not cfg_path.exists():
        write_json(cfg_path, record, sort_keys=True)
        return
    if not resume:
        raise UsageError(f"--out: {out} already holds a run; pass --resume or another --out")
    try:
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume: cannot read {cfg_path} ({exc})") from exc
    if not isinstance(old, dict):
        raise UsageError(f"--resume: {cfg_path} is not the config.json of a run")
    new = json.loads(json.dumps(record))
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise UsageError(f"--resume: settings differ from the run in {out}: {', '.join(diff)}")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda p: np.save(p, arr.astype(np.float32)))


def _write_unit(out: Path, problems, samples: dict, curves, setup) -> None:
    """Samples, measurements and (exact prior) posterior draws and means of a finished
    unit, then each image's record (last: a record marks its image as done)."""
    sdir = out / "samples"
    sdir.mkdir(exist_ok=True)
    for pb in problems:
        rec = image_record(pb, samples[pb.i], setup)
        _save_npy(sdir / f"{pb.i:05d}.npy", np.stack([samples[pb.i][c] for c in curves]))
        if pb.exact:
            _save_npy(sdir / f"{pb.i:05d}_exact.npy", pb.exact_set)
            _save_npy(sdir / f"{pb.i:05d}_mean.npy", pb.m)
        _save_npy(sdir / f"{pb.i:05d}_y.npy", pb.y)
        write_json(out / "records" / f"{pb.i:05d}.json", rec, sort_keys=True)


def _progress_bar(config, todo, n_steps: int):
    """The run's :class:`~diffusion.experiments.restore.progress.Progress` (a bar unless
    ``--no-progress``; the time estimate of a long run either way)."""
    from diffusion.experiments.restore.progress import Progress

    n_img = sum(len(u) for u in todo)
    total = n_img * len(config.etas) * len(config.curves) * n_steps
    what = (
        f"{n_img} images x {len(config.etas)} etas x {len(config.curves)} curves x {n_steps} steps"
    )
    return Progress(total, what, bar=config.progress, desc=f"{config.task} images x eta x steps")


def _announce(bar, seconds: float, n_left: int) -> None:
    """One line with the time the other units will take, from the first one's (posterior,
    chains and records: all the per-image work), when that is long."""
    from diffusion.experiments.restore.progress import ANNOUNCE_S, format_seconds

    if n_left > 0 and seconds * n_left > ANNOUNCE_S:
        bar.write(
            f"restore: about {format_seconds(seconds * n_left)} left for the other {n_left} "
            f"unit(s) of images (the first took {seconds:.1f} s)"
        )


def run(config) -> dict:
    """Run (or resume) the sweep of ``config``; returns the results dict.

    Parameters
    ----------
    config : :class:`~diffusion.experiments.restore.config.RestoreConfig`

    Returns
    -------
    dict
        The content of ``<out>/results.json``.

    Raises
    ------
    DivergedError
        A chain or baseline diverged; ``results.json`` then holds ``"status": "diverged"``.
    UsageError
        A bad setting found while loading (weights, sizes, an existing ``--out``).
    """
    apply_threads(config)
    out = config.out_path
    setup = make_setup(config)
    record = config.record(setup.patch_size)
    prepare_out(out, record, config.resume)
    curves = config.curves
    zeta = None
    if config.zeta == DISCREPANCY:  # calibrated on the measurements (no clean image)
        zeta, report = calibrate_discrepancy(setup, config.guidance)
        write_json(out / "zeta_discrepancy.json", report, sort_keys=True)
    N, B = config.n_images, config.image_batch
    timing = dict(machine=machine(), units=[])
    units = [list(range(s, min(s + B, N))) for s in range(0, N, B)]
    todo = [u for u in units if not all((out / "records" / f"{i:05d}.json").exists() for i in u)]
    bar = _progress_bar(config, todo, setup.run_sched.T)
    status, divergence = "complete", None
    for unit in todo:
        t0 = time.perf_counter()
        problems = [make_problem(setup, i) for i in unit]
        samples: dict = {}
        try:
            for curve in curves:
                for pb, s in zip(problems, run_unit(problems, curve, setup, bar, zeta), strict=True):
                    samples.setdefault(pb.i, {})[curve] = s
        except DivergedError as exc:
            status, divergence = "diverged", str(exc)
            break
        _write_unit(out, problems, samples, curves, setup)
        seconds = time.perf_counter() - t0
        timing["units"].append(dict(images=unit, seconds=round(seconds, 2)))
        if len(timing["units"]) == 1:
            _announce(bar, seconds, len(todo) - 1)
    bar.close()
    if status == "diverged":
        res = dict(config=record, status="diverged", divergence=divergence, machine=machine())
        write_json(out / "results.json", res, sort_keys=True)
        raise DivergedError(divergence)
    if config.baselines:
        t0 = time.perf_counter()
        run_baselines(setup, out)
        timing["baselines_seconds"] = round(time.perf_counter() - t0, 2)
    res = aggregate(setup, record, curves, out)
    write_json(out / "results.json", res, sort_keys=True)
    tpath = out / "timing.json"
    old_units = _timing_units(tpath) if config.resume else []
    timing["units"] = old_units + timing["units"]
    write_json(tpath, timing, sort_keys=True)
    plots(setup, res, curves, out)
    return res
