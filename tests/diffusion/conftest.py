"""Fixtures shared by the restore tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_prior(tmp_path_factory):
    """Path of a quick K = 2 mixture of 8 x 8 fit-split patches (d = 64), 5 EM iterations."""
    from diffusion.data.patches import patch_dataset
    from diffusion.priors.fit_gmm import fit_patch_gmm, save_gmm

    X = patch_dataset("fit", 400, size=8, seed=0)
    w, mu, S, info = fit_patch_gmm(X, 2, max_iter=5, seed=0)
    path = tmp_path_factory.mktemp("prior") / "tiny.npz"
    save_gmm(path, w, mu, S, command="test fixture", meta=info)
    return str(path)
