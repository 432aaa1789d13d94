r"""How good is DPS? The η-sweep on the paper's 2-D mixture, against the exact posterior.

``python -m diffusion.report_dps [--n N] [--steps T] [--seed S] [--device cpu|cuda]``
prints the Markdown tables of ``docs/dps_accuracy.md``: for the paper's two-component 2-D
mixture (:data:`diffusion.priors.PAPER_GMM`) observed as :math:`y = x + n`,
:math:`\sigma_y = 0.5`, at a y between the modes (bimodal posterior) and a y near one mode
(near-Gaussian posterior), and for η ∈ {0, 0.5, 1} run in one batch:

* the exact conditional score (:class:`~diffusion.guidance.ExactGuidance`) with DDPM's
  :math:`\tilde\beta` and with the exact (second-order Tweedie) variance — the reference;
* DPS (:class:`~diffusion.guidance.DPSGuidance`) over the exact prior denoiser, likelihood
  form (with and without the :math:`\beta_t/\sqrt{\alpha_t}` scaling) and reference form,
  at several ζ, with :math:`\tilde\beta` variance (the paper's sampler).

Columns: MSE/MMSE, where MSE = MMSE + mean‖x̂ − E[x|y]‖² is the exact conditional MSE
given the samples (Gaussian η-chain ideal: 1 + η), with its Monte-Carlo standard error; W2,
the exact empirical 2-Wasserstein distance (POT) between the n samples and n exact posterior
samples, to be read against its floor (the same estimator between two exact sets, mean of 5
pairs, in each table's heading); D(W2)/MMSE, the DP function
:math:`D(P) = \mathrm{MMSE} + (\sqrt{\mathrm{MMSE}} - P)_+^2` at P = the measured W2 (the
least MSE any estimator with that perception can have; the upward bias of W2 makes it
slightly optimistic). A run that diverges is reported as such, with the step.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from diffusion.guidance import DPSGuidance, ExactGuidance
from diffusion.operators import Identity
from diffusion.priors.analytic import PAPER_GMM, MixturePrior
from diffusion.sampler import DivergenceError, sample
from numerics.cli import ArgumentParser, UsageError, fail, positive_int, seed_int
from numerics.gmm import GaussianMixture
from numerics.metrics import conditional_mse, metric_floor, w2_empirical
from numerics.progress import Progress
from numerics.schedule import linear_schedule

__all__ = ["CONFIGS", "ReportConfig", "build_parser", "main", "report", "run"]

PROG = "python -m diffusion.report_dps"

ETAS = (0.0, 0.5, 1.0)
SIGMA_Y = 0.5
YS = {"bimodal y = (0, 0)": (0.0, 0.0), "near-Gaussian y = (1.2, 1.0)": (1.2, 1.0)}

#: (label, kind, options): the guidance configurations of the table.
CONFIGS = (
    ("exact score, β̃", "exact", dict(variance="beta_tilde")),
    ("exact score, exact variance", "exact", dict(variance="exact")),
    (
        "DPS likelihood, ζ=1, ×β_t/√α_t",
        "dps",
        dict(form="likelihood", zeta=1.0, scale_by_beta=True),
    ),
    ("DPS likelihood, ζ=1", "dps", dict(form="likelihood", zeta=1.0)),
    ("DPS likelihood, ζ=0.1", "dps", dict(form="likelihood", zeta=0.1)),
    ("DPS likelihood, ζ=0.01", "dps", dict(form="likelihood", zeta=0.01)),
    ("DPS reference, ζ=1", "dps", dict(form="reference", zeta=1.0)),
    ("DPS reference, ζ=0.1", "dps", dict(form="reference", zeta=0.1)),
    ("DPS reference, ζ=0.01", "dps", dict(form="reference", zeta=0.01)),
)


@dataclass(frozen=True)
class ReportConfig:
    """Settings of one report: samples per η (n >= 2), reverse steps (>= 1), seed (in
    [0, 2**32), as ``--seed``) and torch device (checked at construction, naming the field)."""

    n: int = 2000
    steps: int = 1000
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        from numerics.validate import check_int

        check_int(self.n, "n", minimum=2)
        check_int(self.steps, "steps", minimum=1)
        check_int(self.seed, "seed", maximum=2**32 - 1)
        if not isinstance(self.device, str):
            raise TypeError(f"device: expected a torch device name, got {type(self.device).__name__}")
        try:
            dev = torch.device(self.device)
        except RuntimeError as exc:
            raise ValueError(f"device: not a torch device: {self.device!r}") from exc
        if dev.type not in ("cpu", "cuda") or (dev.type == "cuda" and not torch.cuda.is_available()):
            raise ValueError(f"device: expected cpu or an available cuda device, got {self.device!r}")


def _model_and_guidance(kind: str, opts: dict, prior: MixturePrior, y):
    """(model, guidance) of one configuration: the exact posterior (no model call) or DPS over
    the exact prior denoiser."""
    if kind == "exact":
        return None, ExactGuidance.from_prior(prior, np.eye(2), SIGMA_Y, y)
    o = {k: v for k, v in opts.items() if k != "zeta"}
    return prior, DPSGuidance(Identity(2), torch.tensor(y), opts["zeta"], sigma_y=SIGMA_Y, **o)


def run(y, kind: str, opts: dict, cfg: ReportConfig, *, prior: MixturePrior, post):
    """One configuration at one y: a dict η -> (mse_ratio, se, w2), or a divergence message."""
    model, guidance = _model_and_guidance(kind, opts, prior, y)
    kw = dict(guidance=guidance, variance=opts.get("variance", "beta_tilde"), steps=cfg.steps)
    kw.update(device=cfg.device, dtype=torch.float64)
    kw["generator"] = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    kw["eta"] = torch.tensor(ETAS, dtype=torch.float64).repeat_interleave(cfg.n)
    n_all = len(ETAS) * cfg.n
    try:
        x = sample(model, (n_all, 2), linear_schedule(1000), **kw)
    except DivergenceError as err:
        return f"diverged at step k={err.k} ({err.n_bad} of {n_all} samples)"
    x = x.cpu().numpy()
    rng = np.random.default_rng(cfg.seed + 1)
    out = {}
    for j, e in enumerate(ETAS):
        xj = x[j * cfg.n : (j + 1) * cfg.n]
        mse, se = conditional_mse(xj, post.mean(), post.mmse(), return_se=True)
        w2 = w2_empirical(xj, post.sample(cfg.n, rng))
        out[e] = (mse / post.mmse(), se / post.mmse(), w2)
    return out


def _se(se: float) -> str:
    return f"{se:.3f}" if se >= 0.0005 else f"{se:.0e}"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(
        prog=PROG, description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    ap.add_argument("--n", type=positive_int, default=2000, help="samples per eta (>= 2)")
    ap.add_argument("--steps", type=positive_int, default=1000, help="reverse steps")
    ap.add_argument(
        "--seed", type=seed_int, default=0, help="seed of every chain and reference set"
    )
    ap.add_argument("--device", default="cpu", help="torch device of the chains")
    return ap


def report(cfg: ReportConfig) -> None:
    """Print the tables of ``docs/dps_accuracy.md`` for ``cfg``."""
    if not isinstance(cfg, ReportConfig):
        raise TypeError(f"cfg: expected a ReportConfig, got {type(cfg).__name__}")
    gmm = GaussianMixture(**PAPER_GMM)
    prior = MixturePrior(gmm, linear_schedule(1000))
    print(
        f"Settings: n = {cfg.n} per eta, T = {cfg.steps}, seed {cfg.seed}, "
        f"sigma_y = {SIGMA_Y}, A = I, device {cfg.device}, torch {torch.__version__}.\n"
    )
    n_runs = len(YS) * len(CONFIGS)
    eta = Progress(n_runs, f"{n_runs} configurations x {len(ETAS) * cfg.n} chains x "
                   f"{cfg.steps} steps", bar=False, prog="report_dps")  # fmt: skip
    for yname, y in YS.items():
        post = gmm.posterior(np.eye(2), SIGMA_Y, y)
        rng = np.random.default_rng(cfg.seed + 7)
        floor, floor_sd = metric_floor(w2_empirical, post.sample, cfg.n, rng, return_sd=True)
        print(
            f"### {yname}: posterior weights {np.round(post.weights, 4).tolist()}, "
            f"MMSE = {post.mmse():.4f}, W2 floor (n = {cfg.n}) = {floor:.3f} ± {floor_sd:.3f}\n"
        )
        print("| guidance | η | MSE/MMSE | W2 | D(W2)/MMSE |")
        print("|---|---|---|---|---|")
        for label, kind, opts in CONFIGS:
            res = run(y, kind, opts, cfg, prior=prior, post=post)
            eta.update(1)
            if isinstance(res, str):
                print(f"| {label} | all | {res} | | |", flush=True)
                continue
            for e, (r, se, w2) in res.items():
                d_p = 1.0 + max(1.0 - w2 / np.sqrt(post.mmse()), 0.0) ** 2
                print(
                    f"| {label} | {e:g} | {r:.3f} ± {_se(se)} | {w2:.3f} | {d_p:.3f} |", flush=True
                )
        print()


def main(argv=None) -> int:
    try:
        a = build_parser().parse_args(argv)
        if a.n < 2:
            raise UsageError(f"argument --n: expected an integer >= 2, got {a.n}")
        if a.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"argument --device: {a.device} requested but no GPU is available")
        try:
            cfg = ReportConfig(n=a.n, steps=a.steps, seed=a.seed, device=a.device)
        except ValueError as exc:  # "<field>: ..." -> the option's one line
            raise UsageError(f"argument --{exc}") from None
    except UsageError as exc:
        return fail(PROG, exc)
    report(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
