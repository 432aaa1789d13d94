"""The settings of ``python -m diffusion.toy2d``: one JSON file, its ``quick`` overrides, validation.

The JSON object (default :data:`CONFIG_PATH`, ``diffusion/configs/toy2d.json``) is the
contract: its fields are read by the stages as they are, hashed into the key of every cached
unit and written, whole, into each ``result.json`` (``settings.config``). :func:`load_config`
returns it as a plain dict, after the ``quick`` overrides are merged in and every field the
run reads has been checked (:class:`ConfigError` names the first bad one).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from diffusion._paths import CONFIGS_DIR
from diffusion.data.toy2d import DATASETS
from numerics.io import as_path
from numerics.schedule import Schedule, linear_schedule
from numerics.validate import as_scalar, check_bool

__all__ = [
    "CONFIG_PATH",
    "FORMAT_VERSION",
    "ConfigError",
    "fmt_sigma",
    "load_config",
    "schedule_of",
    "validate_config",
]

#: The shipped settings file.
CONFIG_PATH = CONFIGS_DIR / "toy2d.json"
#: Version of the cached units' layout; part of every unit key.
FORMAT_VERSION = 1


class ConfigError(ValueError):
    """An invalid configuration file; the message names the field."""


def fmt_sigma(s: float) -> str:
    """The key of a noise level in the config and the results (``0.5 -> "0.5"``, ``1.0 -> "1"``).

    Examples
    --------
    >>> fmt_sigma(0.5), fmt_sigma(1.0), fmt_sigma(0.25)
    ('0.5', '1', '0.25')
    """
    return f"{as_scalar(s, 's'):g}"  # a real number (not a string, bool or complex), finite


def schedule_of(cfg: dict) -> Schedule:
    """The linear VP schedule of ``cfg["schedule"]`` (``T``, ``beta_start``, ``beta_end``).

    ValueError/TypeError naming ``cfg`` when it is not a config with those keys.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"cfg: expected the config dict, got {type(cfg).__name__}")
    try:
        s = cfg["schedule"]
        T, b0, b1 = s["T"], s["beta_start"], s["beta_end"]
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"cfg: expected schedule.T, schedule.beta_start, schedule.beta_end ({exc!r})"
        ) from exc
    return linear_schedule(int(T), float(b0), float(b1))


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path=None, *, quick: bool = False) -> dict:
    """Read the settings (default :data:`CONFIG_PATH`), apply the ``quick`` overrides, validate.

    Raises
    ------
    ConfigError
        Unreadable file (missing, a folder, not UTF-8, not JSON), or a missing or invalid
        field (named).
    """
    quick = check_bool(quick, "quick")
    path = as_path(path) if path is not None else CONFIG_PATH
    cfg = _read_object(path)
    if quick:
        over = cfg.get("quick", {})
        if not isinstance(over, dict):
            raise ConfigError("quick: expected an object of overrides")
        cfg = _merge(cfg, over)
    cfg.pop("quick", None)
    cfg.pop("_doc", None)
    validate_config(cfg)
    return cfg


def _read_object(path: Path) -> dict:
    """The JSON object in ``path`` (UTF-8); :class:`ConfigError` for anything else."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config: {path} is not a UTF-8 text file ({exc.reason})") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config: {path} is not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from exc
    if not isinstance(obj, dict):
        raise ConfigError("config: expected a JSON object")
    return obj


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pos(name: str, v, integer: bool = False) -> None:
    ok = _is_number(v) and v > 0
    if integer:
        ok = ok and isinstance(v, int)
    if not ok:
        kind = "positive integer" if integer else "number > 0"
        raise ConfigError(f"{name}: expected a {kind}, got {v!r}")


def _need(cfg: dict, key: str, kind=None, prefix: str = ""):
    if key not in cfg:
        raise ConfigError(f"{prefix}{key}: missing key")
    if kind is not None and not isinstance(cfg[key], kind):
        name = kind.__name__ if isinstance(kind, type) else kind
        raise ConfigError(f"{prefix}{key}: expected {name}")
    return cfg[key]


def validate_config(cfg: dict) -> None:
    """Check every field the run reads; raise :class:`ConfigError` naming the first bad one."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"cfg: expected a JSON object (dict), got {type(cfg).__name__}")
    sch = _need(cfg, "schedule", dict)
    for k in ("T", "beta_start", "beta_end"):
        _need(sch, k, prefix="schedule.")
    _pos("schedule.T", sch["T"], integer=True)
    for k in ("beta_start", "beta_end"):
        if not (_is_number(sch[k]) and 0 < sch[k] < 1):
            raise ConfigError(f"schedule.{k}: expected a number in (0, 1), got {sch[k]!r}")
    if sch["beta_start"] > sch["beta_end"]:
        raise ConfigError("schedule.beta_start: expected <= schedule.beta_end")
    _pos("sampling_steps", _need(cfg, "sampling_steps"), integer=True)
    if cfg["sampling_steps"] > sch["T"]:
        raise ConfigError(f"sampling_steps: expected <= schedule.T = {sch['T']}")
    if _need(cfg, "variance") not in ("beta", "beta_tilde"):
        raise ConfigError(
            "variance: expected 'beta' or 'beta_tilde' (no Hessian for a trained network)"
        )
    if cfg.get("x0_clip") is not None:
        _pos("x0_clip", cfg["x0_clip"])
    _pos("sigma_y", _need(cfg, "sigma_y"))
    for v in _need(cfg, "sigma_y_other", list):
        _pos("sigma_y_other[]", v)
    etas = _need(cfg, "etas", list)
    if not etas or any(not _is_number(e) or not 0 <= e <= 1 for e in etas):
        raise ConfigError("etas: expected a non-empty list of numbers in [0, 1]")
    dps = _need(cfg, "dps", dict)
    if dps.get("form") not in ("likelihood", "reference"):
        raise ConfigError("dps.form: expected 'likelihood' or 'reference'")
    if not isinstance(dps.get("scale_by_beta", False), bool):
        raise ConfigError("dps.scale_by_beta: expected true or false")
    _validate_zeta(cfg)
    _validate_sizes(_need(cfg, "sizes", dict))
    _validate_training(cfg)


