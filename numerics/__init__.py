"""numerics: float64 ground truth for the distortion-perception study (numpy, scipy, POT).

Submodules, one idea each: :mod:`numerics.schedule` (the VP schedule),
:mod:`numerics.gaussian` (Gaussian posteriors, distances and the exact η-chain),
:mod:`numerics.gmm` and :mod:`numerics.gmm_posterior` (Gaussian mixtures: posterior,
diffused density, score, Tweedie), :mod:`numerics.dp` (the DP function D(P)),
:mod:`numerics.chain` (the η-scaled ancestral sampler), :mod:`numerics.dps` (the numpy DPS
step), :mod:`numerics.metrics` and :mod:`numerics.transport` (distortion, perception,
floors); :mod:`numerics.validate`, :mod:`numerics.io` and :mod:`numerics.cli` are the shared
input checks, atomic file writing and command-line pieces. The driver is
``python -m numerics.dp_curve``.

The main names of the submodules are also importable from the package
(``from numerics import GaussianMixture``, listed in ``__all__``); they are loaded on first
use, so ``import numerics`` stays light. Nothing here imports torch (the driver imports the
torch sampler lazily, only for ``--sampler torch``).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dptraverse")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

#: the submodule that defines each name of ``__all__`` (the names of its ``__all__`` listed here)
_HOME = {
    name: module
    for module, names in {
        "numerics.schedule": "Schedule linear_schedule respace schedule_from_alpha_bar",
        "numerics.gaussian": "bures_w2 eta_chain_moments gaussian_kl linear_gaussian_posterior "
        "reverse_kernel",
        "numerics.gmm": "GaussianMixture pruned_posterior",
        "numerics.gmm_posterior": "conditional_score mixture_posterior squared_error_variance",
        "numerics.dp": "dp_function eta_for_perception gaussian_eta_curve shrink "
        "shrink_factor_for_perception",
        "numerics.chain": "eta_chain initial_state run_posterior_chain step_covariance",
        "numerics.dps": "dps_score",
        "numerics.metrics": "conditional_mse frechet_distance gaussian_fit_kl gaussian_fit_w2 "
        "knn_kl knn_kl_or_none metric_floor mse_to_truth psnr",
        "numerics.transport": "orthonormal_directions random_directions sliced_w2 w2_empirical "
        "w2_to_gmm",
    }.items()
    for name in names.split()
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    """Load a name of ``__all__`` from its submodule on first use (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module 'numerics' has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
