"""Where the shipped data of :mod:`diffusion` lives (package data, installed with it)."""

from pathlib import Path

#: ``diffusion/weights``: the shipped priors, classifier and baselines, with their README.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: ``diffusion/configs``: the shipped experiment configurations (JSON).
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
