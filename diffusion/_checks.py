"""Input checks for torch-side arguments shared by diffusion/ (devices, generators, tensors).

The numpy-side checks live in :mod:`numerics.validate`; these add what only torch has.
Every check raises ``ValueError`` / ``TypeError`` whose message starts with the argument's
name, so that bad input fails at the public boundary, naming what was wrong.
"""

from __future__ import annotations

import numpy as np
import torch

from numerics.validate import as_array


def check_device(device, name: str = "device", *, allow_meta: bool = True) -> torch.device:
    """``device`` as a torch device that exists here, else ValueError naming ``name``.

    ``None`` is not accepted (callers that allow it test for it first). ``meta`` (no data)
    passes only with ``allow_meta``.
    """
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ValueError(f"{name}: expected a torch device such as 'cpu', got {device!r:.40}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a torch device: {device!r}") from exc
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            raise ValueError(f"{name}: {device!r} is not available ({n} CUDA devices)")
    elif dev.type == "meta":
        if not allow_meta:
            raise ValueError(f"{name}: the meta device holds no data; expected cpu or cuda")
    elif dev.type != "cpu":
        raise ValueError(f"{name}: expected cpu, cuda or meta, got {device!r}")
    return dev


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
