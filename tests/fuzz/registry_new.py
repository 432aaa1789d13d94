"""Entry points new in the restructure (branch ``restructure``): the two-line factories, and
the exemptions of those not yet fuzzed (listed so that the gap stays visible)."""

from __future__ import annotations

import importlib

from tests.fuzz import registry as _reg
from tests.fuzz.harness import call
from tests.fuzz.registry import entry, exempt

NOT_YET = "new in the restructure, not yet fuzzed"


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

NOT_YET_FUZZED = (
    "numerics.mixture_posterior",
    "numerics.cli.check_out_dir",
    "numerics.cli.check_out_file",
    "numerics.dp_curve.cli.write_outputs",
    "numerics.dp_curve.run.ChainSettings",
    "numerics.gaussian.bures_w2_eigh",
    "numerics.io.read_json",
    "numerics.validate.as_samples",
    "numerics.validate.as_scalar",
    "numerics.validate.check_sample_weights",
    "diffusion.check_divergence",
    "diffusion.BicubicSR",
    "diffusion.ComposedOperator",
    "diffusion.FFTBlur",
    "diffusion.FFTGaussianBlur",
    "diffusion.MotionBlur",
    "diffusion.RandomInpainting",
    "diffusion.bicubic_matrix",
    "diffusion.centre_box",
    "diffusion.motion_kernel",
    "diffusion.paper_operator",
    "diffusion.scaled_blur",
    "diffusion.Restoration",
    "diffusion.restore_images",
    "diffusion.baselines.PSCGANTraining",
    "diffusion.baselines.fit_pscgan",
    "diffusion.baselines.pscgan_samples",
    "diffusion.baselines.pscgan.layer_config",
    "diffusion.baselines.pscgan.seeded",
    "diffusion.baselines.pscgan_images_cli.main",
    "diffusion.experiments.report_dps.ReportConfig",
    "diffusion.experiments.report_dps.report",
    "diffusion.experiments.restore.Problem",
    "diffusion.experiments.restore.RestoreConfig",
    "diffusion.experiments.restore.Setup",
    "diffusion.experiments.restore.aggregate",
    "diffusion.experiments.restore.clean_images",
    "diffusion.experiments.restore.config_from_args",
    "diffusion.experiments.restore.make_problem",
    "diffusion.experiments.restore.make_setup",
    "diffusion.experiments.restore.run",
    "diffusion.experiments.restore.run_files",
    "diffusion.experiments.restore.tune_zeta",
    "diffusion.experiments.restore.aggregate.load_records",
    "diffusion.experiments.restore.aggregate.machine",
    "diffusion.experiments.restore.api.as_measurement",
    "diffusion.experiments.restore.api.chain_metrics",
    "diffusion.experiments.restore.api.chunks",
    "diffusion.experiments.restore.api.exact_posterior",
    "diffusion.experiments.restore.api.measure",
    "diffusion.experiments.restore.api.probe_step",
    "diffusion.experiments.restore.api.run_chunk",
    "diffusion.experiments.restore.api.run_schedule",
    "diffusion.experiments.restore.api.unread",
    "diffusion.experiments.restore.baselines.baseline_metrics",
    "diffusion.experiments.restore.baselines.baseline_points",
    "diffusion.experiments.restore.baselines.run_baselines",
    "diffusion.experiments.restore.batching.auto_batch",
    "diffusion.experiments.restore.batching.choose_batch",
    "diffusion.experiments.restore.batching.is_out_of_memory",
    "diffusion.experiments.restore.chains.chain_generator",
    "diffusion.experiments.restore.chains.generators",
    "diffusion.experiments.restore.chains.run_unit",
    "diffusion.experiments.restore.chains.schedules",
    "diffusion.experiments.restore.chains.seed_of",
    "diffusion.experiments.restore.figures.dataset_dp_figure",
    "diffusion.experiments.restore.figures.exact_dp_figure",
    "diffusion.experiments.restore.figures.grid_figures",
    "diffusion.experiments.restore.figures.image_grid",
    "diffusion.experiments.restore.figures.plots",
    "diffusion.experiments.restore.files.Sources",
    "diffusion.experiments.restore.files.files_record",
    "diffusion.experiments.restore.files.load_sources",
    "diffusion.experiments.restore.imagefiles.list_images",
    "diffusion.experiments.restore.imagefiles.prepare_image",
    "diffusion.experiments.restore.imagefiles.read_image",
    "diffusion.experiments.restore.imagefiles.read_measurement",
    "diffusion.experiments.restore.imagefiles.to_pil",
    "diffusion.experiments.restore.imagefiles.write_png",
    "diffusion.experiments.restore.metrics.check_finite",
    "diffusion.experiments.restore.metrics.digit_metrics",
    "diffusion.experiments.restore.metrics.image_record",
    "diffusion.experiments.restore.metrics.oracle_mse_at",
    "diffusion.experiments.restore.metrics.predict_mse_post",
    "diffusion.experiments.restore.metrics.psnr_ssim",
    "diffusion.experiments.restore.priors.load_gmm_prior",
    "diffusion.experiments.restore.priors.load_unet_folder",
    "diffusion.experiments.restore.priors.resolve_prior",
    "diffusion.experiments.restore.progress.Progress",
    "diffusion.experiments.restore.progress.format_seconds",
    "diffusion.experiments.restore.run.apply_threads",
    "diffusion.experiments.restore.run.make_out",
    "diffusion.experiments.restore.run.prepare_out",
    "diffusion.experiments.restore.tune.score_zeta",
    "diffusion.experiments.restore.zeta.read_zeta_table",
    "diffusion.experiments.restore.zeta.resolve_zeta",
    "diffusion.experiments.toy2d.Chain",
    "diffusion.experiments.toy2d.DatasetPlan",
    "diffusion.experiments.toy2d.Options",
    "diffusion.experiments.toy2d.Pairs",
    "diffusion.experiments.toy2d.Store",
    "diffusion.experiments.toy2d.ablation_stage",
    "diffusion.experiments.toy2d.assemble_result",
    "diffusion.experiments.toy2d.derive_generator",
    "diffusion.experiments.toy2d.derive_rng",
    "diffusion.experiments.toy2d.derive_seed",
    "diffusion.experiments.toy2d.fmt_sigma",
    "diffusion.experiments.toy2d.load_or_train",
    "diffusion.experiments.toy2d.markdown_tables",
    "diffusion.experiments.toy2d.plot_dp",
    "diffusion.experiments.toy2d.plot_reconstructions",
    "diffusion.experiments.toy2d.plot_zeta_ablation",
    "diffusion.experiments.toy2d.prepare_out",
    "diffusion.experiments.toy2d.quality_stage",
    "diffusion.experiments.toy2d.run_experiment",
    "diffusion.experiments.toy2d.schedule_of",
    "diffusion.experiments.toy2d.sigma_stage",
    "diffusion.experiments.toy2d.strip_private",
    "diffusion.experiments.toy2d.unit",
    "diffusion.experiments.toy2d.validate_config",
    "diffusion.experiments.toy2d.validate_experiment",
    "diffusion.experiments.toy2d.write_combined",
    "diffusion.experiments.toy2d.write_figures",
    "diffusion.experiments.toy2d.zeta_validation_stage",
    "diffusion.experiments.toy2d.experiment.machine_info",
    "diffusion.experiments.toy2d.experiment.settings_record",
    "diffusion.experiments.toy2d.models.atomic_torch_save",
    "diffusion.experiments.toy2d.run.iter_units",
    "diffusion.experiments.toy2d.store.timed",
    "diffusion.guidance.check_eta_batch",
    "diffusion.metrics.resolve_classifier",
    "diffusion.operators.base.check_float_dtype",
    "diffusion.priors.fit_gmm.FitConfig",
    "diffusion.priors.fit_gmm.fit",
    "diffusion.priors.fit_gmm.samples_figure",
    "diffusion.training.alpha_tables",
    "diffusion.training.check_out_dir",
    "diffusion.training.check_out_file",
    "diffusion.training.check_plain",
    "diffusion.training.diffuse",
    "diffusion.training.ema_update",
    "diffusion.training.load_model",
    "diffusion.training.load_modules",
    "diffusion.training.load_plain",
    "diffusion.training.save_model",
    "diffusion.training.save_modules",
    "diffusion.training.outputs.weights_parser",
    "numerics.dp_curve.run.ChainSettings.settings",
    "diffusion.LinearOperator.prox_l2",
    "diffusion.experiments.restore.RestoreConfig.record",
    "diffusion.experiments.restore.Task.check_size",
    "diffusion.experiments.toy2d.Chain.build",
    "diffusion.experiments.toy2d.Chain.sweep",
    "diffusion.experiments.toy2d.DatasetPlan.build",
    "diffusion.experiments.toy2d.Pairs.draw",
    "diffusion.experiments.toy2d.Pairs.y",
    "diffusion.experiments.toy2d.Store.load",
    "diffusion.experiments.toy2d.Store.save",
    "diffusion.experiments.toy2d.Store.saved",
)

for _name in NOT_YET_FUZZED:
    exempt(_name, NOT_YET)

# report_dps.run changed signature in the restructure (a ReportConfig instead of keywords):
# its old factory no longer binds.
importlib.import_module("tests.fuzz.registry_more")
_reg.REGISTRY.pop("diffusion.experiments.report_dps.run", None)
exempt("diffusion.experiments.report_dps.run", NOT_YET + " (signature changed)")

# numerics.progress (session 25): the up-front time estimate every long command prints. The
# labels (prog, what, basis, line) are message text, passed as they are (fixed).
import numerics.progress as _progress  # noqa: E402
from tests.fuzz.harness import fixed  # noqa: E402


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
