"""``python -m diffusion.fit_gmm_prior``: the command's kept entry point; the code is :mod:`diffusion.priors.fit_gmm`."""

from diffusion.priors.fit_gmm import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
