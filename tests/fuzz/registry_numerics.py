"""Valid tiny calls of every public function and class of numerics/."""

from __future__ import annotations

import json

import numpy as np

from numerics import chain, cli, dp, gaussian, gmm, io, metrics, schedule, validate
from numerics import dp_curve as dpc
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry, exempt

D = 2


def sched(T: int = 5):
    return schedule.linear_schedule(T)


def spd(d: int = D, scale: float = 1.0):
    return scale * (np.eye(d) + 0.3 * (np.ones((d, d)) - np.eye(d)))


def mixture():
    return gmm.GaussianMixture(
        np.array([0.4, 0.6]),
        np.array([[-1.0, -1.0], [1.0, 1.0]]),
        np.stack([spd(scale=0.2), spd(scale=0.3)]),
    )


def points(n: int = 4, d: int = D, seed: int = 0):
    return np.random.default_rng(seed).normal(size=(n, d))


def A():
    return np.array([[1.0, 0.5]])


def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- schedule
@entry("numerics.schedule.linear_schedule")
def _(tmp):
    return call(
        schedule.linear_schedule,
        K(5, "count"),
        K(1e-4, "prob"),
        K(0.02, "prob"),
        fixed_horizon=False,
    )


@entry("numerics.schedule.respace")
def _(tmp):
    return call(schedule.respace, sched(10), K(3, "count"))


@entry("numerics.schedule.schedule_from_alpha_bar")
def _(tmp):
    s = sched(4)
    return call(
        schedule.schedule_from_alpha_bar,
        np.log(s.alpha_bar),
        K(np.arange(5), "array"),
        beta=K(np.array(s.beta), "array"),
    )


@entry("numerics.schedule.Schedule")
def _(tmp):
    s = sched(4)
    fields = ("beta", "alpha", "alpha_bar", "one_minus_alpha_bar", "beta_tilde", "timesteps")
    return call(schedule.Schedule, **{f: K(np.array(getattr(s, f)), "array") for f in fields})


# --------------------------------------------------------------------------- validate
@entry("numerics.validate.as_array")
def _(tmp):
    return call(validate.as_array, points(), fixed("x"), ndim=K(2, "int"), shape=K((None, 2), None))


@entry("numerics.validate.check_eta")
def _(tmp):
    return call(
        validate.check_eta, K(np.array([0.0, 0.5, 1.0]), "eta"), fixed("eta"), n=K(3, "count")
    )


@entry("numerics.validate.check_positive")
def _(tmp):
    return call(validate.check_positive, K(0.5, "sigma"), fixed("x"))


@entry("numerics.validate.check_spd")
def _(tmp):
    return call(
        validate.check_spd, K(spd(), "cov"), fixed("cov"), d=K(2, "count"), rtol=K(1e-8, "nonneg")
    )


@entry("numerics.validate.check_weights")
def _(tmp):
    return call(
        validate.check_weights,
        K(np.array([0.3, 0.7]), "weights"),
        fixed("weights"),
        atol=K(1e-8, "nonneg"),
    )


# --------------------------------------------------------------------------- cli
exempt(
    "numerics.cli.ArgumentParser",
    "argparse.ArgumentParser subclass; its one override (error) is tested through every "
    "command in tests/cli",
)
exempt("numerics.cli.ArgumentParser.error", "argparse hook; tested through tests/cli")


@entry("numerics.cli.fail")
def _(tmp):
    return call(cli.fail, K("prog", "text"), K(ValueError("x: bad"), "object"), K(2, "int"))


for _name in ("parse_etas", "positive_int", "positive_float", "nonneg_float", "seed_int"):

    def _conv(tmp, _name=_name):
        import argparse

        return call(
            getattr(cli, _name), K("1", "cli_text"), ok_errors=(argparse.ArgumentTypeError,)
        )

    entry(f"numerics.cli.{_name}")(_conv)


# --------------------------------------------------------------------------- io
@entry("numerics.io.atomic_write")
def _(tmp):
    return call(
        io.atomic_write, K(tmp / "a.txt", "outfile"), K(lambda p: p.write_text("x"), "callable")
    )


