r"""The numpy twin of DPS (diffusion posterior sampling) over an exact Gaussian-mixture prior.

DPS (Chung et al. 2023, Algorithm 1) takes the unconditional reverse step and then moves
against the gradient of a data-fit loss of the Tweedie estimate
:math:`\hat x_0(x_t) = E[x_0 \mid x_t]`:

.. math::

    x_{t-1} = \frac{x_t + \beta_t \nabla\log p_t(x_t)}{\sqrt{\alpha_t}} + \sqrt{\eta v_t}\, z
    - \zeta\, \nabla_{x_t} L(x_t), \qquad
    L = \begin{cases}
        \|y - A\hat x_0\| & \text{(reference code)}\\
        \|y - A\hat x_0\|^2 / (2\sigma_y^2) & \text{(likelihood form)}
    \end{cases}

With an exact prior the Jacobian of Tweedie is known in closed form,
:math:`\partial\hat x_0/\partial x_t = (I + (1-\bar\alpha_t)\nabla^2\log p_t)/\sqrt{\bar\alpha_t}`
(symmetric), so :math:`\nabla_{x_t}\|y - A\hat x_0\|^2 = -2 J^\top A^\top (y - A\hat x_0)`
needs no autograd. Written as an effective conditional score :math:`s` of the mean step
:math:`(x_t + \beta_t s)/\sqrt{\alpha_t}`,

.. math::

    s(x_t) = \nabla\log p_t(x_t) - \zeta\sqrt{\alpha_t}\,\nabla_{x_t} L / \beta_t ,

it runs in :func:`numerics.chain.eta_chain` unchanged: the float64 reference for the torch
``diffusion.guidance.DPSGuidance``.

References
----------
1. H. Chung, J. Kim, M. T. Mccann, M. L. Klasky, J. C. Ye, "Diffusion Posterior Sampling for
   General Noisy Inverse Problems", ICLR 2023, Algorithm 1.
2. Z. Wang et al., arXiv 2503.20297 (2025), Algorithm 1.
"""

from __future__ import annotations

import numpy as np

from numerics.schedule import check_schedule
from numerics.validate import MAX_ABS, as_array, as_scalar, check_std

__all__ = ["DPS_FORMS", "dps_score"]

#: the two DPS losses: the reference code's norm, and the paper's squared norm over 2 σ_y²
DPS_FORMS = ("reference", "likelihood")


def dps_score(prior, A, sigma_y, y, schedule, *, zeta: float, form: str = "reference"):
    r"""Effective conditional score of DPS over the exact prior score, for :func:`numerics.chain.eta_chain`.

    .. math::

        s(x_t) = \nabla\log p_t(x_t) - \zeta\sqrt{\alpha_t}\,\nabla_{x_t} L / \beta_t, \qquad
        \nabla_{x_t} L = -\frac{J A^\top r}{\|r\|}\ (\text{"reference"}), \quad
        -\frac{J A^\top r}{\sigma_y^2}\ (\text{"likelihood"}),

    with :math:`r = y - A\hat x_0`, :math:`\hat x_0 = (x_t + (1-\bar\alpha_t)\nabla\log
    p_t)/\sqrt{\bar\alpha_t}` and :math:`J = (I + (1-\bar\alpha_t)\nabla^2\log
    p_t)/\sqrt{\bar\alpha_t}` from the prior's Hessian (module notes).

    Parameters
    ----------
    prior : numerics.gmm.GaussianMixture
        The exact prior (its ``score`` and ``hessian`` at step t are used).
    A : (m, d) array
    sigma_y : float > 0
        Used by the ``"likelihood"`` form only.
    y : (m,) array
    schedule : numerics.schedule.Schedule
    zeta : float >= 0
        The DPS step weight ζ.
    form : {"reference", "likelihood"}

    Returns
    -------
    callable ``(x (n, d), t) -> (n, d)``
    """
    if form not in DPS_FORMS:
        raise ValueError(f"form: expected 'reference' or 'likelihood', got {form!r}")
    if not all(callable(getattr(prior, f, None)) for f in ("score", "hessian")):
        raise ValueError(
            f"prior: expected an object with score and hessian (e.g. a "
            f"GaussianMixture), got {type(prior).__name__}"
        )
    A = as_array(A, "A", ndim=2, max_abs=MAX_ABS)
    d = getattr(prior, "d", None)  # a GaussianMixture's dimension
    if A.shape[0] < 1 or A.shape[1] < 1 or (isinstance(d, int) and A.shape[1] != d):
        want = "(m, d) with m, d >= 1" if not isinstance(d, int) else f"(m, {d}), m >= 1"
        raise ValueError(f"A: expected shape {want}, got {A.shape}")
    y = as_array(y, "y", shape=(A.shape[0],), max_abs=MAX_ABS)
    sigma_y = check_std(sigma_y, "sigma_y")
    zeta = as_scalar(zeta, "zeta")
    if zeta < 0:
        raise ValueError(f"zeta: expected a finite number >= 0, got {zeta!r}")
    check_schedule(schedule)

    def score(x, t):
        s_prior = prior.score(x, t, schedule)
        H = prior.hessian(x, t, schedule)
        ab, omab = schedule.alpha_bar[t], schedule.one_minus_alpha_bar[t]
        x0 = (x + omab * s_prior) / np.sqrt(ab)
        r = y - x0 @ A.T  # (n, m)
        # grad of ||r||^2 wrt x_t = -2 J^T A^T r, J symmetric.
        v = r @ A  # (n, d) = A^T r
        Jv = (v + omab * np.einsum("nij,nj->ni", H, v)) / np.sqrt(ab)
        if form == "reference":
            norm = np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-300)
            grad = -Jv / norm
        else:
            grad = -Jv / sigma_y**2
        return s_prior - zeta * np.sqrt(schedule.alpha[t]) * grad / schedule.beta[t]

    return score
