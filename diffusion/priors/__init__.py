"""Priors over x₀ behind one denoiser interface: analytic Gaussian mixtures, the GMM image
prior (and its fit), and learned UNet checkpoints."""

from diffusion.priors.analytic import PAPER_GMM, GaussianPrior, MixturePrior
from diffusion.priors.gmm_image import GMMImagePrior, load_gmm

__all__ = ["PAPER_GMM", "GaussianPrior", "GMMImagePrior", "MixturePrior", "load_gmm"]
