"""theory.reverse_posterior: kernel, score form and Tweedie, checked symbolically and against
numerics.gaussian.reverse_kernel and numerics.gmm."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from numerics.gaussian import linear_gaussian_posterior, reverse_kernel
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule, respace, schedule_from_alpha_bar
from tests.strategies import random_spd
from tests.theory.helpers import assert_checks_point_to_tests, assert_passed, close, col, lam, run
from theory import reverse_posterior as rp
from theory._core import split_integrals
from theory.symbols import SCHEDULE, S, alpha_t, alphabar_t, alphabar_tm1, beta_t
from theory.symbols import lam as lam_s
from theory.tweedie import tweedie_discrete, tweedie_integrals, tweedie_mixture_1d

SCHEDULES = [linear_schedule(1000), respace(linear_schedule(1000), 25)]
KERNEL_ARGS = [S, alpha_t, beta_t, alphabar_t, alphabar_tm1]


def _vals(s, t):
    return s.alpha[t], s.beta[t], s.alpha_bar[t], s.alpha_bar[t - 1]


def test_checks_point_to_tests():
    assert_checks_point_to_tests(rp.CHECKS, globals(), "rp_")


def test_kernel_eigen(rng):
    assert_passed(run(rp.check_kernel_eigen))
    k = rp.exact_kernel(lam_s)
    assert sp.simplify((k.C - beta_t * k.sigma_tm1 / k.sigma_t).xreplace(SCHEDULE)) == 0
    f = lam(sp.Matrix([k.K, k.C]), [lam_s, alpha_t, beta_t, alphabar_t, alphabar_tm1])
    for s in SCHEDULES:
        for t in rng.integers(1, s.T + 1, size=5):
            lam_n = float(np.exp(rng.uniform(np.log(1e-3), 0)))
            K_ref, C_ref = reverse_kernel([[lam_n]], s, int(t))
            close(f(lam_n, *_vals(s, t)).ravel(), [K_ref[0, 0], C_ref[0, 0]])


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_kernel_matrix(rng, dim):
    assert_passed(run(rp.check_kernel_matrix))
    k = rp.exact_kernel(S)
    fK, fC = lam(k.K, KERNEL_ARGS, dim=dim), lam(k.C, KERNEL_ARGS, dim=dim)
    Sn = random_spd(rng, dim)
    for s in SCHEDULES:
        for t in (1, 2, s.T // 2, s.T):
            K_ref, C_ref = reverse_kernel(Sn, s, t)
            close(fK(Sn, *_vals(s, t)), K_ref)
            close(fC(Sn, *_vals(s, t)), C_ref)


@pytest.mark.parametrize("dim", [1, 3])
def test_score_mean(rng, dim):
    """Score form with the exact score of N(sqrt(ab_t) m, Sigma_t) from numerics.gmm equals the
    kernel mean from numerics.gaussian.reverse_kernel."""
    assert_passed(run(rp.check_score_mean))
    sf = rp.score_form_mean(S)
    f = lam(sf, [rp.x_vec, rp.m_vec, *KERNEL_ARGS], dim=dim)
    Sn, mn = random_spd(rng, dim), rng.normal(size=dim)
    gm = GaussianMixture([1.0], [mn], [Sn])
    s = SCHEDULES[0]
    for t in (1, 10, 600, 1000):
        x = rng.normal(size=dim)
        K_ref, _ = reverse_kernel(Sn, s, t)
        kernel_mean = np.sqrt(s.alpha_bar[t - 1]) * mn + K_ref @ (x - np.sqrt(s.alpha_bar[t]) * mn)
        score = gm.score(x[None], t, s)[0]
        close((x + s.beta[t] * score) / np.sqrt(s.alpha[t]), kernel_mean)
        close(f(col(x), col(mn), Sn, *_vals(s, t)).ravel(), kernel_mean)
    # scalar score form is the same expression per eigenvalue
    assert (
        sp.simplify((rp.score_form_mean(lam_s) - rp.exact_kernel(lam_s).mean).xreplace(SCHEDULE))
        == 0
    )


def _one_step(alpha):
    """A one-step schedule: x_1 = sqrt(alpha) x_0 + sqrt(1 - alpha) eps."""
    return schedule_from_alpha_bar([0.0, np.log(alpha)])


def _moments_by_quadrature(dens, x, alpha, beta, lo, hi, points=None):
    """For x_{t-1} ~ dens and x_t = sqrt(alpha) x_{t-1} + sqrt(beta) eps, at x_t = x: p_t, its
    first two x-derivatives (differentiating the kernel under the integral) and the first two
    posterior moments of x_{t-1}, all by adaptive quadrature."""

    def kern(u, x_):
        return np.exp(-((x_ - np.sqrt(alpha) * u) ** 2) / (2 * beta)) / np.sqrt(2 * np.pi * beta)

    def r(u, x_):  # d/dx log kernel
        return (np.sqrt(alpha) * u - x_) / beta

    integrands = {
        "p": lambda u, x_: dens(u) * kern(u, x_),
        "dp": lambda u, x_: dens(u) * kern(u, x_) * r(u, x_),
        "d2p": lambda u, x_: dens(u) * kern(u, x_) * (r(u, x_) ** 2 - 1 / beta),
        "m1": lambda u, x_: u * dens(u) * kern(u, x_),
        "m2": lambda u, x_: u**2 * dens(u) * kern(u, x_),
    }
    out = {
        k: integrate.quad(
            f, lo, hi, args=(x,), points=points, epsabs=1e-14, epsrel=1e-12, limit=200
        )[0]
        for k, f in integrands.items()
    }
    out["m1"] /= out["p"]
    out["m2"] /= out["p"]
    return out


def test_tweedie_any_density():
    """Non-Gaussian law with jumps (uniform on [-1, 2]) by quadrature: the posterior mean of
    x_{t-1} equals (x + beta dlog p_t)/sqrt(alpha)."""
    assert_passed(run(rp.check_tweedie_any_density))
    alpha, beta = 0.7, 0.3
    for x in (-1.5, 0.0, 0.4, 2.5):
        q = _moments_by_quadrature(lambda u: np.full_like(u, 1 / 3), x, alpha, beta, -1.0, 2.0)
        close(q["m1"], (x + beta * q["dp"] / q["p"]) / np.sqrt(alpha), rtol=1e-9)
    # symbolic: the 1-D statement as integrals (independently of checks())
    t1 = tweedie_integrals(1)
    assert sp.simplify(split_integrals(t1["mean"][0] - t1["mean_score"][0])) == 0


def test_tweedie2_any_density():
    """Laplace law (not Gaussian, kink at 0): Var[x_{t-1} | x_t] = (beta/alpha)(1 + beta d2 log p_t)."""
    assert_passed(run(rp.check_tweedie2_any_density))
    alpha, beta = 0.8, 0.2
    for x in (-2.0, 0.1, 1.3):
        q = _moments_by_quadrature(
            lambda u: 0.5 * np.exp(-np.abs(u)), x, alpha, beta, -40, 40, [0.0]
        )
        hess_log = q["d2p"] / q["p"] - (q["dp"] / q["p"]) ** 2
        close(q["m2"] - q["m1"] ** 2, beta / alpha * (1 + beta * hess_log), rtol=1e-8)


def test_tweedie_mixture(rng):
    """Lambdified exact posterior moments of a 1-D two-component mixture equal the score forms
    computed by numerics.gmm (score and Hessian of the one-step-diffused mixture)."""
    assert_passed(run(rp.check_tweedie_mixture))
    tm = tweedie_mixture_1d()
    syms = sorted(tm["mean"].free_symbols, key=lambda z: z.name)
    names = [z.name for z in syms]
    f_mean, f_var = lam(tm["mean"], syms), lam(tm["var"], syms)
    for _ in range(5):
        alpha = rng.uniform(0.3, 0.999)
        vals = dict(
            alpha_t=alpha,
            beta_t=1 - alpha,
            w=rng.uniform(0.1, 0.9),
            mu_1=rng.normal(),
            mu_2=rng.normal() + 2,
            s_1=rng.uniform(0.05, 1),
            s_2=rng.uniform(0.05, 1),
            x=rng.normal(),
        )
        gm = GaussianMixture(
            [vals["w"], 1 - vals["w"]],
            [[vals["mu_1"]], [vals["mu_2"]]],
            [[[vals["s_1"]]], [[vals["s_2"]]]],
        )
        sched = _one_step(alpha)
        xx = np.array([[vals["x"]]])
        score = gm.score(xx, 1, sched)[0, 0]
        hess = gm.hessian(xx, 1, sched)[0, 0, 0]
        args = [vals[n] for n in names]
        close(f_mean(*args), (vals["x"] + (1 - alpha) * score) / np.sqrt(alpha), rtol=1e-8)
        close(f_var(*args), (1 - alpha) / alpha * (1 + (1 - alpha) * hess), rtol=1e-7)


def test_tweedie_discrete(rng):
    """Three atoms: the lambdified score forms (sympy derivatives of log p_t) equal the posterior
    moments over the atoms computed directly with numpy."""
    assert_passed(run(rp.check_tweedie_discrete))
    td = tweedie_discrete(3)
    x = sp.Symbol("x", real=True)
    u, w = sp.symbols("u_1:4", real=True), sp.symbols("w_1:4", positive=True)
    args = [x, alpha_t, beta_t, *u, *w]
    f_mean, f_var = lam(td["mean_score"], args), lam(td["var_score"], args)
    for _ in range(5):
        alpha = rng.uniform(0.3, 0.99)
        un, wn, xn = rng.normal(size=3) * 2, rng.dirichlet(np.ones(3)), rng.normal()
        post = wn * np.exp(-((xn - np.sqrt(alpha) * un) ** 2) / (2 * (1 - alpha)))
        post /= post.sum()
        mean = post @ un
        close(f_mean(xn, alpha, 1 - alpha, *un, *wn), mean, rtol=1e-8)
        close(f_var(xn, alpha, 1 - alpha, *un, *wn), post @ (un - mean) ** 2, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("dim", [2, 4])
def test_tweedie2_gaussian(rng, dim):
    """(beta/alpha)(I + beta Hess log p_t) with numerics.gmm's Hessian equals reverse_kernel's C_t."""
    assert_passed(run(rp.check_tweedie2_gaussian))
    f = lam(rp.tweedie_second_order_gaussian(S), KERNEL_ARGS, dim=dim)
    Sn = random_spd(rng, dim)
    gm = GaussianMixture([1.0], [rng.normal(size=dim)], [Sn])
    s = SCHEDULES[1]
    for t in (1, 5, s.T):
        _, C_ref = reverse_kernel(Sn, s, t)
        H = gm.hessian(rng.normal(size=(1, dim)), t, s)[0]
        close(s.beta[t] / s.alpha[t] * (np.eye(dim) + s.beta[t] * H), C_ref)
        close(f(Sn, *_vals(s, t)), C_ref)


def test_conditional_score(rng):
    """Gaussian prior N(mu, P), y = A x + n: the score of the diffused posterior (numerics.gmm)
    equals prior score + grad_x log p_t(y | x_t), the latter from the joint Gaussian of (x_t, y)."""
    assert_passed(run(rp.check_conditional_score))
    dim, k, sy = 3, 2, 0.4
    P, mu = random_spd(rng, dim), rng.normal(size=dim)
    A, y = rng.normal(size=(k, dim)), rng.normal(size=k)
    prior = GaussianMixture([1.0], [mu], [P])
    s = SCHEDULES[1]
    for t in (1, 9, s.T):
        ab = s.alpha_bar[t]
        x = rng.normal(size=dim)
        Sig_t = ab * P + (1 - ab) * np.eye(dim)
        J = A @ P @ np.linalg.solve(Sig_t, np.eye(dim)) * np.sqrt(ab)  # d mean(y|x_t) / d x_t
        mean_y = A @ mu + J @ (x - np.sqrt(ab) * mu)
        cov_y = A @ (P - ab * P @ np.linalg.solve(Sig_t, P)) @ A.T + sy**2 * np.eye(k)
        lik_grad = J.T @ np.linalg.solve(cov_y, y - mean_y)
        post = prior.posterior(A, sy, y)
        close(post.score(x[None], t, s)[0], prior.score(x[None], t, s)[0] + lik_grad, rtol=1e-8)
    # and the posterior itself is the linear-Gaussian one (sanity of the setting)
    m_ref, _ = linear_gaussian_posterior(mu, P, A, sy, y)
    close(post.means[0], m_ref)
