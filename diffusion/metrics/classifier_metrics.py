r"""Perception and fidelity measured with the shipped digit classifier's features.

:func:`classifier_fd` (the FID formula on the classifier's 64 features), :func:`classifier_kid`
(the kernel distance, with its unbiased MMD² core :func:`mmd2_unbiased` and
:func:`kid_from_features`) and :func:`classifier_accuracy`. See
:mod:`diffusion.metrics.perception` for the conventions, caveats and references.
"""

from __future__ import annotations

import functools

import numpy as np

from diffusion._checks import check_has_methods
from diffusion.metrics.digit_classifier import as_image_batch, check_labels, load_digit_classifier
from numerics.metrics import frechet_distance
from numerics.validate import as_array, as_scalar, check_bool, check_int, check_seed

__all__ = [
    "classifier_accuracy",
    "classifier_fd",
    "classifier_features",
    "classifier_kid",
    "kid_from_features",
    "mmd2_unbiased",
    "poly_kernel",
    "resolve_classifier",
]


@functools.cache
def _shipped_classifier():
    return load_digit_classifier()


def resolve_classifier(classifier=None):
    """The given classifier, or the shipped one (:func:`load_digit_classifier`, loaded once per
    process).

    Raises TypeError naming ``classifier`` unless it is None or has a ``features`` method
    (a :class:`~diffusion.metrics.digit_classifier.DigitCNN`, or any feature map).
    """
    if classifier is None:
        return _shipped_classifier()
    return check_has_methods(classifier, "classifier", ("features",), "a digit classifier")


def _features(x, clf, name: str) -> np.ndarray:
    """``clf.features`` of the images ``x`` (called ``name`` in messages), finite, (B, F)."""
    f = clf.features(as_image_batch(x, name)).cpu().double().numpy()
    if not np.isfinite(f).all():
        raise ValueError(
            f"{name}: the classifier's features of these images are not finite (pixel values "
            "far outside the [-1, 1] range the classifier was trained on)"
        )
    return f


