r"""Gaussian-approximation guidance: the covariance-aware score and ΠGDM.

Both approximate :math:`p(x_0 \mid x_t)` by a Gaussian around the denoiser's Tweedie mean
:math:`\hat x_0(x_t)` and use the resulting Gaussian likelihood of :math:`y = A x_0 + n`,
:math:`n \sim N(0, \sigma_y^2 I)`:

.. math::

    p(y \mid x_t) \approx N\big(y;\ A\hat x_0,\ \sigma_y^2 I + A\,C_t A^\top\big),
    \qquad
    \nabla_{x_t}\log p(y \mid x_t) \approx J^\top A^\top
    \big(\sigma_y^2 I + A C_t A^\top\big)^{-1}(y - A\hat x_0),

with :math:`J = \partial\hat x_0/\partial x_t` and :math:`C_t` held fixed when differentiating.

* :class:`CovarianceAwareGuidance` — :math:`C_t = \frac{1-\bar\alpha_t}{\sqrt{\bar\alpha_t}}
  J`, the second-order Tweedie covariance :math:`\mathrm{Cov}[x_0 \mid x_t]` (exact for every
  prior: it is the Jacobian of the exact Tweedie mean; moment-matching posterior sampling,
  Rozet et al. 2024; TMPD, Boys et al. 2023). The m × m system (m = measurement size) is
  solved matrix-free by ``n_cg`` conjugate-gradient iterations, each one vector-Jacobian
  product :math:`J^\top v` through the retained graph of one denoiser call (the Jacobian of a
  Tweedie mean is symmetric, :math:`J = \frac{\sqrt{\bar\alpha_t}}{1-\bar\alpha_t}
  \mathrm{Cov}[x_0\mid x_t]`, so :math:`J^\top v = J v`; for a network this uses
  :math:`J^\top`), plus one more for :math:`J^\top A^\top u`: a step costs one forward and
  ``n_cg + 1`` backward passes. With the exact Tweedie mean of a **Gaussian** prior the
  formula is the exact :math:`\nabla\log p_t(y \mid x_t)` (:math:`y \mid x_t` is Gaussian),
  reached after m CG iterations in exact arithmetic.
* :class:`PiGDMGuidance` — ΠGDM (Song, Vahdat, Mardani, Kautz, ICLR 2023), the isotropic
  :math:`C_t = r_t^2 I` with :math:`r_t^2 = 1 - \bar\alpha_t`: the paper's choice
  :math:`r_t^2 = \sigma_t^2/(1+\sigma_t^2)` (the posterior variance of x₀ for data
  :math:`N(0, I)`) written for the VP process, where :math:`\sigma_t^2 = (1-\bar\alpha_t)/
  \bar\alpha_t`. :math:`A^\top(\sigma_y^2 I + r_t^2 AA^\top)^{-1}r = r_t^{-2}
  (A^\top A + \rho I)^{-1}A^\top r` with :math:`\rho = \sigma_y^2/r_t^2` is the operator's
  proximal step (:meth:`~diffusion.operators.LinearOperator.prox_l2`, closed form for the
  project's operators), so a step costs one forward and one backward pass, as DPS.

The reverse step uses the approximation as the conditional-score correction
:math:`\delta = \zeta(\eta)\,(\beta_t/\sqrt{\alpha_t})\,\nabla\log p(y \mid x_t)`, so ζ = 1
is the plug-in conditional score :math:`\nabla\log p_t(x_t) + \nabla\log p(y \mid x_t)` in
the step mean :math:`(x_t + \beta_t\nabla\log p_t(x_t \mid y))/\sqrt{\alpha_t}` (no ζ table
is needed for a Gaussian prior: ζ = 1 is exact there).

References
----------
1. F. Rozet, G. Andry, F. Lanusse, G. Louppe, "Learning Diffusion Priors from Observations by
   Expectation Maximization", NeurIPS 2024 (moment-matching posterior sampling, CG over VJPs).
2. B. Boys, M. Girolami, J. Pidstrigach, S. Reich, A. Mosca, O. D. Akyildiz, "Tweedie Moment
   Projected Diffusions for Inverse Problems", TMLR 2024 (arXiv 2310.06721).
3. J. Song, A. Vahdat, M. Mardani, J. Kautz, "Pseudoinverse-Guided Diffusion Models for
   Inverse Problems", ICLR 2023, Section 3.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion.guidance_base import (
    MeasurementGuidance,
    check_operator,
    measurement_batch,
    op_apply,
    zeta_function,
)
from diffusion.models import _call_denoiser, check_time
from diffusion.operators.base import LinearOperator
from diffusion.schedule import _append_dims as append_dims
from numerics.validate import check_positive

__all__ = ["CovarianceAwareGuidance", "PiGDMGuidance"]


def _truncated_cg(matvec, b: torch.Tensor, *, max_iter: int, floor: float):
    r"""Truncated conjugate gradients for :math:`M u = b` with :math:`M \succeq` ``floor`` · I.

    Hestenes-Stiefel CG per sample from u = 0, with the two stops of Steihaug's truncated
    CG (Steihaug 1983) adapted to a system whose matrix is known to satisfy
    :math:`M = \sigma^2 I + A C A^\top \succeq \sigma^2 I` when the covariance C is
    positive semidefinite (``floor`` = σ²):

    * **curvature**: a search direction with :math:`p^\top M p < \sigma^2 p^\top p`
      certifies that C is not PSD along :math:`A^\top p` (negative curvature of the
      covariance term); that sample stops and keeps its last iterate;
    * **radius**: a step that would take :math:`\|u\|` beyond :math:`\|b\|/\sigma^2`
      stops that sample at its last iterate. For an SPD M the CG iterates grow in norm
      monotonically towards :math:`\|M^{-1}b\| \le \|b\|/\lambda_{\min}(M) \le
      \|b\|/\sigma^2` (Steihaug's lemma), so this stop never acts there.

    Neither stop acts when M is symmetric with :math:`M \succeq \sigma^2 I` (up to
    rounding): the iterates are plain CG's. A sample also stops once its residual is below
    ``100 * eps`` of the dtype times ``‖b‖``.

    Parameters
    ----------
    matvec : callable ``[B, ...] -> [B, ...]``
        :math:`u \mapsto M u` per sample.
    b : tensor ``[B, ...]``
    max_iter : int >= 1
    floor : float > 0
        The lower bound σ² on M's Rayleigh quotient.

    Returns
    -------
    (u, truncated) : tensor ``[B, ...]`` and bool tensor ``[B]`` (True where a
    curvature or radius stop acted).
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter: expected an int >= 1, got {max_iter!r}")
    floor = check_positive(floor, "floor")
    B = b.shape[0]
    view = (B,) + (1,) * (b.ndim - 1)

    def dot(u, v):
        return (u * v).reshape(B, -1).sum(1)

    eps = torch.finfo(b.dtype).eps
    tiny = torch.finfo(b.dtype).tiny
    u = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = dot(r, r)
    radius2 = rs * (1.0 + 64.0 * eps) / floor**2
    active = rs > (100.0 * eps) ** 2 * rs
    truncated = torch.zeros(B, dtype=torch.bool, device=b.device)
    for _ in range(int(max_iter)):
        if not bool(active.any()):
            break
        Mp = matvec(p)
        pp, pMp = dot(p, p), dot(p, Mp)
        curved = pMp < (1.0 - 64.0 * eps) * floor * pp
        alpha = torch.where(curved, 0.0, rs / pMp.clamp_min(tiny))
        u_new = u + alpha.reshape(view) * p
        outside = dot(u_new, u_new) > radius2
        stop = active & (curved | outside)
        truncated |= stop
        active &= ~stop
        keep = active.reshape(view)
        u = torch.where(keep, u_new, u)
        r = torch.where(keep, r - alpha.reshape(view) * Mp, r)
        rs_new = dot(r, r)
        beta = rs_new / rs.clamp_min(tiny)
        p = torch.where(keep, r + beta.reshape(view) * p, p)
        active &= rs_new > (100.0 * eps) ** 2 * dot(b, b)
        rs = torch.where(active, rs_new, rs)
    return u, truncated


class _GaussianLikelihoodGuidance(MeasurementGuidance):
    """Shared part: operator, y, σ_y, ζ(η), ``prepare`` and the step δ from the score."""

    needs_grad = True

    def __init__(self, operator, y, sigma_y, zeta):
        check_operator(operator)
        self.operator = operator
        self.sigma_y = check_positive(sigma_y, "sigma_y")
        self.zeta = zeta_function(zeta)
        self._zeta_spec = zeta
        self.y = measurement_batch(operator, y)
        self._zeta_t: torch.Tensor | None = None

    def _weighted_residual(self, x, x0, r, alpha_bar: float) -> torch.Tensor:
        """:math:`A^\\top(\\sigma_y^2 I + A C_t A^\\top)^{-1} r`, ``[B, *in_shape]``."""
        raise NotImplementedError  # pragma: no cover

    def measurement_score(self, x_t, t_model, model, alpha_bar: float):
        r"""The approximate :math:`\nabla_{x_t}\log p(y \mid x_t)` (no ζ) and :math:`\hat x_0`.

        Parameters
        ----------
        x_t : tensor [B, *operator.in_shape]
        t_model : int64 tensor [B]
            The model's time index.
        model : callable denoiser ``model(x_t, t) -> x0_hat``, differentiable in x_t
        alpha_bar : float in (0, 1)
            :math:`\bar\alpha_t` of that time.

        Returns
        -------
        (x0_hat, score) : two detached tensors ``[B, *in_shape]``
        """
        a = float(alpha_bar)
        if not 0.0 < a < 1.0:
            raise ValueError(f"alpha_bar: expected a number in (0, 1), got {alpha_bar!r}")
        self.operator.check_input(x_t, "x_t")
        t_model = check_time(t_model, x_t, t_name="t_model")
        y = self.y.to(dtype=x_t.dtype, device=x_t.device)
        if y.shape[0] not in (1, x_t.shape[0]):
            raise ValueError(f"y: has {y.shape[0]} measurements for a batch of {x_t.shape[0]}")
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            x0 = _call_denoiser(model, x, t_model)
            if not x0.requires_grad:
                raise ValueError(
                    "model: its output does not depend differentiably on x_t (no autograd "
                    f"graph); {type(self).__name__} differentiates through the denoiser"
                )
            w = self._weighted_residual(x, x0, y - op_apply(self.operator)(x0), a)
            (score,) = torch.autograd.grad(x0, x, grad_outputs=w.detach())
        return x0.detach(), score

    def __call__(self, x_t, step, t_model, model):
        """One guided step: ``(x0_hat, delta)`` for ``x_t`` [B, ...], a
        :class:`~diffusion.schedule.StepCoefficients` ``step``, time indices ``t_model`` (int
        or [B]) and the denoiser ``model``; arguments and result checked (TypeError/ValueError
        naming the argument)."""
        return self._checked_call(x_t, step, t_model, model)

    def _guide(self, x_t, step, t_model, model):
        if self._zeta_t is None:
            raise ValueError(
                f"{type(self).__name__}: call prepare(x_T, eta) first (the sampler does)"
            )
        x0, score = self.measurement_score(x_t, t_model, model, step.alpha_bar)
        gain = self._zeta_t * (step.beta / math.sqrt(step.alpha))
        return x0, append_dims(gain, x_t.ndim) * score


class CovarianceAwareGuidance(_GaussianLikelihoodGuidance):
    r"""Covariance-aware (Tweedie-covariance) guidance: exact for a Gaussian prior.

    Parameters
    ----------
    operator : diffusion.operators.LinearOperator
        ``A`` with ``in_shape`` the per-sample shape of x (``A`` and ``A_adjoint`` are used).
    y : tensor
        The measurement, shape ``operator.out_shape`` or ``[N, *operator.out_shape]`` with
        N = 1 or the batch size.
    sigma_y : float > 0
        Measurement noise sd, in the units of x.
    n_cg : int >= 1
        Conjugate-gradient iterations for :math:`(\sigma_y^2 I + A C_t A^\top)u = y - A\hat
        x_0`, per sample, from u = 0 (stops earlier once every sample's residual is below
        ``100 * eps`` of the dtype), truncated where the system shows it is not
        :math:`\succeq \sigma_y^2 I` (``_truncated_cg``). n_cg = 1 is a scaled DPS-like
        step; m iterations (the measurement size) are exact in exact arithmetic. Default 10.
    zeta : float, callable, table or preset name
        Multiplier ζ(η) of the score step (:func:`~diffusion.guidance.zeta_function`);
        default 1, the plug-in conditional score.

    Notes
    -----
    The system matrix is symmetric positive definite when J is (a Tweedie mean's Jacobian
    is; a network's only approximately); CG uses :math:`J^\top`. For a network it can be
    far from it: on the digit network at the first reverse steps the symmetric part of
    :math:`\sigma_y^2 I + A C_t A^\top` has tens of negative eigenvalues of 256 (the factor
    :math:`(1-\bar\alpha_t)/\sqrt{\bar\alpha_t} \approx 100\text{--}158` amplifies the
    Jacobian's error), and plain CG's iterates grew to :math:`10^4` there. The solve is
    therefore Steihaug-truncated (``_truncated_cg``): a sample stops at its last iterate
    on a direction with :math:`p^\top M p < \sigma_y^2 \|p\|^2` or a step beyond
    :math:`\|u\| = \|r\|/\sigma_y^2`, neither of which can happen for a PSD covariance.
    ``cg_solves`` and ``cg_truncations`` count the per-sample solves and the truncated ones. Samples are treated
    independently (one CG per sample, a model that mixes samples breaks this). The covariance
    factor :math:`(1-\bar\alpha_t)/\sqrt{\bar\alpha_t}` is 158 at :math:`\bar\alpha_T = 4\cdot
    10^{-5}`, where J is correspondingly small.

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> from diffusion.operators import DenseOperator
    >>> from diffusion.priors import GaussianPrior
    >>> from diffusion.sampler import sample
    >>> prior = GaussianPrior([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], linear_schedule(1000))
    >>> g = CovarianceAwareGuidance(DenseOperator([[1.0, 0.0]]), [1.0], 0.5, n_cg=1)
    >>> x = sample(prior, (2, 2), linear_schedule(1000), eta=0.0, guidance=g, steps=20,
    ...            generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x.shape
    torch.Size([2, 2])
    """

    def __init__(self, operator, y, sigma_y, *, n_cg: int = 10, zeta=1.0):
        super().__init__(operator, y, sigma_y, zeta)
        if isinstance(n_cg, bool) or not isinstance(n_cg, (int, np.integer)) or n_cg < 1:
            raise ValueError(f"n_cg: expected an int >= 1, got {n_cg!r}")
        self.n_cg = int(n_cg)
        self.cg_solves = 0  # per-sample CG solves so far
        self.cg_truncations = 0  # of which a curvature or radius stop acted (_truncated_cg)

    def __repr__(self) -> str:
        return (
            f"CovarianceAwareGuidance(sigma_y={self.sigma_y}, n_cg={self.n_cg}, "
            f"zeta={self._zeta_spec!r}, operator={self.operator!r})"
        )

    def _weighted_residual(self, x, x0, r, alpha_bar):
        A, At, s2 = op_apply(self.operator), op_apply(self.operator, True), self.sigma_y**2
        c = (1.0 - alpha_bar) / math.sqrt(alpha_bar)

        def matvec(u):  # (σ² I + c A J Aᵀ) u, one VJP through the retained graph
            (jt,) = torch.autograd.grad(x0, x, grad_outputs=At(u), retain_graph=True)
            return s2 * u + c * A(jt)

        u, truncated = _truncated_cg(matvec, r.detach(), max_iter=self.n_cg, floor=s2)
        self.cg_solves += int(truncated.numel())
        self.cg_truncations += int(truncated.sum())
        return At(u)


class PiGDMGuidance(_GaussianLikelihoodGuidance):
    r"""ΠGDM guidance (Song et al. 2023): the isotropic covariance :math:`r_t^2 I`, :math:`r_t^2 = 1-\bar\alpha_t`.

    Parameters
    ----------
    operator : diffusion.operators.LinearOperator
        Needs ``prox_l2`` (every :class:`~diffusion.operators.LinearOperator` has it).
    y : tensor
        Shape ``operator.out_shape`` or ``[N, *operator.out_shape]``.
    sigma_y : float > 0
    zeta : float, callable, table or preset name
        Multiplier ζ(η) of the score step; default 1.

    Notes
    -----
    Exact for the prior N(0, I) (its posterior covariance given x_t is :math:`r_t^2 I`);
    for other priors the isotropic covariance is an approximation. Cost per step: one
    forward and one backward pass of the model plus one proximal step of the operator.

    Examples
    --------
    >>> from diffusion.operators import DenseOperator
    >>> from diffusion.priors import GaussianPrior
    >>> from numerics.schedule import linear_schedule
    >>> prior = GaussianPrior([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], linear_schedule(1000))
    >>> g = PiGDMGuidance(DenseOperator([[1.0, 0.0]]), [1.0], 0.5)
    >>> x = torch.zeros(1, 2, dtype=torch.float64)
    >>> _, s = g.measurement_score(x, torch.tensor([500]), prior, prior.schedule.alpha_bar[500])
    >>> s.shape
    torch.Size([1, 2])
    """

    def __init__(self, operator, y, sigma_y, *, zeta=1.0):
        super().__init__(operator, y, sigma_y, zeta)
        if not hasattr(operator, "prox_l2"):
            raise ValueError(
                f"operator: PiGDMGuidance needs .prox_l2, got {type(operator).__name__}"
            )

    def __repr__(self) -> str:
        return (
            f"PiGDMGuidance(sigma_y={self.sigma_y}, zeta={self._zeta_spec!r}, "
            f"operator={self.operator!r})"
        )

    def _weighted_residual(self, x, x0, r, alpha_bar):
        r2 = 1.0 - alpha_bar
        zero = torch.zeros_like(x0, requires_grad=False)
        rho = self.sigma_y**2 / r2
        op = self.operator
        if isinstance(op, LinearOperator):  # unchecked per-step form (see op_apply)
            return op._prox_l2(zero, r.detach(), rho) / r2
        return op.prox_l2(zero, r.detach(), rho=rho) / r2
