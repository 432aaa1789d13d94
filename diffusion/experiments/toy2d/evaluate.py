r"""The four units measured at one noise level σ_y, on the same test pairs.

* ``floors_s<σ>``: W2 and k-NN KL between two independent exact sets of the joint law of
  (x, y) and of the marginal law of x, the values a perfect estimator would show at this n;
* ``oracle_s<σ>``: the exact posterior of the data law (:func:`~.sweep.oracle_posterior`):
  MMSE, and the shrinkage :math:`m + c(x' - m)` of exact posterior draws, c = 0, 0.2, …, 1;
* ``ours_s<σ>``: the η sweep with DPS guidance at the configured ζ;
* ``pscgan_s<σ>``: PSCGAN averaged over N samples, and with a scaled latent σ_z.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion.data.toy2d import make_data
from diffusion.experiments.toy2d.config import fmt_sigma
from diffusion.experiments.toy2d.models import pscgan_estimate
from diffusion.experiments.toy2d.plan import Chain, DatasetPlan, Pairs, check_stage
from diffusion.experiments.toy2d.report import claim_summary
from diffusion.experiments.toy2d.store import Store, unit
from diffusion.experiments.toy2d.sweep import dp_point, oracle_posterior
from numerics.metrics import knn_kl, metric_floor, w2_empirical
from numerics.validate import check_std

__all__ = ["sigma_stage"]


def _floors(plan: DatasetPlan, sigma: float, n: int):
    ds = plan.ds
    rng = plan.rng("floors", sigma)

    def joint(m, r):
        xx = make_data(ds, m, r)
        return np.column_stack([xx, xx + sigma * r.standard_normal(xx.shape)])

    def marg(m, r):
        return make_data(ds, m, r)

    R = plan.sizes["floor_repeats"]
    out = {}
    for name, smp in (("joint", joint), ("marginal", marg)):
        w, wsd = metric_floor(w2_empirical, smp, n, rng, repeats=R, return_sd=True)
        k, ksd = metric_floor(knn_kl, smp, n, rng, repeats=R, return_sd=True)
        out[name] = dict(w2=w, w2_sd=wsd, kl=k, kl_sd=ksd)
    return dict(out, repeats=R, n=n), None


def _oracle(plan: DatasetPlan, sigma: float, test: Pairs, ref: Pairs):
    y, ry = test.y(sigma), ref.y(sigma)
    n_prior = plan.sizes["n_oracle"]
    prior = make_data(plan.ds, n_prior, plan.rng("oracle_prior"))
    m, draw, trc, ess = oracle_posterior(prior, y, sigma, plan.rng("oracle_draw", sigma))
    pts = []
    for c in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        pts.append(dict(c=c, **dp_point(m + c * (draw - m), test.x, y, ref.x, ry)))
    meta = dict(
        mmse=float(trc.mean()),
        mmse_se=float(trc.std(ddof=1) / math.sqrt(test.n)),
        ess_min=float(ess.min()),
        ess_median=float(np.median(ess)),
        n_prior=n_prior,
        shrinkage=pts,
    )
    return meta, dict(mean=m.astype(np.float32), draw=draw.astype(np.float32))


def _ours(plan: DatasetPlan, chain: Chain, sigma: float, test: Pairs, ref: Pairs):
    y, ry = test.y(sigma), ref.y(sigma)
    zeta = plan.zetas[fmt_sigma(sigma)]
    xs = chain.sweep(plan, y, sigma, plan.etas, zeta, ("ours", sigma))
    pts = [
        dict(eta=e, **dp_point(xh, test.x, y, ref.x, ry))
        for e, xh in zip(plan.etas, xs, strict=True)
    ]
    return dict(zeta=zeta, points=pts), dict(samples=xs.astype(np.float32))


def _pscgan(plan: DatasetPlan, generator, sigma: float, test: Pairs, ref: Pairs):
    y, ry = test.y(sigma), ref.y(sigma)
    pg = plan.cfg["pscgan"]
    gen = plan.generator("pscgan_eval", sigma)

    def point(N, sz):
        xh = pscgan_estimate(generator, y, n_avg=N, sigma_z=sz, generator=gen).double().numpy()
        return xh, dict(n_avg=N, sigma_z=sz, **dp_point(xh, test.x, y, ref.x, ry))

    pts_n, pts_z, arrs = [], [], {}
    for N in pg["n_avg"]:
        xh, p = point(int(N), 1.0)
        pts_n.append(p)
        if int(N) == 1:
            arrs["n1"] = xh.astype(np.float32)
    for sz in pg["sigma_z"]:
        pts_z.append(point(1, float(sz))[1])
    return dict(trained_at_sigma_y=plan.cfg["sigma_y"], n_avg=pts_n, sigma_z=pts_z), arrs


def sigma_stage(
    plan: DatasetPlan,
    chain: Chain,
    generator,
    gan_key: str,
    test: Pairs,
    sigma: float,
    store: Store,
    timing: dict,
):
    """Floors, oracle, ours and PSCGAN at noise level ``sigma`` on the ``test`` pairs.

    Parameters
    ----------
    plan, chain : the data set's plan and guided chain
    generator : PSCGAN's generator;  gan_key : its checkpoint key (part of the unit key)
    test : the test pairs (the same at every σ_y)
    store, timing : where units are kept and their times recorded

    Returns
    -------
    entry : dict
        ``{"sigma_y", "floors", "oracle", "ours", "pscgan", "summary"}``.
    arrays : dict
        ``y``, ``ours`` samples, ``pscgan`` (N = 1) and ``oracle_draw``, for the figures.
    """
    check_stage(plan, chain, store, timing)
    if not isinstance(generator, torch.nn.Module):
        raise TypeError(
            f"generator: expected PSCGAN's generator (a torch.nn.Module), got {type(generator).__name__}"
        )
    if not isinstance(gan_key, str):
        raise TypeError(f"gan_key: expected a string, got {type(gan_key).__name__}")
    if not isinstance(test, Pairs):
        raise TypeError(f"test: expected Pairs, got {type(test).__name__}")
    sigma = check_std(sigma, "sigma")
    tag = fmt_sigma(sigma)
    if tag not in plan.zetas:
        raise ValueError(
            f"sigma: expected one of the plan's noise levels {plan.sigmas}, got {sigma!r}"
        )
    n = test.n
    ref = Pairs.draw(plan, n, "ref")
    skey = dict(plan.common, sigma=sigma, n=n)
    sizes, pg = plan.sizes, plan.cfg["pscgan"]

    def run(name, key, compute):
        return unit(store, f"{name}_s{tag}", key, compute, timing, log=plan.log)

    fl, _ = run("floors", dict(skey, r=sizes["floor_repeats"]), lambda: _floors(plan, sigma, n))
    orc, orc_arr = run(
        "oracle", dict(skey, m=sizes["n_oracle"]), lambda: _oracle(plan, sigma, test, ref)
    )
    our, our_arr = run(
        "ours",
        dict(skey, chain=chain.key, etas=plan.etas, zeta=plan.zetas[tag]),
        lambda: _ours(plan, chain, sigma, test, ref),
    )
    gan, gan_arr = run(
        "pscgan",
        dict(skey, gan=gan_key, N=pg["n_avg"], sz=pg["sigma_z"]),
        lambda: _pscgan(plan, generator, sigma, test, ref),
    )
    entry = dict(sigma_y=sigma, floors=fl, oracle=orc, ours=our, pscgan=gan)
    entry["summary"] = claim_summary(entry)
    arrays = dict(
        y=test.y(sigma),
        ours=our_arr["samples"],
        pscgan=gan_arr.get("n1"),
        oracle_draw=orc_arr["draw"],
    )
    return entry, arrays
