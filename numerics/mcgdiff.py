r"""The Gaussian-mixture inverse problems of MCGDiff (Cardoso et al., ICLR 2024), exact posterior included.

The problem family of the MCGDiff paper's mixture experiment, as its authors' public script
(``gabrielvc/mcg_diff``, ``scripts/viz_gaussian.py``) generates it, in float64 numpy:

* **Prior**: 25 components of identity covariance, means :math:`(8i, 8j)`,
  :math:`i, j \in \{-2, \dots, 2\}`, the 2-D pattern repeated :math:`d/2` times to fill
  dimension d (so d must be even); weights :math:`w_k \propto \varepsilon_k^2`,
  :math:`\varepsilon_k \sim N(0, 1)`.
* **Operator**: :math:`A = U \operatorname{diag}(s) V_{1:d_y}`, with :math:`U, V` from the SVD
  of a standard normal :math:`d_y \times d` matrix and its singular values replaced by
  :math:`d_y` Uniform(0, 1) draws sorted in decreasing order.
* **Noise and measurement**: :math:`\sigma_y = u \max_i s_i`, :math:`u \sim` Uniform(0, 1);
  :math:`y = A x + \sigma_y n` for one prior draw x and :math:`n \sim N(0, I_{d_y})`.

The draws are made from one ``numpy.random.Generator`` in that order (weights, matrix,
singular values, x, u, n; the script's order, with its torch generator replaced by numpy's).
The exact posterior is again a 25-component mixture,
:math:`p(x \mid y) = \sum_k \tilde w_k N(m_k, C)` (one C, since every prior covariance is
I); it is formed by :meth:`numerics.gmm.GaussianMixture.posterior` (the one route,
:func:`numerics.gmm_posterior.mixture_posterior`), not re-derived here.

**Reproducible draws.** C has the eigenvalue 1 with multiplicity :math:`d - d_y` (every
direction A does not see), and an exact draw is :math:`m_k + U \Lambda^{1/2} z`, so *which*
orthonormal basis LAPACK returns for that eigenspace decides the draws made from a seeded
generator (not their law). That basis is not a continuous function of the matrix: rounding
differences in C (or in A) change it, and OpenBLAS rounds differently with another thread
count. Measured on this project's machine: the d = 800 problems of the MCGDiff benchmark
give, from the same seeds, the stored sliced-W2 floors of its first run with
``OPENBLAS_NUM_THREADS=1`` (0.327 for d_y = 2, p = 0) and those of its resumed run with 2
(0.322). A (its SVD) and the posterior (formed and decomposed) are therefore computed with
one BLAS thread (``threadpoolctl``); at d = 256 that makes the draws independent of the
caller's thread count (``tests/diffusion/test_mcgdiff_benchmark.py``), but at d = 800 a run
with ``OPENBLAS_NUM_THREADS=2`` still gave 0.322 (a thread-dependent step not yet found).
So run with ``OPENBLAS_NUM_THREADS=1`` where draws must match, and note that another LAPACK
build may choose another basis (same law, other draws); the benchmark stores its floors so a
resume never recomputes them (:mod:`diffusion.experiments.mcgdiff.run`).

Sizes: the posterior holds K = 25 covariances of (d, d): 128 MB at d = 800; its first
:meth:`MCGDiffProblem.sample_posterior` eigendecomposes them (a few seconds at d = 800).

References
----------
1. G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines, "Monte Carlo guided
   Denoising Diffusion models for Bayesian linear inverse problems", ICLR 2024
   (arXiv 2308.07983), Section 4 (Gaussian mixture); code: github.com/gabrielvc/mcg_diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.gmm import GaussianMixture
from numerics.gmm_posterior import mixture_posterior
from numerics.validate import check_spd, check_weights

__all__ = ["GRID_SPACING", "MCGDiffProblem", "mcgdiff_means", "mcgdiff_problem"]

#: Distance between neighbouring means of the 5 x 5 grid in each 2-D block.
GRID_SPACING = 8.0


def _check_dims(d, d_y) -> tuple[int, int]:
    for name, v in (("d", d), ("d_y", d_y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    if d % 2:
        raise ValueError(f"d: expected an even dimension (the 2-D pattern is repeated), got {d}")
    if d_y > d:
        raise ValueError(f"d_y: expected at most d = {d} measurements, got {d_y}")
    return int(d), int(d_y)


def mcgdiff_means(d: int) -> np.ndarray:
    r"""The 25 prior means :math:`(8i, 8j, 8i, 8j, \dots)`, :math:`i, j \in \{-2..2\}`, shape (25, d).

    Row ``5 (i + 2) + (j + 2)`` is the mean of (i, j).

    Examples
    --------
    >>> m = mcgdiff_means(4)
    >>> m.shape, m[0].tolist(), m[7].tolist()
    ((25, 4), [-16.0, -16.0, -16.0, -16.0], [-8.0, 0.0, -8.0, 0.0])
    """
    d, _ = _check_dims(d, 1)
    grid = np.arange(-2, 3, dtype=np.float64) * GRID_SPACING
    pairs = np.array([[a, b] for a in grid for b in grid])  # (25, 2)
    return np.tile(pairs, (1, d // 2))


@dataclass(frozen=True, eq=False)
class MCGDiffProblem:
    r"""One problem :math:`y = A x + \sigma_y n` of the family, with its exact posterior.

    Attributes
    ----------
    prior : numerics.gmm.GaussianMixture
        K = 25, identity covariances.
    A : (d_y, d) array
    singular_values : (d_y,) array, decreasing, in (0, 1)
    sigma_y : float > 0
    y : (d_y,) array
    x_true : (d,) array
        The prior draw y was made from.
    """

    prior: GaussianMixture
    A: np.ndarray
    singular_values: np.ndarray
    sigma_y: float
    y: np.ndarray
    x_true: np.ndarray

    @property
    def d(self) -> int:
        """Dimension of x."""
        return self.prior.d

    @property
    def d_y(self) -> int:
        """Dimension of y."""
        return int(self.A.shape[0])

    @cached_property
    def posterior(self) -> GaussianMixture:
        r"""The exact posterior :math:`p(x \mid y)`, a 25-component mixture (cached).

        Weights, means and covariances from :func:`numerics.gmm_posterior.mixture_posterior`
        (what :meth:`GaussianMixture.posterior` returns). Every prior covariance is I, so the
        25 posterior covariances are one matrix C; it is checked and eigendecomposed once
        (not 25 times) and the mixture built around that shared decomposition.
        """
        with threadpool_limits(limits=1, user_api="blas"):  # see "Reproducible draws" above
            w, means, covs, _ = mixture_posterior(self.prior, self.A, self.sigma_y, self.y)
            if not np.array_equal(covs, np.broadcast_to(covs[0], covs.shape)):
                return GaussianMixture(w, means, covs)  # pragma: no cover - not this family
            C = check_spd(covs[0], "posterior covariance", d=self.d)
            lam, U = np.linalg.eigh(C)
        if lam[0] <= 0:
            raise ValueError("posterior covariance: numerically singular (sigma_y too small)")
        K = w.shape[0]
        eig = (np.broadcast_to(lam, (K, self.d)), np.broadcast_to(U, (K, self.d, self.d)))
        return GaussianMixture._trusted(check_weights(w), means, covs, eig=eig)

    def posterior_mean(self) -> np.ndarray:
        r""":math:`E[x \mid y]`, a (d,) array."""
        return self.posterior.mean()

    def mmse(self) -> float:
        r""":math:`\operatorname{tr}\operatorname{Cov}[x \mid y]`, the MMSE of estimating x from y."""
        return self.posterior.mmse()

    def sample_posterior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` exact draws from the posterior, an (n, d) array."""
        return self.posterior.sample(n, rng)