@entry("numerics.io.write_json")
def _(tmp):
    return call(
        io.write_json,
        K(tmp / "r.json", "outfile"),
        K({"a": 1.5}, "jsonable"),
        sort_keys=True,
        indent=K(1, "int"),
    )


# --------------------------------------------------------------------------- dp
@entry("numerics.dp.dp_function")
def _(tmp):
    return call(dp.dp_function, K(0.7, "sigma"), K(np.array([0.0, 0.3, 2.0]), "array"))


@entry("numerics.dp.eta_for_perception")
def _(tmp):
    return call(dp.eta_for_perception, K(0.7, "sigma"), K(np.array([0.0, 0.3, 2.0]), "array"))


@entry("numerics.dp.shrink_factor_for_perception")
def _(tmp):
    return call(dp.shrink_factor_for_perception, K(0.7, "sigma"), K(np.array([0.0, 0.3]), "array"))


@entry("numerics.dp.gaussian_eta_curve")
def _(tmp):
    # eta is a grid of any length (not one value per sample): a list, whose nonsense is bad
    # values, not a "batch of wrong length".
    return call(dp.gaussian_eta_curve, K(0.7, "sigma"), K([0.0, 0.5, 1.0], "eta"))


@entry("numerics.dp.shrink")
def _(tmp):
    return call(dp.shrink, points(), np.zeros(D), K(0.5, "prob"))


# --------------------------------------------------------------------------- gaussian
@entry("numerics.gaussian.bures_w2")
def _(tmp):
    return call(
        gaussian.bures_w2,
        np.zeros(D),
        K(spd(), "cov"),
        np.ones(D),
        K(spd(scale=0.5), "cov"),
        squared=False,
    )


@entry("numerics.gaussian.gaussian_kl")
def _(tmp):
    return call(
        gaussian.gaussian_kl, np.zeros(D), K(spd(), "cov"), np.ones(D), K(spd(scale=0.5), "cov")
    )


@entry("numerics.gaussian.linear_gaussian_posterior")
def _(tmp):
    return call(
        gaussian.linear_gaussian_posterior,
        np.zeros(D),
        K(spd(), "cov"),
        A(),
        K(0.5, "sigma"),
        np.array([0.3]),
        form="covariance",
    )


@entry("numerics.gaussian.eta_chain_moments")
def _(tmp):
    return call(
        gaussian.eta_chain_moments,
        np.zeros(D),
        K(spd(scale=0.3), "cov"),
        K(0.5, "eta"),
        sched(),
        "exact",
        "exact",
        log=False,
    )


@entry("numerics.gaussian.reverse_kernel")
def _(tmp):
    return call(gaussian.reverse_kernel, K(spd(scale=0.3), "cov"), sched(), K(3, "index"))


# --------------------------------------------------------------------------- gmm
def _probe_gmm(g):
    return g.mean(), g.cov(), g.mmse(), g.d, g.K


@entry("numerics.gmm.GaussianMixture")
def _(tmp):
    g = mixture()
    return call(
        gmm.GaussianMixture, K(g.weights, "weights"), g.means, K(g.covs, "covs"), then=_probe_gmm
    )


@entry("numerics.gmm.GaussianMixture.sample")
def _(tmp):
    return call(mixture().sample, K(5, "count"), rng())


@entry("numerics.gmm.GaussianMixture.posterior")
def _(tmp):
    return call(mixture().posterior, A(), K(0.5, "sigma"), np.array([0.3]), then=_probe_gmm)


@entry("numerics.gmm.GaussianMixture.diffused")
def _(tmp):
    return call(mixture().diffused, sched(), K(3, "index"), then=_probe_gmm)


for _m in ("logpdf", "responsibilities", "score", "hessian"):

    def _f(tmp, _m=_m):
        return call(getattr(mixture(), _m), points(), K(3, "index"), sched())

    entry(f"numerics.gmm.GaussianMixture.{_m}")(_f)

