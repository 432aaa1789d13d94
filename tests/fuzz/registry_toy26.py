"""Registry entries of session 26 (issue #18): names of ``NOT_YET_FUZZED`` under
``numerics.*`` and ``diffusion.experiments.toy2d.*``, fuzzed for the first time.

Style as in :mod:`tests.fuzz.registry_numerics`: one factory per entry point, a tiny valid call.
"""

from __future__ import annotations

import copy
import importlib
from functools import cache

from numerics import dp_curve as dpc
from numerics.dp_curve import cli as dpc_cli
from tests.fuzz.harness import K, call
from tests.fuzz.registry import entry
from tests.fuzz.registry_numerics import problem

# the module, not the function numerics.dp_curve.run that shadows it as an attribute
dpc_run = importlib.import_module("numerics.dp_curve.run")


# --------------------------------------------------------------------------- numerics.dp_curve
@cache
def _dp_result() -> dict:
    """A tiny :func:`numerics.dp_curve.run` result (10 samples, 3 steps), computed once."""
    return dpc.run(
        problem(), etas=(0.0, 1.0), n=10, steps=3, floor_repeats=2,
        shrink_factors=(0.0, 1.0), trajectories=False,  # one figure less: time
    )  # fmt: skip


@entry("numerics.dp_curve.cli.write_outputs", heavy=True)
def _(tmp):
    # heavy: three matplotlib figures (png, svg, png) per call, about a second.
    return call(
        dpc_cli.write_outputs,
        K(copy.deepcopy(_dp_result()), "mapping"),
        K(problem(), "object"),
        K(tmp / "out", "outdir"),
    )


def _chain_settings(**kw):
    return dpc_run.ChainSettings(**kw)


@entry("numerics.dp_curve.run.ChainSettings")
def _(tmp):
    return call(
        dpc_run.ChainSettings,
        sampler=K("numpy", "choice"),
        guidance=K("dps", "choice"),
        zeta=K(1.0, "nonneg"),
        dps_form=K("reference", "choice"),
        variance=K("beta_tilde", "choice"),
        start=K("standard", "choice"),
        device=K("cpu", "choice"),  # {"cpu", "cuda"}, documented: a choice, not any device
        seed=K(0, "seed"),
        progress=K(False, "flag"),
        then=lambda c: c.settings(3, 10),
    )


@entry("numerics.dp_curve.run.ChainSettings.settings")
def _(tmp):
    return call(_chain_settings(guidance="dps").settings, K(3, "count"), K(10, "count"))


# --------------------------------------------------------------------------- toy2d
import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffusion.experiments import toy2d as t2d  # noqa: E402
from diffusion.experiments.toy2d import experiment as t2d_exp  # noqa: E402
from diffusion.experiments.toy2d import models as t2d_models  # noqa: E402
from diffusion.experiments.toy2d import store as t2d_store  # noqa: E402
from tests.fuzz.harness import fixed  # noqa: E402

t2d_run = importlib.import_module("diffusion.experiments.toy2d.run")  # run_dataset shadows it


def _store(tmp):
    return t2d.Store(tmp / "moons")


@entry("diffusion.experiments.toy2d.Store")
def _(tmp):
    return call(
        t2d.Store,
        K(tmp / "moons", "outdir"),
        on_save=K(lambda name: None, "callable"),
        then=lambda s: (s.save("u", "k", {"a": 1.0}), s.load("u", "k")),
    )


@entry("diffusion.experiments.toy2d.Store.load")
def _(tmp):
    s = _store(tmp)
    s.save("u", "k", {"a": 1.0}, {"x": np.zeros(2)})
    # "text": a name or key with nothing stored under it is a normal state (None: compute it)
    return call(s.load, K("u", "text"), K("k", "text"))


@entry("diffusion.experiments.toy2d.Store.save")
def _(tmp):
    return call(
        _store(tmp).save,
        K("u", "text"),
        K("k", "text"),
        K({"a": 1.0}, "jsonable"),
        arrays=K({"x": np.zeros(2)}, "mapping"),
    )


@entry("diffusion.experiments.toy2d.Store.saved")
def _(tmp):
    return call(_store(tmp).saved, K("u", "text"))


@entry("diffusion.experiments.toy2d.store.timed")
def _(tmp):
    return call(t2d_store.timed, K(lambda: 1.0, "callable"), view=lambda r: r[0])


