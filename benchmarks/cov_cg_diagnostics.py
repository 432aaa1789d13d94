"""Diagnostics: why plain CG diverged in the covariance-aware guidance on the digit network.

Runs ``diffusion.restore --task deblur --prior digits16 --guidance cov`` on image 0 (2
samples x eta 0, 1 = 4 chains, 250 steps, seed 9) with the guidance's CG replaced by the
*plain* CG that the guidance used before the Steihaug truncation (issue #21: Hestenes-Stiefel
from u = 0, a direction with p'Mp <= 0 skipped, no other stop), so the chain is the one that
diverged at k = 238. At every call it records, per chain, the CG trace (p'Mp / p'p, the
residual norm and |u| after each iteration); at the first ``--full-steps`` calls it also
builds the whole m x m system M = sigma_y^2 I + c A J' A' (m = 256, one VJP per column) and
records the spectrum of its symmetric part, the size of its skew part, the real parts of
M's eigenvalues, and |u| of the exact solve M^-1 r, of the solve with the symmetric part,
and of plain CG.

Run: ``nice -n 10 python benchmarks/cov_cg_diagnostics.py --json /tmp/cov_cg.json``
(about 10 min on the loaded 2-core CPU; exits with restore's status, 3 when it diverges).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

import diffusion.guidance_gaussian as gg
from diffusion.experiments.restore.cli import main as restore_main


def _plain_cg(matvec, b, max_iter):
    """The pre-truncation CG, with its per-iteration trace."""
    B = b.shape[0]
    view = (B,) + (1,) * (b.ndim - 1)

    def dot(u, v):
        return (u * v).reshape(B, -1).sum(1)

    d, r = torch.zeros_like(b), b.clone()
    p, rs = r.clone(), dot(r, r)
    trace = []
    for it in range(max_iter):
        Mp = matvec(p)
        pMp = dot(p, Mp)
        alpha = torch.where(pMp > 0, rs / pMp.clamp_min(1e-38), 0.0)
        d = d + alpha.reshape(view) * p
        r = r - alpha.reshape(view) * Mp
        rs_new = dot(r, r)
        trace.append({"it": it, "pMp_over_pp": (pMp / dot(p, p)).tolist(),
                      "rnorm": rs_new.sqrt().tolist(),
                      "dnorm": d.reshape(B, -1).norm(dim=1).tolist()})
        p = r + (rs_new / rs).reshape(view) * p
        rs = rs_new
    return d, trace


def _full_system(matvec, rd, u):
    """Spectrum facts of the whole system (one matvec per column)."""
    B, m = rd.shape[0], rd[0].numel()
    cols = []
    for i in range(m):
        e = torch.zeros(B, m, dtype=rd.dtype)
        e[:, i] = 1.0
        cols.append(matvec(e.reshape(rd.shape)).reshape(B, m))
    M = torch.stack(cols, dim=2).double()  # [B, m, m], column i = M e_i
    S, K = 0.5 * (M + M.transpose(1, 2)), 0.5 * (M - M.transpose(1, 2))
    ev, evM = torch.linalg.eigvalsh(S), torch.linalg.eigvals(M)
    rr = rd.reshape(B, m, 1).double()
    return {
        "sym_eig_min": ev[:, 0].tolist(), "sym_eig_max": ev[:, -1].tolist(),
        "n_neg_sym_eig": (ev < 0).sum(1).tolist(),
        "skew_over_sym_fro": (K.norm(dim=(1, 2)) / S.norm(dim=(1, 2))).tolist(),
        "M_eig_real_min": evM.real.min(1).values.tolist(),
        "M_eig_abs_imag_max": evM.imag.abs().max(1).values.tolist(),
        "exact_u_norm": torch.linalg.solve(M, rr).norm(dim=(1, 2)).tolist(),
        "sym_u_norm": torch.linalg.solve(S, rr).norm(dim=(1, 2)).tolist(),
        "cg_u_norm": u.reshape(B, -1).norm(dim=1).tolist(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", required=True, help="output JSON (one record per guidance call)")
    p.add_argument("--full-steps", type=int, default=14, help="calls with the whole system")
    p.add_argument("--n-cg", type=int, default=5)
    p.add_argument("--out", default="/tmp/cov_cg_restore", help="restore's --out folder")
    a = p.parse_args(argv)
    log: list[dict] = []

    def weighted_residual(self, x, x0, r, alpha_bar):
        op, s2 = self.operator, self.sigma_y**2
        c = (1.0 - alpha_bar) / math.sqrt(alpha_bar)

        def matvec(u):
            (jt,) = torch.autograd.grad(x0, x, grad_outputs=op.A_adjoint(u), retain_graph=True)
            return s2 * u + c * op.A(jt)

        rd = r.detach()
        u, trace = _plain_cg(matvec, rd, self.n_cg)
        rec = {"call": len(log), "alpha_bar": alpha_bar, "c": c,
               "b_norm": rd.reshape(rd.shape[0], -1).norm(dim=1).tolist(), "cg": trace}
        if len(log) < a.full_steps:
            rec["full"] = _full_system(matvec, rd, u)
        log.append(rec)
        with open(a.json, "w") as f:
            json.dump(log, f)
        return op.A_adjoint(u)

    gg.CovarianceAwareGuidance._weighted_residual = weighted_residual
    return restore_main([
        "--task", "deblur", "--prior", "digits16", "--eta", "0,1", "--n-images", "1",
        "--samples-per-image", "2", "--steps", "250", "--seed", "9", "--threads", "1",
        "--guidance", "cov", "--n-cg", str(a.n_cg), "--no-progress", "--out", a.out])


if __name__ == "__main__":
    raise SystemExit(main())
