r"""Exact Gaussian ground truth: linear-Gaussian posteriors, Gaussian distances, and the
exact η-scaled reverse chain for a Gaussian posterior.

For a Gaussian posterior :math:`x_0 \mid y \sim N(m, S)` the VP-diffused posterior is
:math:`x_t \mid y \sim N(\sqrt{\bar\alpha_t} m, \Sigma_t)`, :math:`\Sigma_t = \bar\alpha_t S
+ (1 - \bar\alpha_t) I`, and the exact reverse kernel is

.. math::

    p(x_{t-1} \mid x_t, y) = N\big(\sqrt{\bar\alpha_{t-1}} m + K_t (x_t - \sqrt{\bar\alpha_t} m),
    C_t\big), \quad K_t = \sqrt{\alpha_t}\,\Sigma_{t-1}\Sigma_t^{-1}, \quad
    C_t = \beta_t \Sigma_{t-1}\Sigma_t^{-1}.

All these matrices share S's eigenvectors, so the whole T-step chain is computed in one
eigendecomposition of S.

References
----------
1. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025), Theorems 1-2.
2. D. C. Dowson, B. V. Landau, "The Fréchet distance between multivariate normal
   distributions", J. Multivariate Anal. 12 (1982).
"""

from __future__ import annotations

import numpy as np
import ot
import scipy.linalg as sla

from numerics.schedule import Schedule, check_schedule, check_time_index
from numerics.validate import (
    MAX_ABS,
    as_array,
    check_bool,
    check_eta,
    check_no_overflow,
    check_spd,
    check_std,
)

__all__ = [
    "bures_w2",
    "bures_w2_eigh",
    "eta_chain_moments",
    "gaussian_kl",
    "linear_gaussian_posterior",
    "reverse_kernel",
]

VARIANCES = ("exact", "beta", "beta_tilde")


def linear_gaussian_posterior(mean, cov, A, sigma_y, y, *, form: str = "covariance"):
    r"""Posterior of :math:`x \sim N(\mu, P)` given :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`.

    .. math::

        S = P - P A^\top (A P A^\top + \sigma_y^2 I)^{-1} A P, \qquad
        m = \mu + P A^\top (A P A^\top + \sigma_y^2 I)^{-1} (y - A\mu).

    Parameters
    ----------
    mean : (d,) array
    cov : (d, d) array, symmetric positive definite
    A : (k, d) array
    sigma_y : float > 0
    y : (k,) array
    form : {"covariance", "information"}
        ``"information"`` computes :math:`S = (P^{-1} + A^\top A/\sigma_y^2)^{-1}`,
        :math:`m = S (P^{-1}\mu + A^\top y/\sigma_y^2)` instead (an independent route,
        less accurate when P is ill-conditioned).

    Returns
    -------
    m : (d,) array
    S : (d, d) array, symmetric

    Examples
    --------
    >>> m, S = linear_gaussian_posterior([0.0], [[1.0]], [[1.0]], 1.0, [2.0])
    >>> round(float(m[0]), 12), round(float(S[0, 0]), 12)
    (1.0, 0.5)
    """
    mean = as_array(mean, "mean", ndim=1)
    d = mean.shape[0]
    if d < 1:
        raise ValueError("mean: expected a non-empty vector (d >= 1)")
    cov = check_spd(cov, "cov", d=d)
    A = as_array(A, "A", ndim=2)
    if A.shape[1] != d or A.shape[0] < 1:
        raise ValueError(f"A: expected shape (k, {d}) with k >= 1, got {A.shape}")
    k = A.shape[0]
    sigma_y = check_std(sigma_y, "sigma_y")
    y = as_array(y, "y", shape=(k,), max_abs=MAX_ABS)
    if form == "covariance":
        PA = cov @ A.T  # (d, k)
        G = check_no_overflow(A @ PA + sigma_y**2 * np.eye(k), "A")
        cf = sla.cho_factor(0.5 * (G + G.T))
        m = mean + PA @ sla.cho_solve(cf, y - A @ mean)
        S = cov - PA @ sla.cho_solve(cf, PA.T)
    elif form == "information":
        cfp = sla.cho_factor(cov)
        J = check_no_overflow(sla.cho_solve(cfp, np.eye(d)) + A.T @ A / sigma_y**2, "A")
        cfj = sla.cho_factor(0.5 * (J + J.T))
        S = sla.cho_solve(cfj, np.eye(d))
        m = sla.cho_solve(cfj, sla.cho_solve(cfp, mean) + A.T @ y / sigma_y**2)
    else:
        raise ValueError(f"form: expected 'covariance' or 'information', got {form!r}")
    return m, 0.5 * (S + S.T)


