"""Tests of diffusion.baselines.diffpir: the data step (the operators' prox_l2) against a dense
solve for every operator type, the chain against closed forms for a Gaussian prior (exact
conditional Tweedie step, the posterior-mean trajectory, the DDIM product, the sigma_y -> 0
expansion), noise, divergence and bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from diffusion.baselines.diffpir import data_step, diffpir, rho_schedule
from diffusion.models import Denoiser
from diffusion.operators import (
    AveragePoolSR,
    DenseOperator,
    GaussianBlur,
    Identity,
    Inpainting,
    random_mask,
)
from diffusion.priors.analytic import GaussianPrior
from diffusion.sampler import DivergenceError
from numerics.schedule import linear_schedule, respace
from tests.diffusion._helpers import gen, one_thread  # noqa: F401  (autouse fixture)
from tests.strategies import random_operator, random_spd, seeds

SCHED = linear_schedule(1000)


# --------------------------------------------------------------------------- data step


def _dense_reference(op, y, x0, rho):
    """np.linalg.solve(A^T A + rho I, A^T y + rho x0), per sample, float64."""
    M = op.as_matrix().numpy()
    B = y.shape[0]
    rhs = y.reshape(B, -1).numpy() @ M + rho * x0.reshape(B, -1).numpy()
    return np.linalg.solve(M.T @ M + rho * np.eye(M.shape[1]), rhs.T).T


def _check_against_dense(op, seed, rho, B=2):
    g = gen(seed)
    x0 = torch.randn((B, *op.in_shape), generator=g, dtype=torch.float64)
    y = torch.randn((B, *op.out_shape), generator=g, dtype=torch.float64)
    ref = _dense_reference(op, y, x0, rho)
    out = data_step(op, y, x0, rho)
    assert out.shape == x0.shape and out.dtype == torch.float64
    err = np.abs(out.reshape(B, -1).numpy() - ref).max()
    assert err <= 1e-10 * max(1.0, np.abs(ref).max()), err


rhos = st.floats(min_value=1e-3, max_value=1e2)
sizes = st.integers(min_value=1, max_value=9)


@given(
    seed=seeds,
    rho=rhos,
    k=st.sampled_from([1, 3, 5, 9, 61]),
    std=st.floats(min_value=0.3, max_value=3.0),
    C=st.integers(1, 2),
    H=sizes,
    W=sizes,
    boundary=st.sampled_from(GaussianBlur.BOUNDARIES),
)
def test_blur_step_matches_dense(seed, rho, k, std, C, H, W, boundary):
    _check_against_dense(GaussianBlur(k, std, (C, H, W), boundary=boundary), seed, rho)


@given(
    seed=seeds,
    rho=rhos,
    f=st.sampled_from([1, 2, 3, 4]),
    C=st.integers(1, 2),
    h=st.integers(1, 3),
    w=st.integers(1, 3),
)
def test_sr_step_matches_dense(seed, rho, f, C, h, w):
    _check_against_dense(AveragePoolSR(f, (C, f * h, f * w)), seed, rho)


@given(seed=seeds, rho=rhos, frac=st.floats(0.0, 1.0), C=st.integers(1, 2), H=sizes, W=sizes)
def test_inpainting_step_matches_dense(seed, rho, frac, C, H, W):
    mask = random_mask((C, H, W), frac, gen(seed))
    _check_against_dense(Inpainting(mask), seed, rho)


@given(seed=seeds, rho=rhos, kind=st.sampled_from(["wide", "tall", "square", "blur"]))
def test_generic_step_matches_dense(seed, rho, kind):
    """DenseOperator: the cached thin-SVD route."""
    op = DenseOperator(random_operator(np.random.default_rng(seed), 7, kind))
    _check_against_dense(op, seed, rho)
    assert op._svd is not None  # decomposed once, kept by the operator for the next call


@pytest.mark.parametrize("shape", [(2, 3, 4), (5,)])
def test_identity_step_matches_dense(shape):
    _check_against_dense(Identity(shape), 3, 0.7)


@pytest.mark.parametrize(
    "op",
    [
        GaussianBlur(9, 1.5, (1, 16, 16), boundary="reflect"),
        GaussianBlur(9, 1.5, (1, 16, 16), boundary="circular"),
        AveragePoolSR(4, (1, 16, 16)),
        Inpainting(random_mask((1, 16, 16), 0.5, gen(0))),
    ],
    ids=repr,
)
def test_step_float32_and_device(op, device):
    """float32 on any device agrees with float64 to a few float32 roundoffs x cond(A^T A + rho)."""
    g = gen(1)
    x0 = torch.randn((3, *op.in_shape), generator=g, dtype=torch.float64)
    y = torch.randn((3, *op.out_shape), generator=g, dtype=torch.float64)
    rho = 0.1
    ref = data_step(op, y, x0, rho)
    out = data_step(op, y.float().to(device), x0.float().to(device), rho)
    assert out.dtype == torch.float32 and out.device.type == device
    # eigenvalues of A^T A lie in [0, 1] for these operators: cond <= (1 + rho) / rho = 11
    tol = 50 * 2.0**-24 * (1 + rho) / rho * ref.abs().max().item()
    assert (out.cpu().double() - ref).abs().max().item() <= tol


# --------------------------------------------------------------------------- Gaussian prior


def _iso_problem(rng, d=3, m=2, s2=0.4, sigma_y=0.3):
    """Isotropic prior N(mu, s2 I), a wide operator, y, and the exact posterior (m, S_y)."""
    mu = rng.normal(size=d)
    A = rng.normal(size=(m, d)) / np.sqrt(d)
    x = mu + np.sqrt(s2) * rng.normal(size=d)
    y = A @ x + sigma_y * rng.normal(size=m)
    prior = GaussianPrior(mu, s2 * np.eye(d), SCHED)
    post = prior.posterior(A, sigma_y, y)
    return prior, post, DenseOperator(A), torch.from_numpy(y)[None]


def _exact_lam(s2):
    """lambda(sigma_bar) = 1 + sigma_bar^2 / s2: rho = sigma_y^2 Cov[x0 | x_t]^{-1} (isotropic)."""
    return lambda sb: 1.0 + sb**2 / s2


@given(seed=seeds, sigma_y=st.floats(0.01, 1.0), t=st.integers(1, 1000))
def test_isotropic_step_is_exact_conditional_tweedie(seed, sigma_y, t):
    """With S = s2 I and lambda = 1 + sigma_bar^2/s2, the data step applied to the prior's
    Tweedie mean is E[x0 | x_t, y] (the posterior's own Tweedie mean), for any x_t and t."""
    rng = np.random.default_rng(seed)
    s2 = 0.4
    prior, post, op, y = _iso_problem(rng, s2=s2, sigma_y=sigma_y)
    x_t = torch.from_numpy(rng.normal(size=(4, 3)))
    tt = torch.full((4,), t)
    rho = rho_schedule(SCHED, sigma_y, _exact_lam(s2))[t]
    out = data_step(op, y.expand(4, -1), prior(x_t, tt), rho)
    ref = post(x_t, tt)
    assert (out - ref).abs().max().item() <= 1e-10 * max(1.0, ref.abs().max().item())


def test_anisotropic_step_is_not_exact():
    """No isotropic rho reproduces sigma_y^2 (S^-1 + sigma_bar^-2 I) when S is not isotropic:
    the best scalar (any lambda) misses E[x0 | x_t, y] by an O(1) amount."""
    rng = np.random.default_rng(5)
    d, sigma_y, t = 3, 0.3, 300
    S = np.diag([0.05, 0.5, 5.0])
    A = np.eye(d)
    y = rng.normal(size=d)
    prior = GaussianPrior(np.zeros(d), S, SCHED)
    post = prior.posterior(A, sigma_y, y)
    x_t = torch.from_numpy(rng.normal(size=(1, d)))
    ref = post(x_t, torch.tensor([t]))
    x0 = prior(x_t, torch.tensor([t]))
    errs = [
        (data_step(Identity(d), torch.from_numpy(y)[None], x0, r) - ref).abs().max().item()
        for r in np.geomspace(1e-3, 1e3, 61)
    ]
    assert min(errs) > 1e-2


@pytest.mark.parametrize("steps", [1, 7, 100])
def test_posterior_mean_trajectory_is_exact(steps, rng):
    """Exact conditional step (isotropic prior, lambda = 1 + sigma_bar^2/s2), zeta = 0, started at
    x_T = sqrt(ab_T) m: every step has x0' = m and eps_hat = 0, so the output is m exactly."""
    s2 = 0.4
    prior, post, op, y = _iso_problem(rng, s2=s2)
    ab_T = respace(SCHED, steps).alpha_bar[-1]
    x_T = torch.from_numpy(math.sqrt(ab_T) * post.loc)[None]
    out = diffpir(prior, y, op, 0.3, steps=steps, zeta=0.0, lam=_exact_lam(s2), x_T=x_T)
    assert np.abs(out.numpy()[0] - post.loc).max() <= 1e-12 * max(1.0, np.abs(post.loc).max())
    # the constant lambda of the paper does not stay on it
    out7 = diffpir(prior, y, op, 0.3, steps=steps, zeta=0.0, lam=7.0, x_T=x_T)
    assert np.abs(out7.numpy()[0] - post.loc).max() > 1e-3


def test_ddim_product_from_any_start(rng):
    """Exact conditional step, zeta = 0: in u = x/sqrt(ab) the step is
    u_{k-1} - m = (S_y + sb_{k-1} sb_k)(S_y + sb_k^2)^{-1}(u_k - m), so the output is
    m + U diag(prod_k (s_i + sb_{k-1} sb_k)/(s_i + sb_k^2)) U^T (x_T/sqrt(ab_T) - m)."""
    s2, steps = 0.4, 50
    prior, post, op, y = _iso_problem(rng, s2=s2)
    sched = respace(SCHED, steps)
    sb = np.sqrt(sched.one_minus_alpha_bar / sched.alpha_bar)  # sb[0] = 0
    s, U = np.linalg.eigh(post.cov)
    g = np.prod([(s + sb[k - 1] * sb[k]) / (s + sb[k] ** 2) for k in range(1, steps + 1)], axis=0)
    x_T = torch.from_numpy(rng.normal(size=(5, 3)))
    out = diffpir(
        prior, y.expand(5, -1), op, 0.3, steps=steps, zeta=0.0, lam=_exact_lam(s2), x_T=x_T
    )
    u_T = x_T.numpy() / math.sqrt(sched.alpha_bar[-1])
    ref = post.loc + (u_T - post.loc) @ (U * g) @ U.T
    assert np.abs(out.numpy() - ref).max() <= 1e-10 * max(1.0, np.abs(ref).max())


def test_zeta_noise_mean_and_covariance(rng):
    """zeta > 0 from x_T = sqrt(ab_T) m with the exact conditional step: in u = x/sqrt(ab),
    u_{k-1} - m = c_k (u_k - m) + sb_{k-1} sqrt(zeta) eps along each eigenvector of S_y (eigenvalue
    s), c_k = (s + sqrt(1 - zeta) sb_{k-1} sb_k)/(s + sb_k^2). So E[output] = m and its variance
    along that eigenvector is v_0 from v_{k-1} = c_k^2 v_k + zeta sb_{k-1}^2, v_T = 0 (the output
    is Gaussian). n = 4000 runs; 4 Monte-Carlo sd: sd(mean) from the sample, sd of a sample
    variance v sqrt(2/(n-1))."""
    s2, n, steps, zeta = 0.4, 4000, 20, 0.3
    prior, post, op, y = _iso_problem(rng, s2=s2)
    sched = respace(SCHED, steps)
    ab_T = sched.alpha_bar[-1]
    x_T = torch.from_numpy(math.sqrt(ab_T) * post.loc)[None].expand(n, -1)
    out = diffpir(
        prior,
        y.expand(n, -1),
        op,
        0.3,
        steps=steps,
        zeta=zeta,
        lam=_exact_lam(s2),
        x_T=x_T,
        generator=gen(11),
    ).numpy()
    sd = out.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(out.mean(axis=0) - post.loc) <= 4 * sd)
    sb = np.sqrt(sched.one_minus_alpha_bar / sched.alpha_bar)
    s, U = np.linalg.eigh(post.cov)
    v = np.zeros(3)
    for k in range(steps, 0, -1):
        c = (s + math.sqrt(1 - zeta) * sb[k - 1] * sb[k]) / (s + sb[k] ** 2)
        v = c**2 * v + zeta * sb[k - 1] ** 2
    v_hat = np.diag(U.T @ np.cov(out.T) @ U)
    assert np.all(np.abs(v_hat - v) <= 4 * v * math.sqrt(2 / (n - 1)))


