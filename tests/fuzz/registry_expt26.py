"""Registry entries of the image restorations (session 26): :func:`diffusion.restore_images`
and its :class:`~diffusion.Restoration`, the ``diffusion.restore`` configuration, problems and
image files, and :mod:`diffusion.experiments.report_dps` (names that were exempt as "not yet
fuzzed" in :mod:`tests.fuzz.registry_new`).

The priors are tiny analytic ones (a Gaussian over 1 x 4 x 4 images, 100 training steps) and
the runs 3 reverse steps, so that every call answers well within the time limit.
"""

from __future__ import annotations

import numpy as np
import torch

from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry

_F64 = torch.float64
_SHAPE = (1, 4, 4)


def _prior():
    from diffusion.priors import GaussianPrior
    from numerics.schedule import linear_schedule

    d = 16
    return GaussianPrior(torch.zeros(d, dtype=_F64), 0.3 * torch.eye(d, dtype=_F64),
                         linear_schedule(100))  # fmt: skip


def _operator():
    from diffusion.operators import AveragePoolSR

    return AveragePoolSR(2, _SHAPE)


def _images():
    return torch.linspace(-0.5, 0.5, 16, dtype=_F64).reshape(1, *_SHAPE)


# --------------------------------------------------------------------------- restore_images
@entry("diffusion.restore_images")
def _(tmp):
    from diffusion import restore_images
    from diffusion.sampler import DivergenceError

    # DivergenceError: documented (a chain beyond max_abs: huge images or sigma_y, tiny max_abs).
    return call(
        restore_images, K(_images(), "tensor"), K(_operator(), "object"), K(_prior(), "model"),
        etas=K([0.0, 1.0], "eta"), guidance=K("dps", "choice"), zeta=K(0.5, "zeta"),
        samples=K(1, "count"), sigma_y=K(0.05, "sigma"), steps=K(3, "count"),
        seed=K(0, "seed"), variance=K("beta_tilde", "choice"), dps_form=K("reference", "choice"),
        batch=K(2, "count"), dtype=K(torch.float32, "dtype"), max_abs=K(1e3, "float"),
        progress=K(False, "flag"), ok_errors=(DivergenceError,),
    )  # fmt: skip


@entry("diffusion.Restoration")
def _(tmp):
    from diffusion import Restoration

    samples = torch.zeros(2, 1, 1, *_SHAPE)
    y = torch.zeros(1, 1, 2, 2, dtype=_F64)
    metrics = {0.0: {"mse": 0.1}, 1.0: {"mse": 0.2}}
    values = {"mse": np.full((2, 1, 1), 0.1)}
    return call(Restoration, samples, y, K((0.0, 1.0), "eta"), K(metrics, "mapping"),
                K(values, "mapping"))  # fmt: skip


# --------------------------------------------------------------------------- image files
def _png(tmp, name="a.png", size=(6, 4)):
    from PIL import Image

    p = tmp / name
    Image.new("L", size, color=128).save(p)
    return p


@entry("diffusion.experiments.restore.imagefiles.list_images")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    (tmp / "imgs").mkdir()
    _png(tmp / "imgs")
    return call(imagefiles.list_images, K(tmp / "imgs", "indir"), fixed("--input"))


@entry("diffusion.experiments.restore.imagefiles.read_image")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    return call(imagefiles.read_image, K(_png(tmp), "infile"), K(1, "count"), fixed("--input"),
                view=lambda im: np.asarray(im, dtype=float))  # fmt: skip


@entry("diffusion.experiments.restore.imagefiles.prepare_image")
def _(tmp):
    from PIL import Image

    from diffusion.experiments.restore import imagefiles

    return call(imagefiles.prepare_image, K(Image.new("L", (6, 4), color=100), "object"),
                K((4, 4), "shape"))  # fmt: skip


@entry("diffusion.experiments.restore.imagefiles.read_measurement")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    p = tmp / "y.npy"
    np.save(p, np.zeros((1, 2, 2)))
    return call(imagefiles.read_measurement, K(p, "infile"), K((1, 2, 2), "shape"),
                fixed("--measurement"))  # fmt: skip


# --------------------------------------------------------------------------- restore settings
def _config(tmp, **kw):
    from diffusion.experiments.restore import RestoreConfig

    base = dict(task="deblur", prior="gmm", n_images=1, samples_per_image=2, steps=3,
                etas=(0.0, 1.0), out=tmp / "out", progress=False)  # fmt: skip
    return RestoreConfig(**{**base, **kw})


