"""``python -m diffusion.digit_classifier``: the command's kept entry point; the code is :mod:`diffusion.metrics.digit_classifier`."""

from diffusion.metrics.digit_classifier import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
