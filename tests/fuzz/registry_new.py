"""Entry points new in the restructure (branch ``restructure``): the two-line factories, and
the reasoned exemptions of the driver stages and figures (no name is exempt as merely "not yet
fuzzed" any more: session 26 fuzzed 125 of the 159 left and gave the other 34 these reasons)."""

from __future__ import annotations

import importlib

import numpy as np
import torch

from diffusion import training
from diffusion.experiments import toy2d as t2d
from numerics import cli as ncli
from numerics import gaussian, gmm, gmm_posterior
from numerics import io as _io
from numerics import schedule as _s
from numerics import validate as _v
from tests.fuzz import registry as _reg
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry, exempt

BUILD_PARSERS = (
    "diffusion.baselines.pscgan_images_cli.build_parser",
    "diffusion.experiments.report_dps.build_parser",
    "diffusion.metrics.digit_classifier.build_parser",
    "diffusion.priors.fit_gmm.build_parser",
    "diffusion.training.train_prior.build_parser",
)


def _parser_factory(name):
    mod = importlib.import_module(name.rsplit(".", 1)[0])
    return lambda tmp: call(mod.build_parser)


for _name in BUILD_PARSERS:
    entry(_name)(_parser_factory(_name))

#: Plotting: they draw results that validated code computed (exempt by policy, see the
#: module notes of tests.fuzz.registry and docs/reliability.md).
PLOTTING = (
    "diffusion.experiments.restore.figures.dataset_dp_figure",
    "diffusion.experiments.restore.figures.exact_dp_figure",
    "diffusion.experiments.restore.figures.grid_figures",
    "diffusion.experiments.restore.figures.image_grid",
    "diffusion.experiments.restore.figures.plots",
    "diffusion.experiments.toy2d.plot_dp",
    "diffusion.experiments.toy2d.plot_reconstructions",
    "diffusion.experiments.toy2d.plot_zeta_ablation",
    "diffusion.experiments.toy2d.write_figures",
)

#: restore's driver stages: each takes a validated RestoreConfig (fuzzed) and the Setup that
#: make_setup builds from it (data sets, priors, exact posteriors: 80-90 s per call on the
#: 2-core CPU, over the 30 s limit even of the deep profile); they run end to end in
#: tests/diffusion/test_restore*.py and under every restore command-line case.
RESTORE_STAGES = (
    "diffusion.experiments.restore.Setup",
    "diffusion.experiments.restore.aggregate",
    "diffusion.experiments.restore.make_problem",
    "diffusion.experiments.restore.make_setup",
    "diffusion.experiments.restore.run",
    "diffusion.experiments.restore.run_files",
    "diffusion.experiments.restore.tune_zeta",
    "diffusion.experiments.restore.api.probe_step",
    "diffusion.experiments.restore.api.run_chunk",
    "diffusion.experiments.restore.baselines.baseline_metrics",
    "diffusion.experiments.restore.baselines.run_baselines",
    "diffusion.experiments.restore.chains.run_unit",
    "diffusion.experiments.restore.files.files_record",
    "diffusion.experiments.restore.files.load_sources",
    "diffusion.experiments.restore.metrics.digit_metrics",
    "diffusion.experiments.restore.metrics.image_record",
    "diffusion.experiments.restore.metrics.predict_mse_post",
    "diffusion.experiments.restore.priors.load_gmm_prior",
    "diffusion.experiments.restore.priors.load_unet_folder",
    "diffusion.experiments.restore.tune.score_zeta",
)

#: toy2d's driver stages: they take the validated Options / plan records (fuzzed) and train
#: or load networks (minutes per call); they run end to end in tests/diffusion/test_toy2d.py
#: and under every toy2d command-line case.
TOY2D_STAGES = (
    "diffusion.experiments.toy2d.DatasetPlan",
    "diffusion.experiments.toy2d.assemble_result",
    "diffusion.experiments.toy2d.load_or_train",
    "diffusion.experiments.toy2d.run_experiment",
    "diffusion.experiments.toy2d.validate_experiment",
)

for _name in PLOTTING:
    exempt(_name, "plotting (draws results computed by validated code)")
for _name in RESTORE_STAGES:
    exempt(_name, "restore driver stage: needs make_setup's Setup (80-90 s per call); "
                  "covered end to end by tests/diffusion and the CLI cases")
