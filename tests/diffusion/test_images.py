"""Patch data (split by source image), the mixture patch prior and its fit/load round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion.data.patches import (
    EXCLUDED_IMAGES,
    FIT_IMAGES,
    TEST_IMAGES,
    extract_patches,
    load_image,
    patch_dataset,
)
from diffusion.priors.fit_gmm import fit_patch_gmm, main, samples_figure, save_gmm
from diffusion.priors.gmm_image import DEFAULT_WEIGHTS, GMMImagePrior, load_gmm
from numerics.gmm import GaussianMixture
from numerics.schedule import linear_schedule
from tests.strategies import random_spd

# --------------------------------------------------------------------------- data


def test_split_is_by_source_image_and_disjoint():
    assert not set(FIT_IMAGES) & set(TEST_IMAGES)
    assert not (set(FIT_IMAGES) | set(TEST_IMAGES)) & set(EXCLUDED_IMAGES)
    import skimage.data

    # "cat" is excluded because it is the chelsea photograph itself: a test on it would
    # leak a fit image into the test split.
    assert np.array_equal(skimage.data.cat(), skimage.data.chelsea())
    # No test image equals a fit image (compare grayscale arrays of equal shape).
    for t in TEST_IMAGES:
        for f in FIT_IMAGES:
            a, b = load_image(t), load_image(f)
            assert a.shape != b.shape or not np.allclose(a, b)


@pytest.mark.parametrize("name", ["camera", "coffee"])
def test_load_image_is_grayscale_in_range(name):
    import skimage.color
    import skimage.data

    x = load_image(name)
    assert x.ndim == 2 and x.min() >= -1.0 and x.max() <= 1.0
    raw = getattr(skimage.data, name)()
    u = skimage.color.rgb2gray(raw) if raw.ndim == 3 else raw / 255.0
    np.testing.assert_allclose(x, 2.0 * u - 1.0, atol=1e-12)


def test_extract_patches_are_windows_of_the_image(rng):
    img = rng.normal(size=(30, 40))
    p = extract_patches(img, 20, size=5, rng=np.random.default_rng(3))
    windows = np.lib.stride_tricks.sliding_window_view(img, (5, 5)).reshape(-1, 25)
    for q in p.reshape(20, 25):
        assert np.any(np.all(windows == q, axis=1))


def test_extract_patches_rejects_flat_patches():
    img = np.zeros((40, 40))
    img[:, 20:] = np.linspace(-1, 1, 20)[None, :] * np.ones((40, 1))
    p = extract_patches(img, 50, size=8, rng=np.random.default_rng(0), min_std=0.05)
    assert np.all(p.reshape(50, -1).std(axis=1) >= 0.05)
    with pytest.raises(ValueError, match="found only"):
        extract_patches(np.zeros((10, 10)), 3, size=4, rng=np.random.default_rng(0), min_std=0.1)


def test_patch_dataset_seeded_balanced_and_independent_of_other_images():
    a, src = patch_dataset("test", 10, seed=5, return_sources=True)
    b = patch_dataset("test", 10, seed=5)
    c = patch_dataset("test", 10, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    counts = {n: int(np.sum(src == n)) for n in TEST_IMAGES}
    assert sorted(counts.values()) == [2, 2, 3, 3]  # 10 = 4 * 2 + 2
    # coffee's patches do not depend on which other images are drawn.
    only, only_src = patch_dataset(
        "test", 4, seed=5, images=("camera", "coffee"), return_sources=True
    )
    full, full_src = patch_dataset("test", 8, seed=5, return_sources=True)
    np.testing.assert_array_equal(
        np.sort(only[only_src == "coffee"].reshape(2, -1), axis=0),
        np.sort(full[full_src == "coffee"].reshape(2, -1), axis=0),
    )
    with pytest.raises(ValueError, match="split"):
        patch_dataset("train", 3)
    with pytest.raises(ValueError, match="images"):
        patch_dataset("test", 3, images=("astronaut",))


# --------------------------------------------------------------------------- prior


def _random_gmm(rng, K=3, s=3):
    d = s * s
    covs = np.stack([random_spd(rng, d, cond=1e3, scale=0.5) for _ in range(K)])
    w = rng.dirichlet(np.ones(K))
    return GaussianMixture(w, 0.5 * rng.normal(size=(K, d)), covs)


@pytest.mark.parametrize("t", [1, 7, 300, 1000])
def test_denoiser_equals_numerics_tweedie_float64(rng, t):
    sched = linear_schedule(1000)
    gm = _random_gmm(rng)
    prior = GMMImagePrior(gm, sched)
    x = rng.normal(size=(6, 9))
    ref = gm.tweedie_mean(x, t, sched)
    xt = torch.from_numpy(x).reshape(6, 1, 3, 3)
    got = prior(xt, torch.full((6,), t)).reshape(6, 9).numpy()  # one t: fast path
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        prior.score(xt, t).reshape(6, 9).numpy(), gm.score(x, t, sched), rtol=1e-9, atol=1e-9
    )


def test_denoiser_mixed_times_and_hessian_match_numerics(rng):
    sched = linear_schedule(1000)
    gm = _random_gmm(rng)
    prior = GMMImagePrior(gm, sched)
    x = rng.normal(size=(4, 9))
    ts = [1, 10, 500, 1000]
    got = prior(torch.from_numpy(x).reshape(4, 1, 3, 3), torch.tensor(ts)).reshape(4, 9)
    for b, t in enumerate(ts):
        np.testing.assert_allclose(
            got[b].numpy(), gm.tweedie_mean(x[b : b + 1], t, sched)[0], rtol=1e-10, atol=1e-12
        )
    H = prior.hessian(torch.from_numpy(x).reshape(4, 1, 3, 3), 50).numpy()
    np.testing.assert_allclose(H, gm.hessian(x, 50, sched), rtol=1e-9, atol=1e-9)


def test_denoiser_jacobian_is_the_posterior_covariance(rng):
    r"""Independent route: d E[x0|xt]/d xt = sqrt(ab_t)/(1 - ab_t) Cov[x0|xt] (autograd vs numerics)."""
    sched = linear_schedule(1000)
    gm = _random_gmm(rng)
    prior = GMMImagePrior(gm, sched)
    t = 200
    x = rng.normal(size=(1, 9))
    xt = torch.from_numpy(x).reshape(1, 1, 3, 3)
    J = torch.autograd.functional.jacobian(
        lambda v: prior(v.reshape(1, 1, 3, 3), torch.tensor([t])).reshape(9), xt.reshape(9)
    ).numpy()
    ab, omab = sched.alpha_bar[t], sched.one_minus_alpha_bar[t]
    ref = np.sqrt(ab) / omab * gm.tweedie_cov(x, t, sched)[0]
    np.testing.assert_allclose(J, ref, rtol=1e-8, atol=1e-10)


def _scipy_logpdf(gm, x, t, sched):
    """Independent route: log sum_k w_k N(x; sqrt(ab) mu_k, ab S_k + (1 - ab) I), each
    component density by scipy.stats.multivariate_normal (Cholesky), summed by log-sum-exp."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    ab, omab = sched.alpha_bar[t], sched.one_minus_alpha_bar[t]
    comps = [
        np.log(w) + multivariate_normal(np.sqrt(ab) * mu, ab * S + omab * np.eye(gm.d)).logpdf(x)
        for w, mu, S in zip(gm.weights, gm.means, gm.covs, strict=True)
    ]
    return logsumexp(np.stack(comps, axis=-1), axis=-1)


