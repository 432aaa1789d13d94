r"""Restoration with the η-scaled sampler: ``python -m diffusion.restore`` and
:func:`restore_images`.

**Your own images** (:mod:`~diffusion.experiments.restore.files`): ``--input PATH`` (a
PNG/JPEG file or a folder) or ``--measurement y.npy|y.png`` with any diffusers
``UNet2DModel`` folder as ``--prior`` (colour or grey, any size) restores the images at every
η and writes PNGs, a grid and ``results.json`` (PSNR, SSIM, MSE, residual per η); in Python,
:func:`restore_images` (:mod:`~diffusion.experiments.restore.api`, also ``from diffusion
import restore_images``) does the same on tensors. Example::

    python -m diffusion.restore --input photo.png --prior path/to/ddpm-folder --task sr4 \
        --eta 0,0.5,1 --steps 100 --out runs/photo

**The data-set sweeps** (the default, without ``--input``/``--measurement``), described
below:

Restores 16 x 16 grayscale test patches (:mod:`diffusion.data.patches`, test split) from
:math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)` in the [-1, 1] range, with the
η-scaled reverse sampler (:func:`diffusion.sampler.sample`) for every η of ``--eta`` in one
batch, and measures each result against the truth. With the Gaussian-mixture prior
(``--prior gmm``, :class:`diffusion.priors.gmm_image.GMMImagePrior`) the posterior
:math:`p(x \mid y)` is an exact mixture, so every number has an exact reference:

* **distortion**: ``mse`` :math:`= E\|\hat x - x\|^2` against the clean patch (summed over
  the 256 pixels; per pixel divide by 256), ``psnr`` (per sample, peak-to-peak 2) and
  ``ssim`` (``skimage.metrics.structural_similarity``, ``data_range=2``); and, exact given
  y, ``mse_post`` :math:`= \operatorname{tr} S + E\|\hat x - m\|^2` with
  :math:`m = E[x \mid y]`, :math:`S = \operatorname{Cov}[x \mid y]` of the prior's
  posterior (``mmse`` :math:`= \operatorname{tr} S`). ``mse`` also carries the mismatch
  between real patches and the prior; ``mse_post`` is what the theory speaks of.
* **perception**: ``perception`` :math:`P = \sqrt d\, SW_2(\hat P, p(x \mid y))`, the sliced
  W2 between the sampler's M samples and ``--ref-samples`` exact posterior samples, over
  L = d directions forming an orthonormal basis (fixed by ``--seed``), scaled by
  :math:`\sqrt d` so that a translation by v gives :math:`\|v\|`. ``perception_floor``:
  the same statistic between M exact posterior samples and the reference set (what a
  perfect sampler scores at this M).
* **the optimum**: ``dp_bound`` (:func:`numerics.dp.dp_function`) :math:`D(P) = \operatorname{tr} S + (\sqrt{\operatorname{tr} S}
  - P)_+^2` at the measured P, and ``excess`` = ``mse_post`` - ``dp_bound``. With
  projections forming orthonormal bases (:math:`\frac1L\sum_l \theta_l\theta_l^\top =
  I/d`) this *sliced* DP function is a lower bound on ``mse_post`` for every estimator
  that is independent of x given y (per direction, the triangle inequality
  :math:`W_2(\theta_\#\hat P, \delta_{\theta^\top m}) \ge \sqrt{\theta^\top S\theta} -
  W_2(\theta_\#\hat P, \theta_\# p)`, then Minkowski over directions), and shrinking exact
  posterior samples toward m attains it (``oracle``): it is the W2 statement of
  Theorem 2 with W2 replaced by :math:`\sqrt d\,SW_2`. A finite M biases P upward, i.e.
  ``dp_bound`` downward: compare ``perception`` with ``perception_floor``.
* **predictions**: ``pred_ratio`` is :math:`E[\text{mse\_post}]/\text{MMSE}` predicted by
  the exact Gaussian chain on the posterior's mean and covariance under the same variance
  rule, start and schedule (:func:`numerics.gaussian.eta_chain_moments`); ``ratio`` its
  measured value with ``ratio_sd`` (from the samples, images held fixed).
* **dataset level**: Fréchet distance in pixel space (``fd``) and :math:`\sqrt d\,SW_2`
  (``sw2``) between all reconstructions at one η and ``--pool-size`` clean test patches;
  ``dataset_reference`` gives the same for exact posterior samples (the value of a perfect
  posterior sampler) and for independent clean patches.

Guidance: ``exact`` (:class:`~diffusion.guidance.ExactGuidance`, the exact conditional
score of the posterior mixture; components of posterior weight < 1e-12 are dropped and
the dropped mass reported) or ``dps`` (:class:`~diffusion.guidance.DPSGuidance`,
``--dps-form reference``: the DPS code's step :math:`\zeta\nabla\|y - A\hat x_0\|`;
``--dps-form likelihood``: :math:`\zeta\,(\beta_t/\sqrt{\alpha_t})\nabla\log N(y; A\hat
x_0, \sigma_y^2 I)`, i.e. with ζ = 1 the plug-in conditional score with the true σ_y).
A DPS run also runs the exact-guidance chain on the same noise (``--no-exact-reference``
skips it) so that the two η-curves are compared in one ``dp_curve.png``. A diverging chain
stops the run with exit status 3 and one line naming the reverse step; results.json then
has ``"status": "diverged"`` and no numbers for the diverged part.

Outputs in ``--out``: ``results.json``, ``grid_<curve>.png`` (clean | measurement | η = 0
... 1, several samples each | exact posterior mean), ``dp_curve.png``, ``records/``
(one JSON per finished image, all η) and ``samples/``; ``timing.json``. ``--resume`` skips
finished images and gives the same results.json. Randomness: sample j of image i at η
uses its own generator, seeded by ``(seed, i, η, j)``, shared by all curves (common
random numbers), so results do not depend on which other η or images are in the batch.

Example::

    python -m diffusion.restore --task sr4 --prior gmm --sigma-y 0.05 --guidance exact \
        --variance beta_tilde --n-images 8 --samples-per-image 8 --out runs/sr4

References
----------
1. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, arXiv 2503.20297 (2025), Theorems 1-2, Algorithm 1.
2. H. Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems",
   ICLR 2023.
3. Y. Blau, T. Michaeli, "The perception-distortion tradeoff", CVPR 2018; D. Freirich,
   T. Michaeli, R. Meir, "A theory of the distortion-perception tradeoff in Wasserstein
   space", NeurIPS 2021.
4. N. Bonneel et al., "Sliced and Radon Wasserstein barycenters of measures", JMIV 51 (2015).
"""

