"""The guided-diffusion (ADM) network and its strict loading (issue 20).

The reference for names and shapes is ``tests/data/adm_state_dict_layouts.json`` (every
entry of the published ``ffhq256`` and ``imagenet256`` checkpoints, data from the published
architecture, not from this code); parameter and entry counts are the issue's literals. The
big networks are built on the meta device (no memory, no initialisation)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion.priors import ADM_PRESETS, ADMConfig, ADMPrior, ADMUNet, load_adm_prior
from diffusion.priors.adm import _Attention, timestep_embedding
from diffusion.priors.adm_load import adm_config, check_state_dict, read_state_dict

LAYOUTS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "adm_state_dict_layouts.json").read_text()
)["presets"]

#: A small network for 64 x 64 colour images (attention at 16 x 16).
SMALL = {
    "image_size": 64, "num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2,2",
    "attention_resolutions": "16", "num_head_channels": 16,
}  # fmt: skip


def _small_file(tmp_path: Path, seed: int = 0) -> tuple[Path, Path, dict]:
    """A JSON config and a random-weight state dict saved with ``torch.save``."""
    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps(SMALL))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sd = ADMUNet(ADMConfig(**SMALL)).state_dict()
    pt = tmp_path / "small.pt"
    torch.save(sd, pt)
    return cfg, pt, sd


@pytest.mark.parametrize(
    "preset, n_params, n_entries",
    [("ffhq256", 93_563_910, 362), ("imagenet256", 552_814_086, 566)],
)
def test_presets_have_the_published_layout(preset, n_params, n_entries):
    layout = LAYOUTS[preset]
    assert ADMConfig(**layout["config"]) == ADM_PRESETS[preset]
    with torch.device("meta"):
        net = ADMUNet(ADM_PRESETS[preset])
    have = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert have == {k: s for k, s in layout["entries"]}
    assert sum(p.numel() for p in net.parameters()) == n_params
    assert len(have) == n_entries == len(layout["entries"])


@pytest.mark.parametrize("preset", ["ffhq256", "imagenet256"])
def test_a_state_dict_with_the_published_names_loads_strictly(preset):
    # meta tensors: the names and shapes of the file, without 2 GB of memory for imagenet256
    sd = {k: torch.empty(s, device="meta") for k, s in LAYOUTS[preset]["entries"]}
    with torch.device("meta"):
        net = ADMUNet(ADM_PRESETS[preset])
    check_state_dict(net, sd)
    result = net.load_state_dict(sd, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_random_ffhq256_weights_load_into_the_preset(tmp_path):
    """Real random tensors for every published entry of ffhq256 (374 MB), loaded strictly."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) for k, s in LAYOUTS["ffhq256"]["entries"]}
    with torch.device("meta"):
        net = ADMUNet(ADM_PRESETS["ffhq256"])
    check_state_dict(net, sd)
    net.load_state_dict(sd, strict=True, assign=True)
    assert torch.equal(net.out[2].weight, sd["out.2.weight"])
    assert not any(p.is_meta for p in net.parameters())


def test_mis_shaped_missing_and_unexpected_entries_are_refused_naming_them(tmp_path):
    cfg, _, sd = _small_file(tmp_path)
    bad = dict(sd, **{"out.2.weight": torch.zeros(6, 16, 3, 3)})
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(ValueError) as err:
        load_adm_prior(tmp_path / "shape.pt", cfg)
    msg = str(err.value)
    assert "'out.2.weight'" in msg and "[6, 16, 3, 3]" in msg and "[6, 32, 3, 3]" in msg
    assert "\n" not in msg
    missing = {k: v for k, v in sd.items() if k != "time_embed.0.bias"}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"'time_embed\.0\.bias' \[128\] is missing"):
        load_adm_prior(tmp_path / "missing.pt", cfg)
    torch.save(dict(sd, extra=torch.zeros(2)), tmp_path / "extra.pt")
    with pytest.raises(ValueError, match=r"unexpected entry 'extra' \[2\]"):
        load_adm_prior(tmp_path / "extra.pt", cfg)


class _NotATensor:
    pass