@entry("diffusion.experiments.toy2d.unit")
def _(tmp):
    return call(
        t2d.unit,
        K(_store(tmp), "object"),
        K("u", "text"),
        K({"a": [1, 2.5]}, "jsonable"),
        K(lambda: ({"m": 1.0}, {"x": np.ones(2)}), "callable"),
        K({}, "mapping"),
        log=K(lambda *a, **k: None, "callable"),
        view=lambda r: r[0]["m"],
    )


@entry("diffusion.experiments.toy2d.strip_private")
def _(tmp):
    # any object is valid input (non-dicts and non-lists come back as they are): not fuzzed
    return call(t2d.strip_private, fixed({"a": [{"_t": 1, "b": 2.0}], "_timing": {}}))


def _cfg():
    return t2d.load_config(quick=True)


@entry("diffusion.experiments.toy2d.schedule_of")
def _(tmp):
    return call(t2d.schedule_of, K(_cfg(), "mapping"), view=lambda s: s.alpha_bar)


@entry("diffusion.experiments.toy2d.validate_config")
def _(tmp):
    # ConfigError (a ValueError naming the config field, documented) for a bad config
    return call(t2d.validate_config, K(_cfg(), "mapping"), ok_errors=(t2d.ConfigError,))


@entry("diffusion.experiments.toy2d.experiment.settings_record")
def _(tmp):
    return call(
        t2d_exp.settings_record, K(_cfg(), "mapping"), K(0, "seed"), K(True, "flag"),
        view=lambda r: r["seed"],
    )  # fmt: skip


@entry("diffusion.experiments.toy2d.experiment.machine_info")
def _(tmp):
    return call(t2d_exp.machine_info, view=lambda r: r["cpu_count"])


@entry("diffusion.experiments.toy2d.prepare_out")
def _(tmp):
    return call(t2d.prepare_out, K(tmp / "out", "outdir"), K(("moons",), "list"))


@entry("diffusion.experiments.toy2d.models.atomic_torch_save")
def _(tmp):
    return call(
        t2d_models.atomic_torch_save,
        K({"w": torch.zeros(2), "n": 1}, "jsonable"),
        K(tmp / "a.pt", "outfile"),
        view=lambda p: 0.0,
    )


from diffusion.divergence import DivergenceError  # noqa: E402
from diffusion.priors import MixturePrior  # noqa: E402
from tests.fuzz.registry_more import tiny_cfg  # noqa: E402
from tests.fuzz.registry_numerics import mixture  # noqa: E402


def _plan():
    return t2d.DatasetPlan.build("moons", tiny_cfg(), seed=0, log=lambda *a, **k: None)


def _pairs(n: int = 4):
    r = np.random.default_rng(0)
    return t2d.Pairs(r.normal(size=(n, 2)), r.normal(size=(n, 2)))


def _chain(plan):
    return t2d.Chain.build(plan, MixturePrior(mixture(), plan.schedule), "net-key")


@entry("diffusion.experiments.toy2d.DatasetPlan.build")
def _(tmp):
    return call(
        t2d.DatasetPlan.build,
        K("moons", "choice"),
        K(tiny_cfg(), "mapping"),
        seed=K(0, "seed"),
        progress=K(False, "flag"),
        log=K(lambda *a, **k: None, "callable"),
        view=lambda p: p.schedule.alpha_bar,
    )


@entry("diffusion.experiments.toy2d.Pairs")
def _(tmp):
    r = np.random.default_rng(0)
    return call(t2d.Pairs, r.normal(size=(4, 2)), r.normal(size=(4, 2)), then=lambda p: p.y(0.5))


@entry("diffusion.experiments.toy2d.Pairs.draw")
def _(tmp):
    return call(
        t2d.Pairs.draw, K(_plan(), "object"), K(4, "count"), K("test", "text"),
        view=lambda p: p.y(0.5),
    )  # fmt: skip


@entry("diffusion.experiments.toy2d.Pairs.y")
def _(tmp):
    return call(_pairs().y, K(0.5, "sigma"))


@entry("diffusion.experiments.toy2d.Chain")
def _(tmp):
    plan = _plan()
    return call(
        t2d.Chain,
        K(MixturePrior(mixture(), plan.schedule), "model"),
        K({"net": "k"}, "jsonable"),
        then=lambda c: c.sweep(plan, np.zeros((2, 2)), 0.5, [0.0, 1.0], 0.01, ("t",)),
    )


@entry("diffusion.experiments.toy2d.Chain.build")
def _(tmp):
    plan = _plan()
    return call(
        t2d.Chain.build,
        K(plan, "object"),
        K(MixturePrior(mixture(), plan.schedule), "model"),
        K("net-key", "text"),
        view=lambda c: 0.0,
    )


