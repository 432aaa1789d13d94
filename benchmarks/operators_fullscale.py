"""Benchmark: the paper's 61 x 61 blur at 256 x 256 x 3, batch 8, by FFT vs direct conv2d.

Times one forward plus one adjoint blur (what a DPS step costs in operator work) of
``diffusion.operators.FFTGaussianBlur`` (zero boundary) and of the direct route,
``F.conv2d(x, k, padding=30, groups=3)`` and its adjoint ``F.conv_transpose2d`` (the same
zero-padded cross-correlation), and prints their ratio measured in the same run (machines here
are noisy, so the ratio is what to read). For reference it also times the FFT blur with the
other boundaries, the matrix ``GaussianBlur`` and the bicubic x4 SR, and checks that the FFT and
direct results agree. On the 2-core CPU the whole run takes about 1.5 minutes (the direct
convolution is most of it).

Run: ``python benchmarks/operators_fullscale.py [--batch 8] [--size 256] [--repeats 2]
[--dtype float32] [--device cpu]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F

from diffusion.operators import BicubicSR, FFTGaussianBlur, GaussianBlur


def _best(fn, repeats: int, device: torch.device, *, warm_up: bool = True) -> float:
    if warm_up:  # caches, FFT plans, kernels
        fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs, best kept (default 2)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = p.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    shape = (3, args.size, args.size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((args.batch, *shape), generator=gen, dtype=dtype).to(device)
    y = torch.randn((args.batch, *shape), generator=gen, dtype=dtype).to(device)

    fft = FFTGaussianBlur(61, 3.0, shape, boundary="zero")
    k = fft.kernel.to(device=device, dtype=dtype).expand(3, 1, 61, 61)

    def direct_pair():
        F.conv2d(x, k, padding=30, groups=3)
        F.conv_transpose2d(y, k, padding=30, groups=3)

    def pair(op):
        y_op = y if op.out_shape == shape else op.A(y)
        return lambda: (op.A(x), op.A_adjoint(y_op))

    with torch.no_grad():
        t_direct = _best(direct_pair, args.repeats, device, warm_up=device.type == "cuda")
        t_fft = _best(pair(fft), args.repeats, device)
        others = {
            "FFT blur, reflect boundary": FFTGaussianBlur(61, 3.0, shape, boundary="reflect"),
            "FFT blur, circular boundary": FFTGaussianBlur(61, 3.0, shape, boundary="circular"),
            "matrix GaussianBlur, zero boundary": GaussianBlur(61, 3.0, shape),
            "bicubic SR x4": BicubicSR(4, shape),
        }
        t_others = {name: _best(pair(op), args.repeats, device) for name, op in others.items()}
        err_fwd = (fft.A(x) - F.conv2d(x, k, padding=30, groups=3)).abs().max().item()
        err_adj = (fft.A_adjoint(y) - F.conv_transpose2d(y, k, padding=30, groups=3)).abs().max()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}, {args.dtype}"
    )
    print(f"forward + adjoint of a 61 x 61 blur on [{args.batch}, 3, {args.size}, {args.size}]:")
    print(f"  direct conv2d + conv_transpose2d   : {t_direct * 1e3:10.1f} ms")
    print(f"  FFT blur (FFTGaussianBlur, zero)   : {t_fft * 1e3:10.1f} ms")
    print(f"  ratio direct / FFT                 : {t_direct / t_fft:10.1f}x")
    for name, t in t_others.items():
        print(f"  {name:<35}: {t * 1e3:10.1f} ms")
    print(f"max |FFT - direct|: forward {err_fwd:.2e}, adjoint {float(err_adj):.2e}")


if __name__ == "__main__":
    main()
