"""Valid tiny calls of the diffusion core: schedule, models, guidance, sampler, operators,
analytic priors."""

from __future__ import annotations

import numpy as np
import torch

from diffusion import guidance, models, operators, sampler
from diffusion import schedule as dsched
from diffusion.priors import GaussianPrior, MixturePrior
from numerics.schedule import linear_schedule
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry, exempt
from tests.fuzz.registry_numerics import mixture, spd

F64 = torch.float64
IMG = (1, 4, 4)


def sched(T: int = 5):
    return linear_schedule(T)


def gen(seed: int = 0):
    return torch.Generator().manual_seed(seed)


def x2(n: int = 3, d: int = 2):
    return torch.randn(n, d, generator=gen(1), dtype=F64)


def img(n: int = 2):
    return torch.randn(n, *IMG, generator=gen(2), dtype=F64)


def tvec(n: int = 3, t: int = 3):
    return torch.full((n,), t, dtype=torch.int64)


def prior():
    return MixturePrior(mixture(), sched())


def gprior():
    return GaussianPrior(np.zeros(2), spd(), sched())


def blur():
    return operators.GaussianBlur(3, 1.0, IMG)


def _net(x, t):
    return 0.1 * x


# --------------------------------------------------------------------------- schedule
@entry("diffusion.schedule.TorchSchedule")
def _(tmp):
    return call(dsched.TorchSchedule, sched(), then=lambda ts: (ts.T, ts.step(1)))


@entry("diffusion.schedule.TorchSchedule.gather")
def _(tmp):
    return call(dsched.TorchSchedule(sched()).gather, "beta", K(tvec(), "time"), x2())


@entry("diffusion.schedule.TorchSchedule.step")
def _(tmp):
    return call(dsched.TorchSchedule(sched()).step, K(3, "index"))


@entry("diffusion.schedule.append_dims")
def _(tmp):
    return call(dsched.append_dims, torch.ones(3), K(4, "count"))


@entry("diffusion.schedule.as_torch_schedule")
def _(tmp):
    return call(dsched.as_torch_schedule, sched())


exempt(
    "diffusion.schedule.StepCoefficients",
    "plain frozen record of floats, built by TorchSchedule.step (fuzzed)",
)


# --------------------------------------------------------------------------- models
@entry("diffusion.models.check_time")
def _(tmp):
    return call(models.check_time, K(tvec(), "time"), x2(), name=fixed("x"), T=K(5, "count"))


@entry("diffusion.models.call_denoiser")
def _(tmp):
    return call(models.call_denoiser, K(prior(), "model"), x2(), K(tvec(), "time"))


@entry("diffusion.models.score_from_denoiser")
def _(tmp):
    return call(models.score_from_denoiser, x2(), x2(), K(tvec(), "time"), sched())


@entry("diffusion.models.eps_from_denoiser")
def _(tmp):
    return call(models.eps_from_denoiser, x2(), x2(), K(tvec(), "time"), sched())


@entry("diffusion.models.Denoiser")
def _(tmp):
    return call(models.Denoiser, sched())


exempt(
    "diffusion.models.Denoiser.denoise",
    "abstract (raises NotImplementedError); every subclass's denoise is fuzzed",
)


@entry("diffusion.models.Denoiser.__call__")
def _(tmp):
    return call(prior().__call__, x2(), K(tvec(), "time"))


@entry("diffusion.models.Denoiser.score")
def _(tmp):
    p = models.X0Adapter(_net, sched())
    return call(models.Denoiser.score.__get__(p), x2(), K(tvec(), "time"))


for _cls in ("EpsilonAdapter", "X0Adapter", "ScoreAdapter"):

    def _ctor(tmp, _cls=_cls):
        return call(
            getattr(models, _cls),
            K(_net, "model"),
            sched(),
            clip=K((-1.0, 1.0), "list"),
            then=lambda a: a(x2(), 3),
        )

    def _den(tmp, _cls=_cls):
        return call(
            getattr(models, _cls)(_net, sched(), clip=(-1.0, 1.0)).denoise, x2(), K(tvec(), "time")
        )

    entry(f"diffusion.models.{_cls}")(_ctor)
    entry(f"diffusion.models.{_cls}.denoise")(_den)


# --------------------------------------------------------------------------- operators
def _probe_own_shape(op):  # a nonsense shape argument changes in_shape: probe with it
    return op.A(torch.randn(2, *op.in_shape, generator=gen(2), dtype=F64))


@entry("diffusion.operators.Identity")
def _(tmp):
    return call(operators.Identity, K(IMG, "shape"), then=_probe_own_shape)


@entry("diffusion.operators.DenseOperator")
def _(tmp):
    return call(
        operators.DenseOperator,
        np.array([[1.0, 0.5], [0.0, 1.0], [2.0, 0.0]]),
        then=_probe_own_shape,
    )


@entry("diffusion.operators.GaussianBlur")
def _(tmp):
    return call(
        operators.GaussianBlur,
        K(3, "count"),
        K(1.0, "sigma"),
        K(IMG, "shape"),
        boundary="zero",
        then=lambda op: op.A(img()),
    )


