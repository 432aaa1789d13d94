"""``python -m diffusion.mcgdiff_benchmark`` end to end (tiny settings), its resume, its one-line
errors, the lazy guidance table, and the exact score's η = 1 law against the exact posterior."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import kstest, norm

import diffusion.guidance as guidance_module
from diffusion.experiments.mcgdiff.cli import main
from diffusion.experiments.mcgdiff.config import BenchmarkConfig
from diffusion.experiments.mcgdiff.guidances import NOT_AVAILABLE, make_guidance, unavailable
from diffusion.experiments.mcgdiff.report import mean_ci
from numerics.mcgdiff import mcgdiff_problem

# the module (the package re-exports its function ``run`` under the same name)
run_module = importlib.import_module("diffusion.experiments.mcgdiff.run")

TINY = [
    "--d", "4", "--dy", "1,2", "--n-problems", "2", "--n-samples", "8", "--steps", "8",
    "--etas", "0,1", "--n-projections", "5", "--floor-repeats", "2", "--no-progress",
]  # fmt: skip


def _one_line_error(capsys, argv, option):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err, err


def test_end_to_end(tmp_path, capsys):
    out = tmp_path / "o"
    assert main([*TINY, "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    for key in ("d4_dy1", "d4_dy2"):
        for p in range(2):
            prob = res["problems"][f"{key}/p{p}"]
            assert prob["mmse"] > 0 and prob["floors"]["sw"] > 0 and prob["floors"]["w2"] > 0
            for g in ("exact", "dps_reference", "dps_likelihood", "cov", "pigdm"):
                unit = res["units"].get(f"{key}/p{p}/{g}")
                if unit is None:  # only a guidance missing from this build may have no unit
                    assert NOT_AVAILABLE in res["unavailable"][g]
                    continue
                assert unit["eta"] == [0.0, 1.0]
                if unit["status"] == "ok":
                    for m in ("mse_over_mmse", "sw", "w2", "excess_over_D"):
                        assert len(unit[m]) == 2 and all(math.isfinite(v) for v in unit[m])
                    # the MSE of any estimator independent of x given y is at least the MMSE
                    assert min(unit["mse_over_mmse"]) >= 1.0
    for g in ("exact", "dps_reference"):
        assert res["summary"]["d4_dy1"]["guidances"][g]["n_ok"] == 2
    assert ("n/a in this build" in report) == bool(res["unavailable"])
    assert "| 4 | 1 | 2 |" in report


def test_resume_runs_only_missing_units(tmp_path, monkeypatch):
    cfg = BenchmarkConfig(
        dims=((4, 1),), guidances=("exact",), n_problems=1, n_samples=6, etas=(1.0,), steps=5,
        n_projections=4, floor_repeats=2,
    )  # fmt: skip
    first = run_module.run(cfg, tmp_path)
    calls = []
    real = run_module.chain_samples

    def counting(problem, name, cfg, **kw):
        calls.append(name)
        return real(problem, name, cfg, **kw)

    monkeypatch.setattr(run_module, "chain_samples", counting)
    again = run_module.run(cfg, tmp_path)
    assert calls == []
    assert again["units"] == first["units"]
    # one more problem and one more guidance: only those units run; the stored one is kept
    more = BenchmarkConfig(
        **{**cfg.__dict__, "n_problems": 2, "guidances": ("exact", "dps_reference")}
    )
    res = run_module.run(more, tmp_path)
    assert sorted(calls) == ["dps_reference", "dps_reference", "exact"]
    assert res["units"]["d4_dy1/p0/exact"] == first["units"]["d4_dy1/p0/exact"]


def test_resume_keeps_stored_floors(tmp_path):
    """A resume reuses the floors results.json holds: it does not recompute (and so move) them."""
    cfg = BenchmarkConfig(
        dims=((4, 1),), guidances=("exact",), n_problems=1, n_samples=6, etas=(1.0,), steps=5,
        n_projections=4, floor_repeats=2,
    )  # fmt: skip
    run_module.run(cfg, tmp_path)
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    # a floor as another BLAS build would have made it (any value the recomputation cannot give)
    stored["problems"]["d4_dy1/p0"]["floors"]["sw"] = 123.0
    path.write_text(json.dumps(stored))
    more = BenchmarkConfig(**{**cfg.__dict__, "guidances": ("exact", "dps_reference")})
    res = run_module.run(more, tmp_path)
    assert res["problems"]["d4_dy1/p0"]["floors"]["sw"] == 123.0
    assert "| 123 |" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_resumed_report_equals_uninterrupted_under_other_blas_threads(tmp_path):
    """The defect of the d = 800 token run: a resume under another BLAS thread count rewrote
    the sliced-W2 floor (3.13 -> 3.14). At d = 256 the eigenbasis LAPACK returns for the
    posterior's degenerate eigenspace already depends on the thread count; the report of an
    interrupted run resumed with 2 threads must equal, byte for byte, an uninterrupted run's."""
    from threadpoolctl import threadpool_limits

    cfg = BenchmarkConfig(
        dims=((256, 1),), guidances=("exact", "dps_reference"), n_problems=1, n_samples=8,
        etas=(1.0,), steps=3, n_projections=20, floor_repeats=2,
    )  # fmt: skip
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    whole.mkdir(), parts.mkdir()
    with threadpool_limits(limits=1, user_api="blas"):
        run_module.run(cfg, whole)
        run_module.run(BenchmarkConfig(**{**cfg.__dict__, "guidances": ("exact",)}), parts)
    with threadpool_limits(limits=2, user_api="blas"):
        run_module.run(cfg, parts)
    assert (parts / "report.md").read_bytes() == (whole / "report.md").read_bytes()
    a, b = (json.loads((f / "results.json").read_text()) for f in (whole, parts))
    assert a["problems"] == b["problems"]
    for key, unit in a["units"].items():
        assert {k: v for k, v in unit.items() if k != "seconds"} == {
            k: v for k, v in b["units"][key].items() if k != "seconds"
        }


