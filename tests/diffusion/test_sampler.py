"""diffusion.sampler: determinism, per-sample eta = separate runs, float32 vs float64, the
numpy ground-truth chain, respacing, callbacks, divergence, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion.guidance import DPSGuidance, ExactGuidance
from diffusion.models import Denoiser, X0Adapter
from diffusion.operators import Identity
from diffusion.priors.analytic import GaussianPrior
from diffusion.sampler import DivergenceError, sample
from numerics.chain import eta_chain
from numerics.schedule import linear_schedule, respace
from tests.diffusion._helpers import (  # noqa: F401
    SCHED,
    Y_BIMODAL,
    gen,
    one_thread,
    paper_gmm,
    paper_prior,
)

A2 = np.eye(2)


@pytest.fixture(scope="module")
def exact():
    """Exact guidance for the paper's mixture at the bimodal y (sigma_y = 0.5)."""
    return ExactGuidance.from_prior(paper_prior(), A2, 0.5, Y_BIMODAL)


def _x_T(n, seed=0, dtype=torch.float64):
    return torch.randn(n, 2, generator=gen(seed), dtype=torch.float64).to(dtype)


def test_eta_zero_is_deterministic_and_equals_numpy_chain(exact, device):
    """eta = 0: independent of the generator, and equal to numerics.chain.eta_chain's
    float64 result from the same x_T (an independent implementation of the same step)."""
    x_T = _x_T(64).to(device)
    kw = dict(guidance=exact, eta=0.0, variance="beta_tilde")
    a = sample(None, x_T, SCHED, generator=gen(1, device), **kw)
    b = sample(None, x_T, SCHED, generator=gen(2, device), **kw)
    assert torch.equal(a, b)
    post = exact.posterior.gmm
    ref = eta_chain(
        lambda x, t: post.score(x, t, SCHED),
        x_T.cpu().numpy(),
        SCHED,
        0.0,
        rng=np.random.default_rng(0),
    )
    np.testing.assert_allclose(a.cpu().numpy(), ref, rtol=0, atol=1e-11)


@pytest.mark.parametrize("variance", ["beta_tilde", "exact"])
@pytest.mark.parametrize("start", ["standard", "exact"])
def test_per_sample_eta_equals_separate_runs(exact, variance, start, device):
    """One batch with eta = (0, .3, 1) per block gives the numbers of three runs with a
    scalar eta and the same generator seed (the noise is drawn whatever eta is)."""
    n, etas = 16, (0.0, 0.3, 1.0)
    eta = torch.tensor(etas, dtype=torch.float64).repeat_interleave(n)  # 0.3 exactly as a float
    shape = (3 * n, 2)
    x_T = None if start == "exact" else _x_T(n).repeat(3, 1).to(device)
    init = shape if x_T is None else x_T
    kw = dict(guidance=exact, variance=variance, start=start, steps=200, dtype=torch.float64)
    batch = sample(None, init, SCHED, eta=eta, generator=gen(5, device), device=device, **kw)
    for j, e in enumerate(etas):
        single = sample(None, init, SCHED, eta=e, generator=gen(5, device), device=device, **kw)
        torch.testing.assert_close(
            batch[j * n : (j + 1) * n], single[j * n : (j + 1) * n], rtol=0, atol=0
        )


def test_per_sample_generators_equal_single_sample_runs(exact):
    """With one generator per sample, sample b depends only on (generator b, eta_b)."""
    etas = [0.0, 0.5, 1.0, 1.0]
    kw = dict(guidance=exact, variance="exact", start="exact", steps=100, dtype=torch.float64)
    batch = sample(
        None, (4, 2), SCHED, eta=torch.tensor(etas), generator=[gen(10 + b) for b in range(4)], **kw
    )
    for b, e in enumerate(etas):
        one = sample(None, (1, 2), SCHED, eta=e, generator=[gen(10 + b)], **kw)
        torch.testing.assert_close(batch[b : b + 1], one, rtol=1e-13, atol=1e-13)
    assert not torch.equal(batch[2], batch[3])  # different streams, different samples


