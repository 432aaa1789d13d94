"""``python -m diffusion.toy2d``: the command's kept entry point; the code is :mod:`diffusion.experiments.toy2d`."""

from diffusion.experiments.toy2d.cli import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