for _name in TOY2D_STAGES:
    exempt(_name, "toy2d driver stage: trains or loads networks (minutes per call); "
                  "covered end to end by tests/diffusion/test_toy2d.py and the CLI cases")

# report_dps.run changed signature in the restructure (a ReportConfig instead of keywords):
# its old factory no longer binds; report() (fuzzed, heavy) calls it for every configuration.
importlib.import_module("tests.fuzz.registry_more")
_reg.REGISTRY.pop("diffusion.experiments.report_dps.run", None)
exempt("diffusion.experiments.report_dps.run", "called by report_dps.report (fuzzed, heavy) "
       "for each configuration; its factory predates the ReportConfig signature")


# --------------------------------------------------------------------------- ADM (issue 20)

_ADM_TINY = dict(
    image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,1",
    attention_resolutions="8", num_head_channels=32,
)  # fmt: skip


def _adm_files(tmp):
    """A tiny ADM network's JSON config and random weights (``torch.save``) under ``tmp``."""
    import json

    import torch

    from diffusion.priors import ADMConfig, ADMUNet

    cfg = tmp / "adm_tiny.json"
    cfg.write_text(json.dumps(_ADM_TINY))
    torch.manual_seed(0)
    net = ADMUNet(ADMConfig(**_ADM_TINY))
    torch.save(net.state_dict(), tmp / "adm_tiny.pt")
    return cfg, tmp / "adm_tiny.pt", net


@entry("diffusion.priors.ADMConfig")
def _(tmp):
    from diffusion.priors import ADMConfig

    return call(
        ADMConfig, image_size=K(16, "count"), num_channels=K(32, "count"),
        num_res_blocks=K(1, "count"), channel_mult=K("1,1", "text"),
        attention_resolutions=K("8", "text"), num_head_channels=fixed(32),
    )  # fmt: skip


@entry("diffusion.priors.ADMUNet")
def _(tmp):
    import torch

    from diffusion.priors import ADMConfig, ADMUNet

    return call(
        ADMUNet, K(ADMConfig(**_ADM_TINY), "object"),
        then=lambda m: m(torch.zeros(1, 3, 16, 16), torch.tensor([5])),
    )  # fmt: skip


@entry("diffusion.priors.ADMPrior")
def _(tmp):
    import torch

    from diffusion.priors import ADMPrior

    _, _, net = _adm_files(tmp)
    return call(
        ADMPrior, K(net, "object"), K((3, 16, 16), "shape"), autocast=K("none", "choice"),
        clip=K((-1.0, 1.0), "list"), source=K("fuzz", "text"),
        then=lambda p: p(torch.zeros(1, 3, 16, 16), 500),
    )  # fmt: skip


@entry("diffusion.priors.load_adm_prior")
def _(tmp):
    import torch

    from diffusion.priors import load_adm_prior

    cfg, pt, _ = _adm_files(tmp)
    return call(
        load_adm_prior, K(pt, "infile"), K(cfg, "infile"), device=K("cpu", "device"),
        dtype=K(torch.float32, "dtype"), autocast=K("none", "choice"),
        clip=K((-1.0, 1.0), "list"),
    )  # fmt: skip


@entry("diffusion.priors.adm_load.adm_config")
def _(tmp):
    from diffusion.priors.adm_load import adm_config

    return call(adm_config, K("ffhq256", "choice"))


@entry("diffusion.priors.adm_load.check_autocast")
def _(tmp):
    import torch

    from diffusion.priors.adm_load import check_autocast

    return call(check_autocast, K("bf16", "choice"), K("cpu", "device"), K(torch.float32, "dtype"))


@entry("diffusion.priors.adm_load.check_state_dict")
def _(tmp):
    from diffusion.priors.adm_load import check_state_dict

    _, _, net = _adm_files(tmp)
    return call(check_state_dict, K(net, "object"), K(dict(net.state_dict()), "mapping"))


@entry("diffusion.priors.adm_load.read_state_dict")
def _(tmp):
    from diffusion.priors.adm_load import read_state_dict

    _, pt, _ = _adm_files(tmp)
    return call(read_state_dict, K(pt, "infile"), map_location=K("cpu", "device"))


