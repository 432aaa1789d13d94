"""numerics as a package: its ``__all__``, the import paths other code relies on, and that
importing it stays light (no torch, no POT, no diffusion/)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import numerics


@pytest.mark.parametrize("name", numerics.__all__)
def test_every_exported_name_is_its_submodules_object(name):
    home = importlib.import_module(numerics._HOME[name])
    assert getattr(numerics, name) is getattr(home, name)
    assert name in home.__all__


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        numerics.no_such_name  # noqa: B018


def test_import_is_light():
    code = (
        "import sys, numerics\n"
        "heavy = {'torch', 'ot', 'scipy', 'diffusion', 'matplotlib'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_old_import_paths_keep_working():
    """Contracts and the names other helpers import keep their paths after the splits."""
    from numerics.dp_curve import (  # noqa: F401
        DEFAULT_ETAS,
        DEFAULT_PROBLEM,
        Problem,
        ProblemError,
        build_parser,
        dps_score,
        load_problem,
        main,
        plot_dp_curve,
        plot_trajectories,
        run,
    )
    from numerics.dps import dps_score as dps
    from numerics.gaussian import eta_chain_moments, linear_gaussian_posterior  # noqa: F401
    from numerics.gmm import (  # noqa: F401
        GaussianMixture,
        conditional_score,
        pruned_posterior,
        squared_error_variance,
    )
    from numerics.metrics import (  # noqa: F401
        frechet_distance,
        knn_kl_or_none,
        orthonormal_directions,
        psnr,
        random_directions,
        sliced_w2,
        w2_empirical,
    )
    from numerics.schedule import linear_schedule  # noqa: F401

    assert dps_score is dps
    assert sliced_w2 is importlib.import_module("numerics.transport").sliced_w2
