"""``python -m diffusion.restore``: the command's kept entry point; the code is :mod:`diffusion.experiments.restore`."""

from diffusion.experiments.restore.cli import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
