"""``python -m diffusion.report_images``: the command's kept entry point; the code is :mod:`diffusion.experiments.report_images`."""

from diffusion.experiments.report_images import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