@pytest.mark.parametrize("t", [0, 1, 30, 500, 1000])
def test_logpdf_equals_scipy_mixture_density_float64(rng, t):
    """GMMImagePrior.logpdf (it raised TypeError before the mixture terms had one home): one
    shared t (the shared-t route) and mixed times (the per-sample route), float64."""
    sched = linear_schedule(1000)
    gm = _random_gmm(rng)
    prior = GMMImagePrior(gm, sched)
    x = rng.normal(size=(5, 9))
    xt = torch.from_numpy(x).reshape(5, 1, 3, 3)
    got = prior.logpdf(xt, torch.full((5,), t))
    assert got.shape == (5,) and got.dtype == torch.float64
    ref = _scipy_logpdf(gm, x, t, sched)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-10)
    ts = [t, 1, 7, 300, 1000]
    mixed = prior.logpdf(xt, torch.tensor(ts)).numpy()
    ref_mixed = [_scipy_logpdf(gm, x[b], tb, sched) for b, tb in enumerate(ts)]
    np.testing.assert_allclose(mixed, ref_mixed, rtol=1e-10, atol=1e-10)


def test_prior_shape_checks(rng):
    gm = GaussianMixture([1.0], np.zeros((1, 6)), np.eye(6)[None])
    with pytest.raises(ValueError, match="square patch"):
        GMMImagePrior(gm, linear_schedule(1000))


# --------------------------------------------------------------------------- fit and file


def test_save_load_round_trip_float32(tmp_path, rng):
    gm = _random_gmm(rng, K=2, s=2)
    path = save_gmm(
        tmp_path / "m.npz", gm.weights, gm.means, gm.covs, command="cmd x", meta={"a": 1}
    )
    got, meta = load_gmm(path)
    assert meta == {"a": 1, "command": "cmd x"}
    np.testing.assert_allclose(got.covs, gm.covs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.weights.sum(), 1.0, rtol=0, atol=1e-15)
    with np.load(path, allow_pickle=False) as f:
        assert f["covs"].dtype == np.float32
    with pytest.raises(ValueError, match="refit"):
        load_gmm(tmp_path / "missing.npz")


def test_chunked_em_equals_one_run():
    X = patch_dataset("fit", 300, size=4, seed=1)
    a = fit_patch_gmm(X, 2, max_iter=4, checkpoint_every=1)
    b = fit_patch_gmm(X, 2, max_iter=4, checkpoint_every=4)
    assert a[3]["n_iter"] == b[3]["n_iter"] == 4
    for u, v in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(u, v)
    # The floor: every covariance eigenvalue is at least reg_covar (minus rounding).
    assert np.linalg.eigvalsh(a[2]).min() >= 1e-4 * (1 - 1e-9)