@entry("diffusion.experiments.restore.RestoreConfig")
def _(tmp):
    from diffusion.experiments.restore import RestoreConfig

    return call(
        RestoreConfig, K("deblur", "choice"), prior=K("gmm", "choice"), sigma_y=K(0.05, "sigma"),
        etas=K([0.0, 1.0], "eta"), guidance=K("exact", "choice"), n_images=K(1, "count"),
        samples_per_image=K(2, "count"), steps=K(3, "count"), seed=K(0, "seed"),
        max_abs=K(1e3, "sigma"), diffpir_lambda=K(1.75, "sigma"), out=K(tmp / "out", "outdir"),
        progress=K(False, "flag"),
    )  # fmt: skip


@entry("diffusion.experiments.restore.RestoreConfig.record")
def _(tmp):
    return call(_config(tmp).record, K(8, "count"))


@entry("diffusion.experiments.restore.Task.check_size")
def _(tmp):
    from diffusion.experiments.restore.tasks import FILES_TASKS

    return call(FILES_TASKS["sr4"].check_size, K(8, "count"))


@entry("diffusion.experiments.restore.Problem")
def _(tmp):
    from diffusion.experiments.restore import Problem

    return call(Problem, K(0, "seed"), np.full(4, 0.5), fixed("photo.png"), np.zeros(4),
                K(False, "flag"))  # fmt: skip


@entry("diffusion.experiments.restore.priors.resolve_prior")
def _(tmp):
    from diffusion.experiments.restore.priors import resolve_prior

    return call(resolve_prior, K("gmm", "choice"), view=lambda e: e.name)


@entry("diffusion.experiments.restore.zeta.resolve_zeta")
def _(tmp):
    from diffusion.experiments.restore.zeta import resolve_zeta

    return call(resolve_zeta, K(0.5, "zeta"), prior=fixed("gmm"), task=fixed("deblur"),
                form=fixed("reference"))  # fmt: skip


@entry("diffusion.experiments.restore.zeta.read_zeta_table")
def _(tmp):
    import json

    from diffusion.experiments.restore.zeta import read_zeta_table

    p = tmp / "zeta.json"
    p.write_text(json.dumps({"0": 0.5, "1": 0.25}))
    return call(read_zeta_table, K(p, "infile"))


@entry("diffusion.experiments.restore.run.make_out")
def _(tmp):
    from diffusion.experiments.restore.run import make_out

    return call(make_out, K(tmp / "o", "outdir"))


@entry("diffusion.experiments.restore.run.prepare_out")
def _(tmp):
    from diffusion.experiments.restore.run import prepare_out

    return call(prepare_out, K(tmp / "o", "outdir"), K({"task": "deblur"}, "jsonable"),
                K(False, "flag"))  # fmt: skip


@entry("diffusion.experiments.restore.progress.Progress")
def _(tmp):
    from diffusion.experiments.restore.progress import Progress

    return call(Progress, K(10, "count"), fixed("10 steps"), bar=K(False, "flag"),
                then=lambda p: (p.update(4), p.close()))  # fmt: skip


@entry("diffusion.experiments.restore.chains.seed_of")
def _(tmp):
    from diffusion.experiments.restore.chains import seed_of

    return call(seed_of, 1, 2, 3)


@entry("diffusion.experiments.restore.chains.generators")
def _(tmp):
    from diffusion.experiments.restore.chains import generators

    return call(generators, K(0, "seed"), K([0, 1], None), K([0.0, 1.0], "eta"), K(2, "count"),
                view=lambda gs: [torch.rand(1, generator=g) for g in gs])  # fmt: skip


@entry("diffusion.experiments.restore.metrics.check_finite")
def _(tmp):
    from diffusion.experiments.restore.metrics import check_finite

    # RuntimeError: documented (a non-finite metric; nothing is written for `where`).
    return call(check_finite, K({"a": [1.0, 2.0]}, "jsonable"), fixed("image 0"),
                ok_errors=(RuntimeError,))  # fmt: skip


@entry("diffusion.experiments.restore.metrics.oracle_mse_at")
def _(tmp):
    from diffusion.experiments.restore.metrics import oracle_mse_at

    oracle = [dict(perception=p, mse_post=m) for p, m in ((0.5, 1.0), (0.3, 1.2), (0.2, 1.5))]
    return call(oracle_mse_at, K(oracle, None), K(0.35, "nonneg"))


@entry("diffusion.experiments.restore.batching.is_out_of_memory")
def _(tmp):
    from diffusion.experiments.restore.batching import is_out_of_memory

    return call(is_out_of_memory, K(RuntimeError("CUDA out of memory"), "object"))


@entry("diffusion.experiments.restore.batching.auto_batch")
def _(tmp):
    from diffusion.experiments.restore.batching import auto_batch

    return call(auto_batch, K(lambda n: None, "callable"), K(20, "count"), K("cpu", "device"))


# --------------------------------------------------------------------------- restore_images parts
@entry("diffusion.experiments.restore.api.run_schedule")
def _(tmp):
    from diffusion.experiments.restore.api import run_schedule

    return call(run_schedule, K(_prior(), "model"), K(10, "count"), view=lambda s: s.alpha_bar)


