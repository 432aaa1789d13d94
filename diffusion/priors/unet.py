r"""Learned image priors: ``diffusers.UNet2DModel`` ε-networks as denoisers of the sampler.

A checkpoint is a local folder in the diffusers format, the one of public DDPM checkpoints:

* a **model folder** written by ``UNet2DModel.save_pretrained``: ``config.json`` and
  ``diffusion_pytorch_model.safetensors`` (or ``.bin``); or
* a **pipeline folder** (e.g. a downloaded ``google/ddpm-*`` repository): ``unet/`` holding the
  model folder, and optionally ``scheduler/scheduler_config.json`` (also accepted at the top
  level as ``scheduler_config.json``).

Any channel count (``in_channels`` = ``out_channels``: 1 for grey, 3 for colour) and any
``sample_size`` (an int, or ``[H, W]``) load; the image shape is ``image_shape`` =
``(in_channels, H, W)``.

The network predicts the noise, :math:`\hat\varepsilon(x_t, t)`, and the denoiser of
:mod:`diffusion.models` follows by Tweedie,

.. math::

    \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon(x_t, t)}{\sqrt{\bar\alpha_t}},

on the paper's linear schedule (T = 1000, β from 1e-4 to 0.02). **Time index**: the project's
``t`` runs 1..T with ``t = 0`` the clean image (:mod:`numerics.schedule`); diffusers'
``DDPMScheduler`` indexes the same steps 0..T-1 (its ``alphas_cumprod[k]`` is our
:math:`\bar\alpha_{k+1}`). The network is therefore called with ``t - 1``, in training
(:mod:`diffusion.train_prior`) and here, so public checkpoints and ours read time alike.

**Scheduler config.** Where a ``scheduler_config.json`` is present, it is checked: a
``beta_schedule`` other than ``"linear"`` or a ``prediction_type`` other than ``"epsilon"`` is a
``ValueError``; a linear schedule with other ``beta_start``/``beta_end``/``num_train_timesteps``
is honoured by building that linear schedule (:func:`numerics.schedule.linear_schedule`), so
the model runs on the schedule it was trained on; the denoiser's ``schedule`` then differs
from the paper's and the sampler must be given the same one (it checks). Without a scheduler
config the paper's schedule is assumed.

**No silent fallback.** Loading is strictly offline (``local_files_only=True``). A missing
folder, config or weight file, a weight file whose tensors do not cover the configured
network exactly (missing, unexpected or mis-shaped keys, which diffusers would otherwise fill
with random initial values after a warning), and a network whose channels or sample size
disagree with the expected image shape are errors naming the path and both values.

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. P. von Platen et al., "Diffusers: State-of-the-art diffusion models" (``UNet2DModel``,
   ``DDPMScheduler``), https://github.com/huggingface/diffusers.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from diffusion._checks import check_device
from diffusion._paths import WEIGHTS_DIR
from diffusion.models import EpsilonAdapter
from diffusion.operators.base import check_float_dtype
from diffusion.schedule import as_torch_schedule
from numerics.schedule import Schedule, linear_schedule
from numerics.validate import check_bool, check_int

__all__ = [
    "PRIOR_FOLDERS",
    "PriorNotFoundError",
    "UNetPrior",
    "build_unet",
    "count_parameters",
    "load_unet_prior",
    "resolve_prior",
    "unet_model_folder",
]

_WEIGHTS = WEIGHTS_DIR

#: Registered learned priors shipped with the package: name -> model folder.
PRIOR_FOLDERS: dict[str, Path] = {
    "digits16": _WEIGHTS / "unet_digits16",
    "patches32": _WEIGHTS / "unet_patches32",
    "patches32rgb": _WEIGHTS / "unet_patches32rgb",
}

#: Image shape [C, H, W] each registered prior was trained on.
PRIOR_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits16": (1, 16, 16),
    "patches32": (1, 32, 32),
    "patches32rgb": (3, 32, 32),
}

_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def count_parameters(module: torch.nn.Module) -> int:
    """Number of parameters of ``module`` (a ``torch.nn.Module``, else TypeError naming it)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


class PriorNotFoundError(FileNotFoundError, ValueError):
    """A prior name that is neither registered nor an existing folder, or a registered
    prior whose weights folder is missing: a missing file and a bad argument value at once
    (either ``except`` catches it)."""


