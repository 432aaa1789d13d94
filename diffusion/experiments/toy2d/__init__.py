"""The ``python -m diffusion.toy2d`` experiment: the paper's 2-D study (Section IV-A, Figs. 4, 5,
9, 10, 11), the η-scaled DPS sampler on one trained score network against PSCGAN.

For each data set (pinwheel, S-curve, moons; :mod:`diffusion.data.toy2d`) the command

1. trains (or loads) one ε-network by denoising score matching and checks its unconditional
   samples (η = 1): empirical W2 to true samples against the finite-sample floor;
2. trains (or loads) PSCGAN at the main noise level (:mod:`.models`);
3. picks nothing on the test pairs: the DPS weight ζ comes from ``configs/toy2d.json``; the
   validation sweep that chose it is recomputed on validation pairs and reported;
4. for every σ_y (the main one and the others, same network), on the same test pairs
   (x_i, y_i = x_i + σ_y n_i), runs the η-scaled reverse chain with DPS guidance for
   η = 0, 0.1, …, 1 in one batch, PSCGAN averaged over N samples and with a scaled latent
   σ_z, and an **oracle**: the exact posterior of the (empirical) data law by self-normalised
   importance sampling, giving E[x|y], exact posterior draws and their shrinkage
   m + c(x' − m), the construction that attains the conditional DP bound;
5. measures every point: MSE to the true x, W2 (POT network simplex) between the joint laws
   of (x̂, y) and (x, y) and between the marginals of x̂ and x, and k-NN KL for both, each
   with its floor;
6. runs the ζ ablation (η = 1, ζ varied; pinwheel, main σ_y);
7. writes ``toy2d.json`` (every curve point), per-data-set ``result.json`` and the figures.

Perception metric. The theory (Theorem 2) is about the *conditional* law p(x̂ | y) against
p(x | y), which cannot be estimated from one x per y. The W2 between the **joint** laws of
(x̂, y) and (x, y) is zero exactly when x̂ | y has the law of x | y for almost every y, so it
is the primary perception axis here. The **marginal** W2 (law of x̂ against the data law,
what a scatter plot of the reconstructions shows and, we believe, what the paper's figures
measure) is reported too; it can be zero for an estimator that ignores y.

Interrupted runs resume: every finished unit (a network, a sweep, a floor) is written
atomically under ``OUT/<data set>/`` with a key hashing everything it depends on, and is
reused when the key matches (:mod:`.store`). Timings are kept out of ``toy2d.json`` (in
``toy2d_timing.json``) so that a resumed run writes the same JSON as an uninterrupted one.

Modules, in the order of the data: :mod:`.config` (the JSON settings), :mod:`.seeding` (named
random streams), :mod:`.store` (resumable units), :mod:`.networks` (score network and PSCGAN,
loaded or trained), :mod:`.sweep` (η sweep, oracle posterior, one DP point), :mod:`.plan`,
:mod:`.run` and :mod:`.evaluate` (the stages of one data set), :mod:`.report` and
:mod:`.figures` (tables and figures), :mod:`.experiment` (the whole run) and :mod:`.cli`.

References
----------
1. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, arXiv 2503.20297 (2025), Section IV-A, Appendix E.
2. G. Ohayon et al., "High Perceptual Quality Image Denoising with a Posterior Sampling
   CGAN", ICCV Workshops 2021 (PSCGAN).
3. H. Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems",
   ICLR 2023 (DPS).
4. D. Freirich, T. Michaeli, R. Meir, "A Theory of the Distortion-Perception Tradeoff in
   Wasserstein Space", NeurIPS 2021.
"""

from diffusion.experiments.toy2d.cli import build_parser, main, prepare_out
from diffusion.experiments.toy2d.config import (
    CONFIG_PATH,
    FORMAT_VERSION,
    ConfigError,
    fmt_sigma,
    load_config,
    schedule_of,
    validate_config,
)
from diffusion.experiments.toy2d.evaluate import sigma_stage
from diffusion.experiments.toy2d.experiment import (
    Options,
    run_experiment,
    validate_experiment,
    write_combined,
)
from diffusion.experiments.toy2d.figures import (
    plot_dp,
    plot_reconstructions,
    plot_zeta_ablation,
    write_figures,
)
from diffusion.experiments.toy2d.networks import NETWORKS, CheckpointError, load_or_train
from diffusion.experiments.toy2d.plan import Chain, DatasetPlan, Pairs
from diffusion.experiments.toy2d.report import claim_summary, markdown_tables
from diffusion.experiments.toy2d.run import (
    ablation_stage,
    assemble_result,
    quality_stage,
    run_dataset,
    zeta_validation_stage,
)
from diffusion.experiments.toy2d.seeding import derive_generator, derive_rng, derive_seed
from diffusion.experiments.toy2d.store import Store, strip_private, unit
from diffusion.experiments.toy2d.sweep import dp_point, oracle_posterior, sweep_ours

__all__ = [
    "CONFIG_PATH",
    "FORMAT_VERSION",
    "NETWORKS",
    "Chain",
    "CheckpointError",
    "ConfigError",
    "DatasetPlan",
    "Options",
    "Pairs",
    "Store",
    "ablation_stage",
    "assemble_result",
    "build_parser",
    "claim_summary",
    "derive_generator",
    "derive_rng",
    "derive_seed",
    "dp_point",
    "fmt_sigma",
    "load_config",
    "load_or_train",
    "main",
    "markdown_tables",
    "oracle_posterior",
    "plot_dp",
    "plot_reconstructions",
    "plot_zeta_ablation",
    "prepare_out",
    "quality_stage",
    "run_dataset",
    "run_experiment",
    "schedule_of",
    "sigma_stage",
    "strip_private",
    "sweep_ours",
    "unit",
    "validate_config",
    "validate_experiment",
    "write_combined",
    "write_figures",
    "zeta_validation_stage",
]