def bures_w2(m1, S1, m2, S2, *, squared: bool = False) -> float:
    r"""2-Wasserstein distance between :math:`N(m_1, S_1)` and :math:`N(m_2, S_2)`.

    .. math::

        W_2^2 = \|m_1 - m_2\|^2 + \operatorname{tr} S_1 + \operatorname{tr} S_2
        - 2 \operatorname{tr}\big(S_1^{1/2} S_2 S_1^{1/2}\big)^{1/2}

    computed by POT (``ot.gaussian.bures_wasserstein_distance``). Near 0 the trace
    terms cancel and W2 is the square root of a rounding error (about 1e-8 for
    unit-scale covariances): compare ``squared=True`` values there, not W2.

    Inputs of extreme scale (means beyond about 1e60, covariances beyond 1e120, or all
    below 1e-60 and 1e-120) are rescaled first (W2 is homogeneous of degree 1), so that the
    product :math:`S_1^{1/2} S_2 S_1^{1/2}` neither overflows nor underflows; where a
    singular covariance makes POT's square root meet a negative rounding eigenvalue, the
    eigenvalues are clipped at 0 (:func:`bures_w2_eigh`).

    Parameters
    ----------
    m1, m2 : (d,) arrays
    S1, S2 : (d, d) symmetric positive semi-definite arrays
    squared : bool
        Return :math:`W_2^2` (clipped at 0) instead of :math:`W_2`.

    Raises
    ------
    ValueError
        Naming the argument for bad input, or when the result exceeds the float64 range.

    Examples
    --------
    >>> float(bures_w2([0.0], [[1.0]], [10.0], [[1.0]]))
    10.0
    >>> float(bures_w2([0.0], [[1e300]], [0.0], [[4e300]]))  # sqrt(4e300) - sqrt(1e300)
    1e+150
    """
    squared = check_bool(squared, "squared")
    m1 = _vector(m1, "m1")
    d = m1.shape[0]
    m2 = as_array(m2, "m2", shape=(d,))
    S1 = _check_psd(S1, "S1", d)
    S2 = _check_psd(S2, "S2", d)
    s = max(
        np.abs(m1).max(), np.abs(m2).max(), np.sqrt(np.abs(S1).max()), np.sqrt(np.abs(S2).max())
    )
    if s == 0.0:
        return 0.0
    if not 1e-60 <= s <= 1e60:  # rescale: W2 is homogeneous of degree 1
        m1, m2, S1, S2 = m1 / s, m2 / s, S1 / s / s, S2 / s / s
    else:
        s = 1.0
    try:
        with np.errstate(invalid="ignore"):
            w = float(ot.gaussian.bures_wasserstein_distance(m1, m2, S1, S2))
            # squared: recompute the square from POT's pieces to keep the cancellation visible
            b2 = float(ot.gaussian.bures_distance(S1, S2)) ** 2 if squared else 0.0
    except np.linalg.LinAlgError:  # a NaN square root (below) reached an eigendecomposition
        w = b2 = float("nan")
    out = max(float(np.sum((m1 - m2) ** 2)) + b2, 0.0) if squared else w
    if np.isnan(out):  # POT's sqrtm of a singular covariance met a negative eigenvalue
        out = bures_w2_eigh(m1 - m2, S1, S2)
        out = out if squared else float(np.sqrt(out))
    with np.errstate(over="ignore"):
        out = out * s * s if squared else out * s
    if not np.isfinite(out):
        raise ValueError("m1, S1, m2, S2: the distance exceeds the float64 range")
    return out


