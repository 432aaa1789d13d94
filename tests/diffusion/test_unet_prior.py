"""UNet2DModel checkpoints as denoisers: save/load round trip, strict loading, sampler + DPS."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from diffusion.guidance import DPSGuidance
from diffusion.models import EpsilonAdapter
from diffusion.operators import AveragePoolSR
from diffusion.priors.unet import (
    PRIOR_FOLDERS,
    PRIOR_SHAPES,
    UNetPrior,
    build_unet,
    count_parameters,
    load_unet_prior,
    resolve_prior,
)
from diffusion.sampler import sample
from numerics.schedule import linear_schedule

SCHED = linear_schedule(1000)
SHAPE = (1, 8, 8)


def tiny_unet(seed: int = 0):
    """A (8, 16)-channel UNet for 8 x 8 images (41k parameters), randomly initialised."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_unet(8, (8, 16))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny UNet saved by save_pretrained, and the in-memory original."""
    net = tiny_unet().eval()
    path = tmp_path_factory.mktemp("unet")
    net.save_pretrained(str(path))
    return path, net


def _x(B=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, *SHAPE, generator=g)


def test_round_trip_identical_outputs(saved):
    path, net = saved
    prior = load_unet_prior(path, image_shape=SHAPE)
    assert isinstance(prior, UNetPrior) and prior.image_shape == SHAPE
    x, t = _x(), torch.tensor([1, 500, 1000])
    # Same weights, same ε: the loaded denoiser equals an EpsilonAdapter over the original,
    # which reads diffusers' time index t - 1.
    ref = EpsilonAdapter(lambda x, t: net(x, t - 1).sample, SCHED)
    with torch.no_grad():
        assert torch.equal(prior(x, t), ref(x, t))
        assert torch.equal(prior.unet(x, t - 1).sample, net(x, t - 1).sample)
    for a, b in zip(prior.unet.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in prior.unet.parameters())


def test_float64_input_and_time_range(saved):
    path, _ = saved
    prior = load_unet_prior(path)
    x = _x(2)
    with torch.no_grad():
        y32, y64 = prior(x, 10), prior(x.double(), 10)
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64.float(), y32)
    with pytest.raises(ValueError, match=r"1\.\.1000"):
        prior(x, 0)


def test_pipeline_layout_with_scheduler(saved, tmp_path):
    path, net = saved
    net.save_pretrained(str(tmp_path / "unet"))
    cfg = {
        "_class_name": "DDPMScheduler",
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "beta_end": 0.02,
        "num_train_timesteps": 1000,
    }
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg))
    prior = load_unet_prior(tmp_path, image_shape=SHAPE)
    np.testing.assert_array_equal(prior.schedule.schedule.alpha_bar, SCHED.alpha_bar)
    # Another linear schedule is honoured (the model's own training schedule).
    cfg.update(beta_end=0.012, num_train_timesteps=500)
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg))
    prior = load_unet_prior(tmp_path)
    assert prior.schedule.T == 500
    assert float(prior.schedule.beta[500]) == pytest.approx(0.012, rel=1e-12)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"beta_schedule": "squaredcos_cap_v2"}, "beta_schedule"),
        ({"beta_schedule": "scaled_linear"}, "beta_schedule"),
        ({"prediction_type": "v_prediction"}, "prediction_type"),
    ],
)
def test_unsupported_scheduler_is_an_error(saved, tmp_path, change, match):
    path, net = saved
    net.save_pretrained(str(tmp_path))
    cfg = {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02, **change}
    (tmp_path / "scheduler_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=match) as e:
        load_unet_prior(tmp_path)
    assert str(tmp_path) in str(e.value)


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 8, 8), (1, 8, 16)])
def test_image_shape_mismatch_names_both(saved, shape):
    path, _ = saved
    with pytest.raises(ValueError) as e:
        load_unet_prior(path, image_shape=shape)
    msg = str(e.value)
    assert "[1, 8, 8]" in msg and str(list(shape)) in msg


def _copy(src, dst):
    dst.mkdir(exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_config_weights_mismatch_is_an_error(saved, tmp_path):
    path, _ = saved
    bad = _copy(path, tmp_path / "bad")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["block_out_channels"] = [8, 24]
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not load"):
        load_unet_prior(bad)


@pytest.mark.parametrize("edit", ["drop", "extra"])
def test_missing_or_unexpected_keys_are_an_error(saved, tmp_path, edit):
    from safetensors.torch import load_file, save_file

    path, _ = saved
    bad = _copy(path, tmp_path / "bad")
    f = bad / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(f))
    if edit == "drop":
        del sd["conv_in.bias"]
    else:
        sd["extra.weight"] = torch.zeros(2)
    save_file(sd, str(f))
    match = "missing_keys" if edit == "drop" else "unexpected_keys"
    with pytest.raises(ValueError, match=match):
        load_unet_prior(bad)


