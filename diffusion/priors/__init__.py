"""Priors over x₀ behind one denoiser interface: analytic Gaussian mixtures, the GMM image
prior (and its fit), and learned UNet checkpoints (diffusers is imported only when one is
built or loaded)."""

from diffusion.priors.analytic import PAPER_GMM, GaussianPrior, MixturePrior
from diffusion.priors.gmm_image import GMMImagePrior, fit_patch_gmm, load_gmm, save_gmm
from diffusion.priors.unet import UNetPrior, load_unet_prior

__all__ = [
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