def test_report_only_runs_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    _one_line_error(capsys, [*TINY, "--report-only", "--out", str(out)], "--out")
    assert main([*TINY, "--guidances", "exact", "--out", str(out)]) == 0
    first = json.loads((out / "results.json").read_text())
    monkeypatch.setattr(run_module, "chain_samples", lambda *a, **k: pytest.fail("ran a unit"))
    argv = [*TINY, "--guidances", "exact", "--report-only", "--out", str(out)]
    argv[argv.index("--n-problems") + 1] = "5"  # more problems than the file holds: none run
    argv[argv.index("--dy") + 1] = "1"  # one setting of the two: the report holds only it
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["units"] == first["units"] and res["problems"] == first["problems"]
    report = (out / "report.md").read_text()
    assert "| 4 | 1 | 2 |" in report and "| 4 | 2 |" not in report


def test_other_settings_are_not_resumed_into(tmp_path, capsys):
    out = tmp_path / "o"
    assert main([*TINY, "--guidances", "exact", "--out", str(out)]) == 0
    capsys.readouterr()
    argv = [*TINY, "--guidances", "exact", "--out", str(out)]
    argv[argv.index("--steps") + 1] = "9"
    _one_line_error(capsys, argv, "--out")


@pytest.mark.parametrize(
    "change, option",
    [
        (("--d", "3"), "--d/--dy"),
        (("--dy", "9"), "--d/--dy"),
        (("--guidances", "exact,nope"), "--guidances"),
        (("--etas", "0,2"), "--etas"),
        (("--steps", "1001"), "--steps"),
        (("--floor-repeats", "1"), "--floor-repeats"),
        (("--n-samples", "1"), "--n-samples"),
        (("--zeta-cov", "-1"), "--zeta-cov"),
    ],
)
def test_bad_options_one_line(tmp_path, capsys, change, option):
    argv = [*TINY, "--out", str(tmp_path / "o")]
    if change[0] in argv:
        argv[argv.index(change[0]) + 1] = change[1]
    else:
        argv += list(change)
    _one_line_error(capsys, argv, option)
    assert not (tmp_path / "o" / "results.json").exists()


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("x")
    _one_line_error(capsys, [*TINY, "--out", str(f)], "--out")


