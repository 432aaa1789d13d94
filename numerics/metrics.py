r"""Distortion and perception metrics on samples: MSE, k-NN KL, Gaussian fits, PSNR, floors.

Distortion is the mean squared error summed over dimensions,
:math:`E\|\hat x - x\|^2`; perception is a distance between the law of the estimates
and the law they should have (the posterior), mostly the 2-Wasserstein distance

.. math::

    W_2(P, Q)^2 = \min_{\pi \in \Pi(P, Q)} \int \|x - x'\|^2 \, d\pi(x, x'),

computed between sample sets by :mod:`numerics.transport` (empirical and sliced W2, whose
names this module re-exports: ``from numerics.metrics import w2_empirical`` works).

Conventions of this module
--------------------------
* Every W2 is returned as W2, not W2², except :func:`frechet_distance`, which is the
  *squared* Bures W2 of Gaussian fits (the FID formula), as its name promises.
* Monte-Carlo uncertainty is asked for with a boolean keyword named after what it adds
  to the return value: ``return_se=True`` (standard error of a sample mean) in
  :func:`mse_to_truth` and :func:`conditional_mse`, ``return_sd=True`` (spread over
  repeats) in :func:`metric_floor`. The value then comes back as ``(value, se)`` or
  ``(mean, sd)``.
* Sample sets are ``(n, d)`` arrays, float64; bad input raises ``ValueError`` naming the
  argument.

Every two-sample estimate here is biased at finite n: report it next to its floor,
:func:`metric_floor` (see the notes of :mod:`numerics.transport`).

References
----------
1. Q. Wang, S. R. Kulkarni, S. Verdú, "Divergence estimation for multidimensional
   densities via k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55 (2009).
2. M. Heusel et al., "GANs trained by a two time-scale update rule converge to a local
   Nash equilibrium", NeurIPS 2017 (FID).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from numerics.gaussian import bures_w2, bures_w2_eigh, gaussian_kl
from numerics.transport import (
    orthonormal_directions,
    random_directions,
    sliced_w2,
    w2_empirical,
    w2_to_gmm,
)
from numerics.validate import (
    MAX_ABS,
    as_array,
    as_samples,
    check_bool,
    check_int,
    check_spd,
    check_std,
)

__all__ = [
    "conditional_mse",
    "frechet_distance",
    "gaussian_fit_kl",
    "gaussian_fit_w2",
    "knn_kl",
    "knn_kl_or_none",
    "metric_floor",
    "mse_to_truth",
    "orthonormal_directions",
    "psnr",
    "random_directions",
    "sliced_w2",
    "w2_empirical",
    "w2_to_gmm",
]


# --------------------------------------------------------------------------- distortion


def mse_to_truth(estimates, truth, *, return_se: bool = False):
    r"""Mean squared error summed over dimensions, :math:`\frac1n \sum_i \|\hat x_i - x_i\|^2`.

    Parameters
    ----------
    estimates : (n, d) array
    truth : (n, d) or (d,) array
        Paired ground truth, or one point broadcast against every estimate.
    return_se : bool
        Also return the Monte-Carlo standard error of the mean,
        :math:`\operatorname{sd}(\|\hat x_i - x_i\|^2)/\sqrt n` (sample sd, ddof = 1;
        needs n >= 2 and pairs that are i.i.d.).

    Returns
    -------
    mse : float
    se : float, only if ``return_se=True``

    Examples
    --------
    >>> mse, se = mse_to_truth([[1.0, 0.0], [0.0, 2.0]], [0.0, 0.0], return_se=True)
    >>> mse, round(se, 12)  # errors 1 and 4: sd = 3/sqrt(2), se = sd/sqrt(2)
    (2.5, 1.5)
    """
    return_se = check_bool(return_se, "return_se")
    est = as_samples(estimates, "estimates")
    n, d = est.shape
    tru = as_array(truth, "truth", max_abs=MAX_ABS)
    if tru.shape not in ((n, d), (d,)):
        raise ValueError(f"truth: expected shape ({n}, {d}) or ({d},), got {tru.shape}")
    err = np.sum((est - tru) ** 2, axis=1)
    return _mean_se(err, return_se, "estimates")


def conditional_mse(samples, post_mean, mmse, *, return_se: bool = False):
    r"""Exact MSE, given y, of estimates drawn independently of the truth x ~ p(x | y).

    .. math::

        E\big[\|\hat x - x\|^2 \mid y\big] = \mathrm{MMSE}(y)
        + E\big[\|\hat x - E[x \mid y]\|^2 \mid y\big],

    the cross term vanishing because :math:`\hat x` and x are independent given y. The
    second term is averaged over the ``samples``; only it carries Monte-Carlo error. This
    is the distortion of a stochastic estimator for a fixed y, without drawing truths.

    Parameters
    ----------
    samples : (n, d) array
        Estimates :math:`\hat x_i` for one measurement y.
    post_mean : (d,) array
        :math:`E[x \mid y]`.
    mmse : float >= 0
        :math:`\operatorname{tr}\operatorname{Cov}[x \mid y]`.
    return_se : bool
        Also return the standard error :math:`\operatorname{sd}(\|\hat x_i - m\|^2)/\sqrt n`.

    Returns
    -------
    mse : float
        ``mmse`` plus the sample mean of :math:`\|\hat x_i - m\|^2`.
    se : float, only if ``return_se=True``

    Examples
    --------
    >>> conditional_mse([[1.0, 0.0], [0.0, 3.0]], [0.0, 1.0], 0.5)
    3.5
    """
    return_se = check_bool(return_se, "return_se")
    smp = as_samples(samples, "samples")
    d = smp.shape[1]
    m = as_array(post_mean, "post_mean", shape=(d,), max_abs=MAX_ABS)
    mmse_arr = as_array(mmse, "mmse")
    if mmse_arr.ndim != 0 or mmse_arr < 0:
        raise ValueError(f"mmse: expected a number >= 0, got {mmse!r}")
    out = _mean_se(np.sum((smp - m) ** 2, axis=1), return_se, "samples")
    if return_se:
        return float(mmse_arr) + out[0], out[1]
    return float(mmse_arr) + out


# --------------------------------------------------------------------------- KL


def knn_kl(X, Y, *, k: int = 1) -> float:
    r"""k-nearest-neighbour estimate of :math:`KL(P_X \,\|\, P_Y)` in nats (ref. 1).

    .. math::

        \widehat{KL} = \frac{d}{n} \sum_{i=1}^n \log \frac{\nu_k(i)}{\rho_k(i)}
        + \log \frac{m}{n - 1},

    with :math:`\rho_k(i)` the distance from :math:`X_i` to its k-th nearest neighbour in
    X without :math:`X_i`, and :math:`\nu_k(i)` the distance from :math:`X_i` to its k-th
    nearest neighbour in Y (Euclidean, ``scipy.spatial.cKDTree``). Consistent as n, m →
    ∞ for fixed k; at finite n it has bias (it grows with k and d) and variance, and it
    can be negative. The bias is small (about 0.01 at n = 2000 in 2-D, k = 1) when Q's
    tails cover P's, e.g. KL(samples ‖ posterior) for a sampler narrower than the
    posterior; it is large and negative when P puts mass in Q's light tail, where few Y
    points are near the X_i (a 2-D Gaussian pair with KL 1.07 measured 0.76 at n = 1000,
    0.85 at 4000, 0.94 at 64000). Report :func:`metric_floor` with it. Needs laws with
    densities: tied points make a ratio 0 or ∞ and raise ValueError, so pass
    *independent* sample sets (``knn_kl(X, X)`` is undefined).

    Parameters
    ----------
    X : (n, d) array
        Samples of P, n >= k + 1.
    Y : (m, d) array
        Samples of Q, m >= k.
    k : int >= 1

    Returns
    -------
    kl : float

    Examples
    --------
    >>> # rho = (1, 1), nu = (0.5, 0.5): log(0.5) + log(m / (n - 1)) = log(0.5) + log(2)
    >>> round(knn_kl([[0.0], [1.0]], [[0.5], [3.0]]), 12)
    0.0
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected an integer >= 1, got {k!r}")
    k = int(k)
    X = as_samples(X, "X")
    n, d = X.shape
    Y = as_samples(Y, "Y", d=d)
    m = Y.shape[0]
    if n < k + 1:
        raise ValueError(f"X: expected at least k + 1 = {k + 1} samples, got {n}")
    if m < k:
        raise ValueError(f"Y: expected at least k = {k} samples, got {m}")
    rho = cKDTree(X).query(X, k=[k + 1])[0][:, 0]  # neighbour k+1 counts X_i itself
    nu = cKDTree(Y).query(X, k=[k])[0][:, 0]
    if np.any(rho == 0):
        raise ValueError("X: repeated points (k-NN distance 0); the estimator needs a density")
    if np.any(nu == 0):
        raise ValueError(
            "Y: a point of X coincides with a point of Y; pass independent sample sets"
        )
    return float(d * np.mean(np.log(nu / rho)) + np.log(m / (n - 1)))


