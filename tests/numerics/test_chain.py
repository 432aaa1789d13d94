"""numerics.chain: the numpy eta-chain against the exact Gaussian moments and on a GMM posterior."""

from __future__ import annotations

import numpy as np
import pytest

from numerics.chain import eta_chain, initial_state, run_posterior_chain, step_covariance
from numerics.gaussian import eta_chain_moments, linear_gaussian_posterior, reverse_kernel
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule
from tests.strategies import random_spd


class _GaussianTarget:
    """Exact score/Hessian/law of x_t | y for a Gaussian posterior N(m, S) (written out here)."""

    def __init__(self, m, S, sched):
        self.m, self.S, self.sched = np.asarray(m), np.asarray(S), sched
        self.d = len(m)

    def _sigma(self, t):
        return self.sched.alpha_bar[t] * self.S + self.sched.one_minus_alpha_bar[t] * np.eye(self.d)

    def score(self, x, t):
        return -np.linalg.solve(self._sigma(t), (x - np.sqrt(self.sched.alpha_bar[t]) * self.m).T).T

    def hessian(self, x, t):
        return np.broadcast_to(-np.linalg.inv(self._sigma(t)), (x.shape[0], self.d, self.d))

    # law of x_T, for start="exact"
    def mean(self):
        return np.sqrt(self.sched.alpha_bar[self.sched.T]) * self.m

    def sample(self, n, rng):
        return rng.multivariate_normal(self.mean(), self._sigma(self.sched.T), size=n)


def _run(target, sched, eta, n, rng, variance, start="exact"):
    x_T = initial_state(n, target.d, sched, eta, rng=rng, start=start, law=target)
    return eta_chain(
        target.score, x_T, sched, eta, rng=rng, variance=variance, hessian=target.hessian
    )


