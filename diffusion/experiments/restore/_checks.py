"""Argument checks of :mod:`diffusion.experiments.restore.api` (kept apart so that the API
module stays readable): operators, image and measurement tensors, a
:class:`~diffusion.experiments.restore.api.Restoration`. Every check raises ``TypeError`` /
``ValueError`` naming the argument."""

from __future__ import annotations

import numpy as np
import torch

from diffusion.experiments.restore._config_base import ConfigBase
from numerics.validate import MAX_ABS


def check_operator(operator) -> None:
    """``operator`` must be a :class:`~diffusion.operators.LinearOperator` (``A``,
    ``in_shape``, ``out_shape``)."""
    if not all(hasattr(operator, a) for a in ("A", "in_shape", "out_shape")):
        raise TypeError(
            f"operator: expected a LinearOperator (diffusion.operators), got {type(operator).__name__}"
        )


def _cpu_tensor(x, name: str) -> torch.Tensor:
    """``x`` (tensor or array-like, not on the meta device) as a CPU tensor, else an error
    naming ``name``."""
    if isinstance(x, torch.Tensor) and x.device.type == "meta":
        raise ValueError(f"{name}: a tensor on the meta device holds no data")
    try:
        return x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            f"{name}: expected a numeric tensor or array, got {type(x).__name__}"
        ) from exc


def as_tensor(x, name: str, *, shape=None) -> torch.Tensor:
    """``x`` (tensor or array) as a finite float64 CPU tensor, entries at most
    :data:`numerics.validate.MAX_ABS` in magnitude (squared errors stay finite), no empty
    axis; ``shape`` entries that are None match any size."""
    t = _cpu_tensor(x, name)
    if (
        t.is_complex()
        or t.dtype == torch.bool
        or not (t.is_floating_point() or t.dtype.is_signed or t.dtype == torch.uint8)
    ):
        raise ValueError(f"{name}: expected real numbers, got {t.dtype}")
    t = t.double()
    if shape is not None and (
        t.ndim != len(shape)
        or any(s is not None and int(s) != a for s, a in zip(shape, t.shape, strict=True))
    ):
        want = ", ".join("*" if s is None else str(int(s)) for s in shape)
        raise ValueError(f"{name}: expected shape [{want}], got {list(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name}: empty, shape {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    if float(t.abs().max()) > MAX_ABS:
        raise ValueError(f"{name}: entries up to {MAX_ABS:g} in magnitude expected")
    return t


def as_images(x, name: str, *, shape=None, n=None) -> torch.Tensor:
    """``[B, C, H, W]`` (or one ``[C, H, W]``) finite float64 CPU tensor of floating-point
    images; ``shape`` the per-image ``(C, H, W)`` and ``n`` the batch when given."""
    t = _cpu_tensor(x, name)
    if not t.is_floating_point():
        raise ValueError(f"{name}: expected floating-point images in [-1, 1], got {t.dtype}")
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[0] < 1:
        raise ValueError(f"{name}: expected [B, C, H, W] or [C, H, W], got {list(t.shape)}")
    if shape is not None and tuple(t.shape[1:]) != tuple(shape):
        raise ValueError(f"{name}: per-image shape {list(t.shape[1:])}, expected {list(shape)}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name}: {t.shape[0]} images, expected {n}")
    return as_tensor(t, name)


def check_restoration(r) -> None:
    """The fields of a :class:`~diffusion.experiments.restore.api.Restoration`."""
    for name in ("samples", "y"):
        t = getattr(r, name)
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got {_what(t)}")
        if t.device.type == "meta":
            raise ValueError(f"{name}: a tensor on the meta device holds no data")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or Inf")
    if r.samples.ndim != 6:
        raise ValueError(
            f"samples: expected [len(etas), samples, B, C, H, W], got {list(r.samples.shape)}"
        )
    if r.y.ndim < 1 or r.y.shape[0] != r.samples.shape[2]:
        raise ValueError(
            f"y: expected [B, *out_shape] with B = {r.samples.shape[2]}, got {list(r.y.shape)}"
        )
    if not isinstance(r.etas, tuple) or len(r.etas) != r.samples.shape[0]:
        raise ValueError(
            f"etas: expected a tuple of {r.samples.shape[0]} values (one per samples[e]), "
            f"got {r.etas!r:.60}"
        )
    for e in r.etas:
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0.0 <= e <= 1.0:
            raise ValueError(f"etas: expected numbers in [0, 1], got {e!r}")
    for name in ("metrics", "values"):
        if not isinstance(getattr(r, name), dict):
            raise TypeError(f"{name}: expected a dict, got {_what(getattr(r, name))}")


def _what(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} tensor"
    return f"{type(x).__name__} {x!r:.40}"


def check_config(config, name: str = "config") -> None:
    """``config`` must be a :class:`~diffusion.experiments.restore.config.RestoreConfig`
    (checked when it was built)."""
    if not isinstance(config, ConfigBase):
        raise TypeError(f"{name}: expected a RestoreConfig, got {type(config).__name__}")