def test_small_sigma_expansion(rng):
    """Constant lambda, square invertible A, y fixed: every rho_k -> 0 as sigma_y -> 0 and
    out = A^-1 y + rho_1 (A^T A)^-1 (x0_hat(x_1) - A^-1 y) + O(sigma_y^4), with x_1 from the
    sigma_y = 0 chain (u_1 = A^-1 y + (sb_1/sb_T)(u_T - A^-1 y)); the posterior mean is
    m = A^-1 y - sigma_y^2 (A^T A)^-1 S^-1 (A^-1 y - mu) + O(sigma_y^4). So DiffPIR reaches the
    posterior mean only as sigma_y -> 0, with (out - m)/sigma_y^2 -> L below, not 0."""
    d, lam, steps = 3, 7.0, 100
    S = random_spd(rng, d, cond=10.0)
    mu = rng.normal(size=d)
    A = np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    y = rng.normal(size=d)
    prior = GaussianPrior(mu, S, SCHED)
    sched = respace(SCHED, steps)
    ab, omab = sched.alpha_bar, sched.one_minus_alpha_bar
    sb = np.sqrt(omab / ab)
    x_T = rng.normal(size=d)
    xls = np.linalg.solve(A, y)
    u1 = xls + sb[1] / sb[-1] * (x_T / math.sqrt(ab[-1]) - xls)
    x1 = math.sqrt(ab[1]) * u1
    t1 = int(sched.timesteps[1])
    Sig = SCHED.alpha_bar[t1] * S + SCHED.one_minus_alpha_bar[t1] * np.eye(d)
    x0_1 = mu + math.sqrt(SCHED.alpha_bar[t1]) * S @ np.linalg.solve(
        Sig, x1 - math.sqrt(SCHED.alpha_bar[t1]) * mu
    )
    G = np.linalg.inv(A.T @ A)
    L = G @ (lam / sb[1] ** 2 * (x0_1 - xls) + np.linalg.solve(S, xls - mu))
    sigma_y = 1e-4
    post = prior.posterior(A, sigma_y, y)
    out = diffpir(
        prior,
        torch.from_numpy(y)[None],
        DenseOperator(A),
        sigma_y,
        steps=steps,
        zeta=0.0,
        lam=lam,
        x_T=torch.from_numpy(x_T)[None],
    ).numpy()[0]
    got = (out - post.loc) / sigma_y**2
    # neglected terms are O(rho_1 ||(A^T A)^-1||) relative to the leading one (rho_1 is the
    # largest rho_k); factor 10 for the O() constants
    tol = 10 * lam * sigma_y**2 / sb[1] ** 2 * np.linalg.norm(G, 2)
    assert np.linalg.norm(got - L) <= tol * np.linalg.norm(L)
    assert np.linalg.norm(L) > 1.0  # the limit is not the posterior mean's own expansion