@entry("diffusion.experiments.toy2d.Chain.sweep")
def _(tmp):
    plan = _plan()
    return call(
        _chain(plan).sweep,
        K(plan, "object"),
        np.zeros((2, 2)),
        K(0.5, "sigma"),
        K([0.0, 1.0], "eta"),
        K(0.01, "nonneg"),
        K(("test",), "list"),
        ok_errors=(DivergenceError,),  # documented: a ζ so large that the chain overflows
    )


@entry("diffusion.experiments.toy2d.Options")
def _(tmp):
    return call(
        t2d.Options,
        K(("moons",), "list"),
        K(tmp / "out", "outdir"),
        seed=K(0, "seed"),
        quick=K(True, "flag"),
        figures=K(False, "flag"),
        progress=K(False, "flag"),
        view=lambda o: 0.0,
    )


# the stages of one data set, on the tiny config with the exact mixture prior as denoiser (no
# training); the whole-run result comes from one tiny run_dataset (about 15 s), made once
def _stage_args(tmp):
    plan = _plan()
    return plan, _chain(plan), _store(tmp), {}


@entry("diffusion.experiments.toy2d.quality_stage", heavy=True)
def _(tmp):
    plan, chain, store, timing = _stage_args(tmp)
    return call(
        t2d.quality_stage, K(plan, "object"), K(chain, "object"), K(store, "object"),
        K(timing, "mapping"), view=lambda r: r[0]["w2"],
    )  # fmt: skip


@entry("diffusion.experiments.toy2d.zeta_validation_stage", heavy=True)
def _(tmp):
    plan, chain, store, timing = _stage_args(tmp)
    return call(
        t2d.zeta_validation_stage, K(plan, "object"), K(chain, "object"), K(store, "object"),
        K(timing, "mapping"), view=lambda r: [z["argmin_w2_joint_eta1"] for z in r.values()],
    )  # fmt: skip


@entry("diffusion.experiments.toy2d.ablation_stage", heavy=True)
def _(tmp):
    plan = t2d.DatasetPlan.build("pinwheel", tiny_cfg(), seed=0, log=lambda *a, **k: None)
    return call(
        t2d.ablation_stage, K(plan, "object"), K(_chain(plan), "object"),
        K(t2d.Pairs.draw(plan, 8, "test"), "object"), K(_store(tmp), "object"), K({}, "mapping"),
        view=lambda r: [p["mse"] for p in r["points"]],
    )  # fmt: skip


@cache
def _toy_result() -> dict:
    import tempfile
    from pathlib import Path

    out = Path(tempfile.mkdtemp(prefix="toy26-"))
    return t2d.run_dataset("moons", tiny_cfg(), out, seed=0, progress=False,
                           log=lambda *a, **k: None)  # fmt: skip


def _clean_result() -> dict:
    return t2d.strip_private(copy.deepcopy(_toy_result()))


@entry("diffusion.experiments.toy2d.run.iter_units", heavy=True)
def _(tmp):
    return call(t2d_run.iter_units, K(_clean_result(), "mapping"), view=lambda g: len(list(g)))


@entry("diffusion.experiments.toy2d.markdown_tables", heavy=True)
def _(tmp):
    return call(t2d.markdown_tables, K(_clean_result(), "mapping"), view=len)


@entry("diffusion.experiments.toy2d.sigma_stage", heavy=True)
def _(tmp):
    from tests.fuzz.registry_more import gen2d

    plan, chain, store, timing = _stage_args(tmp)
    return call(
        t2d.sigma_stage, K(plan, "object"), K(chain, "object"), K(gen2d(), "model"),
        K("gan-key", "text"), K(t2d.Pairs.draw(plan, 8, "test"), "object"), K(0.5, "sigma"),
        K(store, "object"), K(timing, "mapping"), view=lambda r: r[0]["summary"]["n_points"],
    )  # fmt: skip


@entry("diffusion.experiments.toy2d.write_combined")
def _(tmp):
    settings = t2d_exp.settings_record(_cfg(), 0, True)
    (tmp / "out" / "moons").mkdir(parents=True)
    (tmp / "out" / "moons" / "result.json").write_text(
        __import__("json").dumps(dict(settings=settings, quality={"w2": 1.0}))
    )
    return call(t2d.write_combined, K(tmp / "out", "outdir"), K(settings, "mapping"), view=str)