def test_missing_files_are_an_error(saved, tmp_path):
    path, _ = saved
    with pytest.raises(FileNotFoundError, match="not an existing folder"):
        load_unet_prior(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_unet_prior(tmp_path / "empty")
    only_cfg = tmp_path / "only_cfg"
    only_cfg.mkdir()
    (only_cfg / "config.json").write_text((path / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no weight file"):
        load_unet_prior(only_cfg)


def _two_level_unet(sample_size, in_channels, out_channels):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=out_channels,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=8,
    )


def test_learned_variance_network_is_an_error(tmp_path):
    _two_level_unet(8, 1, 2).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="out_channels=2"):
        load_unet_prior(tmp_path)


def test_colour_non_square_network_loads_and_a_missing_sample_size_is_an_error(tmp_path):
    """Any channel count and size (#19): a 3-channel 8 x 16 network; its config without
    sample_size names the fix."""
    _two_level_unet((8, 16), 3, 3).save_pretrained(str(tmp_path))
    prior = load_unet_prior(tmp_path, image_shape=(3, 8, 16))
    assert prior.image_shape == (3, 8, 16)
    x = torch.randn(2, 3, 8, 16)
    assert prior(x, torch.tensor([1, 1000])).shape == (2, 3, 8, 16)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["sample_size"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="no sample_size"):
        load_unet_prior(tmp_path)


def test_registered_names():
    assert set(PRIOR_FOLDERS) == set(PRIOR_SHAPES) == {"digits16", "patches32", "patches32rgb"}
    for name, folder in PRIOR_FOLDERS.items():
        if folder.is_dir():
            assert resolve_prior(name) == folder
    with pytest.raises(FileNotFoundError, match="not a registered name"):
        resolve_prior("no-such-prior")


@pytest.mark.parametrize("name", sorted(PRIOR_FOLDERS))
def test_shipped_weights_load_and_fit_the_budget(name):
    folder = PRIOR_FOLDERS[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} not shipped")
    prior = load_unet_prior(name, image_shape=PRIOR_SHAPES[name])
    size = (folder / "diffusion_pytorch_model.safetensors").stat().st_size
    assert size <= 5_000_000
    assert all(p.dtype == torch.float32 for p in prior.unet.parameters())
    x = torch.zeros(1, *PRIOR_SHAPES[name])
    with torch.no_grad():
        assert torch.isfinite(prior(x, 500)).all()


def test_default_unet_size():
    n = count_parameters(build_unet(16))
    # ~1.1 M parameters, and float32 weights within the 5 MB shipping budget.
    assert 1.0e6 < n < 1.2e6 and 4 * n <= 5_000_000
    with pytest.raises(ValueError, match="sample_size"):
        build_unet(10)
    with pytest.raises(ValueError, match="norm_num_groups"):
        build_unet(16, (12, 16))


def test_dps_gradient_through_the_network_is_finite(saved):
    path, _ = saved
    prior = load_unet_prior(path, image_shape=SHAPE)
    op = AveragePoolSR(2, SHAPE)
    y = op.A(_x(1, seed=5))[0]
    x = _x(2, seed=6).requires_grad_(True)
    t = torch.tensor([300, 900])
    r = (y - op.A(prior(x, t))).reshape(2, -1)
    (g,) = torch.autograd.grad(torch.linalg.vector_norm(r, dim=1).sum(), x)
    assert torch.isfinite(g).all() and float(g.abs().max()) > 0
    # Per-sample independence (the DPS guidance relies on it): sample 0's gradient does not
    # depend on sample 1.
    x1 = x.detach()[:1].clone().requires_grad_(True)
    r1 = (y - op.A(prior(x1, t[:1]))).reshape(1, -1)
    (g1,) = torch.autograd.grad(torch.linalg.vector_norm(r1, dim=1).sum(), x1)
    torch.testing.assert_close(g1, g[:1], rtol=1e-5, atol=1e-6)


def test_sampler_with_dps_through_loaded_unet(saved):
    path, _ = saved
    prior = load_unet_prior(path, image_shape=SHAPE)
    op = AveragePoolSR(2, SHAPE)
    y = op.A(_x(1, seed=5))[0]
    guid = DPSGuidance(op, y, zeta=0.5)
    eta = torch.tensor([0.0, 1.0])
    x0 = sample(
        prior,
        (2, *SHAPE),
        SCHED,
        eta=eta,
        guidance=guid,
        steps=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert x0.shape == (2, *SHAPE) and torch.isfinite(x0).all()
    # DPS moved the chain: without guidance the same noise gives another end point.
    x0_free = sample(
        prior, (2, *SHAPE), SCHED, eta=eta, steps=3, generator=torch.Generator().manual_seed(0)
    )
    assert not torch.allclose(x0, x0_free)
    assert math.isfinite(float(x0_free.abs().max()))


def test_load_refuses_non_floating_dtype():
    """Checked before anything is read: an integer network would truncate every weight."""
    with pytest.raises(TypeError, match="dtype"):
        load_unet_prior("digits16", dtype=torch.int64)


def test_autocast_bf16_runs_the_digit_unet_in_bfloat16_and_returns_float32():
    """``autocast="bf16"`` changes the network's arithmetic (ε moves by bf16 rounding, a
    few percent at most over the UNet's ~20 layers: 8 significant bits, 2^-9 relative per
    operation) but not the dtype handed to the sampler; fp16 off CUDA is refused."""
    from diffusion.priors.unet import load_unet_prior

    with pytest.raises(ValueError, match="fp16 runs on CUDA only"):
        load_unet_prior("digits16", autocast="fp16")
    with pytest.raises(ValueError, match="autocast"):
        load_unet_prior("digits16", autocast="fp8")
    ref = load_unet_prior("digits16")
    bf = load_unet_prior("digits16", autocast="bf16")
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([1, 200, 600, 1000])
    e32, e16 = ref.net(x, t), bf.net(x, t)
    assert e16.dtype == torch.float32 and bool(torch.isfinite(e16).all())
    rel = float((e16 - e32).norm() / e32.norm())
    assert 0 < rel < 0.1
