r"""Guidance: how the measurement y enters the reverse step. Composed with the sampler.

The sampler (:func:`diffusion.sampler.sample`) takes, at reverse step t (from x_t to
x_{t-1}), the denoiser estimate :math:`\hat x_0` and a correction :math:`\delta` from the
guidance object and forms

.. math::

    x_{t-1} = \underbrace{c^{(0)}_t \hat x_0 + c^{(x)}_t x_t}_{(x_t + \beta_t s)/\sqrt{\alpha_t}}
    + \delta + \sqrt{\eta}\, V_t^{1/2} z ,

where :math:`s = (\sqrt{\bar\alpha_t}\hat x_0 - x_t)/(1-\bar\alpha_t)` is the score that
:math:`\hat x_0` implies (see :mod:`diffusion.schedule`). A guidance object is a callable
``guidance(x_t, step, t_model, model) -> (x0_hat, delta)`` (``delta`` may be ``None``).

* :class:`ExactGuidance` — the true conditional score of an analytic prior. It returns the
  exact posterior Tweedie mean :math:`E[x_0 \mid x_t, y]` as :math:`\hat x_0` and
  :math:`\delta = 0`, so the step mean is exactly
  :math:`(x_t + \beta_t\nabla\log p_t(x_t \mid y))/\sqrt{\alpha_t}` — the same as the prior
  step plus :math:`\delta = (\beta_t/\sqrt{\alpha_t})(s_{\rm post} - s_{\rm prior})`, where the
  prior score cancels, so the model is not evaluated. It also provides the Hessian of
  :math:`\log p_t(x_t \mid y)` (for ``variance="exact"``) and the exact law of
  :math:`x_T \mid y` (for ``start="exact"``).
* :class:`DPSGuidance` — diffusion posterior sampling (Chung et al. 2023; the paper's
  Algorithm 1): :math:`\hat x_0 = \text{model}(x_t)` through autograd and

  .. math::

      \delta = -\zeta(\eta)\, \nabla_{x_t} \frac{\|y - A\hat x_0(x_t)\|^2}{2\sigma_y^2}
      \quad (\texttt{form="likelihood"}), \qquad
      \delta = -\zeta(\eta)\, \nabla_{x_t} \|y - A\hat x_0(x_t)\|
      \quad (\texttt{form="reference"}).

  ``"likelihood"`` is Algorithm 1 as the papers write it, with the Gaussian likelihood's
  :math:`\sigma_y`: :math:`-\nabla\|r\|^2/(2\sigma_y^2) = \nabla\log N(y; A\hat x_0(x_t),
  \sigma_y^2 I)`, the DPS approximation of :math:`\nabla\log p_t(y \mid x_t)`. With
  ``scale_by_beta=True`` the step is multiplied by :math:`\beta_t/\sqrt{\alpha_t}`, so that
  ζ = 1 is exactly the conditional-score step :math:`(x_t + \beta_t(\nabla\log p_t(x_t) +
  \nabla\log N(y; A\hat x_0, \sigma_y^2 I)))/\sqrt{\alpha_t}` (its gain
  :math:`\beta_t J^\top A^\top A/\sigma_y^2` can exceed 1 early in the run at small σ_y, and
  the chain then diverges). ``"reference"`` is what the DPS reference code does
  (``PosteriorSampling.conditioning``: ``norm = torch.linalg.norm(y - A x0)``, step
  ``scale * grad(norm)``), i.e. :math:`\zeta/(2\|r\|)\,\nabla\|r\|^2`, with **no** σ_y; the
  DPS paper writes it as :math:`\zeta_t = \zeta'/\|r\|` in front of the squared norm. The two ζ
  scales are not interchangeable: the paper's ζ(η) tables (:data:`ZETA_PRESETS`) and DPS's
  ζ = 1 belong to the reference form, in the [-1, 1] pixel range. Norms are per sample.

* :class:`CovarianceAwareGuidance` and :class:`PiGDMGuidance` — the Gaussian approximation
  of :math:`p(x_0 \mid x_t)` with the Tweedie covariance (conjugate gradients over
  vector-Jacobian products; exact for a Gaussian prior) or ΠGDM's isotropic one, defined in
  :mod:`diffusion.guidance_gaussian` and re-exported here.

ζ can be a number, a callable ``zeta(eta) -> float``, a table ``{eta: zeta}`` (linearly
interpolated in η, constant beyond its ends) or the name of a preset; with a per-sample η
the step size is per sample.

References
----------
1. H. Chung, J. Kim, M. T. Mccann, M. L. Klasky, J. C. Ye, "Diffusion Posterior Sampling for
   General Noisy Inverse Problems", ICLR 2023, Algorithm 1 (code: DPS2022/
   diffusion-posterior-sampling, ``guided_diffusion/condition_methods.py``).
2. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, arXiv 2503.20297 (2025), Algorithm 1, Appendix E.
"""

