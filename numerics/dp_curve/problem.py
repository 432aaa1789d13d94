r"""The problem of ``python -m numerics.dp_curve``: a Gaussian-mixture prior seen through y = A x + n.

Problem file (a contract; other tools write these)::

    {"prior": {"weights": [0.5, 0.5], "means": [[-1, -1], [1, 1]],
               "covs": [[[0.25, 0.1], [0.1, 0.15]], [[0.15, -0.05], [-0.05, 0.3]]]},
     "A": [[1, 0], [0, 1]], "sigma_y": 0.5, "y": [0.0, 0.0]}

Any dimension d, any K, any m x d matrix A. :func:`load_problem` validates it and names the
offending field in a :class:`ProblemError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numerics.gmm import GaussianMixture
from numerics.io import read_json
from numerics.validate import as_array, check_positive

__all__ = ["DEFAULT_PROBLEM", "Problem", "ProblemError", "load_problem"]

#: The default problem: the paper's two-component 2-D mixture observed as y = x + n with
#: sigma_y = 0.5 (the paper's exact parameters did not survive text extraction; these are
#: ours). y = (0, 0) sits between the components, so the posterior is bimodal (weights
#: 0.65 / 0.35): the case where the eta-curve can leave D(P).
DEFAULT_PROBLEM = {
    "prior": {
        "weights": [0.5, 0.5],
        "means": [[-1.0, -1.0], [1.0, 1.0]],
        "covs": [[[0.25, 0.1], [0.1, 0.15]], [[0.15, -0.05], [-0.05, 0.3]]],
    },
    "A": [[1.0, 0.0], [0.0, 1.0]],
    "sigma_y": 0.5,
    "y": [0.0, 0.0],
}


class ProblemError(ValueError):
    """An invalid problem file; the message names the field."""


@dataclass(frozen=True)
class Problem:
    """A validated inverse problem with a Gaussian-mixture prior.

    Attributes
    ----------
    prior : GaussianMixture
    A : (m, d) array
    sigma_y : float
    y : (m,) array
    """

    prior: GaussianMixture
    A: np.ndarray
    sigma_y: float
    y: np.ndarray

    def __post_init__(self):
        # Checked here too, not only in load_problem: a Problem built directly must fail at
        # construction, naming the field, not later inside posterior() or a chain.
        if not isinstance(self.prior, GaussianMixture):
            raise TypeError(
                f"prior: expected a numerics.gmm.GaussianMixture, got {type(self.prior).__name__}"
            )
        d = self.prior.d
        A = as_array(self.A, "A", ndim=2)
        if A.shape[0] < 1 or A.shape[1] != d:
            raise ValueError(f"A: expected shape (m, {d}) with m >= 1 for d = {d}, got {A.shape}")
        sigma_y = check_positive(self.sigma_y, "sigma_y")
        y = as_array(self.y, "y", shape=(A.shape[0],))
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "sigma_y", sigma_y)
        object.__setattr__(self, "y", y)

    def posterior(self) -> GaussianMixture:
        """The exact posterior mixture of x given y."""
        return self.prior.posterior(self.A, self.sigma_y, self.y)

    def to_json(self) -> dict:
        """The problem as run, in the problem-file format."""
        return {
            "prior": {
                "weights": self.prior.weights.tolist(),
                "means": self.prior.means.tolist(),
                "covs": self.prior.covs.tolist(),
            },
            "A": self.A.tolist(),
            "sigma_y": self.sigma_y,
            "y": self.y.tolist(),
        }


def load_problem(source) -> Problem:
    """Validate a problem given as a dict, a JSON file path (str) or a :class:`pathlib.Path`.

    Raises
    ------
    ProblemError
        With a message naming the offending field (``prior.covs``, ``A``, ``sigma_y``, ...).
    """
    if not isinstance(source, (str, Path, dict)):
        raise ProblemError(
            f"source: expected a problem dict or a JSON file path (str or pathlib.Path), "
            f"got {type(source).__name__}"
        )
    obj = _read(source) if isinstance(source, (str, Path)) else source
    if not isinstance(obj, dict):
        raise ProblemError("problem: expected a JSON object with keys prior, A, sigma_y, y")
    missing = [k for k in ("prior", "A", "sigma_y", "y") if k not in obj]
    if missing:
        raise ProblemError(f"{missing[0]}: missing key")
    prior = obj["prior"]
    if not isinstance(prior, dict):
        raise ProblemError("prior: expected an object with keys weights, means, covs")
    for key in ("weights", "means", "covs"):
        if key not in prior:
            raise ProblemError(f"prior.{key}: missing key")
    try:
        weights = as_array(prior["weights"], "prior.weights", ndim=1)
        K = weights.shape[0]
        means = as_array(prior["means"], "prior.means", ndim=2)
        if means.shape[0] != K:
            raise ValueError(
                f"prior.means: expected {K} rows (one per weight), got {means.shape[0]}"
            )
        d = means.shape[1]
        covs = as_array(prior["covs"], "prior.covs", shape=(K, d, d))
        gm = _named(lambda: GaussianMixture(weights, means, covs), "prior.")
        A = as_array(obj["A"], "A", ndim=2)
        if A.shape[1] != d:
            raise ValueError(f"A: expected shape (m, {d}) for d = {d}, got {A.shape}")
        sigma_y = as_array(obj["sigma_y"], "sigma_y")
        if sigma_y.ndim != 0 or not sigma_y > 0:
            raise ValueError(f"sigma_y: expected a number > 0, got {obj['sigma_y']!r}")
        y = as_array(obj["y"], "y", shape=(A.shape[0],))
        return Problem(prior=gm, A=A, sigma_y=float(sigma_y), y=y)
    except ValueError as exc:
        raise ProblemError(str(exc)) from exc


def _read(path):
    """The JSON value in a problem file; every way of failing is one ProblemError."""
    try:
        return read_json(path, what="problem")
    except ValueError as exc:
        raise ProblemError(str(exc)) from exc


def _named(build, prefix):
    """Run a constructor, prefixing the argument named in its ValueError (weights -> prior.weights)."""
    try:
        return build()
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(prefix) else prefix + msg) from exc
