"""Training building blocks: one DSM loss, one EMA update, one checkpoint scheme (atomic
writes, safe loads), output checks, and the UNet-prior trainer (``python -m
diffusion.train_prior``)."""

from diffusion.training.checkpoint import (
    atomic_torch_save,
    check_plain,
    load_model,
    load_modules,
    load_plain,
    save_model,
    save_modules,
)
from diffusion.training.dsm import alpha_tables, diffuse, dsm_loss
from diffusion.training.ema import ema_decay_at, ema_update
from diffusion.training.outputs import check_out_dir, check_out_file
from diffusion.training.prior_trainer import train

__all__ = [
    "alpha_tables",
    "atomic_torch_save",
    "check_out_dir",
    "check_out_file",
    "check_plain",
    "diffuse",
    "dsm_loss",
    "ema_decay_at",
    "ema_update",
    "load_model",
    "load_modules",
    "load_plain",
    "save_model",
    "save_modules",
    "train",
]
