r"""The conditional distortion-perception (DP) function with MSE distortion and W2 perception.

For any posterior with mean m and covariance S (MMSE = tr S), the best MSE of an estimator
whose law is within W2 distance P of the posterior is

.. math::

    D(P) = \operatorname{tr} S + \big(\sqrt{\operatorname{tr} S} - P\big)_+^2 ,

attained by shrinking posterior samples toward the mean, :math:`\hat x = m + c(x' - m)`
with :math:`c = 1 - P/\sqrt{\operatorname{tr} S}` (then MSE = (1 + c²) tr S and
W2 = (1 - c) √tr S). For a Gaussian posterior the η-scaled diffusion ends at N(m, η S):
MSE(η) = (1 + η) tr S and W2(η) = (1 - √η) √tr S, i.e. c = √η, so η traces D(P).

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Theorem 2.
2. D. Freirich, T. Michaeli, R. Meir, "A Theory of the Distortion-Perception Tradeoff in
   Wasserstein Space", NeurIPS 2021.
3. Y. Blau, T. Michaeli, "The Perception-Distortion Tradeoff", CVPR 2018.

The derivation, checked in sympy, is :mod:`theory.theorem2`.
"""

from __future__ import annotations

import numpy as np

from numerics.validate import as_array, check_eta, check_positive

__all__ = [
    "dp_function",
    "eta_for_perception",
    "gaussian_eta_curve",
    "shrink",
    "shrink_factor_for_perception",
]


def dp_function(mmse, P):
    r"""Optimal MSE at W2 perception P: :math:`D(P) = \mathrm{MMSE} + (\sqrt{\mathrm{MMSE}} - P)_+^2`.

    Parameters
    ----------
    mmse : float or array, > 0
        tr Cov[x | y] (an array: one posterior per entry, broadcast against P).
    P : float or array, >= 0
        W2 distance between the estimator's law and the posterior.

    Returns
    -------
    D : float or array, the broadcast shape of mmse and P

    Examples
    --------
    >>> float(dp_function(1.0, 0.0)), float(dp_function(1.0, 0.5)), float(dp_function(1.0, 2.0))
    (2.0, 1.25, 1.0)
    """
    mmse = as_array(mmse, "mmse")
    if np.any(mmse <= 0):
        raise ValueError("mmse: expected values > 0")
    P = as_array(P, "P")
    if np.any(P < 0):
        raise ValueError("P: expected perception values >= 0")
    D = mmse + np.maximum(np.sqrt(mmse) - P, 0.0) ** 2
    return D if D.ndim else float(D)


def shrink_factor_for_perception(mmse, P):
    r"""Shrink factor :math:`c = (1 - P/\sqrt{\mathrm{MMSE}})_+` that attains D(P)."""
    mmse = check_positive(mmse, "mmse")
    P = as_array(P, "P")
    if np.any(P < 0):
        raise ValueError("P: expected perception values >= 0")
    c = np.maximum(1.0 - P / np.sqrt(mmse), 0.0)
    return c if c.ndim else float(c)


def eta_for_perception(mmse, P):
    r"""The η whose Gaussian end point N(m, ηS) sits at W2 = P: :math:`\eta = (1 - P/\sqrt{\mathrm{MMSE}})_+^2`.

    Examples
    --------
    >>> float(eta_for_perception(4.0, 1.0))
    0.25
    """
    c = shrink_factor_for_perception(mmse, P)
    return c**2


def gaussian_eta_curve(mmse, eta):
    r"""(MSE, W2) of the η-chain end point N(m, ηS) for a Gaussian posterior.

    .. math:: \mathrm{MSE}(\eta) = (1 + \eta)\,\mathrm{tr} S, \qquad W_2(\eta) = (1 - \sqrt\eta)\sqrt{\mathrm{tr} S}

    Returns
    -------
    mse, w2 : float or array, shape of eta

    Examples
    --------
    >>> gaussian_eta_curve(2.0, 1.0)
    (4.0, 0.0)
    """
    mmse = check_positive(mmse, "mmse")
    eta = check_eta(eta)
    mse = (1.0 + eta) * mmse
    w2 = (1.0 - np.sqrt(eta)) * np.sqrt(mmse)
    if eta.ndim == 0:
        return float(mse), float(w2)
    return mse, w2


def shrink(samples, mean, c):
    r"""Shrink samples toward ``mean``: :math:`m + c (x - m)`.

    Parameters
    ----------
    samples : (n, d) array
    mean : (d,) array
    c : float in [0, 1] or (n,) array

    Returns
    -------
    (n, d) array
    """
    samples = as_array(samples, "samples", ndim=2)
    mean = as_array(mean, "mean", shape=(samples.shape[1],))
    c = check_eta(c, "c", n=samples.shape[0])
    c = c[:, None] if c.ndim == 1 else c
    return mean + c * (samples - mean)
