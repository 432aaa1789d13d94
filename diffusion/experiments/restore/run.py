"""One :mod:`diffusion.restore` run, resumable: problems -> chains -> records -> results ->
figures, every file written atomically (:mod:`numerics.io`).

Images are sampled in units of ``image_batch``; a unit whose records all exist is skipped,
so a run interrupted at any moment and started again with ``resume=True`` ends with the same
``results.json`` (only ``timing.json`` differs).

Under ``torchrun --nproc-per-node N`` (:mod:`diffusion.experiments.distributed`) rank 0
checks ``--out`` and lists the units still to do, the ranks take every N-th of them
(:func:`~diffusion.experiments.distributed.shard`), each writes its images' files and
records, and rank 0 merges the records into ``results.json`` once all ranks are done. A
unit is the same batch of chains whatever N is, and every chain draws from its own
generator (:func:`~diffusion.experiments.restore.chains.chain_generator`), so
``results.json`` is the same for every N (bit for bit on the CPU at equal ``--threads``),
and a run stopped under one N resumes under another. Progress and the time estimate are
shown by rank 0 only (from its own share of the units).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.distributed import Dist, from_env
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

__all__ = ["STOP_AFTER_ENV", "apply_threads", "make_out", "prepare_out", "run"]

#: For tests of resuming: a rank that has written this many units exits at once (status 75),
#: as if killed. Unset in normal runs.
STOP_AFTER_ENV = "DPTRAVERSE_RESTORE_STOP_AFTER_UNITS"


def apply_threads(config) -> None:
    """Set torch's CPU threads to ``config.threads`` (if given)."""
    from diffusion.experiments.restore._checks import check_config

    check_config(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)


def make_out(folder: Path) -> None:
    """Create ``folder`` (and its parents); an error names ``--out``."""
    if not isinstance(folder, Path):
        raise TypeError(f"folder: expected a pathlib.Path, got {type(folder).__name__}")
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
    from numerics.validate import check_bool

    if not isinstance(out, Path):
        raise TypeError(f"out: expected a pathlib.Path, got {type(out).__name__}")
    if not isinstance(record, dict):
        raise TypeError(f"record: expected a dict, got {type(record).__name__}")
    resume = check_bool(resume, "resume")
    try:
        json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"record: not JSON-serialisable ({exc})") from exc
    cfg_path = out / "config.json"
    if not cfg_path.exists():
        make_out(out / "records")
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
    make_out(out / "records")  # after the checks: a refused --resume writes nothing


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


def _progress_bar(config, todo, n_steps: int, dist: Dist):
    """The run's :class:`~diffusion.experiments.restore.progress.Progress` (a bar unless
    ``--no-progress``; the time estimate of a long run either way); None on ranks other than
    0, whose ``todo`` is its own share of the units."""
    from diffusion.experiments.restore.progress import Progress

    if not dist.is_main:
        return None
    n_img = sum(len(u) for u in todo)
    total = n_img * len(config.etas) * len(config.curves) * n_steps
    what = (
        f"{n_img} images x {len(config.etas)} etas x {len(config.curves)} curves x {n_steps} steps"
    )
    if dist.world > 1:
        what += f" (rank 0's share; {dist.world} ranks)"
    return Progress(total, what, bar=config.progress, desc=f"{config.task} images x eta x steps")


def _announce(bar, seconds: float, n_left: int) -> None:
    """One line with the time the other units will take, from the first one's (posterior,
    chains and records: all the per-image work), when that is long."""
    from diffusion.experiments.restore.progress import ANNOUNCE_S, format_seconds

    if bar is not None and n_left > 0 and seconds * n_left > ANNOUNCE_S:
        bar.write(
            f"restore: about {format_seconds(seconds * n_left)} left for the other {n_left} "
            f"unit(s) of images (the first took {seconds:.1f} s)"
        )


