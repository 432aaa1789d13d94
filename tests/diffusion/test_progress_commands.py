"""The diffusion commands print the up-front time estimate of :mod:`numerics.progress`
(with a time sane for the run that printed it), and keep quiet where asked."""

from __future__ import annotations

import time

from tests.numerics.test_progress import _precise, _seconds_left


def test_fit_gmm_prior_announces_unless_quiet(monkeypatch, capsys, tmp_path):
    from diffusion.priors.fit_gmm import main

    _precise(monkeypatch)
    args = ["--data", "digits16", "--components", "2", "--max-iter", "3", "--tol", "0",
            "--checkpoint-every", "1", "--out", str(tmp_path / "g.npz")]  # fmt: skip
    t0 = time.perf_counter()
    assert main(args) == 0
    wall = time.perf_counter() - t0
    left = _seconds_left(
        capsys.readouterr().err, "fit_gmm_prior: fitting EM, at most 3 iterations:"
    )
    assert 0.0 < left < 10.0 * wall
    assert main([*args, "--quiet"]) == 0
    assert "left" not in capsys.readouterr().err  # --quiet: no estimate either


def test_train_prior_announces_its_budget_or_its_iterations(monkeypatch, capsys):
    from diffusion.training.prior_trainer import _estimate

    _precise(monkeypatch)
    assert _estimate(None, 0, 600.0) is None  # time-bound only: the budget is the estimate
    assert capsys.readouterr().err.strip() == (
        "train_prior: training: about 600.000 s left (the --minutes budget)"
    )
    eta = _estimate(1000, 400, None)  # resumed at 400 of 1000: 600 iterations left to time
    assert (eta.total, eta.what) == (600, "600 iterations")
