"""The one place numerics/ reaches the torch sampler: ``dp_curve --sampler torch``.

Imported lazily by :mod:`numerics.dp_curve` only; torch and diffusion/ are imported inside
the function, so importing numerics never imports torch.
"""

from __future__ import annotations

import numpy as np


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (for ``--device cuda``)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return bool(torch.cuda.is_available())


def sample_torch(problem, post, schedule, eta_all, chain, callback=None):
    """Run ``diffusion.sampler.sample`` in float64 on the problem; returns an (N, d) numpy array.

    ``chain`` is the :class:`numerics.dp_curve.run.ChainSettings` of the run. Exact guidance
    uses the posterior mixture as the guidance (no network call); DPS runs over the exact prior
    denoiser with a dense operator, the same step as :func:`numerics.dps.dps_score`.
    ``callback`` is the sampler's (called with x_T and after every step).
    """
    import torch

    from diffusion.guidance import DPSGuidance, ExactGuidance
    from diffusion.operators import DenseOperator
    from diffusion.priors.analytic import MixturePrior
    from diffusion.sampler import sample

    dev = torch.device(chain.device)
    prior = MixturePrior(problem.prior, schedule)
    if chain.guidance == "exact":
        g = ExactGuidance(MixturePrior(post, schedule))
        model = None
    else:
        g = DPSGuidance(
            DenseOperator(problem.A),
            problem.y,
            float(chain.zeta),
            form=chain.dps_form,
            sigma_y=problem.sigma_y,
        )
        model = prior
    gen = torch.Generator(device=dev).manual_seed(int(chain.seed))
    eta = torch.as_tensor(np.asarray(eta_all, dtype=np.float64), device=dev)
    x0 = sample(
        model,
        (eta.shape[0], post.d),
        schedule,
        eta=eta,
        guidance=g,
        variance=chain.variance,
        start=chain.start,
        generator=gen,
        callback=callback,
        progress=chain.progress,
        dtype=torch.float64,
        device=dev,
    )
    return x0.detach().cpu().numpy()
