"""``python -m diffusion.restore`` with learned priors, the digits data and the baselines (#9).

Tiny runs (a few steps): they check the plumbing, resume and the argument errors; the
numbers of the docs come from the documented commands, not from here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diffusion.experiments.restore import PSCGAN_POINTS, clean_images, main


def _run(out, *extra):
    return main(["--out", str(out), "--no-progress", "--threads", "1", *extra])


TINY = ["--n-images", "2", "--samples-per-image", "2", "--eta", "0,1", "--steps", "4"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    rc = _run(out, "--task", "deblur", "--prior", "digits16", "--guidance", "dps", "--zeta", "0.3",
              *TINY, "--baselines", "diffpir,pscgan", "--diffpir-zeta", "0,1", "--diffpir-steps", "3")  # fmt: skip
    assert rc == 0
    return out


def test_digits_run_writes_every_curve_and_baseline(digits_run):
    res = json.loads((digits_run / "results.json").read_text())
    assert res["status"] == "complete"
    pe = res["curves"]["dps"]["per_eta"]
    assert [r["eta"] for r in pe] == [0.0, 1.0]
    for r in pe:
        assert 0.0 <= r["accuracy"] <= 1.0 and np.isfinite(r["kid"]) and r["mse"] > 0
    assert [r["zeta"] for r in res["baselines"]["diffpir"]] == [0.0, 1.0]
    assert len(res["baselines"]["pscgan"]) == len(PSCGAN_POINTS)
    # the labels behind the accuracy are the digits' own labels
    _, labels = clean_images("digits", "test", 2, size=16, seed=0)
    assert [im["source"] for im in res["images"]] == labels.tolist()
    for f in ("grid_dps.png", "dp_curve.png", "timing.json"):
        assert (digits_run / f).exists()


def test_resume_recomputes_only_what_is_missing_and_matches(digits_run):
    before = json.loads((digits_run / "results.json").read_text())
    (digits_run / "results.json").unlink()
    (digits_run / "baselines" / "pscgan_n4_sz1.npy").unlink()
    (digits_run / "records" / "00001.json").unlink()
    rc = _run(digits_run, "--task", "deblur", "--prior", "digits16", "--guidance", "dps", "--zeta", "0.3",
              *TINY, "--baselines", "diffpir,pscgan", "--diffpir-zeta", "0,1", "--diffpir-steps", "3", "--resume")  # fmt: skip
    assert rc == 0
    after = json.loads((digits_run / "results.json").read_text())
    assert after["curves"] == before["curves"]
    assert after["baselines"] == before["baselines"]


def test_digits_split_roles_are_disjoint_and_seeded():
    test, _ = clean_images("digits", "test", 50, size=16, seed=0)
    fit, _ = clean_images("digits", "fit", 50, size=16, seed=0)
    pool, _ = clean_images("digits", "pool", 5000, size=16, seed=0)  # capped at the split
    assert pool.shape[0] == 1258
    keys = lambda a: {x.tobytes() for x in a}  # noqa: E731
    assert not keys(test) & keys(fit) and not keys(test) & keys(pool)
    np.testing.assert_array_equal(test[:10], clean_images("digits", "test", 10, size=16, seed=0)[0])


def test_exact_gmm_prior_of_the_digits_runs_with_exact_guidance(tmp_path):
    rc = _run(tmp_path / "g", "--task", "sr2", "--prior", "gmm-digits16", "--guidance", "exact",
              *TINY, "--ref-samples", "16")  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "g" / "results.json").read_text())
    assert res["posterior"]["mmse"] > 0 and "accuracy_exact_posterior" in res["dataset_reference"]


def _save_unet(path, *, in_channels=1, size=8):
    from diffusion.priors.unet import build_unet

    torch.manual_seed(0)
    build_unet(size, (8, 16), in_channels=in_channels).save_pretrained(path)
    return path


def test_prior_path_loads_a_users_unet_folder(tmp_path):
    folder = _save_unet(tmp_path / "my_unet")
    rc = _run(tmp_path / "r", "--task", "sr2", "--prior", str(folder), "--guidance", "dps",
              "--zeta", "0.1", *TINY, "--pool-size", "50")  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert res["config"]["patch_size"] == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prior", "CHANNELS3"], "1 channel"),
        (["--prior", "/no/such/folder"], "unknown prior"),
        (["--prior", "gmm", "--baselines", "pscgan"], "digits16 deblurring only"),
        (["--prior", "digits16", "--baselines", "gan"], "unknown 'gan'"),
        (["--prior", "digits16", "--diffpir-zeta", "1.5", "--baselines", "diffpir"], "--diffpir-zeta"),
        (["--prior", "digits16", "--guidance", "exact"], "no exact posterior"),
        (["--prior", "digits16", "--n-images", "400"], "hold 360"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    if "CHANNELS3" in argv:
        argv = ["--prior", str(_save_unet(tmp_path / "rgb", in_channels=3))]
    rc = _run(tmp_path / "x", "--task", "deblur", "--guidance", "dps", "--steps", "2", *argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err


def test_digit_metrics_pair_each_restoration_with_its_own_label():
    """Clean test digits as 'restorations' score the classifier's own test accuracy (99.7 %
    over all 360; >= 0.95 on these 100 allows 5 misses) -- a label mix-up gives ~0.1."""
    from diffusion.experiments.restore.metrics import digit_metrics

    x, labels = clean_images("digits", "test", 100, size=16, seed=0)
    pool, _ = clean_images("digits", "pool", 300, size=16, seed=0)
    m = digit_metrics("digits", x.reshape(100, -1), labels, pool.reshape(300, -1), "")
    assert m["accuracy"] >= 0.95 and "cfd" in m and np.isfinite(m["kid"])
    assert digit_metrics("patches", x.reshape(100, -1), labels, pool.reshape(300, -1), "") == {}


def test_zeta_ours_is_what_the_committed_tuning_runs_chose():
    """--zeta ours for the networks = per η, the ζ of least validation MSE in the tuning runs.

    The tuning runs' zeta_table.json copies are in docs/figures/learned/runs (several files for
    one task are one grid searched in steps, merged here).
    """
    import json
    from pathlib import Path

    from diffusion.experiments.restore import ZETA_OURS

    runs = Path(__file__).resolve().parents[2] / "docs" / "figures" / "learned" / "runs"
    checked = 0
    for (prior, task, form), table in ZETA_OURS.items():
        files = sorted(runs.glob(f"tune_{prior}_{task}*.json"))
        if prior == "gmm":
            continue  # tuned on the exact-prior page (docs/images.md), against the exact score
        assert files, (prior, task)
        excess: dict[float, dict[float, float]] = {}
        for f in files:
            tune = json.loads(f.read_text())
            assert tune["config"]["dps_form"] == form and tune["config"]["split"] == "fit"
            for zeta, v in tune["grid"].items():
                for x in v["per_eta"]:
                    excess.setdefault(x["eta"], {})[float(zeta)] = x["excess"]
        chosen = {eta: min(z, key=z.get) for eta, z in excess.items()}
        assert chosen == table, (prior, task)
        checked += 1
    assert checked >= 5