def mcgdiff_problem(d: int, d_y: int, rng: np.random.Generator) -> MCGDiffProblem:
    r"""Draw one problem of the family (see the module notes for the recipe and draw order).

    Parameters
    ----------
    d : int, even, >= 2
    d_y : int in [1, d]
    rng : numpy.random.Generator

    Returns
    -------
    MCGDiffProblem

    Examples
    --------
    >>> p = mcgdiff_problem(8, 2, np.random.default_rng(0))
    >>> p.A.shape, p.y.shape, p.prior.K, bool(p.singular_values[0] >= p.singular_values[1])
    ((2, 8), (2,), 25, True)
    >>> bool(0 < p.sigma_y <= p.singular_values.max())
    True
    """
    d, d_y = _check_dims(d, d_y)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    eps = rng.standard_normal(25)
    weights = eps**2 / np.sum(eps**2)
    eye = np.broadcast_to(np.eye(d), (25, d, d))
    # identity covariances: their eigendecomposition is known, no 25 Cholesky / eigh at d = 800
    eig = (np.ones((25, d)), eye)
    prior = GaussianMixture._trusted(check_weights(weights), mcgdiff_means(d), eye, eig=eig)
    with threadpool_limits(limits=1, user_api="blas"):  # see "Reproducible draws" above
        U, _, Vh = np.linalg.svd(rng.standard_normal((d_y, d)), full_matrices=True)
        s = np.sort(rng.random(d_y))[::-1].copy()
        A = U @ (s[:, None] * Vh[:d_y])
    x = prior.sample(1, rng)[0]
    sigma_y = float(rng.random() * s.max())
    y = A @ x + sigma_y * rng.standard_normal(d_y)
    for a in (A, s, y, x):
        a.setflags(write=False)
    return MCGDiffProblem(prior, A, s, sigma_y, y, x)
