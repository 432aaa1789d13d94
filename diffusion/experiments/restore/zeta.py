"""The DPS step ζ(η) of :mod:`diffusion.restore`: the tables tuned here and ``--zeta`` /
``--zeta-table`` resolved to what :class:`~diffusion.guidance.DPSGuidance` takes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from diffusion._paths import CONFIGS_DIR
from numerics.cli import UsageError

__all__ = [
    "DISCREPANCY",
    "ZETA_OURS",
    "bisect_log_zeta",
    "discrepancy_targets",
    "discrepancy_zeta",
    "read_zeta_table",
    "resolve_zeta",
]

#: ``--zeta discrepancy``: ζ(η) calibrated on the run's own measurements (:func:`discrepancy_zeta`).
DISCREPANCY = "discrepancy"


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
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
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
        :data:`ZETA_OURS` for this prior, task and form), ``"discrepancy"`` (returned as
        is: calibrated when the run starts) or a table ``{eta: zeta}``.
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
    if isinstance(zeta, str) and zeta == DISCREPANCY:
        return DISCREPANCY  # calibrated when the run starts (discrepancy_zeta)
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
                f"--zeta: expected a number >= 0, 'ours', 'discrepancy' or a preset "
                f"{sorted(ZETA_PRESETS)}, got {zeta!r}"
            ) from exc
    try:
        f = zeta_function(spec)  # the one check of a ζ specification
        if callable(spec):  # a callable is checked where it is used: η in [0, 1]
            f(np.linspace(0.0, 1.0, 11))
    except ValueError as exc:
        raise UsageError(f"--zeta: {str(exc).removeprefix('zeta: ')}") from exc
    return spec


# --------------------------------------------------------------------------- discrepancy rule


def discrepancy_targets(etas, m_sigma2: float, spread: float) -> dict[float, float]:
    r"""The target mean residual :math:`E\|y - A x_0\|^2` of the η-chain, for each η.

    .. math::

        \rho(\eta) = m\sigma_y^2 - (1 - \eta)\,\hat\tau, \qquad
        \hat\tau \approx E\,\mathrm{tr}\,\mathrm{Cov}[A x_0 \mid y].

    At η = 1 the end point is a posterior sample, and for **any** prior
    :math:`E\|y - A x_0\|^2 = m\sigma_y^2` (the pair (x₀, y) then has the joint law, so
    :math:`y - A x_0` is the noise). At η the exact chain of a Gaussian posterior ends at
    :math:`N(m_y, \eta S)`, whose residual is :math:`m\sigma_y^2 - (1-\eta)\,\mathrm{tr}(A S
    A^\top)`: the η = 0 end (the MMSE) fits y more closely by the posterior spread of A x.
    :math:`\hat\tau` is measured from the η = 1 calibration chains (the spread of A x₀ over
    the samples of one measurement), so no clean image is used.

    Parameters
    ----------
    etas : sequence of float in [0, 1]
    m_sigma2 : float > 0
        :math:`m\sigma_y^2` (m = measured entries).
    spread : float >= 0
        :math:`\hat\tau`, clipped to ``0.99 * m_sigma2`` so that every target stays positive.

    Examples
    --------
    >>> discrepancy_targets([0.0, 0.5, 1.0], 4.0, 2.0)
    {0.0: 2.0, 0.5: 3.0, 1.0: 4.0}
    """
    m_sigma2 = _positive(m_sigma2, "m_sigma2")
    spread = (
        float(spread) if isinstance(spread, (int, float)) and not isinstance(spread, bool) else None
    )
    if spread is None or not 0.0 <= spread < math.inf:
        raise ValueError("spread: expected a finite number >= 0")
    etas = _etas(etas)
    tau = min(spread, 0.99 * m_sigma2)
    return {float(e): float(m_sigma2) - (1.0 - float(e)) * tau for e in etas}


def bisect_log_zeta(residual, target: float, *, bracket=(1e-3, 1e3), iters: int = 7):
    r"""ζ with ``residual(ζ) ≈ target`` by bisection in log ζ.

    Each iteration evaluates ``residual`` at the geometric middle of the bracket and keeps
    the half that holds the target. The residual falls with ζ until the guidance overshoots
    (then it grows again: DPS with too large a step): "ζ too large" is a residual below the
    target, a divergence (``inf`` or NaN), or a residual larger than at a smaller ζ already
    tried. When the target is below the residual's minimum the bisection closes in on that
    minimum. ``iters`` evaluations narrow the bracket by :math:`2^{-iters}`
    in log ζ (bracket 1e-3 … 1e3 and 7 iterations: a factor 1.11). Returns the evaluated ζ
    whose residual is closest to the target in log ratio (a finite one when there is one)
    and the history ``[(zeta, residual), ...]``.

    Examples
    --------
    >>> z, hist = bisect_log_zeta(lambda z: 2.0 / z, 0.5, bracket=(0.01, 100.0), iters=12)
    >>> round(z, 2), len(hist)
    (4.0, 12)
    """
    _check_callable(residual, "residual")
    target = _positive(target, "target")
    try:
        lo, hi = (math.log(_positive(b, "bracket")) for b in bracket)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bracket: expected two numbers 0 < low < high, got {bracket!r}") from exc
    if not lo < hi:
        raise ValueError(f"bracket: expected two numbers 0 < low < high, got {bracket!r}")
    iters = _count(iters, "iters")
    history = []
    for _ in range(int(iters)):
        z = math.exp(0.5 * (lo + hi))
        r = float(residual(z))
        # overshoot: a larger residual than at a smaller ζ already tried (too much guidance)
        over = any(zz < z and rr < r for zz, rr in history if math.isfinite(rr))
        history.append((z, r))
        if math.isfinite(r) and r > target and not over:
            lo = math.log(z)  # too little guidance: the fit to y is too loose
        else:
            hi = math.log(z)
    finite = [(z, r) for z, r in history if math.isfinite(r) and r > 0]
    if not finite:
        return history[-1][0], history
    return min(finite, key=lambda zr: abs(math.log(zr[1] / target)))[0], history


def discrepancy_zeta(residual, etas, m_sigma2: float, *, bracket=(1e-3, 1e3), iters: int = 7):
    r"""ζ(η) by the discrepancy principle, from calibration chains on the measurements alone.

    First η = 1 to the target :math:`m\sigma_y^2`; the spread of A x₀ of its chosen ζ gives
    :math:`\hat\tau`; then every other η to :func:`discrepancy_targets`. Cost:
    ``iters`` calibration runs per η (plus ``iters`` for η = 1 when it is not in ``etas``),
    each of the calibration images × samples × steps.

    Parameters
    ----------
    residual : callable ``(eta, zeta) -> (mean residual, spread)``
        Runs the calibration chains at (η, ζ) and returns the mean over images and samples of
        :math:`\|y - A x_0\|^2` (``inf`` if they diverged) and the mean over images of
        :math:`\mathrm{tr}` of the sample covariance of :math:`A x_0`.
    etas : sequence of float
    m_sigma2 : float
        :math:`m\sigma_y^2`.

    Returns
    -------
    (table, report) : ``{eta: zeta}`` and a JSON-ready dict (targets, spread, histories).

    Examples
    --------
    >>> def residual(eta, zeta):  # a toy whose exact answer is zeta = 1 at every eta
    ...     return 2.0 * (1.0 - 0.5 * (1.0 - eta)) / zeta, 1.0
    >>> table, rep = discrepancy_zeta(residual, [0.0, 1.0], 2.0, bracket=(0.1, 10.0), iters=10)
    >>> {e: round(z, 2) for e, z in table.items()}
    {0.0: 1.0, 1.0: 1.0}
    """
    _check_callable(residual, "residual")
    etas = _etas(etas)
    m_sigma2 = _positive(m_sigma2, "m_sigma2")
    spreads = {}

    def at(eta):
        def f(z):
            r, s = residual(eta, z)
            spreads[(eta, z)] = s
            return r

        return f

    z1, h1 = bisect_log_zeta(at(1.0), float(m_sigma2), bracket=bracket, iters=iters)
    tau = spreads[(1.0, z1)]
    if not math.isfinite(tau):  # every η = 1 calibration diverged: no spread to subtract
        tau = 0.0
    targets = discrepancy_targets(etas, m_sigma2, tau)
    table, hist = {}, {1.0: h1}
    for eta in sorted(set(float(e) for e in etas)):
        if eta == 1.0:
            table[eta] = z1
            continue
        table[eta], hist[eta] = bisect_log_zeta(at(eta), targets[eta], bracket=bracket, iters=iters)
    report = dict(
        m_sigma2=float(m_sigma2), spread=float(tau),
        targets={str(e): t for e, t in targets.items()},
        table={str(e): z for e, z in table.items()},
        history={str(e): [[z, r] for z, r in h] for e, h in hist.items()},
    )  # fmt: skip
    return table, report


def _check_callable(f, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name}: expected a callable, got {type(f).__name__}")


def _positive(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
        raise ValueError(f"{name}: expected a finite number > 0, got {v!r}")
    return float(v)


def _count(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    return v


def _etas(etas) -> list[float]:
    try:
        out = [float(e) for e in etas]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"etas: expected numbers in [0, 1], got {etas!r}") from exc
    if not out or any(not 0.0 <= e <= 1.0 for e in out):
        raise ValueError(f"etas: expected numbers in [0, 1], got {etas!r}")
    return out