def _validate_zeta(cfg: dict) -> None:
    zeta = _need(cfg, "zeta", dict)
    tags = [fmt_sigma(cfg["sigma_y"])] + [fmt_sigma(s) for s in cfg["sigma_y_other"]]
    for name in DATASETS:
        if not isinstance(zeta.get(name), dict):
            raise ConfigError(f"zeta.{name}: expected an object {{sigma_y: zeta}}")
        for tag in tags:
            if tag not in zeta[name]:
                raise ConfigError(f"zeta.{name}.{tag}: missing key (one zeta per sigma_y)")
            _pos(f"zeta.{name}.{tag}", zeta[name][tag])
    for key in ("zeta_grid", "zeta_ablation_factors"):
        vals = _need(cfg, key, list)
        if not vals:
            raise ConfigError(f"{key}: expected a non-empty list")
        for v in vals:
            _pos(f"{key}[]", v)


def _validate_sizes(sizes: dict) -> None:
    for k in ("n_train", "n_test", "n_val", "n_quality", "floor_repeats", "n_oracle"):
        _need(sizes, k, prefix="sizes.")
        _pos(f"sizes.{k}", sizes[k], integer=True)
    if sizes["floor_repeats"] < 2:
        raise ConfigError("sizes.floor_repeats: expected >= 2")
    if sizes["n_test"] < 10 or sizes["n_val"] < 10 or sizes["n_quality"] < 10:
        raise ConfigError("sizes: n_test, n_val and n_quality must be >= 10")


def _validate_training(cfg: dict) -> None:
    st = _need(cfg, "score_training", dict)
    for k in ("steps", "batch"):
        _pos(f"score_training.{k}", st.get(k), integer=True)
    if "lr" in st:
        _pos("score_training.lr", st["lr"])
    if "warmup" in st and not (isinstance(st["warmup"], int) and st["warmup"] >= 0):
        raise ConfigError(f"score_training.warmup: expected an integer >= 0, got {st['warmup']!r}")
    ema = st.get("ema")
    if ema is not None and not (_is_number(ema) and 0 <= ema < 1):
        raise ConfigError(f"score_training.ema: expected null or a number in [0, 1), got {ema!r}")
    pg = _need(cfg, "pscgan", dict)
    for k in ("steps", "batch", "n_critic", "n_penalty"):
        _pos(f"pscgan.{k}", pg.get(k), integer=True)
    for k in ("lam", "gp"):
        if k in pg and not (_is_number(pg[k]) and pg[k] >= 0):
            raise ConfigError(f"pscgan.{k}: expected a number >= 0, got {pg[k]!r}")
    if "lr" in pg:
        _pos("pscgan.lr", pg["lr"])
    betas = pg.get("betas", [0.5, 0.9])
    if not (
        isinstance(betas, list)
        and len(betas) == 2
        and all(_is_number(b) and 0 <= b < 1 for b in betas)
    ):
        raise ConfigError(f"pscgan.betas: expected two numbers in [0, 1), got {betas!r}")
    for k in ("n_avg", "sigma_z"):
        if not isinstance(pg.get(k), list) or not pg[k]:
            raise ConfigError("pscgan.n_avg, pscgan.sigma_z: expected non-empty lists")
    for v in pg["n_avg"]:
        _pos("pscgan.n_avg[]", v, integer=True)
    if any(not _is_number(v) or v < 0 for v in pg["sigma_z"]):
        raise ConfigError("pscgan.sigma_z: expected numbers >= 0")