def build_unet(
    sample_size: int,
    channels: tuple[int, ...] = (32, 64, 64),
    *,
    in_channels: int = 1,
    layers_per_block: int = 1,
    norm_num_groups: int = 8,
    attention: bool = False,
):
    """A small ``diffusers.UNet2DModel`` ε-network for ``[B, in_channels, S, S]`` images.

    The default, ``channels=(32, 64, 64)``, one ResNet block per level, self-attention only
    in the middle block (at ``S / 4``), GroupNorm with 8 groups, has 1,062,497 parameters
    for one image channel (4.25 MB in float32); ``attention=True`` adds attention at the
    second level (1,112,801 parameters).

    Parameters
    ----------
    sample_size : int
        Image side S; must be divisible by ``2 ** (len(channels) - 1)``.
    channels : tuple of int
        ``block_out_channels``, one per resolution level; each divisible by
        ``norm_num_groups``.
    in_channels : int
        Image channels (output channels are the same: ε-prediction).
    layers_per_block : int
    norm_num_groups : int
    attention : bool
        Self-attention blocks at the second level (down and up).

    Returns
    -------
    diffusers.UNet2DModel

    Examples
    --------
    >>> count_parameters(build_unet(16))
    1062497
    """
    from diffusers import UNet2DModel

    sample_size = check_int(sample_size, "sample_size", minimum=1)
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
        raise TypeError(f"channels: expected a tuple of integers, got {channels!r:.40}")
    channels = tuple(check_int(c, "channels", minimum=1) for c in channels)
    if len(channels) < 1:
        raise ValueError(f"channels: expected positive integers, got {channels!r}")
    in_channels = check_int(in_channels, "in_channels", minimum=1)
    layers_per_block = check_int(layers_per_block, "layers_per_block", minimum=1)
    norm_num_groups = check_int(norm_num_groups, "norm_num_groups", minimum=1)
    attention = check_bool(attention, "attention")
    bad = [c for c in channels if c % norm_num_groups]
    if bad:
        raise ValueError(
            f"channels: each must be divisible by norm_num_groups={norm_num_groups}, got {channels!r}"
        )
    if sample_size < 1 or sample_size % (2 ** (len(channels) - 1)):
        raise ValueError(
            f"sample_size: expected a positive multiple of {2 ** (len(channels) - 1)} "
            f"for {len(channels)} levels, got {sample_size!r}"
        )
    down = ["DownBlock2D"] * len(channels)
    up = ["UpBlock2D"] * len(channels)
    if attention and len(channels) > 1:
        down[1], up[-2] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=int(sample_size),
        in_channels=int(in_channels),
        out_channels=int(in_channels),
        block_out_channels=channels,
        layers_per_block=int(layers_per_block),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        norm_num_groups=int(norm_num_groups),
    )


def resolve_prior(name_or_path) -> Path:
    """The model folder of a registered prior name (:data:`PRIOR_FOLDERS`) or a path.

    A registered name wins over a folder of the same name in the working directory (write
    ``./digits16`` for the folder).

    Raises
    ------
    FileNotFoundError
        The folder does not exist (naming it; for a registered name, also how to train it).
    """
    return _resolve(name_or_path, "name_or_path")


