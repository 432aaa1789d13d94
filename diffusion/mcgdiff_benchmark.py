"""``python -m diffusion.mcgdiff_benchmark``: the command's entry point; the code is :mod:`diffusion.experiments.mcgdiff`."""

from diffusion.experiments.mcgdiff.cli import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
