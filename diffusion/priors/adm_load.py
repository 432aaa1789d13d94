r"""Guided-diffusion (ADM) ``.pt`` checkpoints as denoisers: presets, strict and safe loading.

A checkpoint is a **plain state dict** saved with ``torch.save`` (entry name -> tensor), the
format of DPS's ``ffhq_10m.pt`` and OpenAI's ``256x256_diffusion_uncond.pt``. Its network is
named by ``arch``: a preset of :data:`ADM_PRESETS` or a JSON file with the fields of
:class:`~diffusion.priors.adm.ADMConfig` (guided-diffusion's configuration names).

**What is checked on load.** The file is read with ``torch.load(weights_only=True)`` (no
code runs); it must be a dict of tensors (a checkpoint that nests the network under keys such
as ``state_dict``/``model``/``ema`` is refused, naming those keys, and never guessed); every
entry the network has must be present with its shape, none may be extra, and every tensor
must be floating point. The first problem is one line naming the entry and both shapes.

**Schedule and time index.** The public checkpoints were trained on the linear schedule,
β from 1e-4 to 0.02 over T = 1000 steps, and take timestep indices 0 ... 999. The project's
``t`` runs 1 ... T (``t = 0`` is the clean image, :mod:`numerics.schedule`), so the network
is called with ``t - 1``; a respaced run passes the base schedule's ``t``
(:mod:`diffusion.models`), so the network sees the original indices.

**Output.** With ``learn_sigma`` the network returns ``2 C`` channels; ε is the first ``C``
(the variance interpolation is not used).

**Autocast.** ``autocast="fp16"`` or ``"bf16"`` runs the network under
:func:`torch.autocast` (float32 parameters; fp16 on CUDA only); the ε it returns, and every
update of the sampler, are float32.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from diffusion._checks import check_device
from diffusion.models import EpsilonAdapter
from diffusion.operators.base import check_float_dtype
from diffusion.priors.adm import ADMConfig, ADMUNet
from numerics.schedule import linear_schedule

__all__ = [
    "ADM_PRESETS",
    "AUTOCAST",
    "ADMPrior",
    "adm_config",
    "check_autocast",
    "check_state_dict",
    "load_adm_prior",
    "read_state_dict",
]

#: The published configurations (guided-diffusion field names).
ADM_PRESETS = {
    # DPS's FFHQ 256 x 256 network (ffhq_10m.pt): 93,563,910 parameters, 362 entries
    "ffhq256": ADMConfig(
        image_size=256, num_channels=128, num_res_blocks=1, channel_mult="",
        attention_resolutions="16", num_heads=4, num_head_channels=64,
        use_scale_shift_norm=True, resblock_updown=True, learn_sigma=True,
    ),
    # OpenAI's unconditional ImageNet 256 x 256 network (256x256_diffusion_uncond.pt):
    # 552,814,086 parameters, 566 entries
    "imagenet256": ADMConfig(
        image_size=256, num_channels=256, num_res_blocks=2, channel_mult="",
        attention_resolutions="32,16,8", num_heads=4, num_head_channels=64,
        use_scale_shift_norm=True, resblock_updown=True, learn_sigma=True,
    ),
}  # fmt: skip

#: ``autocast=`` values: the network's compute dtype under :func:`torch.autocast`.
AUTOCAST = {"none": None, "fp16": torch.float16, "bf16": torch.bfloat16}

_FIELDS = tuple(f.name for f in dataclasses.fields(ADMConfig))


def _device(device, name: str = "device") -> torch.device:
    """``device`` as a torch device that exists here (``meta`` allowed), else ValueError."""
    return check_device(device, name, allow_meta=True)


def adm_config(arch) -> ADMConfig:
    """The :class:`ADMConfig` of ``arch``: an ``ADMConfig``, a preset name
    (:data:`ADM_PRESETS`) or the path of a JSON object with ``ADMConfig``'s field names
    (missing fields take its defaults, which are the ``ffhq256`` preset's).

    Raises
    ------
    ValueError
        Unknown name, unreadable JSON, unknown fields or bad values (one line).
    """
    if isinstance(arch, ADMConfig):
        return arch
    if not isinstance(arch, (str, os.PathLike)):
        raise ValueError(f"arch: expected a preset name or a JSON file, got {arch!r}")
    key = str(arch)
    if key in ADM_PRESETS:
        return ADM_PRESETS[key]
    path = Path(key).expanduser()
    if not path.is_file():
        raise ValueError(
            f"arch: {key!r} is neither a preset ({', '.join(ADM_PRESETS)}) nor a JSON file"
        )
    try:
        fields = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"arch: cannot read {path} as JSON ({exc})") from exc
    if not isinstance(fields, dict):
        raise ValueError(f"arch: {path} must hold a JSON object of configuration fields")
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ValueError(f"arch: {path}: unknown fields {unknown}; known: {list(_FIELDS)}")
    try:
        return ADMConfig(**fields)
    except ValueError as exc:
        raise ValueError(f"arch: {path}: {exc}") from exc


def check_autocast(autocast: str, device, dtype: torch.dtype = torch.float32):
    """The autocast dtype of ``autocast`` (``None`` for ``"none"``).

    Raises
    ------
    ValueError
        Unknown value, fp16 off CUDA, or autocast with a dtype other than float32.
    """
    if autocast not in AUTOCAST:
        raise ValueError(f"autocast: expected one of {list(AUTOCAST)}, got {autocast!r}")
    dev = _device(device)
    if autocast == "none":
        return None
    if autocast == "fp16" and dev.type != "cuda":
        raise ValueError("autocast: fp16 runs on CUDA only (on the CPU use bf16 or none)")
    if dtype != torch.float32:
        raise ValueError(f"autocast: applies to a float32 network, got dtype {dtype}")
    return AUTOCAST[autocast]


def read_state_dict(path, map_location="cpu") -> dict:
    """The plain state dict in ``path``, read with ``torch.load(weights_only=True)``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a torch file loadable without running code, not a dict, or a dict whose values
        are not all tensors (a nested checkpoint: the message names its keys).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a file name, got {path!r}")
    map_location = _device(map_location, "map_location")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ADM checkpoint path {path}: no such file")
    try:
        sd = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"ADM checkpoint path {path}: cannot read it as a weights-only torch file ({first})"
        ) from exc
    if not isinstance(sd, dict) or not sd:
        raise ValueError(
            f"ADM checkpoint path {path}: expected a state dict (entry name -> tensor), got "
            f"{type(sd).__name__}{' (empty)' if isinstance(sd, dict) else ''}"
        )
    nested = sorted(str(k) for k, v in sd.items() if not isinstance(v, torch.Tensor))
    if nested:
        raise ValueError(
            f"ADM checkpoint path {path}: not a plain state dict: {nested[:5]} do not hold "
            "tensors; "
            "save the network's own state dict (e.g. torch.save(ckpt['ema'], 'net.pt')) "
            "and load that"
        )
    return sd