def classifier_features(x, *, classifier=None) -> np.ndarray:
    """Penultimate-layer features of the digit classifier, ``[B, 1, 16, 16] -> (B, F)`` float64.

    ``classifier``: a :class:`diffusion.digit_classifier.DigitCNN` (default: the shipped one).
    Images whose features overflow (pixels far outside [-1, 1]) raise ValueError naming ``x``.
    """
    return _features(x, resolve_classifier(classifier), "x")


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
    clf = resolve_classifier(classifier)
    fx = _features(x, clf, "x")
    fr = _features(ref, clf, "ref")
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

    The KID kernel with p = 3, c = 1 (ref. 3). ``degree`` p: an integer >= 1; ``coef`` c: a
    finite real number. Inputs whose kernel values would overflow float64 raise ValueError
    naming the argument responsible.
    """
    a, b = _feature_sets(a, b, "a", "b", min_rows=1)
    degree, coef = _kernel_params(degree, coef)
    _check_kernel_range(a, "a", degree, coef)
    _check_kernel_range(b, "b", degree, coef)
    return _kernel(a, b, degree, coef)


def _kernel(a: np.ndarray, b: np.ndarray, degree: int, coef: float) -> np.ndarray:
    return (a @ b.T / a.shape[1] + coef) ** degree


def _feature_sets(fx, fy, nx: str, ny: str, *, min_rows: int = 2):
    """Two (n, F) and (m, F) finite real feature arrays with at least ``min_rows`` rows."""
    fx, fy = as_array(fx, nx, ndim=2), as_array(fy, ny, ndim=2)
    for name, f in ((nx, fx), (ny, fy)):
        if f.shape[0] < min_rows or f.shape[1] < 1:
            raise ValueError(
                f"{name}: expected an (n, F) array with n >= {min_rows} and F >= 1, got shape "
                f"{f.shape}"
            )
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"{ny}: expected {fx.shape[1]} features per row as {nx}, got {fy.shape}")
    return fx, fy


def _kernel_params(degree, coef) -> tuple[int, float]:
    degree = check_int(degree, "degree", minimum=1)
    coef = as_scalar(coef, "coef")
    with np.errstate(over="ignore"):
        top = np.float64(abs(coef) + 1.0) ** float(degree)
    if not np.isfinite(top):
        raise ValueError(
            f"coef: (|coef| + 1)^degree = ({abs(coef):g} + 1)^{degree} overflows float64"
        )
    return degree, coef


def _check_kernel_range(f: np.ndarray, name: str, degree: int, coef: float) -> None:
    """Raise ValueError naming ``name`` unless (|f_i|^2 / F + |c|)^p is finite for every row:
    by Cauchy-Schwarz every kernel value k(f_i, g_j) is then bounded by a finite value (and
    the MMD sums by n^2 times it, checked by the callers)."""
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.max(np.sum((f / np.sqrt(f.shape[1])) ** 2, axis=1))
        top = (sq + abs(coef)) ** float(degree)
    if not np.isfinite(top):
        raise ValueError(
            f"{name}: entries up to {np.max(np.abs(f)):g} make the degree-{degree} kernel "
            "values overflow float64 (features are expected to be O(1))"
        )


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
    paired = check_bool(paired, "paired")
    fx, fy = _feature_sets(fx, fy, "fx", "fy")
    degree, coef = _kernel_params(degree, coef)
    _check_kernel_range(fx, "fx", degree, coef)
    _check_kernel_range(fy, "fy", degree, coef)
    return _mmd2(fx, fy, degree, coef, paired)


def _mmd2(fx: np.ndarray, fy: np.ndarray, degree: int, coef: float, paired: bool) -> float:
    """:func:`mmd2_unbiased` on checked inputs."""
    n, m = fx.shape[0], fy.shape[0]
    if paired and n != m:
        raise ValueError(f"fy: paired sets need as many rows as fx ({n}), got {m}")
    kxx = _kernel(fx, fx, degree, coef)
    kyy = _kernel(fy, fy, degree, coef)
    kxy = _kernel(fx, fy, degree, coef)
    with np.errstate(over="ignore", invalid="ignore"):
        sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        sxy = (kxy.sum() - np.trace(kxy)) / (n * (n - 1)) if paired else kxy.mean()
        out = float(sxx + syy - 2.0 * sxy)
    if not np.isfinite(out):
        raise ValueError("fx, fy: the kernel sums overflow float64 (features far larger than O(1))")
    return out


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
    return_sd = check_bool(return_sd, "return_sd")
    paired = check_bool(paired, "paired")
    fx, fy = _feature_sets(fx, fy, "fx", "fy")
    n, m = fx.shape[0], fy.shape[0]
    s = min(n, m, 1000) if subset_size is None else check_int(subset_size, "subset_size")
    if not 2 <= s <= min(n, m):
        raise ValueError(f"subset_size: expected an int in [2, {min(n, m)}], got {subset_size!r}")
    if isinstance(subsets, bool) or not isinstance(subsets, (int, np.integer)) or subsets < 1:
        raise ValueError(f"subsets: expected an integer >= 1, got {subsets!r}")
    seed = check_seed(seed)
    if paired and n != m:
        raise ValueError(f"fy: paired sets need as many rows as fx ({n}), got {m}")
    degree, coef = _kernel_params(degree, coef)
    _check_kernel_range(fx, "fx", degree, coef)
    _check_kernel_range(fy, "fy", degree, coef)
    if s == n == m:  # every subset is the full set (in some order): one round is enough
        kid = _mmd2(fx, fy, degree, coef, paired)
        return (kid, 0.0) if return_sd else kid
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        i = rng.choice(n, s, replace=False)
        j = i if paired else rng.choice(m, s, replace=False)
        vals.append(_mmd2(fx[i], fy[j], degree, coef, paired))
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
    clf = resolve_classifier(classifier)
    return kid_from_features(
        _features(x, clf, "x"),
        _features(ref, clf, "ref"),
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
    clf = resolve_classifier(classifier)
    check_has_methods(clf, "classifier", ("predict",), "a digit classifier")
    pred = clf.predict(as_image_batch(x, "x")).cpu().numpy()
    labels = check_labels(labels)
    if labels.shape != pred.shape:
        raise ValueError(f"labels: expected shape {pred.shape}, got {labels.shape}")
    return float((pred == labels).mean())
