r"""The posterior of a Gaussian mixture seen through a linear Gaussian measurement.

For a prior :math:`p(x) = \sum_k w_k N(x; \mu_k, S_k)` and :math:`y = A x + n`,
:math:`n \sim N(0, \sigma_y^2 I)`, the posterior is again a mixture,

.. math::

    p(x \mid y) = \sum_k \tilde w_k N(x; m_k, C_k), \qquad
    \log \tilde w_k = \log w_k + \log N(y;\ A\mu_k,\ G_k) - \operatorname{logsumexp}_j(\cdot),
    \qquad G_k = A S_k A^\top + \sigma_y^2 I,

with the per-component linear-Gaussian posteriors
:math:`m_k = \mu_k + S_k A^\top G_k^{-1}(y - A\mu_k)`,
:math:`C_k = S_k - S_k A^\top G_k^{-1} A S_k`
(:func:`numerics.gaussian.linear_gaussian_posterior`).

:func:`mixture_posterior` is the one route for it: :meth:`numerics.gmm.GaussianMixture.posterior`
keeps every component (``floor=0``), :func:`numerics.gmm.pruned_posterior` drops the light ones
before their posteriors are formed (the image-scale case, d = 256, K = 32, where few survive).

References
----------
1. C. M. Bishop, "Pattern Recognition and Machine Learning", Springer 2006, Sections 2.3.3
   and 9.2.
2. Z. Wang et al., arXiv 2503.20297 (2025), Section III-D, Appendix D.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.special import logsumexp

from numerics.gaussian import linear_gaussian_posterior
from numerics.validate import MAX_ABS, as_array, check_no_overflow, check_std

__all__ = ["conditional_score", "mixture_posterior", "squared_error_variance"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def mixture_posterior(gmm, A, sigma_y, y, *, floor: float = 0.0):
    r"""Weights, means and covariances of the posterior mixture of x given :math:`y = A x + n`.

    .. math::

        \log \tilde w_k = \log w_k + \log N(y; A\mu_k, A S_k A^\top + \sigma_y^2 I)
        - \operatorname{logsumexp}_j(\cdot)

    normalised in log space, so a component whose evidence underflows gets weight 0 (not NaN).
    The evidence of every component is computed first; the per-component posteriors
    :math:`(m_k, C_k)` (:func:`numerics.gaussian.linear_gaussian_posterior`) only for the
    components of weight >= ``floor`` (always at least the heaviest one), whose weights are
    renormalised.

    Parameters
    ----------
    gmm : numerics.gmm.GaussianMixture
        The prior (its ``weights`` (K,), ``means`` (K, d) and ``covs`` (K, d, d) are read).
    A : (m, d) array
    sigma_y : float > 0
    y : (m,) array
    floor : float in [0, 1)
        Weight below which a posterior component is dropped; 0 keeps every component.

    Returns
    -------
    weights : (K',) array
    means : (K', d) array
    covs : (K', d, d) array
    dropped_mass : float
        Total posterior weight of the dropped components (0.0 when ``floor=0``).

    Examples
    --------
    >>> from numerics.gmm import GaussianMixture
    >>> gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    >>> w, m, C, dropped = mixture_posterior(gm, [[1.0]], 1.0, [0.0])
    >>> w.tolist(), m.ravel().round(12).tolist(), C.ravel().round(12).tolist(), dropped
    ([0.5, 0.5], [-0.5, 0.5], [0.5, 0.5], 0.0)
    """
    if not all(hasattr(gmm, f) for f in ("weights", "means", "covs")):
        raise TypeError(f"gmm: expected a GaussianMixture, got {type(gmm).__name__}")
    weights, means, covs = gmm.weights, gmm.means, gmm.covs
    K, d = means.shape
    A = as_array(A, "A", ndim=2)
    if A.shape[1] != d or A.shape[0] < 1:
        raise ValueError(f"A: expected shape (m, {d}) with m >= 1, got {A.shape}")
    m = A.shape[0]
    sigma_y = check_std(sigma_y, "sigma_y")
    y = as_array(y, "y", shape=(m,), max_abs=MAX_ABS)
    floor = float(as_array(floor, "floor"))
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor: expected a weight in [0, 1), got {floor!r}")
    log_ev = np.empty(K)
    for k in range(K):
        G = check_no_overflow(A @ covs[k] @ A.T + sigma_y**2 * np.eye(m), "A")
        L = sla.cholesky(0.5 * (G + G.T), lower=True)
        u = sla.solve_triangular(L, y - A @ means[k], lower=True)
        log_ev[k] = -0.5 * (u @ u) - np.sum(np.log(np.diag(L))) - 0.5 * m * _LOG_2PI
    with np.errstate(divide="ignore"):
        lw = np.log(weights) + log_ev
    if not np.any(np.isfinite(lw)):
        raise ValueError("y: too far from every component (no evidence is a finite number)")
    w = np.exp(lw - logsumexp(lw))
    keep = np.flatnonzero(w >= min(floor, w.max()))
    post_m = np.empty((keep.size, d))
    post_S = np.empty((keep.size, d, d))
    for i, k in enumerate(keep):
        post_m[i], post_S[i] = linear_gaussian_posterior(means[k], covs[k], A, sigma_y, y)
    dropped = np.ones(K, dtype=bool)
    dropped[keep] = False
    return w[keep] / w[keep].sum(), post_m, post_S, float(w[dropped].sum())


def conditional_score(prior, A, sigma_y, y, x, t: int, schedule) -> np.ndarray:
    r"""Exact conditional score :math:`\nabla_{x_t} \log p_t(x_t \mid y)` for a mixture prior.

    .. math::

        \nabla \log p_t(x_t \mid y) = \nabla \log p_t(x_t) + \nabla \log p_t(y \mid x_t)
        = \text{score of the diffused posterior mixture at } x_t,

    i.e. ``prior.posterior(A, sigma_y, y).score(x, t, schedule)``.

    Parameters
    ----------
    prior : numerics.gmm.GaussianMixture
    A : (m, d) array
    sigma_y : float > 0
    y : (m,) array
    x : (n, d) array
    t : int in [0, T]
    schedule : numerics.schedule.Schedule, optional when ``t == 0``

    Returns
    -------
    (n, d) array
    """
    if not callable(getattr(prior, "posterior", None)) or not hasattr(prior, "covs"):
        raise ValueError(f"prior: expected a GaussianMixture, got {type(prior).__name__}")
    return prior.posterior(A, sigma_y, y).score(x, t, schedule)


def squared_error_variance(post, m) -> float:
    r"""Variance of :math:`q = \|x - m\|^2` for x drawn from the mixture ``post``.

    .. math::

        \operatorname{Var} q = \sum_k w_k\big[(\operatorname{tr} C_k + \|a_k\|^2)^2
        + 2\operatorname{tr} C_k^2 + 4 a_k^\top C_k a_k\big] - (E q)^2,
        \qquad a_k = \mu_k - m,

    from the Gaussian fourth moments of each component. It is the spread of the squared error
    of an exact posterior sampler, the yardstick of an η = 1 check: the sample variance
    of q from a few draws underestimates it badly when a light component lies far from m
    (such a component is rarely drawn but carries much of the variance).

    Parameters
    ----------
    post : numerics.gmm.GaussianMixture
    m : (d,) array

    Examples
    --------
    >>> from numerics.gmm import GaussianMixture
    >>> g = GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]])
    >>> squared_error_variance(g, np.zeros(2))  # chi-square with 2 degrees of freedom: variance 4
    4.0
    """
    if not all(hasattr(post, f) for f in ("weights", "means", "covs")):
        raise TypeError(f"post: expected a GaussianMixture, got {type(post).__name__}")
    m = as_array(m, "m", shape=(post.means.shape[1],), max_abs=MAX_ABS)
    a = post.means - m
    C = post.covs
    trC = np.trace(C, axis1=1, axis2=2)
    a2 = np.sum(a * a, axis=1)
    e2 = (
        (trC + a2) ** 2
        + 2.0 * np.sum(C * C, axis=(1, 2))
        + 4.0 * np.einsum("ki,kij,kj->k", a, C, a)
    )
    e1 = float(post.weights @ (trC + a2))
    return float(max(post.weights @ e2 - e1 * e1, 0.0))