exempt(
    "diffusion.experiments.restore.priors.load_adm_file",
    "takes a RestoreConfig; its errors are tested through the restore command "
    "(tests/diffusion/test_restore_adm.py)",
)
exempt(
    "diffusion.priors.ADMUNet.forward",
    "a torch module's forward (inputs unchecked, like any network); fuzzed through the "
    "ADMPrior entry, whose denoiser checks t and the shapes",
)
# --------------------------------------------------------------------------- torchrun sweeps
_dist = importlib.import_module("diffusion.experiments.distributed")


@entry("diffusion.experiments.distributed.shard")
def _(tmp):
    return call(_dist.shard, K(list(range(7)), None), K(1, "index"), K(3, "count"))


@entry("diffusion.experiments.distributed.from_env")
def _(tmp):
    return call(_dist.from_env, fixed("cpu"), env=fixed({"WORLD_SIZE": "1", "RANK": "0"}))


@entry("diffusion.experiments.distributed.Dist")
def _(tmp):
    return call(
        _dist.Dist, then=lambda d: (d.shard([1, 2]), d.gather(1), d.broadcast(2), d.close())
    )


@entry("diffusion.experiments.distributed.Dist.shard")
def _(tmp):
    return call(_dist.Dist().shard, K(list(range(5)), None))


@entry("diffusion.experiments.distributed.Dist.gather")
def _(tmp):
    return call(_dist.Dist().gather, K({"a": 1}, None))


@entry("diffusion.experiments.distributed.Dist.broadcast")
def _(tmp):
    return call(_dist.Dist().broadcast, K([1, 2], None))


_divergence = importlib.import_module("diffusion.divergence")


@entry("diffusion.divergence.DivergenceWatch")
def _(tmp):
    return call(_divergence.DivergenceWatch, K(5, "count"), K(3, "count"), K(10.0, "sigma"))


@entry("diffusion.divergence.DivergenceWatch.record")
def _(tmp):
    w = _divergence.DivergenceWatch(5, 3, 10.0)
    return call(w.record, K(torch.ones(3, 2), "tensor"), K(2, "index"), fixed(100))
# --------------------------------------------------------------------------- s25: Gaussian guidance
def _gauss_guidance_args():
    from diffusion import operators

    return operators.DenseOperator([[1.0, 0.5]]), __import__("torch").tensor([0.3])


@entry("diffusion.guidance.CovarianceAwareGuidance")
def _(tmp):
    from diffusion import guidance
    from tests.fuzz.harness import K

    op, y = _gauss_guidance_args()
    return call(guidance.CovarianceAwareGuidance, K(op, "object"), y, K(0.2, "sigma"),
                n_cg=K(2, "count"), zeta=K(1.0, "zeta"))  # fmt: skip


@entry("diffusion.guidance.PiGDMGuidance")
def _(tmp):
    from diffusion import guidance
    from tests.fuzz.harness import K

    op, y = _gauss_guidance_args()
    return call(guidance.PiGDMGuidance, K(op, "object"), y, K(0.2, "sigma"), zeta=K(1.0, "zeta"))


@entry("diffusion.experiments.restore.zeta.discrepancy_targets")
def _(tmp):
    from diffusion.experiments.restore import zeta
    from tests.fuzz.harness import K

    return call(zeta.discrepancy_targets, K([0.0, 1.0], "list"), K(2.0, "sigma"), K(1.0, "nonneg"))


@entry("diffusion.experiments.restore.zeta.bisect_log_zeta")
def _(tmp):
    from diffusion.experiments.restore import zeta
    from tests.fuzz.harness import K

    return call(zeta.bisect_log_zeta, K(lambda z: 1.0 / z, "callable"), K(0.5, "sigma"),
                iters=K(5, "count"))  # fmt: skip


@entry("diffusion.experiments.restore.zeta.discrepancy_zeta")
def _(tmp):
    from diffusion.experiments.restore import zeta
    from tests.fuzz.harness import K

    return call(zeta.discrepancy_zeta, K(lambda e, z: (1.0 / z, 0.5), "callable"),
                K([0.0, 1.0], "list"), K(2.0, "sigma"), iters=K(4, "count"))  # fmt: skip


for _name in (
    "diffusion.experiments.restore.chains.make_guidance",
    "diffusion.experiments.restore.discrepancy.calibrate_discrepancy",
):
    exempt(_name, "restore driver: needs a run's config/setup (covered by tests/diffusion)")
