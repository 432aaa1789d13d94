"""Benchmark: cost of one guided reverse step on the digits network, as a ratio to DPS's.

One guidance call (the denoiser through autograd and the guidance's extra products) on a
batch of chains at a middle step of the 250-step schedule, for DPS (reference form), the
covariance-aware guidance with n_cg = 1, 5, 10 and ΠGDM; each timed ``--repeats`` times
interleaved (machines here are shared and noisy: read the ratios, which are to the DPS step
measured in the same run; the median of the repeats is reported).

Run: ``nice -n 10 python benchmarks/guidance_cost.py [--task deblur] [--batch 8]
[--repeats 7] [--threads N]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from diffusion.experiments.restore.chains import make_guidance
from diffusion.experiments.restore.config import RestoreConfig
from diffusion.experiments.restore.problems import make_problem, make_setup
from diffusion.schedule import TorchSchedule


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="deblur", help="(default: deblur)")
    p.add_argument("--batch", type=int, default=8, help="chains per call (default: 8)")
    p.add_argument("--repeats", type=int, default=7, help="(default: 7)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = RestoreConfig(
        task=args.task, prior="digits16", guidance="dps", zeta=1.0, etas=(0.0,), n_images=1,
        samples_per_image=2, steps=250, out="/tmp/guidance_cost_unused", progress=False,
    )  # fmt: skip
    setup = make_setup(cfg)
    op = setup.op
    y = torch.from_numpy(make_problem(setup, 0).y).float().reshape(op.out_shape)
    ys = y.expand(args.batch, *op.out_shape).clone()
    ts = TorchSchedule(setup.run_sched)
    st = ts.step(ts.T // 2)
    t_model = torch.full((args.batch,), st.t_model, dtype=torch.long)
    x = torch.randn(args.batch, *op.in_shape, generator=torch.Generator().manual_seed(0))
    eta = torch.zeros(args.batch)
    kinds = [("dps", 1), ("cov", 1), ("cov", 5), ("cov", 10), ("pigdm", 1)]
    guides = {}
    for curve, n_cg in kinds:
        c = RestoreConfig(**{**cfg.__dict__, "prior": cfg.prior, "n_cg": n_cg})
        g = make_guidance(curve, op, ys, 1.0, c)
        g.prepare(x, eta)
        guides[(curve, n_cg)] = g
    times = {k: [] for k in kinds}
    with torch.no_grad():
        for k in kinds:  # warm-up
            guides[k](x, st, t_model, setup.prior)
        for _ in range(args.repeats):
            for k in kinds:
                t0 = time.perf_counter()
                guides[k](x, st, t_model, setup.prior)
                times[k].append(time.perf_counter() - t0)
    base = float(np.median(times[("dps", 1)]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch}, "
          f"task {args.task}, step k={st.k} of {ts.T}")  # fmt: skip
    for curve, n_cg in kinds:
        med = float(np.median(times[(curve, n_cg)]))
        name = f"cov n_cg={n_cg}" if curve == "cov" else curve
        print(f"{name:12s} {1e3 * med:8.1f} ms/step  ratio to DPS {med / base:5.2f}")
    return 0


if __name__ == "__main__":
    main()
