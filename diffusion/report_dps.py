"""``python -m diffusion.report_dps``: the command's kept entry point; the code is :mod:`diffusion.experiments.report_dps`."""

from diffusion.experiments.report_dps import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