def test_guidance_table_looks_up_cov_and_pigdm_by_name(monkeypatch):
    p = mcgdiff_problem(4, 1, np.random.default_rng(0))
    cfg = BenchmarkConfig(dims=((4, 1),), zeta_cov=0.5, zeta_pigdm=0.25, n_cg=7)
    for cls_name in ("CovarianceAwareGuidance", "PiGDMGuidance"):
        monkeypatch.delattr(guidance_module, cls_name, raising=False)
    assert NOT_AVAILABLE in unavailable("cov") and NOT_AVAILABLE in unavailable("pigdm")
    assert unavailable("exact") is None

    seen = {}

    class Fake(guidance_module.Guidance):
        def __init__(self, operator, y, sigma_y, **kw):
            seen[type(self).__name__] = (tuple(operator.in_shape), float(sigma_y), kw)

    monkeypatch.setattr(
        guidance_module, "CovarianceAwareGuidance", type("Cov", (Fake,), {}), raising=False
    )
    monkeypatch.setattr(guidance_module, "PiGDMGuidance", type("Pi", (Fake,), {}), raising=False)
    from diffusion.operators import DenseOperator

    kw = dict(
        posterior_prior=None,
        operator=DenseOperator(np.array(p.A)),
        y=torch.tensor(np.array(p.y)),
        sigma_y=p.sigma_y,
    )
    assert make_guidance("cov", cfg, **kw)[1] is True
    assert make_guidance("pigdm", cfg, **kw)[1] is True
    assert seen["Cov"] == ((4,), p.sigma_y, dict(n_cg=7, zeta=0.5))
    assert seen["Pi"] == ((4,), p.sigma_y, dict(zeta=0.25))
    assert unavailable("cov") is None


def test_mean_ci_against_hand_values():
    # t_{0.975, 3} = 3.182446305...; sd of (1, 2, 3, 6) = sqrt(14/3)
    r = mean_ci([1.0, 2.0, 3.0, 6.0])
    assert r["mean"] == 3.0 and r["n"] == 4
    assert abs(r["ci95"] - 3.182446305284263 * math.sqrt(14.0 / 3.0) / 2.0) < 1e-12
    assert mean_ci([2.0])["ci95"] is None


def _projected_cdf(post, theta):
    """CDF of theta^T x for x ~ the posterior mixture (exact, one shared covariance)."""
    loc = post.means @ theta
    sd = np.sqrt(np.einsum("i,kij,j->k", theta, post.covs, theta))
    w = post.weights
    return lambda t: np.sum(w * norm.cdf((np.asarray(t)[..., None] - loc) / sd), axis=-1)


def test_exact_score_eta1_samples_follow_the_exact_posterior():
    """η = 1, exact conditional score, DDPM (β̃), 1000 steps, float64: the law is p(x|y).

    n = 1000 chains; Kolmogorov-Smirnov on three projections (the two axes and A's row), each at
    α = 1e-3 (family-wise 3e-3 if the law were exact; the discretisation of 1000 steps moves a
    CDF far less than the KS resolution ~1.36/sqrt(n) = 0.043). The posterior is multimodal (no
    component above 0.4), and the same test rejects the prior's draws (it can fail).
    """
    p = mcgdiff_problem(2, 1, np.random.default_rng(0))
    post = p.posterior
    assert post.weights.max() < 0.4
    n = 1000
    cfg = BenchmarkConfig(dims=((2, 1),), n_samples=n, etas=(1.0,), steps=1000, dtype="float64")
    X = run_module.chain_samples(p, "exact", cfg, chain_seed=np.random.SeedSequence(7))[0]
    dirs = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), p.A[0] / np.linalg.norm(p.A[0])]
    for theta in dirs:
        assert kstest(X @ theta, _projected_cdf(post, theta)).pvalue > 1e-3
    prior_draws = p.prior.sample(n, np.random.default_rng(1))
    theta = dirs[2]
    assert kstest(prior_draws @ theta, _projected_cdf(post, theta)).pvalue < 1e-3