@pytest.mark.parametrize("variance", ["beta_tilde", "exact"])
def test_float32_matches_float64(exact, variance, device):
    """Same x_T and seed (noise is drawn in float64 and cast): the float32 end point is within
    5 sqrt(T) eps32 max(1, |x|) of the float64 one (rounding accumulating as a random walk
    over T = 1000 contracting steps; measured 6.3e-6 / 3.8e-6, 2.9e-5 allowed)."""
    x_T = _x_T(256).to(device)
    kw = dict(guidance=exact, eta=torch.linspace(0, 1, 256), variance=variance)
    x64 = sample(None, x_T, SCHED, generator=gen(3, device), **kw)
    x32 = sample(None, x_T.float(), SCHED, generator=gen(3, device), **kw)
    assert x32.dtype == torch.float32 and x64.dtype == torch.float64
    scale = max(1.0, float(x64.abs().max()))
    tol = 5 * math.sqrt(SCHED.T) * torch.finfo(torch.float32).eps * scale
    err = float((x32.double() - x64).abs().max())
    assert err < tol, (err, tol)


def test_default_dtype_is_float32_and_shape_start():
    prior = GaussianPrior([0.0, 0.0, 0.0, 0.0], np.eye(4) * 0.3, SCHED)
    x = sample(prior, (2, 1, 2, 2), SCHED, eta=1.0, steps=10, generator=gen(0))
    assert x.dtype == torch.float32 and x.shape == (2, 1, 2, 2)


def test_respacing_and_callback():
    """steps=20: the model sees parent times timesteps[k]; the callback gets x_T .. x_0."""
    prior = paper_prior()
    seen, traj = [], []

    def model(x, t):
        seen.append(int(t[0]))
        return prior(x, t)

    out = sample(
        model,
        _x_T(8),
        SCHED,
        eta=0.5,
        steps=20,
        generator=gen(0),
        callback=lambda i, t, x, x0: traj.append((i, t, x.clone(), x0)),
    )
    ts = respace(SCHED, 20).timesteps
    assert seen == [int(ts[k]) for k in range(20, 0, -1)]
    assert [i for i, *_ in traj] == list(range(20, -1, -1))
    assert [t for _, t, *_ in traj] == [int(ts[i]) for i in range(20, -1, -1)]
    assert traj[0][3] is None and torch.equal(traj[-1][2], out)
    assert torch.equal(traj[0][2], _x_T(8))


def test_x0_adapter_network_runs_like_the_prior():
    """A network wrapped by an adapter is sampled exactly like the prior it wraps."""
    prior = paper_prior()
    net = X0Adapter(lambda x, t: prior(x, t), SCHED)
    a = sample(net, _x_T(8), SCHED, eta=1.0, steps=50, generator=gen(4))
    b = sample(prior, _x_T(8), SCHED, eta=1.0, steps=50, generator=gen(4))
    assert torch.equal(a, b)


def test_dps_divergence_is_detected_with_the_step(device):
    """DPS in the likelihood form at sigma_y = 0.01 with zeta = 1 blows up; the error names
    the step and the guidance, and no NaN is returned."""
    prior = GaussianPrior([0.0, 0.0], np.eye(2), SCHED)
    g = DPSGuidance(Identity(2), torch.tensor([0.5, -0.5]), 1.0, form="likelihood", sigma_y=0.01)
    with pytest.raises(DivergenceError, match=r"reverse step k=\d+ \(model time t=\d+\)") as err:
        sample(prior, (4, 2), SCHED, eta=1.0, guidance=g, generator=gen(0, device), device=device)
    assert 1 <= err.value.k <= SCHED.T and err.value.n_bad >= 1
    assert "DPSGuidance(form='likelihood'" in str(err.value)