from __future__ import annotations

import math

import torch

from diffusion._checks import check_flag, check_result, check_tensor
from diffusion.guidance_base import (
    ZETA_PRESETS,
    Guidance,
    MeasurementGuidance,
    check_eta_batch,
    check_operator,
    measurement_batch,
    op_apply,
    zeta_function,
)
from diffusion.guidance_gaussian import CovarianceAwareGuidance, PiGDMGuidance
from diffusion.models import _call_denoiser, check_time
from diffusion.schedule import _append_dims as append_dims
from numerics.validate import check_positive

__all__ = [
    "ZETA_PRESETS",
    "CovarianceAwareGuidance",
    "DPSGuidance",
    "ExactGuidance",
    "Guidance",
    "MeasurementGuidance",
    "PiGDMGuidance",
    "check_eta_batch",
    "zeta_function",
]


class ExactGuidance(Guidance):
    r"""The exact conditional score of an analytic prior, from its exact posterior.

    Parameters
    ----------
    posterior : MixturePrior or GaussianPrior
        The exact posterior :math:`p(x_0 \mid y)` as a denoiser on the model's base
        schedule (e.g. ``prior.posterior(A, sigma_y, y)``).

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> from diffusion.priors import GaussianPrior
    >>> prior = GaussianPrior([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], linear_schedule(1000))
    >>> g = ExactGuidance.from_prior(prior, [[1.0, 0.0]], 0.5, [1.0])
    >>> g.posterior.loc.round(6).tolist()
    [0.8, 0.0]
    """

    def __init__(self, posterior):
        for attr in ("score", "hessian", "sample_xt", "mean_xt", "d"):
            if not hasattr(posterior, attr):
                raise ValueError(
                    f"posterior: expected an analytic prior (GaussianPrior/MixturePrior) with "
                    f".{attr}, got {type(posterior).__name__}"
                )
        self.posterior = posterior

    @classmethod
    def from_prior(cls, prior, A, sigma_y, y) -> ExactGuidance:
        """``ExactGuidance(prior.posterior(A, sigma_y, y))``; A an array or an operator."""
        if not callable(getattr(prior, "posterior", None)):
            raise TypeError(
                f"prior: expected an analytic prior with .posterior (GaussianPrior/MixturePrior), "
                f"got {type(prior).__name__}"
            )
        return cls(prior.posterior(A, sigma_y, y))

    def __repr__(self) -> str:
        return f"ExactGuidance({self.posterior!r})"

    def _check_x(self, x, name):
        D = math.prod(x.shape[1:])
        if x.ndim < 2 or D != self.posterior.d:
            raise ValueError(
                f"{name}: {D} values per sample (shape {list(x.shape)}) do not match the "
                f"posterior's dimension {self.posterior.d}"
            )

    def _check_model(self, model):
        """The model is not used (the posterior is the denoiser)."""

    def _time_source(self, model):
        return self.posterior

    def prepare(self, x_T, eta):
        check_tensor(x_T, "x_T", finite=True)
        self._check_x(x_T, "x_T")
        check_eta_batch(eta, x_T.shape[0])

    def __call__(self, x_t, step, t_model, model):
        """One guided step: ``(x0_hat, delta)`` for ``x_t`` [B, ...], a
        :class:`~diffusion.schedule.StepCoefficients` ``step``, time indices ``t_model`` (int
        or [B]) and the denoiser ``model``; arguments and result checked (TypeError/ValueError
        naming the argument)."""
        return self._checked_call(x_t, step, t_model, model)

    def _guide(self, x_t, step, t_model, model):
        return _call_denoiser(self.posterior, x_t, t_model), None

    def hessian(self, x_t, t_model):
        r"""Hessian of :math:`\log p_t(x_t \mid y)`, ``[B or 1, D, D]``, for ``x_t`` [B, ...]
        (finite, ``posterior.d`` values per sample) and time indices ``t_model``."""
        check_tensor(x_t, "x_t", finite=True)
        self._check_x(x_t, "x_t")
        t_model = check_time(t_model, x_t, t_name="t_model", T=self.posterior.schedule.T)
        return check_result(self.posterior.hessian(x_t, t_model), "x_t")

    @property
    def exact_law(self):
        return self.posterior


