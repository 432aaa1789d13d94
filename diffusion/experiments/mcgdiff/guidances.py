r"""The guidances the benchmark compares, by name: one factory each, looked up at run time.

* ``exact``: :class:`~diffusion.guidance.ExactGuidance` over the exact posterior mixture
  (no model);
* ``dps_reference``: :class:`~diffusion.guidance.DPSGuidance` with ``form="reference"``,
  :math:`\zeta\nabla\lVert y - A\hat x_0\rVert` (model: the prior);
* ``dps_likelihood``: :class:`~diffusion.guidance.DPSGuidance` with ``form="likelihood"``
  and ``scale_by_beta=True``, :math:`\zeta(\beta_t/\sqrt{\alpha_t})\nabla\log N(y; A\hat
  x_0, \sigma_y^2 I)` (ζ = 1: the plug-in conditional score; model: the prior);
* ``cov``: ``CovarianceAwareGuidance(operator, y, sigma_y, n_cg=, zeta=)`` (model: the prior);
* ``pigdm``: ``PiGDMGuidance(operator, y, sigma_y, zeta=)`` (model: the prior).

"prior" is the exact mixture prior as a torch denoiser
(:class:`~diffusion.priors.MixturePrior`), so the guidances differ only in how y enters.
``cov`` and ``pigdm`` are looked up on :mod:`diffusion.guidance` by name when a run starts; a
build without them raises :class:`GuidanceUnavailable` (the run records "not available in
this build" and goes on).
"""

from __future__ import annotations

import torch

import diffusion.guidance as guidance_module
from diffusion.guidance import DPSGuidance, ExactGuidance

__all__ = ["GUIDANCES", "NOT_AVAILABLE", "GuidanceUnavailable", "make_guidance", "unavailable"]

#: name -> (class name on diffusion.guidance, needs the prior as the model)
GUIDANCES = {
    "exact": ("ExactGuidance", False),
    "dps_reference": ("DPSGuidance", True),
    "dps_likelihood": ("DPSGuidance", True),
    "cov": ("CovarianceAwareGuidance", True),
    "pigdm": ("PiGDMGuidance", True),
}

NOT_AVAILABLE = "not available in this build"


class GuidanceUnavailable(LookupError):
    """The guidance's class is not in this build's :mod:`diffusion.guidance`."""


def _lookup(class_name: str):
    cls = getattr(guidance_module, class_name, None)
    if cls is None:
        raise GuidanceUnavailable(f"diffusion.guidance.{class_name}: {NOT_AVAILABLE}")
    return cls


def unavailable(name: str) -> str | None:
    """Why guidance ``name`` cannot run in this build (a one-line message), or None if it can.

    Examples
    --------
    >>> unavailable("exact") is None
    True
    """
    if name not in GUIDANCES:
        raise ValueError(f"guidance: expected one of {tuple(GUIDANCES)}, got {name!r}")
    try:
        _lookup(GUIDANCES[name][0])
    except GuidanceUnavailable as exc:
        return str(exc)
    return None


def make_guidance(name: str, cfg, *, posterior_prior, operator, y: torch.Tensor, sigma_y: float):
    """The guidance object ``name`` for one problem, and whether the chain needs the prior model.

    Parameters
    ----------
    name : str
        A key of :data:`GUIDANCES`.
    cfg : BenchmarkConfig
        Supplies ζ of each guidance and ``n_cg``.
    posterior_prior : diffusion.priors.MixturePrior
        The exact posterior as a denoiser (used by ``exact`` only).
    operator : diffusion.operators.DenseOperator
        A, in_shape (d,), out_shape (d_y,).
    y : tensor [d_y]
    sigma_y : float > 0

    Returns
    -------
    guidance : diffusion.guidance.Guidance
    needs_model : bool

    Raises
    ------
    GuidanceUnavailable
        ``cov`` / ``pigdm`` in a build without their classes.
    ValueError
        An unknown name.
    """
    if name not in GUIDANCES:
        raise ValueError(f"guidance: expected one of {tuple(GUIDANCES)}, got {name!r}")
    cls = _lookup(GUIDANCES[name][0])
    if name == "exact":
        g = ExactGuidance(posterior_prior)
    elif name == "dps_reference":
        g = DPSGuidance(operator, y, cfg.zeta_reference, form="reference")
    elif name == "dps_likelihood":
        g = DPSGuidance(
            operator, y, cfg.zeta_likelihood, form="likelihood", sigma_y=sigma_y, scale_by_beta=True
        )
    elif name == "cov":
        g = cls(operator, y, sigma_y, n_cg=cfg.n_cg, zeta=cfg.zeta_cov)
    else:
        g = cls(operator, y, sigma_y, zeta=cfg.zeta_pigdm)
    return g, GUIDANCES[name][1]
