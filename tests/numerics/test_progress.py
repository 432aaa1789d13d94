"""The up-front time estimate (numerics.progress) and the commands that print it.

The expected numbers are worked by hand from a fake clock (one tick per read), not by the
code under test; the command-level tests check that the line appears on stderr with a time
that is sane for the run that printed it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from numerics import progress
from numerics.progress import Progress, announce, format_seconds


def _fake_clock(monkeypatch, step: float = 1.0):
    """perf_counter returns 0, step, 2 step, ... (one tick per read)."""
    ticks = iter(np.arange(0.0, 1e4, step))
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))


def test_one_line_with_the_time_left_measured_over_the_first_units(monkeypatch, capsys):
    _fake_clock(monkeypatch)  # construction reads t = 0; the updates read t = 1, 2, 3, ...
    p = Progress(500, "500 iterations", bar=False, prog="demo", verb="training")
    for _ in range(10):
        p.update(1)
    # The clock starts at the first update (t = 1, 1 unit). At t = 3 (3 units) 2 s have passed
    # for 2 units: 1 s a unit, 497 units left -> 497 s = 8 min 17 s. Printed once only.
    assert capsys.readouterr().err.splitlines() == [
        "demo: training 500 iterations: about 8 min 17 s left (estimated from the first 2.0 s)"
    ]


def test_a_budget_caps_the_estimate(monkeypatch, capsys):
    _fake_clock(monkeypatch)
    p = Progress(500, "500 iterations", bar=False, prog="demo", verb="training", budget_s=60.0)
    for _ in range(3):
        p.update(1)
    # 497 s by the rate, but the budget (60 s from construction at t = 0) has 57 s left at t = 3.
    assert "about 57 s left" in capsys.readouterr().err


def test_short_runs_print_nothing(monkeypatch, capsys):
    _fake_clock(monkeypatch, step=0.01)
    p = Progress(1000, "1000 steps", bar=False, prog="demo")
    for _ in range(1000):
        p.update(1)
    assert p.announced  # it estimated (about 10 s) ...
    assert capsys.readouterr().err == ""  # ... and, under ANNOUNCE_S, kept quiet
    assert announce("demo", "x", progress.ANNOUNCE_S, "y") is False  # the threshold is strict


@pytest.mark.parametrize(
    "s, text", [(0.4, "0 s"), (59.6, "1 min 0 s"), (3599, "59 min 59 s"), (3660, "1 h 1 min")]
)
def test_format_seconds(s, text):
    assert format_seconds(s) == text


def test_importing_it_does_not_import_torch():
    code = "import sys, numerics.progress; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _precise(monkeypatch):
    """Every run announces, after 0.05 s of work, with millisecond precision."""
    monkeypatch.setattr(progress, "ANNOUNCE_S", -1.0)
    monkeypatch.setattr(progress, "CALIBRATION_S", 0.05)
    monkeypatch.setattr(progress, "format_seconds", lambda s: f"{s:.3f} s")


def _seconds_left(err: str, prefix: str) -> float:
    lines = [ln for ln in err.splitlines() if ln.startswith(prefix)]
    assert len(lines) == 1, err
    m = re.fullmatch(r".*: about (\d+\.\d+) s left \(estimated from the first \d+\.\d s\)", lines[0])
    assert m, lines[0]
    return float(m.group(1))


def test_dp_curve_announces_a_sane_time(monkeypatch, capsys):
    from numerics.dp_curve import DEFAULT_PROBLEM, load_problem
    from numerics.dp_curve.run import run

    _precise(monkeypatch)
    t0 = time.perf_counter()
    run(load_problem(DEFAULT_PROBLEM), etas=(0.0, 1.0), n=20, steps=300, floor_repeats=2,
        shrink_factors=(1.0,), trajectories=False)  # fmt: skip
    wall = time.perf_counter() - t0
    left = _seconds_left(capsys.readouterr().err, "dp_curve: sampling 40 chains x 300 steps:")
    # The time left of the chain, estimated after >= 0.05 s or 10 % of it, is positive and
    # cannot honestly exceed the whole run by much (10x allows for a load spike on the machine).
    assert 0.0 < left < 10.0 * wall