@pytest.mark.parametrize("form, zeta", [("reference", 0.1), ("likelihood", 0.01)])
def test_dps_step_equals_numpy_dps(form, zeta, rng):
    """One DPS step through autograd equals numerics.dp_curve.dps_score (exact Jacobian from
    the prior's Hessian, float64 numpy): (x + beta s_dps)/sqrt(alpha) at random x and t."""
    from diffusion.schedule import TorchSchedule
    from numerics.dp_curve import dps_score

    g = DPSGuidance(Identity(2), torch.tensor(Y_BIMODAL), zeta, form=form, sigma_y=0.5)
    score = dps_score(paper_gmm(), A2, 0.5, Y_BIMODAL, SCHED, zeta=zeta, form=form)
    x = rng.normal(size=(16, 2))
    xt = torch.tensor(x)
    g.prepare(xt, torch.zeros(16, dtype=torch.float64))
    for k in (1, 10, 300, 999):
        st = TorchSchedule(SCHED).step(k)
        x0, delta = g(xt, st, torch.full((16,), k), paper_prior())
        mean = (st.c0 * x0 + st.cx * xt + delta).numpy()
        ref = (x + SCHED.beta[k] * score(x, k)) / np.sqrt(SCHED.alpha[k])
        np.testing.assert_allclose(mean, ref, rtol=1e-9, atol=1e-12)


def test_dps_likelihood_eta0_chain_equals_numpy_chain():
    """The whole deterministic (eta = 0) DPS chain, likelihood form (smooth in x), equals
    numerics.chain.eta_chain over dps_score from the same x_T. (The reference form's step
    has a fixed length as r -> 0, so its chains are too sensitive near y for such a check.)"""
    from numerics.dp_curve import dps_score

    sched = respace(SCHED, 100)
    g = DPSGuidance(Identity(2), torch.tensor(Y_BIMODAL), 0.01, form="likelihood", sigma_y=0.5)
    x_T = _x_T(32)
    got = sample(paper_prior(), x_T, SCHED, eta=0.0, guidance=g, steps=100, generator=gen(0))
    score = dps_score(paper_gmm(), A2, 0.5, Y_BIMODAL, sched, zeta=0.01, form="likelihood")
    ref = eta_chain(score, x_T.numpy(), sched, 0.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-9)


