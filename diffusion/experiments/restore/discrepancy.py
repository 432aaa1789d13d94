"""``--zeta discrepancy``: ζ(η) of a guided run calibrated on its own measurements.

The rule (:func:`~diffusion.experiments.restore.zeta.discrepancy_zeta`): per η, bisection in
log ζ until the calibration chains' mean :math:`\\|y - A x_0\\|^2` meets
:math:`m\\sigma_y^2 - (1-\\eta)\\hat\\tau` (:math:`\\hat\\tau`: the spread of :math:`A x_0` at
η = 1). The calibration chains restore the first ``grid_images`` measurements of the run
(``grid_samples`` samples each, the run's ``steps``) with seeds of their own, and read y
only: no clean image. Cost: ``iters`` × (number of η, plus one if 1 is not among them)
sampler calls of ``grid_images × grid_samples`` chains.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from diffusion.experiments.restore.chains import DivergedError, run_unit, seed_of
from diffusion.experiments.restore.problems import make_problem
from diffusion.experiments.restore.zeta import discrepancy_zeta

__all__ = ["CALIBRATION_ITERS", "calibrate_discrepancy"]

#: Bisection steps per η (bracket 1e-3 … 1e3 narrowed to a factor 1.11 in ζ).
CALIBRATION_ITERS = 7


def calibrate_discrepancy(setup, curve: str, *, iters: int = CALIBRATION_ITERS):
    """``({eta: zeta}, report)`` for ``curve`` (``"dps"``, ``"cov"`` or ``"pigdm"``) over
    ``setup`` (the report also counts the calibration chains and steps run)."""
    cfg = setup.config
    n_img = min(cfg.grid_images, cfg.n_images)
    problems = [make_problem(setup, i) for i in range(n_img)]
    rows = setup.rows
    m_sigma2 = len(rows) * cfg.sigma_y**2
    ys = np.stack([pb.y for pb in problems])[:, rows]  # (n_img, m)
    A = setup.A[rows]
    chains = [0]

    def residual(eta, zeta):
        c = dataclasses.replace(
            cfg, etas=(float(eta),), samples_per_image=cfg.grid_samples,
            seed=seed_of(cfg.seed, 1_000_003), zeta=1.0, progress=False,
        )  # fmt: skip
        chains[0] += n_img * cfg.grid_samples
        try:
            out = run_unit(problems, curve, dataclasses.replace(setup, config=c), None, zeta=zeta)
        except DivergedError:
            print(f"discrepancy: eta={eta:g} zeta={zeta:.3g} diverged", file=sys.stderr)
            return float("inf"), float("nan")
        Ax = np.stack([s[0] for s in out]) @ A.T  # (n_img, M, m)
        r = float(np.mean(np.sum((ys[:, None, :] - Ax) ** 2, axis=2)))
        spread = float(np.mean([np.trace(np.atleast_2d(np.cov(a, rowvar=False))) for a in Ax]))
        print(f"discrepancy: eta={eta:g} zeta={zeta:.3g} residual/(m s^2)={r / m_sigma2:.3f}",
              file=sys.stderr, flush=True)  # fmt: skip
        return r, spread

    table, report = discrepancy_zeta(residual, cfg.etas, m_sigma2, iters=iters)
    report.update(
        curve=curve, calibration_images=n_img, samples=cfg.grid_samples,
        chains=chains[0], steps_per_chain=setup.run_sched.T,
    )  # fmt: skip
    return table, report
