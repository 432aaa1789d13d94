"""The settings of ``python -m diffusion.mcgdiff_benchmark``: one frozen dataclass, validated.

:class:`BenchmarkConfig` is the whole contract of a run: every stage takes it (never an
argparse namespace), and :meth:`BenchmarkConfig.numbers_key` -- the fields that change a
number -- decides whether a ``results.json`` found under ``--out`` can be resumed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from numerics.schedule import Schedule, linear_schedule

__all__ = ["DEFAULT_DIMS", "DEFAULT_ETAS", "SCHEDULE", "BenchmarkConfig"]

#: The MCGDiff paper's settings: d in {8, 80, 800} x d_y in {1, 2, 4}.
DEFAULT_DIMS = tuple((d, d_y) for d in (8, 80, 800) for d_y in (1, 2, 4))

#: The η of the curve (η = 1 is the posterior-sampling end, the number the paper reports).
DEFAULT_ETAS = (0.0, 0.25, 0.5, 0.75, 1.0)

#: DDPM's linear β schedule, 1e-4 ... 0.02 over T = 1000 (the MCGDiff setup).
SCHEDULE = dict(T=1000, beta_start=1e-4, beta_end=0.02)

VARIANCES = ("beta_tilde", "beta")
DTYPES = ("float32", "float64")


def _int(name: str, v, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")


def _nonneg(name: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything a benchmark run depends on. Validated on construction (ValueError names the field).

    Attributes
    ----------
    dims : tuple of (d, d_y)
        The settings (d even, 1 <= d_y <= d).
    guidances : tuple of str
        Names in :data:`diffusion.experiments.mcgdiff.guidances.GUIDANCES`.
    n_problems : int
        Random problems per setting (the confidence intervals are over these).
    n_samples : int
        Chains per η and guidance (and the size of every exact reference set).
    etas : tuple of float in [0, 1]
    steps : int in [1, 1000]
        Reverse steps (the 1000-step schedule respaced when fewer).
    variance : {"beta_tilde", "beta"}
    zeta_reference, zeta_likelihood, zeta_cov, zeta_pigdm : float >= 0
        Step scales of DPS's two forms, the covariance-aware guidance and ΠGDM.
    n_cg : int
        Conjugate-gradient iterations of the covariance-aware guidance.
    n_projections : int
        Random directions of the sliced W2.
    floor_repeats : int >= 2
        Pairs of exact sets behind each floor.
    dtype : {"float32", "float64"}
        Working dtype of the chains (metrics are float64).
    seed : int
    device : str
        Torch device of the chains (``"cpu"``, ``"cuda"``, ...); not part of
        :meth:`numbers_key`.
    """

    dims: tuple = DEFAULT_DIMS
    guidances: tuple = ("exact", "dps_reference", "dps_likelihood", "cov", "pigdm")
    n_problems: int = 20
    n_samples: int = 200
    etas: tuple = DEFAULT_ETAS
    steps: int = 1000
    variance: str = "beta_tilde"
    zeta_reference: float = 1.0
    zeta_likelihood: float = 1.0
    zeta_cov: float = 1.0
    zeta_pigdm: float = 1.0
    n_cg: int = 10
    n_projections: int = 200
    floor_repeats: int = 3
    dtype: str = "float32"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        from diffusion.experiments.mcgdiff.guidances import GUIDANCES

        object.__setattr__(self, "dims", tuple(tuple(int(v) for v in p) for p in self.dims))
        object.__setattr__(self, "etas", tuple(float(e) for e in self.etas))
        object.__setattr__(self, "guidances", tuple(self.guidances))
        if not self.dims:
            raise ValueError("dims: expected at least one (d, d_y) setting")
        for d, d_y in self.dims:
            if d < 2 or d % 2 or not 1 <= d_y <= d:
                raise ValueError(
                    f"dims: expected an even d >= 2 and 1 <= d_y <= d, got ({d}, {d_y})"
                )
        if len(set(self.dims)) != len(self.dims):
            raise ValueError("dims: repeated setting")
        if not self.guidances or any(g not in GUIDANCES for g in self.guidances):
            raise ValueError(
                f"guidances: expected names from {tuple(GUIDANCES)}, got {self.guidances}"
            )
        if len(set(self.guidances)) != len(self.guidances):
            raise ValueError("guidances: repeated name")
        if not self.etas or any(not 0.0 <= e <= 1.0 for e in self.etas):
            raise ValueError(f"etas: expected values in [0, 1], got {self.etas}")
        if len(set(self.etas)) != len(self.etas):
            raise ValueError("etas: repeated value")
        for name in ("n_problems", "n_samples", "n_cg", "n_projections", "steps"):
            _int(name, getattr(self, name), 1)
        _int("n_samples", self.n_samples, 2)
        _int("floor_repeats", self.floor_repeats, 2)
        _int("seed", self.seed, 0)
        if self.steps > SCHEDULE["T"]:
            raise ValueError(f"steps: expected at most T = {SCHEDULE['T']}, got {self.steps}")
        for name in ("zeta_reference", "zeta_likelihood", "zeta_cov", "zeta_pigdm"):
            _nonneg(name, getattr(self, name))
        if self.variance not in VARIANCES:
            raise ValueError(f"variance: expected one of {VARIANCES}, got {self.variance!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {DTYPES}, got {self.dtype!r}")
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device: expected a torch device name, got {self.device!r}") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device: {self.device!r} requested but CUDA is not available")

    def schedule(self) -> Schedule:
        """The 1000-step linear schedule (the sampler respaces it to ``steps``)."""
        return linear_schedule(SCHEDULE["T"], SCHEDULE["beta_start"], SCHEDULE["beta_end"])

    def record(self) -> dict:
        """The settings as a JSON-ready dict (written into ``results.json``)."""
        out = asdict(self)
        out["dims"] = [list(p) for p in self.dims]
        out["etas"] = list(self.etas)
        out["guidances"] = list(self.guidances)
        out["schedule"] = dict(SCHEDULE)
        return out

    def numbers_key(self) -> dict:
        """The fields a stored unit's numbers depend on (not which settings or guidances run).

        A ``results.json`` whose key differs cannot be resumed into: its units were made
        with other settings.
        """
        rec = self.record()
        for k in ("dims", "guidances", "n_problems", "device"):
            rec.pop(k)
        return rec
