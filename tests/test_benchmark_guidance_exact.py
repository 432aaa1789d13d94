"""``benchmarks/guidance_exact.py``: its standard errors and its markdown table (the numbers
below are worked by hand, not produced by the code under test)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "guidance_exact.py"
_spec = importlib.util.spec_from_file_location("guidance_exact_bench", PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_standard_error_by_hand():
    # 1, 2, 3, 4: variance (ddof 1) 5/3, sd 1.29099, over sqrt(4) = 0.645497
    assert bench.standard_error([1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.645497, abs=1e-6)
    assert bench.standard_error([2.0, 2.0]) == 0.0


def test_paired_gap_by_hand():
    # differences 0.5, 0.2, 0.0: mean 0.233333, sd 0.251661, se 0.145297
    g, s = bench.paired_gap([1.5, 1.2, 1.0], [1.0, 1.0, 1.0])
    assert g == pytest.approx(0.233333, abs=1e-6)
    assert s == pytest.approx(0.145297, abs=1e-6)
    # a shift common to both curves cancels in the pairing
    assert bench.paired_gap([3.0, 5.0], [2.0, 4.0]) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("fn", "args", "name"),
    [
        (bench.standard_error, ([1.0],), "values"),
        (bench.paired_gap, ([1.0, 2.0], [1.0, 2.0, 3.0]), "exact_ratios"),
    ],
)
def test_bad_input_names_the_argument(fn, args, name):
    with pytest.raises(ValueError, match=name):
        fn(*args)


def _row(curve, ratios_per_eta, zeta=None):
    per = [
        dict(eta=e, ratio=sum(r) / len(r), ratios=list(r))
        for e, r in zip((0.0, 1.0), ratios_per_eta, strict=True)
    ]
    row = dict(task="deblur", sigma_y=0.05, curve=curve, per_eta=per)
    if zeta is not None:
        row["zeta"] = zeta
    return row


def test_markdown_table_with_standard_errors():
    rows = [
        _row("exact", [(1.0, 1.0), (1.0, 1.2)]),
        _row("cov", [(1.0, 1.0), (1.4, 2.0)]),
        _row("cov-disc", [(1.5, 1.5), (1.0, 1.2)], zeta={"0": 2.5, "1": 1.0}),
    ]
    lines = bench.markdown_table(rows).splitlines()
    assert lines[0] == "| task | σ_y | guidance | ζ | η = 0 | η = 1 | max gap to exact |"
    # exact at η = 1: mean 1.1, sd 0.141421, se 0.1
    assert lines[2] == "| deblur | 0.05 | exact | — | 1.00 ± 0.00 | 1.10 ± 0.10 | — |"
    # cov: the gap is largest at η = 1: differences 0.4, 0.8 -> +0.60 ± 0.20
    assert (
        lines[3] == "| deblur | 0.05 | cov | 1 | 1.00 ± 0.00 | 1.70 ± 0.30 | +0.60 ± 0.20 (η = 1) |"
    )
    # cov-disc: largest at η = 0: differences 0.5, 0.5 -> +0.50 ± 0.00
    assert lines[4] == (
        "| deblur | 0.05 | cov-disc | 2.5 / 1 | 1.50 ± 0.00 | 1.10 ± 0.10 | +0.50 ± 0.00 (η = 0) |"
    )


def test_markdown_table_of_one_image_has_no_standard_errors():
    rows = [_row("exact", [(1.0,), (1.2,)]), _row("pigdm", [(1.1,), (1.5,)])]
    lines = bench.markdown_table(rows).splitlines()
    assert lines[0] == "| task | σ_y | guidance | η = 0 | η = 1 | max gap to exact |"
    assert lines[3] == "| deblur | 0.05 | pigdm | 1.10 | 1.50 | 0.30 |"


def test_table_command_joins_files_and_filters_curves(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(dict(rows=[_row("exact", [(1.0,), (1.2,)])])))
    b.write_text(
        json.dumps(dict(rows=[_row("pigdm", [(1.1,), (1.5,)]), _row("dps", [(3.0,), (9.0,)])]))
    )
    assert bench.main(["--table", f"{a},{b}", "--curves", "exact,pigdm"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[2] for line in out[2:]] == ["exact", "pigdm"]
    assert out[3].endswith("| 0.30 |")  # paired with the exact row of the other file


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--table", "/nonexistent/guidance.json"], "--table"),
        (["--curves", "cov"], "--curves"),
        (["--curves", "nosuchcurve"], "--curves"),  # needs --table first: see the next line
    ],
)
def test_table_command_refuses_in_one_line(tmp_path, capsys, argv, option):
    if argv == ["--curves", "nosuchcurve"]:
        f = tmp_path / "a.json"
        f.write_text(json.dumps(dict(rows=[_row("exact", [(1.0,), (1.2,)])])))
        argv = ["--table", str(f), *argv]
    assert bench.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err, err
