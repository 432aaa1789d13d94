r"""The benchmark loop: problems x guidances, each one vectorised chain over samples and η.

For every setting (d, d_y) and problem p (its draws seeded by ``(seed, d, d_y, p)`` alone, so
adding problems or settings never changes the others):

1. the problem and its exact posterior (:func:`numerics.mcgdiff.mcgdiff_problem`), an exact
   reference set of ``n_samples`` posterior draws, the sliced directions, and the **floors**:
   each metric between two independent exact sets of that size
   (:func:`numerics.metrics.metric_floor`), what a perfect sampler would score. They are
   stored with the problem and never recomputed by a resume (a recomputed floor moved in its
   third digit once: the exact draws depend on LAPACK's eigenbasis, see
   :mod:`numerics.mcgdiff`, "Reproducible draws");
2. per guidance, **one** call of :func:`diffusion.sampler.sample` on a batch of
   ``n_samples x len(etas)`` chains with a per-sample η (same generator seed for every
   guidance of a problem: common random numbers);
3. per η: MSE/MMSE (:func:`numerics.metrics.conditional_mse`, exact given the samples), the
   sliced W2 (:func:`numerics.transport.sliced_w2`, not rescaled: the quantity MCGDiff reports
   at η = 1) and the empirical W2 (:func:`numerics.transport.w2_empirical`) to the reference
   set, and the excess MSE over :math:`D(P)` at the measured W2 (:func:`numerics.dp.dp_function`),
   divided by the MMSE.

``results.json`` is rewritten atomically after every problem (:func:`numerics.io.write_json`);
a run finding one made with the same :meth:`~.config.BenchmarkConfig.numbers_key` skips the
units it holds (resume), so re-running a finished command only runs what is missing (e.g. a
guidance that was not available in the build that made the file).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.mcgdiff.config import BenchmarkConfig
from diffusion.experiments.mcgdiff.guidances import make_guidance, unavailable
from diffusion.experiments.mcgdiff.report import summarise
from diffusion.experiments.restore.progress import Progress
from diffusion.operators import DenseOperator
from diffusion.priors import MixturePrior
from diffusion.sampler import DivergenceError, sample
from numerics.dp import dp_function
from numerics.io import atomic_write, read_json, write_json
from numerics.mcgdiff import MCGDiffProblem, mcgdiff_problem
from numerics.metrics import conditional_mse, metric_floor
from numerics.transport import random_directions, sliced_w2, w2_empirical

__all__ = ["FORMAT", "ResumeError", "chain_samples", "measure", "problem_key", "run", "seeds"]

FORMAT = 1
PROG = "python -m diffusion.mcgdiff_benchmark"


class ResumeError(ValueError):
    """A ``results.json`` under the output folder was made with other settings."""


def problem_key(d: int, d_y: int, p: int) -> str:
    """``"d8_dy1/p0"``: the key of a problem in ``results.json``."""
    return f"d{d}_dy{d_y}/p{p}"


def seeds(cfg: BenchmarkConfig, d: int, d_y: int, p: int) -> dict:
    """Independent numpy seed sequences of one problem: problem, reference, floor, directions, chain."""
    parts = ("problem", "reference", "floor", "directions", "chain")
    return {name: np.random.SeedSequence([cfg.seed, d, d_y, p, i]) for i, name in enumerate(parts)}


def chain_samples(
    problem: MCGDiffProblem, name: str, cfg: BenchmarkConfig, *, chain_seed, on_step=None
) -> np.ndarray:
    """Run guidance ``name`` on one problem: float64 samples of shape ``(len(etas), n_samples, d)``.

    Raises :class:`~.guidances.GuidanceUnavailable` (a guidance not in this build) and
    :class:`~diffusion.sampler.DivergenceError` as they come.
    """
    sched = cfg.schedule()
    post = MixturePrior(problem.posterior, sched)
    op = DenseOperator(np.array(problem.A))
    y = torch.as_tensor(np.array(problem.y))
    g, needs_model = make_guidance(
        name, cfg, posterior_prior=post, operator=op, y=y, sigma_y=problem.sigma_y
    )
    model = MixturePrior(problem.prior, sched) if needs_model else None
    n, E = cfg.n_samples, len(cfg.etas)
    eta = torch.tensor(np.repeat(cfg.etas, n), dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(chain_seed.generate_state(1)[0]))
    callback = None
    if on_step is not None:
        callback = lambda i, t, x, x0: on_step() if x0 is not None else None  # noqa: E731
    x = sample(
        model,
        (n * E, problem.d),
        sched,
        eta=eta,
        guidance=g,
        variance=cfg.variance,
        steps=cfg.steps,
        generator=gen,
        dtype=getattr(torch, cfg.dtype),
        device=cfg.device,
        callback=callback,
    )
    return x.detach().cpu().double().numpy().reshape(E, n, problem.d)


def measure(samples: np.ndarray, ref: np.ndarray, theta: np.ndarray, mean, mmse: float) -> dict:
    """Per-η metrics of ``samples`` (E, n, d) against the exact set ``ref`` (n, d).

    Returns lists over η: ``mse_over_mmse``, ``sw`` (sliced W2 along ``theta``), ``w2``
    (empirical W2), ``excess_over_D`` = (MSE - D(W2)) / MMSE.
    """
    out = {k: [] for k in ("mse_over_mmse", "sw", "w2", "excess_over_D")}
    for X in samples:
        mse = conditional_mse(X, mean, mmse)
        w2 = w2_empirical(X, ref)
        out["mse_over_mmse"].append(mse / mmse)
        out["sw"].append(sliced_w2(X, ref, theta))
        out["w2"].append(w2)
        out["excess_over_D"].append((mse - float(dp_function(mmse, w2))) / mmse)
    return out


def _reference(problem: MCGDiffProblem, cfg: BenchmarkConfig, sd: dict, floors=True) -> dict:
    """The exact reference set ``ref`` (n, d), the directions ``theta`` and the problem's record.

    ``floors=False`` (a problem whose record ``results.json`` already holds) skips the floors,
    the costly part, and returns ``record=None``.
    """
    n, d = cfg.n_samples, problem.d
    ref = problem.sample_posterior(n, np.random.default_rng(sd["reference"]))
    theta = random_directions(d, cfg.n_projections, np.random.default_rng(sd["directions"]))
    if not floors:
        return dict(ref=ref, theta=theta, record=None)
    rng = np.random.default_rng(sd["floor"])
    R = cfg.floor_repeats
    sw_f, sw_sd = metric_floor(
        lambda X, Y: sliced_w2(X, Y, theta),
        problem.sample_posterior,
        n,
        rng,
        repeats=R,
        return_sd=True,
    )
    w2_f, w2_sd = metric_floor(
        w2_empirical, problem.sample_posterior, n, rng, repeats=R, return_sd=True
    )
    w = problem.posterior.weights
    record = dict(
        sigma_y=problem.sigma_y,
        singular_values=problem.singular_values.tolist(),
        mmse=problem.mmse(),
        posterior_max_weight=float(w.max()),
        posterior_components_above_1pct=int(np.sum(w > 0.01)),
        floors=dict(sw=sw_f, sw_sd=sw_sd, w2=w2_f, w2_sd=w2_sd, repeats=R),
    )
    return dict(ref=ref, theta=theta, record=record)


def _load(out: Path | None, cfg: BenchmarkConfig) -> dict:
    base = dict(
        format=FORMAT,
        command=PROG,
        numbers_key=cfg.numbers_key(),
        problems={},
        units={},
        unavailable={},
    )
    if out is None or not (out / "results.json").exists():
        return base
    old = read_json(out / "results.json", what="results.json")
    if not isinstance(old, dict) or old.get("numbers_key") != cfg.numbers_key():
        raise ResumeError(
            f"{out / 'results.json'} was made with other settings; use another --out or the "
            "same settings to resume"
        )
    base["problems"] = dict(old.get("problems", {}))
    base["units"] = dict(old.get("units", {}))
    return base


def _machine() -> dict:
    return dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
    )


def run(
    cfg: BenchmarkConfig,
    out: Path | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    report_only: bool = False,
) -> dict:
    """Run (or resume) the benchmark; returns the ``results.json`` dict (written to ``out``).

    Parameters
    ----------
    cfg : BenchmarkConfig
    out : folder, optional
        Where ``results.json`` and ``report.md`` go (created by the caller); None keeps
        everything in memory.
    progress : bool
        tqdm bar over chain steps.
    log : callable(str), optional
        One-line notes (a guidance not available, a diverged chain).
    report_only : bool
        Run no unit: rewrite ``report.md`` (and the summary) from the ``results.json`` found,
        over ``cfg``'s settings and problems (e.g. settings run by separate commands, each
        to its own number of problems).

    Raises
    ------
    ResumeError
        ``out`` holds a ``results.json`` made with other settings.
    """
    res = _load(out, cfg)
    res["config"] = cfg.record()
    note = log or (lambda line: print(line, file=sys.stderr, flush=True))
    runnable = []
    for g in cfg.guidances:
        why = unavailable(g)
        if why is None:
            runnable.append(g)
        else:
            res["unavailable"][g] = why
            note(f"{PROG}: {g}: {why} (its rows are left out)")
    todo = []  # problem-major: a run stopped early holds the same number of problems per setting
    for p in range(0 if report_only else cfg.n_problems):
        for d, d_y in cfg.dims:
            names = [g for g in runnable if f"{problem_key(d, d_y, p)}/{g}" not in res["units"]]
            if names:
                todo.append((d, d_y, p, names))
    n_units = sum(len(t[3]) for t in todo)
    bar = Progress(
        max(n_units, 1) * cfg.steps,
        f"{n_units} units x {cfg.steps} steps",
        bar=progress,
        prog=PROG,
        desc="mcgdiff",
    )
    if log is None:
        note = bar.write
    try:
        for d, d_y, p, names in todo:
            key = problem_key(d, d_y, p)
            sd = seeds(cfg, d, d_y, p)
            problem = mcgdiff_problem(d, d_y, np.random.default_rng(sd["problem"]))
            refs = _reference(problem, cfg, sd, floors=key not in res["problems"])
            # a stored problem keeps its record (floors included): a resume never recomputes it
            if refs["record"] is not None:
                res["problems"][key] = dict(d=d, d_y=d_y, p=p, **refs["record"])
            mean, mmse = problem.posterior_mean(), problem.mmse()
            for name in names:
                t0, steps_done = time.perf_counter(), [0]

                def on_step(steps_done=steps_done):
                    steps_done[0] += 1
                    bar.update(1)

                try:
                    X = chain_samples(problem, name, cfg, chain_seed=sd["chain"], on_step=on_step)
                except DivergenceError as exc:
                    note(f"{PROG}: {key} {name}: diverged ({exc})")
                    res["units"][f"{key}/{name}"] = dict(
                        status="diverged", message=" ".join(str(exc).split()), eta=list(cfg.etas)
                    )
                    bar.update(cfg.steps - steps_done[0])
                    continue
                rec = measure(X, refs["ref"], refs["theta"], mean, mmse)
                res["units"][f"{key}/{name}"] = dict(
                    status="ok", eta=list(cfg.etas), seconds=time.perf_counter() - t0, **rec
                )
            _save(res, cfg, out)
    finally:
        bar.close()
    _save(res, cfg, out)
    return res


def _save(res: dict, cfg: BenchmarkConfig, out: Path | None) -> None:
    from diffusion.experiments.mcgdiff.report import markdown

    res["machine"] = _machine()
    res["summary"] = summarise(res, cfg)
    if out is not None:
        write_json(out / "results.json", res)
        text = markdown(res, cfg)
        atomic_write(out / "report.md", lambda path: path.write_text(text, encoding="utf-8"))
