"""diffusion.toy2d: data, DSM training, PSCGAN averaging, the pipeline against numerics.dp_curve,
the oracle posterior, resumable storage (interrupt, kill -9, damaged files), bit-identical
reruns and the CLI's errors. Tiny and seeded (about a minute in all)."""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion.data.toy2d import DATASETS, make_data
from diffusion.experiments.toy2d import (
    CONFIG_PATH,
    dp_point,
    load_config,
    main,
    oracle_posterior,
    run_dataset,
    sweep_ours,
    write_figures,
)
from diffusion.experiments.toy2d.models import (
    Critic,
    Generator,
    ScoreMLP,
    count_parameters,
    pscgan_estimate,
    train_pscgan,
    train_score,
)
from diffusion.priors.analytic import MixturePrior
from numerics.dp_curve import DEFAULT_PROBLEM, load_problem, run
from numerics.metrics import metric_floor, w2_empirical
from numerics.schedule import linear_schedule

from ._helpers import one_thread  # noqa: F401  (autouse)

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_data_seeded_and_standardised(name):
    """Same seed, same points; n = 20000 points have mean 0 and sd 1 per coordinate within
    4 standard errors (se of the mean 1/sqrt(n); of the sd about 1/sqrt(2n) for light tails,
    taken as sqrt(kurtosis excess + 2)/(2 sqrt(n)) from the sample)."""
    a = make_data(name, 20000, np.random.default_rng(1))
    b = make_data(name, 20000, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, make_data(name, 20000, np.random.default_rng(2)))
    n = a.shape[0]
    assert np.all(np.abs(a.mean(0)) < 4 / math.sqrt(n))
    m4 = np.mean((a - a.mean(0)) ** 4, axis=0) / a.var(0) ** 2
    se_sd = np.sqrt(m4 - 1) / (2 * math.sqrt(n))
    assert np.all(np.abs(a.std(0) - 1) < 4 * se_sd)


def _moon_of(u):
    """Raw moons points -> 0 (upper arc, centre (0, 0)) or 1 (lower arc, centre (1, 0.5)) by
    the nearer half circle; the half arcs are >= 0.5 apart, 10 noise sd."""

    def dist(c, sign):
        v = (u - c) * sign
        th = np.clip(np.arctan2(v[:, 1], v[:, 0]), 0.0, np.pi)
        return np.hypot(v[:, 0] - np.cos(th), v[:, 1] - np.sin(th))

    return (dist(np.array([1.0, 0.5]), -1.0) < dist(np.zeros(2), 1.0)).astype(int)


def test_moons_has_the_law_of_sklearn_make_moons():
    """Our i.i.d. moons against scikit-learn's make_moons (an independent generator of the same
    law, stratified): two-sample KS on the coordinates and on the two diagonals, n = 40 000 each;
    a 0.02 shift of either moon or a swapped sign is rejected at this n (KS p ~ 1e-6 or less)."""
    from scipy.stats import ks_2samp
    from sklearn.datasets import make_moons

    from diffusion.data.toy2d import raw_data

    ours = raw_data("moons", 40000, np.random.default_rng(5))
    ref, _ = make_moons(40000, noise=DATASETS["moons"]["noise"], random_state=7)
    for w in ([1, 0], [0, 1], [1, 1], [1, -1]):
        p = ks_2samp(ours @ np.array(w), ref @ np.array(w)).pvalue
        assert p > 1e-4, (w, p)


def test_moons_points_are_iid_not_stratified():
    """make_moons puts exactly n/2 points on each moon; an i.i.d. draw puts Binomial(n, 1/2).
    Over 2000 sets of n = 20 the count on the upper moon has variance n/4 = 5; the sample
    variance of 2000 draws has sd about 5 * sqrt(2/1999) (= 0.16, plus the binomial's small
    excess kurtosis), the check allows 1.0."""
    from diffusion.data.toy2d import raw_data

    rng = np.random.default_rng(11)
    counts = np.array([(1 - _moon_of(raw_data("moons", 20, rng))).sum() for _ in range(2000)])
    assert abs(counts.mean() - 10) < 4 * math.sqrt(5 / 2000)
    assert abs(counts.var(ddof=1) - 5.0) < 1.0, counts.var(ddof=1)


