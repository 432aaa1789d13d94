"""``python -m diffusion.train_prior``: the command's kept entry point; the code is :mod:`diffusion.training.train_prior`."""

from diffusion.training.train_prior import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