@entry("diffusion.operators.AveragePoolSR")
def _(tmp):
    return call(
        operators.AveragePoolSR, K(2, "count"), K(IMG, "shape"), then=lambda op: op.A(img())
    )


@entry("diffusion.operators.Inpainting")
def _(tmp):
    m = np.ones(IMG)
    m[0, 1:3, 1:3] = 0
    return call(operators.Inpainting, m, then=_probe_own_shape)


def _ops():
    m = np.ones(IMG)
    m[0, :2, :2] = 0
    return {
        "blur": blur(),
        "pool": operators.AveragePoolSR(2, IMG),
        "mask": operators.Inpainting(m),
    }


@entry("diffusion.operators.LinearOperator.A")
def _(tmp):
    return call(blur().A, img())


@entry("diffusion.operators.LinearOperator.A_adjoint")
def _(tmp):
    return call(blur().A_adjoint, img())


@entry("diffusion.operators.LinearOperator.__call__")
def _(tmp):
    return call(operators.AveragePoolSR(2, IMG).__call__, img())


@entry("diffusion.operators.LinearOperator.forward")
def _(tmp):
    return call(blur().forward, img(), noise=K(operators.GaussianNoise(0.1, seed=0), "callable"))


@entry("diffusion.operators.LinearOperator.check_input")
def _(tmp):
    return call(blur().check_input, img(), fixed("x"))


@entry("diffusion.operators.LinearOperator.check_measurement")
def _(tmp):
    return call(blur().check_measurement, img(), fixed("y"))


@entry("diffusion.operators.LinearOperator.as_matrix")
def _(tmp):
    return call(
        blur().as_matrix,
        K(F64, "dtype"),
        device=K("cpu", "device"),
        batch_size=K(8, "count"),
        max_entries=K(10**6, "count"),
    )


@entry("diffusion.operators.GaussianNoise")
def _(tmp):
    return call(
        operators.GaussianNoise, K(0.1, "sigma"), seed=K(0, "seed"), then=lambda n: n(img())
    )


@entry("diffusion.operators.GaussianNoise.generator")
def _(tmp):
    return call(operators.GaussianNoise(0.1, seed=0).generator, K("cpu", "device"))


@entry("diffusion.operators.GaussianNoise.sample")
def _(tmp):
    return call(operators.GaussianNoise(0.1, seed=0).sample, img())


@entry("diffusion.operators.GaussianNoise.__call__")
def _(tmp):
    return call(operators.GaussianNoise(0.1, seed=0).__call__, img())


@entry("diffusion.operators.adjointness_test")
def _(tmp):
    return call(
        operators.adjointness_test,
        K(blur(), "object"),
        batch=K(2, "count"),
        dtype=K(F64, "dtype"),
        generator=gen(),
        device=K("cpu", "device"),
    )


@entry("diffusion.operators.box_mask")
def _(tmp):
    return call(operators.box_mask, K((4, 4), "shape"), K((1, 1, 2, 2), "shape"))


@entry("diffusion.operators.random_mask")
def _(tmp):
    return call(operators.random_mask, K((4, 4), "shape"), K(0.5, "prob"), gen())


# --------------------------------------------------------------------------- priors
def _probe_prior(p):
    return p.mean(), p.mmse(), p(x2(), 3)


@entry("diffusion.priors.MixturePrior")
def _(tmp):
    return call(MixturePrior, K(mixture(), "object"), sched(), then=_probe_prior)


@entry("diffusion.priors.MixturePrior.from_arrays")
def _(tmp):
    g = mixture()
    return call(
        MixturePrior.from_arrays,
        K(g.weights, "weights"),
        g.means,
        K(g.covs, "covs"),
        sched(),
        then=_probe_prior,
    )


for _m in ("denoise", "score", "logpdf", "responsibilities", "hessian"):

    def _f(tmp, _m=_m):
        return call(getattr(prior(), _m), x2(), K(tvec(), "time"))

    entry(f"diffusion.priors.MixturePrior.{_m}")(_f)


@entry("diffusion.priors.MixturePrior.mean_xt")
def _(tmp):
    return call(prior().mean_xt, K(3, "index"))


@entry("diffusion.priors.MixturePrior.sample_xt")
def _(tmp):
    return call(
        prior().sample_xt,
        K(4, "count"),
        K(3, "index"),
        generator=gen(),
        dtype=K(F64, "dtype"),
        device=K("cpu", "device"),
    )


@entry("diffusion.priors.MixturePrior.sample")
def _(tmp):
    return call(
        prior().sample,
        K(4, "count"),
        generator=gen(),
        dtype=K(F64, "dtype"),
        device=K("cpu", "device"),
    )


@entry("diffusion.priors.MixturePrior.posterior")
def _(tmp):
    return call(
        prior().posterior,
        np.array([[1.0, 0.5]]),
        K(0.5, "sigma"),
        np.array([0.3]),
        then=_probe_prior,
    )