@entry("diffusion.experiments.restore.api.unread")
def _(tmp):
    from diffusion.experiments.restore.api import unread

    return call(unread, K(_operator(), "object"))


@entry("diffusion.experiments.restore.api.measure")
def _(tmp):
    from diffusion.experiments.restore.api import measure

    return call(measure, K(_images(), "tensor"), K(_operator(), "object"), K(0.05, "sigma"),
                K(0, "seed"))  # fmt: skip


@entry("diffusion.experiments.restore.api.as_measurement")
def _(tmp):
    from diffusion.experiments.restore.api import as_measurement

    return call(as_measurement, K(torch.zeros(1, 1, 2, 2, dtype=_F64), "tensor"),
                K(_operator(), "object"))  # fmt: skip


@entry("diffusion.experiments.restore.api.exact_posterior")
def _(tmp):
    from diffusion.experiments.restore.api import exact_posterior

    return call(exact_posterior, K(_prior(), "object"), K(_operator(), "object"),
                K(0.05, "sigma"), K(torch.zeros(1, 2, 2, dtype=_F64), "tensor"),
                view=lambda p: p.mean)  # fmt: skip


@entry("diffusion.experiments.restore.api.chain_metrics")
def _(tmp):
    from diffusion.experiments.restore.api import chain_metrics

    x_hat = torch.zeros(2, 1, 1, *_SHAPE, dtype=_F64)
    return call(chain_metrics, K(x_hat, "tensor"), K(_operator(), "object"),
                K(torch.zeros(1, 1, 2, 2, dtype=_F64), "tensor"), K(_images(), "tensor"))  # fmt: skip


# --------------------------------------------------------------------------- report_dps
@entry("diffusion.experiments.report_dps.ReportConfig")
def _(tmp):
    from diffusion.experiments.report_dps import ReportConfig

    return call(ReportConfig, n=K(4, "count"), steps=K(3, "count"), seed=K(0, "seed"),
                device=K("cpu", "device"))  # fmt: skip


# --------------------------------------------------------------------------- restore run parts
@entry("diffusion.experiments.restore.chains.schedules")
def _(tmp):
    from diffusion.experiments.restore.chains import schedules

    return call(schedules, K(_config(tmp), "object"), view=lambda s: (s[0].alpha_bar, s[1].T))


@entry("diffusion.experiments.restore.baselines.baseline_points")
def _(tmp):
    from diffusion.experiments.restore.baselines import baseline_points

    return call(baseline_points, K(_config(tmp, baselines=("diffpir",)), "object"))


@entry("diffusion.experiments.restore.run.apply_threads")
def _(tmp):
    from diffusion.experiments.restore.run import apply_threads

    n = torch.get_num_threads()
    return call(apply_threads, K(_config(tmp, threads=n), "object"))


@entry("diffusion.experiments.restore.aggregate.machine")
def _(tmp):
    from diffusion.experiments.restore.aggregate import machine

    return call(machine)


@entry("diffusion.experiments.restore.aggregate.load_records")
def _(tmp):
    import json

    from diffusion.experiments.restore.aggregate import load_records

    (tmp / "run" / "records").mkdir(parents=True)
    (tmp / "run" / "records" / "00000.json").write_text(json.dumps({"image": 0, "mse": 0.1}))
    return call(load_records, K(tmp / "run", "indir"), K(1, "count"))


@entry("diffusion.experiments.restore.clean_images")
def _(tmp):
    from diffusion.experiments.restore import clean_images

    return call(clean_images, K("patches", "choice"), K("test", "choice"), K(2, "count"),
                size=K(8, "count"), seed=K(0, "seed"), view=lambda r: r[0])  # fmt: skip


@entry("diffusion.experiments.report_dps.report", heavy=True)
def _(tmp):
    from diffusion.experiments.report_dps import ReportConfig, report

    return call(report, K(ReportConfig(n=2, steps=2), "object"))


@entry("diffusion.experiments.restore.files.Sources")
def _(tmp):
    from diffusion.experiments.restore.files import Sources

    return call(Sources, K(["a"], None), K([tmp / "a.png"], None), K(["4 x 4, used as is"], None),
                clean=K(np.zeros((1, *_SHAPE)), "array"), y=fixed(None),
                view=lambda s: (len(s), s.clean))  # fmt: skip


@entry("diffusion.experiments.restore.config_from_args")
def _(tmp):
    from diffusion.experiments.restore import config_from_args
    from diffusion.experiments.restore.cli import build_parser

    ns = build_parser().parse_args(
        ["--task", "deblur", "--n-images", "1", "--steps", "3", "--out", str(tmp / "o")]
    )
    return call(config_from_args, K(ns, "object"), view=lambda c: c.sigma_y)
