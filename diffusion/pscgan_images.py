"""``python -m diffusion.pscgan_images``: the command's kept entry point; the code is :mod:`diffusion.baselines.pscgan_images_cli`."""

from diffusion.baselines.pscgan_images_cli import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
