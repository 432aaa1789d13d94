"""Argument checks of the PSCGAN networks and trainer (issue #18): each raises one
ValueError or TypeError whose message names the argument, before torch fails deeper down
with a RuntimeError that names nothing. They only read their arguments: a valid call
computes exactly what it computed without them."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


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
    if gen is not None and not isinstance(gen, torch.Generator):
        raise TypeError(f"{name}: expected a torch.Generator or None, got {type(gen).__name__}")
    return gen


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


def torch_device(device, name: str = "device") -> torch.device:
    """``device`` as a torch device that exists here (``meta`` allowed), else ValueError."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a torch device: {device!r:.40}") from exc
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            raise ValueError(f"{name}: {device!r} is not available ({n} CUDA devices)")
    elif dev.type not in ("cpu", "meta"):
        raise ValueError(f"{name}: expected cpu, cuda or meta, got {device!r}")
    return dev
