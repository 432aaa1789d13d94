"""Diagnostic: in which component of the exact posterior mixture do the chains end?

On the exact patch benchmark (``diffusion.restore --prior gmm``), for one (task, σ_y), run the
exact-score, covariance-aware and ΠGDM chains on the same seeds (``run_unit``, as
``benchmarks/guidance_exact.py``) and, for every chain end point x, read the posterior mixture
``pb.post`` (``GaussianMixture.responsibilities``): the component k* of largest responsibility,
that responsibility, the posterior weight w_{k*} of that component, and a decomposition of the
error to the posterior mean m, in MMSE units:

* ``between`` = ||m_{k*} - m||² / MMSE  (error of landing in component k*),
* ``within`` = ||x - m_{k*}||² / MMSE   (error inside that component),
* ``within_rel`` = ||x - m_{k*}||² / tr C_{k*}  (1 for an exact sample of the component in mean),
* ``resid`` = ||A x - y||² / (m σ_y²)   (1 for an exact posterior sample in mean).

Per curve and η, the means over images and samples are printed and written to ``--json``.

Run: ``nice -n 10 python benchmarks/guidance_components.py --task sr2 --sigma-y 0.05
[--eta 0,1] [--n-images 4] [--samples-per-image 4] [--steps 25] [--n-cg 5] [--trace] [--threads 1]
[--json comp.json]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from diffusion.experiments.restore.chains import DivergedError, run_unit
from diffusion.experiments.restore.config import RestoreConfig
from diffusion.experiments.restore.problems import make_problem, make_setup
from numerics.io import write_json


def end_point_stats(pb, X, A_rows, y_rows, sigma_y, prior=None) -> list[dict]:
    """Per end point x (rows of X, (M, d)): the posterior component it falls in and the
    error decomposition described in the module docstring."""
    post = pb.post
    r = post.responsibilities(X)  # (M, K)
    k = np.argmax(r, axis=1)
    d2 = np.sum((X[:, None, :] - post.means[None]) ** 2, axis=2)  # (M, K)
    near = np.argmin(d2, axis=1)
    kp = np.argmax(prior.responsibilities(X), axis=1) if prior is not None else None
    out = []
    for j, kj in enumerate(k):
        mk, Ck = post.means[kj], post.covs[kj]
        out.append(dict(
            k=int(kj), r_max=float(r[j, kj]), w_k=float(post.weights[kj]),
            w_rank=int(np.sum(post.weights > post.weights[kj])),
            k_near=int(near[j]), w_near=float(post.weights[near[j]]),
            w_prior=float(prior.weights[kp[j]]) if prior is not None else None,
            mse_ratio=float((np.sum((X[j] - pb.m) ** 2) + pb.mmse) / pb.mmse),
            between=float(np.sum((mk - pb.m) ** 2) / pb.mmse),
            within=float(np.sum((X[j] - mk) ** 2) / pb.mmse),
            within_rel=float(np.sum((X[j] - mk) ** 2) / np.trace(Ck)),
            resid=float(np.sum((A_rows @ X[j] - y_rows) ** 2) / (len(y_rows) * sigma_y**2)),
        ))  # fmt: skip
    return out


def _traced_sample(orig_sample, post, trace):
    """``orig_sample`` whose callback also appends to ``trace``, per reverse step, the
    posterior component of largest responsibility of each chain's Tweedie estimate."""

    def traced(*a, callback=None, **kw):
        def cb(i, t, x, x0):
            if x0 is not None:
                X0 = x0.detach().reshape(x0.shape[0], -1).double().numpy()
                comp = np.argmax(post.responsibilities(X0), axis=1).tolist()
                trace.append(dict(k=int(i), t=int(t), comp=comp))
            if callback is not None:
                callback(i, t, x, x0)

        return orig_sample(*a, callback=cb, **kw)

    return traced


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="sr2", help="(default: sr2)")
    p.add_argument("--sigma-y", type=float, default=0.05, help="(default: 0.05)")
    p.add_argument("--eta", default="0,1", help="(default: 0,1)")
    p.add_argument("--n-images", type=int, default=4, help="test patches (default: 4)")
    p.add_argument("--samples-per-image", type=int, default=4, help="(default: 4)")
    p.add_argument("--steps", type=int, default=25, help="reverse steps (default: 25)")
    p.add_argument("--n-cg", type=int, default=5, help="CG iterations of cov (default: 5)")
    p.add_argument("--curves", default="exact,cov,pigdm", help="(default: exact,cov,pigdm)")
    p.add_argument("--trace", action="store_true",
                   help="(one patch) also record, per reverse step, the posterior component of the "
                        "largest responsibility of each chain's Tweedie estimate (default: off)")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", default="guidance_components.json", help="(default: guidance_components.json)")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    etas = tuple(float(v) for v in args.eta.split(","))
    cfg = RestoreConfig(
        task=args.task, prior="gmm", sigma_y=args.sigma_y, etas=etas, guidance="dps",
        zeta="ours", n_images=args.n_images, samples_per_image=args.samples_per_image,
        steps=args.steps, n_cg=args.n_cg, out="/tmp/guidance_components_unused",
        progress=False, ref_samples=16,
    )  # fmt: skip
    setup = make_setup(cfg)
    problems = [make_problem(setup, i) for i in range(args.n_images)]
    rows = setup.rows
    A_rows = setup.A[rows]
    posts = []
    for pb in problems:
        w = np.sort(pb.post.weights)[::-1]
        # share of the MMSE that is between components: sum_k w_k ||m_k - m||^2 / MMSE
        between = float(pb.post.weights @ np.sum((pb.post.means - pb.m) ** 2, axis=1) / pb.mmse)
        k_mean = int(np.argmax(pb.post.responsibilities(pb.m[None])[0]))
        posts.append(dict(i=pb.i, k_eff=int(pb.post.K), mmse=pb.mmse, between_share=between,
                          top_weights=[round(float(v), 4) for v in w[:4]], k_of_mean=k_mean))  # fmt: skip
        print(f"patch {pb.i}: {pb.post.K} posterior components, top weights "
              f"{', '.join(f'{v:.3f}' for v in w[:4])}, MMSE {pb.mmse:.4g}, between-component "
              f"share {between:.3f}, mean falls in k={k_mean}", flush=True)  # fmt: skip
    result = dict(args=vars(args), posteriors=posts, curves={})
    if args.trace and args.n_images != 1:
        p.error("--trace: expected --n-images 1")
    import diffusion.sampler as sampler_mod

    orig_sample = sampler_mod.sample
    for curve in args.curves.split(","):
        t0 = time.perf_counter()
        trace = []
        if args.trace:
            post = problems[0].post

            traced = _traced_sample(orig_sample, post, trace)
            sampler_mod.sample = traced
        try:
            smp = run_unit(problems, curve, setup, None, zeta=None if curve == "exact" else 1.0)
        except DivergedError as exc:
            result["curves"][curve] = dict(diverged=str(exc))
            print(f"{curve}: diverged ({exc})", flush=True)
            continue
        finally:
            sampler_mod.sample = orig_sample
        per_eta = []
        for e, eta in enumerate(etas):
            pts = []
            for pb, s in zip(problems, smp, strict=True):
                st = end_point_stats(pb, s[e], A_rows, pb.y[rows], args.sigma_y, setup.prior.gmm)
                for q in st:
                    q["i"] = pb.i
                pts += st
            mean = {key: float(np.mean([q[key] for q in pts])) for key in
                    ("mse_ratio", "between", "within", "within_rel", "resid", "r_max", "w_k", "w_near")}  # fmt: skip
            mean["frac_top_component"] = float(np.mean([q["w_rank"] == 0 for q in pts]))
            per_eta.append(dict(eta=eta, mean=mean, points=pts))
            print(f"{curve:6s} eta={eta:g}: " + " ".join(f"{k}={v:.3f}" for k, v in mean.items()),
                  flush=True)  # fmt: skip
            print("        (patch, k*, w_k*, prior w) " + " ".join(f"({q['i']},{q['k']},{q['w_k']:.3g},{q['w_prior']:.3g})" for q in pts), flush=True)
        result["curves"][curve] = dict(per_eta=per_eta, seconds=round(time.perf_counter() - t0, 1))
        if trace:
            final = trace[-1]["comp"]
            # per chain: the first step from which the component of the Tweedie estimate
            # stays the final one (trace is in reverse-step order, k = T-1 ... 0)
            settle = []
            for c in range(len(final)):
                s_k = trace[-1]["t"]
                for rec in reversed(trace):
                    if rec["comp"][c] != final[c]:
                        break
                    s_k = rec["t"]
                settle.append(s_k)
            weights = [float(post.weights[c]) for c in final]
            result["curves"][curve]["trace"] = dict(steps=trace, final=final, settle_t=settle)
            print(f"{curve:6s} trace: final component per chain {final} (posterior weights "
                  f"{', '.join(f'{w:.3g}' for w in weights)}); model time t from which it no "
                  f"longer changes: {settle}", flush=True)  # fmt: skip
        write_json(args.json, result, sort_keys=True)
    return 0


if __name__ == "__main__":
    main()
