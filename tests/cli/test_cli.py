"""Every command with bad input, in a subprocess; and same seed -> same results (issue #18).

Bad input (``test_bad_input``): an unknown option, non-numeric / NaN / negative / huge
(1e308) values for each numeric option, an ``--out`` that is an existing file, a path under a
file or a read-only folder, input files that are missing, binary, not UTF-8, truncated or a
crafted pickle. Each must end with exit status 2 and exactly one non-empty line on stderr
naming the option, no traceback, nothing written outside ``--out``, and no code run from a
pickle. The default run keeps one cheap case per command (the unknown option) and every case
of the commands that start in well under a second; the rest is ``-m slow``.

Same seed (``test_same_seed_same_results``): a tiny configuration run twice with the same
seed into two folders gives byte-identical results once timing/machine fields and the folder
name are removed.

Cases listed in ``tests/fuzz/known_failures.txt`` are ``xfail(strict=True)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.cli.cases import BY_NAME, all_cli_cases
from tests.cli.run import (
    QUICK_TIMEOUT,
    SLOW_TIMEOUT,
    check_case,
    folder_results,
    normalise_text,
    run_cli,
)
from tests.fuzz.cases import read_known_failures

KNOWN = read_known_failures()


def _params():
    out = []
    for case in all_cli_cases():
        marks = [pytest.mark.slow] if case.slow else []
        if case.id in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason="listed in known_failures.txt"))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    res = check_case(case, work, SLOW_TIMEOUT if case.slow else QUICK_TIMEOUT)
    if res.skip:
        pytest.skip(res.skip)
    assert not res.problems, (
        f"{case.id}: "
        + "; ".join(text for _code, text in res.problems)
        + f"\nargv: {res.argv}\nstderr (tail): {res.stderr[-1500:]}"
    )


# --------------------------------------------------------------------------- same seed
#: Tiny configurations of every command that produces results: (argv, slow).
#: ``{out}`` is the run's output, under a folder that is compared as a whole.
SAME_SEED = {
    "numerics.dp_curve": (
        tuple("--samples 10 --steps 5 --eta 0,1 --seed 3 --no-progress --out {out}".split()),
        False,
    ),
    "diffusion.restore": (
        tuple(
            "--task deblur --n-images 1 --samples-per-image 2 --steps 5 --eta 0,1 --ref-samples 8 --pool-size 16 --grid-images 1 --grid-samples 1 --seed 3 --no-progress --out {out}".split()
        ),
        True,
    ),
    "diffusion.train_prior": (
        tuple(
            "--data digits16 --iters 3 --batch 4 --channels 8,8 --warmup 1 --log-every 1 --seed 3 --no-progress --out {out}".split()
        ),
        True,
    ),
    "diffusion.toy2d": (
        tuple("--dataset moons --quick --no-figures --no-progress --seed 3 --out {out}".split()),
        True,
    ),
    "diffusion.fit_gmm_prior": (
        tuple(
            "--data digits16 --components 2 --max-iter 3 --n-patches 60 --patch-size 16 --seed 3 --quiet --out {out}/gmm.npz".split()
        ),
        True,
    ),
    "diffusion.report_images": (
        (str(BY_NAME["diffusion.report_images"].base[0]), "--figure", "{out}/conv.png"),
        False,
    ),
    "diffusion.report_dps": (tuple("--n 6 --steps 5 --seed 3".split()), True),
    "diffusion.pscgan_images": (
        tuple("--train --steps 2 --n-critic 1 --seed 3 --out {out}/g.pt".split()),
        True,
    ),
    "diffusion.digit_classifier": (
        tuple("--train --epochs 1 --seed 3 --out {out}/c.pt".split()),
        True,
    ),
    "theory": (("--only", "vp", "--latex", "{out}"), False),
}


def _train_prior_fix(name, obj):
    # checkpoint.pt keeps the log rows as (iteration, loss_mean, elapsed_s): drop elapsed_s.
    if name.endswith("checkpoint.pt") and isinstance(obj, dict) and "log" in obj:
        obj = dict(obj, log=[list(r)[:2] for r in obj["log"]])
    return obj


#: Timing fields the generic normalisation cannot see (unnamed columns), per command.
FIXES = {"diffusion.train_prior": _train_prior_fix}


def _same_seed_params():
    out = []
    for name, (_argv, slow) in SAME_SEED.items():
        marks = [pytest.mark.slow] if slow else []
        if f"{name}::same seed" in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason="listed in known_failures.txt"))
        out.append(pytest.param(name, id=name, marks=marks))
    return out


def test_same_seed_covers_every_command():
    assert set(SAME_SEED) == set(BY_NAME)


@pytest.mark.parametrize("command", _same_seed_params())
def test_same_seed_same_results(command):
    argv, _slow = SAME_SEED[command]
    fix = FIXES.get(command)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in (1, 2):
            run = Path(tmp) / f"run{i}"
            run.mkdir()
            out = run / "out"
            if "{out}/" in " ".join(argv):
                out.mkdir()
            args = [a.format(out=out) for a in argv]
            proc = run_cli(command, args, run, SLOW_TIMEOUT)
            assert proc.returncode == 0, f"{command} failed:\n{proc.stderr[-2000:]}"
            roots = [str(out), str(run)]
            results.append((folder_results(run, roots, fix), normalise_text(proc.stdout, roots)))
    (files1, out1), (files2, out2) = results
    assert files1 or out1.strip(), f"{command} produced no results"
    assert sorted(files1) == sorted(files2)
    differ = [name for name in files1 if files1[name] != files2[name]]
    assert not differ, f"{command}: results differ between two runs with the same seed: {differ}"
    assert out1 == out2, f"{command}: printed results differ between two runs with the same seed"