def _resolve(name_or_path, name: str) -> Path:
    """:func:`resolve_prior`, naming the argument ``name`` in its errors."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"{name}: expected a prior name or a folder path, got {type(name_or_path).__name__}"
        )
    key = str(name_or_path)
    if not key:
        raise ValueError(f"{name}: expected a prior name or a folder path, got ''")
    if key in PRIOR_FOLDERS:
        path = PRIOR_FOLDERS[key]
        if not path.is_dir():
            raise PriorNotFoundError(
                f"{name}: prior {key!r}: weights folder {path} is missing; train it with "
                f"`python -m diffusion.train_prior --data {key} --out {path}`"
            )
        return path
    path = Path(os.path.expanduser(key))
    if not path.is_dir():
        raise PriorNotFoundError(
            f"{name}: prior {key!r}: not a registered name ({', '.join(PRIOR_FOLDERS)}) "
            f"and not an existing folder"
        )
    return path


def unet_model_folder(path) -> tuple[Path, Path | None]:
    """Locate the model folder and the scheduler config of a checkpoint folder.

    Returns
    -------
    model_dir : Path
        ``path`` itself if it holds ``config.json``, else ``path/unet``.
    scheduler_config : Path or None
        ``path/scheduler/scheduler_config.json`` or ``path/scheduler_config.json`` if present.

    Raises
    ------
    FileNotFoundError
        No such folder, no ``config.json`` in it or in ``unet/``, or no weight file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a folder path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"UNet checkpoint folder {path} does not exist")
    if (path / "config.json").is_file():
        model_dir = path
    elif (path / "unet" / "config.json").is_file():
        model_dir = path / "unet"
    else:
        raise FileNotFoundError(
            f"UNet checkpoint folder {path}: no config.json in it or in {path / 'unet'}"
        )
    if not any((model_dir / f).is_file() for f in _WEIGHT_FILES):
        raise FileNotFoundError(
            f"UNet checkpoint folder {model_dir}: no weight file ({' or '.join(_WEIGHT_FILES)})"
        )
    sched = None
    for cand in (path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json"):
        if cand.is_file():
            sched = cand
            break
    return model_dir, sched


def _schedule_from_config(cfg_path: Path | None) -> Schedule:
    if cfg_path is None:
        return linear_schedule(1000, 1e-4, 0.02)
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"scheduler config {cfg_path}: cannot read it ({exc})") from exc
    kind = cfg.get("beta_schedule", "linear")
    if kind != "linear":
        raise ValueError(
            f"scheduler config {cfg_path}: beta_schedule={kind!r}; only the linear DDPM "
            "schedule is supported"
        )
    if cfg.get("trained_betas") is not None:
        raise ValueError(f"scheduler config {cfg_path}: explicit trained_betas are not supported")
    pred = cfg.get("prediction_type", "epsilon")
    if pred != "epsilon":
        raise ValueError(
            f"scheduler config {cfg_path}: prediction_type={pred!r}; only 'epsilon' is supported"
        )
    try:
        T = int(cfg.get("num_train_timesteps", 1000))
        b0 = float(cfg.get("beta_start", 1e-4))
        b1 = float(cfg.get("beta_end", 0.02))
        return linear_schedule(T, b0, b1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scheduler config {cfg_path}: bad linear schedule ({exc})") from exc


class _UNetEps(torch.nn.Module):
    """``net(x_t, t) = unet(x_t, t - 1).sample`` in the UNet's dtype (under
    :func:`torch.autocast` in ``autocast`` when set), returned in x_t's dtype."""

    def __init__(self, unet, T: int, autocast: torch.dtype | None = None):
        super().__init__()
        self.unet = unet
        self.T = int(T)
        self.autocast = autocast

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        lo, hi = int(t.min()), int(t.max())
        if lo < 1 or hi > self.T:
            raise ValueError(f"t: expected time indices in 1..{self.T}, got [{lo}, {hi}]")
        p = next(self.unet.parameters())
        x = x_t.to(p.dtype)
        with torch.autocast(x.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            out = self.unet(x, (t - 1).to(p.device)).sample
        return out.to(x_t.dtype)


class UNetPrior(EpsilonAdapter):
    r"""Denoiser from a ``UNet2DModel`` ε-network (:class:`~diffusion.models.EpsilonAdapter`).

    ``model(x_t [B, C, H, W], t int64 [B]) -> x0_hat``, with ``t`` in 1..T of ``schedule``.
    The network is in eval mode with its parameters frozen (``requires_grad=False``), so DPS
    differentiates with respect to :math:`x_t` only.

    Parameters
    ----------
    unet : diffusers.UNet2DModel
    schedule : numerics Schedule or TorchSchedule
        The training schedule.
    clip : (low, high), optional
        Clamp :math:`\hat x_0` (None by default).
    source : str, optional
        Where the weights came from (for ``repr`` and reports).
    autocast : {"none", "fp16", "bf16"}
        Run the network under :func:`torch.autocast` in this dtype; the ε it returns and every
        sampler update stay in the caller's dtype (fp16 on CUDA only,
        :func:`diffusion.priors.adm_load.check_autocast`).

    Attributes
    ----------
    unet : diffusers.UNet2DModel
    image_shape : tuple (C, H, W)
    source : str or None
    """

    def __init__(self, unet, schedule, *, clip=None, source: str | None = None,
                 autocast: str = "none"):  # fmt: skip
        from diffusion.priors.adm_load import check_autocast

        if not isinstance(unet, torch.nn.Module) or not hasattr(unet, "config"):
            raise TypeError(
                f"unet: expected a diffusers UNet2DModel, got {type(unet).__name__}"
            )
        p = next(unet.parameters())
        amp = check_autocast(autocast, p.device, p.dtype)
        ts = as_torch_schedule(schedule)
        unet.eval()
        unet.requires_grad_(False)
        super().__init__(_UNetEps(unet, ts.T, amp), ts, clip=clip)
        self.unet = unet
        cfg = unet.config
        s = cfg.sample_size
        h, w = (s, s) if isinstance(s, int) else tuple(s)
        self.image_shape = (int(cfg.in_channels), int(h), int(w))
        self.source = source

    def __repr__(self) -> str:
        return (
            f"UNetPrior({self.source or 'in-memory'}, image_shape={list(self.image_shape)}, "
            f"params={count_parameters(self.unet)})"
        )


def load_unet_prior(
    path,
    *,
    image_shape=None,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    clip=None,
    autocast: str = "none",
) -> UNetPrior:
    r"""Load a ``UNet2DModel`` checkpoint folder (or a registered name) as a denoiser.

    Parameters
    ----------
    path : str or Path
        A model folder, a pipeline folder with ``unet/`` (module notes), or a name in
        :data:`PRIOR_FOLDERS`.
    image_shape : (C, H, W), optional
        The image shape the caller will sample; checked against the network's
        ``in_channels`` and ``sample_size``.
    device : torch device
    dtype : torch.dtype
        Parameter dtype (float32 default; a non-floating dtype is a TypeError).
    clip : (low, high), optional
        Clamp :math:`\hat x_0`.
    autocast : {"none", "fp16", "bf16"}
        Compute dtype of the network under :func:`torch.autocast` (:class:`UNetPrior`).

    Returns
    -------
    UNetPrior

    Raises
    ------
    FileNotFoundError
        Missing folder, config or weight file.
    ValueError
        Weights that do not match the config, a network with out_channels != in_channels
        (learned variance), a shape mismatch with ``image_shape``, or an unsupported
        scheduler config.
    """
    check_float_dtype(dtype)
    device = check_device(device, allow_meta=True)
    from diffusers import UNet2DModel
    from diffusers.utils import logging as dlogging

    folder = _resolve(path, "path")
    model_dir, sched_cfg = unet_model_folder(folder)
    schedule = _schedule_from_config(sched_cfg)
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"UNet config {model_dir / 'config.json'}: cannot read it ({exc})"
        ) from exc
    cls = cfg.get("_class_name", "UNet2DModel")
    if cls != "UNet2DModel":
        raise ValueError(
            f"UNet checkpoint {model_dir}: _class_name={cls!r}, expected 'UNet2DModel'"
        )
    in_ch = int(cfg.get("in_channels", 3))
    out_ch = int(cfg.get("out_channels", 3))
    if out_ch != in_ch:
        raise ValueError(
            f"UNet checkpoint {model_dir}: out_channels={out_ch} != in_channels={in_ch}; only "
            "ε-prediction networks (no learned variance) are supported"
        )
    s = cfg.get("sample_size")
    if s is None:
        raise ValueError(
            f"UNet checkpoint {model_dir}: config.json has no sample_size, so the image size "
            "is unknown; add \"sample_size\": [H, W] (or one int) to it"
        )
    hw = (s, s) if isinstance(s, int) else tuple(s)
    if image_shape is not None:
        if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__"):
            raise ValueError(f"image_shape: expected (C, H, W), got {image_shape!r:.40}")
        want = tuple(check_int(v, "image_shape", minimum=1) for v in image_shape)
        if len(want) != 3:
            raise ValueError(f"image_shape: expected (C, H, W), got {image_shape!r}")
        have = (in_ch, *hw)
        if have != want:
            raise ValueError(
                f"UNet checkpoint {model_dir}: network shape [C, H, W] = {list(have)} "
                f"(in_channels, sample_size) does not match image_shape {list(want)}"
            )
    logger = dlogging.get_logger("diffusers.models.modeling_utils")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        unet, info = UNet2DModel.from_pretrained(
            str(model_dir),
            local_files_only=True,
            low_cpu_mem_usage=False,
            output_loading_info=True,
            torch_dtype=dtype,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(
            f"UNet checkpoint {model_dir}: weights do not load into the configured network "
            f"({str(exc).strip().splitlines()[0][:300]} ...)"
        ) from exc
    finally:
        logger.setLevel(old)
    problems = {
        k: info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")
    }
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(f"{k}: {list(v)[:5]}" for k, v in problems.items())
        raise ValueError(
            f"UNet checkpoint {model_dir}: weights do not match the config ({detail}); "
            "refusing to run with randomly initialised layers"
        )
    unet = unet.to(device=device)
    return UNetPrior(unet, schedule, clip=clip, source=str(folder), autocast=autocast)
