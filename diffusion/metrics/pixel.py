r"""Pixel-space image metrics: PSNR and SSIM (distortion), sliced W2 between image sets.

Inputs are image batches (torch tensors or numpy arrays, ``[B, ...]``, images ``[B, C, H, W]``
with any C, e.g. 1 or 3) in the [-1, 1] range; outputs are Python floats (``per_image=True``:
one value per image).

Colour conventions (those of scikit-image and torchmetrics): **PSNR** takes the MSE over all
pixels *and channels* of an image, :math:`10\log_{10}(R^2/\mathrm{MSE})` per image, then the
mean over images (``skimage.metrics.peak_signal_noise_ratio`` of each image;
``torchmetrics.image.PeakSignalNoiseRatio(data_range=R, dim=(1, 2, 3))``). **SSIM** is computed
per channel and averaged over the channels (``structural_similarity(..., channel_axis=0)``),
then over images. The formulas live in :mod:`numerics.metrics`
(:func:`~numerics.metrics.psnr`, :func:`~numerics.metrics.sliced_w2`); this module adapts
image batches to them. See :mod:`diffusion.metrics.perception` for the conventions and
references.
"""

from __future__ import annotations

import numpy as np

from diffusion._checks import as_real_numpy
from numerics.metrics import psnr as psnr_rows
from numerics.metrics import random_directions, sliced_w2
from numerics.validate import check_int, check_positive

__all__ = ["pixel_sliced_w2", "psnr", "ssim"]

#: Largest SSIM ``data_range`` R: the SSIM terms multiply C1 = (0.01 R)^2 by C2 = (0.03 R)^2
#: (about 1e-7 R^4) and by squared means, which overflow float64 for R beyond about 1e70.
_MAX_SSIM_RANGE = 1e50


def _images(x, name: str) -> np.ndarray:
    """``[B, ...]`` tensor/array -> finite float64 numpy array with B >= 1, else ValueError
    naming ``name`` (strings, None, complex values, meta tensors, NaN/Inf)."""
    a = as_real_numpy(x, name)
    if a.ndim < 2 or a.shape[0] < 1:
        raise ValueError(f"{name}: expected a batch [B, ...] of images, got shape {a.shape}")
    return a


def _flat(x, name: str) -> np.ndarray:
    """``[B, ...]`` tensor/array -> (B, D) float64 numpy array, finite."""
    a = _images(x, name)
    return a.reshape(a.shape[0], -1)


def _paired(x, ref):
    a, b = _flat(x, "x"), _flat(ref, "ref")
    if a.shape != b.shape:
        raise ValueError(f"ref: expected the shape of x, {a.shape}, got {b.shape}")
    return a, b


def psnr(x, ref, *, data_range: float = 2.0, per_image: bool = False):
    r"""Mean over images of the peak signal-to-noise ratio, in dB.

    .. math::

        \mathrm{PSNR} = \frac1B \sum_{b=1}^B 10 \log_{10} \frac{R^2}{\frac1D\|x_b - r_b\|^2},

    R = ``data_range`` (2 for [-1, 1] images), D values per image (pixels times channels: the
    MSE is over all channels at once). Averaging per-image PSNRs
    (not the PSNR of the pooled MSE) is the usual convention; it weighs well-restored images
    more (Jensen: it is at least the pooled value). An exact match contributes
    :math:`10\log_{10}(R^2/10^{-20})` = 206 dB at R = 2 (clipped MSE).

    Parameters
    ----------
    x, ref : ``[B, ...]`` arrays or tensors, same shape
    per_image : bool
        Return the ``(B,)`` array of per-image values instead of their mean.

    Examples
    --------
    >>> round(psnr(np.zeros((2, 4)), np.full((2, 4), 0.2)), 6)   # MSE 0.04, R = 2
    20.0
    """
    a, b = _paired(x, ref)
    vals = psnr_rows(a, b, data_range=data_range)
    return vals if per_image else float(vals.mean())


