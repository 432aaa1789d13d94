"""Resumable storage of one data set's finished units (a network, a sweep, a floor).

A unit is a JSON record ``units/<name>.json`` (``key``, ``meta``) and optionally arrays in
``units/<name>.npz``, both written atomically (:func:`numerics.io.atomic_write`), the JSON
last. It counts as finished when its JSON exists, reads, and its ``key`` (a hash of
everything the unit depends on) matches; anything else is computed again. So a run killed at
any moment resumes where it stopped and ends with the same records as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from diffusion.data.toy2d import settings_hash
from numerics.io import atomic_write, write_json

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
        self.root = Path(root)
        self.on_save = on_save

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
        """Write unit ``name`` (arrays first, then the JSON record that marks it finished)."""
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
    t0, c0 = time.perf_counter(), time.process_time()
    out = compute()
    return out, dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)


def unit(store: Store, name: str, key_obj, compute, timing: dict, *, log=print):
    """Load unit ``name`` if finished with the same key, else compute it and save it.

    ``compute() -> (meta, arrays or None)``; the key is :func:`settings_hash` of ``key_obj``.
    The time taken goes to ``timing[name]`` and to ``meta["_timing"]`` (private keys are left
    out of the results by :func:`strip_private`). Returns ``(meta, arrays)``.
    """
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
