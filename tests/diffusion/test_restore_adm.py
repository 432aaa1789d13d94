"""``python -m diffusion.restore --prior FILE.pt --arch ...``: guided-diffusion (ADM) state
dicts on your own images (issue 20). Random weights and two steps: these check the plumbing
(loading, shapes, colour, files, errors), not restoration quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.experiments.restore import main
from diffusion.priors import ADM_PRESETS, ADMConfig, ADMUNet
from tests.cli.run import crafted_pickle_bytes
from tests.diffusion.test_adm import SMALL

QUICK = ["--steps", "2", "--eta", "0,1", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """cat.png (scikit-image's chelsea, 451 x 300 RGB), a small JSON config and its random
    weights saved with ``torch.save``."""
    from skimage import data

    root = tmp_path_factory.mktemp("adm")
    Image.fromarray(data.chelsea()).save(root / "cat.png")
    (root / "small.json").write_text(json.dumps(SMALL))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sd = ADMUNet(ADMConfig(**SMALL)).state_dict()
    torch.save(sd, root / "small.pt")
    torch.save({"ema": sd}, root / "nested.pt")
    torch.save({k: v for k, v in sd.items() if k != "out.2.bias"}, root / "missing.pt")
    (root / "junk.pt").write_bytes(bytes(range(256)) * 4)
    (root / "crafted.pt").write_bytes(crafted_pickle_bytes("pt", root / "code_ran"))
    return root


def _check_run(out: Path, size: int, etas) -> dict:
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "complete"
    assert [row["eta"] for row in res["per_eta"]] == list(etas)
    for name in ["clean.png"] + [f"eta{e:g}_sample0.png" for e in etas]:
        img = Image.open(out / "images" / "cat" / name)
        assert img.mode == "RGB" and img.size == (size, size), name
    smp = np.load(out / "images" / "cat" / "samples.npy", allow_pickle=False)
    assert smp.shape == (len(etas), 1, 3, size, size) and np.isfinite(smp).all()
    return res


def test_small_json_network_restores_a_colour_photo(files, tmp_path):
    out = tmp_path / "run"
    argv = ["--task", "sr4", "--input", str(files / "cat.png"), "--prior", str(files / "small.pt"),
            "--arch", str(files / "small.json"), "--out", str(out), *QUICK]  # fmt: skip
    assert main(argv) == 0
    res = _check_run(out, 64, [0.0, 1.0])
    assert res["config"]["arch_config"]["channel_mult"] == "1,2,2"
    assert res["config"]["image_shape"] == [3, 64, 64]


@pytest.mark.slow
def test_ffhq256_random_weights_restore_end_to_end(files, tmp_path):
    """The issue's command: ``--arch ffhq256 --steps 2``, all 11 default η, at 256 x 256
    (one chain per sampler call: 8 would hold about 10 GB of activations on the CPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(ADMUNet(ADM_PRESETS["ffhq256"]).state_dict(), tmp_path / "ffhq.pt")
    out = tmp_path / "run"
    argv = ["--task", "sr4", "--input", str(files / "cat.png"), "--prior",
            str(tmp_path / "ffhq.pt"), "--arch", "ffhq256", "--steps", "2", "--out", str(out),
            "--no-progress", "--image-batch", "1"]  # fmt: skip
    assert main(argv) == 0
    _check_run(out, 256, [round(0.1 * k, 1) for k in range(11)])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prior", "{d}/small.pt"], "--arch: required with --prior"),
        (["--prior", "{d}/small.pt", "--arch", "ffhq512"], "--arch: 'ffhq512' is neither"),
        (["--prior", "{d}/small.pt", "--arch", "{d}/cat.png"], "--arch: cannot read"),
        (["--prior", "{d}/small.pt", "--arch", "{d}/small.json", "--autocast", "fp16"],
         "--autocast fp16: fp16 runs on CUDA only"),
        (["--prior", "gmm", "--arch", "ffhq256"], "--arch: applies to an ADM .pt file"),
        (["--prior", "{d}/small.pt", "--arch", "{d}/small.json", "--autocast", "bf16",
          "--dtype", "float64"], "--autocast bf16: applies to a float32 network"),
        (["--prior", "gmm", "--autocast", "bf16"], "--autocast: applies to a network prior"),
        (["--prior", "{d}/small.pt", "--arch", "ffhq256"],
         "entry 'time_embed.0.weight' has shape [128, 32], the network expects [512, 128]"),
        (["--prior", "{d}/missing.pt", "--arch", "{d}/small.json"],
         "entry 'out.2.bias' [6] is missing"),
        (["--prior", "{d}/nested.pt", "--arch", "{d}/small.json"],
         "not a plain state dict: ['ema']"),
        (["--prior", "{d}/junk.pt", "--arch", "{d}/small.json"],
         "cannot read it as a weights-only torch file"),
        (["--prior", "{d}/crafted.pt", "--arch", "{d}/small.json"],
         "cannot read it as a weights-only torch file"),
        (["--prior", "{d}/small.pt", "--arch", "{d}/small.json", "--weights", "x.npz"],
         "--weights: not used with --prior FILE"),
    ],
)  # fmt: skip
def test_bad_adm_arguments_exit_2_with_one_line(files, tmp_path, capsys, extra, message):
    extra = [a.format(d=files) for a in extra]
    argv = ["--task", "sr4", "--input", str(files / "cat.png"), "--out", str(tmp_path / "o"),
            *extra, *QUICK]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (files / "code_ran").exists()  # the crafted pickle's code never ran


def test_adm_prior_without_input_says_to_pass_input(files, tmp_path, capsys):
    argv = ["--task", "sr2", "--prior", str(files / "small.pt"), "--arch",
            str(files / "small.json"), "--out", str(tmp_path / "o"), *QUICK]  # fmt: skip
    # (the data sets' default guidance is exact; the ADM check comes first)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --input or --measurement" in err, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_names_device_not_autocast(files, tmp_path, capsys):
    argv = ["--task", "sr4", "--input", str(files / "cat.png"), "--prior", str(files / "small.pt"),
            "--arch", str(files / "small.json"), "--autocast", "fp16", "--device", "cuda",
            "--out", str(tmp_path / "o"), *QUICK]  # fmt: skip
    assert main(argv) == 2
    assert "--device cuda: no CUDA device available" in capsys.readouterr().err


def test_autocast_applies_to_a_unet_folder_prior_and_is_recorded(tmp_path):
    """``--autocast bf16`` with the shipped digit UNet: the run completes and its config
    records the compute dtype (so a resume under another one is refused); a run without it
    keeps the config of earlier versions (no ``autocast`` key)."""
    import json

    base = ["--task", "deblur", "--prior", "digits16", "--guidance", "dps", "--zeta", "ours",
            "--n-images", "1", "--samples-per-image", "2", "--eta", "0,1", "--steps", "3",
            "--no-progress"]  # fmt: skip
    assert main([*base, "--autocast", "bf16", "--out", str(tmp_path / "bf")]) == 0
    assert json.loads((tmp_path / "bf" / "config.json").read_text())["autocast"] == "bf16"
    assert main([*base, "--out", str(tmp_path / "bf"), "--resume"]) == 2
    assert main([*base, "--out", str(tmp_path / "f32")]) == 0
    assert "autocast" not in json.loads((tmp_path / "f32" / "config.json").read_text())