def ssim(x, ref, *, data_range: float = 2.0, win_size: int = 7, per_image: bool = False):
    r"""Mean over images of the structural similarity (Wang et al. 2004, ref. 1).

    .. math::

        \mathrm{SSIM}(x, r) = \operatorname{mean}_{\text{windows}}
        \frac{(2\mu_x\mu_r + C_1)(2\sigma_{xr} + C_2)}{(\mu_x^2 + \mu_r^2 + C_1)(\sigma_x^2
        + \sigma_r^2 + C_2)}, \quad C_1 = (0.01 R)^2,\ C_2 = (0.03 R)^2,

    over ``win_size`` x ``win_size`` uniform windows (``skimage.metrics.structural_similarity``
    defaults, sample covariances; on 16 x 16 images the 7 x 7 window leaves 10 x 10 window
    centres), R = ``data_range``. A colour image ``[C, H, W]`` (C > 1) has the mean over its
    channels of the per-channel SSIM (scikit-image's ``channel_axis=0``; torchmetrics'
    ``StructuralSimilarityIndexMeasure`` also averages over channels, but with a Gaussian
    window and population covariances by default, so its values differ slightly).

    Parameters
    ----------
    x, ref : ``[B, C, H, W]`` or ``[B, H, W]`` arrays or tensors, same shape; H, W >= ``win_size``
    per_image : bool
        Return the ``(B,)`` array of per-image values instead of their mean.

    Examples
    --------
    >>> im = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16))
    >>> ssim(im, im)
    1.0
    >>> ssim(np.zeros((1, 3, 8, 8)), np.zeros((1, 3, 8, 8)), per_image=True)
    array([1.])
    """
    from skimage.metrics import structural_similarity

    data_range = check_positive(data_range, "data_range")
    if data_range > _MAX_SSIM_RANGE:
        raise ValueError(
            f"data_range: expected at most {_MAX_SSIM_RANGE:g} (the products of SSIM's "
            f"constants (0.01 R)^2 (0.03 R)^2 must stay finite in float64), got {data_range!r}"
        )
    win_size = check_int(win_size, "win_size", minimum=3)
    if win_size % 2 == 0:
        raise ValueError(f"win_size: expected an odd window size >= 3, got {win_size}")
    a, b = _images(x, "x"), _images(ref, "ref")
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if b.ndim == 4 and b.shape[1] == 1:
        b = b[:, 0]
    if a.ndim not in (3, 4) or a.shape != b.shape:
        raise ValueError(
            f"x, ref: expected two [B, C, H, W] or [B, H, W] batches of one shape, got "
            f"{np.shape(x)} and {np.shape(ref)}"
        )
    if min(a.shape[-2:]) < win_size:
        raise ValueError(
            f"x: images of {a.shape[-2]} x {a.shape[-1]} are smaller than the window {win_size}"
        )
    axis = 0 if a.ndim == 4 else None
    vals = np.array([
        structural_similarity(u, v, data_range=data_range, win_size=win_size, channel_axis=axis)
        for u, v in zip(a, b, strict=True)
    ])  # fmt: skip
    return vals if per_image else float(np.mean(vals))


def pixel_sliced_w2(x, ref, *, n_proj: int = 256, seed=0, rescale: bool = True) -> float:
    r"""Sliced 2-Wasserstein distance between two image sets in pixel space (POT).

    .. math::

        SW_2(P, Q)^2 = \frac1L\sum_{l=1}^L W_2^2(\theta_{l\#} P, \theta_{l\#} Q),

    over L = ``n_proj`` random unit directions :math:`\theta_l` (Gaussian, normalised;
    ``numpy.random.default_rng(seed)``), computed by ``ot.sliced_wasserstein_distance`` on
    the empirical laws (uniform weights). With ``rescale`` (default) it is multiplied by
    :math:`\sqrt D` (D pixels), so that a translation of a set by v gives about
    :math:`\|v\|` (exactly in expectation over the directions of :math:`SW_2^2`: the mean
    of :math:`(\theta^\top v)^2` is :math:`\|v\|^2/D`), the convention of
    :mod:`diffusion.restore`.

    Parameters
    ----------
    x : ``[n, ...]`` images (flattened to D pixels)
    ref : ``[m, ...]`` images, same D
    n_proj : int >= 1
    seed : int or seed sequence

    Notes
    -----
    Biased upward at finite n and m like every empirical W2 (a floor that decays like
    :math:`n^{-1/2}` per direction); the Monte-Carlo error over directions falls like
    :math:`L^{-1/2}`. Compare at equal n, m and L, with the same ``seed``. It is not the
    pixel W2, which it bounds: :math:`SW_2 \le W_2/\sqrt D` before rescaling.
    """
    a, b = _flat(x, "x"), _flat(ref, "ref")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"ref: expected {a.shape[1]} pixels per image, got {b.shape[1]}")
    if isinstance(n_proj, bool) or not isinstance(n_proj, (int, np.integer)) or n_proj < 1:
        raise ValueError(f"n_proj: expected an integer >= 1, got {n_proj!r}")
    return sliced_w2(a, b, random_directions(a.shape[1], int(n_proj), seed), rescale=rescale)