# --------------------------------------------------------------------------- mcgdiff (s25)
def _mcgdiff_entries():
    import numpy as np

    from numerics import mcgdiff
    from tests.fuzz.harness import K

    @entry("numerics.mcgdiff.mcgdiff_means")
    def _(tmp):
        return call(mcgdiff.mcgdiff_means, K(4, "count"))

    @entry("numerics.mcgdiff.mcgdiff_problem")
    def _(tmp):
        return call(mcgdiff.mcgdiff_problem, K(4, "count"), K(2, "count"), np.random.default_rng(0))

    @entry("numerics.mcgdiff.MCGDiffProblem.sample_posterior")
    def _(tmp):
        p = mcgdiff.mcgdiff_problem(4, 1, np.random.default_rng(0))
        return call(p.sample_posterior, K(5, "count"), np.random.default_rng(1))


_mcgdiff_entries()
MCGDIFF_DRIVER = (
    "benchmark driver stage; covered end to end by tests/diffusion/test_mcgdiff_benchmark.py"
)
exempt(
    "numerics.mcgdiff.MCGDiffProblem",
    "record of a drawn problem; built and fuzzed through mcgdiff_problem",
)
for _name in (
    "diffusion.experiments.mcgdiff.BenchmarkConfig",
    "diffusion.experiments.mcgdiff.make_guidance",
    "diffusion.experiments.mcgdiff.markdown",
    "diffusion.experiments.mcgdiff.run",
    "diffusion.experiments.mcgdiff.summarise",
    "diffusion.experiments.mcgdiff.cli.build_parser",
    "diffusion.experiments.mcgdiff.cli.config_from_args",
    "diffusion.experiments.mcgdiff.cli.main",
    "diffusion.experiments.mcgdiff.guidances.unavailable",
    "diffusion.experiments.mcgdiff.report.mean_ci",
    "diffusion.experiments.mcgdiff.report.setting_key",
    "diffusion.experiments.mcgdiff.run.chain_samples",
    "diffusion.experiments.mcgdiff.run.measure",
    "diffusion.experiments.mcgdiff.run.problem_key",
    "diffusion.experiments.mcgdiff.run.seeds",
):
    exempt(_name, MCGDIFF_DRIVER)
# --------------------------------------------------------------------------- colour prior (#20)



def _rgb_images(n: int, seed: int = 0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, 3, 4, 4))


@entry("diffusion.training.prior_quality.gaussian_draws")
def _(tmp):
    from diffusion.training import prior_quality

    return call(prior_quality.gaussian_draws, _rgb_images(60), K(3, "count"), seed=K(0, "seed"))


@entry("diffusion.training.prior_quality.fd_table")
def _(tmp):
    from diffusion.training import prior_quality

    return call(prior_quality.fd_table, {"a": _rgb_images(8, 1)}, _rgb_images(8), blocks=(2,))


exempt(
    "diffusion.training.train_prior.draw_samples",
    "runs the sampler on a trained UNet prior; covered by tests/diffusion/test_colour_prior.py",
)
# --------------------------------------------------------------------------- validators (s25)
# The checks the fuzz fixes of session 25 added to numerics.validate / schedule / io: each with
# the kind of value it checks, its own options fixed (they are the programmer's, not data).
@_reg.entry("numerics.validate.check_bool")
def _(tmp):
    return call(_v.check_bool, K(True, "flag"), fixed("x"))


@_reg.entry("numerics.validate.check_std")
def _(tmp):
    return call(_v.check_std, K(0.5, "sigma"), fixed("x"))


@_reg.entry("numerics.validate.check_no_overflow")
def _(tmp):
    return call(_v.check_no_overflow, K(np.ones((2, 2)), "array"), fixed("m"))


@_reg.entry("numerics.validate.check_int")
def _(tmp):
    return call(_v.check_int, K(3, "index"), fixed("x"), minimum=fixed(1), maximum=fixed(5))


@_reg.entry("numerics.validate.check_seed")
def _(tmp):
    return call(_v.check_seed, K(3, "seed"), fixed("seed"))


@_reg.entry("numerics.validate.check_callable")
def _(tmp):
    return call(_v.check_callable, K(len, "callable"), fixed("f"))


@_reg.entry("numerics.validate.check_rng")
def _(tmp):
    return call(_v.check_rng, K(np.random.default_rng(0), "rng"), fixed("rng"))