def test_dps_runs_end_to_end_on_the_mixture(device):
    prior = paper_prior()
    for form, kw in (("likelihood", dict(sigma_y=0.5, scale_by_beta=True)), ("reference", {})):
        g = DPSGuidance(
            Identity(2),
            torch.tensor(Y_BIMODAL),
            "paper_table1" if form == "reference" else 1.0,
            form=form,
            **kw,
        )
        x = sample(
            prior,
            (6, 2),
            SCHED,
            eta=torch.linspace(0, 1, 6),
            guidance=g,
            steps=50,
            generator=gen(0, device),
            device=device,
        )
        assert x.shape == (6, 2) and torch.isfinite(x).all()


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def gp():
    return GaussianPrior([0.0, 0.0], np.eye(2), SCHED)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eta=1.5), r"eta: expected values in \[0, 1\]"),
        (dict(eta=-0.1), r"eta: expected values in \[0, 1\]"),
        (dict(eta=torch.zeros(3)), r"eta: expected a scalar or shape \[4\]"),
        (dict(eta=float("nan")), "eta: contains NaN"),
        (dict(eta=0.5, steps=1001), r"steps: expected an integer in \[1, T=1000\]"),
        (dict(eta=0.5, steps=0), "steps"),
        (dict(eta=0.5, variance="ddim"), "variance"),
        (dict(eta=0.5, start="zero"), "start"),
        (dict(eta=0.5, dtype=torch.float16), "dtype"),
        (dict(eta=0.5, generator=[torch.Generator()]), "one generator per sample"),
        (dict(eta=0.5, max_abs=-1.0), "max_abs"),
    ],
)
def test_bad_arguments(gp, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(gp, (4, 2), SCHED, **kwargs)


def test_callback_not_callable_is_refused_before_any_step(gp):
    """It used to fail only at the first step, with "'int' object is not callable"."""
    calls = []

    def model(x, t):
        calls.append(1)
        return gp(x, t)

    model.schedule = gp.schedule
    with pytest.raises(TypeError, match="callback"):
        sample(model, (4, 2), SCHED, eta=0.5, steps=5, callback=42)
    assert calls == []


def test_non_finite_state_is_a_divergence_even_without_max_abs():
    """max_abs=None checks only for non-finite states: an Inf state is reported, not returned."""

    class Inf(Denoiser):
        def denoise(self, x_t, t):
            return torch.full_like(x_t, float("inf"))

    with pytest.raises(DivergenceError, match="non-finite values in 3 of 3 samples"):
        sample(Inf(SCHED), (3, 2), SCHED, eta=0.0, steps=5, max_abs=None, generator=gen(0))


def test_bad_states_models_and_laws(gp, exact):
    with pytest.raises(ValueError, match="x_T: contains NaN"):
        sample(gp, torch.tensor([[0.0, float("inf")]]), SCHED, eta=0.5)
    with pytest.raises(ValueError, match="pass its shape"):
        sample(gp, torch.zeros(2, 2), SCHED, eta=0.5, start="exact")
    with pytest.raises(ValueError, match="x_T: expected a shape"):
        sample(gp, (4,), SCHED, eta=0.5)
    with pytest.raises(ValueError, match=r"model: returned shape \[4, 1\]"):
        sample(lambda x, t: x[:, :1], (4, 2), SCHED, eta=0.5, steps=3)
    with pytest.raises(ValueError, match="base schedule"):
        sample(gp, (4, 2), linear_schedule(1000, 1e-4, 0.03), eta=0.5)
    with pytest.raises(ValueError, match="beyond the model's base"):
        sample(GaussianPrior([0.0], [[1.0]], linear_schedule(100)), (4, 1), SCHED, eta=0.5)
    dps = DPSGuidance(Identity(2), torch.zeros(2), 1.0, form="reference")
    with pytest.raises(ValueError, match="variance='exact' needs the Hessian"):
        sample(gp, (4, 2), SCHED, eta=0.5, guidance=dps, variance="exact")
    with pytest.raises(ValueError, match="variance='exact' needs the Hessian"):
        sample(lambda x, t: x, (4, 2), SCHED, eta=0.5, variance="exact")
    with pytest.raises(ValueError, match="start='exact' needs the exact law"):
        sample(lambda x, t: x, (4, 2), SCHED, eta=0.5, start="exact")
    with pytest.raises(ValueError, match="start='exact' needs the exact law"):
        sample(gp, (4, 2), SCHED, eta=0.5, guidance=dps, start="exact")
    with pytest.raises(ValueError, match="does not match the operator"):
        sample(gp, (4, 3), SCHED, eta=0.5, guidance=dps)
    with pytest.raises(ValueError, match="dimension 2"):
        sample(None, (4, 3), SCHED, eta=0.5, guidance=exact)
    with pytest.raises(ValueError, match="model: expected a denoiser"):
        sample(None, (4, 2), SCHED, eta=0.5, guidance=dps)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_fixed_horizon_chain_variance_matches_eta_chain_moments(variance):
    """Fixed-horizon T = 250 (β_1 = 4e-4, β_T = 0.08), posterior variances 5e-4 … 1: the
    per-direction variance of the η = 1 chain equals numerics.gaussian.eta_chain_moments.

    n = 20000 samples: a Gaussian variance estimate has relative sd sqrt(2/n) = 0.01; the
    tolerance is 4 sd. (The predicted ratios to the posterior variance are 0.44-1.70 here,
    so a rule or schedule mix-up would be off by far more.)"""
    from numerics.gaussian import eta_chain_moments

    lam = np.array([5e-4, 1e-3, 1e-2, 1.0])
    sched = linear_schedule(250, fixed_horizon=True)
    post = GaussianPrior(np.zeros(4), np.diag(lam), sched)
    n = 20000
    x = sample(post, (n, 4), sched, eta=1.0, guidance=ExactGuidance(post), variance=variance,
               generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # fmt: skip
    _, C = eta_chain_moments(
        np.zeros(4), np.diag(lam), 1.0, sched, start="standard", variance=variance
    )
    ratio = x.numpy().var(axis=0) / np.diag(C)
    assert np.all(np.abs(ratio - 1.0) <= 4 * math.sqrt(2.0 / n)), ratio