@entry("diffusion.priors.GaussianPrior")
def _(tmp):
    return call(GaussianPrior, np.zeros(2), K(spd(), "cov"), sched(), then=_probe_prior)


@entry("diffusion.priors.GaussianPrior.posterior")
def _(tmp):
    return call(
        gprior().posterior,
        np.array([[1.0, 0.5]]),
        K(0.5, "sigma"),
        np.array([0.3]),
        then=_probe_prior,
    )


# --------------------------------------------------------------------------- guidance
@entry("diffusion.guidance.zeta_function")
def _(tmp):
    return call(
        guidance.zeta_function,
        K({0.0: 1.0, 1.0: 3.0}, "zeta"),
        then=lambda f: f(np.array([0.0, 0.5, 1.0])),
    )


def dps():
    op = operators.Identity((2,))
    return guidance.DPSGuidance(
        op, torch.tensor([0.3, -0.2], dtype=F64), 1.0, form="likelihood", sigma_y=0.5
    )


@entry("diffusion.guidance.DPSGuidance")
def _(tmp):
    return call(
        guidance.DPSGuidance,
        K(operators.Identity((2,)), "object"),
        torch.tensor([0.3, -0.2], dtype=F64),
        K(1.0, "zeta"),
        form="likelihood",
        sigma_y=K(0.5, "sigma"),
        scale_by_beta=False,
    )


@entry("diffusion.guidance.MeasurementGuidance.zeta_values")  # (on a DPSGuidance)
def _(tmp):
    # a list: with no batch size here, an array's "batch of wrong length" does not apply
    return call(dps().zeta_values, K([0.0, 0.5, 1.0], "eta"))


@entry("diffusion.guidance.MeasurementGuidance.prepare")  # (on a DPSGuidance)
def _(tmp):
    return call(dps().prepare, x2(), K(torch.tensor([0.0, 0.5, 1.0], dtype=F64), "eta"))


def _step():
    return dsched.TorchSchedule(sched()).step(3)


@entry("diffusion.guidance.DPSGuidance.__call__")
def _(tmp):
    g = dps()
    g.prepare(x2(), torch.full((3,), 0.5, dtype=F64))
    return call(g.__call__, x2(), K(_step(), "object"), K(tvec(), "time"), K(prior(), "model"))


def exact():
    return guidance.ExactGuidance.from_prior(prior(), np.eye(2), 0.5, np.array([0.3, -0.2]))


@entry("diffusion.guidance.ExactGuidance")
def _(tmp):
    return call(guidance.ExactGuidance, K(prior().posterior(np.eye(2), 0.5, np.zeros(2)), "object"))


@entry("diffusion.guidance.ExactGuidance.from_prior")
def _(tmp):
    return call(
        guidance.ExactGuidance.from_prior,
        K(prior(), "object"),
        np.eye(2),
        K(0.5, "sigma"),
        np.array([0.3, -0.2]),
    )


@entry("diffusion.guidance.ExactGuidance.prepare")
def _(tmp):
    return call(exact().prepare, x2(), K(torch.full((3,), 0.5, dtype=F64), "eta"))


@entry("diffusion.guidance.ExactGuidance.__call__")
def _(tmp):
    return call(exact().__call__, x2(), K(_step(), "object"), K(tvec(), "time"), K(None, None))


@entry("diffusion.guidance.ExactGuidance.hessian")
def _(tmp):
    return call(exact().hessian, x2(), K(tvec(), "time"))


exempt("diffusion.guidance.Guidance", "base class without state; its subclasses are fuzzed")
exempt(
    "diffusion.guidance.MeasurementGuidance",
    "base class: its constructor is its subclasses' (fuzzed); its methods are fuzzed on a DPSGuidance",
)
exempt(
    "diffusion.guidance.Guidance.prepare",
    "base-class no-op hook; overridden and fuzzed in DPSGuidance/ExactGuidance",
)
exempt("diffusion.guidance.Guidance.__call__", "abstract (raises NotImplementedError)")
exempt(
    "diffusion.guidance.Guidance.hessian",
    "base-class stub that always raises ValueError (documented); ExactGuidance.hessian is fuzzed",
)


# --------------------------------------------------------------------------- sampler
@entry("diffusion.sampler.sample")
def _(tmp):
    return call(
        sampler.sample,
        K(prior(), "model"),
        x2(),
        sched(),
        eta=K(0.5, "eta"),
        guidance=K(exact(), "object"),
        variance="beta_tilde",
        start="standard",
        steps=K(3, "count"),
        generator=gen(),
        callback=K(lambda *a: None, "callable"),
        progress=False,
        dtype=K(F64, "dtype"),
        device=K("cpu", "device"),
        max_abs=K(1e3, "sigma"),
        ok_errors=(sampler.DivergenceError,),
    )


exempt(
    "diffusion.operators.LinearOperator",
    "abstract base class without constructor arguments; "
    "its methods are fuzzed on concrete operators, each subclass's constructor is fuzzed",
)
