"""Throughput of a ``python -m diffusion.restore`` sweep with 1 and with N CPU processes.

    python benchmarks/distributed_throughput.py [--nproc 2] [--n-images 8] [--steps 50]
                                                [--rounds 2] [--out /tmp/dist-bench]

Runs the same DPS sweep over the shipped digits network (``--prior digits16``, deblurring,
``--image-batch 1`` so that there are as many units as images) once as a plain process
(``--threads 1``, ``OMP_NUM_THREADS=1``) and once under ``torchrun --standalone --nproc-per-node N`` (gloo, one
thread per rank), alternating, ``--rounds`` times, and prints for each

* ``cells/s`` of the sampling: cells (image x η x sample) over the sampling time, the
  busiest rank's sum of unit times from ``timing.json`` (start-up, the merge on rank 0 and
  the figures excluded);
* ``end-to-end``: the wall time of the whole command (imports, loading, sampling, merge,
  figures);

then the ratio N-process / 1-process of the median cells/s (ideal: N), and checks that the
two ``results.json`` are byte-identical (which needs the same BLAS threads: the Fréchet
distances move in their 9th digit between 1 and 2 BLAS threads). The baseline is measured in the same run, so a
loaded machine slows both; report the machine with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _args(out: Path, a) -> list[str]:
    return [
        "--task", "deblur", "--prior", "digits16", "--guidance", "dps", "--out", str(out),
        "--n-images", str(a.n_images), "--image-batch", "1", "--samples-per-image", "2",
        "--eta", "0,0.5,1", "--steps", str(a.steps), "--ref-samples", "16",
        "--pool-size", "64", "--no-progress", "--threads", "1",
    ]  # fmt: skip


def _run(nproc: int, out: Path, a) -> tuple[float, float]:
    """(cells/s of the sampling, end-to-end seconds) of one sweep with ``nproc`` processes."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.pop("WORLD_SIZE", None)
    env["OMP_NUM_THREADS"] = "1"  # what torchrun gives each rank: numpy's BLAS threads too
    if nproc == 1:
        cmd = [sys.executable, "-m", "diffusion.restore", *_args(out, a)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", "-m", "diffusion.restore", *_args(out, a)]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"distributed_throughput: {nproc} process(es) failed:\n{proc.stderr[-3000:]}")
    units = json.loads((out / "timing.json").read_text())["units"]
    busy: dict = {}
    for u in units:
        busy[u.get("rank", 0)] = busy.get(u.get("rank", 0), 0.0) + u["seconds"]
    cells = a.n_images * 3 * 2
    return cells / max(busy.values()), wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--nproc", type=int, default=2, help="processes of the parallel run (default: 2)"
    )
    p.add_argument("--n-images", type=int, default=8, help="images of the sweep (default: 8)")
    p.add_argument("--steps", type=int, default=50, help="reverse steps (default: 50)")
    p.add_argument("--rounds", type=int, default=2, help="runs of each (default: 2)")
    p.add_argument(
        "--out", default="/tmp/dist-bench", help="scratch folder (default: /tmp/dist-bench)"
    )
    a = p.parse_args(argv)
    base = Path(a.out)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; torch threads per process: 1")  # fmt: skip
    print(f"sweep: digits16 DPS deblur, {a.n_images} images x 3 etas x 2 samples, "
          f"{a.steps} steps, --image-batch 1")  # fmt: skip
    res: dict = {1: [], a.nproc: []}
    for r in range(a.rounds):
        for n in (1, a.nproc):
            cps, wall = _run(n, base / f"n{n}", a)
            res[n].append((cps, wall))
            print(
                f"round {r}: {n} process(es): {cps:.2f} cells/s sampling, {wall:.1f} s end-to-end"
            )
    one = (base / "n1" / "results.json").read_bytes()
    many = (base / f"n{a.nproc}" / "results.json").read_bytes()
    med = {n: statistics.median(c for c, _ in v) for n, v in res.items()}
    walls = {n: statistics.median(w for _, w in v) for n, v in res.items()}
    print(f"median cells/s: 1 process {med[1]:.2f}, {a.nproc} processes {med[a.nproc]:.2f}")
    print(f"ratio {a.nproc}/1 (sampling throughput): {med[a.nproc] / med[1]:.2f} (ideal {a.nproc})")
    print(f"ratio 1/{a.nproc} (end-to-end wall time): {walls[1] / walls[a.nproc]:.2f}")
    print(f"results.json identical: {one == many}")
    return 0 if one == many else 1


if __name__ == "__main__":
    raise SystemExit(main())