def knn_kl_or_none(X, Y, *, k: int = 1):
    """:func:`knn_kl`, or None where it is undefined or not finite (e.g. collapsed samples).

    Bad input (not sample sets, ``k`` not an integer >= 1) still raises ``ValueError`` /
    ``TypeError``."""
    X = as_samples(X, "X")
    Y = as_samples(Y, "Y", d=X.shape[1])
    check_int(k, "k", minimum=1)
    try:
        v = float(knn_kl(X, Y, k=k))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- Gaussian fits


def gaussian_fit_w2(X, Y) -> float:
    r"""Bures W2 between Gaussian fits: :math:`W_2\big(N(\bar x, \hat S_X), N(\bar y, \hat S_Y)\big)`.

    Sample means and covariances (ddof = 1), then :func:`numerics.gaussian.bures_w2`.
    Equals the W2 of the laws when both are Gaussian, up to O(n^{-1/2}) sampling error
    (no curse of dimension); otherwise it is a lower bound on W2 of the laws
    (Gelbrich's bound).

    Parameters
    ----------
    X : (n, d) array, n >= 2
    Y : (m, d) array, m >= 2

    Returns
    -------
    w2 : float
    """
    mx, Sx, my, Sy = _fit_pair(X, Y, min_n=2)
    return bures_w2(mx, Sx, my, Sy)


