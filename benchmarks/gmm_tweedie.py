r"""Cost of the exact GMM Tweedie denoiser, and wall time of a full η-sweep.

1. Per sample per step: the exact mixture Tweedie mean *and* its gradient (one forward and
   one backward pass, what DPS pays per step) at d = 256, K = 32, against one dense
   ``[B, d] x [d, d]`` matmul of the same input size (what a linear denoiser would cost).
   The ratio is about the 2K matmul-equivalents of the eigenbasis projections
   (:math:`x \mapsto U_k^\top x` and back, for every k) times the backward pass.
2. Wall time of a full η-sweep of ``python -m diffusion.restore`` (11 η, M samples per
   image, 1000 steps) for exact guidance and for DPS on one test patch.

Usage::

    python benchmarks/gmm_tweedie.py                   # CPU, default batch 88 (= 11 η x 8)
    python benchmarks/gmm_tweedie.py --device cuda     # GPU figures when one is lent
    python benchmarks/gmm_tweedie.py --sweep           # also time the full η-sweeps

Prints one JSON object (and writes it to ``--out`` if given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _mixture(K: int, d: int, seed: int = 0):
    """The shipped mixture when (K, d) = (32, 256) and it exists, else a random one."""
    from diffusion.priors.gmm_image import DEFAULT_WEIGHTS, load_gmm
    from numerics.gmm import GaussianMixture

    if (K, d) == (32, 256) and DEFAULT_WEIGHTS.exists():
        return load_gmm()[0], "shipped gmm_patches16.npz"
    rng = np.random.default_rng(seed)
    covs = []
    for _ in range(K):
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        covs.append(0.1 * A @ A.T + 1e-4 * np.eye(d))
    return GaussianMixture(
        np.full(K, 1.0 / K), 0.3 * rng.normal(size=(K, d)), np.stack(covs)
    ), "random"


def _time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def bench_denoiser(K=32, d=256, batch=88, repeats=20, device="cpu", dtype=torch.float32) -> dict:
    from diffusion.priors.gmm_image import GMMImagePrior
    from numerics.schedule import linear_schedule

    gm, source = _mixture(K, d)
    prior = GMMImagePrior(gm, linear_schedule(1000))
    s = int(round(d**0.5))
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = torch.randn(batch, 1, s, s, device=dev, dtype=dtype)
    t = torch.full((batch,), 500, device=dev)

    def fwd():
        with torch.no_grad():
            prior(x, t)

    def fwd_grad():
        xx = x.detach().requires_grad_(True)
        out = prior(xx, t)
        torch.autograd.grad((out * out).sum(), xx)

    W = torch.randn(d, d, device=dev, dtype=dtype)
    xf = x.reshape(batch, d)

    def dense():
        xf @ W

    tf, tg, tm = (_time(f, repeats, sync) for f in (fwd, fwd_grad, dense))
    return dict(
        mixture=source,
        K=K,
        d=d,
        batch=batch,
        dtype=str(dtype).replace("torch.", ""),
        tweedie_us_per_sample=1e6 * tf / batch,
        tweedie_grad_us_per_sample=1e6 * tg / batch,
        dense_matmul_us_per_sample=1e6 * tm / batch,
        ratio_tweedie_grad_to_matmul=tg / tm,
        ratio_tweedie_to_matmul=tf / tm,
    )


def bench_sweep(guidance: str, samples: int, device: str, threads: int | None, tmp: Path) -> dict:
    from diffusion.experiments.restore import main

    out = tmp / f"sweep-{guidance}"
    argv = [
        "--task", "sr4", "--prior", "gmm", "--guidance", guidance, "--n-images", "1",
        "--samples-per-image", str(samples), "--steps", "1000", "--out", str(out),
        "--device", device, "--no-progress", "--no-exact-reference",
    ]  # fmt: skip
    if threads:
        argv += ["--threads", str(threads)]
    t0 = time.perf_counter()
    rc = main(argv)
    wall = time.perf_counter() - t0
    units = json.loads((out / "timing.json").read_text())["units"] if rc == 0 else []
    return dict(
        guidance=guidance,
        etas=11,
        samples_per_image=samples,
        steps=1000,
        exit_status=rc,
        wall_s=round(wall, 1),
        sampling_s=units[0]["seconds"] if units else None,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=88)
    p.add_argument("--K", type=int, default=32)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = dict(
        machine=dict(
            cpu=platform.processor() or platform.machine(),
            cores=os.cpu_count(),
            torch_threads=torch.get_num_threads(),
            torch=torch.__version__,
            device=torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
            load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
        ),
        denoiser=[
            bench_denoiser(args.K, args.d, args.batch, args.repeats, args.device, dt)
            for dt in (torch.float32, torch.float64)
        ],
    )
    if args.sweep:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            res["sweeps"] = [
                bench_sweep(g, args.samples, args.device, args.threads, Path(tmp))
                for g in ("exact", "dps")
            ]
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