def check_state_dict(model: torch.nn.Module, state_dict: dict, source: str = "state_dict"):
    """Check that ``state_dict`` covers ``model`` exactly: same entry names, same shapes,
    floating-point tensors.

    Raises
    ------
    ValueError
        One line naming the first problem's entry and both shapes (and how many more).
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected a torch module, got {type(model).__name__}")
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
    odd = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise ValueError(f"{source}: entry {odd[0]!r} is not a tensor")
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    problems = []
    for k, shape in want.items():
        if k not in state_dict:
            problems.append(f"entry {k!r} {shape} is missing")
        elif list(state_dict[k].shape) != shape:
            problems.append(
                f"entry {k!r} has shape {list(state_dict[k].shape)}, the network expects {shape}"
            )
        elif not state_dict[k].is_floating_point():
            problems.append(f"entry {k!r} has dtype {state_dict[k].dtype}, expected floating")
    for k in state_dict:
        if k not in want:
            problems.append(f"unexpected entry {k!r} {list(state_dict[k].shape)}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(f"{source}: {problems[0]}{more}")


class _ADMEps(torch.nn.Module):
    """``net(x_t, t) = network(x_t, t - 1)[:, :C]`` (ε of a learn-sigma output), computed in
    the network's dtype (under autocast if set) and returned in x_t's dtype."""

    def __init__(self, network: torch.nn.Module, T: int, channels: int, autocast=None):
        super().__init__()
        self.network, self.T, self.channels, self.autocast = network, int(T), channels, autocast

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        lo, hi = int(t.min()), int(t.max())
        if lo < 1 or hi > self.T:
            raise ValueError(f"t: expected time indices in 1..{self.T}, got [{lo}, {hi}]")
        p = next(self.network.parameters())
        x = x_t.to(p.dtype)
        with torch.autocast(x.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            out = self.network(x, (t - 1).to(p.device))
        if out.shape[1] not in (self.channels, 2 * self.channels):
            raise ValueError(
                f"network: returned {out.shape[1]} channels for {self.channels}-channel "
                f"images; expected {self.channels} or {2 * self.channels} (learn_sigma)"
            )
        return out[:, : self.channels].to(x_t.dtype)


class ADMPrior(EpsilonAdapter):
    r"""Denoiser from an ADM network (:class:`~diffusion.models.EpsilonAdapter`).

    ``model(x_t [B, C, H, W], t int64 [B]) -> x0_hat`` with ``t`` in 1..T; the network is
    called with ``t - 1`` and its first ``C`` output channels are ε (module notes). The
    network is put in eval mode with its parameters frozen.

    Parameters
    ----------
    network : torch.nn.Module
        ``network(x [B, C, H, W], timesteps int [B]) -> [B, C or 2C, H, W]``, e.g. an
        :class:`~diffusion.priors.adm.ADMUNet`.
    image_shape : (C, H, W)
    schedule : Schedule, optional
        The training schedule (default: linear, β 1e-4 ... 0.02, T = 1000).
    autocast : {"none", "fp16", "bf16"}
    clip : (low, high), optional
        Clamp :math:`\hat x_0`.
    source : str, optional
        Where the weights came from (for ``repr``).
    """

    def __init__(self, network, image_shape, schedule=None, *, autocast: str = "none",
                 clip=None, source: str | None = None):  # fmt: skip
        if not isinstance(network, torch.nn.Module):
            raise ValueError(f"network: expected a torch module, got {type(network).__name__}")
        ok = isinstance(image_shape, (tuple, list)) and len(image_shape) == 3
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                        for v in image_shape)  # fmt: skip
        if not ok:
            raise ValueError(
                f"image_shape: expected (C, H, W) positive integers, got {image_shape!r}"
            )
        shape = tuple(image_shape)
        if clip is not None:  # (the adapter unpacks it; named here for a one-line error)
            ok = isinstance(clip, (tuple, list)) and len(clip) == 2
            if not ok or not all(isinstance(v, (int, float)) for v in clip):
                raise ValueError(f"clip: expected (low, high) numbers, got {clip!r}")
        if not any(True for _ in network.parameters()):
            raise ValueError("network: has no parameters")
        p = next(network.parameters())
        ac = check_autocast(autocast, p.device, p.dtype)
        schedule = linear_schedule(1000, 1e-4, 0.02) if schedule is None else schedule
        network.eval()
        network.requires_grad_(False)
        super().__init__(
            _ADMEps(network, len(schedule.beta) - 1, shape[0], ac), schedule, clip=clip
        )
        self.network, self.image_shape, self.source, self.autocast = (
            network,
            shape,
            source,
            autocast,
        )

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.network.parameters())
        return (
            f"ADMPrior({self.source or 'in-memory'}, image_shape={list(self.image_shape)}, "
            f"params={n}, autocast={self.autocast})"
        )


def load_adm_prior(
    path,
    arch,
    *,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    autocast: str = "none",
    clip=None,
) -> ADMPrior:
    r"""Load an ADM ``.pt`` state dict strictly as a denoiser (module notes).

    Parameters
    ----------
    path : str or Path
        The plain state dict.
    arch : str, Path or ADMConfig
        ``"ffhq256"``, ``"imagenet256"`` or a JSON configuration (:func:`adm_config`).
    device : torch device
    dtype : torch.dtype
        Parameter dtype (float32 default).
    autocast : {"none", "fp16", "bf16"}
    clip : (low, high), optional

    Returns
    -------
    ADMPrior
        ``image_shape = (in_channels, image_size, image_size)``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A bad ``arch`` or ``autocast``, an unreadable or nested file, or a missing,
        unexpected or mis-shaped entry (one line naming it).
    """
    check_float_dtype(dtype)
    _device(device)
    config = adm_config(arch)
    check_autocast(autocast, device, dtype)
    sd = read_state_dict(path, map_location=device)
    with torch.device("meta"):  # no initialisation: every tensor comes from the file
        network = ADMUNet(config)
    label = arch if isinstance(arch, (str, os.PathLike)) else "given config"
    check_state_dict(network, sd, f"ADM checkpoint {path} (arch {label})")
    sd = {k: v.to(device=device, dtype=dtype) for k, v in sd.items()}
    network.load_state_dict(sd, strict=True, assign=True)
    return ADMPrior(
        network, config.image_shape, autocast=autocast, clip=clip, source=os.fspath(path)
    )