def frechet_distance(X, Y, *, rank_safe: bool = False) -> float:
    r"""Fréchet distance (*squared* Bures W2) between Gaussian fits, the FID formula.

    .. math::

        \|\bar x - \bar y\|^2 + \operatorname{tr}\hat S_X + \operatorname{tr}\hat S_Y
        - 2\operatorname{tr}\big(\hat S_X^{1/2} \hat S_Y \hat S_X^{1/2}\big)^{1/2},

    in whatever feature space X and Y live (FID uses Inception features; here it is
    usually the data space). Squared: ``frechet_distance(X, Y) = gaussian_fit_w2(X, Y)**2``.

    With ``rank_safe`` the symmetric square roots come from ``eigh`` and negative rounding
    eigenvalues are clipped to 0, so the value stays finite when n <= d (rank-deficient
    sample covariances), where the default route returns NaN.

    Parameters
    ----------
    X : (n, d) array, n >= 2
    Y : (m, d) array, m >= 2
    rank_safe : bool
        Use the clipped eigen-decomposition route (finite for singular covariances).

    Returns
    -------
    fd : float

    Examples
    --------
    >>> X = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    >>> round(frechet_distance(X, [[x + 3.0, y - 4.0] for x, y in X]), 9)
    25.0
    >>> round(frechet_distance(X, [[x + 3.0, y - 4.0] for x, y in X], rank_safe=True), 9)
    25.0
    """
    if check_bool(rank_safe, "rank_safe"):
        return _frechet_rank_safe(X, Y)
    mx, Sx, my, Sy = _fit_pair(X, Y, min_n=2)
    return bures_w2(mx, Sx, my, Sy, squared=True)


def gaussian_fit_kl(X, Y) -> float:
    r"""KL divergence between Gaussian fits, :math:`KL\big(N(\bar x, \hat S_X) \,\|\, N(\bar y, \hat S_Y)\big)`.

    Sample means and covariances (ddof = 1), then :func:`numerics.gaussian.gaussian_kl`.
    The sample covariances must be positive definite (n, m >= d + 1 points in general
    position).

    Parameters
    ----------
    X : (n, d) array
    Y : (m, d) array

    Returns
    -------
    kl : float (nats)
    """
    mx, Sx, my, Sy = _fit_pair(X, Y, min_n=None)
    Sx = check_spd(Sx, "X (sample covariance)")
    Sy = check_spd(Sy, "Y (sample covariance)")
    return gaussian_kl(mx, Sx, my, Sy)


def _frechet_rank_safe(X, Y) -> float:
    X = _fit_samples(X, "X", d=None, min_n=2)
    Y = _fit_samples(Y, "Y", d=X.shape[1], min_n=2)
    Sx = np.atleast_2d(np.cov(X, rowvar=False))
    Sy = np.atleast_2d(np.cov(Y, rowvar=False))
    return bures_w2_eigh(X.mean(axis=0) - Y.mean(axis=0), Sx, Sy)


# --------------------------------------------------------------------------- floor


