"""The DPS step ζ(η) of :mod:`diffusion.restore`: the tables tuned here and ``--zeta`` /
``--zeta-table`` resolved to what :class:`~diffusion.guidance.DPSGuidance` takes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from diffusion._paths import CONFIGS_DIR
from numerics.cli import UsageError

__all__ = ["ZETA_OURS", "read_zeta_table", "resolve_zeta"]

def _load_tables(path: Path) -> Mapping:
    """``{(prior, task, form): {eta: zeta}}``, read-only, from the shipped JSON file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return MappingProxyType({
        (prior, task, raw["form"]): MappingProxyType(dict(zip(raw["etas"], zetas, strict=True)))
        for prior, tasks in raw["tables"].items()
        for task, zetas in tasks.items()
    })  # fmt: skip


#: ζ(η) tables chosen here on held-out images (``--tune-zeta``; fit-split patches for the
#: patch priors, the validation digits for the digit network; docs/images.md,
#: docs/learned.md), keyed by (prior, task, dps form), then η: tuned at σ_y = 0.05 and used
#: at both noise levels (the reference form has no σ_y). ``--zeta ours`` selects them. The
#: numbers and their provenance are in ``diffusion/configs/zeta_ours.json``.
ZETA_OURS: Mapping[tuple[str, str, str], Mapping[float, float]] = _load_tables(
    CONFIGS_DIR / "zeta_ours.json"
)


def read_zeta_table(path) -> dict[float, float]:
    """The table ``{eta: zeta}`` of a JSON file: a plain object, or the ``zeta_table.json``
    written by ``--tune-zeta`` (its ``chosen`` table). Errors name ``--zeta-table``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--zeta-table: cannot read {path}: {exc}") from exc
    if isinstance(raw, dict):  # a plain table, or the zeta_table.json of --tune-zeta
        raw = raw.get("table", raw.get("chosen", raw))
    try:
        table = {float(k): float(v) for k, v in raw.items()}
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"--zeta-table: expected a JSON object {{eta: zeta}}, got {path}") from exc
    if not table or any(not (v >= 0 and math.isfinite(v)) for v in table.values()):
        raise UsageError("--zeta-table: expected a non-empty table of finite values >= 0")
    return table


def resolve_zeta(zeta, *, prior: str, task: str, form: str):
    """ζ for :class:`~diffusion.guidance.DPSGuidance` from ``--zeta`` (or a table).

    Parameters
    ----------
    zeta : None, str, float or mapping
        ``None`` (ζ = 1), a number (or its text), a preset name of
        :data:`diffusion.guidance.ZETA_PRESETS`, ``"ours"`` (the table of
        :data:`ZETA_OURS` for this prior, task and form) or a table ``{eta: zeta}``.
    prior, task, form : str
        The key of ``"ours"``.

    Returns
    -------
    float, str (a preset name) or dict (a table)

    Raises :class:`~numerics.cli.UsageError` naming ``--zeta`` for anything else.
    """
    from diffusion.guidance import ZETA_PRESETS, zeta_function

    if zeta is None:
        return 1.0
    spec = zeta
    if isinstance(zeta, Mapping):
        spec = dict(zeta)
    elif zeta == "ours":
        key = (prior, task, form)
        if key not in ZETA_OURS:
            raise UsageError(
                f"--zeta ours: no table tuned for prior={key[0]} task={key[1]} form={key[2]}"
            )
        spec = dict(ZETA_OURS[key])
    elif isinstance(zeta, str) and zeta not in ZETA_PRESETS:
        try:
            spec = float(zeta)
        except ValueError as exc:
            raise UsageError(
                f"--zeta: expected a number >= 0, 'ours' or a preset {sorted(ZETA_PRESETS)}, "
                f"got {zeta!r}"
            ) from exc
    try:
        zeta_function(spec)  # the one check of a ζ specification
    except ValueError as exc:
        raise UsageError(f"--zeta: {str(exc).removeprefix('zeta: ')}") from exc
    return spec
