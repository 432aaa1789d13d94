"""``python -m numerics.dp_curve``: the η-scaled chain on a 2-D Gaussian-mixture problem, the
optimal D(P) and the figures. The problem-JSON format and the results-JSON fields are contracts
(:func:`load_problem`, :func:`run`)."""

from numerics.dp_curve.driver import (
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
