"""``python -m diffusion.restore``: the command's kept entry point; the code is :mod:`diffusion.experiments.restore.driver`."""

from diffusion.experiments.restore.driver import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
