"""diffusion.pscgan_images: networks, WGAN-GP penalty, N-sample averaging, training, checkpoints."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion.baselines.pscgan_images import (
    DEBLUR,
    ImageCritic,
    ImageGenerator,
    deblur_operator,
    gradient_penalty,
    load_pscgan,
    pscgan_restore,
    save_pscgan,
    train_pscgan_images,
)
from diffusion.data.digits import digits16
from diffusion.experiments.toy2d.models import count_parameters
from diffusion.training.checkpoint import load_plain

from ._helpers import gen, one_thread  # noqa: F401  (autouse)
from ._unsafe import assert_one_line, bad_out_files, crafted_checkpoint, unsafe_load_runs_code

REPO = Path(__file__).resolve().parents[2]

TINY = dict(
    batch=8, n_critic=1, n_penalty=2, generator_width=8, critic_width=8, log_every=10, seed=5
)


def test_networks_are_small_and_map_image_pairs():
    g, D = ImageGenerator(), ImageCritic()
    assert count_parameters(g) < 300_000 and count_parameters(D) < 300_000
    y = torch.zeros(3, 1, 16, 16)
    assert g(y, torch.zeros(3, g.z_channels, 16, 16)).shape == (3, 1, 16, 16)
    assert D(y, y).shape == (3,)


class _LinearCritic(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x, y):
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_is_the_squared_excess_of_the_gradient_norm():
    w = torch.randn(1, 1, 16, 16, generator=gen(0))
    x, xf = torch.randn(2, 4, 1, 16, 16, generator=gen(1))
    y = torch.zeros_like(x)
    for scale, expected in ((1.0, 0.0), (3.0, 4.0)):  # gradient w/|w| * scale: (scale - 1)^2
        D = _LinearCritic(scale * w / w.norm())
        got = gradient_penalty(D, x, xf, y, gen(2))
        assert float(got) == pytest.approx(expected, abs=1e-5)


def test_restore_averages_samples_and_sigma_z_zero_is_deterministic():
    g = ImageGenerator(width=8)
    y = torch.as_tensor(digits16("val")[0][:5], dtype=torch.float32)[:, None]
    z0 = g(y, torch.zeros(5, g.z_channels, 16, 16))
    for N in (1, 3):
        torch.testing.assert_close(pscgan_restore(g, y, n_avg=N, sigma_z=0.0), z0)
    # the average of N samples is the mean of N single draws with the same latents
    a = pscgan_restore(g, y, n_avg=4, generator=gen(3))
    z = torch.randn(4, 5, g.z_channels, 16, 16, generator=gen(3))
    singles = torch.stack([g(y, z[m]) for m in range(4)])
    torch.testing.assert_close(a, singles.mean(0), rtol=1e-5, atol=1e-6)
    # chunking does not change the result
    torch.testing.assert_close(pscgan_restore(g, y, n_avg=4, generator=gen(3), chunk=5), a)
    torch.testing.assert_close(pscgan_restore(g, y, n_avg=4, generator=gen(3), chunk=2), a)
    with pytest.raises(ValueError, match="n_avg"):
        pscgan_restore(g, y, n_avg=0)
    with pytest.raises(ValueError, match="sigma_z"):
        pscgan_restore(g, y, sigma_z=-1.0)
    with pytest.raises(ValueError, match="y: expected images"):
        pscgan_restore(g, torch.zeros(2, 3, 16, 16))


def test_shipped_generator_averaging_lowers_the_mse():
    """E||mean_N - x||^2 = ||E g - x||^2 + V / N, V the samples' variance: it falls with N.

    64 test digits, sigma_y = 0.05 (the training level), N = 1, 4, 16 on fixed measurements;
    checked against the variance formula with V estimated from 16 samples per image.
    """
    g = load_pscgan()
    assert g.info["settings"]["sigma_y"] == DEBLUR["sigma_y"] and g.info["finished"]
    x = torch.as_tensor(digits16("test")[0][:64], dtype=torch.float32)[:, None]
    y = deblur_operator()(x) + DEBLUR["sigma_y"] * torch.randn(x.shape, generator=gen(0))
    z = torch.randn(16, 64, g.z_channels, 16, 16, generator=gen(1))
    with torch.no_grad():
        s = torch.stack([g(y, z[m]) for m in range(16)])  # [16, 64, 1, 16, 16]
    mse = {N: float(((s[:N].mean(0) - x) ** 2).mean()) for N in (1, 4, 16)}
    assert mse[1] > mse[4] > mse[16]
    V = float(s.var(0).mean())  # per-pixel sample variance (unbiased)
    assert V > 0  # the generator did not collapse onto one output
    # prediction from the variance formula, relative to N = 16 (what is left is noise)
    for N in (1, 4):
        pred = mse[16] + V * (1 / N - 1 / 16)
        assert mse[N] == pytest.approx(pred, rel=0.25)


def test_tiny_training_lowers_the_penalty_and_resume_is_exact(tmp_path):
    data = digits16("train")[0][:64]
    g, log = train_pscgan_images(steps=60, data=data, **TINY)
    assert log["finished"] and log["steps_done"] == 60
    assert log["penalty"][-1] < 0.8 * log["penalty"][0]
    # 20 steps, then resumed to 40, equals 40 straight
    straight, _ = train_pscgan_images(steps=40, data=data, **TINY)
    path = tmp_path / "r.pt"
    train_pscgan_images(steps=20, data=data, resume_path=path, **TINY)
    resumed, rlog = train_pscgan_images(steps=40, data=data, resume_path=path, **TINY)
    assert rlog["steps_done"] == 40 and len(rlog["penalty"]) == 4
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="other settings"):
        train_pscgan_images(steps=40, data=data, resume_path=path, **{**TINY, "n_penalty": 3})


def test_save_load_round_trip_and_wrong_file(tmp_path):
    g = ImageGenerator(width=8)
    path = tmp_path / "g.pt"
    save_pscgan(g, path, {"settings": {"sigma_y": 0.05}})
    back = load_pscgan(path)
    y = torch.randn(2, 1, 16, 16, generator=gen(0))
    z = torch.randn(2, g.z_channels, 16, 16, generator=gen(1))
    torch.testing.assert_close(back(y, z), g(y, z), rtol=0, atol=0)
    assert back.info["settings"]["sigma_y"] == 0.05 and not back.training
    torch.save({"key": "nope"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a PSCGAN"):
        load_pscgan(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_pscgan(tmp_path / "missing.pt")


def test_bad_training_arguments_are_rejected():
    with pytest.raises(ValueError, match="steps"):
        train_pscgan_images(steps=0)
    with pytest.raises(ValueError, match="sigma_y"):
        train_pscgan_images(steps=1, sigma_y=-0.1)
    with pytest.raises(ValueError, match="data"):
        train_pscgan_images(steps=1, data=np.zeros((4, 8, 8)))


def test_evaluation_rows_score_the_measurement_and_every_setting():
    from diffusion.baselines.pscgan_images import evaluate_pscgan

    g = ImageGenerator(width=8)
    rows = evaluate_pscgan(g, sigma_ys=(0.2,), n_avgs=(1, 2), sigma_zs=(0.0,), split="val")
    names = [(r["estimator"], r["n_avg"]) for r in rows]
    assert names == [("y", 0), ("lmmse", 0), ("pscgan", 1), ("pscgan", 2)]
    # sigma_z = 0: N does not matter
    assert rows[2]["mse"] == pytest.approx(rows[3]["mse"], rel=1e-6)
    # the linear MMSE estimate knows sigma_y: it beats the measurement by far
    assert rows[1]["mse"] < 0.5 * rows[0]["mse"]
    # the measurement row: blur plus noise of variance 0.04 per pixel (n = 179 * 256 pixels)
    x = torch.as_tensor(digits16("val")[0], dtype=torch.float32)[:, None]
    blur_err = float(((deblur_operator()(x) - x) ** 2).mean())
    sd = 0.04 * np.sqrt(2 / x.numel()) + 2 * 0.2 * np.sqrt(blur_err / x.numel())
    assert rows[0]["mse"] == pytest.approx(blur_err + 0.04, abs=4 * sd)
    assert rows[0]["mse_image"] == pytest.approx(256 * rows[0]["mse"])


# --------------------------------------------------------------------------- hostile inputs (#18)


def test_crafted_weights_and_resume_files_are_refused_and_run_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    bad = crafted_checkpoint(tmp_path / "g.pt", marker, key="pscgan_digits16/v1")
    assert unsafe_load_runs_code(bad, marker)
    with pytest.raises(ValueError, match="g.pt"):
        load_pscgan(bad)
    with pytest.raises(ValueError, match="g.pt"):
        train_pscgan_images(steps=2, data=digits16("train")[0][:16], resume_path=bad, **TINY)
    assert not marker.exists()


def test_cli_refuses_a_crafted_resume_file_and_bad_out(tmp_path, capsys):
    from diffusion.pscgan_images import main

    marker, out = tmp_path / "MARKER", tmp_path / "w.pt"
    resume = crafted_checkpoint(tmp_path / ".w.resume.pt", marker)
    assert main(["--train", "--steps", "1", "--out", str(out)]) == 2
    assert_one_line(capsys.readouterr().err, resume)
    assert not marker.exists() and not out.exists()
    for bad, why in bad_out_files(tmp_path):
        assert main(["--train", "--steps", "1", "--out", str(bad)]) == 2
        assert_one_line(capsys.readouterr().err, "--out", why)
    assert main(["--evaluate", "--out", str(tmp_path / "missing.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["--train", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err


def test_kill_9_then_resume_gives_the_uninterrupted_weights(tmp_path):
    """SIGKILL a training that saves its state at every log boundary; the state file stays
    whole, and resuming ends with the weights of one uninterrupted run."""
    data = digits16("train")[0][:64]
    steps, path = 80, tmp_path / "r.pt"
    code = (
        "import sys, torch; torch.set_num_threads(1)\n"
        "from diffusion.baselines.pscgan_images import train_pscgan_images\n"
        "from diffusion.data.digits import digits16\n"
        f"train_pscgan_images(steps={steps}, data=digits16('train')[0][:64], "
        f"resume_path=sys.argv[1], save_every=0.0, **{TINY!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # soon after its first save: mid-run
    finally:
        proc.wait(timeout=60)
    state = load_plain(path)  # whole: it loads
    assert 0 < state["step"] < steps, f"the kill came at step {state['step']}"
    resumed, log = train_pscgan_images(steps=steps, data=data, resume_path=path, **TINY)
    straight, _ = train_pscgan_images(steps=steps, data=data, **TINY)
    assert log["finished"] and len(log["penalty"]) == steps // TINY["log_every"]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_one_trainer_settings_are_checked_and_estimates_check_y():
    from diffusion.baselines.pscgan import Generator, PSCGANTraining, pscgan_estimate

    for bad, name in (({"steps": 0}, "steps"), ({"adversarial": "some"}, "adversarial"),
                      ({"ema": 1.0}, "ema"), ({"batch": 2.5}, "batch")):  # fmt: skip
        with pytest.raises(ValueError, match=name):
            PSCGANTraining(**bad)
    with pytest.raises(ValueError, match=r"y: expected shape \[B, 2\]"):
        pscgan_estimate(Generator(), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"y: expected shape \[B, 1, 16, 16\]"):
        pscgan_estimate(ImageGenerator(width=8), torch.zeros(3, 16, 16))
    # the images' chunked average equals the one-pass mean up to rounding
    g, y = ImageGenerator(width=8), torch.randn(4, 1, 16, 16, generator=gen(0))
    a = pscgan_estimate(g, y, n_avg=3, generator=gen(1))
    b = pscgan_restore(g, y, n_avg=3, generator=gen(1), chunk=2)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
