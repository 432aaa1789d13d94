"""theory.gmm: mixture posterior, diffused mixture, score and Tweedie against numerics.gmm."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from numerics.gaussian import linear_gaussian_posterior
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule, respace
from tests.strategies import random_operator, random_spd
from tests.theory.helpers import assert_checks_point_to_tests, assert_passed, close, col, lam, run
from theory import gmm
from theory.symbols import alphabar_t

SCHED = respace(linear_schedule(1000), 50)


def test_checks_point_to_tests():
    assert_checks_point_to_tests(gmm.CHECKS, globals(), "gmm_")


def test_component_posterior_1d(rng):
    assert_passed(run(gmm.check_component_posterior_1d))
    mean, var, ev_mean, ev_var = gmm.posterior_component_1d()
    args = [gmm.y, gmm.mu, gmm.p, gmm.a, gmm.sigma_y]
    f = lam(sp.Matrix([mean, var, ev_mean, ev_var]), args)
    for _ in range(5):
        y, mu, a = rng.normal(size=3)
        p, sy = rng.uniform(0.1, 2, size=2)
        m_ref, S_ref = linear_gaussian_posterior([mu], [[p]], [[a]], sy, [y])
        close(f(y, mu, p, a, sy).ravel(), [m_ref[0], S_ref[0, 0], a * mu, a * a * p + sy * sy])


def _mixture_values(rng, K=2):
    w = rng.dirichlet(np.ones(K))
    return w, rng.normal(size=K) * 1.5, rng.uniform(0.05, 0.6, size=K)


def _args_1d(mix, w, mus, ps):
    """Values for the symbols of a mixture_1d result, keyed by symbol."""
    vals = {z: v for z, v in zip(mix["weights"][:-1], w[:-1], strict=True)}
    vals.update(zip(mix["means"], mus, strict=True))
    vals.update(zip(mix["vars"], ps, strict=True))
    return vals


def test_posterior_mixture_1d(rng):
    assert_passed(run(gmm.check_posterior_mixture_1d))
    mix = gmm.mixture_1d(2)
    out = sp.Matrix([*mix["post_weights"], *mix["post_means"], *mix["post_vars"]])
    for _ in range(5):
        w, mus, ps = _mixture_values(rng)
        a, y, sy = rng.normal(), rng.normal(), rng.uniform(0.2, 1.0)
        vals = _args_1d(mix, w, mus, ps)
        vals.update({gmm.a: a, gmm.y: y, gmm.sigma_y: sy})
        syms = list(vals)
        got = lam(out, syms)(*vals.values()).ravel()
        post = GaussianMixture(w, mus[:, None], ps[:, None, None]).posterior([[a]], sy, [y])
        close(got, np.concatenate([post.weights, post.means.ravel(), post.covs.ravel()]), rtol=1e-8)


@pytest.mark.parametrize(("dim", "kind"), [(1, "square"), (2, "wide"), (3, "tall"), (4, "blur")])
def test_component_posterior_2d(rng, dim, kind):
    """Matrix-symbol covariance form (any d) vs GaussianMixture.posterior, including the
    weights from the evidence N(y; A mu_k, G_k) -- a numerical check at d = 1..4."""
    assert_passed(run(gmm.check_component_posterior_2d))
    m_, S_, G, sy = gmm.posterior_component()
    A = random_operator(rng, dim, kind)
    k = A.shape[0]
    args = [sy["mu"], sy["P"], sy["A"], sy["y"], sy["sigma_y"]]
    fm, fS, fG = (lam(e, args, dim=dim, k=k) for e in (m_, S_, G))
    K = 3
    w = rng.dirichlet(np.ones(K))
    mus = rng.normal(size=(K, dim))
    Ps = np.stack([random_spd(rng, dim, cond=20.0) for _ in range(K)])
    y, sigma = rng.normal(size=k), 0.3
    post = GaussianMixture(w, mus, Ps).posterior(A, sigma, y)
    logw = []
    for j in range(K):
        vals = (col(mus[j]), Ps[j], A, col(y), sigma)
        close(fm(*vals).ravel(), post.means[j], rtol=1e-8)
        close(fS(*vals), post.covs[j], rtol=1e-8, atol=1e-12)
        Gj = fG(*vals)
        r = y - A @ mus[j]
        logw.append(
            np.log(w[j])
            - 0.5 * r @ np.linalg.solve(Gj, r)
            - 0.5 * np.linalg.slogdet(2 * np.pi * Gj)[1]
        )
    logw = np.array(logw)
    close(np.exp(logw - np.logaddexp.reduce(logw)), post.weights, rtol=1e-8)
    # the symbolic d = 2 identities themselves
    assert sp.simplify(gmm.information_form_2d(1)) == sp.zeros(2, 2)


def test_diffused_score(rng):
    assert_passed(run(gmm.check_diffused_score))
    mean_t, cov_t = gmm.diffused_component()
    sy = gmm.posterior_component()[3]
    dim = 3
    f = lam(cov_t, [sy["P"], alphabar_t], dim=dim)
    fm = lam(mean_t, [sy["mu"], alphabar_t], dim=dim)
    gm = GaussianMixture(
        [0.3, 0.7], rng.normal(size=(2, dim)), [random_spd(rng, dim) for _ in range(2)]
    )
    for t in (1, 20, 50):
        diff = gm.diffused(SCHED, t)
        for j in range(2):
            close(f(gm.covs[j], SCHED.alpha_bar[t]), diff.covs[j])
            close(fm(col(gm.means[j]), SCHED.alpha_bar[t]).ravel(), diff.means[j])
    # 1-D mixture score (VP gain and noise) vs numerics.gmm.score
    dm = gmm.mixture_1d(2, t_diffused=True)
    score = dm["score"].xreplace(gmm.VP)
    for _ in range(4):
        w, mus, ps = _mixture_values(rng)
        t = int(rng.integers(1, SCHED.T + 1))
        x = rng.normal()
        vals = _args_1d(dm, w, mus, ps)
        vals.update({gmm.x: x, alphabar_t: SCHED.alpha_bar[t]})
        g1 = GaussianMixture(w, mus[:, None], ps[:, None, None])
        close(lam(score, list(vals))(*vals.values()), g1.score([[x]], t, SCHED)[0, 0], rtol=1e-8)


def test_tweedie_mean(rng):
    """Per-component posterior means (matrix form, d = 3) mixed with numerics' responsibilities,
    and the 1-D mixture formula, against GaussianMixture.tweedie_mean."""
    assert_passed(run(gmm.check_tweedie_mean))
    post, sf, syms = gmm.tweedie_component()
    dim = 3
    args = [syms["P"], syms["mu"], syms["x"], alphabar_t]
    f_post, f_sf = lam(post, args, dim=dim), lam(sf, args, dim=dim)
    gm = GaussianMixture(
        [0.5, 0.2, 0.3], rng.normal(size=(3, dim)), [random_spd(rng, dim) for _ in range(3)]
    )
    for t in (1, 25, 50):
        x = rng.normal(size=(1, dim))
        r = gm.responsibilities(x, t, SCHED)[0]
        ab = SCHED.alpha_bar[t]
        comps = [f_post(gm.covs[j], col(gm.means[j]), col(x[0]), ab).ravel() for j in range(3)]
        for j in range(3):
            close(comps[j], f_sf(gm.covs[j], col(gm.means[j]), col(x[0]), ab).ravel(), rtol=1e-7)
        close(r @ np.array(comps), gm.tweedie_mean(x, t, SCHED)[0], rtol=1e-8)
    dm = gmm.mixture_1d(2, t_diffused=True)
    for key in ("tweedie_mean", "score_form_mean"):
        expr = dm[key].xreplace(gmm.VP)
        w, mus, ps = _mixture_values(rng)
        vals = _args_1d(dm, w, mus, ps)
        vals.update({gmm.x: 0.3, alphabar_t: SCHED.alpha_bar[10]})
        g1 = GaussianMixture(w, mus[:, None], ps[:, None, None])
        close(
            lam(expr, list(vals))(*vals.values()),
            g1.tweedie_mean([[0.3]], 10, SCHED)[0, 0],
            rtol=1e-8,
        )


def test_tweedie_cov(rng):
    assert_passed(run(gmm.check_tweedie_cov))
    dm = gmm.mixture_1d(2, t_diffused=True)
    for key in ("tweedie_var", "score_form_var"):
        expr = dm[key].xreplace(gmm.VP)
        for t in (1, 30):  # t = 1: (1 - ab) is 1e-4-small; the Hessian form loses digits there
            w, mus, ps = _mixture_values(rng)
            x = rng.normal()
            vals = _args_1d(dm, w, mus, ps)
            vals.update({gmm.x: x, alphabar_t: SCHED.alpha_bar[t]})
            g1 = GaussianMixture(w, mus[:, None], ps[:, None, None])
            ref = g1.tweedie_cov([[x]], t, SCHED)[0, 0, 0]
            close(
                lam(expr, list(vals))(*vals.values()),
                ref,
                rtol=1e-6 if key == "score_form_var" else 1e-8,
            )
