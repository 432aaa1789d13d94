"""diffusion: the torch variance-scaled reverse sampler, guidance, operators and priors.

The library core is importable from here: the sampler (:func:`sample`), guidance objects,
the denoiser interface and its adapters, the torch schedule helpers and the measurement
operators. Priors live in :mod:`diffusion.priors`, baselines in :mod:`diffusion.baselines`,
metrics in :mod:`diffusion.metrics`, and the experiments (commands) in
:mod:`diffusion.experiments`; importing this package loads none of them (nor diffusers).

Examples
--------
>>> import torch
>>> from numerics.schedule import linear_schedule
>>> from diffusion import sample
>>> from diffusion.priors import GaussianPrior
>>> prior = GaussianPrior([0.0], [[1.0]], linear_schedule(1000))
>>> sample(prior, (2, 1), linear_schedule(1000), eta=1.0, steps=10,
...        generator=torch.Generator().manual_seed(0)).shape
torch.Size([2, 1])

Restoring images in one call: :func:`restore_images` (:mod:`diffusion.experiments.restore.api`,
loaded on first use).
"""

from diffusion import operators
from diffusion.guidance import ZETA_PRESETS, DPSGuidance, ExactGuidance, Guidance, zeta_function
from diffusion.models import (
    Denoiser,
    EpsilonAdapter,
    ScoreAdapter,
    X0Adapter,
    call_denoiser,
    eps_from_denoiser,
    score_from_denoiser,
)
from diffusion.operators import *  # noqa: F403  (every operator, listed in operators.__all__)
from diffusion.sampler import DivergenceError, check_divergence, sample
from diffusion.schedule import StepCoefficients, TorchSchedule, append_dims, as_torch_schedule

#: Names loaded on first use (their module imports the metrics and the experiments layer).
_LAZY = {
    "Restoration": "diffusion.experiments.restore.api",
    "restore_images": "diffusion.experiments.restore.api",
}

__all__ = [
    "ZETA_PRESETS",
    "DPSGuidance",
    "Denoiser",
    "DivergenceError",
    "EpsilonAdapter",
    "ExactGuidance",
    "Guidance",
    "ScoreAdapter",
    "StepCoefficients",
    "TorchSchedule",
    "X0Adapter",
    "append_dims",
    "as_torch_schedule",
    "call_denoiser",
    "check_divergence",
    "eps_from_denoiser",
    "sample",
    "score_from_denoiser",
    "zeta_function",
    *operators.__all__,
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'diffusion' has no attribute {name!r}")
