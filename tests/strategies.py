"""Hypothesis strategies shared by the test suite: SPD matrices, operators, noise levels."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sigma_ys = st.floats(min_value=1e-3, max_value=1.0)
horizons = st.sampled_from([10, 100, 1000])


def random_spd(rng: np.random.Generator, d: int, *, cond: float = 1e3, scale: float = 1.0):
    """A (d, d) SPD matrix with eigenvalues log-uniform in [scale/cond, scale] and random eigenvectors."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lam = scale * np.exp(rng.uniform(np.log(1.0 / cond), 0.0, size=d))
    S = (q * lam) @ q.T
    return 0.5 * (S + S.T)


def random_operator(rng: np.random.Generator, d: int, kind: str):
    """A (k, d) measurement matrix: "wide" (k < d), "tall" (k > d), "square", or "blur" (banded)."""
    if kind == "wide":
        return rng.normal(size=(max(1, d // 2), d)) / np.sqrt(d)
    if kind == "tall":
        return rng.normal(size=(2 * d, d)) / np.sqrt(d)
    if kind == "square":
        return rng.normal(size=(d, d)) / np.sqrt(d)
    if kind == "blur":
        w = np.exp(-0.5 * (np.arange(-2, 3) / 1.0) ** 2)
        w /= w.sum()
        A = np.zeros((d, d))
        for i in range(d):
            for j, wj in zip(range(i - 2, i + 3), w, strict=True):
                A[i, min(max(j, 0), d - 1)] += wj
        return A
    raise ValueError(kind)


operator_kinds = st.sampled_from(["wide", "tall", "square", "blur"])
