"""Argument checks of the PSCGAN networks and trainer (issue #18): each raises one
ValueError or TypeError whose message names the argument, before torch fails deeper down
with a RuntimeError that names nothing. They only read their arguments: a valid call
computes exactly what it computed without them."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch
from torch import nn

from diffusion._checks import check_torch_generator
from numerics.validate import check_bool


def check_size(value, name: str) -> int:
    """``value`` as an int >= 1 (a layer width, a channel count), else ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{name}: expected an integer >= 1, got {type(value).__name__} {value!r:.40}"
        )
    if value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def check_widths(value, name: str) -> list[int]:
    """``value`` as a non-empty list of ints >= 1 (layer widths), else ValueError naming it."""
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise ValueError(
            f"{name}: expected a non-empty list of integers >= 1, got {type(value).__name__} "
            f"{value!r:.40}"
        )
    return [check_size(w, f"{name}[{i}]") for i, w in enumerate(value)]


def check_module(net, name: str, *attrs: str) -> nn.Module:
    """``net`` if it is a ``torch.nn.Module`` with parameters and the attributes ``attrs``."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module, got {type(net).__name__}")
    missing = [a for a in attrs if not hasattr(net, a)]
    if missing:
        raise TypeError(f"{name}: expected a network with {', '.join(missing)}, got "
                        f"{type(net).__name__}")  # fmt: skip
    if next(net.parameters(), None) is None:
        raise ValueError(f"{name}: the network has no parameters")
    return net


def net_place(net: nn.Module) -> tuple[torch.dtype, torch.device]:
    """(dtype, device) of the first parameter of ``net`` (float32 on the CPU if none)."""
    p = next(net.parameters(), None)
    return (torch.float32, torch.device("cpu")) if p is None else (p.dtype, p.device)


def check_tensor(x, name: str, *, dtype=None, device=None, finite: bool = True) -> torch.Tensor:
    """``x`` if it is a floating tensor, of ``dtype`` and on ``device`` when given, not on the
    meta device and (``finite``) without NaN or Inf."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the network's), got {x.dtype}")
    if x.is_meta or (device is not None and x.device != device):
        where = "" if device is None else f" (the network's is {device})"
        raise ValueError(f"{name}: tensor on device {x.device}{where}")
    if finite and not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def check_net_input(x, name: str, net: nn.Module, shape, *, batch: int | None = None,
                    other: str = "") -> torch.Tensor:  # fmt: skip
    """``x``: a finite tensor ``[B, *shape]`` of ``net``'s dtype and device; ``B == batch``
    (the batch of the argument ``other``) when given."""
    dtype, device = net_place(net)
    check_tensor(x, name, dtype=dtype, device=device)
    shape = tuple(int(s) for s in shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        want = ", ".join(["B", *map(str, shape)])
        raise ValueError(f"{name}: expected shape [{want}], got {list(x.shape)}")
    if batch is not None and x.shape[0] != batch:
        raise ValueError(f"{name}: batch of {x.shape[0]}, {other} has {batch}")
    return x


def check_generator(gen, name: str = "gen") -> torch.Generator | None:
    """``gen`` if it is a ``torch.Generator`` or None (torch's global generator)."""
    return check_torch_generator(gen, name)


def check_number(value, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` if ``strict``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and (v > minimum if strict else v >= minimum)):
        rel = ">" if strict else ">="
        raise ValueError(f"{name}: expected a finite number {rel} {minimum:g}, got {value!r:.40}")
    return v


def check_fit_args(g, D, data, measure, config, resume_path, resume_key, settings, save_every,
                   max_seconds, progress, desc) -> None:  # fmt: skip
    """The argument checks of :func:`~diffusion.baselines.pscgan.fit_pscgan` (ValueError /
    TypeError naming the argument)."""
    check_module(g, "g", "latent_shape")
    check_module(D, "D")
    check_tensor(data, "data")
    if data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data: expected shape [N, ...] with N >= 1, got {list(data.shape)}")
    per = math.sqrt(torch.finfo(data.dtype).max / max(1, data[0].numel())) / 4
    if float(data.abs().amax()) > per:
        raise ValueError(f"data: entries up to {per:.3g} in magnitude expected (a sample's summed "
                         f"squared errors must stay finite in {data.dtype})")  # fmt: skip
    p = next(g.parameters())
    if (data.dtype, data.device) != (p.dtype, p.device):
        raise TypeError(f"data: {data.dtype} on {data.device}, g: {p.dtype} on {p.device}; "
                        "expected the same")  # fmt: skip
    shape = getattr(g, "y_shape", None)  # a PSCGAN generator's output has y's shape
    if shape is not None and tuple(data.shape[1:]) != tuple(shape):
        raise ValueError(f"data: expected shape [N, {', '.join(map(str, shape))}] (g's output), "
                         f"got {list(data.shape)}")  # fmt: skip
    if not callable(measure):
        raise TypeError(
            f"measure: expected a callable measure(x, gen), got {type(measure).__name__}"
        )
    if resume_path is not None and not isinstance(resume_path, (str, os.PathLike)):
        raise TypeError(f"resume_path: expected a path or None, got {type(resume_path).__name__}")
    if not isinstance(resume_key, str):
        raise TypeError(f"resume_key: expected a string, got {type(resume_key).__name__}")
    if settings is not None:
        if not isinstance(settings, dict):
            raise TypeError(f"settings: expected a dict or None, got {type(settings).__name__}")
        try:
            json.dumps(settings, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"settings: expected plain JSON values ({exc})") from None
    check_number(save_every, "save_every")
    if max_seconds is not None:
        check_number(max_seconds, "max_seconds")
    check_bool(progress, "progress")
    if not isinstance(desc, str):
        raise TypeError(f"desc: expected a string, got {type(desc).__name__}")