def test_tol_zero_runs_max_iter_iterations():
    """tol = 0 is a valid setting (the command's --tol accepts it): EM never stops early."""
    X = patch_dataset("fit", 300, size=4, seed=1)
    info = fit_patch_gmm(X, 2, max_iter=3, tol=0.0)[3]
    assert info["n_iter"] == 3


def test_samples_figure_with_a_single_row(tmp_path, rng):
    """n <= 8 images (one grid row) used to fail: plt.subplots returned a 1-d axes array."""
    gm = _random_gmm(rng, K=2, s=2)
    path = save_gmm(tmp_path / "m.npz", gm.weights, gm.means, gm.covs, command="c", meta={})
    out = samples_figure(path, tmp_path / "f.png", n=8)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shipped_weights_file():
    if not DEFAULT_WEIGHTS.exists():
        pytest.skip("shipped mixture not present (refit: python -m diffusion.fit_gmm_prior)")
    assert DEFAULT_WEIGHTS.stat().st_size <= 10 * 1024**2
    with np.load(DEFAULT_WEIGHTS, allow_pickle=False) as f:
        assert f["covs"].dtype == np.float32 and f["covs"].shape == (32, 256, 256)
        meta = json.loads(str(f["meta"]))
        assert str(f["command"]).startswith("python -m diffusion.fit_gmm_prior")
        covs = f["covs"][:4].astype(np.float64)
    assert meta["fit_images"] == list(FIT_IMAGES)
    assert np.linalg.eigvalsh(covs).min() > 0.9e-4  # the floor survives float32 storage


def test_gmm_image_prior_public_name_in_diffusion_priors():
    """The issue's contract name ``diffusion.priors.GMMImagePrior`` is the same class."""
    import diffusion.priors.analytic

    assert diffusion.priors.GMMImagePrior is GMMImagePrior
    with pytest.raises(AttributeError):
        diffusion.priors.NoSuchPrior  # noqa: B018


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--components", "0"], "--components"),
        (["--components", "-1"], "--components"),
        (["--reg-covar", "-1"], "--reg-covar"),
        (["--tol", "nan"], "--tol"),
        (["--n-patches", "0"], "--n-patches"),
        (["--n-patches", "1"], "--n-patches"),
        (["--n-patches", "5", "--components", "8"], "--n-patches"),
        (["--max-iter", "0"], "--max-iter"),
        (["--out", "{tmp}/model.txt"], "--out"),
        (["--out", "{tmp}"], "--out"),
        (["--out", "{tmp}/afile/model.npz"], "--out"),
        (["--figure", "{tmp}/f.png", "--out", "{tmp}/missing.npz"], "--out"),
    ],
)
def test_fit_command_bad_options_one_line_exit_2(argv, option, tmp_path, capsys):
    """These used to end in raw scikit-learn errors or tracebacks (issue #18); nothing is
    written."""
    (tmp_path / "afile").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("python -m diffusion.fit_gmm_prior: error: argument " + option)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_fit_command_read_only_out(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["--out", str(ro / "m.npz")]) == 2
    finally:
        ro.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --out: cannot write" in err[0]


def test_fit_command_subprocess_no_traceback(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "diffusion.fit_gmm_prior", "--tol", "nan"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "python -m diffusion.fit_gmm_prior: error: argument --tol: expected a finite number, "
        "got 'nan'"
    ]


def test_fit_command_writes_a_loadable_mixture(tmp_path, capsys):
    out = tmp_path / "sub" / "m.npz"
    argv = ["--n-patches", "200", "--components", "2", "--patch-size", "4", "--max-iter", "3"]
    assert main([*argv, "--checkpoint-every", "2", "--quiet", "--out", str(out)]) == 0
    gm, meta = load_gmm(out)
    assert gm.K == 2 and gm.d == 16 and meta["n_iter"] <= 3
    assert meta["command"].startswith("python -m diffusion.fit_gmm_prior --n-patches 200")
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.npz"]  # no temporary left
    assert "wrote" in capsys.readouterr().out


def test_save_gmm_is_atomic(tmp_path, rng, monkeypatch):
    """A write that fails half-way leaves the previous file intact and no temporary file."""
    gm = _random_gmm(rng, K=2, s=2)
    path = save_gmm(tmp_path / "m.npz", gm.weights, gm.means, gm.covs, command="a", meta={})
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # a kill during the write

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(KeyboardInterrupt):
        save_gmm(path, gm.weights, gm.means, gm.covs, command="b", meta={})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_load_gmm_refuses_broken_files(tmp_path, rng):
    gm = _random_gmm(rng, K=2, s=2)
    good = save_gmm(tmp_path / "m.npz", gm.weights, gm.means, gm.covs, command="c", meta={})
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    pickled = tmp_path / "p.npz"
    np.savez(pickled, weights=np.array([object()]), means=gm.means, covs=gm.covs)
    missing = tmp_path / "k.npz"
    np.savez(missing, weights=gm.weights)
    for bad in (truncated, pickled, missing):
        with pytest.raises(ValueError, match="path: .* is not a readable mixture"):
            load_gmm(bad)
