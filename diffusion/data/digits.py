r"""Handwritten digits at 16 x 16, offline: scikit-learn's ``load_digits`` upsampled.

``sklearn.datasets.load_digits`` ships 1797 real handwritten digits (8 x 8, 17 grey levels
0 … 16, from the UCI optical-recognition set) inside the package, so nothing is downloaded.
Each image is scaled to [0, 1] (divided by 16), upsampled to 16 x 16 by bilinear
interpolation with aligned corners (``scipy.ndimage.zoom(order=1, grid_mode=False)``: the
corner pixels keep their values, every new pixel is a convex combination of its 2 x 2
neighbours, so the range stays [0, 1]) and mapped to :math:`x = 2u - 1 \in [-1, 1]`, the
pixel range of the whole project.

**Split** (seeded, stratified by label, fixed for the project): per class, a permutation
drawn by ``default_rng([seed, label])`` puts the first 70 % in ``train``, the next 10 % in
``val`` and the rest in ``test``. ``train`` fits priors and classifiers; ``val`` chooses
hyper-parameters such as the DPS step ζ; every reported number uses ``test``, which no fit
or tuning sees. With any seed: 1258 train, 179 val, 360 test images.

References
----------
1. E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
   Repository (1998); ``sklearn.datasets.load_digits``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from numerics.validate import as_array

__all__ = ["DIGIT_SPLITS", "digits16", "upsample"]

#: Fractions of every class put in each split (the remainder goes to ``test``).
DIGIT_SPLITS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}


def upsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Bilinear upsampling with aligned corners: ``(n, h, w) -> (n, factor*h, factor*w)``.

    ``images``: finite, n >= 1; ``factor``: an integer >= 1.

    Examples
    --------
    >>> upsample(np.array([[[0.0, 1.0], [1.0, 0.0]]]), 2).round(3)[0, 0]
    array([0.   , 0.333, 0.667, 1.   ])
    """
    from scipy.ndimage import zoom

    images = as_array(images, "images", ndim=3)
    if images.shape[0] < 1:
        raise ValueError(f"images: expected shape (n, h, w) with n >= 1, got {images.shape}")
    if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, np.integer)):
        raise ValueError(f"factor: expected an integer >= 1, got {factor!r:.40}")
    if factor < 1:
        raise ValueError(f"factor: expected an integer >= 1, got {factor!r}")
    return np.stack([zoom(im, factor, order=1, grid_mode=False, mode="nearest") for im in images])


@cache
def _all(seed: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = 2.0 * upsample(d.images / 16.0, 2) - 1.0
    labels = d.target.astype(np.int64)
    idx = {"train": [], "val": [], "test": []}
    for c in range(10):
        members = np.flatnonzero(labels == c)
        perm = members[np.random.default_rng([seed, c]).permutation(members.size)]
        n_tr = int(round(DIGIT_SPLITS["train"] * perm.size))
        n_va = int(round(DIGIT_SPLITS["val"] * perm.size))
        idx["train"].append(perm[:n_tr])
        idx["val"].append(perm[n_tr : n_tr + n_va])
        idx["test"].append(perm[n_tr + n_va :])
    order = {k: np.sort(np.concatenate(v)) for k, v in idx.items()}
    for v in (x, labels):
        v.setflags(write=False)
    return x, labels, order


def digits16(split: str = "train", *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""The digits of one split at 16 x 16 in [-1, 1], and their labels.

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
    seed : int >= 0
        Seed of the split (module notes); 0 is the project's split.

    Returns
    -------
    images : (n, 16, 16) float64 array in [-1, 1]
    labels : (n,) int64 array in 0 … 9

    Examples
    --------
    >>> x, y = digits16("test")
    >>> x.shape, y.shape, float(x.min()), float(x.max())
    ((360, 16, 16), (360,), -1.0, 1.0)
    >>> sum(digits16(s)[0].shape[0] for s in ("train", "val", "test"))
    1797
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    x, labels, order = _all(int(seed))
    if split == "all":
        return x.copy(), labels.copy()
    if split not in order:
        raise ValueError(f"split: expected one of train, val, test, all; got {split!r}")
    i = order[split]
    return x[i].copy(), labels[i].copy()
