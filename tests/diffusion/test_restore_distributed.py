"""``torchrun`` sweeps of ``python -m diffusion.restore``: 1 and 2 processes (gloo, CPU) give
the same ``results.json`` byte for byte, and a run killed mid-way resumes under another number
of processes to the same bytes.

Each test launches real processes (``python -m torch.distributed.run --standalone``), so the
sharding, the collectives and the merge on rank 0 are the ones a user gets. The reference is
a plain single-process run (:func:`main` in this process) with one thread for torch
(``--threads 1``) and for numpy's BLAS (:func:`threadpoolctl.threadpool_limits`): what
torchrun gives each rank (``OMP_NUM_THREADS=1``). The thread count matters: the Fréchet
distance of ``results.json`` (float64 BLAS) moves in its 9th digit between 1 and 2 BLAS
threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from diffusion.experiments.distributed import Dist, from_env, shard
from diffusion.experiments.restore import main
from diffusion.experiments.restore.run import STOP_AFTER_ENV

ROOT = Path(__file__).resolve().parents[2]
N_IMAGES = 4  # four units of one image: two per rank




def _args(prior, out, *extra):
    return [
        "--task", "sr2", "--prior", "gmm", "--weights", prior, "--out", str(out),
        "--n-images", str(N_IMAGES), "--image-batch", "1", "--samples-per-image", "2",
        "--steps", "20", "--eta", "0,1", "--ref-samples", "16", "--pool-size", "32",
        "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def _torchrun(n: int, args, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={n}", "-m", "diffusion.restore", *args]  # fmt: skip
    return subprocess.run(
        cmd, env=_env(**env), cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _records(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "records").glob("*.json"))


@pytest.fixture(scope="module")
def reference(tiny_prior, tmp_path_factory):
    """results.json (bytes) of the uninterrupted single-process run."""
    out = tmp_path_factory.mktemp("one") / "run"
    with threadpool_limits(limits=1):
        assert main(_args(tiny_prior, out)) == 0
    return out


def test_two_processes_give_the_bytes_of_one(tiny_prior, reference, tmp_path):
    out = tmp_path / "two"
    proc = _torchrun(2, _args(tiny_prior, out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.json").read_bytes() == (reference / "results.json").read_bytes()
    for name in _records(reference):  # per image: the records and the samples themselves
        assert (out / "records" / name).read_bytes() == (reference / "records" / name).read_bytes()
        npy = Path("samples") / name.replace(".json", ".npy")
        assert (out / npy).read_bytes() == (reference / npy).read_bytes()
    timing = json.loads((out / "timing.json").read_text())
    assert timing["world_size"] == 2
    assert sorted(u["rank"] for u in timing["units"]) == [0, 0, 1, 1]  # both ranks ran


def test_killed_under_two_resumes_under_one(tiny_prior, reference, tmp_path):
    out = tmp_path / "killed"
    proc = _torchrun(2, _args(tiny_prior, out), **{STOP_AFTER_ENV: "1"})
    assert proc.returncode != 0  # a rank left after one unit, as if killed
    assert not (out / "results.json").exists()
    assert 1 <= len(_records(out)) < N_IMAGES
    with threadpool_limits(limits=1):
        assert main(_args(tiny_prior, out, "--resume")) == 0
    assert (out / "results.json").read_bytes() == (reference / "results.json").read_bytes()


@pytest.mark.slow
def test_killed_under_one_resumes_under_two(tiny_prior, reference, tmp_path):
    out = tmp_path / "killed1"
    cmd = [sys.executable, "-m", "diffusion.restore", *_args(tiny_prior, out)]
    env = _env(**{STOP_AFTER_ENV: "1", "OMP_NUM_THREADS": "1"})
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == 75 and _records(out) == ["00000.json"]
    proc = _torchrun(2, _args(tiny_prior, out, "--resume"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "results.json").read_bytes() == (reference / "results.json").read_bytes()


@pytest.mark.slow
def test_divergence_under_two_processes_is_reported_as_by_one(tiny_prior, tmp_path, capsys):
    """A DPS run that blows up: same results.json (status and message) with 1 and 2 ranks,
    and one line on stderr from the two ranks."""
    extra = ("--guidance", "dps", "--zeta", "1e6", "--max-abs", "10")
    one, two = tmp_path / "one", tmp_path / "two"
    with threadpool_limits(limits=1):
        assert main(_args(tiny_prior, one, *extra)) == 3
    capsys.readouterr()
    proc = _torchrun(2, _args(tiny_prior, two, *extra))
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("restore: diverged")]
    assert len(lines) == 1
    assert (two / "results.json").read_bytes() == (one / "results.json").read_bytes()


# --------------------------------------------------------------------------- the helpers


def test_shard_covers_every_item_once():
    items = list(range(11))
    for world in (1, 2, 3, 5):
        parts = [shard(items, r, world) for r in range(world)]
        assert sorted(x for p in parts for x in p) == items
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="rank"):
        shard(items, 2, 2)


def test_single_process_needs_no_process_group():
    assert from_env("cpu", env={}) == Dist()
    assert from_env("cpu", env={"WORLD_SIZE": "1", "RANK": "0"}) == Dist()
    with pytest.raises(ValueError, match="RANK"):
        from_env("cpu", env={"WORLD_SIZE": "2", "RANK": "2"})
    d = Dist()
    assert d.gather("x") == ["x"] and d.broadcast(3) == 3 and d.is_main


def test_files_mode_refuses_torchrun_with_one_line(tiny_prior, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    img = tmp_path / "y.npy"
    np.save(img, np.zeros((1, 8, 8), np.float32))
    args = ["--task", "sr2", "--measurement", str(img), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torchrun" in err[0]
