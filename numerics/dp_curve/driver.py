r"""``python -m numerics.dp_curve``: theory vs empirical DP curves on an exact Gaussian-mixture posterior.

The paper's Section III-D experiment done against exact ground truth. A Gaussian-mixture
prior observed through ``y = A x + n`` has a Gaussian-mixture posterior (:mod:`numerics.gmm`),
so its MMSE, its exact samples and its exact conditional score are all known. The command

1. runs the η-scaled reverse chain (one vectorised batch over all η) with the exact
   conditional score, or with DPS over the exact prior score;
2. measures, per η, the conditional MSE (exact given the samples), the empirical W2 to an
   exact posterior sample of the same size (POT), a k-NN KL estimate, and the floors of
   both estimators (the same estimator between two exact posterior sample sets);
3. measures the **shrinkage curve** -- exact posterior samples shrunk toward E[x|y], which
   attains the optimal D(P) for any posterior -- with the same estimators, and reports the
   optimality gap of every η point at equal measured W2 (``excess_mse``);
4. writes ``dp_curve.json``, ``dp_curve.png``/``.svg`` (MSE vs W2 and vs KL, Fig. 3 of the
   paper with D(P), floors and the shrinkage curve) and ``trajectories.png`` (Fig. 2).

Problem file (a contract; other tools write these)::

    {"prior": {"weights": [0.5, 0.5], "means": [[-1, -1], [1, 1]],
               "covs": [[[0.25, 0.1], [0.1, 0.15]], [[0.15, -0.05], [-0.05, 0.3]]]},
     "A": [[1, 0], [0, 1]], "sigma_y": 0.5, "y": [0.0, 0.0]}

Any dimension d, any K, any m x d matrix A. An invalid file gets one line naming the
field on stderr, exit status 2, and no output written.

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Section III-D, Figs. 2-3, Appendix D.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numerics import __version__
from numerics.chain import STARTS, VARIANCES, eta_chain, initial_state
from numerics.dp import dp_function, shrink
from numerics.gmm import GaussianMixture
from numerics.metrics import conditional_mse, knn_kl, knn_kl_or_none, metric_floor, w2_empirical
from numerics.schedule import linear_schedule
from numerics.validate import as_array, check_eta

__all__ = [
    "DEFAULT_PROBLEM",
    "Problem",
    "ProblemError",
    "dps_score",
    "load_problem",
    "main",
    "run",
]

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

DEFAULT_ETAS = tuple(round(0.1 * i, 10) for i in range(11))


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
    """Validate a problem given as a dict, a JSON string path, or a :class:`pathlib.Path`.

    Raises
    ------
    ProblemError
        With a message naming the offending field (``prior.covs``, ``A``, ``sigma_y``, ...).
    """
    if isinstance(source, (str, Path)):
        try:
            with open(source, encoding="utf-8") as fh:
                obj = json.load(fh)
        except OSError as exc:
            raise ProblemError(f"problem: cannot read {source}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ProblemError(
                f"problem: {source} is not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from exc
    else:
        obj = source
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
    except ValueError as exc:
        raise ProblemError(str(exc)) from exc
    return Problem(prior=gm, A=A, sigma_y=float(sigma_y), y=y)


def _named(build, prefix):
    """Run a constructor, prefixing the argument named in its ValueError (weights -> prior.weights)."""
    try:
        return build()
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(prefix) else prefix + msg) from exc


# --------------------------------------------------------------------------- DPS (numpy)
def dps_score(
    prior: GaussianMixture, A, sigma_y, y, schedule, *, zeta: float, form: str = "reference"
):
    r"""Effective conditional score of DPS over the exact prior score, for :func:`numerics.chain.eta_chain`.

    DPS (Chung et al. 2023, Algorithm 1) takes the unconditional step and then moves by
    :math:`-\zeta \nabla_{x_t} L`, with :math:`\hat x_0 = E[x_0 \mid x_t]` (Tweedie) and

    * ``"reference"`` (the reference code): :math:`L = \|y - A\hat x_0\|` (no σ_y);
    * ``"likelihood"`` (the paper's form): :math:`L = \|y - A\hat x_0\|^2 / (2\sigma_y^2)`.

    The gradient is exact here: :math:`\partial\hat x_0/\partial x_t = (I + (1-\bar\alpha_t)
    \nabla^2\log p_t)/\sqrt{\bar\alpha_t}` from the prior's Hessian, so this is an autograd-free
    reference for the torch DPS. Written as a score so the mean step
    :math:`(x_t + \beta_t s)/\sqrt{\alpha_t}` equals the DPS update:
    :math:`s = \nabla\log p_t(x_t) - \zeta\sqrt{\alpha_t}\,\nabla L / \beta_t`.

    Returns
    -------
    callable ``(x (n, d), t) -> (n, d)``
    """
    if form not in ("reference", "likelihood"):
        raise ValueError(f"form: expected 'reference' or 'likelihood', got {form!r}")
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)

    def score(x, t):
        s_prior = prior.score(x, t, schedule)
        H = prior.hessian(x, t, schedule)
        ab, omab = schedule.alpha_bar[t], schedule.one_minus_alpha_bar[t]
        x0 = (x + omab * s_prior) / np.sqrt(ab)
        r = y - x0 @ A.T  # (n, m)
        # grad of ||r||^2 wrt x_t = -2 J^T A^T r, J symmetric.
        v = r @ A  # (n, d) = A^T r
        Jv = (v + omab * np.einsum("nij,nj->ni", H, v)) / np.sqrt(ab)
        if form == "reference":
            norm = np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-300)
            grad = -Jv / norm
        else:
            grad = -Jv / sigma_y**2
        return s_prior - zeta * np.sqrt(schedule.alpha[t]) * grad / schedule.beta[t]

    return score


# --------------------------------------------------------------------------- the run
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
    zeta, dps_form : DPS weight and form (see :func:`dps_score`); ignored for exact guidance.
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
    if sampler not in ("numpy", "torch"):
        raise ValueError(f"sampler: expected 'numpy' or 'torch', got {sampler!r}")
    if guidance not in ("exact", "dps"):
        raise ValueError(f"guidance: expected 'exact' or 'dps', got {guidance!r}")
    if variance not in VARIANCES:
        raise ValueError(f"variance: expected one of {VARIANCES}, got {variance!r}")
    if start not in STARTS:
        raise ValueError(f"start: expected one of {STARTS}, got {start!r}")
    if guidance == "dps" and (variance == "exact" or start == "exact"):
        raise ValueError(
            "variance/start: 'exact' needs the exact conditional law; DPS only has the prior "
            "score (use --variance beta|beta_tilde and --start standard)"
        )
    if not (isinstance(zeta, (int, float)) and math.isfinite(zeta) and zeta >= 0):
        raise ValueError(f"zeta: expected a number >= 0, got {zeta!r}")
    schedule = linear_schedule(steps)
    post = problem.posterior()
    m, mmse = post.mean(), post.mmse()
    ss = np.random.SeedSequence(seed)
    rng_chain, rng_ref, rng_floor, rng_shrink, rng_traj = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )

    eta_all = np.repeat(etas, n)
    x0 = _sample_chain(
        problem,
        post,
        schedule,
        eta_all,
        rng_chain,
        sampler=sampler,
        guidance=guidance,
        zeta=zeta,
        dps_form=dps_form,
        variance=variance,
        start=start,
        device=device,
        seed=seed,
        progress=progress,
    )
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
    shrink_pts = []
    for c in cs:
        xs = shrink(exact_set, m, float(c))
        mse, se = conditional_mse(xs, m, mmse, return_se=True)
        shrink_pts.append(
            dict(
                c=float(c),
                mse=float(mse),
                mse_sd=float(se),
                w2=float(w2_empirical(xs, ref)),
                kl=knn_kl_or_none(xs, ref),
            )
        )
    order = np.argsort([p["w2"] for p in shrink_pts])
    sw2 = np.array([shrink_pts[i]["w2"] for i in order])
    smse = np.array([shrink_pts[i]["mse"] for i in order])

    runs = []
    for i, eta in enumerate(etas):
        xs = x0[i * n : (i + 1) * n]
        mse, se = conditional_mse(xs, m, mmse, return_se=True)
        w2 = float(w2_empirical(xs, ref))
        runs.append(
            dict(
                eta=float(eta),
                mse=float(mse),
                mse_sd=float(se),
                mse_over_mmse=float(mse / mmse),
                w2=w2,
                w2_floor=float(w2_floor),
                kl=knn_kl_or_none(xs, ref),
                kl_floor=float(kl_floor),
                D_at_w2=float(dp_function(mmse, w2)),
                excess_over_D=float(mse - dp_function(mmse, w2)),
                excess_mse=float(mse - np.interp(w2, sw2, smse)),
                mean_offset=float(np.linalg.norm(xs.mean(0) - m)),
                n=int(n),
            )
        )
    P = np.linspace(0.0, 1.2 * math.sqrt(mmse), 121)
    result = dict(
        problem=problem.to_json(),
        mmse=float(mmse),
        posterior_mean=m.tolist(),
        posterior_weights=post.weights.tolist(),
        theory=dict(P=P.tolist(), D=dp_function(mmse, P).tolist()),
        runs=runs,
        shrinkage=shrink_pts,
        floors=dict(
            w2=float(w2_floor),
            w2_sd=float(w2_floor_sd),
            kl=float(kl_floor),
            kl_sd=float(kl_floor_sd),
            repeats=int(floor_repeats),
        ),
        settings=dict(
            sampler=sampler,
            guidance=guidance,
            zeta=float(zeta) if guidance == "dps" else None,
            dps_form=dps_form if guidance == "dps" else None,
            variance=variance,
            start=start,
            steps=int(steps),
            n=int(n),
            seed=int(seed),
            device=device if sampler == "torch" else "cpu",
            schedule="linear beta 1e-4..0.02",
            package_version=__version__,
        ),
    )
    if trajectories:
        result["_trajectories"] = _trajectories(
            problem,
            post,
            schedule,
            rng_traj,
            guidance=guidance,
            zeta=zeta,
            dps_form=dps_form,
            variance=variance,
        )
    return result


def _score_fn(problem, post, schedule, guidance, zeta, dps_form):
    if guidance == "exact":
        return lambda x, t: post.score(x, t, schedule)
    return dps_score(
        problem.prior, problem.A, problem.sigma_y, problem.y, schedule, zeta=zeta, form=dps_form
    )


def _sample_chain(
    problem,
    post,
    schedule,
    eta_all,
    rng,
    *,
    sampler,
    guidance,
    zeta,
    dps_form,
    variance,
    start,
    device,
    seed,
    progress,
):
    N = eta_all.shape[0]
    if sampler == "numpy":
        law = post.diffused(schedule, schedule.T) if start == "exact" else None
        x_T = initial_state(N, post.d, schedule, eta_all, rng=rng, start=start, law=law)
        return eta_chain(
            _score_fn(problem, post, schedule, guidance, zeta, dps_form),
            x_T,
            schedule,
            eta_all,
            rng=rng,
            variance=variance,
            hessian=lambda x, t: post.hessian(x, t, schedule),
            progress=progress,
        )
    from numerics.dp_curve._torch_bridge import (
        sample_torch,  # lazy: the only place numerics/ reaches torch
    )

    return sample_torch(
        problem,
        post,
        schedule,
        eta_all,
        guidance=guidance,
        zeta=zeta,
        dps_form=dps_form,
        variance=variance,
        start=start,
        device=device,
        seed=seed,
        progress=progress,
    )


def _trajectories(
    problem, post, schedule, rng, *, guidance, zeta, dps_form, variance, etas=(0.0, 0.5, 1.0), k=6
):
    """Reverse trajectories of k particles from the same x_T for each eta (numpy sampler)."""
    x_T = rng.standard_normal((k, post.d))
    seed = int(rng.integers(2**31))
    out = {}
    for eta in etas:
        path = []
        eta_chain(
            _score_fn(problem, post, schedule, guidance, zeta, dps_form),
            x_T,
            schedule,
            float(eta),
            rng=np.random.default_rng(seed),
            variance=variance,
            hessian=lambda x, t: post.hessian(x, t, schedule),
            callback=lambda t, x, path=path: path.append(x),
        )
        out[float(eta)] = np.stack(path)  # (T + 1, k, d), from t = T down to 0
    return out


# --------------------------------------------------------------------------- figures
def plot_dp_curve(result: dict):
    """Fig. 3 done properly: MSE vs W2 and MSE vs KL with D(P), floors and the shrinkage curve.

    Returns the matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, shr = result["runs"], result["shrinkage"]
    mmse = result["mmse"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    ax = axes[0]
    ax.plot(
        result["theory"]["P"], result["theory"]["D"], "k-", lw=1.5, label="optimal D(P) (theory)"
    )
    ax.plot(
        [p["w2"] for p in shr],
        [p["mse"] for p in shr],
        "s--",
        color="tab:green",
        ms=4,
        label="shrinkage of exact posterior samples (measured)",
    )
    ax.errorbar(
        [r["w2"] for r in runs],
        [r["mse"] for r in runs],
        yerr=[2 * r["mse_sd"] for r in runs],
        fmt="o-",
        color="tab:blue",
        ms=5,
        capsize=2,
        label=f"η-chain ({result['settings']['variance']}, "
        f"{result['settings']['guidance']} guidance)",
    )
    for r in runs:
        ax.annotate(
            f"{r['eta']:g}",
            (r["w2"], r["mse"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
        )
    ax.axvline(result["floors"]["w2"], color="gray", ls=":", label="W2 floor (two exact sets)")
    ax.axhline(mmse, color="tab:red", ls=":", lw=1, label="MMSE")
    ax.axhline(2 * mmse, color="tab:red", ls="--", lw=0.8, label="2·MMSE")
    ax.set_xlabel("perception: empirical W2 to exact posterior samples")
    ax.set_ylabel("distortion: conditional MSE")
    ax.legend(fontsize=7)
    ax.set_title("MSE vs W2")
    ax = axes[1]
    kl_runs = [r for r in runs if r["kl"] is not None and r["kl"] > 0]
    kl_shr = [p for p in shr if p["kl"] is not None and p["kl"] > 0]
    ax.plot(
        [p["kl"] for p in kl_shr],
        [p["mse"] for p in kl_shr],
        "s--",
        color="tab:green",
        ms=4,
        label="shrinkage",
    )
    ax.plot(
        [r["kl"] for r in kl_runs],
        [r["mse"] for r in kl_runs],
        "o-",
        color="tab:blue",
        ms=5,
        label="η-chain",
    )
    for r in kl_runs:
        ax.annotate(
            f"{r['eta']:g}",
            (r["kl"], r["mse"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
        )
    if result["floors"]["kl"] > 0:
        ax.axvline(result["floors"]["kl"], color="gray", ls=":", label="KL floor")
    ax.axhline(mmse, color="tab:red", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("perception: k-NN KL(samples ‖ posterior) [nats]")
    ax.set_ylabel("distortion: conditional MSE")
    ax.set_title("MSE vs KL (points with KL ≤ 0 or undefined omitted)")
    ax.legend(fontsize=7)
    s = result["settings"]
    fig.suptitle(
        f"DP tradeoff, MMSE = {mmse:.4f}; T = {s['steps']}, n = {s['n']} per η, seed {s['seed']}",
        fontsize=10,
    )
    return fig


def plot_trajectories(result: dict, problem: Problem):
    """Fig. 2: trajectories from the same x_T for eta = 0, 0.5, 1 over the posterior density.

    Returns the matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trajs = result["_trajectories"]
    post = problem.posterior()
    d = post.d
    fig, axes = plt.subplots(
        1, len(trajs), figsize=(4.2 * len(trajs), 4), constrained_layout=True, squeeze=False
    )
    for ax, (eta, path) in zip(axes[0], trajs.items(), strict=True):
        if d >= 2:
            marg = GaussianMixture(post.weights, post.means[:, :2], post.covs[:, :2, :2])
            lo = np.minimum(path[..., :2].min(axis=(0, 1)), post.means[:, :2].min(0) - 1.5) - 0.2
            hi = np.maximum(path[..., :2].max(axis=(0, 1)), post.means[:, :2].max(0) + 1.5) + 0.2
            gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
            dens = np.exp(marg.logpdf(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
            ax.contourf(gx, gy, dens, levels=12, cmap="Blues")
            for j in range(path.shape[1]):
                ax.plot(path[:, j, 0], path[:, j, 1], "-", lw=0.5, color="tab:orange", alpha=0.6)
                ax.plot(path[0, j, 0], path[0, j, 1], "o", color="k", ms=3)
                ax.plot(path[-1, j, 0], path[-1, j, 1], "x", color="tab:red", ms=6)
            ax.plot(
                *result["posterior_mean"][:2], "*", color="gold", mec="k", ms=14, label="E[x|y]"
            )
            ax.set_xlabel("x₁")
            ax.set_ylabel("x₂")
        else:
            tt = np.arange(path.shape[0])[::-1]
            ax.plot(tt, path[:, :, 0], lw=0.8)
            ax.axhline(result["posterior_mean"][0], color="gold", label="E[x|y]")
            ax.set_xlabel("t")
            ax.set_ylabel("x")
        ax.set_title(f"η = {eta:g}")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Reverse trajectories from the same x_T (o: x_T, x: x_0) over the posterior density",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------- CLI
def _parse_etas(text: str):
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not vals or any(not (0.0 <= v <= 1.0) for v in vals):
        raise argparse.ArgumentTypeError(f"expected values in [0, 1], got {text!r}")
    return vals


def _positive_int(text: str):
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _nonneg_float(text: str):
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m numerics.dp_curve",
        description="Theory vs empirical distortion-perception curves of the eta-scaled reverse diffusion "
        "on an exact Gaussian-mixture posterior (the paper's Section III-D, with the optimality gap measured).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--problem",
        type=Path,
        default=None,
        help="JSON problem file {prior: {weights, means, covs}, A, sigma_y, y}; default: the paper's "
        "2-component 2-D mixture, A = I, sigma_y = 0.5, y = (0, 0) (bimodal posterior)",
    )
    p.add_argument(
        "--eta",
        type=_parse_etas,
        default=list(DEFAULT_ETAS),
        help="comma-separated variance scales in [0, 1] (default 0,0.1,...,1)",
    )
    p.add_argument(
        "--samples",
        type=_positive_int,
        default=1000,
        help="samples per eta, and size of every exact reference set (W2 and its floor)",
    )
    p.add_argument(
        "--steps",
        type=_positive_int,
        default=1000,
        help="diffusion steps T (linear beta 1e-4..0.02)",
    )
    p.add_argument(
        "--sampler",
        choices=["numpy", "torch"],
        default="numpy",
        help="float64 numpy ground-truth sampler, or the diffusion/ torch sampler",
    )
    p.add_argument(
        "--guidance",
        choices=["exact", "dps"],
        default="exact",
        help="exact conditional score (posterior mixture), or DPS over the exact prior score",
    )
    p.add_argument(
        "--zeta", type=_nonneg_float, default=1.0, help="DPS step weight (with --guidance dps)"
    )
    p.add_argument(
        "--dps-form",
        choices=["reference", "likelihood"],
        default="reference",
        help="DPS step: zeta*grad||y-A x0|| (reference code) or zeta*grad||y-A x0||^2/(2 sigma_y^2)",
    )
    p.add_argument(
        "--variance",
        choices=list(VARIANCES),
        default="beta_tilde",
        help="reverse-step variance: DDPM's beta or beta_tilde, or the exact (second-order Tweedie) "
        "covariance, i.e. the discretisation-free curve",
    )
    p.add_argument(
        "--start",
        choices=list(STARTS),
        default="standard",
        help="x_T ~ N(0, I), or the exact law of x_T | y scaled by eta (Theorem 1)",
    )
    p.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="torch device (--sampler torch)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same JSON")
    p.add_argument("--out", type=Path, default=Path("out/dp_curve"), help="output directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        problem = (
            load_problem(args.problem)
            if args.problem is not None
            else load_problem(DEFAULT_PROBLEM)
        )
    except ProblemError as exc:
        print(f"error: {args.problem}: {exc}", file=sys.stderr)
        return 2
    if args.sampler == "torch" and args.device == "cuda":
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a core dependency
            print("error: --device cuda needs torch", file=sys.stderr)
            return 2
        if not torch.cuda.is_available():
            print("error: --device cuda: no CUDA device is available here", file=sys.stderr)
            return 2
    if args.sampler == "numpy" and args.device == "cuda":
        print("error: --device cuda needs --sampler torch", file=sys.stderr)
        return 2
    try:
        result = run(
            problem,
            etas=args.eta,
            n=args.samples,
            steps=args.steps,
            sampler=args.sampler,
            guidance=args.guidance,
            zeta=args.zeta,
            dps_form=args.dps_form,
            variance=args.variance,
            start=args.start,
            device=args.device,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except (ValueError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    _write_outputs(result, problem, out)
    mmse = result["mmse"]
    print(
        f"MMSE = {mmse:.5f}   W2 floor = {result['floors']['w2']:.4f}   (n = {args.samples} per eta)"
    )
    print(f"{'eta':>5} {'MSE/MMSE':>9} {'±sd':>7} {'W2':>7} {'D(W2)/MMSE':>10} {'excess/MMSE':>11}")
    for r in result["runs"]:
        print(
            f"{r['eta']:5.2f} {r['mse'] / mmse:9.4f} {r['mse_sd'] / mmse:7.4f} {r['w2']:7.4f} "
            f"{r['D_at_w2'] / mmse:10.4f} {r['excess_mse'] / mmse:11.4f}"
        )
    print(f"wrote {out / 'dp_curve.json'}, dp_curve.png, dp_curve.svg, trajectories.png")
    return 0


def _write_outputs(result: dict, problem: Problem, out: Path):
    """Write every output through a temporary file + rename, so an interrupt leaves no half file."""
    import matplotlib.pyplot as plt

    traj = result.pop("_trajectories", None)
    _atomic_write(
        out / "dp_curve.json", lambda p: p.write_text(json.dumps(result, indent=1) + "\n")
    )
    fig = plot_dp_curve(result)
    _atomic_write(out / "dp_curve.png", lambda p: fig.savefig(p, dpi=130))
    _atomic_write(out / "dp_curve.svg", lambda p: fig.savefig(p))
    plt.close(fig)
    if traj is not None:
        fig = plot_trajectories({**result, "_trajectories": traj}, problem)
        _atomic_write(out / "trajectories.png", lambda p: fig.savefig(p, dpi=120))
        plt.close(fig)


def _atomic_write(path: Path, writer):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    sys.exit(main())