def run(config) -> dict | None:
    """Run (or resume) the sweep of ``config``; returns the results dict.

    Under ``torchrun`` every rank calls this; rank 0 returns the results, the others None
    once their units are written (see the module notes).

    Parameters
    ----------
    config : :class:`~diffusion.experiments.restore.config.RestoreConfig`

    Returns
    -------
    dict or None
        The content of ``<out>/results.json`` (None on ranks other than 0).

    Raises
    ------
    DivergedError
        A chain or baseline diverged; ``results.json`` then holds ``"status": "diverged"``
        (on every rank: the first diverged unit in the order of a single-process run).
    UsageError
        A bad setting found while loading (weights, sizes, an existing ``--out``).
    """
    apply_threads(config)
    dist = from_env(config.device)
    try:
        return _run(config, dist)
    finally:
        dist.close()


def _plan(config, out: Path, record: dict, dist: Dist) -> list:
    """Rank 0 prepares ``out`` and lists the units (lists of image indices) not yet done;
    every rank gets that list, or the same :class:`UsageError`."""
    err, todo = None, None
    if dist.is_main:
        try:
            prepare_out(out, record, config.resume)
            N, B = config.n_images, config.image_batch
            units = [list(range(s, min(s + B, N))) for s in range(0, N, B)]
            todo = [
                u for u in units if not all((out / "records" / f"{i:05d}.json").exists() for i in u)
            ]
        except UsageError as exc:
            if dist.world == 1:
                raise
            err = str(exc)
    err, todo = dist.broadcast((err, todo))
    if err is not None:
        raise UsageError(err)
    return todo


def _stop_after() -> int | None:
    text = os.environ.get(STOP_AFTER_ENV)
    return int(text) if text else None


def _run(config, dist: Dist) -> dict | None:
    out = config.out_path
    setup = make_setup(config)
    record = config.record(setup.patch_size)
    todo = _plan(config, out, record, dist)
    curves = config.curves
    zeta = None
    if config.zeta == DISCREPANCY:  # calibrated on the measurements (no clean image)
        zeta, report = calibrate_discrepancy(setup, config.guidance)  # same on every rank
        if dist.is_main:
            write_json(out / "zeta_discrepancy.json", report, sort_keys=True)
    timing = dict(machine=machine(), units=[])
    mine = dist.shard(enumerate(todo))
    bar = _progress_bar(config, [u for _, u in mine], setup.run_sched.T, dist)
    stop_after = _stop_after()
    first_bad, divergence = None, None
    for pos, unit in mine:
        t0 = time.perf_counter()
        problems = [make_problem(setup, i) for i in unit]
        samples: dict = {}
        try:
            for curve in curves:
                for pb, s in zip(problems, run_unit(problems, curve, setup, bar, zeta), strict=True):
                    samples.setdefault(pb.i, {})[curve] = s
        except DivergedError as exc:
            first_bad, divergence = pos, str(exc)
            break
        _write_unit(out, problems, samples, curves, setup)
        seconds = time.perf_counter() - t0
        entry = dict(images=unit, seconds=round(seconds, 2))
        timing["units"].append(entry if dist.world == 1 else dict(entry, rank=dist.rank))
        if len(timing["units"]) == 1:
            _announce(bar, seconds, len(mine) - 1)
        if stop_after is not None and len(timing["units"]) >= stop_after:
            os._exit(75)
    if bar is not None:
        bar.close()
    reports = dist.gather((first_bad, divergence, timing["units"]))
    bad = [(p, msg) for p, msg, _ in reports if p is not None]
    if bad:  # the first diverged unit in the order of a one-process run (all before it ran)
        divergence = min(bad)[1]
        if dist.is_main:
            res = dict(config=record, status="diverged", divergence=divergence, machine=machine())
            write_json(out / "results.json", res, sort_keys=True)
        raise DivergedError(divergence)
    if not dist.is_main:
        return None
    timing["units"] = sorted((u for _, _, us in reports for u in us), key=lambda u: u["images"])
    if dist.world > 1:
        timing["world_size"] = dist.world
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