def test_step_covariance_is_exact_gaussian_kernel(rng):
    sched = linear_schedule(100)
    S = random_spd(rng, 3, cond=1e3, scale=0.2)
    tgt = _GaussianTarget(np.zeros(3), S, sched)
    for t in (1, 2, 50, 100):
        V = step_covariance(tgt.hessian(np.zeros((1, 3)), t), sched, t)[0]
        _, C = reverse_kernel(S, sched, t)
        np.testing.assert_allclose(V, C, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("variance", ["exact", "beta", "beta_tilde"])
def test_gaussian_chain_matches_exact_moments(rng, variance):
    """n = 6000 per eta, T = 100: mean within 4 sd, covariance entries within 4 Wishart sd."""
    sched = linear_schedule(100)
    d, n_per = 2, 6000
    # A posterior with one variance near beta_1-scale and one O(1), from a real inversion.
    m, S = linear_gaussian_posterior(
        np.zeros(d), np.array([[1.0, 0.6], [0.6, 1.0]]), np.diag([1.0, 0.05]), 0.03, [0.5, 0.1]
    )
    tgt = _GaussianTarget(m, S, sched)
    etas = np.repeat([0.0, 0.3, 1.0], n_per)
    x0 = _run(tgt, sched, etas, len(etas), rng, variance)
    for k, eta in enumerate([0.0, 0.3, 1.0]):
        xs = x0[k * n_per : (k + 1) * n_per]
        mean_ref, cov_ref = eta_chain_moments(m, S, eta, sched, start="exact", variance=variance)
        sd_mean = np.sqrt(np.diag(cov_ref) / n_per)
        assert np.all(np.abs(xs.mean(0) - mean_ref) <= 4 * sd_mean + 1e-12), (
            eta,
            xs.mean(0),
            mean_ref,
        )
        cov_mc = np.cov(xs.T, bias=True)
        sd_cov = np.sqrt((np.outer(np.diag(cov_ref), np.diag(cov_ref)) + cov_ref**2) / n_per)
        assert np.all(np.abs(cov_mc - cov_ref) <= 4 * sd_cov + 1e-12), (eta, cov_mc, cov_ref)


def test_gaussian_eta1_mse_is_twice_mmse(rng):
    """T = 1000, standard start, exact variance, n = 20000: MSE/MMSE within 4 MC sd of 2."""
    sched = linear_schedule(1000)
    m, S = linear_gaussian_posterior(
        np.zeros(2), np.array([[1.0, 0.3], [0.3, 0.5]]), np.eye(2), 0.2, [0.4, -0.3]
    )
    n = 20000
    x0 = _run(_GaussianTarget(m, S, sched), sched, 1.0, n, rng, "exact", start="standard")
    per_sample = np.trace(S) + np.sum((x0 - m) ** 2, axis=1)  # conditional MSE given x-hat
    ratio = per_sample.mean() / np.trace(S)
    sd = per_sample.std() / np.sqrt(n) / np.trace(S)
    assert abs(ratio - 2.0) < 4 * sd, (ratio, sd)


def test_eta_zero_is_deterministic():
    sched = linear_schedule(50)
    tgt = _GaussianTarget(np.array([0.3, -0.2]), np.diag([0.1, 0.02]), sched)
    x_T = np.random.default_rng(0).standard_normal((5, 2))
    a = eta_chain(tgt.score, x_T, sched, 0.0, rng=np.random.default_rng(1))
    b = eta_chain(tgt.score, x_T, sched, 0.0, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)


def test_per_sample_eta_equals_separate_runs():
    sched = linear_schedule(50)
    tgt = _GaussianTarget(np.array([0.3, -0.2]), np.diag([0.1, 0.02]), sched)
    x_T = np.random.default_rng(0).standard_normal((6, 2))
    etas = np.array([0.0, 0.25, 1.0, 0.0, 0.25, 1.0])
    batch = eta_chain(tgt.score, x_T, sched, etas, rng=np.random.default_rng(7), variance="beta")
    for e in (0.0, 0.25, 1.0):
        alone = eta_chain(tgt.score, x_T, sched, e, rng=np.random.default_rng(7), variance="beta")
        np.testing.assert_allclose(batch[etas == e], alone[etas == e], rtol=0, atol=1e-14)


def test_callback_records_trajectory():
    sched = linear_schedule(20)
    tgt = _GaussianTarget(np.zeros(2), np.eye(2) * 0.1, sched)
    seen = []
    eta_chain(
        tgt.score,
        np.ones((3, 2)),
        sched,
        0.5,
        rng=np.random.default_rng(0),
        callback=lambda t, x: seen.append(t),
    )
    assert seen == list(range(20, -1, -1))


def _paper_prior():
    return GaussianMixture(
        [0.5, 0.5],
        [[-1.0, -1.0], [1.0, 1.0]],
        [[[0.25, 0.1], [0.1, 0.15]], [[0.15, -0.05], [-0.05, 0.3]]],
    )


def test_gmm_near_gaussian_posterior_eta1_twice_mmse(rng):
    """The paper's 2-D mixture, y = x + n, sigma_y = 0.5, y = (1.2, 1.4): one component carries
    > 99.9 % of the posterior. Exact conditional score, exact step covariance, T = 1000,
    n = 20000: MSE(eta=1)/MMSE within 4 MC sd of 2 and MSE(eta=0)/MMSE within 1 % of 1."""
    post = _paper_prior().posterior(np.eye(2), 0.5, [1.2, 1.4])
    assert post.weights.max() > 0.999
    sched = linear_schedule(1000)
    n = 20000
    etas = np.repeat([0.0, 1.0], n // 2)
    x0 = run_posterior_chain(post, sched, etas, n, rng=rng, variance="exact")
    m, mmse = post.mean(), post.mmse()
    per_sample = mmse + np.sum((x0 - m) ** 2, axis=1)
    r0 = per_sample[etas == 0].mean() / mmse
    r1 = per_sample[etas == 1].mean() / mmse
    sd1 = per_sample[etas == 1].std() / np.sqrt(n // 2) / mmse
    assert abs(r1 - 2.0) < 4 * sd1, (r1, sd1)
    assert abs(r0 - 1.0) < 0.01, r0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eta=1.1), "eta"),
        (dict(eta=np.array([0.1, 0.2])), "eta"),
        (dict(variance="ddim"), "variance"),
        (dict(variance="exact"), "hessian"),
        (dict(x_T=np.full((3, 2), np.nan)), "x_T"),
        (dict(x_T=np.zeros(2)), "x_T"),
    ],
)
def test_eta_chain_bad_input(kwargs, match):
    sched = linear_schedule(10)
    args = dict(
        score=lambda x, t: -x,
        x_T=np.zeros((3, 2)),
        schedule=sched,
        eta=0.5,
        rng=np.random.default_rng(0),
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        eta_chain(**args)


def test_score_of_wrong_shape_and_start_errors():
    sched = linear_schedule(10)
    with pytest.raises(ValueError, match="score"):
        eta_chain(lambda x, t: x[:, :1], np.zeros((3, 2)), sched, 0.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="start"):
        initial_state(3, 2, sched, 0.5, rng=np.random.default_rng(0), start="zeros")
    with pytest.raises(ValueError, match="law"):
        initial_state(3, 2, sched, 0.5, rng=np.random.default_rng(0), start="exact")
