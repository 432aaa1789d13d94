"""Benchmark: exact eta-chain moments at d = 1024, T = 1000 (target < 2 s on 2 cores).

Prints the wall time of ``numerics.gaussian.eta_chain_moments`` and its ratio to two
baselines measured in the same run (machines here are noisy, so ratios are what to read):

* one ``numpy.linalg.eigh`` of S (the unavoidable cost: the method does one of these), and
* the dense route, T steps of (d, d) matrix products with ``reverse_kernel`` matrices,
  timed on a few steps and extrapolated to T.

Run: ``python benchmarks/eta_chain_moments.py [--d 1024] [--T 1000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from numerics.gaussian import eta_chain_moments, reverse_kernel
from numerics.schedule import linear_schedule


def _best(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--T", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    B = rng.normal(size=(args.d, args.d))
    S = B @ B.T / args.d + 1e-3 * np.eye(args.d)
    m = rng.normal(size=args.d)
    sched = linear_schedule(args.T)

    t_moments = _best(
        lambda: eta_chain_moments(m, S, 0.5, sched, variance="beta_tilde"), args.repeats
    )
    t_eigh = _best(lambda: np.linalg.eigh(S), args.repeats)
    k = 3  # dense steps timed, extrapolated to T

    def dense_steps():
        Q = np.eye(args.d)
        for t in range(args.T, args.T - k, -1):
            K, C = reverse_kernel(S, sched, t)
            Q = K @ Q @ K.T + 0.5 * C

    t_dense = _best(dense_steps, 1) / k * args.T
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"d = {args.d}, T = {args.T}")
    print(f"eta_chain_moments            {t_moments:8.3f} s   (target < 2 s)")
    print(f"baseline: one eigh(S)        {t_eigh:8.3f} s   ratio {t_moments / t_eigh:6.2f}")
    print(
        f"baseline: dense T-step route {t_dense:8.1f} s   speed-up {t_dense / t_moments:8.0f}x (extrapolated)"
    )


if __name__ == "__main__":
    main()
