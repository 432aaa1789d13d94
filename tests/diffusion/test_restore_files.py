"""``python -m diffusion.restore --input / --measurement``: your own image files, in colour,
with any diffusers UNet2DModel folder (#19). Random-weight networks and a few steps: these
check the plumbing (files, shapes, colour, errors, resume), not restoration quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.experiments.restore import TASKS, main
from diffusion.experiments.restore.batching import CPU_BATCH, auto_batch, choose_batch
from diffusion.experiments.restore.cli import build_parser
from diffusion.experiments.restore.progress import Progress
from diffusion.operators import adjointness_test
from numerics.cli import UsageError

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--steps", "10", "--eta", "0,0.5,1", "--no-progress", "--threads", "1"]


def _pipeline(root: Path, *, channels=3, size=64) -> Path:
    """A random-weight UNet2DModel in a pipeline folder (unet/ + scheduler/)."""
    from diffusers import DDPMScheduler, UNet2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = UNet2DModel(
            sample_size=size, in_channels=channels, out_channels=channels,
            block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8,
            down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"),
        )  # fmt: skip
    net.save_pretrained(str(root / "unet"))
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_pretrained(
        str(root / "scheduler")
    )
    return root


def _photo(path: Path, size=(100, 80), mode="RGB", seed=0) -> Path:
    """A smooth colour test picture (width x height = ``size``)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 7.0 + seed)], axis=-1)
    Image.fromarray((255 * rgb).astype(np.uint8), "RGB").convert(mode).save(path)
    return path


@pytest.fixture(scope="module")
def rgb_prior(tmp_path_factory):
    return _pipeline(tmp_path_factory.mktemp("rgb_unet"))


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory, rgb_prior):
    """The must-show run: a 3-channel PNG, a 3-channel 64 x 64 UNet folder, through the CLI
    in a fresh interpreter (``python -m diffusion.restore``), timed."""
    d = tmp_path_factory.mktemp("sr_run")
    png = _photo(d / "photo.png")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = ["--input", str(png), "--prior", str(rgb_prior), "--task", "sr4", "--out",
            str(d / "out"), *FAST]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "diffusion.restore", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d / "out", proc, seconds, argv


def test_colour_png_restored_end_to_end_through_the_cli(sr_run):
    out, proc, seconds, _ = sr_run
    assert seconds < 60, f"took {seconds:.1f} s"
    assert "photo.png: 100 x 80 -> centre crop 80 x 80 -> bicubic resize to 64 x 64" in proc.stdout
    folder = out / "images" / "photo"
    for name in (
        "clean.png",
        "y.png",
        "eta0_sample0.png",
        "eta0.5_sample0.png",
        "eta1_sample0.png",
    ):
        with Image.open(folder / name) as im:
            assert (im.mode, im.size) == ("RGB", (64, 64)), name
    with Image.open(out / "grid.png") as im:
        assert im.mode == "RGB"
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "complete" and res["config"]["image_shape"] == [3, 64, 64]
    assert [r["eta"] for r in res["per_eta"]] == [0.0, 0.5, 1.0]
    for r in res["per_eta"]:
        assert {"psnr", "ssim", "mse", "residual"} <= set(r)
        assert r["psnr"] == pytest.approx(10 * np.log10(4 / r["mse"]), rel=1e-9)  # one sample
    img = res["images"][0]
    assert img["measurement_view"] == "nearest-neighbour upsampled x4 from 16 x 16"
    smp = np.load(folder / "samples.npy", allow_pickle=False)
    assert smp.shape == (3, 1, 3, 64, 64) and np.isfinite(smp).all()
    y = np.load(folder / "y.npy", allow_pickle=False)
    assert y.shape == (3, 16, 16)
    # the clean PNG is the prepared image: its 4 x 4 block means are y up to the noise
    clean = np.asarray(Image.open(folder / "clean.png"), dtype=np.float64) / 127.5 - 1
    blocks = clean.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3)).transpose(2, 0, 1)
    assert np.std(y - blocks) == pytest.approx(0.05, rel=0.15)


def test_resume_recomputes_only_missing_images_and_gives_the_same_results(sr_run, tmp_path):
    out, _, _, argv = sr_run
    before = (out / "results.json").read_bytes()
    (out / "results.json").unlink()
    (out / "records" / "00000.json").unlink()
    assert main([*argv, "--resume"]) == 0
    assert (out / "results.json").read_bytes() == before
    assert main(argv) == 2  # an existing run needs --resume


