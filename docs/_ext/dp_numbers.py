"""Numbers and tables from the committed ``docs/figures/<run>/dp_curve.json`` files.

Every number the pages quote about the Gaussian-mixture experiment comes from these JSON
files, which ``python -m numerics.dp_curve`` wrote next to the figures (the exact commands
are in ``docs/figures/regenerate.sh``); nothing is typed by hand.

* ``config-inited``: MyST substitutions ``{{ <run>_<key> }}`` (see :func:`substitutions`).
* ``builder-inited``: ``_generated/figures/<run>.md``, the command and a table per run.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from _util import DOCS, GENERATED, MARKER, remove_stale, write_if_changed

FIGURES = DOCS / "figures"
SCRIPT = FIGURES / "regenerate.sh"


def runs() -> dict[str, dict]:
    """``{run name: dp_curve.json contents}`` for every ``docs/figures/<run>/``."""
    return {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(FIGURES.glob("*/dp_curve.json"))
    }


def commands() -> dict[str, str]:
    """``{run name: command}`` from :data:`SCRIPT` (the run is the ``--out`` folder name)."""
    out = {}
    for line in SCRIPT.read_text(encoding="utf-8").splitlines():
        if not line.startswith("python -m numerics.dp_curve"):
            continue
        args = shlex.split(line)
        out[Path(args[args.index("--out") + 1]).name] = line
    return out


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sd(x: float) -> str:
    """A Monte-Carlo sd: three decimals, or two significant digits (``9.1·10⁻⁵``) below 0.001."""
    if x == 0 or x >= 1e-3:
        return _f(x, 3)
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}·10{str(int(exp)).translate(_SUP)}"


def substitutions(name: str, r: dict) -> dict[str, str]:
    """The quotable numbers of one run, as strings.

    Keys (prefixed ``<name>_``): ``mmse``, ``w2_floor``, ``weights``, ``mean``, ``y``,
    ``sigma_y``, ``variance``, ``n``, ``steps``; per η = k/10 present in the run:
    ``eta<k>_ratio`` (MSE/MMSE), ``eta<k>_sd`` (its Monte-Carlo sd), ``eta<k>_w2``,
    ``eta<k>_excess`` (MSE minus the measured shrinkage curve at equal W2, over MMSE),
    ``eta<k>_offset`` (‖sample mean − E[x|y]‖), ``eta<k>_offset2_ratio``
    (‖sample mean − E[x|y]‖²/MMSE), ``eta<k>_zdev2`` ((2 − MSE/MMSE)/sd); over η ≤ 0.7:
    ``minexcess7``, ``maxexcess7`` (smallest, largest excess/MMSE) and ``maxabsexcess7`` (largest |excess|/MMSE).
    """
    mmse = r["mmse"]
    s = {
        "mmse": _f(mmse, 4),
        "w2_floor": _f(r["floors"]["w2"], 3),
        "weights": " / ".join(_f(w, 3) for w in r["posterior_weights"]),
        "mean": "(" + ", ".join(_f(v, 3) for v in r["posterior_mean"]) + ")",
        "y": "(" + ", ".join(f"{v:g}" for v in r["problem"]["y"]) + ")",
        "sigma_y": f"{r['problem']['sigma_y']:g}",
        "variance": r["settings"]["variance"],
        "n": str(r["settings"]["n"]),
        "steps": str(r["settings"]["steps"]),
    }
    low = [run["excess_mse"] / mmse for run in r["runs"] if run["eta"] <= 0.7 + 1e-9]
    if low:
        s["minexcess7"] = _f(min(low), 3)
        s["maxexcess7"] = _f(max(low), 3)
        s["maxabsexcess7"] = _f(max(abs(v) for v in low), 3)
    for run in r["runs"]:
        k = round(run["eta"] * 10)
        if abs(run["eta"] * 10 - k) > 1e-9:
            continue
        ratio, sd = run["mse"] / mmse, run["mse_sd"] / mmse
        s[f"eta{k}_ratio"] = _f(ratio, 3)
        s[f"eta{k}_sd"] = _sd(sd)
        s[f"eta{k}_w2"] = _f(run["w2"], 3)
        s[f"eta{k}_excess"] = _f(run["excess_mse"] / mmse, 3)
        s[f"eta{k}_offset"] = _f(run["mean_offset"], 3)
        s[f"eta{k}_offset2_ratio"] = _f(run["mean_offset"] ** 2 / mmse, 3)
        s[f"eta{k}_zdev2"] = _f((2 - ratio) / sd, 1) if sd > 0 else "inf"
    return {f"{name}_{k}": v for k, v in s.items()}


def table(name: str, r: dict, command: str | None) -> str:
    mmse = r["mmse"]
    st = r["settings"]
    lines = [
        MARKER,
        "",
        f"Run `{name}`: y = {substitutions(name, r)[name + '_y']}, "
        f"σ_y = {r['problem']['sigma_y']:g}, variance `{st['variance']}`, start `{st['start']}`, "
        f"{st['guidance']} guidance, T = {st['steps']}, n = {st['n']} per η, seed {st['seed']}; "
        f"MMSE = {_f(mmse, 4)}, posterior weights {substitutions(name, r)[name + '_weights']}, "
        f"W2 floor {_f(r['floors']['w2'], 3)} ± {_f(r['floors']['w2_sd'], 3)}.",
        "",
    ]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += [
        "| η | MSE/MMSE | ± sd | W2 | D(W2)/MMSE | excess over shrinkage / MMSE "
        "| ‖mean − E[x∣y]‖ |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in r["runs"]:
        lines.append(
            f"| {run['eta']:g} | {_f(run['mse'] / mmse)} | {_sd(run['mse_sd'] / mmse)} "
            f"| {_f(run['w2'])} | {_f(run['D_at_w2'] / mmse)} | {_f(run['excess_mse'] / mmse)} "
            f"| {_f(run['mean_offset'])} |"
        )
    lines.append("")
    return "\n".join(lines)


def problem_table(r: dict) -> str:
    """The prior and the measurement of a run, as a Markdown table."""
    pr = r["problem"]["prior"]

    def vec(v):
        return "(" + ", ".join(f"{x:g}" for x in v) + ")"

    def mat(M):
        return "[" + "; ".join(" ".join(f"{x:g}" for x in row) for row in M) + "]"

    lines = [
        MARKER,
        "",
        "| component k | weight w_k | mean μ_k | covariance P_k |",
        "|---|---:|---|---|",
    ]
    for k, (w, mu, P) in enumerate(zip(pr["weights"], pr["means"], pr["covs"], strict=True)):
        lines.append(f"| {k + 1} | {w:g} | {vec(mu)} | {mat(P)} |")
    lines += [
        "",
        f"Measurement: A = {mat(r['problem']['A'])}, σ_y = {r['problem']['sigma_y']:g}, "
        f"y = {vec(r['problem']['y'])}.",
        "",
    ]
    return "\n".join(lines)


def on_config(app, config) -> None:
    subs = dict(config.myst_substitutions or {})
    for name, r in runs().items():
        subs.update(substitutions(name, r))
    config.myst_substitutions = subs


def generate(app) -> None:
    out = GENERATED / "figures"
    keep = set()
    cmds = commands()
    for name, r in runs().items():
        path = out / f"{name}.md"
        keep.add(path)
        write_if_changed(path, table(name, r, cmds.get(name)))
        path = out / f"{name}_problem.md"
        keep.add(path)
        write_if_changed(path, problem_table(r))
    remove_stale(out, keep)


def setup(app):
    app.connect("config-inited", on_config)
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