def bures_w2_eigh(dm, S1, S2) -> float:
    r"""Squared Bures W2 from the mean difference ``dm`` and the covariances, by eigendecompositions
    whose negative rounding eigenvalues are clipped at 0.

    .. math::

        W_2^2 = \|dm\|^2 + \operatorname{tr} S_1 + \operatorname{tr} S_2
        - 2 \sum_i \sqrt{\max(\lambda_i, 0)}, \qquad
        \lambda = \operatorname{eig}\big(R S_2 R\big), \quad
        R = U \operatorname{diag}\big(\max(\mu, 0)\big)^{1/2} U^\top, \quad
        S_1 = U \operatorname{diag}(\mu) U^\top,

    clipped at 0. Finite for singular (rank-deficient) covariances, e.g. sample covariances
    of n <= d points, where the square roots of :func:`bures_w2` meet negative eigenvalues.
    ``dm`` (d,), ``S1`` and ``S2`` (d, d) symmetric PSD are checked like :func:`bures_w2`'s.

    Examples
    --------
    >>> bures_w2_eigh(np.array([3.0, 4.0]), np.eye(2), np.eye(2))
    25.0
    """
    dm = _vector(dm, "dm", max_abs=MAX_ABS)
    S1 = _check_psd(S1, "S1", dm.shape[0])
    S2 = _check_psd(S2, "S2", dm.shape[0])
    lam, U = np.linalg.eigh(0.5 * (S1 + S1.T))
    root = (U * np.sqrt(np.clip(lam, 0.0, None))) @ U.T
    mid = root @ S2 @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (mid + mid.T)), 0.0, None)).sum()
    return float(max(dm @ dm + np.trace(S1) + np.trace(S2) - 2.0 * cross, 0.0))


def gaussian_kl(m1, S1, m2, S2) -> float:
    r"""Kullback-Leibler divergence :math:`KL(N(m_1, S_1)\,\|\,N(m_2, S_2))` in nats.

    .. math::

        \tfrac12\big[\operatorname{tr}(S_2^{-1}S_1) + (m_2-m_1)^\top S_2^{-1}(m_2-m_1) - d
        + \log\det S_2 - \log\det S_1\big]

    computed with the Cholesky factors :math:`S_i = L_i L_i^\top`:
    :math:`\operatorname{tr}(S_2^{-1}S_1) = \|L_2^{-1}L_1\|_F^2` and the quadratic form
    :math:`\|L_2^{-1}(m_2 - m_1)\|^2` are sums of squares: never negative, and finite unless
    the divergence itself exceeds the float64 range (then ValueError, never NaN; bad input
    is a ValueError naming the argument too).

    Examples
    --------
    >>> round(gaussian_kl([0.0], [[1.0]], [1.0], [[1.0]]), 12)
    0.5
    """
    m1 = _vector(m1, "m1")
    d = m1.shape[0]
    m2 = as_array(m2, "m2", shape=(d,))
    S1 = check_spd(S1, "S1", d=d)
    S2 = check_spd(S2, "S2", d=d)
    L1 = sla.cholesky(S1, lower=True)
    L2 = sla.cholesky(S2, lower=True)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught below
        W = sla.solve_triangular(L2, L1, lower=True, check_finite=False)
        v = sla.solve_triangular(L2, m2 - m1, lower=True, check_finite=False)
        tr = np.sum(W * W)
        quad = v @ v
    logdet = 2.0 * (np.sum(np.log(np.diag(L2))) - np.sum(np.log(np.diag(L1))))
    kl = 0.5 * (tr + quad - d + logdet)
    if not np.isfinite(kl):
        raise ValueError("m1, S1, m2, S2: the divergence exceeds the float64 range")
    return float(max(kl, 0.0))


