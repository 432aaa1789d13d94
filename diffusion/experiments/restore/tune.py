"""``--tune-zeta``: choose the DPS step ζ(η) of :mod:`diffusion.restore` on held-out
images (``split="fit"``): per η, the ζ of the grid whose whole η batch did not diverge and
whose mean excess over D(P) (no exact posterior: mean MSE to the clean image) is least."""

from __future__ import annotations

import sys

import numpy as np

from diffusion.experiments.restore.chains import DivergedError, run_unit
from diffusion.experiments.restore.problems import make_problem, make_setup
from diffusion.experiments.restore.run import apply_threads, make_out
from numerics.dp import dp_function
from numerics.io import write_json
from numerics.metrics import sliced_w2

__all__ = ["score_zeta", "tune_zeta"]


def score_zeta(problems, samples, etas, theta) -> list[dict]:
    """Per η, the mean excess over D(P) of one ζ's samples (and the ratio MSE/MMSE and the
    perception), or the mean MSE to the clean image for problems without a posterior."""
    per_eta = []
    for e, eta in enumerate(etas):
        ex, mp, P = [], [], []
        for pb, s in zip(problems, samples, strict=True):
            X = s[e]
            if not pb.exact:  # no posterior: the criterion is the MSE to the clean image
                ex.append(float(np.mean(np.sum((X - pb.clean.reshape(1, -1)) ** 2, axis=1))))
                continue
            p = sliced_w2(X, pb.ref, theta, rescale=True)
            m = pb.mmse + float(np.mean(np.sum((X - pb.m) ** 2, axis=1)))
            ex.append(m - float(dp_function(pb.mmse, p)))
            mp.append(m / pb.mmse)
            P.append(p)
        row = dict(eta=eta, excess=float(np.mean(ex)))
        if mp:
            row.update(ratio=float(np.mean(mp)), perception=float(np.mean(P)))
        per_eta.append(row)
    return per_eta


def tune_zeta(config) -> dict:
    """Run every ζ of ``config.zeta_grid`` on the fit images; write and return
    ``<out>/zeta_table.json`` (``chosen``: η -> ζ, ``grid``: the scores of every ζ)."""
    apply_threads(config)
    out = config.out_path
    make_out(out)
    setup = make_setup(config)
    problems = [make_problem(setup, i) for i in range(config.n_images)]
    B = config.image_batch
    table = {}
    for zeta in config.zeta_grid:
        try:
            smp = []
            for s in range(0, len(problems), B):
                smp += run_unit(problems[s : s + B], "dps", setup, None, zeta=zeta)
        except DivergedError as exc:
            table[str(zeta)] = dict(diverged=str(exc))
            print(f"zeta={zeta:g}: diverged ({exc})", file=sys.stderr, flush=True)
            continue
        per_eta = score_zeta(problems, smp, config.etas, setup.theta)
        table[str(zeta)] = dict(per_eta=per_eta)
        print(
            f"zeta={zeta:g}: " + " ".join(f"{r['eta']:g}:{r['excess']:.3g}" for r in per_eta),
            file=sys.stderr,
            flush=True,
        )
    chosen = {}
    for e, eta in enumerate(config.etas):
        best = min(
            ((v["per_eta"][e]["excess"], float(z)) for z, v in table.items() if "per_eta" in v),
            default=None,
        )
        if best is not None:
            chosen[str(eta)] = best[1]
    res = dict(
        config=config.record(setup.patch_size),
        chosen=chosen,
        grid=table,
        criterion=(
            "least mean excess over D(P) per eta, among zeta whose whole eta batch did not diverge"
            if config.prior.exact
            else "least mean MSE to the clean image per eta (no exact posterior), among zeta "
            "whose whole eta batch did not diverge"
        ),
    )
    write_json(out / "zeta_table.json", res, sort_keys=True)
    return res
