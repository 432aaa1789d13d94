"""The ``python -m diffusion.restore`` experiment."""

from diffusion.experiments.restore.driver import build_parser, main

__all__ = ["build_parser", "main"]
