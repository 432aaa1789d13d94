"""Resumable storage of one data set's finished units (a network, a sweep, a floor).

A unit is a JSON record ``units/<name>.json`` (``key``, ``meta``) and optionally arrays in
``units/<name>.npz``, both written atomically (:func:`numerics.io.atomic_write`), the JSON
last. It counts as finished when its JSON exists, reads, and its ``key`` (a hash of
everything the unit depends on) matches; anything else is computed again. So a run killed at
any moment resumes where it stopped and ends with the same records as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from diffusion.data.toy2d import settings_hash
from numerics.io import atomic_write, write_json
from numerics.validate import check_callable

__all__ = ["Store", "strip_private", "timed", "unit"]


class Store:
    """Finished units of one data set under ``root``: ``units/<name>.json`` (+ ``.npz``).

    Parameters
    ----------
    root : path
        The data set's folder (``OUT/<data set>``).
    on_save : callable ``(name) -> None``, optional
        Called after every finished unit or network is on disk (tests use it to interrupt a
        run at a chosen point).
    """

    def __init__(self, root, *, on_save: Callable[[str], None] | None = None):
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(
                f"root: expected a path (str or os.PathLike), got {type(root).__name__}"
            )
        self.root = Path(root)
        self.on_save = check_callable(on_save, "on_save", optional=True)

    def _paths(self, name: str):
        return self.root / "units" / f"{name}.json", self.root / "units" / f"{name}.npz"

    def load(self, name: str, key: str):
        """``(meta, arrays)`` of unit ``name`` if finished with this ``key``, else None."""
        jp, npz = self._paths(name)
        if not jp.exists():
            return None
        try:
            rec = json.loads(jp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict) or rec.get("key") != key or "meta" not in rec:
            return None
        arrays = {}
        if rec.get("has_arrays"):
            try:
                with np.load(npz, allow_pickle=False) as f:
                    arrays = {k: f[k] for k in f.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                return None
        return rec["meta"], arrays

    def save(self, name: str, key: str, meta: dict, arrays: dict | None = None) -> None:
        """Write unit ``name`` (arrays first, then the JSON record that marks it finished).

        ``meta``: JSON-serialisable; ``arrays``: None or a dict name -> array. Anything else
        raises TypeError naming it before anything is written.
        """
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"meta: not JSON-serialisable ({exc})") from exc
        if arrays is not None and not isinstance(arrays, dict):
            raise TypeError(
                f"arrays: expected None or a dict name -> array, got {type(arrays).__name__}"
            )
        jp, npz = self._paths(name)
        if arrays:

            def write_npz(p: Path) -> None:
                with p.open("wb") as f:
                    np.savez(f, **arrays)

            atomic_write(npz, write_npz)
        write_json(jp, dict(key=key, has_arrays=bool(arrays), meta=meta))
        self.saved(name)

    def saved(self, name: str) -> None:
        """Report that ``name`` is on disk (calls ``on_save``)."""
        if self.on_save is not None:
            self.on_save(name)


def timed(compute: Callable[[], object]):
    """``(compute(), {"wall_s": ..., "cpu_s": ...})``."""
    check_callable(compute, "compute")
    t0, c0 = time.perf_counter(), time.process_time()
    out = compute()
    return out, dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)


def unit(store: Store, name: str, key_obj, compute, timing: dict, *, log=print):
    """Load unit ``name`` if finished with the same key, else compute it and save it.

    ``compute() -> (meta, arrays or None)``; the key is :func:`settings_hash` of ``key_obj``.
    The time taken goes to ``timing[name]`` and to ``meta["_timing"]`` (private keys are left
    out of the results by :func:`strip_private`). Returns ``(meta, arrays)``.

    ``key_obj`` must have a stable text form (JSON; other values by ``str``, but not sets or
    objects printed with their memory address, whose key would change from run to run and
    never match): TypeError naming it otherwise, as for a wrong ``store``, ``compute``,
    ``timing`` (a dict) or ``log``.
    """
    if not isinstance(store, Store):
        raise TypeError(f"store: expected a Store, got {type(store).__name__}")
    check_callable(compute, "compute")
    check_callable(log, "log")
    if not isinstance(timing, dict):
        raise TypeError(f"timing: expected a dict, got {type(timing).__name__}")
    check_stable_key(key_obj, "key_obj")
    key = settings_hash(key_obj)
    got = store.load(name, key)
    if got is not None:
        log(f"  [{store.root.name}] {name}: loaded")
        return got
    log(f"  [{store.root.name}] {name}: computing")
    (meta, arrays), timing[name] = timed(compute)
    meta = dict(meta, _timing=timing[name])
    store.save(name, key, meta, arrays)
    return meta, arrays


def check_stable_key(obj, name: str) -> None:
    """TypeError naming ``name`` unless ``obj`` (a unit key) has a text form that is the same in
    every run: JSON, other values by ``str`` as :func:`settings_hash` writes them, but no sets,
    objects printed with their memory address, or NaN / Inf."""

    def default(o):
        if isinstance(o, (set, frozenset)) or " at 0x" in str(o):
            raise TypeError(
                f"{name}: a {type(o).__name__} has no text form that is the same in every run"
            )
        return str(o)  # as settings_hash does

    try:
        json.dumps(obj, sort_keys=True, default=default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        raise TypeError(msg if msg.startswith(name) else f"{name}: {msg}") from exc


def strip_private(obj):
    """``obj`` without the dict keys that start with ``_`` (at every depth).

    Examples
    --------
    >>> strip_private({"a": [{"_t": 1, "b": 2}], "_timing": {}})
    {'a': [{'b': 2}]}
    """
    if isinstance(obj, dict):
        return {k: strip_private(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [strip_private(v) for v in obj]
    return obj