for _m in ("tweedie_mean", "tweedie_cov"):

    def _f(tmp, _m=_m):
        return call(getattr(mixture(), _m), points(), K(3, "index"), sched())

    entry(f"numerics.gmm.GaussianMixture.{_m}")(_f)


@entry("numerics.gmm.conditional_score")
def _(tmp):
    return call(
        gmm.conditional_score,
        K(mixture(), "object"),
        A(),
        K(0.5, "sigma"),
        np.array([0.3]),
        points(),
        K(3, "index"),
        sched(),
    )


@entry("numerics.gmm.pruned_posterior")
def _(tmp):
    return call(
        gmm.pruned_posterior,
        K(mixture(), "object"),
        A(),
        K(0.5, "sigma"),
        np.array([0.3]),
        floor=K(1e-10, "prob"),
        then=lambda r: _probe_gmm(r[0]),
    )


@entry("numerics.gmm.squared_error_variance")
def _(tmp):
    return call(gmm.squared_error_variance, K(mixture(), "object"), np.zeros(D))


# --------------------------------------------------------------------------- chain
def _score(x, t):
    return -x


def _hessian(x, t):
    return np.broadcast_to(-np.eye(x.shape[1]), (x.shape[0], x.shape[1], x.shape[1])).copy()


@entry("numerics.chain.eta_chain")
def _(tmp):
    return call(
        chain.eta_chain,
        K(_score, "model"),
        points(),
        sched(),
        K(0.5, "eta"),
        rng=rng(),
        variance="beta_tilde",
        hessian=K(_hessian, "callable"),
        callback=K(lambda t, x: None, "callable"),
        progress=False,
    )


@entry("numerics.chain.initial_state")
def _(tmp):
    return call(
        chain.initial_state,
        K(4, "count"),
        K(D, "count"),
        sched(),
        K(0.5, "eta"),
        rng=rng(),
        start="standard",
        law=K(None, None),
    )


@entry("numerics.chain.run_posterior_chain")
def _(tmp):
    return call(
        chain.run_posterior_chain,
        K(mixture(), "object"),
        sched(),
        K(0.5, "eta"),
        K(4, "count"),
        rng=rng(),
        start="standard",
        variance="beta_tilde",
        callback=K(lambda t, x: None, "callable"),
        progress=False,
    )


@entry("numerics.chain.step_covariance")
def _(tmp):
    return call(chain.step_covariance, -np.stack([spd()] * 3), sched(), K(3, "index"))


# --------------------------------------------------------------------------- metrics
@entry("numerics.metrics.conditional_mse")
def _(tmp):
    # mmse >= 0 (documented; 0 for a point-mass posterior): "nonneg", not "sigma".
    return call(metrics.conditional_mse, points(), np.zeros(D), K(0.7, "nonneg"), return_se=True)


@entry("numerics.metrics.frechet_distance")
def _(tmp):
    return call(metrics.frechet_distance, points(6), points(6, seed=1), rank_safe=False)


@entry("numerics.metrics.gaussian_fit_kl")
def _(tmp):
    return call(metrics.gaussian_fit_kl, points(6), points(6, seed=1))


@entry("numerics.metrics.gaussian_fit_w2")
def _(tmp):
    return call(metrics.gaussian_fit_w2, points(6), points(6, seed=1))


@entry("numerics.metrics.knn_kl")
def _(tmp):
    return call(metrics.knn_kl, points(6), points(6, seed=1), k=K(1, "count"))


@entry("numerics.metrics.knn_kl_or_none")
def _(tmp):
    return call(metrics.knn_kl_or_none, points(6), points(6, seed=1), k=K(1, "count"))


@entry("numerics.metrics.metric_floor")
def _(tmp):
    return call(
        metrics.metric_floor,
        K(metrics.gaussian_fit_w2, "callable"),
        K(mixture().sample, "callable"),
        K(6, "count"),
        rng(),
        repeats=K(2, "count"),
        return_sd=True,
    )


