"""The notebook API ``from diffusion import restore_images`` (#19): shapes, seeds, metrics,
a measurement you already have, colour UNet priors, and its argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diffusion
from diffusion.experiments.restore import api
from diffusion.metrics.pixel import psnr, ssim
from diffusion.operators import AveragePoolSR, GaussianBlur, Inpainting, box_mask
from diffusion.priors import GaussianPrior, UNetPrior
from diffusion.priors.unet import build_unet
from numerics.schedule import linear_schedule

SHAPE = (3, 8, 8)
D = 3 * 8 * 8


@pytest.fixture(scope="module")
def gauss():
    return GaussianPrior(np.zeros(D), 0.3 * np.eye(D), linear_schedule(1000))


def _images(B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, *SHAPE, generator=g, dtype=torch.float64) - 0.5


def test_found_from_the_package_and_lazily():
    assert diffusion.restore_images is api.restore_images
    assert "restore_images" in diffusion.__all__ and diffusion.Restoration is api.Restoration
    with pytest.raises(AttributeError, match="no_such_name"):
        diffusion.no_such_name  # noqa: B018


def test_shapes_metrics_and_batch_independence(gauss):
    op = AveragePoolSR(2, SHAPE)
    kw = dict(etas=[0, 0.5, 1], samples=2, zeta=0.5, steps=8, seed=3, dtype=torch.float64)
    res = diffusion.restore_images(_images(), op, gauss, **kw)
    assert res.samples.shape == (3, 2, 2, *SHAPE) and res.y.shape == (2, 3, 4, 4)
    assert res.etas == (0.0, 0.5, 1.0) and set(res.metrics) == {0.0, 0.5, 1.0}
    assert res.values["psnr"].shape == (3, 2, 2)
    # the metrics are those of metrics.pixel on each restoration, averaged
    x = res.samples[1].reshape(-1, *SHAPE)
    ref = _images().repeat(2, 1, 1, 1)
    assert res.metrics[0.5]["psnr"] == pytest.approx(psnr(x, ref), rel=1e-12)
    assert res.metrics[0.5]["ssim"] == pytest.approx(ssim(x, ref), rel=1e-12)
    r = (res.y.repeat(2, 1, 1, 1) - op.A(x.double())).reshape(4, -1).norm(dim=1)
    assert res.metrics[0.5]["residual"] == pytest.approx(float(r.mean()), rel=1e-12)
    assert res.metrics[0.5]["residual_rms"] == pytest.approx(float(r.mean()) / np.sqrt(48))
    # each chain has its own generator: one chain per call, or two images at once, agree
    one = diffusion.restore_images(_images(), op, gauss, batch=1, **kw)
    torch.testing.assert_close(one.samples, res.samples, rtol=0, atol=1e-10)
    first = diffusion.restore_images(_images()[:1], op, gauss, **kw)
    torch.testing.assert_close(first.samples[:, :, 0], res.samples[:, :, 0], rtol=0, atol=1e-10)


def test_measurement_is_seeded_with_unread_entries_zero():
    op = Inpainting(box_mask(SHAPE, (2, 2, 4, 4)))
    y = api.measure(_images(), op, 0.1, seed=5)
    assert torch.all(y[:, :, 2:6, 2:6] == 0) and torch.all(y[:, :, :2] != 0)
    torch.testing.assert_close(y, api.measure(_images(), op, 0.1, seed=5))
    noise = (y - op.A(_images()))[:, :, :2]
    assert float(noise.std()) == pytest.approx(0.1, rel=0.25)
    # image b's noise depends on (seed, b) only
    torch.testing.assert_close(api.measure(_images()[1:], op, 0.1, 5, ids=[1]), y[1:])


def test_a_given_measurement_without_clean_images_reports_the_residual(gauss):
    op = GaussianBlur(3, 1.0, SHAPE)
    y = api.measure(_images(1), op, 0.05, seed=0)[0]
    res = diffusion.restore_images(None, op, gauss, y=y, etas=[1], steps=5, guidance="exact")
    assert sorted(res.metrics[1.0]) == ["residual", "residual_rms"]
    assert res.samples.shape == (1, 1, 1, *SHAPE)


def test_exact_guidance_at_eta_1_samples_the_exact_posterior(gauss):
    """The exact posterior of a Gaussian prior: the η = 1 samples' mean and spread."""
    op = AveragePoolSR(2, SHAPE)
    x = _images(1)
    res = diffusion.restore_images(x, op, gauss, etas=[1], samples=400, guidance="exact",
                                   steps=200, seed=1, dtype=torch.float64)  # fmt: skip
    post = gauss.posterior(op, 0.05, res.y[0])
    smp = res.samples[0, :, 0].reshape(400, -1).numpy()
    se = np.sqrt(np.diag(post.cov) / 400)
    assert np.all(np.abs(smp.mean(0) - post.loc) < 5 * se)
    assert smp.var(0, ddof=1).mean() == pytest.approx(np.diag(post.cov).mean(), rel=0.1)


def test_a_colour_unet_prior_in_memory():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_unet(8, (8, 16), in_channels=3)
    prior = UNetPrior(net, linear_schedule(1000), clip=(-1, 1))
    res = diffusion.restore_images(_images(1).float(), AveragePoolSR(2, SHAPE), prior,
                                   etas=[0, 1], steps=4, zeta=0.3)  # fmt: skip
    assert res.samples.shape == (2, 1, 1, *SHAPE) and torch.isfinite(res.samples).all()
    assert np.isfinite(res.metrics[0.0]["psnr"])


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(images=torch.zeros(1, 1, 8, 8)), "in_shape"),
        (dict(images=None), "give the clean images"),
        (dict(guidance="gibbs"), "guidance"),
        (dict(etas=[0.5, 1.5]), "etas"),
        (dict(samples=0), "samples"),
        (dict(sigma_y=0.0), "sigma_y"),
        (dict(batch=0), "batch"),
        (dict(y=torch.zeros(2, 3, 8, 8)), r"expected shape \[B, 3, 4, 4\]"),
    ],
)
def test_bad_arguments_name_themselves(gauss, kw, match):
    args = dict(images=_images(), steps=2)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        diffusion.restore_images(args.pop("images"), AveragePoolSR(2, SHAPE), gauss, **args)


def test_colour_psnr_and_ssim_follow_scikit_image_and_torchmetrics(rng):
    """PSNR over all pixels and channels of an image; SSIM per channel, averaged."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from torchmetrics.image import PeakSignalNoiseRatio

    x = rng.uniform(-1, 1, (3, 3, 16, 16))
    r = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1)
    ref = [peak_signal_noise_ratio(b, a, data_range=2.0) for a, b in zip(x, r, strict=True)]
    np.testing.assert_allclose(psnr(x, r, per_image=True), ref, rtol=1e-12)
    tm = PeakSignalNoiseRatio(data_range=2.0, dim=(1, 2, 3))
    assert psnr(x, r) == pytest.approx(float(tm(torch.as_tensor(x), torch.as_tensor(r))), rel=1e-6)
    s = [
        structural_similarity(a, b, data_range=2.0, channel_axis=0)
        for a, b in zip(x, r, strict=True)
    ]
    np.testing.assert_allclose(ssim(x, r, per_image=True), s, rtol=1e-12)
    per_channel = [ssim(x[:, c], r[:, c]) for c in range(3)]
    assert ssim(x, r) == pytest.approx(np.mean(per_channel), rel=1e-12)
    with pytest.raises(ValueError, match="smaller than the window"):
        ssim(x[..., :5, :5], r[..., :5, :5])
