"""python -m diffusion.restore: operators as matrices, smoke run, resume, bad arguments, exact checks."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from diffusion.experiments.restore import (
    PRIORS,
    TASKS,
    RestoreConfig,
    aggregate,
    convergence_figure,
    main,
    make_problem,
    make_setup,
    run,
)
from diffusion.experiments.restore.chains import run_unit
from numerics.cli import UsageError


def _args(prior, out, *extra):
    return [
        "--task", "sr2", "--prior", "gmm", "--weights", prior, "--out", str(out),
        "--n-images", "2", "--samples-per-image", "3", "--steps", "50", "--eta", "0,0.5,1",
        "--ref-samples", "32", "--pool-size", "64", "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("task", sorted(TASKS))
def test_operator_as_matrix_equals_torch_operator(task, rng):
    op = TASKS[task].make((1, 16, 16))
    M = op.as_matrix().numpy()
    x = rng.normal(size=(5, 1, 16, 16))
    got = op.A(torch.from_numpy(x)).reshape(5, -1).numpy()
    np.testing.assert_allclose(got, x.reshape(5, -1) @ M.T, rtol=1e-12, atol=1e-12)


def test_operator_matrices_against_independent_routes(rng):
    x = rng.normal(size=(16, 16))
    # deblur: scipy's "mirror" extension (d c b | a b c d) with the normalised 9 x 9 Gaussian.
    g = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    k = np.outer(g, g) / np.outer(g, g).sum()
    M = TASKS["deblur"].make((1, 16, 16)).as_matrix().numpy()
    np.testing.assert_allclose(
        M @ x.ravel(), ndi.correlate(x, k, mode="mirror").ravel(), atol=1e-12
    )
    # SR: block means.
    for f in (2, 4):
        M = TASKS[f"sr{f}"].make((1, 16, 16)).as_matrix().numpy()
        ref = x.reshape(16 // f, f, 16 // f, f).mean(axis=(1, 3))
        np.testing.assert_allclose(M @ x.ravel(), ref.ravel(), atol=1e-12)
    # inpainting: the central 8 x 8 box is zeroed, the rest kept.
    M = TASKS["inpaint"].make((1, 16, 16)).as_matrix().numpy()
    ref = x.copy()
    ref[4:12, 4:12] = 0.0
    np.testing.assert_allclose(M @ x.ravel(), ref.ravel(), atol=0)


# --------------------------------------------------------------------------- the command


def test_smoke_run_two_images_fifty_steps(tiny_prior, tmp_path):
    out = tmp_path / "run"
    assert main(_args(tiny_prior, out)) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "complete"
    rows = res["curves"]["exact"]["per_eta"]
    assert [r["eta"] for r in rows] == [0.0, 0.5, 1.0]
    for r in rows:
        for key in ("mse", "psnr", "ssim", "mmse", "mse_post", "perception", "dp_bound",
                    "excess", "fd", "sw2", "ratio", "ratio_sd", "pred_ratio"):  # fmt: skip
            assert np.isfinite(r[key]), key
        # mse_post = tr S + mean ||x - m||^2 >= MMSE; the DP bound lies between MMSE and 2 MMSE.
        assert r["mse_post"] >= r["mmse"]
        assert r["mmse"] <= r["dp_bound"] <= 2 * r["mmse"] + 1e-12
    for name in ("grid_exact.png", "dp_curve.png", "records/00000.json", "records/00001.json"):
        assert (out / name).exists(), name
    assert len(res["oracle"]) == 11


def test_resume_equals_uninterrupted(tiny_prior, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    extra = ("--n-images", "3", "--task", "inpaint")
    assert main(_args(tiny_prior, full, *extra)) == 0
    assert main(_args(tiny_prior, part, *extra)) == 0
    # Simulate an interruption after image 0: drop later records and the final outputs.
    for f in ("records/00001.json", "records/00002.json", "results.json", "timing.json"):
        (part / f).unlink()
    assert main(_args(tiny_prior, part, *extra, "--resume")) == 0
    assert (part / "results.json").read_text() == (full / "results.json").read_text()
    ran = [u["images"] for u in json.loads((part / "timing.json").read_text())["units"]]
    assert ran == [[1], [2]]  # image 0 was not recomputed
    # Without --resume an existing run is refused; with other settings, too.
    assert main(_args(tiny_prior, part, *extra)) == 2
    assert main(_args(tiny_prior, part, *extra, "--seed", "1", "--resume")) == 2


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--task", "denoise"), "--task"),
        (("--eta", "0,1.5"), "--eta"),
        (("--eta", "-0.1"), "--eta"),
        (("--sigma-y", "0"), "--sigma-y"),
        (("--sigma-y", "-0.1"), "--sigma-y"),
        (("--task", "sr4", "--patch-size", "18"), "not divisible by the SR factor 4"),
        (("--guidance", "dps", "--variance", "exact"), "--variance exact"),
        (("--guidance", "dps", "--zeta", "nonsense"), "--zeta"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tiny_prior, tmp_path, capsys, extra, needle):
    assert main(_args(tiny_prior, tmp_path / "bad", *extra)) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("restore: error:") and needle in lines[0]
    assert not (tmp_path / "bad" / "results.json").exists()


def test_cli_exit_status_is_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "diffusion.restore", "--task", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dps_divergence_stops_with_the_step_named(tiny_prior, tmp_path, capsys):
    out = tmp_path / "dps"
    args = _args(tiny_prior, out, "--guidance", "dps", "--zeta", "1e6", "--max-abs", "10")
    assert main(args) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reverse step k=" in err[0]
    res = json.loads((out / "results.json").read_text())
    assert res["status"] == "diverged" and "curves" not in res
    assert not list((out / "records").glob("*.json"))  # no (NaN) records written


def test_stages_run_from_python_with_a_config_object(tiny_prior, tmp_path):
    """No argparse: a RestoreConfig made in Python, then problem -> chain -> run -> aggregate;
    the results are those of the command with the same options."""
    cfg = RestoreConfig(
        task="sr2", prior="gmm", weights=tiny_prior, etas=[0, 0.5, 1], n_images=2,
        samples_per_image=3, steps=50, ref_samples=32, pool_size=64, out=tmp_path / "py",
        progress=False, threads=1,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    setup = make_setup(cfg)
    assert setup.patch_size == 8 and setup.clean.shape == (2, 64)
    pb = make_problem(setup, 0)
    assert pb.exact and pb.y.shape == (16,) and pb.mmse == pytest.approx(np.trace(pb.S))
    [x] = run_unit([pb], "exact", setup)
    assert x.shape == (3, 3, 64) and np.isfinite(x).all()
    res = run(cfg)
    assert res["status"] == "complete" and res["config"]["patch_size"] == 8
    again = aggregate(setup, cfg.record(setup.patch_size), cfg.curves, tmp_path / "py")
    assert again["curves"] == res["curves"] and again["dataset_reference"] == res["dataset_reference"]
    assert main(_args(tiny_prior, tmp_path / "cli")) == 0
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "machine"}  # noqa: E731
    assert strip(tmp_path / "cli" / "results.json") == strip(tmp_path / "py" / "results.json")
    # the registries are read-only; a bad value is refused when the config is made
    with pytest.raises(TypeError):
        PRIORS["mine"] = PRIORS["gmm"]  # type: ignore[index]
    with pytest.raises(UsageError, match="--samples-per-image"):
        dataclasses.replace(cfg, samples_per_image=1)


# --------------------------------------------------------------------------- hostile inputs (#18)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line(capsys, needle):
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("restore: error:") and needle in err[0], err
    assert "Traceback" not in err[0]


@pytest.mark.parametrize("where", ["file", "under_file", "read_only", "mkdir_fails"])
def test_bad_out_exits_2_and_writes_nothing(tiny_prior, tmp_path, capsys, monkeypatch, where):
    """--out that is a file, below a file, in a read-only folder, or cannot be created."""
    base = tmp_path / "area"
    base.mkdir()
    (base / "afile").write_text("x")
    out = {"file": base / "afile", "under_file": base / "afile" / "run"}.get(where, base / "ro" / "run")
    if where in ("read_only", "mkdir_fails"):
        (base / "ro").mkdir()
        (base / "ro").chmod(0o555)
    if where == "read_only" and os.access(base / "ro", os.W_OK):  # root ignores the mode
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(base / "ro") else real(p, m))
    if where == "mkdir_fails":
        real_mkdir = Path.mkdir

        def mkdir(self, *a, **k):
            if str(self).startswith(str(base / "ro")):
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(os, "access", lambda p, m: True)
        monkeypatch.setattr(Path, "mkdir", mkdir)
    before = _tree(base)
    assert main(_args(tiny_prior, out)) == 2
    _one_line(capsys, "--out")
    assert _tree(base) == before
    assert (base / "afile").read_text() == "x"


@pytest.mark.parametrize("value", ["1e308", "1e7", "inf"])
def test_huge_sigma_y_is_refused(tiny_prior, tmp_path, capsys, value):
    assert main(_args(tiny_prior, tmp_path / "o", "--sigma-y", value)) == 2
    _one_line(capsys, "--sigma-y")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content", ["truncated", "empty", "npy", "pickle"])
def test_unreadable_weights_are_refused(tiny_prior, tmp_path, capsys, content):
    bad = tmp_path / "bad.npz"
    if content == "truncated":
        bad.write_bytes(Path(tiny_prior).read_bytes()[:3000])
    elif content == "empty":
        bad.write_bytes(b"")
    elif content == "npy":
        np.save(tmp_path / "a.npy", np.zeros(3))
        bad.write_bytes((tmp_path / "a.npy").read_bytes())
    else:  # an object array: loading it would need pickle, which is refused
        with open(bad, "wb") as f:
            np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    before = _tree(tmp_path)
    assert main(_args(str(bad), tmp_path / "o")) == 2
    _one_line(capsys, "--weights")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("text", ["{bad", "[1, 2]", "\udcff"])
def test_resume_with_a_corrupt_config_json(tiny_prior, tmp_path, capsys, text):
    out = tmp_path / "o"
    (out / "records").mkdir(parents=True)
    (out / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    before = _tree(tmp_path)
    assert main(_args(tiny_prior, out, "--resume")) == 2
    _one_line(capsys, "--resume")
    assert _tree(tmp_path) == before


def test_too_few_fixed_horizon_steps_is_a_usage_error(tiny_prior, tmp_path, capsys):
    args = _args(tiny_prior, tmp_path / "o", "--schedule", "fixed-horizon", "--steps", "5")
    assert main(args) == 2
    _one_line(capsys, "--steps")
    assert not (tmp_path / "o").exists()


def test_cli_hostile_inputs_end_in_one_line(tiny_prior, tmp_path):
    """The real entry point: no traceback, exit 2, nothing written."""
    (tmp_path / "f").write_text("x")
    for extra in (["--sigma-y", "1e308"], ["--out", str(tmp_path / "f" / "sub")]):
        argv = [*_args(tiny_prior, tmp_path / "o"), *extra]
        proc = subprocess.run(
            [sys.executable, "-m", "diffusion.restore", *argv], capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert _tree(tmp_path) == ["f"]


def test_figures_are_written_atomically(tmp_path, monkeypatch):
    """A crash (kill) while a PNG is written leaves the old figure, never a truncated one."""
    import matplotlib.figure

    runs = Path(__file__).resolve().parents[2] / "docs" / "figures" / "images" / "runs"
    run_dir = tmp_path / "conv"
    run_dir.mkdir()
    (run_dir / "results.json").write_bytes((runs / "conv_fh_beta_tilde_250.json").read_bytes())
    path = convergence_figure([run_dir], tmp_path / "fig" / "conv.png")
    good = path.read_bytes()
    assert good.startswith(b"\x89PNG")

    def dies_half_way(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG partial")
        raise RuntimeError("killed")  # a kill during the write, as far as the file goes

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies_half_way)
    with pytest.raises(RuntimeError, match="killed"):
        convergence_figure([run_dir], path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["conv.png"]  # no temporary left


# --------------------------------------------------------------------------- exact checks


@pytest.mark.slow
def test_exact_variance_eta1_is_twice_the_mmse(tiny_prior, tmp_path):
    """(a) --variance exact: MSE(η=1)/MMSE within 4 sd of 2 (n = 4 images x 64 samples).

    The sd is that of an exact posterior sampler (``ratio_sd_exact``, from the posterior's
    own law of ||x - m||^2), the null hypothesis being tested.
    """
    out = tmp_path / "ex"
    args = _args(tiny_prior, out, "--variance", "exact", "--eta", "1", "--steps", "1000",
                 "--n-images", "4", "--samples-per-image", "64", "--dtype", "float64")  # fmt: skip
    assert main(args) == 0
    r = json.loads((out / "results.json").read_text())["curves"]["exact"]["per_eta"][0]
    assert abs(r["ratio"] - 2.0) <= 4 * r["ratio_sd_exact"], r


@pytest.mark.slow
def test_beta_tilde_matches_the_gaussian_chain_prediction(tiny_prior, tmp_path):
    """(b) beta_tilde: measured MSE(η)/MMSE within 4 sd of eta_chain_moments' prediction."""
    out = tmp_path / "bt"
    args = _args(tiny_prior, out, "--variance", "beta_tilde", "--eta", "0.5,1", "--steps", "1000",
                 "--n-images", "4", "--samples-per-image", "64", "--dtype", "float64")  # fmt: skip
    assert main(args) == 0
    for r in json.loads((out / "results.json").read_text())["curves"]["exact"]["per_eta"]:
        assert abs(r["ratio"] - r["pred_ratio"]) <= 4 * r["ratio_sd"] + 1e-3, r
