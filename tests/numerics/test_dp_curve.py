"""numerics.dp_curve: the driver against exact ground truth, its contract and its errors."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest

from numerics.dp import dp_function
from numerics.dp_curve import (
    DEFAULT_PROBLEM,
    ProblemError,
    load_problem,
    main,
    run,
)
from numerics.gaussian import eta_chain_moments
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule

NEAR_GAUSSIAN = {**copy.deepcopy(DEFAULT_PROBLEM), "y": [1.2, 1.4]}  # one component > 99.9 %


def test_near_gaussian_posterior_traces_dp_function():
    """Exact guidance, exact step covariance, T = 1000, n = 1500 per eta:
    MSE(1)/MMSE within 4 sd of 2, MSE(0)/MMSE within 1 %, every MSE >= D(measured W2) - 4 sd."""
    res = run(
        load_problem(NEAR_GAUSSIAN),
        etas=[0.0, 0.5, 1.0],
        n=1500,
        variance="exact",
        seed=3,
        shrink_factors=[0.0, 1.0],
        floor_repeats=2,
        trajectories=False,
    )
    mmse = res["mmse"]
    r0, r5, r1 = res["runs"]
    assert abs(r1["mse"] / mmse - 2.0) < 4 * r1["mse_sd"] / mmse, r1
    assert abs(r0["mse"] / mmse - 1.0) < 0.01, r0
    for r in res["runs"]:
        # Measured W2 is biased upward, so D(measured W2) is a lower bound up to MC error.
        assert r["mse"] >= dp_function(mmse, r["w2"]) - 4 * r["mse_sd"] - 1e-12, r
        assert r["w2"] >= 0 and r["n"] == 1500


def test_gaussian_problem_matches_exact_chain_moments():
    """K = 1: the numpy run's MSE and sample mean agree with eta_chain_moments (beta_tilde, N(0, I) start)."""
    prob = {
        "prior": {
            "weights": [1.0],
            "means": [[0.3, -0.2, 0.1]],
            "covs": [np.diag([0.5, 0.2, 0.05]).tolist()],
        },
        "A": [[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]],
        "sigma_y": 0.1,
        "y": [0.4, -0.3],
    }
    problem = load_problem(prob)
    post = problem.posterior()
    m, S = post.means[0], post.covs[0]
    res = run(
        problem,
        etas=[0.0, 0.3, 1.0],
        n=1500,
        steps=200,
        seed=5,
        shrink_factors=[1.0],
        floor_repeats=2,
        trajectories=False,
    )
    sched = linear_schedule(200)
    for r in res["runs"]:
        mean, cov = eta_chain_moments(
            m, S, r["eta"], sched, start="standard", variance="beta_tilde"
        )
        mse_pred = np.trace(S) + np.trace(cov) + np.sum((mean - m) ** 2)
        assert abs(r["mse"] - mse_pred) < 4 * r["mse_sd"] + 1e-9, (r, mse_pred)
        # mean offset |mean(x) - m| is within 4 sd of |mean - m| (sd from the predicted covariance)
        sd = np.sqrt(np.trace(cov) / r["n"])
        assert abs(r["mean_offset"] - np.linalg.norm(mean - m)) < 4 * sd + 1e-9