def test_a_measurement_you_have_is_restored_and_the_residual_reported(sr_run, rgb_prior, tmp_path):
    out, *_ = sr_run
    y = out / "images" / "photo" / "y.npy"
    rc = main(["--measurement", str(y), "--prior", str(rgb_prior), "--task", "sr4",
               "--out", str(tmp_path / "m"), *FAST])  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "m" / "results.json").read_text())
    ref = json.loads((out / "results.json").read_text())
    assert res["config"]["mode"] == "measurement"
    for r, q in zip(res["per_eta"], ref["per_eta"], strict=True):
        assert set(r) == {"eta", "residual", "residual_rms"}  # no clean image, no PSNR
        # the same y (stored in float32) and seeds: the same restorations
        assert r["residual"] == pytest.approx(q["residual"], rel=1e-5)
    with Image.open(tmp_path / "m" / "images" / "y" / "eta1_sample0.png") as im:
        assert im.mode == "RGB"
    # a PNG measurement of the right size works too
    Image.open(out / "images" / "photo" / "clean.png").resize((16, 16)).save(tmp_path / "y.png")
    rc = main(["--measurement", str(tmp_path / "y.png"), "--prior", str(rgb_prior),
               "--task", "sr4", "--out", str(tmp_path / "p"), *FAST, "--eta", "1"])  # fmt: skip
    assert rc == 0


def test_batching_does_not_change_the_restorations(rgb_prior, tmp_path):
    """Each chain has its own generator: 1 or 4 chains per call give the same samples (in
    float64; float32 batched convolutions round differently and DPS amplifies it)."""
    png = _photo(tmp_path / "a.png", size=(64, 64))
    outs = []
    for b in ("1", "4"):
        rc = main(["--input", str(png), "--prior", str(rgb_prior), "--task", "deblur",
                   "--out", str(tmp_path / b), "--image-batch", b, "--samples-per-image", "2",
                   "--steps", "3", "--eta", "0,1", "--dtype", "float64", "--no-progress",
                   "--threads", "1"])  # fmt: skip
        assert rc == 0
        outs.append(np.load(tmp_path / b / "images" / "a" / "samples.npy"))
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-6)


def test_a_folder_of_images_with_a_grey_prior_and_exact_guidance(tmp_path, capsys):
    from diffusion.data.patches import patch_dataset
    from diffusion.priors.fit_gmm import fit_patch_gmm, save_gmm

    w, mu, S, info = fit_patch_gmm(patch_dataset("fit", 400, size=8, seed=0), 2, max_iter=5, seed=0)
    save_gmm(tmp_path / "tiny.npz", w, mu, S, command="test fixture", meta=info)
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "b.jpg", size=(40, 40))
    _photo(folder / "a.png", size=(30, 50), mode="L", seed=1)
    (folder / "notes.txt").write_text("not an image")
    rc = main(["--input", str(folder), "--prior", "gmm", "--weights", str(tmp_path / "tiny.npz"),
               "--task", "inpaint", "--out", str(tmp_path / "o"), *FAST,
               "--samples-per-image", "2"])  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["config"]["guidance"] == "exact"  # the mixture's exact posterior by default
    assert [im["name"] for im in res["images"]] == ["a", "b"]
    assert "centre crop 30 x 30 -> bicubic resize to 8 x 8" in res["images"][0]["prepared"]
    with Image.open(tmp_path / "o" / "images" / "b" / "eta1_sample1.png") as im:
        assert (im.mode, im.size) == ("L", (8, 8))
    y = np.load(tmp_path / "o" / "images" / "a" / "y.npy")
    assert np.all(y[0, 2:6, 2:6] == 0) and np.all(y[0, :2] != 0)  # the box is zero-filled
    assert "a.png: 30 x 50" in capsys.readouterr().out


def _err(capsys):
    return capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (None, ["--input", "{d}/missing.png"], "--input: {d}/missing.png does not exist"),
        ("garbage", ["--input", "{d}/bad.png"], "--input: cannot read {d}/bad.png as an image"),
        ("empty", ["--input", "{d}/empty"], "--input: no PNG or JPEG files"),
        (None, ["--input", "{d}/x.png", "--measurement", "{d}/y.npy"], "not allowed with"),
        ("pickle", ["--measurement", "{d}/obj.npy"], "--measurement: cannot read"),
        ("wrong", ["--measurement", "{d}/wrong.npy"], "--measurement: {d}/wrong.npy has shape [3, 8, 8]"),
        ("small", ["--measurement", "{d}/small.png"], "--measurement: {d}/small.png is 5 x 5 pixels"),
        ("empty", ["--input", "{d}/empty", "--image-batch", "0"], "--image-batch"),
        ("empty", ["--input", "{d}/empty", "--tune-zeta", "1,2"], "--tune-zeta"),
    ],
)  # fmt: skip
def test_bad_files_exit_2_with_one_line_naming_the_option(
    tmp_path, capsys, rgb_prior, make, extra, message
):
    d = tmp_path
    if make == "garbage":
        (d / "bad.png").write_bytes(b"not a png at all")
    elif make == "empty":
        (d / "empty").mkdir()
    elif make == "pickle":
        np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif make == "wrong":
        np.save(d / "wrong.npy", np.zeros((3, 8, 8)))
    elif make == "small":
        Image.new("RGB", (5, 5)).save(d / "small.png")
    argv = [a.format(d=d) for a in extra]
    rc = main([*argv, "--prior", str(rgb_prior), "--task", "sr2", "--out", str(d / "o"), *FAST])
    err = _err(capsys)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert message.format(d=d) in err, err