@_reg.entry("numerics.schedule.check_schedule")
def _(tmp):
    return call(_s.check_schedule, K(_s.linear_schedule(5), "schedule"), fixed("schedule"))


@_reg.entry("numerics.schedule.check_time_index")
def _(tmp):
    return call(
        _s.check_time_index, K(3, "index"), K(_s.linear_schedule(5), "schedule"), min_t=fixed(1)
    )


@_reg.entry("numerics.io.as_path")
def _(tmp):
    return call(_io.as_path, K(str(tmp / "a.json"), "text"), fixed("path"))


# --------------------------------------------------------------------------- restructure names (s25)
# Tiny valid calls for names of NOT_YET_FUZZED; each one moves out of that list (_fuzzed below).
_F64 = torch.float64
_IMG = (1, 8, 8)


def _img(n: int = 2):
    return torch.randn(n, *_IMG, generator=torch.Generator().manual_seed(2), dtype=_F64)


def _gm():
    return gmm.GaussianMixture([0.4, 0.6], [[-1.0, 0.0], [1.0, 0.5]], [np.eye(2), 0.5 * np.eye(2)])


def _op_probe(op):
    return op.A(_img())


_NEW: dict = {}


def _new(name):
    def deco(factory):
        _NEW[name] = factory
        return factory

    return deco


@_new("numerics.mixture_posterior")
def _(tmp):
    return call(
        gmm_posterior.mixture_posterior,
        _gm(),
        np.array([[1.0, 0.0]]),
        K(0.5, "sigma"),
        np.array([0.3]),
        floor=K(0.0, "prob"),
    )


@_new("numerics.cli.check_out_dir")
def _(tmp):
    return call(ncli.check_out_dir, K(tmp / "out", "outdir"), fixed("--out"), create=True)


@_new("numerics.cli.check_out_file")
def _(tmp):
    return call(ncli.check_out_file, K(tmp / "o.json", "outfile"), fixed("--out"))


@_new("numerics.gaussian.bures_w2_eigh")
def _(tmp):
    return call(
        gaussian.bures_w2_eigh, np.array([1.0, 0.0]), K(np.eye(2), "cov"), K(2 * np.eye(2), "cov")
    )


@_new("numerics.io.read_json")
def _(tmp):
    p = tmp / "a.json"
    p.write_text('{"a": 1}')
    return call(_io.read_json, K(p, "infile"), what=fixed("file"))


@_new("numerics.validate.as_samples")
def _(tmp):
    return call(_v.as_samples, np.ones((3, 2)), fixed("x"), d=K(2, "count"))


@_new("numerics.validate.as_scalar")
def _(tmp):
    return call(_v.as_scalar, K(0.5, "float"), fixed("x"))


@_new("numerics.validate.check_sample_weights")
def _(tmp):
    return call(
        _v.check_sample_weights, K(np.array([0.5, 0.5]), "weights"), fixed("w"), K(2, "count")
    )


@_new("diffusion.baselines.pscgan.layer_config")
def _(tmp):
    from diffusion.baselines import pscgan

    return call(pscgan.layer_config, z_dim=K(2, "count"), x_dim=K(2, "count"))


@_new("diffusion.experiments.restore.progress.format_seconds")
def _(tmp):
    from diffusion.experiments.restore import progress

    return call(progress.format_seconds, K(75.0, "nonneg"))


@_new("diffusion.experiments.restore.api.chunks")
def _(tmp):
    from diffusion.experiments.restore import api

    return call(
        api.chunks, K(3, "count"), K(2, "count"), K(4, "count"), split_images=K(True, "flag")
    )


@_new("diffusion.experiments.restore.batching.choose_batch")
def _(tmp):
    from diffusion.experiments.restore import batching
    from numerics.cli import UsageError

    # UsageError (a ValueError naming --image-batch): not even one chain fits, documented.
    return call(
        batching.choose_batch, K(1e6, "sigma"), K(1e9, "sigma"), K(10, "count"),
        ok_errors=(UsageError,),
    )  # fmt: skip


@_new("diffusion.experiments.restore.chains.chain_generator")
def _(tmp):
    from diffusion.experiments.restore import chains

    # i, j: "seed" kind (integers >= 0 without an upper bound: any image or sample number)
    return call(chains.chain_generator, K(0, "seed"), K(1, "seed"), K(0.5, "eta"), K(0, "seed"))


