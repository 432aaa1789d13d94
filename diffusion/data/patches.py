r"""Real image patches, offline: grayscale (and colour) patches of the photographs bundled
with scikit-image.

Every image is converted to grayscale (``skimage.color.rgb2gray`` for colour), to float in
[0, 1] (``skimage.util.img_as_float``) and mapped to the pixel range of this project,
:math:`x = 2u - 1 \in [-1, 1]`. Patches are ``size x size`` windows at uniformly random
positions, drawn with a generator seeded by ``(seed, split, image index)`` only, so the
patches of one image do not depend on which other images are drawn.

**Split by source image** (never by patch): the prior is fitted, and DPS step sizes ζ are
chosen, on patches of :data:`FIT_IMAGES` only; every reported number is measured on patches
of :data:`TEST_IMAGES`, which no fit or tuning ever sees.

========== ======================================================================
split      images
========== ======================================================================
fit        astronaut, chelsea, rocket, brick, grass, moon, clock,
           hubble_deep_field, retina, immunohistochemistry
test       camera, coffee, coins, gravel
excluded   cat (the same photograph as chelsea), text, page (documents), horse
           (binary silhouette), checkerboard, logo, colorwheel, shepp_logan_phantom
           (synthetic), microaneurysms, cell (tiny or non-photographic), eagle (does
           not load offline)
========== ======================================================================

Flat patches (pixel standard deviation below ``min_std``, default 0.02 ≈ 2.5 grey levels
of 255 in the [-1, 1] range) are rejected and redrawn, identically for both splits: the
dark backgrounds of hubble_deep_field and retina would otherwise fill a large share of the
data with near-constant windows on which every restoration method is trivially right.
Each image contributes the same number of patches (the remainder goes to the first ones),
so large images (retina, 1411 x 1411) do not dominate.

**Colour** (``colour=True``; the ``patches32rgb`` prior): RGB patches, channels first
``(3, s, s)``, :math:`x = 2u - 1` per channel, of the colour photographs that load offline
(scikit-image 0.26 without its optional download; tested one by one), again split by
source image; the flat-patch test uses the standard deviation over all 3 s² values.

========== ======================================================================
colour     images
========== ======================================================================
fit        astronaut, chelsea, rocket, hubble_deep_field, retina,
           immunohistochemistry (the colour photographs of the grey fit split)
test       coffee (held out in grey too), stereo_motorcycle (its left view)
excluded   cat (= chelsea), colorwheel, logo (synthetic); eagle, lily, skin,
           kidney, ... (need a download)
========== ======================================================================

References
----------
1. S. van der Walt et al., "scikit-image: image processing in Python", PeerJ 2 (2014),
   ``skimage.data``.
2. D. Zoran, Y. Weiss, "From learning models of natural image patches to whole image
   restoration", ICCV 2011 (Gaussian-mixture priors of image patches).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from numerics.validate import as_array, check_bool

__all__ = [
    "COLOUR_FIT_IMAGES",
    "COLOUR_SPLITS",
    "COLOUR_TEST_IMAGES",
    "EXCLUDED_IMAGES",
    "FIT_IMAGES",
    "SPLITS",
    "TEST_IMAGES",
    "extract_patches",
    "load_image",
    "patch_dataset",
]

#: Images whose patches fit the prior and tune ζ.
FIT_IMAGES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "rocket",
    "brick",
    "grass",
    "moon",
    "clock",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)
#: Held-out images: every reported restoration number is measured on their patches only.
TEST_IMAGES: tuple[str, ...] = ("camera", "coffee", "coins", "gravel")
#: Bundled images not used, and why.
EXCLUDED_IMAGES: dict[str, str] = {
    "cat": "the same photograph as chelsea (skimage.data.cat() == chelsea())",
    "text": "a document, not a photograph",
    "page": "a document, not a photograph",
    "horse": "a binary silhouette",
    "checkerboard": "synthetic",
    "logo": "synthetic",
    "colorwheel": "synthetic",
    "shepp_logan_phantom": "synthetic",
    "microaneurysms": "a 102 x 102 crop",
    "cell": "microscopy, not a natural photograph",
    "eagle": "does not load offline",
}
SPLITS: dict[str, tuple[str, ...]] = {"fit": FIT_IMAGES, "test": TEST_IMAGES}
_SPLIT_ID = {"fit": 0, "test": 1}

#: Colour photographs (load offline) whose RGB patches fit the colour prior.
COLOUR_FIT_IMAGES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)
#: Held-out colour photographs: no patch of them is in the colour fit set.
COLOUR_TEST_IMAGES: tuple[str, ...] = ("coffee", "stereo_motorcycle")
COLOUR_SPLITS: dict[str, tuple[str, ...]] = {"fit": COLOUR_FIT_IMAGES, "test": COLOUR_TEST_IMAGES}


@cache
def _load_rgb(name: str) -> np.ndarray:
    import skimage.data
    import skimage.util

    if name not in COLOUR_FIT_IMAGES + COLOUR_TEST_IMAGES:
        raise ValueError(
            "name: expected one of the colour fit or test images "
            f"{COLOUR_FIT_IMAGES + COLOUR_TEST_IMAGES}, got {name!r}"
        )
    img = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        img = img[0]  # (left, right, disparity): the left view
    u = skimage.util.img_as_float(img[..., :3]).astype(np.float64)
    x = np.ascontiguousarray((2.0 * u - 1.0).transpose(2, 0, 1))
    x.setflags(write=False)
    return x


@cache
def _load(name: str) -> np.ndarray:
    import skimage.color
    import skimage.data
    import skimage.util

    if name not in FIT_IMAGES + TEST_IMAGES:
        raise ValueError(
            f"name: expected one of the fit or test images {FIT_IMAGES + TEST_IMAGES}, got {name!r}"
        )
    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = skimage.color.rgb2gray(img[..., :3])
    u = skimage.util.img_as_float(img).astype(np.float64)
    x = 2.0 * u - 1.0
    x.setflags(write=False)
    return x


def load_image(name: str, *, colour: bool = False) -> np.ndarray:
    r"""A bundled photograph as grayscale float64 in [-1, 1], :math:`x = 2u - 1`.

    Parameters
    ----------
    name : str
        One of :data:`FIT_IMAGES` or :data:`TEST_IMAGES` (with ``colour``: of
        :data:`COLOUR_FIT_IMAGES` or :data:`COLOUR_TEST_IMAGES`).
    colour : bool
        RGB, channels first, instead of grayscale.

    Returns
    -------
    (H, W) array, or (3, H, W) with ``colour``; read-only

    Examples
    --------
    >>> x = load_image("camera")
    >>> x.shape, bool(x.min() >= -1.0), bool(x.max() <= 1.0)
    ((512, 512), True, True)
    >>> load_image("coffee", colour=True).shape
    (3, 400, 600)
    """
    return _load_rgb(name) if colour else _load(name)


def extract_patches(
    image, n: int, *, size: int = 16, rng: np.random.Generator, min_std: float = 0.0
) -> np.ndarray:
    r"""``n`` square patches of ``image`` at uniformly random positions.

    Positions :math:`(i, j)` are uniform over :math:`[0, H - s] \times [0, W - s]`; a
    patch whose pixel standard deviation is below ``min_std`` is rejected and redrawn
    (at most 200 rounds; ValueError if the image has too few structured patches).

    Parameters
    ----------
    image : (H, W) array, or (C, H, W) (channels first: every patch keeps all C)
    n : int >= 0
    size : int >= 1
        Patch side s, at most min(H, W).
    rng : numpy.random.Generator
    min_std : float >= 0
        Over all the patch's values (C s² of them).

    Returns
    -------
    (n, size, size) float64 array, or (n, C, size, size)

    Examples
    --------
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> p = extract_patches(img, 3, size=2, rng=np.random.default_rng(0))
    >>> p.shape, bool(np.all(np.diff(p[:, 0, :], axis=1) == 1.0))
    ((3, 2, 2), True)
    """
    img = as_array(image, "image")
    if img.ndim not in (2, 3) or 0 in img.shape:
        raise ValueError(f"image: expected an (H, W) or (C, H, W) array, got shape {img.shape}")
    lead = img.shape[:-2]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    H, W = img.shape[-2:]
    if (
        isinstance(size, bool)
        or not isinstance(size, (int, np.integer))
        or not 1 <= size <= min(H, W)
    ):
        raise ValueError(f"size: expected an integer in [1, {min(H, W)}], got {size!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    min_std = _check_min_std(min_std)
    # view[i, j] is the (lead..., size, size) window at (i, j)
    view = np.moveaxis(
        np.lib.stride_tricks.sliding_window_view(img, (size, size), axis=(-2, -1)),
        (-4, -3), (0, 1),
    )  # fmt: skip
    out = np.empty((n, *lead, size, size))
    filled = 0
    for _ in range(200):
        if filled == n:
            break
        need = n - filled
        i = rng.integers(0, H - size + 1, size=2 * need)
        j = rng.integers(0, W - size + 1, size=2 * need)
        cand = view[i, j]
        if min_std > 0:
            cand = cand[cand.reshape(cand.shape[0], -1).std(axis=1) >= min_std]
        take = cand[:need]
        out[filled : filled + take.shape[0]] = take
        filled += take.shape[0]
    if filled < n:
        raise ValueError(
            f"image, min_std: found only {filled} of {n} patches with std >= min_std = {min_std} "
            "in 200 rounds"
        )
    return out


def _check_min_std(min_std) -> float:
    """``min_std`` as a finite float >= 0, else ValueError naming it."""
    if isinstance(min_std, (bool, np.bool_)) or not isinstance(
        min_std, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"min_std: expected a number >= 0, got {type(min_std).__name__}")
    if not (np.isfinite(min_std) and min_std >= 0):
        raise ValueError(f"min_std: expected a finite number >= 0, got {min_std!r}")
    return float(min_std)


def patch_dataset(
    split: str,
    n: int,
    *,
    size: int = 16,
    seed: int = 0,
    min_std: float = 0.02,
    images: tuple[str, ...] | None = None,
    return_sources: bool = False,
    colour: bool = False,
):
    r"""``n`` patches from the images of one split, the same number from each image.

    Image ``i`` of the split contributes :math:`\lfloor n/N \rfloor` patches (plus one for
    ``i < n mod N``), drawn by :func:`extract_patches` with the generator
    ``default_rng([seed, split_id, i])`` (split_id 0 = fit, 1 = test). The result is then
    shuffled with ``default_rng([seed, split_id, N])``. With ``colour``, the same on the RGB
    images of :data:`COLOUR_SPLITS` (``i`` and ``N`` count those).

    Parameters
    ----------
    split : {"fit", "test"}
    n : int >= 0
    size : int
        Patch side (16 gives d = 256).
    seed : int >= 0
    min_std : float >= 0
        Reject patches flatter than this (module notes).
    images : tuple of str, optional
        A subset of the split's images (default all of them).
    return_sources : bool
        Also return the source image name of every patch.
    colour : bool
        RGB patches of the colour split (module notes).

    Returns
    -------
    patches : (n, size, size) float64 array in [-1, 1]; (n, 3, size, size) with ``colour``
    sources : (n,) array of str, only if ``return_sources=True``

    Examples
    --------
    >>> p, src = patch_dataset("test", 8, seed=0, return_sources=True)
    >>> p.shape, sorted(set(src.tolist())) == sorted(TEST_IMAGES)
    ((8, 16, 16), True)
    >>> patch_dataset("test", 4, size=8, colour=True).shape
    (4, 3, 8, 8)
    """
    return_sources = check_bool(return_sources, "return_sources")
    colour = check_bool(colour, "colour")
    splits = COLOUR_SPLITS if colour else SPLITS
    if split not in splits:
        raise ValueError(f"split: expected one of {tuple(splits)}, got {split!r}")
    if images is not None and (isinstance(images, str) or not isinstance(images, (list, tuple))):
        raise TypeError(f"images: expected a tuple of image names or None, got {images!r:.40}")
    names = splits[split] if images is None else tuple(images)
    bad = [m for m in names if m not in splits[split]]
    if bad or not names:
        raise ValueError(f"images: expected a non-empty subset of {splits[split]}, got {names!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    min_std = _check_min_std(min_std)
    sid = _SPLIT_ID[split]
    N = len(names)
    parts, srcs = [], []
    for name in names:
        i = splits[split].index(name)
        cnt = n // N + (1 if names.index(name) < n % N else 0)
        rng = np.random.default_rng([int(seed), sid, i])
        img = load_image(name, colour=colour)
        parts.append(extract_patches(img, cnt, size=size, rng=rng, min_std=min_std))
        srcs.extend([name] * cnt)
    patches = np.concatenate(parts)
    order = np.random.default_rng([int(seed), sid, len(splits[split])]).permutation(n)
    patches, sources = patches[order], np.array(srcs, dtype=str)[order]
    if return_sources:
        return patches, sources
    return patches