def test_rho_schedule_formula():
    s = respace(SCHED, 10)
    r = rho_schedule(s, 0.2, 3.0)
    k = np.arange(1, 11)
    sb2 = s.one_minus_alpha_bar[k] / s.alpha_bar[k]
    assert np.allclose(r[k], 3.0 * 0.04 / sb2, rtol=1e-14, atol=0)
    assert np.isinf(r[0])


# --------------------------------------------------------------------------- chain plumbing


def test_float32_matches_float64_and_reproducible(device):
    """Same generator: float32 and float64 see the same noise; runs are reproducible."""
    rng = np.random.default_rng(2)
    S = random_spd(rng, 16, cond=10.0, scale=0.3)
    prior = GaussianPrior(np.zeros(16), S, SCHED)
    op = GaussianBlur(3, 1.0, (1, 4, 4), boundary="reflect")
    y = torch.from_numpy(rng.normal(size=(2, 1, 4, 4)) * 0.5)
    a = diffpir(prior, y, op, 0.1, steps=20, generator=gen(4))
    b = diffpir(prior, y, op, 0.1, steps=20, generator=gen(4))
    assert torch.equal(a, b)
    if device == "cpu":
        c = diffpir(prior, y.float(), op, 0.1, steps=20, generator=gen(4))
        assert c.dtype == torch.float32
        # rounding accumulating as a random walk over the steps, as in the sampler's
        # test_float32_matches_float64: 5 sqrt(T) eps_32 max(1, |x|) (2.1e-6; measured 1.8e-7)
        tol = 5 * math.sqrt(20) * 2.0**-24 * max(1.0, a.abs().max().item())
        assert (c.double() - a).abs().max().item() <= tol
    # zeta = 0 from a given x_T is deterministic: the device's run equals the CPU's (float64)
    x_T = torch.from_numpy(rng.normal(size=(2, 1, 4, 4)))
    ref = diffpir(prior, y, op, 0.1, steps=20, zeta=0.0, x_T=x_T)
    out = diffpir(prior, y.to(device), op, 0.1, steps=20, zeta=0.0, x_T=x_T.to(device))
    assert out.device.type == device
    assert (out.cpu() - ref).abs().max().item() <= 1e-10


