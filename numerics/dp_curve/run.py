r"""The η sweep of ``python -m numerics.dp_curve``: run the chain, measure, return the results dict.

The paper's Section III-D experiment done against exact ground truth. A Gaussian-mixture
prior observed through ``y = A x + n`` has a Gaussian-mixture posterior (:mod:`numerics.gmm`),
so its MMSE, its exact samples and its exact conditional score are all known. :func:`run`

1. runs the η-scaled reverse chain (one vectorised batch over all η) with the exact
   conditional score, or with DPS over the exact prior score (:func:`numerics.dps.dps_score`);
2. measures, per η, the conditional MSE (exact given the samples), the empirical W2 to an
   exact posterior sample of the same size (POT), a k-NN KL estimate, and the floors of
   both estimators (the same estimator between two exact posterior sample sets);
3. measures the **shrinkage curve** -- exact posterior samples shrunk toward E[x|y], which
   attains the optimal D(P) for any posterior -- with the same estimators, and reports the
   optimality gap of every η point at equal measured W2 (``excess_mse``).

The returned dict is ``dp_curve.json`` (its fields are a contract).

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Section III-D, Figs. 2-3, Appendix D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numerics import __version__
from numerics.chain import STARTS, VARIANCES, eta_chain, run_posterior_chain
from numerics.dp import dp_function, shrink
from numerics.dp_curve.problem import Problem
from numerics.dps import DPS_FORMS, dps_score
from numerics.metrics import conditional_mse, knn_kl, knn_kl_or_none, metric_floor, w2_empirical
from numerics.progress import Progress
from numerics.schedule import linear_schedule
from numerics.validate import check_bool, check_eta, check_int

__all__ = ["DEFAULT_ETAS", "ChainSettings", "run"]

#: η = 0, 0.1, ..., 1
DEFAULT_ETAS = tuple(round(0.1 * i, 10) for i in range(11))


@dataclass(frozen=True)
class ChainSettings:
    """How the η-chain of :func:`run` is sampled (the arguments of :func:`run` of that name).

    Validated on construction: a bad value raises ``ValueError`` naming the argument.
    """

    sampler: str = "numpy"
    guidance: str = "exact"
    zeta: float = 1.0
    dps_form: str = "reference"
    variance: str = "beta_tilde"
    start: str = "standard"
    device: str = "cpu"
    seed: int = 0
    progress: bool = False

    def __post_init__(self):
        if self.sampler not in ("numpy", "torch"):
            raise ValueError(f"sampler: expected 'numpy' or 'torch', got {self.sampler!r}")
        if self.guidance not in ("exact", "dps"):
            raise ValueError(f"guidance: expected 'exact' or 'dps', got {self.guidance!r}")
        if self.variance not in VARIANCES:
            raise ValueError(f"variance: expected one of {VARIANCES}, got {self.variance!r}")
        if self.start not in STARTS:
            raise ValueError(f"start: expected one of {STARTS}, got {self.start!r}")
        if self.guidance == "dps" and "exact" in (self.variance, self.start):
            raise ValueError(
                "variance/start: 'exact' needs the exact conditional law; DPS only has the prior "
                "score (use --variance beta|beta_tilde and --start standard)"
            )
        zeta = self.zeta
        if not (isinstance(zeta, (int, float)) and math.isfinite(zeta) and zeta >= 0):
            raise ValueError(f"zeta: expected a number >= 0, got {zeta!r}")
        if self.dps_form not in DPS_FORMS:
            raise ValueError(f"dps_form: expected one of {DPS_FORMS}, got {self.dps_form!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {self.device!r}")
        check_int(self.seed, "seed")
        check_bool(self.progress, "progress")

    def settings(self, steps: int, n: int) -> dict:
        """The ``settings`` entry of ``dp_curve.json`` (a contract: keys and their order)."""
        steps = check_int(steps, "steps", minimum=1)
        n = check_int(n, "n", minimum=1)
        dps = self.guidance == "dps"
        return {
            "sampler": self.sampler,
            "guidance": self.guidance,
            "zeta": float(self.zeta) if dps else None,
            "dps_form": self.dps_form if dps else None,
            "variance": self.variance,
            "start": self.start,
            "steps": int(steps),
            "n": int(n),
            "seed": int(self.seed),
            "device": self.device if self.sampler == "torch" else "cpu",
            "schedule": "linear beta 1e-4..0.02",
            "package_version": __version__,
        }


def run(
    problem: Problem,
    *,
    etas=DEFAULT_ETAS,
    n: int = 1000,
    steps: int = 1000,
    sampler: str = "numpy",
    guidance: str = "exact",
    zeta: float = 1.0,
    dps_form: str = "reference",
    variance: str = "beta_tilde",
    start: str = "standard",
    device: str = "cpu",
    seed: int = 0,
    floor_repeats: int = 3,
    shrink_factors=DEFAULT_ETAS,
    progress: bool = False,
    trajectories: bool = True,
) -> dict:
    """Run the η sweep and measure everything; returns the ``dp_curve.json`` dict.

    Parameters
    ----------
    problem : Problem
    etas : sequence of float in [0, 1]
    n : int
        Samples per η (and size of every exact reference set).
    steps : int
        T of the linear DDPM schedule (β from 1e-4 to 0.02, not rescaled).
    sampler : {"numpy", "torch"}
    guidance : {"exact", "dps"}
    zeta, dps_form : DPS weight and form (see :func:`numerics.dps.dps_score`); ignored for
        exact guidance.
    variance : {"beta", "beta_tilde", "exact"}
    start : {"standard", "exact"}
    device : {"cpu", "cuda"}; torch sampler only.
    seed : int
    floor_repeats : int
        Repeats of each floor estimate.
    shrink_factors : sequence of float in [0, 1]
        The c of the measured shrinkage curve m + c (x' - m) (default 0, 0.1, ..., 1).
    progress : bool
        tqdm bars.
    trajectories : bool
        Also record the Fig. 2 trajectories (returned under the private key ``_trajectories``).
    """
    etas = check_eta(np.asarray(etas, dtype=np.float64).ravel(), "etas")
    if etas.size == 0:
        raise ValueError("etas: expected at least one value")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
        raise ValueError(f"n: expected an integer >= 10, got {n!r}")
    if (
        isinstance(floor_repeats, bool)
        or not isinstance(floor_repeats, (int, np.integer))
        or floor_repeats < 2
    ):
        raise ValueError(f"floor_repeats: expected an integer >= 2, got {floor_repeats!r}")
    # the fields of ChainSettings, in order (validated there)
    chain = ChainSettings(
        sampler, guidance, zeta, dps_form, variance, start, device, seed, progress
    )
    schedule = linear_schedule(steps)
    post = problem.posterior()
    m, mmse = post.mean(), post.mmse()
    ss = np.random.SeedSequence(seed)
    rng_chain, rng_ref, rng_floor, rng_shrink, rng_traj = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )
    x0 = _sample_chain(problem, post, schedule, np.repeat(etas, n), rng_chain, chain)
    if not np.all(np.isfinite(x0)):
        raise FloatingPointError("the chain produced non-finite samples")

    ref = post.sample(n, rng_ref)  # one exact posterior set, compared against every eta
    w2_floor, w2_floor_sd = metric_floor(
        w2_empirical, post.sample, n, rng_floor, repeats=floor_repeats, return_sd=True
    )
    kl_floor, kl_floor_sd = metric_floor(
        knn_kl, post.sample, n, rng_floor, repeats=floor_repeats, return_sd=True
    )
    # Shrinkage curve: exact posterior samples shrunk toward m, same estimators.
    cs = check_eta(np.asarray(shrink_factors, dtype=np.float64).ravel(), "shrink_factors")
    exact_set = post.sample(n, rng_shrink)
    shrink_pts = [
        {"c": float(c), **_measure(shrink(exact_set, m, float(c)), m, mmse, ref)} for c in cs
    ]
    order = np.argsort([p["w2"] for p in shrink_pts])
    sw2 = np.array([shrink_pts[i]["w2"] for i in order])
    smse = np.array([shrink_pts[i]["mse"] for i in order])

    runs = []
    for i, eta in enumerate(etas):
        xs = x0[i * n : (i + 1) * n]
        pt = _measure(xs, m, mmse, ref)
        mse, w2 = pt["mse"], pt["w2"]
        runs.append(
            {
                "eta": float(eta),
                "mse": mse,
                "mse_sd": pt["mse_sd"],
                "mse_over_mmse": float(mse / mmse),
                "w2": w2,
                "w2_floor": float(w2_floor),
                "kl": pt["kl"],
                "kl_floor": float(kl_floor),
                "D_at_w2": float(dp_function(mmse, w2)),
                "excess_over_D": float(mse - dp_function(mmse, w2)),
                "excess_mse": float(mse - np.interp(w2, sw2, smse)),
                "mean_offset": float(np.linalg.norm(xs.mean(0) - m)),
                "n": int(n),
            }
        )
    P = np.linspace(0.0, 1.2 * math.sqrt(mmse), 121)
    result = {
        "problem": problem.to_json(),
        "mmse": float(mmse),
        "posterior_mean": m.tolist(),
        "posterior_weights": post.weights.tolist(),
        "theory": {"P": P.tolist(), "D": dp_function(mmse, P).tolist()},
        "runs": runs,
        "shrinkage": shrink_pts,
        "floors": {
            "w2": float(w2_floor),
            "w2_sd": float(w2_floor_sd),
            "kl": float(kl_floor),
            "kl_sd": float(kl_floor_sd),
            "repeats": int(floor_repeats),
        },
        "settings": chain.settings(steps, n),
    }
    if trajectories:
        result["_trajectories"] = _trajectories(problem, post, schedule, rng_traj, chain)
    return result


def _measure(xs, m, mmse, ref) -> dict:
    """Conditional MSE (and its sd), W2 and k-NN KL of the samples ``xs`` against ``ref``."""
    mse, se = conditional_mse(xs, m, mmse, return_se=True)
    return {
        "mse": float(mse),
        "mse_sd": float(se),
        "w2": float(w2_empirical(xs, ref)),
        "kl": knn_kl_or_none(xs, ref),
    }


def _score_fn(problem, post, schedule, chain):
    if chain.guidance == "exact":
        return lambda x, t: post.score(x, t, schedule)
    return dps_score(
        problem.prior,
        problem.A,
        problem.sigma_y,
        problem.y,
        schedule,
        zeta=chain.zeta,
        form=chain.dps_form,
    )


def _sample_chain(problem, post, schedule, eta_all, rng, chain):
    """The end points x_0 of one chain per entry of ``eta_all``, an (N, d) array; prints the
    time estimate of a long run (:mod:`numerics.progress`)."""
    eta = Progress(schedule.T, f"{eta_all.shape[0]} chains x {schedule.T} steps", bar=False,
                   prog="dp_curve")  # fmt: skip
    step_done = lambda *_: eta.update(1)  # noqa: E731  (called at x_T too: the clock starts)
    if chain.sampler == "numpy":
        return run_posterior_chain(
            post,
            schedule,
            eta_all,
            eta_all.shape[0],
            rng=rng,
            start=chain.start,
            variance=chain.variance,
            score=_score_fn(problem, post, schedule, chain),
            callback=step_done,
            progress=chain.progress,
        )
    from numerics.dp_curve._torch_bridge import (
        sample_torch,  # lazy: the only place numerics/ reaches torch
    )

    return sample_torch(problem, post, schedule, eta_all, chain, callback=step_done)


def _trajectories(problem, post, schedule, rng, chain, *, etas=(0.0, 0.5, 1.0), k=6):
    """Reverse trajectories of k particles from the same x_T for each eta (numpy sampler)."""
    x_T = rng.standard_normal((k, post.d))
    seed = int(rng.integers(2**31))
    out = {}
    for eta in etas:
        path = []
        eta_chain(
            _score_fn(problem, post, schedule, chain),
            x_T,
            schedule,
            float(eta),
            rng=np.random.default_rng(seed),
            variance=chain.variance,
            hessian=lambda x, t: post.hessian(x, t, schedule),
            callback=lambda t, x, path=path: path.append(x),
        )
        out[float(eta)] = np.stack(path)  # (T + 1, k, d), from t = T down to 0
    return out
