r"""Offline image metrics: PSNR, SSIM; perception by classifier FD, KID, accuracy, sliced W2.

Everything here runs offline on what ships with the project. Inputs are image batches
(torch tensors or numpy arrays, ``[B, 1, 16, 16]`` or ``[B, 16, 16]`` for the classifier
metrics, ``[B, ...]`` for the pixel metrics) in the [-1, 1] range; outputs are Python floats.

**Distortion** (per image against its own ground truth, averaged over the images):
:func:`psnr` (peak-to-peak 2) and :func:`ssim` (``skimage.metrics.structural_similarity``,
``data_range=2``, 7 x 7 uniform window: the conventions of :mod:`diffusion.restore`).

**Perception** (a distance between the *set* of restorations and a reference set of clean
images; no pairing):

* :func:`classifier_fd`: the Fréchet distance (the FID formula, ref. 2) on the 64 features
  of the shipped digit classifier (:mod:`diffusion.digit_classifier`), in place of
  Inception-v3 features, which cannot be loaded here;
* :func:`classifier_kid`: the kernel distance (KID, ref. 3) on the same features;
* :func:`classifier_accuracy`: the classifier's accuracy on the restorations against the
  true labels, a semantic-fidelity measure (is a restored digit still the same digit?);
* :func:`pixel_sliced_w2`: sliced W2 in pixel space (POT, ref. 4).

**Optional** :func:`optional_lpips` and :func:`optional_fid` use ImageNet networks; they run
only where the network code and its weights are already installed and on disk, and
otherwise print one line ``LPIPS skipped: <reason>`` (``FID skipped: ...``) and return
None. Nothing here downloads anything.

Sample-size caveats, in short: FD is biased upward at finite n (its covariance term
overestimates the distance, the bias falls like 1/n), so compare FDs only at equal set sizes
and report the FD between two real sets of the same size as its floor; KID is unbiased (0 in
expectation for equal laws, hence can be negative) but noisy; sliced W2 from samples is
biased upward like every empirical W2. See each function.

References
----------
1. Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
   error visibility to structural similarity", IEEE TIP 13 (2004).
2. M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs trained by a
   two time-scale update rule converge to a local Nash equilibrium", NeurIPS 2017.
3. M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD GANs", ICLR 2018.
4. N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein barycenters of
   measures", J. Math. Imaging Vis. 51 (2015); R. Flamary et al., "POT", JMLR 22 (2021).
5. A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf, A. Smola, "A kernel two-sample
   test", JMLR 13 (2012).
6. R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The unreasonable effectiveness of
   deep features as a perceptual metric", CVPR 2018 (LPIPS).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from diffusion.metrics.digit_classifier import as_image_batch, load_digit_classifier
from numerics.metrics import frechet_distance, random_directions, sliced_w2
from numerics.metrics import psnr as psnr_rows

__all__ = [
    "classifier_accuracy",
    "classifier_fd",
    "classifier_features",
    "classifier_kid",
    "kid_from_features",
    "mmd2_unbiased",
    "optional_fid",
    "optional_lpips",
    "pixel_sliced_w2",
    "poly_kernel",
    "psnr",
    "ssim",
]

_DEFAULT_CLASSIFIER = None


def _classifier(classifier=None):
    """The given classifier, or the shipped one (loaded once per process)."""
    global _DEFAULT_CLASSIFIER
    if classifier is not None:
        return classifier
    if _DEFAULT_CLASSIFIER is None:
        _DEFAULT_CLASSIFIER = load_digit_classifier()
    return _DEFAULT_CLASSIFIER


def _flat(x, name: str) -> np.ndarray:
    """``[B, ...]`` tensor/array -> (B, D) float64 numpy array, finite."""
    if isinstance(x, torch.Tensor):
        a = x.detach().cpu().double().numpy()
    else:
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: expected a numeric array of images") from exc
    if a.ndim < 2 or a.shape[0] < 1:
        raise ValueError(f"{name}: expected a batch [B, ...] of images, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return a.reshape(a.shape[0], -1)


def _paired(x, ref):
    a, b = _flat(x, "x"), _flat(ref, "ref")
    if a.shape != b.shape:
        raise ValueError(f"ref: expected the shape of x, {a.shape}, got {b.shape}")
    return a, b


# --------------------------------------------------------------------------- distortion


def psnr(x, ref, *, data_range: float = 2.0) -> float:
    r"""Mean over images of the peak signal-to-noise ratio, in dB.

    .. math::

        \mathrm{PSNR} = \frac1B \sum_{b=1}^B 10 \log_{10} \frac{R^2}{\frac1D\|x_b - r_b\|^2},

    R = ``data_range`` (2 for [-1, 1] images), D pixels per image. Averaging per-image PSNRs
    (not the PSNR of the pooled MSE) is the usual convention; it weighs well-restored images
    more (Jensen: it is at least the pooled value). An exact match contributes
    :math:`10\log_{10}(R^2/10^{-20})` = 206 dB at R = 2 (clipped MSE).

    Parameters
    ----------
    x, ref : ``[B, ...]`` arrays or tensors, same shape

    Examples
    --------
    >>> round(psnr(np.zeros((2, 4)), np.full((2, 4), 0.2)), 6)   # MSE 0.04, R = 2
    20.0
    """
    a, b = _paired(x, ref)
    return float(psnr_rows(a, b, data_range=data_range).mean())


def ssim(x, ref, *, data_range: float = 2.0, win_size: int = 7) -> float:
    r"""Mean over images of the structural similarity (Wang et al. 2004, ref. 1).

    .. math::

        \mathrm{SSIM}(x, r) = \operatorname{mean}_{\text{windows}}
        \frac{(2\mu_x\mu_r + C_1)(2\sigma_{xr} + C_2)}{(\mu_x^2 + \mu_r^2 + C_1)(\sigma_x^2
        + \sigma_r^2 + C_2)}, \quad C_1 = (0.01 R)^2,\ C_2 = (0.03 R)^2,

    over ``win_size`` x ``win_size`` uniform windows (``skimage.metrics.structural_similarity``
    defaults, sample covariances; on 16 x 16 images the 7 x 7 window leaves 10 x 10 window
    centres), R = ``data_range``.

    Parameters
    ----------
    x, ref : ``[B, 1, H, W]`` or ``[B, H, W]`` arrays or tensors, same shape

    Examples
    --------
    >>> im = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16))
    >>> ssim(im, im)
    1.0
    """
    from skimage.metrics import structural_similarity

    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    b = ref.detach().cpu().double().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if b.ndim == 4 and b.shape[1] == 1:
        b = b[:, 0]
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(
            f"x, ref: expected two [B, 1, H, W] or [B, H, W] batches of one shape, got "
            f"{np.shape(x)} and {np.shape(ref)}"
        )
    vals = [
        structural_similarity(u, v, data_range=data_range, win_size=win_size)
        for u, v in zip(a, b, strict=True)
    ]
    return float(np.mean(vals))


# --------------------------------------------------------------------------- classifier metrics


def classifier_features(x, *, classifier=None) -> np.ndarray:
    """Penultimate-layer features of the digit classifier, ``[B, 1, 16, 16] -> (B, F)`` float64.

    ``classifier``: a :class:`diffusion.digit_classifier.DigitCNN` (default: the shipped one).
    """
    clf = _classifier(classifier)
    return clf.features(as_image_batch(x, "x")).cpu().double().numpy()


def classifier_fd(x, ref, *, classifier=None) -> float:
    r"""Fréchet distance between Gaussian fits of the classifier features of two image sets.

    .. math::

        \mathrm{FD} = \|\mu_x - \mu_r\|^2 + \operatorname{tr}\big(\Sigma_x + \Sigma_r
        - 2 (\Sigma_x^{1/2}\Sigma_r\Sigma_x^{1/2})^{1/2}\big),

    the FID formula (ref. 2; the *squared* Bures W2, :func:`numerics.metrics.frechet_distance`)
    with the F = 64 features of :meth:`DigitCNN.features` instead of Inception's 2048;
    sample means and covariances (ddof = 1).

    Parameters
    ----------
    x : ``[n, 1, 16, 16]`` images (array or tensor), n > F (65 or more for the shipped
        classifier)
    ref : ``[m, 1, 16, 16]`` images, m > F (e.g. the clean test digits)
    classifier : DigitCNN, optional

    Notes
    -----
    Bias: FD of two finite samples of one law is > 0 and decreases like 1/n (the mean
    term alone contributes :math:`\operatorname{tr}\Sigma\,(1/n + 1/m)` in expectation;
    the covariance term adds a bias of that order that grows with F). With the shipped
    classifier (features of unit mean square, so :math:`\operatorname{tr}\Sigma \le 64`)
    the FD between the clean ``val`` and ``test`` digits is 0.30, between the two halves of
    ``test`` 0.87, between ``test`` and ``train`` 0.17. Restorations compared with their
    *own* ground-truth images score far lower (the pairing cancels most of the sampling
    error: 0.005 for good deblurring here), so read such FDs against each other only.
    With n <= F the sample covariance is singular (the matrix square root fails): a
    ValueError is raised. Compare FDs only at equal n and m, and report as floor the FD
    between two sets of real images of the same sizes. It sees only two moments of the
    features.
    """
    clf = _classifier(classifier)
    fx = classifier_features(x, classifier=clf)
    fr = classifier_features(ref, classifier=clf)
    F = fx.shape[1]
    for name, f in (("x", fx), ("ref", fr)):
        if f.shape[0] <= F:
            raise ValueError(
                f"{name}: the Fréchet distance of {F} features needs more than {F} images per "
                f"set (their covariance is singular otherwise), got {f.shape[0]}; "
                "classifier_kid works for any size >= 2"
            )
    return float(frechet_distance(fx, fr))


def poly_kernel(a: np.ndarray, b: np.ndarray, *, degree: int = 3, coef: float = 1.0):
    r"""Polynomial kernel :math:`k(a, b) = (a^\top b / F + c)^{p}`: ``(n, F), (m, F) -> (n, m)``.

    The KID kernel with p = 3, c = 1 (ref. 3).
    """
    return (a @ b.T / a.shape[1] + coef) ** degree


def mmd2_unbiased(
    fx: np.ndarray, fy: np.ndarray, *, degree: int = 3, coef: float = 1.0, paired: bool = False
) -> float:
    r"""Unbiased estimate of the squared MMD with the polynomial kernel (refs. 3, 5).

    .. math::

        \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)}\sum_{i \ne j} k(x_i, x_j)
        + \frac{1}{m(m-1)}\sum_{i \ne j} k(y_i, y_j) - \frac{2}{nm}\sum_{i, j} k(x_i, y_j),

    an unbiased estimate of :math:`E k(X, X') + E k(Y, Y') - 2 E k(X, Y)` when the two
    samples are independent, hence 0 in expectation when the two laws are equal (and
    possibly negative).

    ``paired=True`` (n = m; row i of ``fx`` is paired with row i of ``fy``, e.g. a
    restoration and its own clean image) uses the U-statistic of ref. 5 (eq. 3), whose
    cross term leaves out the pairs themselves,
    :math:`-\frac{2}{n(n-1)}\sum_{i \ne j} k(x_i, y_j)`: it is unbiased for the MMD² of
    the two *marginal* laws whenever the pairs :math:`(x_i, y_i)` are i.i.d., even though
    :math:`x_i` and :math:`y_i` are dependent. The unpaired formula on paired data is
    biased by :math:`-\frac{2}{n}\big(E k(x_i, y_i) - E k(x_i, y_j)\big)`, negative
    when restorations resemble their own ground truth.

    Parameters
    ----------
    fx : (n, F) array, n >= 2
    fy : (m, F) array, m >= 2 (m = n when ``paired``)
    """
    fx, fy = np.asarray(fx, dtype=np.float64), np.asarray(fy, dtype=np.float64)
    if fx.ndim != 2 or fy.ndim != 2 or fx.shape[1] != fy.shape[1]:
        raise ValueError(f"fx, fy: expected (n, F) and (m, F) arrays, got {fx.shape}, {fy.shape}")
    n, m = fx.shape[0], fy.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"fx, fy: expected at least 2 rows each, got {n} and {m}")
    if paired and n != m:
        raise ValueError(f"fy: paired sets need as many rows as fx ({n}), got {m}")
    kxx = poly_kernel(fx, fx, degree=degree, coef=coef)
    kyy = poly_kernel(fy, fy, degree=degree, coef=coef)
    kxy = poly_kernel(fx, fy, degree=degree, coef=coef)
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    sxy = (kxy.sum() - np.trace(kxy)) / (n * (n - 1)) if paired else kxy.mean()
    return float(sxx + syy - 2.0 * sxy)


def kid_from_features(
    fx,
    fy,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    seed=0,
    degree: int = 3,
    coef: float = 1.0,
    return_sd: bool = False,
    paired: bool = False,
):
    r"""KID: the mean over random subsets of :func:`mmd2_unbiased` (Bińkowski et al. 2018).

    Each of ``subsets`` rounds draws ``subset_size`` rows of ``fx`` and of ``fy`` without
    replacement (``numpy.random.default_rng(seed)``) and computes the unbiased MMD²; the
    KID is their mean (``return_sd=True``: also their standard deviation, the spread over
    subsets, as torchmetrics reports it; it is not the standard error of the KID).
    ``subset_size`` defaults to ``min(n, m, 1000)``; when it equals both n and m every
    subset is the full set, so the full-set estimate is returned (sd 0). ``paired``: the
    rows of ``fx`` and ``fy`` are pairs (n = m); each subset takes the same rows of both
    and uses the paired estimator of :func:`mmd2_unbiased`.

    Parameters
    ----------
    fx : (n, F) array
    fy : (m, F) array
    """
    fx, fy = np.asarray(fx, dtype=np.float64), np.asarray(fy, dtype=np.float64)
    n, m = fx.shape[0], fy.shape[0]
    s = min(n, m, 1000) if subset_size is None else int(subset_size)
    if not 2 <= s <= min(n, m):
        raise ValueError(f"subset_size: expected an int in [2, {min(n, m)}], got {subset_size!r}")
    if isinstance(subsets, bool) or not isinstance(subsets, (int, np.integer)) or subsets < 1:
        raise ValueError(f"subsets: expected an integer >= 1, got {subsets!r}")
    if paired and n != m:
        raise ValueError(f"fy: paired sets need as many rows as fx ({n}), got {m}")
    kw = dict(degree=degree, coef=coef, paired=paired)
    if s == n == m:  # every subset is the full set (in some order): one round is enough
        kid = mmd2_unbiased(fx, fy, **kw)
        return (kid, 0.0) if return_sd else kid
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        i = rng.choice(n, s, replace=False)
        j = i if paired else rng.choice(m, s, replace=False)
        vals.append(mmd2_unbiased(fx[i], fy[j], **kw))
    vals = np.array(vals)
    kid = float(vals.mean())
    return (kid, float(vals.std())) if return_sd else kid


def classifier_kid(
    x,
    ref,
    *,
    classifier=None,
    subsets: int = 100,
    subset_size: int | None = None,
    seed=0,
    return_sd: bool = False,
    paired: bool = False,
):
    r"""Kernel distance (KID) between two image sets on the digit classifier's features.

    .. math::

        \mathrm{KID} = \widehat{\mathrm{MMD}}^2_u, \qquad k(a, b) = (a^\top b / F + 1)^3,

    averaged over ``subsets`` random subsets of ``subset_size`` images of each set
    (:func:`kid_from_features`; F = 64 features of :meth:`DigitCNN.features`).

    Parameters
    ----------
    x : ``[n, 1, 16, 16]`` images
    ref : ``[m, 1, 16, 16]`` images
    classifier : DigitCNN, optional
    subsets, subset_size, seed, return_sd
        See :func:`kid_from_features` (default subset size ``min(n, m, 1000)``).
    paired : bool
        True when ``x[i]`` is a restoration of ``ref[i]`` (n = m): then the paired
        U-statistic of :func:`mmd2_unbiased` is used, which stays unbiased for the two
        marginal laws; the default, unpaired estimator is biased downward (negative) on
        such pairs.

    Notes
    -----
    Unlike FD, the estimator is unbiased for every n (ref. 3), so sets of different sizes
    can be compared; it can be negative when the laws are close. Unbiased means for
    *independent* samples: two label-stratified splits of one data set are more alike than
    independent samples, so the KID of the clean ``test`` against the clean ``train``
    digits is negative (-0.012), and restorations scored against their own ground truth
    need ``paired=True``. Its standard deviation
    falls like 1/sqrt(n); the spread over subsets (``return_sd``) understates the sampling
    error when the subsets overlap (subset size near n).
    """
    clf = _classifier(classifier)
    return kid_from_features(
        classifier_features(x, classifier=clf),
        classifier_features(ref, classifier=clf),
        subsets=subsets,
        subset_size=subset_size,
        seed=seed,
        return_sd=return_sd,
        paired=paired,
    )


def classifier_accuracy(x, labels, *, classifier=None) -> float:
    r"""Fraction of restored images that the digit classifier labels as their true digit.

    .. math::

        \mathrm{acc} = \frac1B\sum_b \mathbb 1\{\arg\max_c f_c(\hat x_b) = \ell_b\}.

    A semantic-fidelity measure: on clean test digits the shipped classifier scores its test
    accuracy (``load_digit_classifier().info["test_acc"]``), the ceiling to compare with.
    Standard error :math:`\sqrt{a(1-a)/B}` (about 0.9 % at a = 0.97, B = 360).

    Parameters
    ----------
    x : ``[B, 1, 16, 16]`` images
    labels : (B,) ints in 0 … 9
    """
    clf = _classifier(classifier)
    pred = clf.predict(as_image_batch(x, "x")).cpu().numpy()
    labels = np.asarray(labels)
    if labels.shape != pred.shape:
        raise ValueError(f"labels: expected shape {pred.shape}, got {labels.shape}")
    return float((pred == labels).mean())


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


# --------------------------------------------------------------------------- optional extras


def _skip(what: str, reason: str, quiet: bool):
    if not quiet:
        print(f"{what} skipped: {reason}", file=sys.stderr)
    return None


def _hub_file(names) -> Path | None:
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    for n in names:
        if (ckpt / n).exists():
            return ckpt / n
    return None


_LPIPS_BACKBONES = {
    "alex": ("alexnet-owt-7be5be79.pth", "alexnet-owt-4df8aa71.pth"),
    "vgg": ("vgg16-397923af.pth",),
    "squeeze": ("squeezenet1_1-b8a52dc0.pth", "squeezenet1_1-f364aa15.pth"),
}


def optional_lpips(x, ref, *, net_type: str = "alex", quiet: bool = False) -> float | None:
    r"""Mean LPIPS (ref. 6) between paired images, only if it can run without a download.

    LPIPS compares ImageNet-network activations of :math:`\hat x_b` and :math:`x_b`
    (unit-normalised per channel, weighted, averaged over positions and layers); grey
    images are repeated to 3 channels; inputs in [-1, 1]. It runs through torchmetrics'
    ``LearnedPerceptualImagePatchSimilarity``, which needs torchvision and the backbone's
    ImageNet weights in the torch hub cache (``torch.hub.get_dir()/checkpoints``). If
    either is missing it prints one line ``LPIPS skipped: <reason>`` to stderr (unless
    ``quiet``) and returns None. It never downloads. On 16 x 16 digits the ImageNet
    features are far outside their training domain: treat the number as an extra.

    Parameters
    ----------
    x, ref : ``[B, 1, H, W]`` images, same shape
    net_type : {"alex", "vgg", "squeeze"}
    """
    if net_type not in _LPIPS_BACKBONES:
        raise ValueError(f"net_type: expected one of {tuple(_LPIPS_BACKBONES)}, got {net_type!r}")
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # ImportError, or a RuntimeError from its compiled ops
        return _skip("LPIPS", f"torchvision is not importable ({type(exc).__name__})", quiet)
    if _hub_file(_LPIPS_BACKBONES[net_type]) is None:
        return _skip(
            "LPIPS",
            f"the {net_type} ImageNet weights are not in {torch.hub.get_dir()}/checkpoints "
            "(no download is attempted)",
            quiet,
        )
    try:  # pragma: no cover - needs torchvision and weights on disk
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        a = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x
        b = torch.as_tensor(np.asarray(ref, dtype=np.float32)) if not torch.is_tensor(ref) else ref
        a, b = a.float().expand(-1, 3, -1, -1), b.float().expand(-1, 3, -1, -1)
        metric = LearnedPerceptualImagePatchSimilarity(net_type=net_type, reduction="mean")
        return float(metric(a.clamp(-1, 1), b.clamp(-1, 1)))
    except Exception as exc:  # pragma: no cover
        return _skip("LPIPS", f"{type(exc).__name__}: {exc}".splitlines()[0], quiet)


def optional_fid(x, ref, *, quiet: bool = False) -> float | None:
    """Inception FID (ref. 2) between two image sets, only if it can run without a download.

    Needs torch-fidelity (torchmetrics' ``FrechetInceptionDistance``) and its Inception
    weights already in the torch hub cache; otherwise prints ``FID skipped: <reason>`` to
    stderr (unless ``quiet``) and returns None. Grey images are repeated to 3 channels and
    mapped to [0, 1]. Its bias at small n is large (ref. 2: use n >= 10 000); on a few
    hundred 16 x 16 digits prefer :func:`classifier_fd`.
    """
    try:
        import torch_fidelity  # noqa: F401
    except Exception as exc:
        return _skip("FID", f"torch-fidelity is not importable ({type(exc).__name__})", quiet)
    if _hub_file(("weights-inception-2015-12-05-6726825d.pth",)) is None:
        return _skip(
            "FID",
            f"the Inception weights are not in {torch.hub.get_dir()}/checkpoints "
            "(no download is attempted)",
            quiet,
        )
    try:  # pragma: no cover - needs torch-fidelity and weights on disk
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(normalize=True)
        for imgs, real in ((ref, True), (x, False)):
            t = (
                torch.as_tensor(np.asarray(imgs, dtype=np.float32))
                if not torch.is_tensor(imgs)
                else imgs
            )
            metric.update(((t.float().expand(-1, 3, -1, -1) + 1) / 2).clamp(0, 1), real=real)
        return float(metric.compute())
    except Exception as exc:  # pragma: no cover
        return _skip("FID", f"{type(exc).__name__}: {exc}".splitlines()[0], quiet)