class _Blowup(Denoiser):
    """Returns zeros for t >= 500 and `value` below: a denoiser that breaks mid-run."""

    def __init__(self, value):
        super().__init__(SCHED)
        self.value = value

    def denoise(self, x_t, t):
        return torch.full_like(x_t, self.value) if int(t[0]) < 500 else torch.zeros_like(x_t)


@pytest.mark.parametrize("value, what", [(float("nan"), "non-finite"), (1e6, "|x| > 1000")])
def test_divergence_is_reported(value, what):
    op = Identity(4)
    y = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(DivergenceError, match="DiffPIR diverged") as info:
        diffpir(_Blowup(value), y, op, 0.1, steps=10, generator=gen(0))
    assert info.value.k == 4 and info.value.t_model == 400 and info.value.n_bad == 2
    assert what in str(info.value)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(zeta=-0.1), "zeta"),
        (dict(zeta=1.5), "zeta"),
        (dict(zeta="a"), "zeta"),
        (dict(lam=0.0), "lam"),
        (dict(lam=-1.0), "lam"),
        (dict(lam=lambda sb: 0.0), "lam"),
        (dict(sigma_y=0.0), "sigma_y"),
        (dict(sigma_y=-0.1), "sigma_y"),
        (dict(steps=0), "steps"),
        (dict(steps=1001), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(y=torch.zeros(2, 5, dtype=torch.float64)), "y"),
        (dict(y=torch.full((2, 4), float("nan"), dtype=torch.float64)), "y"),
        (dict(x_T=torch.zeros(2, 3, dtype=torch.float64)), "x_T"),
        (dict(operator=np.eye(4)), "operator"),
        (dict(model=lambda x, t: x), "model"),
        (dict(generator=0), "generator"),
        (dict(max_abs=0.0), "max_abs"),
    ],
)
def test_bad_arguments(kwargs, name):
    args = dict(
        model=GaussianPrior(np.zeros(4), np.eye(4), SCHED),
        y=torch.zeros(2, 4, dtype=torch.float64),
        operator=Identity(4),
        sigma_y=0.1,
    )
    args.update(kwargs)
    model, y, operator, sigma_y = (args.pop(k) for k in ("model", "y", "operator", "sigma_y"))
    with pytest.raises(ValueError, match=name):
        diffpir(model, y, operator, sigma_y, **args)


def test_data_step_bad_rho():
    with pytest.raises(ValueError, match="rho"):
        data_step(Identity(2), torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