def test_a_colour_network_in_the_data_set_mode_points_at_input(tmp_path, capsys):
    prior = _pipeline(tmp_path / "p", size=8)
    rc = main(["--task", "sr2", "--prior", str(prior), "--guidance", "dps", "--out",
               str(tmp_path / "o"), "--steps", "2"])  # fmt: skip
    err = _err(capsys)
    assert rc == 2 and "1 channel" in err and "--input" in err
    rc = main(["--task", "sr2", "--image-batch", "auto", "--out", str(tmp_path / "o2")])
    assert rc == 2 and "--image-batch auto: applies to --input" in _err(capsys)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_operator_takes_colour_images_with_an_exact_adjoint(task):
    op = TASKS[task].make((3, 32, 24))
    assert op.in_shape == (3, 32, 24)
    assert adjointness_test(op, generator=torch.Generator().manual_seed(0)) < 1e-12
    x = torch.randn(2, 3, 32, 24, dtype=torch.float64)
    # channels are measured independently, each as the one-channel operator would
    one = TASKS[task].make((1, 32, 24))
    np.testing.assert_allclose(op.A(x)[:, 1:2], one.A(x[:, 1:2]), atol=1e-14)


def test_every_option_has_a_help_line_with_its_default():
    parser = build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, action.option_strings
        text = formatter._get_help_string(action)
        assert "default" in text or (action.required and "required" in text), text
    seed = next(a for a in parser._actions if a.dest == "seed")
    assert formatter._expand_help(seed).endswith("(default: 0)")  # 0 is a default too


def test_auto_batch_fits_free_gpu_memory_with_a_clear_error(monkeypatch):
    assert auto_batch(lambda n: None, 100, "cpu") == CPU_BATCH
    assert auto_batch(lambda n: None, 3, "cpu") == 3
    assert choose_batch(1e9, 10e9, 100) == 8  # 80 % of free memory
    with pytest.raises(UsageError, match="--image-batch auto: one chain needs about"):
        choose_batch(2e9, 1e9, 100)
    # the CUDA route, with torch.cuda's memory queries replaced: a probe of 2 chains
    # peaking at 3 GiB over the baseline -> 1.5 GiB per chain; 16 GiB free -> 8 chains
    c = torch.cuda
    peak = {"v": 0}
    for name, fn in {
        "synchronize": lambda d=None: None, "empty_cache": lambda: None,
        "mem_get_info": lambda d=None: (16 * 2**30, 80 * 2**30),
        "memory_allocated": lambda d=None: 2**30, "reset_peak_memory_stats": lambda d=None: None,
        "max_memory_allocated": lambda d=None: peak["v"], "is_available": lambda: True,
    }.items():  # fmt: skip
        monkeypatch.setattr(c, name, fn)

    def probe(n):
        peak["v"] = 2**30 + n * 1.5 * 2**30

    assert auto_batch(probe, 1000, "cuda") == 8

    def oom(n):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(UsageError, match="--image-batch auto: 2 chain"):
        auto_batch(oom, 1000, "cuda")


def test_a_long_run_announces_its_time_once(monkeypatch, capsys):
    from types import SimpleNamespace

    from numerics import progress  # where the clock is read

    clock = iter(np.arange(0.0, 100.0, 1.0))
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: float(next(clock))))
    p = Progress(1000, "10 chains x 100 steps", bar=False)
    for _ in range(5):
        p.update(10)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["restore: sampling 10 chains x 100 steps: about 1 min 37 s left "
                   "(estimated from the first 2.0 s)"]  # fmt: skip


@pytest.mark.parametrize(
    "task, y_shape", [("sr4_bicubic", (3, 16, 16)), ("inpaint_random70", (3, 64, 64))]
)
def test_the_papers_operators_restore_your_own_png_end_to_end(rgb_prior, tmp_path, task, y_shape):
    from diffusion.operators import paper_operator

    png = _photo(tmp_path / "photo.png", size=(72, 64))
    rc = main(["--input", str(png), "--prior", str(rgb_prior), "--task", task, "--out",
               str(tmp_path / "o"), "--steps", "3", "--eta", "0,1", "--seed", "5",
               "--no-progress", "--threads", "1"])  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["status"] == "complete" and res["config"]["task"] == task
    assert [r["eta"] for r in res["per_eta"]] == [0.0, 1.0]
    assert all(np.isfinite(r["psnr"]) for r in res["per_eta"])
    folder = tmp_path / "o" / "images" / "photo"
    with Image.open(folder / "eta1_sample0.png") as im:
        assert (im.mode, im.size) == ("RGB", (64, 64))
    y = np.load(folder / "y.npy", allow_pickle=False)
    assert y.shape == y_shape
    if task == "inpaint_random70":  # the paper's mask, drawn with --seed, zero-fills y
        mask = paper_operator(task, 64, 3, seed=5).mask.numpy()
        assert np.all(y[mask == 0] == 0) and (mask[0] == 0).mean() == pytest.approx(0.7, abs=1e-3)


def test_the_data_sets_refuse_the_papers_operators(tmp_path, capsys):
    rc = main(["--task", "deblur_gauss", "--out", str(tmp_path / "o"), "--steps", "2"])
    err = _err(capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "--task deblur_gauss" in err, err
    assert "--input" in err
