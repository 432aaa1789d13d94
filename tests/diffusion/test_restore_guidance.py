"""python -m diffusion.restore with --guidance cov|pigdm, --n-cg and --zeta discrepancy:
one-line refusals, and a smoke run of each on a tiny mixture prior (d = 64)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diffusion.experiments.restore import main


def _args(prior, out, *extra):
    return [
        "--task", "sr2", "--prior", "gmm", "--weights", prior, "--out", str(out),
        "--n-images", "2", "--samples-per-image", "2", "--steps", "10", "--eta", "0,1",
        "--ref-samples", "16", "--pool-size", "32", "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--guidance", "cov", "--variance", "exact"), "--variance exact"),
        (("--guidance", "pigdm", "--start", "exact"), "--start exact"),
        (("--guidance", "cov", "--n-cg", "0"), "--n-cg"),
        (("--guidance", "cov", "--zeta", "discrepancy", "--grid-samples", "1"), "--grid-samples"),
        (("--guidance", "exact", "--zeta", "discrepancy"), "--zeta"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tiny_prior, tmp_path, capsys, extra, needle):
    assert main(_args(tiny_prior, tmp_path / "bad", *extra)) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("restore: error:") and needle in lines[0]


@pytest.mark.parametrize("guidance", ["cov", "pigdm"])
def test_smoke_run_beside_the_exact_reference(tiny_prior, tmp_path, guidance):
    out = tmp_path / guidance
    assert main(_args(tiny_prior, out, "--guidance", guidance, "--n-cg", "3")) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["curves"]) == {guidance, "exact"}
    assert res["config"]["zeta_value"] == 1.0
    assert ("n_cg" in res["config"]) == (guidance == "cov")
    for r in res["curves"][guidance]["per_eta"]:
        assert np.isfinite(r["ratio"]) and r["ratio"] >= 1.0


def test_zeta_discrepancy_writes_its_calibration(tiny_prior, tmp_path):
    out = tmp_path / "disc"
    extra = ("--guidance", "pigdm", "--zeta", "discrepancy", "--grid-images", "1",
             "--grid-samples", "2")  # fmt: skip
    assert main(_args(tiny_prior, out, *extra)) == 0
    rep = json.loads((out / "zeta_discrepancy.json").read_text())
    assert set(rep["table"]) == {"0.0", "1.0"}
    assert rep["chains"] == 7 * 2 * 1 * 2  # iters x etas x images x samples
    assert all(len(h) == 7 for h in rep["history"].values())
