"""Argument checks shared by diffusion/ (sampler, denoisers, guidance, operators, priors, metrics).

The numpy-side checks live in :mod:`numerics.validate`; these add what only torch has.

Each raises ``TypeError`` (wrong type) or ``ValueError`` (wrong value) whose message starts
with the argument's name. Checks that need the data (finiteness) synchronise with the device;
the sampler runs them once at entry, not per step.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from numerics.validate import as_array

__all__ = [
    "as_real_numpy",
    "check_data_tensor",
    "check_device",
    "check_finite",
    "check_flag",
    "check_has_methods",
    "check_positive_or_none",
    "check_result",
    "check_tensor",
    "check_torch_generator",
]


def check_tensor(
    x, name: str, *, min_ndim: int = 1, floating: bool = True, finite: bool = False
) -> torch.Tensor:
    """Return ``x`` if it is a real tensor with data and a non-empty batch axis, else raise
    ValueError naming ``name`` (the project's convention for a bad tensor argument).

    Parameters
    ----------
    x : torch.Tensor [B, ...]
        ``B >= 1`` when ``min_ndim >= 1``.
    name : str
        The argument's name, for messages.
    min_ndim : int
        Fewest dimensions accepted.
    floating : bool
        Require a floating-point dtype (else any real dtype; complex is always refused).
    finite : bool
        Also require every entry finite (synchronises with the device).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.is_meta:
        raise ValueError(f"{name}: a meta tensor has no data")
    if x.is_complex() or (floating and not x.is_floating_point()):
        want = "floating-point" if floating else "real"
        raise ValueError(f"{name}: expected a {want} tensor, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dims, got shape {list(x.shape)}")
    if min_ndim >= 1 and x.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (shape {list(x.shape)})")
    if finite:
        check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ValueError naming ``name`` unless every entry of ``x`` is finite."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def check_result(out: torch.Tensor, names: str) -> torch.Tensor:
    """Raise ValueError naming the inputs ``names`` if a computed ``out`` is not finite
    (an overflow of the dtype, or a non-finite value returned by a callable argument)."""
    if not bool(torch.isfinite(out).all()):
        raise ValueError(
            f"{names}: the result is not finite (NaN or Inf from these inputs, or an overflow "
            f"of {out.dtype})"
        )
    return out


def check_device(device, name: str = "device", *, allow_meta: bool = False) -> torch.device:
    """``device`` as a ``torch.device`` that exists here, else ValueError naming ``name``.

    ``None`` is not accepted (callers that allow it test for it first). ``meta`` (no data)
    passes only with ``allow_meta`` (building a network's layout without memory).
    """
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ValueError(f"{name}: expected a torch device such as 'cpu', got {device!r:.40}")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a torch device: {device!r}") from exc
    if d.type == "meta":
        if allow_meta:
            return d
        raise ValueError(f"{name}: the meta device holds no data; expected e.g. 'cpu' or 'cuda'")
    if d.type != "cpu":
        try:
            torch.empty(0, device=d)
        except Exception as exc:  # noqa: BLE001 - any failure means the device is unusable
            raise ValueError(f"{name}: device {device!r} is not available here ({exc})") from exc
    return d


def check_flag(value, name: str) -> bool:
    """``value`` as a bool; only ``True``/``False`` (and numpy bools) are accepted."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: expected True or False, got {value!r}")


def check_positive_or_none(value, name: str) -> float | None:
    """None, or a number > 0 (``inf`` is refused: give None to switch the check off)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a positive number or None, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a finite number > 0 or None, got {value!r}")
    return v


def check_torch_generator(generator, name: str = "generator"):
    """Return ``generator`` if it is None or a ``torch.Generator``, else TypeError naming it."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{name}: expected a torch.Generator (torch.Generator().manual_seed(s)) or None, "
            f"got {type(generator).__name__}"
        )
    return generator


def check_has_methods(obj, name: str, methods: tuple[str, ...], what: str):
    """Return ``obj`` if each of ``methods`` is a callable attribute of it, else TypeError
    naming ``name`` (``what``: the kind of object expected, for the message)."""
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    if missing:
        raise TypeError(
            f"{name}: expected {what} (with {', '.join(missing)}()), got {type(obj).__name__}"
        )
    return obj


def check_data_tensor(x, name: str) -> torch.Tensor:
    """Return ``x`` if it is a real tensor holding data (not on the meta device, not
    complex), else ValueError naming ``name``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.is_meta:
        raise ValueError(f"{name}: a meta tensor holds no data")
    if x.is_complex():
        raise ValueError(f"{name}: expected real numbers, got dtype {x.dtype}")
    return x


def as_real_numpy(x, name: str) -> np.ndarray:
    """A tensor or array-like ``x`` as a finite real float64 numpy array (any shape), else
    ValueError naming ``name`` (strings, None, complex values, meta tensors, NaN/Inf)."""
    if isinstance(x, torch.Tensor):
        x = check_data_tensor(x, name).detach().cpu()
        x = x.double().numpy() if x.dtype != torch.bool else x.numpy()
    return as_array(x, name)
