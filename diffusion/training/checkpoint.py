"""The one checkpoint scheme of the project: atomic writes, safe loads, plain contents.

**Writing** (:func:`atomic_torch_save`): ``torch.save`` into a temporary folder beside the
target, then :func:`os.replace` onto it, so a kill at any moment leaves either the old file
or the new one, never a truncated one. The file inside the temporary folder already has the
target's name, so the bytes are those of a direct ``torch.save(payload, path)`` (torch names
the archive after the file): the same payload always gives the same file.

**What may be stored** (:func:`check_plain`): tensors, dicts, lists, tuples, strings,
numbers, booleans and None, nested; that is what ``torch.load(..., weights_only=True)``
reads back. Module and optimizer ``state_dict()`` are of that kind, a ``torch.Generator``
state is a uint8 tensor (``gen.get_state()``), a numpy bit generator's ``.state`` a dict of
strings and ints. Anything else (a module, an arbitrary object) is refused *before* writing,
with a TypeError naming where in the payload it sits.

**Loading** (:func:`load_plain`): only ``torch.load(path, map_location="cpu",
weights_only=True)``, torch's restricted unpickler, which builds tensors and plain
containers and never calls anything named by the file. A file it refuses (e.g. a pickle that
would run a shell command), a truncated or empty file and a file that is not a torch archive
all raise one :class:`ValueError` whose one-line message names the file.

:func:`save_model` / :func:`load_model` store one network as ``{key, config, state, info}``
(the shipped digit classifier and PSCGAN generator); :func:`save_modules` /
:func:`load_modules` several, as ``{key, info, configs, state}`` (the 2-D experiment's
networks). ``key`` says what the file is; ``config`` the keyword arguments of the network's
class (``module.config``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from numerics.io import as_path, parent_folder

__all__ = [
    "atomic_torch_save",
    "check_plain",
    "load_model",
    "load_modules",
    "load_plain",
    "save_model",
    "save_modules",
]

_SCALARS = (str, int, float, bool, type(None), torch.dtype, torch.device)


def check_plain(obj, where: str = "payload") -> None:
    """Raise TypeError unless ``obj`` is made only of what a safe load reads back.

    Allowed: tensors (parameters too), dicts with string or integer keys, lists, tuples,
    strings, numbers, booleans, None, ``torch.dtype`` and ``torch.device``.

    Examples
    --------
    >>> check_plain({"w": torch.zeros(2), "log": [(1, 0.5)], "seed": 0})
    >>> check_plain({"rng": object()})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: payload['rng']: a checkpoint holds only tensors, ... got object
    """
    if isinstance(obj, torch.Tensor) or isinstance(obj, _SCALARS):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{where}: a checkpoint's dict keys are strings or integers, "
                                f"got {type(k).__name__}")  # fmt: skip
            check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: a checkpoint holds only tensors, numbers, strings, lists and dicts, "
        f"got {type(obj).__name__}"
    )


def atomic_torch_save(payload, path) -> Path:
    """``torch.save(payload, path)`` atomically (module notes); returns ``path``.

    ``payload`` is checked with :func:`check_plain` first (TypeError, nothing written).
    The parent folder is created if needed.
    """
    check_plain(payload)
    path = parent_folder(path)
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}-"))
    try:
        tmp = tmp_dir / path.name
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def load_plain(path, *, what: str = "checkpoint"):
    """``torch.load(path, map_location="cpu", weights_only=True)``, failures as one ValueError.

    Parameters
    ----------
    path : str or Path
        An existing file (FileNotFoundError otherwise).
    what : str
        What the file should be, for the message.

    Raises
    ------
    ValueError
        One line naming ``path``: the file holds objects a safe load refuses (nothing in it
        was run), or it is truncated, empty or not a torch file.
    """
    path = as_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on a pickle protocol: not ours
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure of the loader is one message
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        blocked = [ln for ln in lines if "GLOBAL" in ln]
        if blocked:
            raise ValueError(
                f"{path}: refused to load this {what}: it holds objects other than tensors, "
                f"numbers, strings, lists and dicts ({blocked[0][:100]}); only a safe load is "
                "done, nothing in the file was run"
            ) from None
        boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
        detail = next((ln for ln in lines if not ln.startswith(boiler)), "")
        raise ValueError(
            f"{path}: cannot read this {what}: truncated, empty or not a torch file "
            f"({type(exc).__name__}{': ' + detail[:100] if detail else ''})"
        ) from None


def _dict_payload(path, what: str) -> dict:
    payload = load_plain(path, what=what)
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a {what} (a dict), got {type(payload).__name__}")
    return payload


def _cpu_state(module: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _check_configured(model, name: str) -> None:
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "config", None), dict):
        raise TypeError(f"{name}: expected a torch.nn.Module with a config dict, got "
                        f"{type(model).__name__}")  # fmt: skip


def _device(device, name: str = "device") -> torch.device:
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


def _check_class(cls, name: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{name}: expected a torch.nn.Module class, got {cls!r:.60}")


def save_model(path, model: nn.Module, *, key: str, info: dict | None = None) -> Path:
    """Write one network as ``{key, config, state (CPU state dict), info}`` (atomic).

    ``model``: a module with a ``config`` dict (its class's keyword arguments); ``info``: a
    dict of plain values, or None."""
    _check_configured(model, "model")
    if info is not None and not isinstance(info, Mapping):
        raise TypeError(f"info: expected a dict or None, got {type(info).__name__}")
    payload = dict(key=key, config=model.config, state=_cpu_state(model), info=info or {})
    return atomic_torch_save(payload, path)


def load_model(
    path, cls: type[nn.Module], *, key: str, what: str, device="cpu", make: str | None = None
) -> nn.Module:
    """Load a network written by :func:`save_model` whose ``key`` matches.

    Returns ``cls(**config)`` with the saved weights, on ``device``, eval mode,
    ``requires_grad`` off, its ``info`` as the attribute ``.info``.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (the message shows the command ``make`` that makes one).
    ValueError
        ``path`` is not a ``what`` checkpoint (other key, unsafe or unreadable file).
    """
    path = as_path(path)
    _check_class(cls, "cls")
    device = _device(device)
    if not path.exists():
        hint = f"; make them with `{make}`" if make else ""
        raise FileNotFoundError(f"{what} weights not found at {path}{hint}")
    payload = _dict_payload(path, f"{what} checkpoint")
    if payload.get("key") != key:
        raise ValueError(f"path: {path} is not a {what} checkpoint ({key})")
    model = cls(**payload["config"])
    model.load_state_dict(payload["state"])
    model.info = payload.get("info", {})
    return model.to(device).eval().requires_grad_(False)


def save_modules(path, *, modules: dict[str, nn.Module], key: str, info: dict) -> Path:
    """Write ``{key, info, configs, state}`` of several networks to ``path`` (atomic).

    ``modules``: name -> module with a ``config`` dict; ``info``: a dict of plain values."""
    if not isinstance(modules, Mapping):
        raise TypeError(f"modules: expected a dict name -> module, got {type(modules).__name__}")
    for k, m in modules.items():
        _check_configured(m, f"modules[{k!r}]")
    if not isinstance(info, Mapping):
        raise TypeError(f"info: expected a dict, got {type(info).__name__}")
    payload = dict(
        key=key,
        info=info,
        configs={k: m.config for k, m in modules.items()},
        state={k: m.state_dict() for k, m in modules.items()},
    )
    return atomic_torch_save(payload, path)


def load_modules(path, key: str, classes: Mapping[str, type[nn.Module]]):
    """Load networks written by :func:`save_modules` if the file's ``key`` matches, else None.

    Parameters
    ----------
    path : path
        A missing file gives None (nothing to reuse).
    key : str
        The expected key (e.g. a hash of the settings the networks were trained with).
    classes : mapping
        Saved name -> class, called with the saved configuration.

    Returns
    -------
    (modules, info) or None
        ``modules`` maps the saved names to networks (eval mode, ``requires_grad`` off).

    Raises
    ------
    ValueError
        The file exists but is not a safe, readable checkpoint of this kind.
    """
    path = as_path(path)
    if not isinstance(classes, Mapping):
        raise TypeError(f"classes: expected a dict name -> class, got {type(classes).__name__}")
    for k, c in classes.items():
        _check_class(c, f"classes[{k!r}]")
    if not path.exists():
        return None
    payload = _dict_payload(path, "checkpoint")
    if payload.get("key") != key:
        return None
    mods = {}
    for name, cfg in payload["configs"].items():
        if name not in classes:
            raise ValueError(f"classes: unknown network {name!r} saved in {path} (classes "
                             f"given for: {', '.join(classes) or 'none'})")  # fmt: skip
        m = classes[name](**cfg)
        m.load_state_dict(payload["state"][name])
        mods[name] = m.eval().requires_grad_(False)
    return mods, payload["info"]