def test_nested_and_unsafe_files_are_refused_not_guessed(tmp_path):
    _, _, sd = _small_file(tmp_path)
    torch.save({"state_dict": sd, "step": 3}, tmp_path / "nested.pt")
    with pytest.raises(ValueError, match=r"not a plain state dict: \['state_dict', 'step'\]"):
        read_state_dict(tmp_path / "nested.pt")
    torch.save({"net": _NotATensor()}, tmp_path / "code.pt")  # needs unpickling a class
    with pytest.raises(ValueError, match="weights-only"):
        read_state_dict(tmp_path / "code.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="weights-only"):
        read_state_dict(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "none.pt")


def test_small_json_config_gives_eps_of_the_image_shape(tmp_path):
    cfg, pt, _ = _small_file(tmp_path)
    prior = load_adm_prior(pt, cfg)
    assert prior.image_shape == (3, 64, 64)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([1, 1000])
    out = prior.network(x, t - 1)
    assert out.shape == (2, 6, 64, 64) and out.dtype == torch.float32
    eps = prior.net(x, t)
    assert eps.shape == (2, 3, 64, 64) and eps.dtype == torch.float32
    assert torch.equal(eps, out[:, :3])  # ε is the first C of the 2C channels
    x0 = prior(x, t)
    assert x0.shape == (2, 3, 64, 64) and x0.dtype == torch.float32
    p64 = load_adm_prior(pt, cfg, dtype=torch.float64)
    assert p64(x.double(), t).dtype == torch.float64


def test_json_config_errors_name_the_field(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(dict(SMALL, model_path="x.pt")))
    with pytest.raises(ValueError, match=r"unknown fields \['model_path'\]"):
        adm_config(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps(dict(SMALL, num_channels=48)))
    with pytest.raises(ValueError, match="num_channels: .*divisible by 32"):
        adm_config(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps(dict(SMALL, class_cond=True)))
    with pytest.raises(ValueError, match="class_cond"):
        adm_config(tmp_path / "c.json")
    with pytest.raises(ValueError, match="neither a preset"):
        adm_config("ffhq512")


class _TimestepNet(torch.nn.Module):
    """Returns its timestep input as every output value (2C channels, like learn_sigma)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x, timesteps):
        self.seen.append(timesteps.tolist())
        B, C, H, W = x.shape
        return timesteps.to(x.dtype)[:, None, None, None].expand(B, 2 * C, H, W).clone()


def test_network_is_called_with_t_minus_one():
    prior = ADMPrior(_TimestepNet(), (3, 4, 4))
    t = torch.tensor([1, 2, 500, 1000])
    x = torch.zeros(4, 3, 4, 4)
    eps = prior.net(x, t)
    assert eps[:, 0, 0, 0].tolist() == [0.0, 1.0, 499.0, 999.0]
    # and x̂₀ = (x - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t) with ᾱ_t = prod_{s<=t}(1 - β_s), numpy float64
    x = torch.full((4, 3, 4, 4), 0.5)
    abar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))[t.numpy() - 1]
    want = (0.5 - np.sqrt(1 - abar) * (t.numpy() - 1)) / np.sqrt(abar)
    got = prior(x, t)[:, 0, 0, 0].double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)  # float32 arithmetic
    for bad in (0, 1001):
        with pytest.raises(ValueError, match=r"1\.\.1000"):
            prior.net(x[:1], torch.tensor([bad]))


def test_respaced_steps_feed_the_original_timestep_indices():
    from diffusion import restore_images
    from diffusion.operators import AveragePoolSR

    net = _TimestepNet()
    prior = ADMPrior(net, (3, 4, 4))
    restore_images(torch.zeros(1, 3, 4, 4), AveragePoolSR(2, (3, 4, 4)), prior, etas=[1.0],
                   steps=2, zeta=0.0, max_abs=None)  # fmt: skip
    # steps 2 of 1000 keep t = 1000, 500 (round(linspace(0, 1000, 3))): the network sees 999, 499
    assert sorted({s for call in net.seen for s in call}) == [499, 999]


def test_timestep_embedding_closed_form():
    e = timestep_embedding(torch.tensor([0, 1]), 4)
    f = [1.0, 10000.0**-0.5]
    want = [[1, 1, 0, 0], [math.cos(f[0]), math.cos(f[1]), math.sin(f[0]), math.sin(f[1])]]
    np.testing.assert_allclose(e.numpy(), want, rtol=1e-6, atol=1e-7)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _attention_numpy(x, blk, heads, legacy=True):
    """Attention block in numpy float64: GroupNorm(32) over 32 channels is per channel."""
    C, L = x.shape
    xn = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    xn = xn * _np(blk.norm.weight)[:, None] + _np(blk.norm.bias)[:, None]
    qkv = _np(blk.qkv.weight)[:, :, 0] @ xn + _np(blk.qkv.bias)[:, None]
    ch = C // heads
    parts = qkv.reshape(heads, 3, ch, L) if legacy else qkv.reshape(3, heads, ch, L).swapaxes(0, 1)
    out = []
    for q, k, v in parts:
        w = q.T @ k / math.sqrt(ch)  # [L, L]
        w = np.exp(w - w.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        out.append(v @ w.T)
    a = np.concatenate(out)
    P = _np(blk.proj_out.weight)[:, :, 0]
    return x + P @ a + _np(blk.proj_out.bias)[:, None]


@pytest.mark.parametrize("legacy", [True, False])
def test_attention_head_order_matches_a_numpy_reference(legacy):
    torch.manual_seed(0)
    blk = _Attention(32, heads=2, new_order=not legacy).double()
    for p in blk.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(1, 32, 2, 3, dtype=torch.float64)
    got = blk(x)[0].reshape(32, 6).detach().numpy()
    want = _attention_numpy(x[0].reshape(32, 6).numpy(), blk, 2, legacy)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    other = _attention_numpy(x[0].reshape(32, 6).numpy(), blk, 2, not legacy)
    assert not np.allclose(got, other, atol=1e-3)  # the order matters for these weights


def test_autocast_fp16_is_refused_on_the_cpu_and_bf16_runs_in_float32(tmp_path):
    cfg, pt, _ = _small_file(tmp_path)
    with pytest.raises(ValueError, match="fp16 runs on CUDA only"):
        load_adm_prior(pt, cfg, autocast="fp16")
    with pytest.raises(ValueError, match="float32 network"):
        load_adm_prior(pt, cfg, autocast="bf16", dtype=torch.float64)
    ref = load_adm_prior(pt, cfg)
    bf = load_adm_prior(pt, cfg, autocast="bf16")
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([300])
    e32, e16 = ref.net(x, t), bf.net(x, t)
    assert e16.dtype == torch.float32 and bool(torch.isfinite(e16).all())
    # bf16 keeps 8 significant bits (relative rounding 2^-9 per operation); over the ~20
    # layers of this network the ε error stays a few percent of its scale
    rel = float((e16 - e32).norm() / e32.norm())
    assert 0 < rel < 0.1
