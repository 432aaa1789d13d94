r"""Exact Gaussian-mixture ground truth: posteriors, VP-diffused densities, scores, Tweedie.

A mixture :math:`p_0(x) = \sum_k w_k N(x; \mu_k, S_k)` stays a mixture under everything this
project does to it:

* **Measurement** :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`: the posterior is the
  mixture of the per-component linear-Gaussian posteriors :math:`N(m_k, C_k)` with weights

  .. math::

      \tilde w_k \propto w_k\, N(y;\ A\mu_k,\ A S_k A^\top + \sigma_y^2 I)

  (:mod:`numerics.gmm_posterior`, the one route for it).

* **VP diffusion** :math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`:

  .. math::

      p_t(x) = \sum_k w_k N(x;\ \sqrt{\bar\alpha_t}\mu_k,\ \Sigma_{t,k}), \qquad
      \Sigma_{t,k} = \bar\alpha_t S_k + (1-\bar\alpha_t) I
      = U_k \operatorname{diag}(\bar\alpha_t\lambda_k + 1 - \bar\alpha_t) U_k^\top,

  with :math:`S_k = U_k \operatorname{diag}(\lambda_k) U_k^\top` decomposed once
  (:attr:`GaussianMixture.eig`); every log-density, score, Hessian and Tweedie quantity at any
  t is then diagonal in each component's eigenbasis, with no per-t solve.

With responsibilities :math:`r_k(x) \propto w_k N(x; \sqrt{\bar\alpha_t}\mu_k, \Sigma_{t,k})`
(computed with log-sum-exp) and :math:`g_k = -\Sigma_{t,k}^{-1}(x - \sqrt{\bar\alpha_t}\mu_k)`:

.. math::

    \nabla \log p_t = s = \sum_k r_k g_k, \qquad
    \nabla^2 \log p_t = \sum_k r_k\big(-\Sigma_{t,k}^{-1} + g_k g_k^\top\big) - s s^\top,

    E[x_0 \mid x_t] = \frac{x_t + (1-\bar\alpha_t) s}{\sqrt{\bar\alpha_t}}, \qquad
    \operatorname{Cov}[x_0 \mid x_t] = \frac{1-\bar\alpha_t}{\bar\alpha_t}
    \big(I + (1-\bar\alpha_t)\nabla^2 \log p_t\big).

The exact conditional score :math:`\nabla \log p_t(x_t \mid y)` is the score of the diffused
posterior mixture (:func:`numerics.gmm_posterior.conditional_score`).

Memory: quantities of size ``n*K*d`` are formed for every call; ``n*d*d`` only for
:meth:`GaussianMixture.hessian` and :meth:`GaussianMixture.tweedie_cov`; ``n*K*d*d`` never.

References
----------
1. C. M. Bishop, "Pattern Recognition and Machine Learning", Springer 2006, Sections 2.3.3
   (linear-Gaussian models) and 9.2 (mixtures of Gaussians).
2. B. Efron, "Tweedie's formula and selection bias", J. Am. Stat. Assoc. 106 (2011).
3. C. Meng, Y. Song, W. Li, S. Ermon, "Estimating High Order Gradients of the Data
   Distribution by Denoising", NeurIPS 2021 (second-order Tweedie).
4. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
5. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025), Section III-D, Appendix D.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy.special import logsumexp

from numerics.gmm_posterior import conditional_score, mixture_posterior, squared_error_variance
from numerics.schedule import Schedule, check_time_index
from numerics.validate import as_array, check_no_overflow, check_spd, check_weights

__all__ = ["GaussianMixture", "conditional_score", "pruned_posterior", "squared_error_variance"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class GaussianMixture:
    r"""The Gaussian mixture :math:`p(x) = \sum_{k=1}^K w_k N(x; \mu_k, S_k)` in float64.

    Parameters
    ----------
    weights : (K,) array
        Non-negative, summing to 1 (to 1e-8). Zero weights are allowed.
    means : (K, d) array
    covs : (K, d, d) array
        Each symmetric (to 1e-8 relative) and positive definite; symmetrised on input.

    Attributes
    ----------
    weights : (K,) array, read-only
    means : (K, d) array, read-only
    covs : (K, d, d) array, read-only
    K, d : int

    Notes
    -----
    Methods that take a time ``t`` refer to the VP-diffused mixture :math:`p_t` of the
    module docstring; ``t = 0`` (``schedule`` may be ``None``) is the mixture itself.
    ``t`` must be an integer in ``[0, schedule.T]`` (``[1, T]`` for the Tweedie moments).
    Points ``x`` are always a batch of shape ``(n, d)``.

    Examples
    --------
    >>> gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.5]], [[0.5]]])
    >>> gm.K, gm.d, float(gm.mean()[0]), float(gm.mmse())
    (2, 1, 0.0, 1.5)
    >>> abs(float(gm.score([[0.0]])[0, 0]))  # symmetric mixture: zero score at the centre
    0.0
    """

    def __init__(self, weights, means, covs):
        w = check_weights(weights, "weights")
        K = w.shape[0]
        mu = as_array(means, "means", ndim=2)
        if mu.shape[0] != K or mu.shape[1] < 1:
            raise ValueError(f"means: expected shape ({K}, d) with d >= 1, got {mu.shape}")
        d = mu.shape[1]
        check_no_overflow(mu * mu, "means")  # the quadratic forms square them
        S = as_array(covs, "covs", shape=(K, d, d))
        S = np.stack([check_spd(S[k], f"covs[{k}]", d=d) for k in range(K)])
        self._set(w, mu, S)

    def _set(self, w, mu, S):
        for a in (w, mu, S):
            a.setflags(write=False)
        self._weights, self._means, self._covs = w, mu, S

    @classmethod
    def _trusted(cls, w, mu, S, eig=None) -> GaussianMixture:
        """Build without validation (internal: inputs already known valid)."""
        obj = cls.__new__(cls)
        obj._set(np.array(w, dtype=np.float64), np.array(mu, dtype=np.float64), np.array(S))
        if eig is not None:
            obj.__dict__["eig"] = eig
        return obj

    # ----------------------------------------------------------------- attributes
    @property
    def weights(self) -> np.ndarray:
        """(K,) array of mixture weights."""
        return self._weights

    @property
    def means(self) -> np.ndarray:
        """(K, d) array of component means."""
        return self._means

    @property
    def covs(self) -> np.ndarray:
        """(K, d, d) array of component covariances."""
        return self._covs

    @property
    def K(self) -> int:
        """Number of components."""
        return int(self._weights.shape[0])

    @property
    def d(self) -> int:
        """Dimension."""
        return int(self._means.shape[1])

    @cached_property
    def eig(self):
        r"""Eigendecompositions :math:`S_k = U_k \operatorname{diag}(\lambda_k) U_k^\top` (cached).

        Returns
        -------
        eigvals : (K, d) array, ascending, > 0
        eigvecs : (K, d, d) array, ``eigvecs[k][:, j]`` is the eigenvector of ``eigvals[k, j]``
        """
        lam, U = np.linalg.eigh(self._covs)
        bad = np.flatnonzero(lam[:, 0] <= 0)
        if bad.size:
            raise ValueError(f"covs[{bad[0]}]: numerically singular (smallest eigenvalue <= 0)")
        lam.setflags(write=False)
        U.setflags(write=False)
        return lam, U

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.K}, d={self.d})"

    # ------------------------------------------------------------ t = 0 moments
    def mean(self) -> np.ndarray:
        r""":math:`E[x] = \sum_k w_k \mu_k`, a (d,) array."""
        return self._weights @ self._means

    def cov(self) -> np.ndarray:
        r"""Law of total covariance :math:`\sum_k w_k\big(S_k + (\mu_k - \bar\mu)(\mu_k - \bar\mu)^\top\big)`.

        Returns
        -------
        (d, d) array, symmetric
        """
        dm = self._means - self.mean()
        c = np.einsum("k,kij->ij", self._weights, self._covs) + (dm.T * self._weights) @ dm
        return 0.5 * (c + c.T)

    def mmse(self) -> float:
        r"""Trace of :meth:`cov`: :math:`\sum_k w_k(\operatorname{tr} S_k + \|\mu_k - \bar\mu\|^2)`.

        For a posterior mixture this is the MMSE of estimating x from y.
        """
        dm = self._means - self.mean()
        tr = np.trace(self._covs, axis1=1, axis2=2)
        return float(self._weights @ (tr + np.sum(dm**2, axis=1)))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        r"""Draw ``n`` samples: a component :math:`k \sim w`, then :math:`\mu_k + U_k \lambda_k^{1/2} z`.

        Parameters
        ----------
        n : int >= 0
        rng : numpy.random.Generator

        Returns
        -------
        (n, d) array
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected an integer >= 0, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        cw = np.cumsum(self._weights)
        cw[-1] = 1.0
        # Zero-weight components have empty intervals [cw[k-1], cw[k]) and are never drawn.
        labels = np.minimum(np.searchsorted(cw, rng.random(n), side="right"), self.K - 1)
        z = rng.standard_normal((n, self.d))
        lam, U = self.eig
        x = np.empty((n, self.d))
        for k in range(self.K):
            idx = labels == k
            x[idx] = self._means[k] + z[idx] @ (U[k] * np.sqrt(lam[k])).T
        return x

    # --------------------------------------------------------------- posterior
    def posterior(self, A, sigma_y, y) -> GaussianMixture:
        r"""Exact posterior mixture of x given :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`.

        .. math::

            p(x \mid y) = \sum_k \tilde w_k N(x; m_k, C_k), \qquad
            \log \tilde w_k = \log w_k + \log N(y; A\mu_k, A S_k A^\top + \sigma_y^2 I)
            - \operatorname{logsumexp}_j(\cdot),

        with :math:`(m_k, C_k)` from :func:`numerics.gaussian.linear_gaussian_posterior`, by
        :func:`numerics.gmm_posterior.mixture_posterior` (``floor=0``). The weights are
        normalised in log space, so a component whose evidence underflows gets weight 0 (not NaN).

        Parameters
        ----------
        A : (m, d) array
        sigma_y : float > 0
        y : (m,) array

        Returns
        -------
        GaussianMixture
            Same K and d (components keep their order; weights may be 0).

        Examples
        --------
        >>> gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
        >>> post = gm.posterior([[1.0]], 1.0, [0.0])
        >>> post.weights.tolist(), post.means.ravel().round(12).tolist()
        ([0.5, 0.5], [-0.5, 0.5])
        >>> post.covs.ravel().round(12).tolist()
        [0.5, 0.5]
        """
        w, means, covs, _ = mixture_posterior(self, A, sigma_y, y)
        return GaussianMixture(w, means, covs)

    # --------------------------------------------------------- diffused mixture
    def diffused(self, schedule: Schedule, t: int) -> GaussianMixture:
        r"""Law of :math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`.

        .. math::

            p_t = \sum_k w_k N(\sqrt{\bar\alpha_t}\mu_k,\ \bar\alpha_t S_k + (1-\bar\alpha_t) I).

        The result's :attr:`eig` is filled from this one's (same eigenvectors).

        Parameters
        ----------
        schedule : Schedule
        t : int in [0, T]

        Returns
        -------
        GaussianMixture
        """
        ab, omab = _alphas(t, schedule, min_t=0, allow_none=False)
        lam, U = self.eig
        lam_t = ab * lam + omab
        lam_t.setflags(write=False)
        covs = ab * self._covs + omab * np.eye(self.d)
        return GaussianMixture._trusted(
            self._weights, np.sqrt(ab) * self._means, covs, eig=(lam_t, U)
        )

    def _terms(self, x, t, schedule, *, min_t=0):
        """Shared per-call quantities in each component's eigenbasis.

        Returns ab, omab, lam (K, d), lam_t (K, d), U (K, d, d), z (n, K, d) with
        z[:, k] = U_k^T (x - sqrt(ab) mu_k), and log responsibilities lr (n, K) and
        log p_t(x) (n,).
        """
        x = as_array(x, "x", shape=(None, self.d))
        ab, omab = _alphas(t, schedule, min_t=min_t, allow_none=min_t == 0)
        lam, U = self.eig
        lam_t = ab * lam + omab  # (K, d)
        Ut = np.swapaxes(U, 1, 2)
        sab = np.sqrt(ab)
        mu_e = np.einsum("kij,kj->ki", Ut, self._means)  # (K, d)
        z = np.matmul(Ut, x.T).transpose(2, 0, 1) - sab * mu_e[None]  # (n, K, d)
        logn = (
            -0.5 * np.sum(z**2 / lam_t, axis=2)
            - 0.5 * np.sum(np.log(lam_t), axis=1)
            - 0.5 * self.d * _LOG_2PI
        )  # (n, K)
        check_no_overflow(logn, "x")
        with np.errstate(divide="ignore"):
            lw = np.log(self._weights) + logn
        logp = logsumexp(lw, axis=1)
        lr = lw - logp[:, None]
        return dict(ab=ab, omab=omab, lam=lam, lam_t=lam_t, U=U, z=z, lr=lr, logp=logp)

    def logpdf(self, x, t: int = 0, schedule: Schedule | None = None) -> np.ndarray:
        r""":math:`\log p_t(x) = \operatorname{logsumexp}_k\big(\log w_k + \log N(x;
        \sqrt{\bar\alpha_t}\mu_k, \Sigma_{t,k})\big)`.

        Parameters
        ----------
        x : (n, d) array
        t : int in [0, T], default 0 (the mixture itself)
        schedule : Schedule, optional when ``t == 0``

        Returns
        -------
        (n,) array

        Examples
        --------
        >>> gm = GaussianMixture([1.0], [[0.0]], [[[1.0]]])
        >>> round(float(gm.logpdf([[0.0]])[0]), 12) == round(-0.5 * float(np.log(2 * np.pi)), 12)
        True
        """
        return self._terms(x, t, schedule)["logp"]

    def responsibilities(self, x, t: int = 0, schedule: Schedule | None = None) -> np.ndarray:
        r""":math:`r_k(x) = w_k N(x; \sqrt{\bar\alpha_t}\mu_k, \Sigma_{t,k}) / p_t(x)`, via log-sum-exp.

        ``x`` (n, d), ``t`` in [0, T] and ``schedule`` as in :meth:`logpdf`; returns
        an (n, K) array, rows summing to 1.
        """
        return np.exp(self._terms(x, t, schedule)["lr"])

    def score(self, x, t: int = 0, schedule: Schedule | None = None) -> np.ndarray:
        r""":math:`\nabla_x \log p_t(x) = \sum_k r_k(x)\, g_k(x)`,
        :math:`g_k = -\Sigma_{t,k}^{-1}(x - \sqrt{\bar\alpha_t}\mu_k)`.

        ``x`` (n, d), ``t`` in [0, T] and ``schedule`` as in :meth:`logpdf`; returns
        an (n, d) array.

        Examples
        --------
        >>> gm = GaussianMixture([1.0], [[1.0, 0.0]], [[[2.0, 0.0], [0.0, 0.5]]])
        >>> gm.score([[0.0, 1.0]]).tolist()
        [[0.5, -2.0]]
        """
        tm = self._terms(x, t, schedule)
        r = np.exp(tm["lr"])
        v = r[:, :, None] * tm["z"] / tm["lam_t"]  # (n, K, d): r_k Λ_t^{-1} z_k
        return -np.matmul(tm["U"], v.transpose(1, 2, 0)).sum(axis=0).T

    def _grads(self, tm):
        """Per-component g_k (n, K, d), responsibilities r (n, K) and the score s (n, d)."""
        r = np.exp(tm["lr"])
        g = -np.matmul(tm["U"], (tm["z"] / tm["lam_t"]).transpose(1, 2, 0)).transpose(2, 0, 1)
        s = np.einsum("nk,nki->ni", r, g)
        return g, r, s

    def hessian(self, x, t: int = 0, schedule: Schedule | None = None) -> np.ndarray:
        r""":math:`\nabla_x^2 \log p_t(x) = -\sum_k r_k \Sigma_{t,k}^{-1} + \sum_k r_k (g_k - s)(g_k - s)^\top`.

        The second sum equals :math:`\sum_k r_k g_k g_k^\top - s s^\top` (since
        :math:`\sum_k r_k = 1`); the centred form avoids the cancellation.

        ``x`` (n, d), ``t`` in [0, T] and ``schedule`` as in :meth:`logpdf`; returns
        an (n, d, d) array, symmetric.
        """
        tm = self._terms(x, t, schedule)
        g, r, s = self._grads(tm)
        U, lam_t = tm["U"], tm["lam_t"]
        prec = np.matmul(U / lam_t[:, None, :], np.swapaxes(U, 1, 2))  # (K, d, d)
        d = self.d
        H = -(r @ prec.reshape(self.K, d * d)).reshape(-1, d, d)
        B = np.sqrt(r)[:, :, None] * (g - s[:, None, :])  # (n, K, d)
        H += np.matmul(np.swapaxes(B, 1, 2), B)
        return 0.5 * (H + np.swapaxes(H, 1, 2))

    def _posterior_means(self, tm):
        """Per-component E[x_0 | x_t, k] (n, K, d) and responsibilities (n, K)."""
        ab, lam, lam_t, U = tm["ab"], tm["lam"], tm["lam_t"], tm["U"]
        gain = np.sqrt(ab) * lam / lam_t  # eigenvalues of sqrt(ab) S_k Σ_{t,k}^{-1}
        mk = np.matmul(U, (gain[None] * tm["z"]).transpose(1, 2, 0)).transpose(2, 0, 1)
        return self._means[None] + mk, np.exp(tm["lr"])

    def tweedie_mean(self, x, t: int, schedule: Schedule) -> np.ndarray:
        r""":math:`E[x_0 \mid x_t = x] = (x + (1-\bar\alpha_t)\nabla\log p_t(x))/\sqrt{\bar\alpha_t}`.

        Computed by the equal per-component route
        :math:`\sum_k r_k\big(\mu_k + \sqrt{\bar\alpha_t} S_k \Sigma_{t,k}^{-1}
        (x - \sqrt{\bar\alpha_t}\mu_k)\big)`, which does not divide by
        :math:`\sqrt{\bar\alpha_t}` (about 6e-3 at t = T = 1000).

        ``x`` (n, d), ``t`` in [1, T] and ``schedule`` as in :meth:`logpdf`; returns
        an (n, d) array.
        """
        tm = self._terms(x, t, schedule, min_t=1)
        mk, r = self._posterior_means(tm)
        return np.einsum("nk,nki->ni", r, mk)

    def tweedie_cov(self, x, t: int, schedule: Schedule) -> np.ndarray:
        r""":math:`\operatorname{Cov}[x_0 \mid x_t = x] = \frac{1-\bar\alpha_t}{\bar\alpha_t}
        \big(I + (1-\bar\alpha_t)\nabla^2\log p_t(x)\big)`.

        Computed by the equal law of total covariance over components,
        :math:`\sum_k r_k\big(S_k - \bar\alpha_t S_k\Sigma_{t,k}^{-1}S_k + (m_k - m)(m_k - m)^\top\big)`
        with :math:`m_k` the per-component means of :meth:`tweedie_mean` and :math:`m` their
        mixture; :math:`S_k - \bar\alpha_t S_k\Sigma_{t,k}^{-1}S_k = U_k \operatorname{diag}
        ((1-\bar\alpha_t)\lambda_k/(\bar\alpha_t\lambda_k + 1 - \bar\alpha_t)) U_k^\top`. This
        avoids the cancellation of the Hessian form near t = T.

        ``x`` (n, d), ``t`` in [1, T] and ``schedule`` as in :meth:`logpdf`; returns
        an (n, d, d) array, symmetric positive semi-definite.
        """
        tm = self._terms(x, t, schedule, min_t=1)
        mk, r = self._posterior_means(tm)
        m = np.einsum("nk,nki->ni", r, mk)
        U, lam, lam_t = tm["U"], tm["lam"], tm["lam_t"]
        ck = np.matmul(U * (tm["omab"] * lam / lam_t)[:, None, :], np.swapaxes(U, 1, 2))
        d = self.d
        C = (r @ ck.reshape(self.K, d * d)).reshape(-1, d, d)
        B = np.sqrt(r)[:, :, None] * (mk - m[:, None, :])
        C += np.matmul(np.swapaxes(B, 1, 2), B)
        return 0.5 * (C + np.swapaxes(C, 1, 2))