class DPSGuidance(MeasurementGuidance):
    r"""Diffusion posterior sampling: a gradient step on the measurement residual of :math:`\hat x_0`.

    Parameters
    ----------
    operator : diffusion.operators.LinearOperator
        ``A`` with ``in_shape`` equal to the per-sample shape of x.
    y : tensor
        The measurement, shape ``operator.out_shape`` (one y for the whole batch) or
        ``[N, *operator.out_shape]`` with N = 1 or N = batch size (one y per sample).
    zeta : float, callable, table or preset name
        Step size ζ(η) (see :func:`zeta_function`).
    form : {"reference", "likelihood"}
        Default ``"reference"`` (the DPS code's form, stable at small σ_y). ``"likelihood"``: :math:`\delta = -\zeta\nabla_{x_t}\|y - A\hat x_0\|^2/(2\sigma_y^2)`
        (needs ``sigma_y``). ``"reference"``: :math:`\delta = -\zeta\nabla_{x_t}\|y - A\hat
        x_0\|` (the DPS code's normalised step; ``sigma_y`` is not used).
    sigma_y : float > 0, optional
        Measurement noise sd, in the units of x (pixel range [-1, 1]).
    scale_by_beta : bool
        Multiply the step by :math:`\beta_t/\sqrt{\alpha_t}` of the current step (default
        False, as in DPS). With ``form="likelihood"`` and ζ = 1 this is the plug-in
        conditional score :math:`\nabla\log p_t(x_t) + \nabla\log N(y; A\hat x_0(x_t),
        \sigma_y^2 I)` in the exact step mean.

    Notes
    -----
    Per-sample norms and gradients assume the model treats samples independently. The
    returned :math:`\hat x_0` is detached. Divergence (non-finite or huge states) is
    detected by the sampler, which stops with the step named.
    """

    needs_grad = True
    FORMS = ("likelihood", "reference")

    def __init__(
        self, operator, y, zeta, *, form: str = "reference", sigma_y=None, scale_by_beta=False
    ):
        check_operator(operator)
        if form not in self.FORMS:
            raise ValueError(f"form: expected one of {self.FORMS}, got {form!r}")
        if form == "likelihood":
            if sigma_y is None:
                raise ValueError("sigma_y: form='likelihood' needs the measurement noise sd")
            sigma_y = check_positive(sigma_y, "sigma_y")
        elif sigma_y is not None:
            sigma_y = check_positive(sigma_y, "sigma_y")
        self.operator, self.form, self.sigma_y = operator, form, sigma_y
        self.scale_by_beta = check_flag(scale_by_beta, "scale_by_beta")
        self.zeta = zeta_function(zeta)
        self._zeta_spec = zeta
        self.y = measurement_batch(operator, y)
        self._zeta_t: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (
            f"DPSGuidance(form={self.form!r}, zeta={self._zeta_spec!r}, sigma_y={self.sigma_y}, "
            f"scale_by_beta={self.scale_by_beta}, operator={self.operator!r})"
        )

    def __call__(self, x_t, step, t_model, model):
        """One guided step: ``(x0_hat, delta)`` for ``x_t`` [B, ...], a
        :class:`~diffusion.schedule.StepCoefficients` ``step``, time indices ``t_model`` (int
        or [B]) and the denoiser ``model``; arguments and result checked (TypeError/ValueError
        naming the argument)."""
        return self._checked_call(x_t, step, t_model, model)

    def _guide(self, x_t, step, t_model, model):
        if self._zeta_t is None:
            raise ValueError("DPSGuidance: call prepare(x_T, eta) first (the sampler does)")
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            x0 = _call_denoiser(model, x, t_model)
            if not x0.requires_grad:
                raise ValueError(
                    "model: its output does not depend differentiably on x_t (no autograd "
                    "graph); DPSGuidance differentiates through the denoiser"
                )
            r = (self._y_t - op_apply(self.operator)(x0)).reshape(x.shape[0], -1)
            if self.form == "likelihood":
                loss = (r * r).sum(1) / (2.0 * self.sigma_y**2)
            else:
                loss = torch.linalg.vector_norm(r, dim=1)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        delta = -append_dims(self._zeta_t, x.ndim) * grad
        if self.scale_by_beta:
            delta = delta * (step.beta / math.sqrt(step.alpha))
        return x0.detach(), delta