def test_dps_runs_and_reports(tmp_path):
    rc = main(
        [
            "--guidance",
            "dps",
            "--zeta",
            "0.5",
            "--steps",
            "50",
            "--samples",
            "40",
            "--eta",
            "0,1",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert rc == 0
    res = json.loads((tmp_path / "dp_curve.json").read_text())
    assert res["settings"]["guidance"] == "dps" and res["settings"]["zeta"] == 0.5
    assert all(np.isfinite(r["mse"]) and np.isfinite(r["w2"]) for r in res["runs"])


def test_cli_outputs_contract_and_same_seed_same_json(tmp_path, capsys):
    args = ["--steps", "30", "--samples", "30", "--eta", "0,0.5,1", "--seed", "11", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "dp_curve.json").read_text()
    assert a == (tmp_path / "b" / "dp_curve.json").read_text()
    res = json.loads(a)
    for key in ("problem", "mmse", "posterior_mean", "theory", "runs", "settings"):
        assert key in res
    assert set(res["theory"]) >= {"P", "D"}
    for r in res["runs"]:
        assert {"eta", "mse", "mse_sd", "w2", "w2_floor", "kl", "n", "excess_mse"} <= set(r)
    assert {"sampler", "guidance", "zeta", "variance", "steps", "seed", "package_version"} <= set(
        res["settings"]
    )
    assert res["problem"] == load_problem(DEFAULT_PROBLEM).to_json()
    post = load_problem(DEFAULT_PROBLEM).posterior()
    assert res["mmse"] == pytest.approx(post.mmse(), rel=1e-12)
    for name in ("dp_curve.png", "dp_curve.svg", "trajectories.png"):
        assert (tmp_path / "a" / name).stat().st_size > 1000
    assert not [
        p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")
    ]  # no temp files left


def _write(tmp_path, obj):
    p = tmp_path / "problem.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _mutated(path, value):
    obj = copy.deepcopy(DEFAULT_PROBLEM)
    node = obj
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return obj


BAD_PROBLEMS = {
    "missing key": (_mutated(("sigma_y",), KeyError), "sigma_y"),
    "missing prior key": (_mutated(("prior", "covs"), KeyError), "prior.covs"),
    "wrong shape of covs": (_mutated(("prior", "covs"), [[[1.0, 0.0], [0.0, 1.0]]]), "prior.covs"),
    "wrong shape of A": (_mutated(("A",), [[1.0, 0.0, 0.0]]), "A"),
    "wrong shape of y": (_mutated(("y",), [0.0, 0.0, 0.0]), "y"),
    "non-SPD cov": (
        _mutated(("prior", "covs"), [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
        "prior.covs",
    ),
    "non-symmetric cov": (
        _mutated(("prior", "covs"), [[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
        "prior.covs",
    ),
    "weights not summing to 1": (_mutated(("prior", "weights"), [0.5, 0.6]), "prior.weights"),
    "negative weight": (_mutated(("prior", "weights"), [1.5, -0.5]), "prior.weights"),
    "sigma_y zero": (_mutated(("sigma_y",), 0.0), "sigma_y"),
    "sigma_y negative": (_mutated(("sigma_y",), -0.5), "sigma_y"),
    "NaN in means": (
        _mutated(("prior", "means"), [[float("nan"), 0.0], [1.0, 1.0]]),
        "prior.means",
    ),
    "not JSON": ("{not json", "JSON"),
}


@pytest.mark.parametrize("case", list(BAD_PROBLEMS))
def test_bad_problem_file_exits_2_with_one_line(tmp_path, capsys, case):
    obj, field = BAD_PROBLEMS[case]
    path = _write(tmp_path, obj)
    out = tmp_path / "out"
    rc = main(
        [
            "--problem",
            str(path),
            "--out",
            str(out),
            "--steps",
            "5",
            "--samples",
            "20",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and field in err[0], err
    assert not out.exists()


def test_load_problem_accepts_any_dimension_and_operator():
    prob = load_problem(
        {
            "prior": {
                "weights": [0.2, 0.3, 0.5],
                "means": np.zeros((3, 4)).tolist(),
                "covs": np.stack([np.eye(4)] * 3).tolist(),
            },
            "A": np.ones((2, 4)).tolist(),
            "sigma_y": 0.3,
            "y": [0.1, 0.2],
        }
    )
    assert isinstance(prob.prior, GaussianMixture) and prob.prior.d == 4 and prob.A.shape == (2, 4)
    with pytest.raises(ProblemError, match="problem"):
        load_problem([1, 2])


@pytest.mark.parametrize(
    "argv", [["--eta", "0,1.5"], ["--samples", "0"], ["--zeta", "-1"], ["--eta", "a"]]
)
def test_bad_cli_values_exit_2(argv, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and argv[0] in err[0], err
    assert not (tmp_path / "o").exists()


def test_dps_with_exact_variance_is_refused(tmp_path, capsys):
    rc = main(
        ["--guidance", "dps", "--variance", "exact", "--out", str(tmp_path / "o"), "--steps", "5"]
    )
    assert rc == 2 and "exact" in capsys.readouterr().err


@pytest.mark.parametrize("guidance", ["exact", "dps"])
def test_torch_sampler_agrees_with_numpy(guidance):
    """--sampler torch (diffusion/) vs the numpy ground truth, same problem, independent noise:
    MSE per eta within 4 combined MC sd (n = 400 per eta, T = 100)."""
    pytest.importorskip("torch")
    prob = load_problem(NEAR_GAUSSIAN)
    kw = dict(
        etas=[0.0, 1.0],
        n=400,
        steps=100,
        guidance=guidance,
        zeta=0.3,
        shrink_factors=[1.0],
        floor_repeats=2,
        trajectories=False,
        variance="exact" if guidance == "exact" else "beta_tilde",
    )
    a = run(prob, sampler="numpy", seed=1, **kw)
    b = run(prob, sampler="torch", seed=2, **kw)
    assert b["settings"]["sampler"] == "torch"
    for ra, rb in zip(a["runs"], b["runs"], strict=True):
        sd = np.hypot(ra["mse_sd"], rb["mse_sd"])
        assert abs(ra["mse"] - rb["mse"]) < 4 * sd + 1e-9, (guidance, ra, rb)


_QUICK = ["--steps", "5", "--samples", "20", "--eta", "0,1", "--no-progress"]


def _one_line_naming(capsys, option):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00{\x80binary", bytes(range(256)), '{"prior": "\u00e9"}'.encode("latin-1")],
    ids=["binary", "all bytes", "latin-1 text"],
)
def test_problem_that_is_not_utf8_exits_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "problem.json"
    path.write_bytes(content)
    out = tmp_path / "out"
    assert main(["--problem", str(path), "--out", str(out), *_QUICK]) == 2
    assert "UTF-8" in _one_line_naming(capsys, "--problem")
    assert not out.exists()


def test_problem_nested_too_deeply_exits_2(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["--problem", str(path), "--out", str(tmp_path / "o"), *_QUICK]) == 2
    _one_line_naming(capsys, "--problem")


@pytest.mark.parametrize("where", ["is a file", "under a file"])
def test_out_that_cannot_be_a_folder_exits_2_before_any_work(tmp_path, capsys, where):
    f = tmp_path / "taken"
    f.write_text("keep me")
    out = f if where == "is a file" else f / "sub" / "dir"
    assert main(["--out", str(out), *_QUICK]) == 2
    assert "is a file" in _one_line_naming(capsys, "--out")
    assert f.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_read_only_out_exits_2(tmp_path, capsys, monkeypatch):
    """A read-only folder (simulated: os.access says no, as it does for a non-root user)."""
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode)
    )
    assert main(["--out", str(ro / "run"), *_QUICK]) == 2
    assert "not writable" in _one_line_naming(capsys, "--out")
    assert list(ro.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_really_read_only_out_exits_2(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["--out", str(ro), *_QUICK]) == 2
        _one_line_naming(capsys, "--out")
    finally:
        ro.chmod(0o700)


def test_a_failed_write_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    """A write that fails after the run (disk full, permissions changed meanwhile)."""
    import numerics.dp_curve.cli as cli

    def deny(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "write_outputs", deny)
    assert main(["--out", str(tmp_path / "o"), *_QUICK]) == 2
    assert "Permission denied" in _one_line_naming(capsys, "--out")


def test_bad_command_lines_print_no_traceback(tmp_path):
    """The real command in a subprocess: a binary --problem and a file as --out."""
    import subprocess
    import sys

    binary = tmp_path / "p.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    taken = tmp_path / "taken"
    taken.write_text("x")
    for argv in (["--problem", str(binary)], ["--out", str(taken)]):
        cmd = [sys.executable, "-m", "numerics.dp_curve", *argv, *_QUICK]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith("python -m numerics.dp_curve: error: " + argv[0]), lines
