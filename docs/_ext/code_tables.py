"""Numbers the prose quotes that the code computes: schedule values and the ζ(η) tables.

* ``config-inited``: MyST substitutions from :func:`numerics.schedule.linear_schedule`
  (``abar_T1000``, ``abar_T10``, ``sqrt_abar_T1000``, ``beta1``, ``beta_tilde1``).
* ``builder-inited``: ``_generated/zeta_presets.md``, the paper's ζ(η) tables as shipped in
  :data:`diffusion.guidance.ZETA_PRESETS` (a build warning if that cannot be imported).
"""

from __future__ import annotations

import math

from _util import GENERATED, MARKER, write_if_changed
from sphinx.util import logging

logger = logging.getLogger(__name__)


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(x: float, digits: int = 2) -> str:
    """``4.0·10⁻⁵`` (plain text, for prose outside math)."""
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mant}·10{str(int(exp)).translate(_SUP)}" if int(exp) != 0 else mant


def schedule_substitutions() -> dict[str, str]:
    from numerics.schedule import linear_schedule

    s1000, s10 = linear_schedule(1000), linear_schedule(10)
    return {
        "abar_T1000": _sci(s1000.alpha_bar[-1]),
        "sqrt_abar_T1000": _sci(math.sqrt(s1000.alpha_bar[-1])),
        "abar_T10": f"{s10.alpha_bar[-1]:.2f}",
        "beta1": _sci(s1000.beta[1]),
        "beta_tilde1": f"{s1000.beta_tilde[1]:g}",
    }


def on_config(app, config) -> None:
    subs = dict(config.myst_substitutions or {})
    subs.update(schedule_substitutions())
    config.myst_substitutions = subs


def generate(app) -> None:
    path = GENERATED / "zeta_presets.md"
    try:
        from diffusion.guidance import ZETA_PRESETS
    except Exception as exc:  # noqa: BLE001 - reported as a build warning
        logger.warning(
            "zeta table: diffusion.guidance.ZETA_PRESETS cannot be imported (%s: %s)",
            type(exc).__name__,
            exc,
            type="dptraverse",
            subtype="code",
        )
        write_if_changed(path, f"{MARKER}\n\n*(ζ tables unavailable in this build.)*\n")
        return
    etas = sorted({e for table in ZETA_PRESETS.values() for e in table})
    lines = [
        MARKER,
        "",
        "| preset (η →) | " + " | ".join(f"{e:g}" for e in etas) + " |",
        "|---|" + "---:|" * len(etas),
    ]
    for name, table in ZETA_PRESETS.items():
        cells = [f"{table[e]:g}" if e in table else "" for e in etas]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines.append("")
    write_if_changed(path, "\n".join(lines))


def setup(app):
    app.connect("config-inited", on_config)
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
