"""Baselines against the η-traversal: DiffPIR and PSCGAN (one trainer and one WGAN-GP
penalty for 2-D points and images)."""

from diffusion.baselines.diffpir import data_step, diffpir, rho_schedule
from diffusion.baselines.pscgan import (
    Critic,
    Generator,
    PSCGANTraining,
    fit_pscgan,
    gradient_penalty,
    pscgan_estimate,
    pscgan_samples,
)
from diffusion.baselines.pscgan_images import (
    ImageCritic,
    ImageGenerator,
    evaluate_pscgan,
    load_pscgan,
    pscgan_restore,
    save_pscgan,
    train_pscgan_images,
)

__all__ = [
    "Critic",
    "Generator",
    "ImageCritic",
    "ImageGenerator",
    "PSCGANTraining",
    "data_step",
    "diffpir",
    "evaluate_pscgan",
    "fit_pscgan",
    "gradient_penalty",
    "load_pscgan",
    "pscgan_estimate",
    "pscgan_restore",
    "pscgan_samples",
    "rho_schedule",
    "save_pscgan",
    "train_pscgan_images",
]