def test_data_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        make_data("spiral", 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n:"):
        make_data("moons", 0, np.random.default_rng(0))


def test_parameter_counts_match_the_paper():
    """Score net: exactly the paper's 26 498; PSCGAN within 0.5 % of 25 682 / 25 025."""
    assert count_parameters(ScoreMLP()) == 26498
    assert abs(count_parameters(Generator()) / 25682 - 1) < 0.005
    assert abs(count_parameters(Critic()) / 25025 - 1) < 0.005


# --------------------------------------------------------------------------- DSM training
def test_dsm_training_reduces_the_loss():
    """100 Adam steps (batch 128) on 2000 pinwheel points lower the DSM loss on a fixed held-out batch of
    4096 (x0, t, eps) triples by more than 4 standard errors of the paired difference."""
    sched = linear_schedule(1000)
    X = make_data("pinwheel", 2000, np.random.default_rng(0))
    g = torch.Generator().manual_seed(1)
    x0 = torch.as_tensor(make_data("pinwheel", 4096, np.random.default_rng(9)), dtype=torch.float32)
    t = torch.randint(1, 1001, (4096,), generator=g)
    eps = torch.randn(4096, 2, generator=g)

    torch.manual_seed(0)
    net0 = ScoreMLP()
    net = copy.deepcopy(net0)
    trained, log = train_score(
        X, sched, steps=100, batch=128, ema=None, seed=0, net=net, log_every=25
    )

    # x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, the tables taken from the schedule directly
    sab = torch.from_numpy(np.sqrt(sched.alpha_bar)).float()
    somab = torch.from_numpy(np.sqrt(sched.one_minus_alpha_bar)).float()

    def losses(m):
        xt = sab[t, None] * x0 + somab[t, None] * eps
        with torch.no_grad():
            return ((m(xt, t) - eps) ** 2).sum(-1).double().numpy()

    before, after = losses(net0), losses(trained)
    diff = before - after
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    assert diff.mean() > 4 * se, (before.mean(), after.mean(), se)
    assert len(log["loss"]) == 4 and all(np.isfinite(log["loss"]))


def test_train_score_is_seeded():
    sched = linear_schedule(1000)
    X = make_data("moons", 500, np.random.default_rng(0))
    a, _ = train_score(X, sched, steps=20, batch=32, seed=3)
    b, _ = train_score(X, sched, steps=20, batch=32, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


# --------------------------------------------------------------------------- PSCGAN
def test_pscgan_averaging_reduces_mse_in_expectation():
    """For any generator, E||x - mean of N samples||^2 = A + B/N with A = E||x - mu(y)||^2 and
    B = E tr Cov_z g(y, z): decreasing in N. The generator is a seeded initialisation whose
    latent block is scaled up (x6 per layer) so that B is large (about 0.45; a freshly
    initialised or briefly trained one barely uses z). A and B are estimated from 512 latent
    draws per y, independently of the N-sample estimates; the measured MSE(N) for
    N = 1, 2, 4, 8, 16 on n = 1500 pairs matches A + B/N within 4 standard errors, and
    MSE(1) > MSE(4) and MSE(2) > MSE(16) by more than 4 standard errors of the differences
    (the N-sample estimates use independent latents, so the differences are weakly paired)."""
    torch.manual_seed(0)
    g = Generator().eval().requires_grad_(False)
    with torch.no_grad():
        for layer in g.z_encoder.layers:
            layer.weight.mul_(6.0)
    rng = np.random.default_rng(4)
    n = 1500
    x = make_data("pinwheel", n, rng)
    y = x + 0.5 * rng.standard_normal(x.shape)
    big = (
        torch.stack(
            [
                pscgan_estimate(g, y, n_avg=1, generator=torch.Generator().manual_seed(100 + k))
                for k in range(512)
            ]
        )
        .double()
        .numpy()
    )
    mu = big.mean(0)
    B_i = big.var(0, ddof=1).sum(1)
    A_i = np.sum((x - mu) ** 2, axis=1)
    assert B_i.mean() > 0
    errs = {}
    for N in (1, 2, 4, 8, 16):
        xh = (
            pscgan_estimate(g, y, n_avg=N, generator=torch.Generator().manual_seed(N))
            .double()
            .numpy()
        )
        errs[N] = np.sum((xh - x) ** 2, axis=1)
        pred = A_i.mean() + B_i.mean() / N
        se = errs[N].std(ddof=1) / math.sqrt(n)
        assert abs(errs[N].mean() - pred) < 4 * se, (N, errs[N].mean(), pred, se)
    for a, b in ((1, 4), (2, 16)):
        d = errs[a] - errs[b]
        assert d.mean() > 4 * d.std(ddof=1) / math.sqrt(n), (a, b)


def test_pscgan_sigma_z_zero_is_deterministic():
    X = make_data("moons", 500, np.random.default_rng(0))
    g, _, _ = train_pscgan(X, 0.5, steps=2, batch=16, n_critic=1)
    y = X[:10]
    a = pscgan_estimate(g, y, sigma_z=0.0, generator=torch.Generator().manual_seed(0))
    b = pscgan_estimate(g, y, sigma_z=0.0, n_avg=3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="n_avg"):
        pscgan_estimate(g, y, n_avg=0)


# --------------------------------------------------------------------------- pipeline vs ground truth
def test_exact_gmm_score_gives_the_dp_points_of_numerics_dp_curve():
    """The pipeline with the network replaced by the exact GMM prior (MixturePrior) reproduces
    numerics.dp_curve's DPS points (numpy chain, Hessian-based DPS gradient, no autograd).

    Problem: dp_curve's default 2-component mixture, y = (0, 0), sigma_y = 0.5; T = 200,
    zeta = 0.01 (likelihood form), n = 400 per eta, eta in {0, 0.5, 1}. Our MSE is to paired
    truths x_i ~ p(x | y); dp_curve's is the exact conditional MSE. Tolerances: 4 sd of the
    difference; the W2 sd is taken from the spread of W2 between exact posterior sets of the
    same n (metric_floor), times sqrt(2) for two independent estimates."""
    problem = load_problem(DEFAULT_PROBLEM)
    post = problem.posterior()
    T, n, zeta, etas = 200, 400, 0.01, [0.0, 0.5, 1.0]
    ref = run(
        problem,
        etas=etas,
        n=n,
        steps=T,
        guidance="dps",
        zeta=zeta,
        dps_form="likelihood",
        seed=11,
        floor_repeats=2,
        shrink_factors=[1.0],
        trajectories=False,
    )
    sched = linear_schedule(T)
    stub = MixturePrior(problem.prior, sched)
    rng = np.random.default_rng(12)
    x = post.sample(n, rng)
    y = np.tile(problem.y, (n, 1))
    rx = post.sample(n, rng)
    xs = sweep_ours(
        stub,
        y,
        problem.sigma_y,
        etas,
        zeta,
        sched,
        generator=torch.Generator().manual_seed(13),
        dtype=torch.float64,
    )
    _, w2_sd = metric_floor(w2_empirical, post.sample, n, rng, repeats=6, return_sd=True)
    for r, xh in zip(ref["runs"], xs, strict=True):
        p = dp_point(xh, x, y, rx, y)
        assert abs(p["mse"] - r["mse"]) < 4 * math.hypot(p["mse_se"], r["mse_sd"]), (r["eta"], p, r)
        assert abs(p["w2_marginal"] - r["w2"]) < 4 * math.sqrt(2) * w2_sd, (r["eta"], p, r)
        assert p["w2_joint"] == pytest.approx(p["w2_marginal"], abs=1e-9)  # same y everywhere
    mses = [r["mse"] for r in ref["runs"]]
    assert mses[0] < mses[2]  # the eta sweep does something at these settings


def test_oracle_posterior_matches_the_exact_gmm_posterior():
    """Importance weights over M = 50000 prior draws give E[x|y] and tr Cov[x|y] of the exact
    mixture posterior within 4 MC sd (sd from the effective sample size), and draws whose
    mean matches within 4 sd over 500 draws."""
    problem = load_problem(DEFAULT_PROBLEM)
    gm = problem.prior
    rng = np.random.default_rng(5)
    prior_x = gm.sample(50_000, rng)
    ys = np.array([[0.0, 0.0], [1.0, 1.2], [-0.5, -1.5]])
    mean, _, trc, ess = oracle_posterior(prior_x, ys, 0.5, rng)
    for y, m, t, e in zip(ys, mean, trc, ess, strict=True):
        post = gm.posterior(np.eye(2), 0.5, y)
        sd = math.sqrt(post.mmse() / e)
        assert np.linalg.norm(m - post.mean()) < 4 * sd
        assert abs(t - post.mmse()) < 4 * post.mmse() * math.sqrt(2 / e) + 4 * sd**2
    y0 = np.zeros((500, 2))
    _, draws, _, _ = oracle_posterior(prior_x, y0, 0.5, rng)
    post = gm.posterior(np.eye(2), 0.5, [0.0, 0.0])
    assert np.linalg.norm(draws.mean(0) - post.mean()) < 4 * math.sqrt(post.mmse() / 500)


def test_oracle_posterior_tiny_sigma_keeps_the_nearest_point():
    """σ_y = 1e-154 (its square still a positive float64) and y = 4 between prior points 0 and
    10: every d²/σ_y² overflows to inf, which made the weights 0/0 = NaN. As σ_y -> 0 the
    posterior of an empirical prior is the point nearest to y, with all the weight."""
    prior_x = np.array([[0.0, 0.0], [10.0, 0.0]])
    mean, draw, trc, ess = oracle_posterior(
        prior_x, np.array([[4.0, 0.0]]), 1e-154, np.random.default_rng(0)
    )
    assert mean.tolist() == [[0.0, 0.0]] and draw.tolist() == [[0.0, 0.0]]
    assert trc.tolist() == [0.0] and ess.tolist() == [1.0]


# --------------------------------------------------------------------------- CLI, storage
def _tiny_config(tmp_path):
    cfg = json.loads(CONFIG_PATH.read_text())
    cfg["sigma_y_other"] = [0.25]
    cfg["quick"] = {
        "sampling_steps": 10,
        "zeta_grid": [0.002, 0.003],
        "zeta_ablation_factors": [2.0],
        "pscgan": {"steps": 3, "batch": 32, "n_critic": 1, "n_avg": [1, 4], "sigma_z": [0.0, 1.0]},
        "score_training": {"steps": 20, "batch": 64, "warmup": 5},
        "sizes": {
            "n_train": 500,
            "n_test": 40,
            "n_val": 20,
            "n_quality": 40,
            "floor_repeats": 2,
            "n_oracle": 500,
        },
    }
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(cfg))
    return p


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    return _tiny_config(tmp_path_factory.mktemp("config"))


def _tiny_argv(cfg, *extra):
    return ["--dataset", "pinwheel", "--quick", "--config", str(cfg), "--no-progress", *extra]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_config):
    """One uninterrupted tiny run (pinwheel, seed 0, no figures): its output folder."""
    out = tmp_path_factory.mktemp("reference")
    assert main(_tiny_argv(tiny_config, "--no-figures", "--out", str(out))) == 0
    return out


