"""Priors over x₀ behind one denoiser interface: analytic Gaussian mixtures, the GMM image
prior (and its fit), and learned UNet checkpoints: diffusers folders (diffusers is imported
only when one is built or loaded) and guided-diffusion (ADM) ``.pt`` state dicts."""

from diffusion.priors.adm import ADMConfig, ADMUNet
from diffusion.priors.adm_load import ADM_PRESETS, ADMPrior, load_adm_prior
from diffusion.priors.analytic import PAPER_GMM, GaussianPrior, MixturePrior
from diffusion.priors.gmm_image import GMMImagePrior, fit_patch_gmm, load_gmm, save_gmm
from diffusion.priors.unet import UNetPrior, load_unet_prior

__all__ = [
    "ADM_PRESETS",
    "ADMConfig",
    "ADMPrior",
    "ADMUNet",
    "load_adm_prior",
    "PAPER_GMM",
    "GMMImagePrior",
    "GaussianPrior",
    "MixturePrior",
    "UNetPrior",
    "fit_patch_gmm",
    "load_gmm",
    "load_unet_prior",
    "save_gmm",
]
