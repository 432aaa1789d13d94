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
        shrink_factors=(0.0, 1.0), trajectories=True,
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
