"""``python -m diffusion.fit_gmm_prior`` resumes an interrupted fit (issue #18): a SIGKILL
after a checkpoint, then the same command, ends with the mixture of one uninterrupted fit,
array for array; a resume state of other settings, or an unreadable one, is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diffusion.priors.fit_gmm import main
from diffusion.priors.gmm_image import fit_patch_gmm

REPO = Path(__file__).resolve().parents[2]

#: Tiny but long enough (about 0.2 s per EM iteration here) for a kill to land mid-fit;
#: tol 0 so EM runs every iteration.
ARGS = "--data digits16 --components 6 --max-iter 12 --tol 0 --checkpoint-every 1 --quiet"


def _state(out: Path) -> Path:
    return out.parent / f".{out.name}.resume.npz"


def _read(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    meta = json.loads(str(d.pop("meta")))
    meta.pop("seconds")  # timing: the only field that may differ
    return dict(d, meta=meta)


def test_kill_9_then_resume_gives_the_uninterrupted_fit(tmp_path):
    argv = [*ARGS.split(), "--out", str(tmp_path / "killed.npz")]
    out = tmp_path / "killed.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "diffusion.fit_gmm_prior", *argv]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _state(out).exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the first chunk's state is written: kill mid-fit
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with np.load(_state(out), allow_pickle=False) as z:
        done = int(z["n_iter"])
    assert 1 <= done < 12, f"the kill came at iteration {done}"
    resumed = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"(resumed) from {_state(out)} after {done} EM iterations" in resumed.stdout
    assert not _state(out).exists()  # deleted when the fit completes

    ref = tmp_path / "ref.npz"
    # one uninterrupted fit, in a process with the same BLAS threads (EM's sums move in the
    # last digits with the thread count)
    ref_cmd = [*cmd[: cmd.index("--out")], "--out", str(ref), *cmd[cmd.index("--out") + 2 :]]
    done_ref = subprocess.run(ref_cmd, env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    assert done_ref.returncode == 0, done_ref.stderr
    assert not _state(ref).exists()
    a, b = _read(out), _read(ref)
    assert a["meta"]["n_iter"] == 12
    assert a["meta"] == b["meta"]
    for k in ("weights", "means", "covs"):
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def _refused(capsys, argv, *words):
    capsys.readouterr()
    assert main(argv) == 2
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1, cap.err
    assert err[0].startswith("python -m diffusion.fit_gmm_prior: error: argument --out: ")
    for w in words:
        assert w in err[0]
    assert "Traceback" not in cap.err


def test_a_resume_state_of_other_settings_or_unreadable_is_refused(tmp_path, capsys):
    out = tmp_path / "g.npz"
    argv = [*ARGS.split(), "--max-iter", "2", "--out", str(out)]
    state = {}
    X = np.random.default_rng(0).normal(size=(20, 3))
    fit_patch_gmm(X, 2, max_iter=1, tol=0, state_callback=state.update)
    np.savez(_state(out), settings_key=np.array("written by another fit"),
             **{k: np.asarray(v) for k, v in state.items()})  # fmt: skip
    _refused(capsys, argv, str(out), "other settings", "--fresh")
    assert not out.exists() and _state(out).exists()  # nothing touched

    _state(out).write_bytes(b"not an npz")
    _refused(capsys, argv, str(out), "unreadable", "--fresh")

    assert main([*argv, "--fresh"]) == 0  # starts over, replacing the state
    assert out.is_file() and not _state(out).exists()


def test_fit_patch_gmm_resumed_from_any_chunk_equals_the_uninterrupted_fit():
    """Library level: the states given to ``state_callback`` each resume to the same fit,
    including the last one (then EM is not run again)."""
    X = np.random.default_rng(1).normal(size=(60, 4))
    states = []
    ref = fit_patch_gmm(X, 3, max_iter=5, tol=0, checkpoint_every=2,
                        state_callback=lambda s: states.append(s))  # fmt: skip
    assert [s["n_iter"] for s in states] == [2, 4, 5]
    for s in states:
        got = fit_patch_gmm(X, 3, max_iter=5, tol=0, checkpoint_every=2, resume_state=s)
        for a, b in zip(got[:3], ref[:3], strict=True):
            assert np.array_equal(a, b)
        assert {k: v for k, v in got[3].items() if k != "seconds"} == {
            k: v for k, v in ref[3].items() if k != "seconds"
        }


@pytest.mark.parametrize(
    "bad, word",
    [
        ({}, "keys"),
        ("x", "dict"),
        ({"n_iter": 0}, "n_iter"),
        ({"weights_": np.ones(2)}, "weights_"),
    ],
)
def test_fit_patch_gmm_refuses_a_bad_resume_state_naming_it(bad, word):
    X = np.random.default_rng(1).normal(size=(60, 4))
    states = []
    fit_patch_gmm(X, 3, max_iter=2, tol=0, state_callback=states.append)
    if isinstance(bad, dict) and bad:
        bad = {**states[0], **bad}
    with pytest.raises((ValueError, TypeError), match="resume_state") as e:
        fit_patch_gmm(X, 3, max_iter=2, tol=0, resume_state=bad)
    assert word in str(e.value)
