"""The ``python -m diffusion.toy2d`` experiment."""

from diffusion.experiments.toy2d.driver import build_parser, main

__all__ = ["build_parser", "main"]
