"""``python -m numerics.dp_curve``: the η-scaled chain on a Gaussian-mixture problem, the
optimal D(P) and the figures.

One idea per module: :mod:`~numerics.dp_curve.problem` (the problem-JSON contract,
:func:`load_problem`), :mod:`~numerics.dp_curve.run` (the sweep and its measurements,
:func:`run`; the results-JSON fields are a contract), :mod:`~numerics.dp_curve.figures`
(Figs. 2-3) and :mod:`~numerics.dp_curve.cli` (the command line and atomic output writing).
The DPS step it can run is :func:`numerics.dps.dps_score`; ``--sampler torch`` reaches
diffusion/ through the lazy ``_torch_bridge`` only.
"""

from numerics.dp_curve.cli import build_parser, main
from numerics.dp_curve.figures import plot_dp_curve, plot_trajectories
from numerics.dp_curve.problem import DEFAULT_PROBLEM, Problem, ProblemError, load_problem
from numerics.dp_curve.run import DEFAULT_ETAS, run
from numerics.dps import dps_score

__all__ = [
    "DEFAULT_ETAS",
    "DEFAULT_PROBLEM",
    "Problem",
    "ProblemError",
    "build_parser",
    "dps_score",
    "load_problem",
    "main",
    "plot_dp_curve",
    "plot_trajectories",
    "run",
]