@entry("numerics.metrics.mse_to_truth")
def _(tmp):
    return call(metrics.mse_to_truth, points(), points(seed=1), return_se=True)


@entry("numerics.metrics.orthonormal_directions")
def _(tmp):
    return call(metrics.orthonormal_directions, K(3, "count"), K(2, "count"), K(0, "seed"))


@entry("numerics.metrics.random_directions")
def _(tmp):
    return call(metrics.random_directions, K(3, "count"), K(4, "count"), K(0, "seed"))


@entry("numerics.metrics.psnr")
def _(tmp):
    return call(metrics.psnr, points(), points(seed=1), data_range=K(2.0, "sigma"))


@entry("numerics.metrics.sliced_w2")
def _(tmp):
    return call(
        metrics.sliced_w2,
        points(6),
        points(6, seed=1),
        metrics.random_directions(D, 5, 0),
        a=K(None, None),
        b=K(None, None),
        rescale=False,
    )


@entry("numerics.metrics.w2_empirical")
def _(tmp):
    return call(
        metrics.w2_empirical,
        points(6),
        points(6, seed=1),
        a=K(np.full(6, 1 / 6), "weights"),
        b=K(None, None),
        method="exact",
        num_itermax=K(100000, "count"),
    )


@entry("numerics.metrics.w2_to_gmm")
def _(tmp):
    return call(
        metrics.w2_to_gmm,
        points(6),
        K(mixture(), "object"),
        rng(),
        n_ref=K(8, "count"),
        method="exact",
    )


# --------------------------------------------------------------------------- dp_curve driver
def _problem_dict():
    return {
        "prior": {
            "weights": [0.4, 0.6],
            "means": [[-1.0, -1.0], [1.0, 1.0]],
            "covs": [spd(scale=0.2).tolist(), spd(scale=0.3).tolist()],
        },
        "A": [[1.0, 0.0], [0.0, 1.0]],
        "sigma_y": 0.5,
        "y": [0.0, 0.0],
    }


def problem():
    return dpc.load_problem(_problem_dict())


@entry("numerics.dp_curve.Problem")
def _(tmp):
    p = problem()
    return call(
        dpc.Problem,
        K(p.prior, "object"),
        p.A,
        K(p.sigma_y, "sigma"),
        p.y,
        then=lambda q: (q.posterior().mmse(), q.to_json()),
    )


@entry("numerics.dp_curve.load_problem")
def _(tmp):
    path = tmp / "problem.json"
    path.write_text(json.dumps(_problem_dict()))
    return call(dpc.load_problem, K(path, "infile"))


@entry("numerics.dp_curve.dps_score")
def _(tmp):
    p = problem()
    s = sched()
    return call(
        dpc.dps_score,
        K(p.prior, "object"),
        p.A,
        K(p.sigma_y, "sigma"),
        p.y,
        s,
        zeta=K(1.0, "nonneg"),
        form="reference",
        then=lambda f: f(points(), 3),
    )


@entry("numerics.dp_curve.build_parser")
def _(tmp):
    return call(dpc.build_parser)


@entry("numerics.dp_curve.run", heavy=True)
def _(tmp):
    return call(
        dpc.run,
        K(problem(), "object"),
        etas=K((0.0, 1.0), "eta"),
        n=K(10, "count"),
        steps=K(3, "count"),
        sampler="numpy",
        guidance="exact",
        zeta=K(1.0, "nonneg"),
        dps_form="reference",
        variance="beta_tilde",
        start="standard",
        device=K("cpu", "device"),
        seed=K(0, "seed"),
        floor_repeats=K(2, "count"),
        shrink_factors=K((0.0, 1.0), "list"),
        progress=False,
        trajectories=False,
    )


exempt("numerics.dp_curve.main", "CLI entry point: tests/cli runs it with every bad-input family")
exempt("numerics.dp_curve.plot_dp_curve", "plotting of a results dict made by run (matplotlib)")
exempt("numerics.dp_curve.plot_trajectories", "plotting of a results dict made by run (matplotlib)")