_RESULTS = ("toy2d.json", "pinwheel/result.json")


def _same_results(a: Path, b: Path) -> None:
    for name in _RESULTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_interrupted_run_resumes_to_the_same_json(tmp_path, capsys, tiny_config, reference_run):
    cfg = tiny_config
    base = ["--dataset", "pinwheel", "--quick", "--config", str(cfg), "--no-progress"]
    a, b = reference_run, tmp_path / "b"
    assert (a / "toy2d_timing.json").exists()

    calls = []

    def interrupt(name):
        calls.append(name)
        if len(calls) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        main([*base, "--out", str(b), "--no-figures"], on_unit_saved=interrupt)
    assert not (b / "toy2d.json").exists()
    capsys.readouterr()
    assert main([*base, "--out", str(b), "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert out.count(": loaded") >= 4, out  # both networks and the finished units were reused
    ja = json.loads((a / "toy2d.json").read_text())
    jb = json.loads((b / "toy2d.json").read_text())
    assert ja == jb
    _same_results(a, b)
    pts = ja["datasets"]["pinwheel"]["results"]["0.5"]["ours"]["points"]
    assert [p["eta"] for p in pts] == [round(0.1 * i, 1) for i in range(11)]
    assert set(pts[0]) >= {"mse", "mse_se", "w2_joint", "w2_marginal", "kl_joint", "kl_marginal"}
    assert "_timing" not in json.dumps(ja)


@pytest.mark.slow
def test_figures_are_written(tmp_path):
    """The figures of a tiny run (slow: matplotlib layout takes 10-50 s on a loaded 2-core box)."""
    cfg = _tiny_config(tmp_path)
    assert (
        main(
            [
                "--dataset",
                "pinwheel",
                "--quick",
                "--config",
                str(cfg),
                "--no-progress",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    for f in (
        "pinwheel_dp.png",
        "pinwheel_zeta_ablation.png",
        "pinwheel_reconstructions_s0.5.png",
        "pinwheel_reconstructions_s0.25.png",
    ):
        assert (tmp_path / f).stat().st_size > 10_000, f


def test_changed_settings_are_recomputed_not_reused(tmp_path, capsys):
    cfg = _tiny_config(tmp_path)
    base = [
        "--dataset",
        "moons",
        "--quick",
        "--config",
        str(cfg),
        "--no-progress",
        "--no-figures",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--seed", "1"]) == 0
    assert ": loaded" not in capsys.readouterr().out


def test_validate_only_reports_the_selected_zeta(tmp_path, capsys):
    cfg = _tiny_config(tmp_path)
    argv = ["--dataset", "scurve", "--quick", "--config", str(cfg), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--validate-only"]) == 0
    out = capsys.readouterr().out
    assert "selected zeta = 0.00" in out and "W2 joint" in out
    assert not (tmp_path / "o" / "toy2d.json").exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--dataset", "spiral"],
        ["--dataset", "moons", "--seed", "-1"],
        ["--dataset", "moons", "--seed", "x"],
        ["--dataset", "moons", "--threads", "0"],
        ["--dataset", "moons", "--config", "/nonexistent/toy2d.json"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert err.count("\n") == 1 and err.startswith("python -m diffusion.toy2d: error: "), err


def test_out_that_is_a_file_and_bad_config_fields_exit_2(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--dataset", "moons", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err
    cfg = json.loads(CONFIG_PATH.read_text())
    cfg["zeta"]["moons"] = -1
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    assert main(["--dataset", "moons", "--config", str(p)]) == 2
    assert "zeta.moons" in capsys.readouterr().err


def test_shipped_config_is_valid():
    full, quick = load_config(), load_config(quick=True)
    assert full["sampling_steps"] == 1000 and full["schedule"]["T"] == 1000
    assert quick["sizes"]["n_test"] < full["sizes"]["n_test"]
    assert set(full["zeta"]) == set(DATASETS)


# --------------------------------------------------------------------------- reliability
def test_same_seed_gives_bit_identical_results(tmp_path, tiny_config, reference_run):
    """A second run with the same seed and settings writes byte-identical results JSON."""
    assert main(_tiny_argv(tiny_config, "--no-figures", "--out", str(tmp_path))) == 0
    _same_results(reference_run, tmp_path)


def _env():
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""))


def _assert_nothing_damaged(out: Path) -> None:
    """Every JSON under ``out`` parses, every npz and checkpoint loads (hidden temporary files
    of an interrupted atomic write are not results and are left out)."""
    for p in out.rglob("*"):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as f:
                [f[k] for k in f.files]
        elif p.suffix == ".pt":
            torch.load(p, weights_only=True)


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_the_same_results(tmp_path, tiny_config, reference_run):
    """A real process killed with SIGKILL while training (right after the score network's
    checkpoint appears) leaves no damaged file; the rerun resumes from what is on disk and
    writes byte-identical results. (Slow: 5-10 s, most of it importing torch and POT in the
    subprocess; test_interrupted_run_resumes_to_the_same_json covers resuming in the default
    run.)"""
    out = tmp_path / "killed"
    argv = _tiny_argv(tiny_config, "--no-figures", "--out", str(out))
    proc = subprocess.Popen(
        [sys.executable, "-m", "diffusion.toy2d", *argv],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    marker = out / "pinwheel" / "weights" / "score_net.pt"
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert marker.exists() and not (out / "toy2d.json").exists()
    _assert_nothing_damaged(out)
    assert main(argv) == 0
    _same_results(reference_run, out)


def test_damaged_units_are_recomputed_to_the_same_results(tmp_path, tiny_config, reference_run):
    """A truncated unit record or array file is not trusted: it is computed again."""
    out = tmp_path / "damaged"
    shutil.copytree(reference_run, out)
    units = out / "pinwheel" / "units"
    (units / "quality.json").write_text('{"key": ')
    npz = units / "ours_s0.5.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    (out / "toy2d_timing.json").write_bytes(b"\xff\x00")
    assert main(_tiny_argv(tiny_config, "--no-figures", "--out", str(out))) == 0
    _same_results(reference_run, out)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("damage", ["truncated", "code"])
def test_unsafe_or_damaged_checkpoint_is_refused_with_one_line(
    tmp_path, tiny_config, reference_run, capsys, damage
):
    """A cached checkpoint that is damaged, or is a pickle that would run code, is refused
    (torch's safe unpickler), nothing is executed, the file is kept; one line, exit 2."""
    out = tmp_path / "o"
    shutil.copytree(reference_run, out)
    ckpt = out / "pinwheel" / "weights" / "score_net.pt"
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:200])
    else:
        ckpt.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    before = ckpt.read_bytes()
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert main(_tiny_argv(tiny_config, "--no-figures", "--out", str(out))) == 2
    finally:
        os.chdir(old)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "score_net.pt" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "pwned").exists()
    assert ckpt.read_bytes() == before


def test_figures_are_written_atomically(tmp_path, tiny_config, monkeypatch):
    """A figure write interrupted half-way leaves the previous file as it was and no partial
    or temporary file; the figure is closed."""
    import matplotlib.figure
    import matplotlib.pyplot as plt

    cfg = load_config(tiny_config, quick=True)
    res = run_dataset("pinwheel", cfg, tmp_path / "run", progress=False, log=lambda *a: None)
    out = tmp_path / "figs"
    out.mkdir()
    old = out / "pinwheel_reconstructions_s0.5.png"
    old.write_bytes(b"the previous figure")

    def half_written(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    n_open = len(plt.get_fignums())
    with pytest.raises(KeyboardInterrupt):
        write_figures(res, out)
    assert [p.name for p in out.iterdir()] == [old.name]
    assert old.read_bytes() == b"the previous figure"
    assert len(plt.get_fignums()) == n_open


def test_bad_out_is_one_line_exit_2_in_process(tmp_path, capsys, monkeypatch):
    """--out a file, under a file, or not writable (simulated: the tests may run as root,
    for whom a read-only folder is writable): one line naming --out, exit 2, nothing made."""
    f = tmp_path / "file"
    f.write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "pinwheel").write_text("x")
    cases = [f, f / "sub", tmp_path / "o", ro]
    for out in cases:
        if out == ro:
            import tempfile

            def denied(*a, **kw):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", denied)
        assert main(["--dataset", "pinwheel", "--out", str(out)]) == 2, out
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "o", "ro"]
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00binary", b'{"schedule": ', b"[1, 2]", b'{"quick": 3}', "dir"],
    ids=["binary", "truncated", "not-an-object", "bad-quick", "a-folder"],
)
def test_corrupt_or_unreadable_config_is_one_line_exit_2(tmp_path, capsys, content):
    p = tmp_path / "cfg.json"
    if content == "dir":
        p.mkdir()
    else:
        p.write_bytes(content)
    out = tmp_path / "out"
    assert main(["--dataset", "moons", "--quick", "--config", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config" in err and "Traceback" not in err, err
    assert not out.exists()


def _command(*argv) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "diffusion.toy2d", *argv],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_error_line(proc: subprocess.Popen, needle: str) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, (needle, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], (needle, err)
    assert lines[0].startswith("python -m diffusion.toy2d: error: ") and out == ""


def test_cli_out_under_a_file_in_a_real_process(tmp_path):
    """The command itself: --out under a file is exit status 2 and one line naming --out."""
    f = tmp_path / "file"
    f.write_text("x")
    _one_error_line(_command("--dataset", "moons", "--out", str(f / "sub")), "--out")


@pytest.mark.slow
def test_cli_bad_inputs_in_a_real_process(tmp_path):
    """The command itself (subprocesses, run together): --out a file, under a file, or
    read-only, and a binary --config end with exit status 2 and one line on stderr that names
    the option, no traceback. (Read-only is skipped as root, who may write anyway. Slow:
    each process imports torch and POT, 3-10 s.)"""
    f = tmp_path / "file"
    f.write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    cases = {"--out": ["--out", str(f)], "--out ": ["--out", str(f / "sub")]}
    if os.geteuid() != 0:
        cases["--out  "] = ["--out", str(ro / "sub")]
    cases["--config"] = ["--config", str(binary), "--out", str(tmp_path / "o")]
    procs = {name: _command("--dataset", "moons", *extra) for name, extra in cases.items()}
    try:
        for name, proc in procs.items():
            _one_error_line(proc, name.strip())
    finally:
        ro.chmod(0o755)
    assert not (tmp_path / "o").exists() and list(ro.iterdir()) == []
