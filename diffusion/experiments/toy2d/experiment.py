"""The whole ``python -m diffusion.toy2d`` run as a function of its :class:`Options`.

For every data set: :func:`~.run.run_dataset`, then ``OUT/<data set>/result.json`` (the
settings and every number, no timings), ``OUT/toy2d_timing.json`` (timings and the machine),
the figures and the markdown tables on stdout; at the end ``OUT/toy2d.json`` gathers every
data set in ``OUT`` run with the same settings. All files are written atomically; timings
are kept out of the results, so a resumed run writes the same results as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from diffusion.data.toy2d import DATASETS
from diffusion.experiments.toy2d.config import FORMAT_VERSION
from diffusion.experiments.toy2d.figures import write_figures
from diffusion.experiments.toy2d.report import markdown_tables
from diffusion.experiments.toy2d.run import run_dataset
from diffusion.experiments.toy2d.store import strip_private
from numerics.io import write_json
from numerics.validate import check_bool, check_int

__all__ = [
    "Options",
    "machine_info",
    "run_experiment",
    "settings_record",
    "validate_experiment",
    "write_combined",
]


@dataclass(frozen=True)
class Options:
    """One run of the command, built once from the command line by :func:`~.cli.main`."""

    #: Data sets to run, in order.
    datasets: tuple
    #: Output and cache folder.
    out: Path
    #: Seed of every data stream, network and chain.
    seed: int = 0
    #: Whether the config's ``quick`` overrides were applied (recorded in the results).
    quick: bool = False
    #: Write the figures.
    figures: bool = True
    #: Show progress bars.
    progress: bool = True

    def __post_init__(self):
        ds = self.datasets
        if not isinstance(ds, (list, tuple)) or any(
            not isinstance(d, str) or d not in DATASETS for d in ds
        ):
            raise ValueError(
                f"datasets: expected a list of names from {sorted(DATASETS)}, got {ds!r:.60}"
            )
        if not isinstance(self.out, (str, os.PathLike)):
            raise TypeError(
                f"out: expected a path (str or os.PathLike), got {type(self.out).__name__}"
            )
        p = Path(self.out)
        while not p.exists() and p.parent != p:
            p = p.parent
        if not p.is_dir():
            raise ValueError(f"out: {self.out} is or lies under the file {p}, not a folder")
        check_int(self.seed, "seed")
        for name in ("quick", "figures", "progress"):
            check_bool(getattr(self, name), name)


def settings_record(cfg: dict, seed: int, quick: bool) -> dict:
    """The ``settings`` of every ``result.json``; results of other settings are not combined.

    ``cfg`` a dict, ``seed`` an int >= 0, ``quick`` a bool (else ValueError/TypeError naming it).
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"cfg: expected the config dict, got {type(cfg).__name__}")
    seed = check_int(seed, "seed")
    quick = check_bool(quick, "quick")
    return dict(config=cfg, seed=seed, quick=quick, format_version=FORMAT_VERSION)


def machine_info() -> dict:
    """Platform, CPU count, torch version and threads, Python version (for the timings)."""
    return dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
    )


def _read_json_object(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def write_combined(out: Path, settings: dict) -> Path:
    """``OUT/toy2d.json``: every data set of ``OUT`` whose ``result.json`` has ``settings``
    (a dict, :func:`settings_record`; ``out`` a path: TypeError naming them otherwise)."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a path (str or os.PathLike), got {type(out).__name__}")
    if not isinstance(settings, dict):
        raise TypeError(f"settings: expected the settings dict, got {type(settings).__name__}")
    out = Path(out)
    combined = dict(settings=settings, datasets={})
    for ds in DATASETS:
        p = out / ds / "result.json"
        r = _read_json_object(p) if p.exists() else None
        if r is not None and r.get("settings") == settings:
            r.pop("settings")
            combined["datasets"][ds] = r
    return write_json(out / "toy2d.json", combined)


def run_experiment(
    options: Options, cfg: dict, *, on_unit_saved: Callable[[str], None] | None = None
) -> Path:
    """Run (or resume) every data set of ``options``; returns the path of ``toy2d.json``."""
    out = Path(options.out)
    settings = settings_record(cfg, options.seed, options.quick)
    timing_path = out / "toy2d_timing.json"
    timing_all = (_read_json_object(timing_path) if timing_path.exists() else None) or {}
    for ds in options.datasets:
        print(f"[{ds}]", flush=True)
        res = run_dataset(
            ds,
            cfg,
            out,
            seed=options.seed,
            progress=options.progress,
            on_unit_saved=on_unit_saved,
        )
        arrays = res.pop("_arrays")
        timing_all[ds] = res.pop("_timing")
        timing_all["_machine"] = machine_info()
        write_json(timing_path, timing_all)
        clean = strip_private(res)
        write_json(out / ds / "result.json", dict(settings=settings, **clean))
        if options.figures:
            for p in write_figures({**res, "_arrays": arrays}, out):
                print(f"  wrote {p}")
        print(markdown_tables(clean))
        q = clean["quality"]
        print(
            f"  sample quality: W2 = {q['w2']:.4f} ± {q['w2_sd']:.4f}, floor = "
            f"{q['w2_floor']:.4f} ± {q['w2_floor_sd']:.4f}, ratio {q['ratio']:.2f} "
            f"({'pass' if q['passed'] else 'FAIL'} at 1.5)"
        )
    path = write_combined(out, settings)
    print(f"wrote {path} and {timing_path}")
    return path


def validate_experiment(
    options: Options, cfg: dict, *, on_unit_saved: Callable[[str], None] | None = None
) -> dict:
    """Networks, sample quality and the ζ validation sweeps only; prints the ζ each selects.

    Returns ``{data set: run_dataset(..., validate_only=True)}``.
    """
    results = {}
    for ds in options.datasets:
        print(f"[{ds}]", flush=True)
        res = run_dataset(
            ds,
            cfg,
            options.out,
            seed=options.seed,
            progress=options.progress,
            validate_only=True,
            on_unit_saved=on_unit_saved,
        )
        results[ds] = res
        print(f"  sample quality W2/floor = {res['quality']['ratio']:.2f}")
        for tag, zv in res["zeta_validation"].items():
            print(f"  zeta validation (sigma_y = {tag}, n = {zv['n']} validation pairs):")
            print("    zeta     eta   MSE      W2 joint  W2 marginal")
            for r in zv["rows"]:
                print(
                    f"    {r['zeta']:<8g} {r['eta']:<5g} {r['mse']:<8.4f} {r['w2_joint']:<9.4f} "
                    f"{r['w2_marginal']:.4f}"
                )
            print(
                f"  sigma_y = {tag}: selected zeta = {zv['argmin_w2_joint_eta1']:g} "
                f"({zv['criterion']}); configured {res['zeta'][tag]:g}"
            )
    return results