def reverse_kernel(S, schedule: Schedule, t: int):
    r"""Exact reverse-step matrices of a Gaussian posterior with covariance ``S`` at step t.

    .. math::

        K_t = \sqrt{\alpha_t}\,\Sigma_{t-1}\Sigma_t^{-1}, \qquad
        C_t = \beta_t\,\Sigma_{t-1}\Sigma_t^{-1}, \qquad
        \Sigma_t = \bar\alpha_t S + (1 - \bar\alpha_t) I.

    The kernel is :math:`N(\sqrt{\bar\alpha_{t-1}} m + K_t (x_t - \sqrt{\bar\alpha_t} m), C_t)`.

    Parameters
    ----------
    S : (d, d) array, symmetric positive definite
    schedule : Schedule
    t : int in 1..T

    Returns
    -------
    K_t, C_t : (d, d) arrays (C_t symmetric)
    """
    check_schedule(schedule)
    S = check_spd(S, "S")
    t = check_time_index(t, schedule)
    lam, U = np.linalg.eigh(S)
    s_prev = schedule.alpha_bar[t - 1] * lam + schedule.one_minus_alpha_bar[t - 1]
    s_t = schedule.alpha_bar[t] * lam + schedule.one_minus_alpha_bar[t]
    ratio = s_prev / s_t
    K = (U * (np.sqrt(schedule.alpha[t]) * ratio)) @ U.T
    C = (U * (schedule.beta[t] * ratio)) @ U.T
    return K, 0.5 * (C + C.T)


