"""The colour prior that ships (#20): RGB patches split by source image, the
``patches32rgb`` training set, the FD report's formulas, the colour samples figure, and
``restore --input photo.png --prior patches32rgb`` end to end on the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.data.image_sets import load_training_data
from diffusion.data.patches import (
    COLOUR_FIT_IMAGES,
    COLOUR_TEST_IMAGES,
    FIT_IMAGES,
    TEST_IMAGES,
    extract_patches,
    load_image,
    patch_dataset,
)
from diffusion.training.prior_quality import fd_table, gaussian_draws
from diffusion.training.train_prior import main as train_main
from diffusion.training.train_prior import samples_figure


def test_colour_split_is_by_source_image_and_agrees_with_the_grey_split():
    assert set(COLOUR_FIT_IMAGES).isdisjoint(COLOUR_TEST_IMAGES)
    # no colour fit photograph is held out in grey and vice versa
    assert set(COLOUR_FIT_IMAGES) <= set(FIT_IMAGES)
    assert not set(COLOUR_FIT_IMAGES) & set(TEST_IMAGES)
    for split, names in (("fit", COLOUR_FIT_IMAGES), ("test", COLOUR_TEST_IMAGES)):
        p, src = patch_dataset(split, 2 * len(names), size=8, colour=True, return_sources=True)
        assert p.shape == (2 * len(names), 3, 8, 8) and -1.0 <= p.min() and p.max() <= 1.0
        assert sorted(set(src.tolist())) == sorted(names)
        again = patch_dataset(split, 2 * len(names), size=8, colour=True)
        assert np.array_equal(p, again)  # seeded


def test_colour_image_is_the_skimage_photograph_in_minus_one_one():
    import skimage.data

    x = load_image("coffee", colour=True)
    ref = skimage.data.coffee().astype(np.float64).transpose(2, 0, 1) / 255.0 * 2.0 - 1.0
    assert x.shape == (3, 400, 600) and np.allclose(x, ref, atol=1e-12, rtol=0)
    left = skimage.data.stereo_motorcycle()[0].astype(np.float64).transpose(2, 0, 1)
    assert np.allclose(load_image("stereo_motorcycle", colour=True), left / 127.5 - 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="colour fit or test images"):
        load_image("camera", colour=True)


def test_colour_patches_are_windows_of_the_image_with_all_channels():
    # every value unique: channel c, row i, column j holds 10000 c + 100 i + j
    c, i, j = np.meshgrid(np.arange(3), np.arange(30), np.arange(40), indexing="ij")
    img = 10000.0 * c + 100.0 * i + j
    p = extract_patches(img, 25, size=6, rng=np.random.default_rng(3))
    assert p.shape == (25, 3, 6, 6)
    for q in p:
        i0, j0 = int(q[0, 0, 0] // 100), int(q[0, 0, 0] % 100)
        assert np.array_equal(q, img[:, i0 : i0 + 6, j0 : j0 + 6])
    # the same positions as the grey route on one channel (same generator, no rejection)
    grey = extract_patches(img[1], 25, size=6, rng=np.random.default_rng(3))
    assert np.array_equal(p[:, 1], grey)


def test_flat_colour_patches_are_rejected_on_all_channels():
    img = np.zeros((3, 20, 20))
    img[2, :, 10:] = 1.0  # only the blue channel has structure, in the right half
    p = extract_patches(img, 40, size=4, rng=np.random.default_rng(0), min_std=0.01)
    assert (p.reshape(40, -1).std(axis=1) >= 0.01).all()


def test_patches32rgb_training_set():
    data, flips, meta = load_training_data("patches32rgb", n_patches=12)
    assert data.shape == (12, 3, 32, 32) and data.dtype == torch.float32 and flips
    assert meta["shape"] == [3, 32, 32] and "colour=True" in meta["source"]
    ref = patch_dataset("fit", 12, size=32, colour=True)
    assert np.array_equal(data.numpy(), ref.astype(np.float32))


def test_fd_table_closed_forms():
    # a constant shift c of every pixel: FD = D c^2 on pixels, (D / b^2) c^2 on b x b means
    ref = np.random.default_rng(0).uniform(-1, 1, size=(200, 3, 8, 8))
    t = fd_table({"shift": ref + 0.5, "same": ref}, ref, blocks=(1, 4))
    assert t["shift"]["pixels"] == pytest.approx(192 * 0.25, rel=1e-9)
    assert t["shift"]["4x4 block means"] == pytest.approx(12 * 0.25, rel=1e-9)
    assert t["same"]["pixels"] == pytest.approx(0.0, abs=1e-6)
    assert t["shift"]["n"] == 200
    # 2x2 means of 8x8 images: scaling the held-out set by 2 about its mean scales every
    # covariance by 4, so FD = tr S + 4 tr S - 2 tr (2 S) = tr S, S the 2x2 means' covariance
    m = ref.mean(axis=0)
    bm = ref.reshape(200, 3, 4, 2, 4, 2).mean(axis=(3, 5)).reshape(200, -1)
    trS = np.trace(np.cov(bm, rowvar=False))
    t2 = fd_table({"wide": m + 2.0 * (ref - m)}, ref, blocks=(2,))
    assert t2["wide"]["2x2 block means"] == pytest.approx(trS, rel=1e-6)
    with pytest.raises(ValueError, match="blocks"):
        fd_table({"a": ref}, ref, blocks=(3,))


def test_gaussian_baseline_matches_the_fit_mean_and_covariance():
    # fit data: d = 4 (1 x 2 x 2), a known mean and covariance; n = 40000 draws of the fit.
    rng = np.random.default_rng(1)
    L = np.array([[1.0, 0, 0, 0], [0.5, 0.8, 0, 0], [0, 0.3, 0.6, 0], [0.2, 0, 0.1, 0.4]])
    fit = (rng.standard_normal((5000, 4)) @ L.T + [0.1, -0.2, 0.3, 0.0]).reshape(-1, 1, 2, 2)
    flat = fit.reshape(5000, -1)
    m, S = flat.mean(axis=0), np.cov(flat, rowvar=False)
    g = gaussian_draws(fit, 40000, seed=2).reshape(40000, -1)
    se = np.sqrt(np.diag(S) / 40000)  # standard error of each coordinate's mean
    assert np.all(np.abs(g.mean(axis=0) - m) < 5 * se)
    # a covariance entry's standard error is at most sqrt(S_ii S_jj * 2 / n) for a Gaussian
    tol = 5 * np.sqrt(2 * np.outer(np.diag(S), np.diag(S)) / 40000)
    assert np.all(np.abs(np.cov(g, rowvar=False) - S) < tol)


def test_colour_samples_figure_is_in_colour(tmp_path):
    class _Shape:  # samples given: the figure needs only the image shape
        image_shape = (3, 8, 8)

    x = -torch.ones(4, 3, 8, 8)
    x[:, 0] = 1.0  # red samples (-1 is 0 of 255, 1 is 255)
    real = -np.ones((4, 3, 8, 8))
    real[:, 2] = 1.0  # blue real patches
    samples_figure(_Shape(), real, tmp_path / "s.png", n=4, samples=x)
    a = np.asarray(Image.open(tmp_path / "s.png").convert("RGB"), dtype=np.int32)
    red = (a[..., 0] > 200) & (a[..., 1] < 60) & (a[..., 2] < 60)
    blue = (a[..., 2] > 200) & (a[..., 0] < 60) & (a[..., 1] < 60)
    assert red.sum() > 100 and blue.sum() > 100


def test_fd_report_refuses_the_digits(tmp_path, capsys):
    rc = train_main(["--data", "digits16", "--fd-report", str(tmp_path / "fd.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--fd-report" in err[0]


def test_restore_a_photo_with_the_shipped_colour_prior(tmp_path):
    """The must-show command on a fresh clone, offline, with a tiny --steps."""
    import skimage.data

    from diffusion.experiments.restore import main

    png = tmp_path / "photo.png"
    Image.fromarray(skimage.data.astronaut()[100:164, 180:244]).save(png)
    argv = ["--input", str(png), "--prior", "patches32rgb", "--task", "deblur",
            "--steps", "2", "--eta", "1", "--no-progress", "--threads", "1",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "out"
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "complete" and res["config"]["image_shape"] == [3, 32, 32]
    for name in ("clean.png", "y.png", "eta1_sample0.png"):
        with Image.open(out / "images" / "photo" / name) as im:
            assert (im.mode, im.size) == ("RGB", (32, 32)), name