def metric_floor(metric, sampler, n: int, rng, *, repeats: int = 5, return_sd: bool = False):
    r"""The floor of a two-sample metric: its value between two independent exact sets of size n.

    .. math::

        \mathrm{floor}(n) = \frac1R \sum_{r=1}^R \mathrm{metric}\big(X^{(r)}, Y^{(r)}\big),
        \qquad X^{(r)}, Y^{(r)} \overset{iid}{\sim} P^{\otimes n},

    what the metric reports for a *perfect* sampler at this n. A measured value is
    meaningful only above it (see the module notes on finite-sample bias).

    Parameters
    ----------
    metric : callable ``(X, Y) -> float``
        E.g. :func:`w2_empirical`, :func:`knn_kl`, or ``lambda X, Y: w2_empirical(X, Y,
        method="sliced")``.
    sampler : callable ``(n, rng) -> (n, d) array``
        Exact sampler of P, e.g. ``GaussianMixture.sample``.
    n : int >= 1
        Size of each set; use the n of the measurement it is a floor for.
    rng : numpy.random.Generator
    repeats : int >= 1
        R, the number of independent pairs of sets.
    return_sd : bool
        Also return the sample sd over the repeats (ddof = 1; needs repeats >= 2): the
        spread of one floor value. The standard error of the mean is sd / √R.

    Returns
    -------
    mean : float
    sd : float, only if ``return_sd=True``

    Examples
    --------
    >>> point = lambda n, rng: np.ones((n, 2))
    >>> metric_floor(w2_empirical, point, 10, np.random.default_rng(0), return_sd=True)
    (0.0, 0.0)
    """
    return_sd = check_bool(return_sd, "return_sd")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats: expected an integer >= 1, got {repeats!r}")
    if return_sd and repeats < 2:
        raise ValueError(f"repeats: expected >= 2 to estimate an sd, got {repeats}")
    if not callable(metric):
        raise ValueError(
            f"metric: expected a callable (X, Y) -> float, got {type(metric).__name__}"
        )
    if not callable(sampler):
        raise ValueError(
            f"sampler: expected a callable (n, rng) -> (n, d) array, got {type(sampler).__name__}"
        )
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    vals = np.empty(int(repeats))
    for r in range(int(repeats)):
        X = as_samples(sampler(int(n), rng), "sampler(n, rng)")
        Y = as_samples(sampler(int(n), rng), "sampler(n, rng)", d=X.shape[1])
        if X.shape[0] != n or Y.shape[0] != n:
            raise ValueError(f"sampler(n, rng): expected {n} rows, got {X.shape[0]}, {Y.shape[0]}")
        vals[r] = float(metric(X, Y))
    if return_sd:
        return float(vals.mean()), float(vals.std(ddof=1))
    return float(vals.mean())


# --------------------------------------------------------------------------- PSNR


def psnr(x, ref, *, data_range: float = 2.0) -> np.ndarray:
    r"""Peak signal-to-noise ratio of each row of ``x`` against ``ref``, in dB.

    .. math::

        \mathrm{PSNR}_b = 10 \log_{10} \frac{R^2}{\frac1D\|x_b - r_b\|^2},

    R = ``data_range`` (2 for [-1, 1] images), D entries per row; the MSE is clipped at
    1e-20 (an exact match gives 206 dB at R = 2).

    Parameters
    ----------
    x : (B, D) array
    ref : (B, D) or (D,) array (broadcast against x)

    Returns
    -------
    psnr : (B,) array

    Examples
    --------
    >>> psnr(np.zeros((2, 4)), np.full(4, 0.2)).round(6).tolist()   # MSE 0.04, R = 2
    [20.0, 20.0]
    """
    x = as_samples(x, "x")
    ref = as_array(ref, "ref", max_abs=MAX_ABS)
    if ref.shape not in ((x.shape[1],), (1, x.shape[1]), x.shape):
        raise ValueError(
            f"ref: expected shape {x.shape}, (1, {x.shape[1]}) or ({x.shape[1]},), got {ref.shape}"
        )
    data_range = check_std(data_range, "data_range")  # squared below
    err = np.mean((x - ref) ** 2, axis=1)
    return 10.0 * np.log10(data_range**2 / np.maximum(err, 1e-20))


# --------------------------------------------------------------------------- helpers


def _mean_se(err: np.ndarray, return_se: bool, name: str):
    mean = float(err.mean())
    if not return_se:
        return mean
    if err.shape[0] < 2:
        raise ValueError(
            f"{name}: expected n >= 2 samples for a standard error, got {err.shape[0]}"
        )
    return mean, float(err.std(ddof=1) / np.sqrt(err.shape[0]))


def _fit_samples(x, name: str, *, d: int | None, min_n: int | None) -> np.ndarray:
    """A sample set with enough points to fit a Gaussian (d + 1 when ``min_n`` is None)."""
    arr = as_samples(x, name, d=d)
    n, dd = arr.shape
    need = max(dd + 1 if min_n is None else min_n, 2)
    if n < need:
        raise ValueError(f"{name}: expected at least {need} samples to fit a Gaussian, got {n}")
    return arr


def _fit(x, name: str, *, d: int | None, min_n: int | None):
    arr = _fit_samples(x, name, d=d, min_n=min_n)
    cov = np.atleast_2d(np.cov(arr, rowvar=False, ddof=1))
    return arr.mean(axis=0), 0.5 * (cov + cov.T)


def _fit_pair(X, Y, *, min_n: int | None):
    mx, Sx = _fit(X, "X", d=None, min_n=min_n)
    my, Sy = _fit(Y, "Y", d=mx.shape[0], min_n=min_n)
    return mx, Sx, my, Sy