def eta_chain_moments(
    m,
    S,
    eta,
    schedule: Schedule,
    start="exact",
    variance: str = "exact",
    *,
    log: bool = False,
):
    r"""Exact end-point moments of the η-scaled reverse chain for a Gaussian posterior N(m, S).

    Each step keeps the exact kernel mean :math:`\sqrt{\bar\alpha_{t-1}} m + K_t(x_t -
    \sqrt{\bar\alpha_t} m)` and adds noise of covariance :math:`\eta V_t`, with
    :math:`V_t = C_t` (``"exact"``), :math:`\beta_t I` (``"beta"``) or
    :math:`\tilde\beta_t I` (``"beta_tilde"``, DDPM's choice; :math:`\tilde\beta_1 = 0`).
    Closed forms (exact variance): from the exact start the end point is
    :math:`N(m, \eta S)` for every T; from :math:`N(0, I)` it is
    :math:`N\big((1-\bar\alpha_T)\Sigma_T^{-1}m,\ \eta(1-\bar\alpha_T) S\Sigma_T^{-1}
    + \bar\alpha_T S^2\Sigma_T^{-2}\big)`.

    One eigendecomposition of S; every step is then diagonal (O(T d) after it).

    Parameters
    ----------
    m : (d,) array
    S : (d, d) array, symmetric positive definite
    eta : float in [0, 1]
    schedule : Schedule
    start : "exact" | "standard" | (a, Q)
        Law of x_T: ``"exact"`` is :math:`N(\sqrt{\bar\alpha_T} m, \eta\Sigma_T)` (the exact
        law with its covariance scaled by η, as in Theorem 1); ``"standard"`` is N(0, I);
        a pair ``(a, Q)`` with ``a`` (d,) and ``Q`` (d, d) PSD is N(a, Q).
    variance : {"exact", "beta", "beta_tilde"}
    log : bool
        Also return a dict with ``eigvals`` (d,), ``eigvecs`` (d, d), ``gain`` (d,)
        (eigenvalues of :math:`K_1\cdots K_T`) and ``noise`` (d,) (accumulated noise
        variance per eigendirection).

    Returns
    -------
    mean : (d,) array
    cov : (d, d) array
    log : dict, only if ``log=True``

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> mean, cov = eta_chain_moments([1.0], [[0.5]], 0.3, linear_schedule(50))
    >>> round(float(mean[0]), 12), round(float(cov[0, 0]), 12)
    (1.0, 0.15)
    """
    check_schedule(schedule)
    log = check_bool(log, "log")
    m = _vector(m, "m")
    d = m.shape[0]
    S = check_spd(S, "S", d=d)
    eta_arr = check_eta(eta)
    if eta_arr.ndim != 0:
        raise ValueError(f"eta: expected a scalar, got shape {eta_arr.shape}")
    eta = float(eta_arr)
    if variance not in VARIANCES:
        raise ValueError(f"variance: expected one of {VARIANCES}, got {variance!r}")
    lam, U = np.linalg.eigh(S)
    m_e = U.T @ m  # posterior mean in S's eigenbasis
    ab, omab = schedule.alpha_bar, schedule.one_minus_alpha_bar
    T = schedule.T
    # Marginal variances of x_t | y per eigendirection, t = 0..T: shape (T + 1, d).
    sig = ab[:, None] * lam[None, :] + omab[:, None]
    ratio = sig[:-1] / sig[1:]  # Σ_{t-1} Σ_t^{-1}, row t-1 is step t
    k = np.sqrt(schedule.alpha[1:, None]) * ratio  # (T, d)
    if variance == "exact":
        v = schedule.beta[1:, None] * ratio
    elif variance == "beta":
        v = np.broadcast_to(schedule.beta[1:, None], (T, d))
    else:
        v = np.broadcast_to(schedule.beta_tilde[1:, None], (T, d))
    # Walk t = T..1 keeping x_t = gain * x_T + offset + noise (all diagonal).
    gain = np.ones(d)
    offset = np.zeros(d)
    noise = np.zeros(d)
    sqab = np.sqrt(ab)
    for t in range(T, 0, -1):
        kt = k[t - 1]
        offset = kt * offset + (sqab[t - 1] - kt * sqab[t]) * m_e
        gain = kt * gain
        noise = kt**2 * noise + eta * v[t - 1]
    if isinstance(start, str) and start == "exact":
        a_e = sqab[T] * m_e
        Q_e = np.diag(eta * sig[T])
    elif isinstance(start, str) and start == "standard":
        a_e = np.zeros(d)
        Q_e = np.eye(d)
    elif isinstance(start, (tuple, list)) and len(start) == 2:
        a = as_array(start[0], "start[0] (mean of x_T)", shape=(d,))
        Q = _check_psd(start[1], "start[1] (covariance of x_T)", d)
        a_e = U.T @ a
        Q_e = U.T @ Q @ U
    else:
        raise ValueError(f"start: expected 'exact', 'standard' or a pair (a, Q), got {start!r}")
    mean_e = gain * a_e + offset
    cov_e = gain[:, None] * Q_e * gain[None, :] + np.diag(noise)
    mean = U @ mean_e
    cov = U @ cov_e @ U.T
    cov = 0.5 * (cov + cov.T)
    if log:
        return mean, cov, dict(eigvals=lam, eigvecs=U, gain=gain, noise=noise)
    return mean, cov


def _vector(x, name: str, max_abs=None) -> np.ndarray:
    """``x`` as a finite non-empty ``(d,)`` array (d >= 1), else ValueError naming ``name``."""
    x = as_array(x, name, ndim=1, max_abs=max_abs)
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected a non-empty vector (d >= 1), got shape {x.shape}")
    return x


def _check_psd(S, name: str, d: int) -> np.ndarray:
    S = as_array(S, name, shape=(d, d))
    scale = max(float(np.max(np.abs(S))), 1e-300)
    if np.max(np.abs(S - S.T)) > 1e-8 * scale:
        raise ValueError(f"{name}: expected a symmetric matrix")
    S = 0.5 * (S + S.T)
    if np.linalg.eigvalsh(S)[0] < -1e-10 * scale:
        raise ValueError(f"{name}: expected a positive semi-definite matrix")
    return S
