r"""How good is a trained patch prior? Fréchet distances of its samples to held-out patches.

:func:`fd_table` scores image sets against the held-out patches (the test split, photographs
no training patch comes from) with the Fréchet distance of Gaussian fits,
:func:`numerics.metrics.frechet_distance` (the FID formula, the *squared* Bures W2), on
fixed feature sets of the images ``[n, C, S, S]`` in [-1, 1] (no learned features: there
is no colour classifier in the project): for each ``b`` in ``blocks``, the means of the
non-overlapping b x b pixel blocks of every channel, C (S/b)² numbers (``b = 1``: the
pixels themselves). For 32 x 32 RGB, ``b = 2`` gives 768 numbers (colour and structure
down to 2 pixels; the covariances are singular when n <= 768, and the rank-safe route with
clipped eigenvalues is used), ``b = 4`` gives 192 (colour and coarse layout, full rank from
n = 193). The full 3072 pixels are left out by default only for time: every FD needs
eigen-decompositions of D x D matrices, minutes each on a loaded CPU at D = 3072.

Both are biased upwards at finite n (FD of two samples of one law is > 0 and falls like
1/n), so a value is read only against rows of the same n: the **floor** (other real
patches against the held-out ones) and a **trivial baseline**,
:func:`gaussian_draws`, the Gaussian with the fit patches' mean and covariance, which
matches every second moment of the fit data and has no structure beyond them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from numerics.metrics import frechet_distance
from numerics.validate import as_array

__all__ = ["fd_table", "gaussian_draws"]

_MAX_ABS = 1e3


def _images(x, name: str) -> np.ndarray:
    """A finite real image batch [n >= 2, C, S, S] of moderate values (images live in [-1, 1])."""
    a = as_array(x, name, ndim=4)
    if a.shape[2] != a.shape[3] or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name}: expected images [n >= 2, C, S, S], got shape {a.shape}")
    if np.abs(a).max() > _MAX_ABS:
        raise ValueError(
            f"{name}: expected values of magnitude <= {_MAX_ABS:g} (images in [-1, 1])"
        )
    return a


def _block_means(a: np.ndarray, block: int) -> np.ndarray:
    """[n, C, S, S] -> (n, C (S/block)²) block means."""
    n, C, S, _ = a.shape
    k = S // block
    return a.reshape(n, C, k, block, k, block).mean(axis=(3, 5)).reshape(n, -1)


def _key(block: int) -> str:
    return "pixels" if block == 1 else f"{block}x{block} block means"


def gaussian_draws(fit, n: int, *, seed: int = 0) -> np.ndarray:
    r"""``n`` draws of :math:`N(\bar x, \hat S)`, the Gaussian fit (ddof 1) of ``fit``.

    Parameters
    ----------
    fit : [m, C, S, S] images, m >= 2
    n : int >= 1
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    [n, C, S, S] float64 array (not clipped to [-1, 1])

    Examples
    --------
    >>> fit = np.random.default_rng(1).normal(size=(500, 1, 2, 2))
    >>> gaussian_draws(fit, 3).shape
    (3, 1, 2, 2)
    """
    a = _images(fit, "fit")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    flat = a.reshape(a.shape[0], -1)
    mean = flat.mean(axis=0)
    w, V = np.linalg.eigh(np.cov(flat, rowvar=False, ddof=1))
    root = V * np.sqrt(np.clip(w, 0.0, None))  # root @ root.T = the covariance
    z = np.random.default_rng(seed).standard_normal((n, mean.size))
    return (mean + z @ root.T).reshape(n, *a.shape[1:])


def fd_table(sets: dict, held_out, *, blocks: tuple[int, ...] = (2, 4)) -> dict:
    """Fréchet distance of every image set in ``sets`` to ``held_out`` (module notes).

    Parameters
    ----------
    sets : dict name -> [n, C, S, S] images
    held_out : [m, C, S, S] images
    blocks : tuple of int
        Block sides of the feature sets, each dividing S (1: the pixels).

    Returns
    -------
    dict name -> {"n": int, "pixels" (block 1) / "BxB block means": float, ...}

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(300, 1, 4, 4))
    >>> t = fd_table({"shifted": ref + 1.0}, ref, blocks=(1, 2))
    >>> round(t["shifted"]["pixels"], 9), round(t["shifted"]["2x2 block means"], 9)
    (16.0, 4.0)
    """
    ref = _images(held_out, "held_out")
    S = ref.shape[2]
    blocks = tuple(blocks)
    if not blocks:
        raise ValueError("blocks: expected at least one block side")
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1 or S % b:
            raise ValueError(f"blocks: expected positive divisors of {S}, got {blocks!r}")
    if not isinstance(sets, Mapping):
        raise ValueError(f"sets: expected a dict name -> images, got {type(sets).__name__}")
    refs = {b: _block_means(ref, b) for b in blocks}
    out = {}
    for name, x in sets.items():
        a = _images(x, f"sets[{name!r}]")
        if a.shape[1:] != ref.shape[1:]:
            raise ValueError(
                f"sets[{name!r}]: expected images {list(ref.shape[1:])}, got {list(a.shape[1:])}"
            )
        row = {"n": int(a.shape[0])}
        for b in blocks:
            fd = frechet_distance(_block_means(a, b), refs[b], rank_safe=True)
            row[_key(b)] = float(fd)
        out[name] = row
    return out