from diffusion.experiments.restore.aggregate import aggregate
from diffusion.experiments.restore.api import Restoration, restore_images
from diffusion.experiments.restore.baselines import BASELINES, PSCGAN_POINTS
from diffusion.experiments.restore.chains import DivergedError
from diffusion.experiments.restore.cli import build_parser, main
from diffusion.experiments.restore.config import RestoreConfig, config_from_args
from diffusion.experiments.restore.figures import convergence_figure
from diffusion.experiments.restore.files import run_files
from diffusion.experiments.restore.priors import PRIORS, PriorEntry
from diffusion.experiments.restore.problems import (
    Problem,
    Setup,
    clean_images,
    make_problem,
    make_setup,
)
from diffusion.experiments.restore.run import run
from diffusion.experiments.restore.tasks import FILES_TASKS, PAPER_TASKS, TASKS, Task
from diffusion.experiments.restore.tune import tune_zeta
from diffusion.experiments.restore.zeta import ZETA_OURS

__all__ = [
    "BASELINES",
    "FILES_TASKS",
    "PAPER_TASKS",
    "PRIORS",
    "PSCGAN_POINTS",
    "TASKS",
    "ZETA_OURS",
    "DivergedError",
    "PriorEntry",
    "Problem",
    "RestoreConfig",
    "Restoration",
    "Setup",
    "Task",
    "aggregate",
    "build_parser",
    "clean_images",
    "config_from_args",
    "convergence_figure",
    "main",
    "make_problem",
    "make_setup",
    "restore_images",
    "run",
    "run_files",
    "tune_zeta",
]
