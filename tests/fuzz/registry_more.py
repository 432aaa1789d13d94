"""Valid tiny calls of diffusion's upper layers: priors (GMM image, UNet), baselines, data,
metrics, training and experiments."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np
import torch

import diffusion.baselines.diffpir  # noqa: F401  (the module; the package re-exports the function)
from diffusion.baselines import pscgan_images as pg
from diffusion.data import digits, patches, toy2d
from diffusion.experiments import report_dps, report_images, restore
from diffusion.experiments import toy2d as t2d
from diffusion.experiments.toy2d import models as tm
from diffusion.metrics import digit_classifier as dc
from diffusion.metrics import perception as pc
from diffusion.priors import GaussianPrior, GMMImagePrior, MixturePrior, fit_gmm, load_gmm, unet
from diffusion.priors.analytic import PAPER_GMM
from diffusion.sampler import DivergenceError
from diffusion.training import train_prior as tp
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry, exempt
from tests.fuzz.registry_core import F64, blur, gen, img, prior, sched, tvec

dp = sys.modules["diffusion.baselines.diffpir"]
ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "docs" / "figures" / "images" / "runs"
UNET = unet.resolve_prior("digits16")


def digit_imgs(n: int = 4, seed: int = 0):
    return torch.rand(n, 1, 16, 16, generator=gen(seed), dtype=torch.float32) * 2 - 1


@cache
def _classifier():
    return dc.load_digit_classifier()


def classifier():
    return _classifier()


def small_patches(n: int = 12, d: int = 4, seed: int = 0):
    return np.random.default_rng(seed).normal(size=(n, d))


def small_image_gmm(s: int = 2):
    d = s * s
    return GaussianMixture(
        np.array([0.5, 0.5]),
        np.stack([np.zeros(d), 0.5 * np.ones(d)]),
        np.stack([0.2 * np.eye(d), 0.1 * np.eye(d)]),
    )


def gaussian16():
    return GaussianPrior(np.zeros(16), 0.5 * np.eye(16), linear_schedule(1000))


# --------------------------------------------------------------------------- priors
@entry("diffusion.priors.GMMImagePrior")
def _(tmp):
    return call(
        GMMImagePrior,
        K(small_image_gmm(), "object"),
        sched(),
        meta=K({"a": 1}, "mapping"),
        then=lambda p: p(torch.zeros(2, 1, 2, 2, dtype=F64), 3),
    )


@entry("diffusion.priors.GMMImagePrior.from_file")
def _(tmp):
    path = tmp / "gmm.npz"
    g = small_image_gmm()
    fit_gmm.save_gmm(path, g.weights, g.means, g.covs, command="fuzz", meta={})
    return call(GMMImagePrior.from_file, K(path, "infile"), sched())


@entry("diffusion.priors.GMMImagePrior.fit")
def _(tmp):
    return call(
        GMMImagePrior.fit,
        small_patches(),
        K(2, "count"),
        sched(),
        reg_covar=K(1e-4, "sigma"),
        max_iter=K(3, "count"),
        tol=K(1e-3, "nonneg"),  # 0 is valid (EM runs max_iter iterations)
        seed=K(0, "seed"),
    )


@entry("diffusion.priors.load_gmm")
def _(tmp):
    path = tmp / "gmm.npz"
    g = small_image_gmm()
    fit_gmm.save_gmm(path, g.weights, g.means, g.covs, command="fuzz", meta={})
    return call(load_gmm, K(path, "infile"))


@entry("diffusion.priors.fit_gmm.fit_patch_gmm")
def _(tmp):
    return call(
        fit_gmm.fit_patch_gmm,
        small_patches(),
        K(2, "count"),
        reg_covar=K(1e-4, "sigma"),
        max_iter=K(3, "count"),
        tol=K(1e-3, "nonneg"),  # 0 is valid (EM runs max_iter iterations)
        seed=K(0, "seed"),
        verbose=K(0, "int"),
        checkpoint=K(lambda *a: None, "callable"),
        checkpoint_every=K(2, "count"),
        resume_state=K(_gmm_state(), "mapping"),  # continue after 1 of 3 iterations
        state_callback=K(lambda state: None, "callable"),
    )


def _gmm_state():
    """The EM state of fit_patch_gmm after one iteration on small_patches() (K = 2)."""
    states = []
    fit_gmm.fit_patch_gmm(small_patches(), 2, max_iter=1, tol=0, state_callback=states.append)
    return states[0]


@entry("diffusion.priors.fit_gmm.save_gmm")
def _(tmp):
    g = small_image_gmm()
    return call(
        fit_gmm.save_gmm,
        K(tmp / "g.npz", "outfile"),
        K(g.weights, "weights"),
        g.means,
        K(g.covs, "covs"),
        command=K("fuzz", "text"),
        meta=K({"a": 1}, "mapping"),
    )


exempt(
    "diffusion.priors.fit_gmm.main",
    "CLI entry point (python -m diffusion.fit_gmm_prior): tests/cli",
)


@entry("diffusion.priors.unet.build_unet")
def _(tmp):
    return call(
        unet.build_unet,
        K(8, "count"),
        K((8, 8), "list"),
        in_channels=K(1, "count"),
        layers_per_block=K(1, "count"),
        norm_num_groups=K(4, "count"),
        attention=False,
    )


@entry("diffusion.priors.unet.count_parameters")
def _(tmp):
    return call(unet.count_parameters, K(torch.nn.Linear(2, 3), "object"))


@entry("diffusion.priors.unet.UNetPrior")
def _(tmp):
    net = unet.build_unet(8, (8, 8), norm_num_groups=4)
    return call(
        unet.UNetPrior,
        K(net, "object"),
        linear_schedule(1000),
        clip=K((-1.0, 1.0), "list"),
        source=K("fuzz", "text"),
        then=lambda p: p(torch.zeros(1, 1, 8, 8), 500),
    )


@entry("diffusion.priors.unet.load_unet_prior")
def _(tmp):
    return call(
        unet.load_unet_prior,
        K(UNET, "indir"),
        image_shape=K((1, 16, 16), "shape"),
        device=K("cpu", "device"),
        dtype=K(torch.float32, "dtype"),
        clip=K((-1.0, 1.0), "list"),
    )


@entry("diffusion.priors.unet.resolve_prior")
def _(tmp):
    return call(unet.resolve_prior, K("digits16", "choice"))


@entry("diffusion.priors.unet.unet_model_folder")
def _(tmp):
    return call(unet.unet_model_folder, K(UNET, "indir"))


# --------------------------------------------------------------------------- baselines
@entry("diffusion.baselines.diffpir.data_step")
def _(tmp):
    return call(dp.data_step, K(blur(), "object"), img(), img(), K(0.5, "sigma"))


@entry("diffusion.baselines.diffpir.rho_schedule")
def _(tmp):
    # Entry 0 is documented as inf (unused): check the others.
    return call(dp.rho_schedule, sched(), K(0.1, "sigma"), K(7.0, "sigma"), view=lambda r: r[1:])


@entry("diffusion.baselines.diffpir.diffpir")
def _(tmp):
    return call(
        dp.diffpir,
        K(gaussian16(), "model"),
        img(),
        K(blur(), "object"),
        K(0.1, "sigma"),
        steps=K(3, "count"),
        zeta=K(0.3, "prob"),
        lam=K(7.0, "sigma"),
        generator=gen(),
        progress=False,
        x_T=K(None, None),
        max_abs=K(1e3, "sigma"),
        ok_errors=(DivergenceError,),
    )


exempt("diffusion.baselines.diffpir.DivergenceError", "exception class (raised, not called)")


def gsmall():
    return pg.ImageGenerator(z_channels=2, width=4)


def csmall():
    return pg.ImageCritic(width=4)


@entry("diffusion.baselines.pscgan_images.ImageGenerator")
def _(tmp):
    return call(
        pg.ImageGenerator,
        K(2, "count"),
        K(4, "count"),
        then=lambda g: g(digit_imgs(2), torch.zeros(2, 2, 16, 16)),
    )


@entry("diffusion.baselines.pscgan_images.ImageGenerator.forward")
def _(tmp):
    return call(gsmall().forward, digit_imgs(2), torch.zeros(2, 2, 16, 16))


@entry("diffusion.baselines.pscgan_images.ImageCritic")
def _(tmp):
    return call(pg.ImageCritic, K(4, "count"), then=lambda c: c(digit_imgs(2), digit_imgs(2, 1)))


@entry("diffusion.baselines.pscgan_images.ImageCritic.forward")
def _(tmp):
    return call(csmall().forward, digit_imgs(2), digit_imgs(2, 1))


@entry("diffusion.baselines.pscgan_images.deblur_operator")
def _(tmp):
    return call(pg.deblur_operator)


@entry("diffusion.baselines.pscgan_images.gradient_penalty")
def _(tmp):
    return call(
        pg.gradient_penalty,
        K(csmall(), "object"),
        digit_imgs(2),
        digit_imgs(2, 1),
        digit_imgs(2, 2),
        gen(),
    )


@entry("diffusion.baselines.pscgan_images.measure")
def _(tmp):
    return call(pg.measure, digit_imgs(2), K(0.05, "sigma"), gen(), operator=K(None, None))


@entry("diffusion.baselines.pscgan_images.pscgan_restore")
def _(tmp):
    return call(
        pg.pscgan_restore,
        K(gsmall(), "object"),
        digit_imgs(2),
        n_avg=K(2, "count"),
        sigma_z=K(1.0, "nonneg"),
        generator=gen(),
        chunk=K(4, "count"),
    )


@entry("diffusion.baselines.pscgan_images.save_pscgan")
def _(tmp):
    return call(
        pg.save_pscgan,
        K(gsmall(), "object"),
        K(tmp / "g.pt", "outfile"),
        info=K({"a": 1}, "mapping"),
    )


@entry("diffusion.baselines.pscgan_images.load_pscgan")
def _(tmp):
    return call(pg.load_pscgan, K(pg.DEFAULT_PATH, "infile"), device=K("cpu", "device"))


def _pscgan_rows(rows):
    # sigma_z is NaN ("not applicable") in the y and lmmse rows by design: check the rest.
    return [
        {k: v for k, v in r.items() if k != "sigma_z" or r["estimator"] == "pscgan"} for r in rows
    ]


@entry("diffusion.baselines.pscgan_images.evaluate_pscgan", heavy=True)
def _(tmp):
    return call(
        pg.evaluate_pscgan,
        K(gsmall(), "object"),
        sigma_ys=K((0.05,), "list"),
        n_avgs=K((1,), "list"),
        sigma_zs=K((1.0,), "list"),
        split="val",
        seed=K(0, "seed"),
        classifier=K(classifier(), "object"),
        view=_pscgan_rows,
    )


@entry("diffusion.baselines.pscgan_images.train_pscgan_images", heavy=True)
def _(tmp):
    data = np.random.default_rng(0).uniform(-1, 1, size=(8, 16, 16)).astype(np.float32)
    return call(
        pg.train_pscgan_images,
        steps=K(2, "count"),
        batch=K(4, "count"),
        n_critic=K(1, "count"),
        n_penalty=K(2, "count"),
        lam=K(1.0, "nonneg"),
        gp=K(10.0, "nonneg"),
        lr=K(2e-4, "sigma"),
        betas=K((0.5, 0.9), "list"),
        ema=K(0.99, "prob"),
        seed=K(0, "seed"),
        sigma_y=K(0.05, "sigma"),
        data=data,
        generator_width=K(4, "count"),
        critic_width=K(4, "count"),
        resume_path=K(None, None),
        # "nonneg": save_every=0 (save at every log boundary) is a valid setting.
        save_every=K(30.0, "nonneg"),
        max_seconds=K(None, None),
        log_every=K(1, "count"),
        progress=False,
    )


# --------------------------------------------------------------------------- data
@entry("diffusion.data.digits.digits16")
def _(tmp):
    return call(digits.digits16, "val", seed=K(0, "seed"))


@entry("diffusion.data.digits.upsample")
def _(tmp):
    return call(digits.upsample, np.random.default_rng(0).uniform(size=(2, 4, 4)), K(2, "count"))


@entry("diffusion.data.patches.load_image")
def _(tmp):
    return call(patches.load_image, "camera")


@entry("diffusion.data.patches.extract_patches")
def _(tmp):
    return call(
        patches.extract_patches,
        np.random.default_rng(0).uniform(size=(20, 20)),
        K(3, "count"),
        size=K(8, "count"),
        rng=np.random.default_rng(0),
        min_std=K(0.0, "nonneg"),
    )


@entry("diffusion.data.patches.patch_dataset")
def _(tmp):
    return call(
        patches.patch_dataset,
        "test",
        K(3, "count"),
        size=K(8, "count"),
        seed=K(0, "seed"),
        min_std=K(0.02, "nonneg"),
        images=K(("camera",), "object"),
        return_sources=True,
    )


@entry("diffusion.data.toy2d.data_settings")
def _(tmp):
    return call(toy2d.data_settings, "moons")


@entry("diffusion.data.toy2d.make_data")
def _(tmp):
    return call(toy2d.make_data, "moons", K(8, "count"), np.random.default_rng(0))


@entry("diffusion.data.toy2d.raw_data")
def _(tmp):
    return call(toy2d.raw_data, "pinwheel", K(8, "count"), np.random.default_rng(0))


@entry("diffusion.data.toy2d.settings_hash")
def _(tmp):
    return call(toy2d.settings_hash, K({"a": [1.0, 2.0], "b": "x"}, "jsonable"))


# --------------------------------------------------------------------------- metrics
@entry("diffusion.metrics.digit_classifier.as_image_batch")
def _(tmp):
    return call(dc.as_image_batch, digit_imgs(), fixed("x"), device=K("cpu", "device"))


@entry("diffusion.metrics.digit_classifier.DigitCNN")
def _(tmp):
    return call(
        dc.DigitCNN,
        K((4, 4, 4), "list"),
        K(8, "count"),
        K(0.3, "prob"),
        then=lambda m: m.eval()(digit_imgs(2)),
    )


def cnn():
    torch.manual_seed(0)
    return dc.DigitCNN((4, 4, 4), 8).eval()


for _m in ("forward",):

    def _f(tmp, _m=_m):
        return call(getattr(cnn(), _m), digit_imgs(2))

    entry(f"diffusion.metrics.digit_classifier.DigitCNN.{_m}")(_f)

for _m in ("features", "logits", "predict"):

    def _f(tmp, _m=_m):
        return call(getattr(cnn(), _m), digit_imgs(3), batch=K(2, "count"))

    entry(f"diffusion.metrics.digit_classifier.DigitCNN.{_m}")(_f)


@entry("diffusion.metrics.digit_classifier.evaluate_accuracy")
def _(tmp):
    return call(
        dc.evaluate_accuracy,
        K(cnn(), "object"),
        digit_imgs(3),
        K(torch.tensor([1, 2, 3]), "tensor"),
    )


@entry("diffusion.metrics.digit_classifier.save_digit_classifier")
def _(tmp):
    return call(
        dc.save_digit_classifier,
        K(cnn(), "object"),
        K(tmp / "c.pt", "outfile"),
        K({"a": 1}, "mapping"),
    )


@entry("diffusion.metrics.digit_classifier.load_digit_classifier")
def _(tmp):
    return call(dc.load_digit_classifier, K(dc.DEFAULT_PATH, "infile"), K("cpu", "device"))


@entry("diffusion.metrics.digit_classifier.train_classifier", heavy=True)
def _(tmp):
    return call(
        dc.train_classifier,
        epochs=K(1, "count"),
        batch=K(256, "count"),
        lr=K(2e-3, "sigma"),
        seed=K(0, "seed"),
        progress=False,
    )


@entry("diffusion.metrics.perception.psnr")
def _(tmp):
    return call(pc.psnr, digit_imgs(), digit_imgs(4, 1), data_range=K(2.0, "sigma"))


@entry("diffusion.metrics.perception.ssim")
def _(tmp):
    return call(
        pc.ssim, digit_imgs(), digit_imgs(4, 1), data_range=K(2.0, "sigma"), win_size=K(7, "count")
    )


@entry("diffusion.metrics.perception.classifier_features")
def _(tmp):
    return call(pc.classifier_features, digit_imgs(), classifier=K(classifier(), "object"))


@entry("diffusion.metrics.perception.classifier_fd")
def _(tmp):
    return call(
        pc.classifier_fd, digit_imgs(66), digit_imgs(66, 1), classifier=K(classifier(), "object")
    )


def kid_kwargs():
    """The KID subset settings shared by the classifier and feature entry points."""
    return dict(
        subsets=K(3, "count"),
        subset_size=K(4, "count"),
        seed=K(0, "seed"),
        return_sd=True,
        paired=False,
    )


@entry("diffusion.metrics.perception.classifier_kid")
def _(tmp):
    return call(
        pc.classifier_kid,
        digit_imgs(6),
        digit_imgs(6, 1),
        classifier=K(classifier(), "object"),
        **kid_kwargs(),
    )


@entry("diffusion.metrics.perception.classifier_accuracy")
def _(tmp):
    return call(
        pc.classifier_accuracy,
        digit_imgs(3),
        K(np.array([1, 2, 3]), "array"),
        classifier=K(classifier(), "object"),
    )


def feats(n=6, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@entry("diffusion.metrics.perception.kid_from_features")
def _(tmp):
    return call(
        pc.kid_from_features,
        feats(),
        feats(seed=1),
        degree=K(3, "count"),
        coef=K(1.0, "float"),
        **kid_kwargs(),
    )


@entry("diffusion.metrics.perception.mmd2_unbiased")
def _(tmp):
    return call(
        pc.mmd2_unbiased,
        feats(),
        feats(seed=1),
        degree=K(3, "count"),
        coef=K(1.0, "float"),
        paired=False,
    )


@entry("diffusion.metrics.perception.poly_kernel")
def _(tmp):
    return call(pc.poly_kernel, feats(), feats(seed=1), degree=K(3, "count"), coef=K(1.0, "float"))


@entry("diffusion.metrics.perception.pixel_sliced_w2")
def _(tmp):
    return call(
        pc.pixel_sliced_w2,
        digit_imgs(),
        digit_imgs(4, 1),
        n_proj=K(8, "count"),
        seed=K(0, "seed"),
        rescale=True,
    )


@entry("diffusion.metrics.perception.optional_fid")
def _(tmp):
    return call(pc.optional_fid, digit_imgs(), digit_imgs(4, 1), quiet=True)


@entry("diffusion.metrics.perception.optional_lpips")
def _(tmp):
    return call(pc.optional_lpips, digit_imgs(), digit_imgs(4, 1), net_type="alex", quiet=True)


# --------------------------------------------------------------------------- training
@entry("diffusion.training.train_prior.ema_decay_at")
def _(tmp):
    return call(tp.ema_decay_at, K(10, "count"), K(0.999, "prob"))


@entry("diffusion.training.train_prior.load_training_data")
def _(tmp):
    return call(tp.load_training_data, "digits16", n_patches=K(8, "count"), seed=K(0, "seed"))


@entry("diffusion.training.train_prior.train", heavy=True)
def _(tmp):
    data = digit_imgs(8)
    return call(
        tp.train,
        data,
        K(tmp / "run", "outdir"),
        channels=K((8, 8), "list"),
        layers_per_block=K(1, "count"),
        iters=K(2, "count"),
        minutes=K(None, None),
        batch=K(4, "count"),
        lr=K(1e-3, "sigma"),
        warmup=K(1, "count"),
        seed=K(0, "seed"),
        flips=False,
        ema_decay=K(0.999, "prob"),
        log_every=K(1, "count"),
        ckpt_minutes=K(3.0, "sigma"),
        fresh=False,
        progress=False,
        data_meta=K({"a": 1}, "mapping"),
        device=K("cpu", "device"),
    )


exempt(
    "diffusion.training.train_prior.main",
    "CLI entry point (python -m diffusion.train_prior): tests/cli",
)
exempt("diffusion.training.train_prior.samples_figure", "plotting (matplotlib figure of samples)")


# --------------------------------------------------------------------------- experiments
exempt(
    "diffusion.experiments.report_dps.main",
    "CLI entry point (python -m diffusion.report_dps): tests/cli",
)
exempt("diffusion.experiments.report_images.main", "CLI entry point: tests/cli")
exempt("diffusion.experiments.report_images.convergence_figure", "plotting (matplotlib)")
exempt(
    "diffusion.experiments.restore.main", "CLI entry point (python -m diffusion.restore): tests/cli"
)
exempt("diffusion.experiments.restore.convergence_figure", "plotting (matplotlib)")
exempt("diffusion.experiments.toy2d.main", "CLI entry point (python -m diffusion.toy2d): tests/cli")
exempt(
    "diffusion.experiments.restore.PriorEntry",
    "plain frozen record; built by register_prior (fuzzed)",
)
exempt(
    "diffusion.experiments.restore.Task", "plain frozen record of the module's task table"
)


@entry("diffusion.experiments.report_dps.run")
def _(tmp):
    gmm = GaussianMixture(**PAPER_GMM)
    p = MixturePrior(gmm, linear_schedule(1000))
    post = gmm.posterior(np.eye(2), 0.5, [0.0, 0.0])
    return call(
        report_dps.run,
        K((0.0, 0.0), "list"),
        fixed("label"),
        "exact",
        K({"variance": "beta_tilde"}, "mapping"),
        n=K(4, "count"),
        steps=K(3, "count"),
        seed=K(0, "seed"),
        device=K("cpu", "device"),
        prior=K(p, "object"),
        post=K(post, "object"),
    )


@entry("diffusion.experiments.report_images.build_parser")
def _(tmp):
    return call(report_images.build_parser)


for _f in ("tables", "learned_tables"):

    def _fac(tmp, _f=_f):
        return call(getattr(report_images, _f), K(RUNS, "indir"))

    entry(f"diffusion.experiments.report_images.{_f}")(_fac)


@entry("diffusion.experiments.report_images.load_run")
def _(tmp):
    return call(
        # "text", not "choice": a run name that is not there is a normal state (load_run
        # returns None and its table cells read "—"), not an invalid value.
        report_images.load_run, K(RUNS, "indir"), K("exact_beta_tilde_deblur_0.05", "text")
    )


@entry("diffusion.experiments.restore.build_parser")
def _(tmp):
    return call(restore.build_parser)


@entry("diffusion.experiments.toy2d.build_parser")
def _(tmp):
    return call(t2d.build_parser)


@entry("diffusion.experiments.toy2d.load_config")
def _(tmp):
    return call(t2d.load_config, K(t2d.CONFIG_PATH, "infile"), quick=True)


def tiny_cfg():
    cfg = t2d.load_config(quick=True)
    cfg.update(
        sampling_steps=3,
        sigma_y_other=[],
        etas=[0.0, 1.0],
        zeta_grid=[0.002],
        zeta_ablation_factors=[1.0],
    )
    cfg["sizes"] = dict(n_train=64, n_test=8, n_val=8, n_quality=8, floor_repeats=2, n_oracle=64)
    cfg["score_training"].update(steps=2, batch=8, warmup=1)
    cfg["pscgan"].update(steps=2, batch=8, n_critic=1, n_avg=[1], sigma_z=[1.0])
    return cfg


@entry("diffusion.experiments.toy2d.run_dataset", heavy=True)
def _(tmp):
    return call(
        t2d.run_dataset,
        "moons",
        K(tiny_cfg(), "mapping"),
        K(tmp / "out", "outdir"),
        seed=K(0, "seed"),
        progress=False,
        log=K(lambda *a, **k: None, "callable"),
        validate_only=True,
    )


@entry("diffusion.experiments.toy2d.sweep_ours")
def _(tmp):
    net = prior()
    return call(
        t2d.sweep_ours,
        K(net, "model"),
        np.zeros((2, 2)),
        K(0.5, "sigma"),
        K([0.0, 1.0], "eta"),
        K(0.01, "zeta"),
        sched(),
        generator=gen(),
        form="likelihood",
        scale_by_beta=False,
        steps=K(3, "count"),
        variance="beta_tilde",
        progress=False,
        dtype=K(F64, "dtype"),
        ok_errors=(DivergenceError,),
    )


@entry("diffusion.experiments.toy2d.oracle_posterior")
def _(tmp):
    return call(
        t2d.oracle_posterior,
        np.random.default_rng(0).normal(size=(16, 2)),
        np.zeros((2, 2)),
        K(0.5, "sigma"),
        np.random.default_rng(1),
        chunk=K(4, "count"),
    )


@entry("diffusion.experiments.toy2d.dp_point")
def _(tmp):
    r = np.random.default_rng(0)
    return call(t2d.dp_point, *(r.normal(size=(6, 2)) for _ in range(5)))


def _claim_input():
    pts = [
        dict(mse=1.0 + 0.1 * i, mse_se=0.01, w2_joint=0.5 - 0.1 * i, w2_marginal=0.3, eta=0.1 * i)
        for i in range(3)
    ]
    return dict(
        ours=dict(points=pts), pscgan=dict(n_avg=pts[:2], sigma_z=pts[2:]), oracle=dict(mmse=0.9)
    )


@entry("diffusion.experiments.toy2d.claim_summary")
def _(tmp):
    return call(t2d.claim_summary, K(_claim_input(), "mapping"))


def score_mlp():
    torch.manual_seed(0)
    return tm.ScoreMLP(2, 4, (4,), (8,))


@entry("diffusion.experiments.toy2d.models.MLPBlock")
def _(tmp):
    return call(tm.MLPBlock, K(2, "count"), K((4, 4), "list"), then=lambda m: m(torch.zeros(3, 2)))


@entry("diffusion.experiments.toy2d.models.MLPBlock.forward")
def _(tmp):
    torch.manual_seed(0)
    return call(tm.MLPBlock(2, (4,)).forward, torch.randn(3, 2))


@entry("diffusion.experiments.toy2d.models.ScoreMLP")
def _(tmp):
    return call(
        tm.ScoreMLP,
        K(2, "count"),
        K(4, "count"),
        K((4,), "list"),
        K((8,), "list"),
        then=lambda m: m(torch.zeros(3, 2), torch.tensor([1, 2, 3])),
    )


@entry("diffusion.experiments.toy2d.models.ScoreMLP.forward")
def _(tmp):
    return call(score_mlp().forward, torch.randn(3, 2), K(torch.tensor([1, 2, 3]), "time"))


@entry("diffusion.experiments.toy2d.models.Generator")
def _(tmp):
    return call(
        tm.Generator,
        K(2, "count"),
        K(2, "count"),
        K((4,), "list"),
        K((8,), "list"),
        then=lambda g: g(torch.zeros(3, 2), torch.zeros(3, 2)),
    )


def gen2d():
    torch.manual_seed(0)
    return tm.Generator(2, 2, (4,), (8,))


@entry("diffusion.experiments.toy2d.models.Generator.forward")
def _(tmp):
    return call(gen2d().forward, torch.randn(3, 2), torch.randn(3, 2))


@entry("diffusion.experiments.toy2d.models.Critic")
def _(tmp):
    return call(
        tm.Critic,
        K(2, "count"),
        K((4, 4), "list"),
        then=lambda c: c(torch.zeros(3, 2), torch.zeros(3, 2)),
    )


@entry("diffusion.experiments.toy2d.models.Critic.forward")
def _(tmp):
    torch.manual_seed(0)
    return call(tm.Critic(2, (4, 4)).forward, torch.randn(3, 2), torch.randn(3, 2))


@entry("diffusion.experiments.toy2d.models.count_parameters")
def _(tmp):
    return call(tm.count_parameters, K(score_mlp(), "object"))


@entry("diffusion.experiments.toy2d.models.dsm_loss")
def _(tmp):
    return call(
        tm.dsm_loss,
        K(score_mlp(), "object"),
        torch.randn(3, 2),
        K(tvec(3, 2), "time"),
        torch.randn(3, 2),
        sched(),
    )


@entry("diffusion.experiments.toy2d.models.timestep_embedding")
def _(tmp):
    return call(tm.timestep_embedding, K(tvec(3, 2), "time"), K(4, "count"))


@entry("diffusion.experiments.toy2d.models.pscgan_estimate")
def _(tmp):
    return call(
        tm.pscgan_estimate,
        K(gen2d(), "object"),
        torch.randn(3, 2),
        n_avg=K(2, "count"),
        sigma_z=K(1.0, "nonneg"),
        generator=gen(),
    )


@entry("diffusion.experiments.toy2d.models.save_checkpoint")
def _(tmp):
    return call(
        tm.save_checkpoint,
        K(tmp / "c.pt", "outfile"),
        modules=K({"score": score_mlp()}, "mapping"),
        key=K("k", "text"),
        info=K({"a": 1}, "mapping"),
    )


@entry("diffusion.experiments.toy2d.models.load_checkpoint")
def _(tmp):
    path = tmp / "c.pt"
    tm.save_checkpoint(path, modules={"score": score_mlp()}, key="k", info={"a": 1})
    # A missing file means "not cached yet" (documented: returns None).
    return call(tm.load_checkpoint, K(path, "infile", missing_ok=True), K("k", "text"))


@entry("diffusion.experiments.toy2d.models.train_score", heavy=True)
def _(tmp):
    data = np.random.default_rng(0).normal(size=(32, 2))
    return call(
        tm.train_score,
        data,
        sched(),
        steps=K(2, "count"),
        batch=K(8, "count"),
        lr=K(2e-3, "sigma"),
        ema=K(0.999, "prob"),
        seed=K(0, "seed"),
        warmup=K(1, "count"),
        log_every=K(1, "count"),
        progress=False,
        net=K(score_mlp(), "object"),
    )


@entry("diffusion.experiments.toy2d.models.train_pscgan", heavy=True)
def _(tmp):
    data = np.random.default_rng(0).normal(size=(32, 2))
    return call(
        tm.train_pscgan,
        data,
        K(0.5, "sigma"),
        steps=K(2, "count"),
        batch=K(8, "count"),
        n_critic=K(1, "count"),
        n_penalty=K(2, "count"),
        lam=K(1.0, "nonneg"),
        gp=K(10.0, "nonneg"),
        lr=K(2e-4, "sigma"),
        betas=K((0.5, 0.9), "list"),
        seed=K(0, "seed"),
        log_every=K(1, "count"),
        progress=False,
    )