@_new("diffusion.experiments.restore.imagefiles.write_png")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    return call(imagefiles.write_png, K(tmp / "a.png", "outfile"), np.full((1, 8, 8), 0.5))


@_new("diffusion.experiments.restore.imagefiles.to_pil")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    return call(
        imagefiles.to_pil, np.full((1, 8, 8), 0.5), view=lambda im: np.asarray(im, dtype=float)
    )


@_new("diffusion.experiments.restore.metrics.psnr_ssim")
def _(tmp):
    from diffusion.experiments.restore import metrics as rm

    x = np.random.default_rng(0).uniform(-1, 1, (2, 64))
    return call(rm.psnr_ssim, x, np.full(64, 0.5))


@_new("diffusion.experiments.toy2d.derive_seed")
def _(tmp):
    return call(t2d.derive_seed, K(3, "seed"), fixed("moons"))


@_new("diffusion.experiments.toy2d.derive_rng")
def _(tmp):
    return call(t2d.derive_rng, K(3, "seed"), fixed("moons"), view=lambda r: r.random(2))


@_new("diffusion.experiments.toy2d.derive_generator")
def _(tmp):
    return call(
        t2d.derive_generator,
        K(3, "seed"),
        fixed("moons"),
        view=lambda g: torch.rand(2, generator=g),
    )


@_new("diffusion.experiments.toy2d.fmt_sigma")
def _(tmp):
    # "float", not "sigma": a label formatter, any number formats (σ = 0 included).
    return call(t2d.fmt_sigma, K(0.5, "float"))


@_new("diffusion.training.alpha_tables")
def _(tmp):
    return call(training.alpha_tables, K(_s.linear_schedule(5), "schedule"))


@_new("diffusion.training.diffuse")
def _(tmp):
    x0 = torch.ones(3, 2, dtype=_F64)
    return call(
        training.diffuse,
        x0,
        torch.tensor([1, 2, 3]),
        torch.zeros(3, 2, dtype=_F64),
        K(_s.linear_schedule(5), "schedule"),
    )


@_new("diffusion.training.ema_update")
def _(tmp):
    a, p = [torch.zeros(2)], [torch.ones(2)]
    return call(training.ema_update, a, p, K(0.9, "prob"), view=lambda _: a)


@_new("diffusion.training.check_plain")
def _(tmp):
    return call(training.check_plain, K({"a": [1, 2.5, "x"]}, "jsonable"), fixed("obj"))


@_new("diffusion.training.check_out_file")
def _(tmp):
    return call(training.check_out_file, K(tmp / "m.pt", "outfile"), fixed("--out"))


@_new("diffusion.training.check_out_dir")
def _(tmp):
    return call(training.check_out_dir, K(tmp / "o", "outdir"), fixed("--out"))


for _name, _factory in _NEW.items():
    _reg.EXEMPT.pop(_name, None)
    _reg.entry(_name)(_factory)


@_reg.entry("numerics.io.parent_folder")
def _(tmp):
    # "text", not "outfile": it makes the folder only; what is at the path is the writer's.
    return call(_io.parent_folder, K(str(tmp / "sub" / "a.json"), "text"), fixed("path"))
# numerics.progress (session 25): the up-front time estimate every long command prints. The
# labels (prog, what, basis, line) are message text, passed as they are (fixed).
import numerics.progress as _progress  # noqa: E402


def _demo_progress():
    return _progress.Progress(10, "10 steps", bar=False, prog="demo")


@entry("numerics.progress.format_seconds")
def _(tmp):
    return call(_progress.format_seconds, 125.0)


@entry("numerics.progress.announce")
def _(tmp):
    return call(_progress.announce, fixed("demo"), fixed("waiting"), 45.0, fixed("a guess"))


@entry("numerics.progress.Progress")
def _(tmp):
    return call(_progress.Progress, 10, fixed("10 steps"), bar=False, prog=fixed("demo"),
                then=lambda p: (p.update(1), p.update(9), p.done))  # fmt: skip


@entry("numerics.progress.Progress.update")
def _(tmp):
    return call(_demo_progress().update, 3)


@entry("numerics.progress.Progress.write")
def _(tmp):
    return call(_demo_progress().write, fixed("a line"))