def _alphas(t, schedule, *, min_t: int, allow_none: bool):
    """Validate (t, schedule) and return (alpha_bar_t, 1 - alpha_bar_t)."""
    if schedule is None:
        if not allow_none:
            raise ValueError("schedule: expected a Schedule, got None")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t != 0:
            raise ValueError(f"t: expected 0 when schedule is None, got {t!r}")
        return 1.0, 0.0
    t = check_time_index(t, schedule, min_t=min_t)
    return float(schedule.alpha_bar[t]), float(schedule.one_minus_alpha_bar[t])


def pruned_posterior(gmm, A, sigma_y, y, *, floor: float = 1e-10):
    r"""The posterior mixture of :meth:`GaussianMixture.posterior` without its light components.

    .. math::

        \log\tilde w_k = \log w_k + \log N(y; A\mu_k, G_k) + c, \quad
        G_k = A S_k A^\top + \sigma_y^2 I, \qquad
        m_k = \mu_k + S_k A^\top G_k^{-1}(y - A\mu_k), \quad
        C_k = S_k - S_k A^\top G_k^{-1} A S_k .

    The same route (:func:`numerics.gmm_posterior.mixture_posterior`): the evidence of every
    component first, the per-component posteriors only for the components of weight >=
    ``floor`` (at least the heaviest), which are renormalised. Much cheaper than the full
    posterior at d = 256, K = 32 when few components survive.

    Parameters
    ----------
    gmm : GaussianMixture
    A : (m, d) array
    sigma_y : float > 0
    y : (m,) array
    floor : float in [0, 1)
        Weight below which a posterior component is dropped.

    Returns
    -------
    posterior : GaussianMixture
    dropped_mass : float
        Total posterior weight of the dropped components.
    """
    if not isinstance(gmm, GaussianMixture):
        raise ValueError(f"gmm: expected a GaussianMixture, got {type(gmm).__name__}")
    w, means, covs, dropped = mixture_posterior(gmm, A, sigma_y, y, floor=floor)
    return GaussianMixture(w, means, covs), dropped
