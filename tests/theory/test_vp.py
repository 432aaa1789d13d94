"""theory.vp: identities checked by sympy, expressions cross-checked against numerics."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from numerics.gaussian import linear_gaussian_posterior
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule, respace
from tests.strategies import random_spd
from tests.theory.helpers import assert_checks_point_to_tests, assert_passed, close, col, lam, run
from theory import vp
from theory.symbols import SCHEDULE, S, alpha_t, alphabar_t, alphabar_tm1, beta_t, x_0, x_t

SCHEDULES = [
    linear_schedule(1000),
    linear_schedule(50, fixed_horizon=True),
    respace(linear_schedule(1000), 20),
]


def _sched_values(s, t):
    return dict(
        alpha_t=s.alpha[t],
        beta_t=s.beta[t],
        alphabar_t=s.alpha_bar[t],
        alphabar_tm1=s.alpha_bar[t - 1],
    )


def test_checks_point_to_tests():
    assert_checks_point_to_tests(vp.CHECKS, globals(), "vp_")


def test_forward_step(rng):
    assert_passed(run(vp.check_forward_step))
    coef, var = vp.forward_marginal_step()
    assert sp.simplify((var - (1 - alphabar_t)).xreplace(SCHEDULE)) == 0
    f = lam(sp.Matrix([coef, var]), [alpha_t, beta_t, alphabar_tm1])
    for s in SCHEDULES:
        for t in rng.integers(1, s.T + 1, size=5):
            c, v = f(s.alpha[t], s.beta[t], s.alpha_bar[t - 1]).ravel()
            close(c, np.sqrt(s.alpha_bar[t]))
            close(v, s.one_minus_alpha_bar[t])


def test_forward_unrolled():
    assert_passed(run(vp.check_forward_unrolled))
    s = linear_schedule(1000)
    for T in range(1, 5):
        coef, var, alphas = vp.forward_marginal_unrolled(T)
        vals = s.alpha[1 : T + 1]
        close(lam(var, alphas)(*vals), s.one_minus_alpha_bar[T], rtol=1e-12)
        close(lam(coef, alphas)(*vals), np.sqrt(s.alpha_bar[T]), rtol=1e-12)


def _q_reference(s, t, x0, xt, form="covariance"):
    """q(x_{t-1} | x_t, x_0) as a linear-Gaussian posterior: prior N(sqrt(ab_{t-1}) x0,
    1 - ab_{t-1}), measurement x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise."""
    m, S_ = linear_gaussian_posterior(
        [np.sqrt(s.alpha_bar[t - 1]) * x0],
        [[s.one_minus_alpha_bar[t - 1]]],
        [[np.sqrt(s.alpha[t])]],
        np.sqrt(s.beta[t]),
        [xt],
        form=form,
    )
    return m[0], S_[0, 0]


@pytest.mark.parametrize("form", ["joint", "ddpm", "square"])
def test_q_mean(rng, form):
    assert_passed(run(vp.check_q_mean))
    mean, var = vp.q_posterior(form)
    args = [x_t, x_0, alpha_t, beta_t, alphabar_t, alphabar_tm1]
    f = lam(sp.Matrix([mean, var]), args)
    for s in SCHEDULES:
        for t in rng.integers(2, s.T + 1, size=4):  # t >= 2: at t = 1 the posterior is a point mass
            x0, xt = rng.normal(size=2)
            m_ref, v_ref = _q_reference(s, t, x0, xt)
            m_, v_ = f(xt, x0, s.alpha[t], s.beta[t], s.alpha_bar[t], s.alpha_bar[t - 1]).ravel()
            close(m_, m_ref, rtol=1e-8)
            close(v_, v_ref, rtol=1e-8)


def test_q_variance():
    assert_passed(run(vp.check_q_variance))
    _, var = vp.q_posterior("joint")
    f = lam(var.xreplace(SCHEDULE), [alpha_t, alphabar_tm1])
    for s in SCHEDULES:
        t = np.arange(2, s.T + 1)
        close(f(s.alpha[t], s.alpha_bar[t - 1]), s.beta_tilde[t], rtol=1e-8)
    # beta_tilde_1 = 0: the derived variance vanishes at alphabar_0 = 1
    assert sp.simplify(var.xreplace(SCHEDULE).subs(alphabar_tm1, 1)) == 0


def test_completed_square(rng):
    assert_passed(run(vp.check_completed_square))
    precision, linear = vp.completed_square()
    _, var_ddpm = vp.q_posterior("ddpm")
    assert sp.simplify((precision * var_ddpm).xreplace(SCHEDULE) - 1) == 0
    f = lam(sp.Matrix([precision, linear]), [x_t, x_0, alpha_t, beta_t, alphabar_tm1])
    s = SCHEDULES[0]
    for t in rng.integers(2, s.T + 1, size=5):
        x0, xt = rng.normal(size=2)
        m_ref, v_ref = _q_reference(s, t, x0, xt, form="information")
        prec, lin = f(xt, x0, s.alpha[t], s.beta[t], s.alpha_bar[t - 1]).ravel()
        close(1 / prec, v_ref, rtol=1e-8)
        close(lin / prec, m_ref, rtol=1e-8)


@pytest.mark.parametrize("dim", [1, 2, 4])
def test_matrix_marginal(rng, dim):
    assert_passed(run(vp.check_matrix_marginal))
    f = lam(vp.diffused_covariance(S, alphabar_t), [S, alphabar_t], dim=dim)
    s = SCHEDULES[0]
    Sn = random_spd(rng, dim)
    gm = GaussianMixture([1.0], [rng.normal(size=dim)], [Sn])
    for t in (1, 17, 500, 1000):
        close(f(Sn, s.alpha_bar[t]), gm.diffused(s, t).covs[0])


@pytest.mark.parametrize("dim", [1, 3])
def test_matrix_q_posterior(rng, dim):
    assert_passed(run(vp.check_matrix_q_posterior))
    mean, cov = vp.q_posterior_matrix()
    xt_s = sp.MatrixSymbol("x_t", vp.d, 1)
    x0_s = sp.MatrixSymbol("x_0", vp.d, 1)
    args = [xt_s, x0_s, alpha_t, alphabar_t, alphabar_tm1]
    fm = lam(mean, args, dim=dim)
    fc = lam(cov, args, dim=dim)
    s = SCHEDULES[2]
    t = 7
    x0, xt = rng.normal(size=(2, dim))
    m_ref, S_ref = linear_gaussian_posterior(
        np.sqrt(s.alpha_bar[t - 1]) * x0,
        s.one_minus_alpha_bar[t - 1] * np.eye(dim),
        np.sqrt(s.alpha[t]) * np.eye(dim),
        np.sqrt(s.beta[t]),
        xt,
    )
    vals = (col(xt), col(x0), s.alpha[t], s.alpha_bar[t], s.alpha_bar[t - 1])
    close(fm(*vals).ravel(), m_ref, rtol=1e-8)
    close(fc(*vals), S_ref, rtol=1e-8)
    close(np.diag(S_ref), s.beta_tilde[t], rtol=1e-8)
