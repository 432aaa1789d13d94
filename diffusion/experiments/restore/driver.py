r"""η-sweeps on real image patches with exact ground truth: ``python -m diffusion.restore``.

Restores 16 x 16 grayscale test patches (:mod:`diffusion.images`, test split) from
:math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)` in the [-1, 1] range, with the
η-scaled reverse sampler (:func:`diffusion.sampler.sample`) for every η of ``--eta`` in one
batch, and measures each result against the truth. With the Gaussian-mixture prior
(``--prior gmm``, :class:`diffusion.priors_image.GMMImagePrior`) the posterior
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

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffusion._paths import WEIGHTS_DIR
from numerics.dp import dp_function
from numerics.gmm import pruned_posterior, squared_error_variance
from numerics.metrics import frechet_distance, orthonormal_directions, sliced_w2
from numerics.metrics import psnr as psnr_rows

__all__ = [
    "PRIORS",
    "TASKS",
    "ZETA_OURS",
    "PriorEntry",
    "Task",
    "convergence_figure",
    "main",
    "register_prior",
]

PROG = "python -m diffusion.restore"
WEIGHT_FLOOR = 1e-10  # posterior components below this weight are dropped (mass reported)


class UsageError(Exception):
    """A bad argument: reported as one line on stderr, exit status 2."""


class DivergedError(Exception):
    """A chain diverged: reported as one line on stderr, exit status 3."""


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """A measurement task at patch scale.

    Attributes
    ----------
    name : str
    description : str
        The settings, as stated in the docs.
    make : callable ``(in_shape, data="patches") -> LinearOperator``
    factor : int
        Side lengths must be divisible by it (SR factor; 1 otherwise).
    """

    name: str
    description: str
    make: Callable
    factor: int = 1


def _deblur(shape, data: str = "patches"):
    from diffusion.operators import GaussianBlur

    if data == "digits":  # strokes ~2 px wide: the PSCGAN baseline's operator
        return GaussianBlur(5, 1.0, shape, boundary="reflect")
    return GaussianBlur(9, 1.5, shape, boundary="reflect")


def _sr(factor):
    def make(shape, data: str = "patches"):
        from diffusion.operators import AveragePoolSR

        return AveragePoolSR(factor, shape)

    return make


def _inpaint(shape, data: str = "patches"):
    from diffusion.operators import Inpainting, box_mask

    _, H, W = shape
    return Inpainting(box_mask(shape, (H // 4, W // 4, H // 2, W // 2)))


#: The tasks (the paper's 61 x 61 / std 3.0 blur and x8 SR at 256 px, scaled to 16 px).
TASKS: dict[str, Task] = {
    "deblur": Task(
        "deblur",
        "Gaussian blur, 9 x 9 kernel, std 1.5 px (digits: 5 x 5, std 1.0 px), reflect boundary",
        _deblur,
    ),
    "sr2": Task("sr2", "super-resolution x2 (2 x 2 average pooling)", _sr(2), 2),
    "sr4": Task("sr4", "super-resolution x4 (4 x 4 average pooling)", _sr(4), 4),
    "inpaint": Task(
        "inpaint",
        "box inpainting: the central (H/2) x (W/2) box missing (1/4 of pixels)",
        _inpaint,
    ),
}


# --------------------------------------------------------------------------- baselines

#: Baselines run on the same images, measurements and metrics (``--baselines``):
#: name -> what its points are.
BASELINES: dict[str, str] = {
    "diffpir": "DiffPIR (diffusion.diffpir) over the same denoiser, one point per --diffpir-zeta",
    "pscgan": "PSCGAN (diffusion.pscgan_images, digits deblurring, trained at sigma_y 0.05): "
    "averages of N = 1 ... 64 samples (sigma_z = 1) and latent scales sigma_z = 0 ... 0.75 (N = 1)",
}
PSCGAN_POINTS = tuple((n, 1.0) for n in (1, 2, 4, 8, 16, 32, 64)) + tuple(
    (1, sz) for sz in (0.0, 0.25, 0.5, 0.75)
)


def _baseline_points(args) -> list[tuple[str, str, dict]]:
    """(baseline, key, parameters) of every baseline point of the run."""
    pts = []
    for b in args.baseline_list:
        if b == "diffpir":
            for z in args.diffpir_zetas:
                pts.append(("diffpir", f"zeta{z:g}", dict(zeta=z, lam=args.diffpir_lambda)))
        elif b == "pscgan":
            for n, sz in PSCGAN_POINTS:
                pts.append(("pscgan", f"n{n}_sz{sz:g}", dict(n_avg=n, sigma_z=sz)))
    return pts


def _run_baselines(args, prior, op, out: Path, bar=None) -> None:
    """Restore every image with every baseline point; ``baselines/<name>_<key>.npy`` [N, M, d].

    Each point is written when done and skipped when present (``--resume``). Generators are
    seeded by (seed, 99, point index), so a point's output does not depend on the others.
    """
    from diffusion.baselines.diffpir import diffpir
    from diffusion.sampler import DivergenceError

    N, M = args.n_images, args.samples_per_image
    bdir = out / "baselines"
    bdir.mkdir(exist_ok=True)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    ys = torch.stack(
        [
            torch.from_numpy(np.load(out / "samples" / f"{i:05d}_y.npy").astype(np.float64))
            for i in range(N)
        ]
    ).reshape(N, *op.out_shape)
    ys = ys.repeat_interleave(M, dim=0).to(dtype=dtype, device=args.device)
    gan = None
    for k, (name, key, prm) in enumerate(_baseline_points(args)):
        path = bdir / f"{name}_{key}.npy"
        if path.exists():
            continue
        gen = torch.Generator(device=args.device).manual_seed(_seed(args.seed, 99, k))
        if name == "diffpir":
            try:
                x = diffpir(
                    prior, ys, op, args.sigma_y, steps=args.diffpir_steps, zeta=prm["zeta"],
                    lam=prm["lam"], generator=gen, max_abs=args.max_abs,
                )  # fmt: skip
            except DivergenceError as exc:
                raise DivergedError(f"DiffPIR (zeta={prm['zeta']:g}) diverged: {exc}") from exc
        else:
            from diffusion.baselines.pscgan_images import load_pscgan, pscgan_restore

            gan = gan or load_pscgan(device=args.device)
            x = pscgan_restore(
                gan, ys.float(), n_avg=prm["n_avg"], sigma_z=prm["sigma_z"], generator=gen
            )
        arr = x.detach().reshape(N, M, -1).cpu().double().numpy()
        if not np.isfinite(arr).all():
            raise DivergedError(f"{name} {key}: non-finite output")
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr.astype(np.float32))
        os.replace(tmp, path)
        if bar is not None:
            bar.set_postfix_str(f"{name} {key}")


def _baseline_metrics(args, clean, sources, theta, pool, out: Path) -> dict:
    """Distortion and dataset-level perception of every baseline point (like the η-curves)."""
    data = PRIORS[args.prior].data
    N, M = args.n_images, args.samples_per_image
    res: dict[str, list] = {}
    for name, key, prm in _baseline_points(args):
        X = np.load(out / "baselines" / f"{name}_{key}.npy").astype(np.float64)  # [N, M, d]
        err = np.sum((X - clean[:, None, :]) ** 2, axis=2)
        ps = [_psnr_ssim(X[i], clean[i]) for i in range(N)]
        R = X.reshape(N * M, -1)
        row = dict(
            key=key,
            **prm,
            mse=float(err.mean()),
            mse_se_images=float(err.mean(axis=1).std(ddof=1) / math.sqrt(N)) if N > 1 else 0.0,
            psnr=float(np.mean([p.mean() for p, _ in ps])),
            ssim=float(np.mean([q.mean() for _, q in ps])),
            fd=frechet_distance(R, pool, rank_safe=True),
            sw2=sliced_w2(R, pool, theta, rescale=True),
            **_digit_metrics(data, R, np.repeat(sources, M), pool, ""),
        )
        res.setdefault(name, []).append(row)
    return res


# --------------------------------------------------------------------------- priors


@dataclass(frozen=True)
class PriorEntry:
    """A prior the command can run.

    Attributes
    ----------
    name : str
    load : callable ``(args, schedule) -> model``
        Returns a denoiser (:mod:`diffusion.models` interface) on ``schedule`` with a
        ``patch_shape`` attribute; if ``exact``, it also has ``.gmm`` (the mixture) so the
        posterior is exact.
    exact : bool
    help : str
    data : {"patches", "digits"}
        The clean images it restores: photograph patches (:mod:`diffusion.images`, split by
        source image) or handwritten digits (:mod:`diffusion.digits`; ``--split fit`` is
        their validation split).
    default_weights : str, optional
        ``--weights`` when not given.
    """

    name: str
    load: Callable
    exact: bool
    help: str
    data: str = "patches"
    default_weights: str | None = None


_WEIGHTS_DIR = WEIGHTS_DIR


def _load_gmm_prior(args, schedule):
    from diffusion.priors.gmm_image import GMMImagePrior

    try:
        return GMMImagePrior.from_file(args.weights, schedule)
    except ValueError as exc:
        raise UsageError(f"--weights: {exc}") from exc


def _load_unet(args, schedule):
    """A ``UNet2DModel`` checkpoint (:mod:`diffusion.unet_prior`), x̂₀ clipped to [-1, 1]."""
    from diffusion.priors.unet import load_unet_prior

    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    try:
        model = load_unet_prior(args.weights, device=args.device, dtype=dtype, clip=(-1.0, 1.0))
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--prior {args.prior}: {exc}") from exc
    C, H, W = model.image_shape
    if C != 1 or H != W:
        raise UsageError(
            f"--prior {args.prior}: the network takes {C} x {H} x {W} images; the data shipped "
            "here are square grayscale images (1 channel)"
        )
    base = getattr(model.schedule, "schedule", model.schedule)
    if not np.allclose(base.alpha_bar, schedule.alpha_bar, rtol=1e-9, atol=0.0):
        raise UsageError(
            f"--prior {args.prior}: the network's training schedule is not the paper's "
            "linear schedule (T = 1000, beta 1e-4 -> 0.02) that this command samples with"
        )
    model.patch_shape = (1, H, W)
    return model


#: Prior registry (``--prior NAME``); ``--prior PATH`` loads any UNet2DModel folder.
PRIORS: dict[str, PriorEntry] = {
    "gmm": PriorEntry(
        "gmm", _load_gmm_prior, True, "Gaussian mixture of 16x16 patches (exact posterior)",
        "patches", str(_WEIGHTS_DIR / "gmm_patches16.npz"),
    ),
    "gmm-digits16": PriorEntry(
        "gmm-digits16", _load_gmm_prior, True,
        "Gaussian mixture of the 16x16 digits (exact posterior)",
        "digits", str(_WEIGHTS_DIR / "gmm_digits16.npz"),
    ),
    "digits16": PriorEntry(
        "digits16", _load_unet, False, "UNet2DModel trained on the 16x16 digits",
        "digits", str(_WEIGHTS_DIR / "unet_digits16"),
    ),
    "patches32": PriorEntry(
        "patches32", _load_unet, False, "UNet2DModel trained on 32x32 photograph patches",
        "patches", str(_WEIGHTS_DIR / "unet_patches32"),
    ),
}  # fmt: skip


def register_prior(
    name: str,
    load: Callable,
    *,
    exact: bool = False,
    help: str = "",
    data: str = "patches",
    default_weights: str | None = None,
) -> None:
    """Add a prior to :data:`PRIORS` (``--prior name``)."""
    if data not in ("patches", "digits"):
        raise ValueError(f"data: expected 'patches' or 'digits', got {data!r}")
    PRIORS[name] = PriorEntry(name, load, bool(exact), help, data, default_weights)


# --------------------------------------------------------------------------- ζ tables

#: ζ(η) tables chosen here on held-out images (``--tune-zeta``; fit-split patches for the
#: patch prior, the validation digits for the digit network; docs/images.md,
#: docs/learned.md), keyed by (prior, task, dps form): tuned at σ_y = 0.05 and used at both
#: noise levels (the reference form has no σ_y). ``--zeta ours`` selects them.
ZETA_OURS: dict[tuple[str, str, str], dict[float, float]] = {
    ("gmm", "deblur", "reference"): {0.0: 1.0, 0.2: 0.3, 0.4: 0.3, 0.6: 0.3, 0.8: 0.3, 1.0: 0.3},
    ("gmm", "sr2", "reference"): {0.0: 0.3, 0.2: 0.3, 0.4: 0.3, 0.6: 0.3, 0.8: 0.1, 1.0: 0.1},
    ("gmm", "sr4", "reference"): {0.0: 0.3, 0.2: 0.3, 0.4: 0.3, 0.6: 0.3, 0.8: 0.1, 1.0: 0.1},
    ("gmm", "inpaint", "reference"): {0.0: 1.0, 0.2: 1.0, 0.4: 0.3, 0.6: 0.1, 0.8: 0.1, 1.0: 0.1},
    ("digits16", "deblur", "reference"): {0.0: 0.3, 0.2: 0.3, 0.4: 1.0, 0.6: 1.0, 0.8: 1.0, 1.0: 1.0},
    ("digits16", "sr2", "reference"): {0.0: 0.3, 0.2: 0.3, 0.4: 0.3, 0.6: 0.3, 0.8: 0.3, 1.0: 0.3},
    ("digits16", "sr4", "reference"): {0.0: 1.0, 0.2: 1.0, 0.4: 1.0, 0.6: 1.0, 0.8: 1.0, 1.0: 1.0},
    ("digits16", "inpaint", "reference"): {0.0: 1.0, 0.2: 1.0, 0.4: 1.0, 0.6: 1.0, 0.8: 1.0, 1.0: 1.0},
    # 4 fit patches, grid {0.1, 0.3, 1, 3} on an H200 (docs/learned.md; 3 is the grid's edge)
    ("patches32", "deblur", "reference"): {0.0: 3.0, 0.2: 3.0, 0.4: 3.0, 0.6: 3.0, 0.8: 3.0, 1.0: 1.0},
    # grid {1, 3, 10} on the CPU; the 10 at eta 0.6 is one noisy win of 4 patches x 2 samples
    ("patches32", "sr2", "reference"): {0.0: 3.0, 0.2: 3.0, 0.4: 3.0, 0.6: 3.0, 0.8: 1.0, 1.0: 1.0},
    ("patches32", "sr4", "reference"): {0.0: 3.0, 0.2: 3.0, 0.4: 3.0, 0.6: 10.0, 0.8: 1.0, 1.0: 1.0},
    ("patches32", "inpaint", "reference"): {0.0: 3.0, 0.2: 3.0, 0.4: 3.0, 0.6: 3.0, 0.8: 1.0, 1.0: 1.0},
}


def _zeta_spec(args):
    """The ζ specification for DPSGuidance from ``--zeta`` / ``--zeta-table``."""
    from diffusion.guidance import ZETA_PRESETS

    if args.zeta_table is not None:
        try:
            raw = json.loads(Path(args.zeta_table).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--zeta-table: cannot read {args.zeta_table}: {exc}") from exc
        if isinstance(raw, dict):  # a plain table, or the zeta_table.json of --tune-zeta
            raw = raw.get("table", raw.get("chosen", raw))
        try:
            table = {float(k): float(v) for k, v in raw.items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise UsageError(
                f"--zeta-table: expected a JSON object {{eta: zeta}}, got {args.zeta_table}"
            ) from exc
        if not table or any(not (v >= 0 and math.isfinite(v)) for v in table.values()):
            raise UsageError("--zeta-table: expected a non-empty table of finite values >= 0")
        return table
    z = args.zeta if args.zeta is not None else "1.0"
    if z in ZETA_PRESETS:
        return z
    if z == "ours":
        key = (args.prior, args.task, args.dps_form)
        if key not in ZETA_OURS:
            raise UsageError(
                f"--zeta ours: no table tuned for prior={key[0]} task={key[1]} form={key[2]}"
            )
        return dict(ZETA_OURS[key])
    try:
        v = float(z)
    except ValueError as exc:
        raise UsageError(
            f"--zeta: expected a number >= 0, 'ours' or a preset {sorted(ZETA_PRESETS)}, got {z!r}"
        ) from exc
    if not (v >= 0 and math.isfinite(v)):
        raise UsageError(f"--zeta: expected a finite number >= 0, got {z!r}")
    return v


# --------------------------------------------------------------------------- metrics


def _psnr_ssim(samples: np.ndarray, clean: np.ndarray):
    from skimage.metrics import structural_similarity

    s = math.isqrt(clean.size)
    psnr = psnr_rows(samples, clean.reshape(1, -1))
    ssim = np.array(
        [
            structural_similarity(x.reshape(s, s), clean.reshape(s, s), data_range=2.0)
            for x in samples
        ]
    )
    return psnr, ssim


# --------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit status 2
        raise UsageError(message)


def _parse_etas(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError as exc:
        raise UsageError(
            f"--eta: expected a comma-separated list of numbers, got {text!r}"
        ) from exc
    if not vals:
        raise UsageError("--eta: expected at least one value")
    bad = [v for v in vals if not (0.0 <= v <= 1.0)]
    if bad:
        raise UsageError(f"--eta: values must be in [0, 1], got {bad[0]:g}")
    if len(set(vals)) != len(vals):
        raise UsageError(f"--eta: repeated values in {text!r}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--prior", default="gmm", help=f"one of {sorted(PRIORS)} (default gmm)")
    p.add_argument("--sigma-y", type=float, default=0.05, help="noise sd in [-1, 1] units")
    p.add_argument("--eta", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", help="η list")
    p.add_argument("--guidance", choices=("dps", "exact"), default="exact")
    p.add_argument("--variance", choices=("beta", "beta_tilde", "exact"), default="beta_tilde")
    z = p.add_mutually_exclusive_group()
    z.add_argument("--zeta", default=None, help="DPS step: number, preset name or 'ours'")
    z.add_argument("--zeta-table", default=None, help="JSON file {eta: zeta}")
    p.add_argument("--dps-form", choices=("reference", "likelihood"), default="reference")
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument("--samples-per-image", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--schedule", choices=("linear", "fixed-horizon"), default="linear")
    p.add_argument("--start", choices=("standard", "exact"), default="standard")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-seed", type=int, default=0, help="which test patches")
    p.add_argument("--split", choices=("test", "fit"), default="test")
    p.add_argument("--patch-size", type=int, default=None, help="default: the prior's")
    p.add_argument("--weights", default=None, help="mixture .npz (default: the shipped one)")
    p.add_argument("--ref-samples", type=int, default=256, help="exact posterior samples per image")
    p.add_argument("--pool-size", type=int, default=2000, help="clean test patches (dataset level)")
    p.add_argument("--image-batch", type=int, default=1, help="images per sampler batch")
    p.add_argument("--no-exact-reference", action="store_true")
    p.add_argument("--max-abs", type=float, default=1e3, help="divergence threshold on |x|")
    p.add_argument("--tune-zeta", default=None, help="ζ grid: pick ζ(η) on --split fit")
    p.add_argument("--grid-images", type=int, default=4)
    p.add_argument("--grid-samples", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    p.add_argument(
        "--baselines", default="", help="comma-separated: diffpir, pscgan (digits deblur only)"
    )
    p.add_argument("--diffpir-zeta", default="0,0.3,0.6,1", help="DiffPIR ζ values (a curve)")
    p.add_argument(
        "--diffpir-lambda", type=float, default=1.75,
        help="DiffPIR λ in ρ_t = λ σ_y² / σ̄_t², σ_y in [-1, 1] units (1.75 = the reference code's 7)",
    )  # fmt: skip
    p.add_argument("--diffpir-steps", type=int, default=100)
    return p


def _check_factor(size: int, task: Task) -> None:
    if size % task.factor:
        raise UsageError(
            f"--patch-size: image size {size} is not divisible by the SR factor "
            f"{task.factor} of task {task.name}"
        )


def _validate(args) -> None:
    args.etas = _parse_etas(args.eta)
    if not (args.sigma_y > 0 and math.isfinite(args.sigma_y)):
        raise UsageError(f"--sigma-y: expected a number > 0, got {args.sigma_y:g}")
    if args.prior not in PRIORS:
        if not Path(os.path.expanduser(args.prior)).is_dir():
            raise UsageError(
                f"--prior: unknown prior {args.prior!r}; expected one of {sorted(PRIORS)} or "
                "the folder of a UNet2DModel checkpoint"
            )
        if args.weights is not None:
            raise UsageError("--weights: not used with --prior PATH (the folder is the weights)")
        args.weights = os.path.expanduser(args.prior)
        register_prior(
            args.prior, _load_unet, help=f"UNet2DModel checkpoint {args.prior}", data="patches"
        )
    entry = PRIORS[args.prior]
    task = TASKS[args.task]
    if args.patch_size is not None and args.patch_size < 1:
        raise UsageError(f"--patch-size: expected an integer >= 1, got {args.patch_size}")
    if args.patch_size is not None:
        _check_factor(args.patch_size, task)
    for name in ("n_images", "samples_per_image", "ref_samples", "image_batch"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')}: expected an integer >= 1")
    if args.samples_per_image < 2:
        raise UsageError("--samples-per-image: expected >= 2 (standard errors need two)")
    if args.pool_size < 2:
        raise UsageError("--pool-size: expected an integer >= 2")
    if args.seed < 0 or args.image_seed < 0:
        raise UsageError("--seed/--image-seed: expected integers >= 0")
    if args.schedule == "linear" and not 1 <= args.steps <= 1000:
        raise UsageError(f"--steps: expected 1..1000 with --schedule linear, got {args.steps}")
    if args.schedule == "fixed-horizon" and args.steps < 1:
        raise UsageError(f"--steps: expected an integer >= 1, got {args.steps}")
    if args.guidance == "exact" and not entry.exact:
        raise UsageError(f"--guidance exact: prior {args.prior!r} has no exact posterior")
    if args.guidance == "dps" and args.variance == "exact":
        raise UsageError("--variance exact needs the posterior Hessian: use --guidance exact")
    if args.guidance == "dps" and args.start == "exact":
        raise UsageError("--start exact needs the exact law of x_T | y: use --guidance exact")
    if args.guidance == "exact" and (args.zeta is not None or args.zeta_table is not None):
        raise UsageError("--zeta/--zeta-table apply to --guidance dps only")
    if args.tune_zeta is not None:
        if args.guidance != "dps":
            raise UsageError("--tune-zeta tunes DPS: pass --guidance dps")
        if args.split != "fit":
            raise UsageError("--tune-zeta: ζ is chosen on fit images only: pass --split fit")
        try:
            args.zeta_grid = [float(v) for v in args.tune_zeta.split(",") if v.strip()]
        except ValueError as exc:
            raise UsageError(
                f"--tune-zeta: expected a comma-separated list, got {args.tune_zeta!r}"
            ) from exc
        if not args.zeta_grid or any(not (v > 0) for v in args.zeta_grid):
            raise UsageError("--tune-zeta: expected positive numbers")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device available")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads: expected an integer >= 1")
        torch.set_num_threads(args.threads)
    if args.max_abs <= 0:
        raise UsageError("--max-abs: expected a number > 0")
    if args.out is None:
        args.out = f"runs/restore-{args.task}-{args.guidance}-s{args.sigma_y:g}"
    if args.weights is None:
        args.weights = entry.default_weights
    if args.baselines:
        names = [b for b in args.baselines.split(",") if b]
        bad = [b for b in names if b not in BASELINES]
        if bad:
            raise UsageError(
                f"--baselines: unknown {bad[0]!r}; expected some of {sorted(BASELINES)}"
            )
        if "pscgan" in names and (entry.data != "digits" or args.task != "deblur"):
            raise UsageError(
                "--baselines pscgan: the shipped PSCGAN restores digits16 deblurring only "
                "(--prior digits16|gmm-digits16 --task deblur)"
            )
        if "diffpir" in names and entry.exact:
            pass  # DiffPIR runs over the exact GMM denoiser too
        args.baseline_list = names
    else:
        args.baseline_list = []
    try:
        args.diffpir_zetas = [float(v) for v in args.diffpir_zeta.split(",") if v.strip()]
    except ValueError as exc:
        raise UsageError(
            f"--diffpir-zeta: expected a comma-separated list, got {args.diffpir_zeta!r}"
        ) from exc
    if not args.diffpir_zetas or any(not 0.0 <= z <= 1.0 for z in args.diffpir_zetas):
        raise UsageError("--diffpir-zeta: expected values in [0, 1]")
    if not (args.diffpir_lambda > 0 and math.isfinite(args.diffpir_lambda)):
        raise UsageError("--diffpir-lambda: expected a number > 0")
    if args.guidance == "dps":
        args.zeta_value = _zeta_spec(args) if args.tune_zeta is None else None
    else:
        args.zeta_value = None


def _config(args) -> dict:
    """Everything that determines the numbers (compared on --resume)."""
    keys = (
        "task prior sigma_y etas guidance variance zeta_value dps_form n_images "
        "samples_per_image steps schedule start device dtype seed image_seed split patch_size "
        "ref_samples pool_size image_batch no_exact_reference max_abs baseline_list"
    ).split()
    cfg = {k: getattr(args, k) for k in keys}
    if isinstance(cfg["zeta_value"], dict):
        cfg["zeta_value"] = {str(k): v for k, v in sorted(cfg["zeta_value"].items())}
    cfg["weights"] = os.path.basename(str(args.weights))
    if args.tune_zeta is not None:
        cfg["zeta_grid"] = args.zeta_grid
    if not cfg["baseline_list"]:
        del cfg["baseline_list"]  # runs without baselines keep the config of earlier versions
    elif "diffpir" in cfg["baseline_list"]:
        cfg.update(
            diffpir_zetas=args.diffpir_zetas,
            diffpir_lambda=args.diffpir_lambda,
            diffpir_steps=args.diffpir_steps,
        )
    return cfg


# --------------------------------------------------------------------------- the run


def _schedules(args):
    from numerics.schedule import linear_schedule, respace

    if args.schedule == "fixed-horizon":
        base = linear_schedule(args.steps, fixed_horizon=True)
        return base, base
    base = linear_schedule(1000)
    return base, (respace(base, args.steps) if args.steps < base.T else base)


def _seed(*parts) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def _eta_key(eta: float) -> int:
    return int(round(eta * 1_000_000))


class _Problem:
    """One test patch: clean x, measurement y, and (exact prior) the exact posterior."""

    def __init__(self, i, clean, source, args, op, A_rows, rows, prior, theta, run_sched):

        self.i, self.clean, self.source = i, clean, source
        d = clean.size
        rng_y = np.random.default_rng([args.seed, 1, i])
        Ax = op.A(torch.from_numpy(clean.reshape(1, *op.in_shape))).reshape(-1)
        y = Ax.numpy().astype(np.float64) + args.sigma_y * rng_y.standard_normal(Ax.shape[0])
        keep = np.zeros(y.shape[0], dtype=bool)
        keep[rows] = True
        y[~keep] = 0.0  # entries A never reads carry no information: measured as 0
        self.y = y
        self.exact = hasattr(prior, "gmm")
        if not self.exact:
            return
        self.post, self.dropped_mass = pruned_posterior(prior.gmm, A_rows, args.sigma_y, y[rows], floor=WEIGHT_FLOOR)
        wk = self.post.weights
        kept = np.arange(self.post.K)
        self.k_eff = int(kept.size)
        self.k_eff_1e3 = int(np.sum(wk >= 1e-3))
        self.m = self.post.mean()
        self.S = self.post.cov()
        self.mmse = float(np.trace(self.S))
        self.q_var_exact = squared_error_variance(self.post, self.m)
        rng_p = np.random.default_rng([args.seed, 2, i])
        self.ref = self.post.sample(args.ref_samples, rng_p)
        self.exact_set = self.post.sample(args.samples_per_image, rng_p)
        self.floor = sliced_w2(self.exact_set, self.ref, theta, rescale=True)
        dev = self.exact_set - self.m
        self.oracle = []
        for c in np.linspace(0.0, 1.0, 11):
            xs = self.m + c * dev
            P = sliced_w2(xs, self.ref, theta, rescale=True)
            self.oracle.append(
                dict(
                    c=float(c),
                    mse_post=self.mmse + float(np.mean(np.sum((c * dev) ** 2, axis=1))),
                    perception=P,
                )
            )
        self.d = d


def _predict(problem, eta, args, run_sched) -> float:
    """mse_post predicted by the exact Gaussian chain on N(m, S) under the run's rule."""
    from numerics.gaussian import eta_chain_moments

    mean, cov = eta_chain_moments(
        problem.m, problem.S, eta, run_sched, start=args.start, variance=args.variance
    )
    return problem.mmse + float(np.trace(cov)) + float(np.sum((mean - problem.m) ** 2))


def _image_record(problem, curves_out, args, theta, run_sched) -> dict:
    """Per-image, per-η metrics for every curve (samples: curve -> [n_eta, M, d])."""
    rec = dict(image=problem.i, source=problem.source)
    if problem.exact:
        rec.update(
            mmse=problem.mmse,
            k_eff=problem.k_eff,
            k_eff_1e3=problem.k_eff_1e3,
            dropped_mass=problem.dropped_mass,
            q_var_exact=problem.q_var_exact,
            perception_floor=problem.floor,
            oracle=problem.oracle,
        )
        pred = {eta: _predict(problem, eta, args, run_sched) for eta in args.etas}
    rec["curves"] = {}
    for curve, smp in curves_out.items():
        rows = []
        for e, eta in enumerate(args.etas):
            X = smp[e].astype(np.float64)
            err = np.sum((X - problem.clean.reshape(1, -1)) ** 2, axis=1)
            psnr, ssim = _psnr_ssim(X, problem.clean)
            row = dict(
                eta=eta,
                mse=float(err.mean()),
                mse_var=float(err.var(ddof=1)),
                psnr=float(psnr.mean()),
                ssim=float(ssim.mean()),
            )
            if problem.exact:
                q = np.sum((X - problem.m) ** 2, axis=1)
                P = sliced_w2(X, problem.ref, theta, rescale=True)
                D = float(dp_function(problem.mmse, P))
                mse_post = problem.mmse + float(q.mean())
                row.update(
                    mse_post=mse_post,
                    q_var=float(q.var(ddof=1)),
                    pred_mse_post=pred[eta],
                    perception=P,
                    dp_bound=D,
                    excess=mse_post - D,
                )
            rows.append(row)
        rec["curves"][curve] = rows
    _check_finite(rec, f"image {problem.i}")
    return rec


def _check_finite(obj, where):
    if isinstance(obj, dict):
        for v in obj.values():
            _check_finite(v, where)
    elif isinstance(obj, list):
        for v in obj:
            _check_finite(v, where)
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise RuntimeError(f"non-finite metric for {where}; nothing written for it")


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _generators(args, images, etas, M):
    return [
        torch.Generator().manual_seed(_seed(args.seed, i, _eta_key(eta), j))
        for i in images
        for eta in etas
        for j in range(M)
    ]


def _run_unit(problems, curve, args, prior, op, base_sched, run_sched, bar, zeta=None):
    """Sample every (image, η, j) of a unit with one curve; returns [n_img, n_eta, M, d]."""
    from diffusion.guidance import DPSGuidance, ExactGuidance
    from diffusion.priors.gmm_image import GMMImagePrior
    from diffusion.sampler import DivergenceError, sample

    M, E = args.samples_per_image, len(args.etas)
    shape = (1, args.patch_size, args.patch_size)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    device = torch.device(args.device)
    steps = run_sched.T
    etas_t = torch.tensor([eta for eta in args.etas for _ in range(M)], dtype=torch.float64)

    def cb(i, t, x, x0):
        if bar is not None and x0 is not None:
            bar.update(n_per_call)

    outs = []
    try:
        if curve == "exact":
            n_per_call = E
            for pb in problems:
                post = GMMImagePrior(pb.post, base_sched)
                g = ExactGuidance(post)
                gens = _generators(args, [pb.i], args.etas, M)
                x = sample(
                    None, (E * M, *shape), run_sched, eta=etas_t, guidance=g, variance=args.variance,
                    start=args.start, generator=gens, callback=cb, dtype=dtype, device=device,
                    max_abs=args.max_abs,
                )  # fmt: skip
                outs.append(x.reshape(E, M, -1).cpu().double().numpy())
        else:
            n_per_call = E * len(problems)
            ys = torch.stack(
                [
                    torch.from_numpy(pb.y).reshape(op.out_shape)
                    for pb in problems
                    for _ in range(E * M)
                ]
            )
            form = args.dps_form
            g = DPSGuidance(
                op, ys, args.zeta_value if zeta is None else zeta, form=form,
                sigma_y=args.sigma_y if form == "likelihood" else None,
                scale_by_beta=(form == "likelihood"),
            )  # fmt: skip
            gens = _generators(args, [pb.i for pb in problems], args.etas, M)
            x = sample(
                prior, (len(gens), *shape), run_sched, eta=etas_t.repeat(len(problems)), guidance=g,
                variance=args.variance, generator=gens, callback=cb, dtype=dtype, device=device,
                max_abs=args.max_abs,
            )  # fmt: skip
            outs = list(x.reshape(len(problems), E, M, -1).detach().cpu().double().numpy())
    except DivergenceError as exc:
        who = ", ".join(str(pb.i) for pb in problems)
        raise DivergedError(
            f"{curve} guidance diverged on image(s) {who} at reverse step k={exc.k} of {steps} "
            f"(model time t={exc.t_model}): {str(exc).split(': ', 1)[-1]}"
        ) from exc
    return outs


def _machine() -> dict:
    return dict(
        cpu=platform.processor() or platform.machine(),
        cores=os.cpu_count(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        python=platform.python_version(),
    )


def clean_images(data: str, role: str, n: int, *, size: int, seed: int):
    """``n`` clean images of one data set for one role, and their sources (or digit labels).

    Roles: ``"test"`` (restored and reported), ``"fit"`` (ζ tuning: fit-split patches, or
    the validation digits), ``"pool"`` (the clean reference set of the dataset-level
    metrics: test-split patches of another seed, or the training digits) and ``"clean2"``
    (independent clean images, a reference value: test patches of a third seed, or the
    validation digits). Digits are drawn without replacement in a seeded permutation, so
    fewer images are a subset of more; asking for more than the split holds is an error.

    Returns
    -------
    images : (n, size, size) float64 array in [-1, 1]
    sources : (n,) str array (source photograph, or the digit's label)
    """
    if data == "digits":
        from diffusion.data.digits import digits16

        split = {"test": "test", "fit": "val", "pool": "train", "clean2": "val"}[role]
        x, labels = digits16(split)
        if size != 16:
            raise UsageError(f"--patch-size: digits are 16 x 16, got {size}")
        if n > x.shape[0]:
            if role in ("pool", "clean2"):
                n = x.shape[0]
            else:
                raise UsageError(f"--n-images: the {split} digits hold {x.shape[0]}, asked {n}")
        order = np.random.default_rng([int(seed), 11]).permutation(x.shape[0])[:n]
        return x[order], labels[order].astype(str)
    from diffusion.data.patches import patch_dataset

    split = {"test": "test", "fit": "fit", "pool": "test", "clean2": "test"}[role]
    offset = {"test": 0, "fit": 0, "pool": 1000, "clean2": 2000}[role]
    return patch_dataset(split, n, size=size, seed=seed + offset, return_sources=True)


def _setup(args):
    """Prior, operator, problems (lazy), metric directions."""
    base_sched, run_sched = _schedules(args)
    prior = PRIORS[args.prior].load(args, base_sched)
    if args.patch_size is None:
        args.patch_size = int(prior.patch_shape[-1])
        _check_factor(args.patch_size, TASKS[args.task])
    if tuple(prior.patch_shape) != (1, args.patch_size, args.patch_size):
        raise UsageError(
            f"--patch-size: {args.patch_size} does not match the prior's patches "
            f"{prior.patch_shape[1]}x{prior.patch_shape[2]}"
        )
    data = PRIORS[args.prior].data
    op = TASKS[args.task].make((1, args.patch_size, args.patch_size), data)
    A = op.as_matrix().numpy()
    rows = np.flatnonzero(np.any(A != 0.0, axis=1))
    # The first N of a fixed draw of max(N, 64): runs with fewer images use a subset.
    n_draw = max(args.n_images, 64)
    if data == "digits":
        n_draw = args.n_images  # a seeded permutation: fewer images are already a subset
    clean, sources = clean_images(
        data, args.split, n_draw, size=args.patch_size, seed=args.image_seed
    )
    clean, sources = clean[: args.n_images], sources[: args.n_images]
    theta = orthonormal_directions(args.patch_size**2, 1, [args.seed, 7])
    return (
        base_sched,
        run_sched,
        prior,
        op,
        A,
        rows,
        clean.reshape(args.n_images, -1),
        sources,
        theta,
    )


def _curves(args) -> list[str]:
    if args.guidance == "dps" and PRIORS[args.prior].exact and not args.no_exact_reference:
        return ["dps", "exact"]
    return [args.guidance]


def run(args) -> dict:
    """Run (or resume) the sweep described by parsed ``args``; returns the results dict."""
    out = Path(args.out)
    base_sched, run_sched, prior, op, A, rows, clean, sources, theta = _setup(args)
    cfg = _config(args)
    (out / "records").mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if not args.resume:
            raise UsageError(f"--out: {out} already holds a run; pass --resume or another --out")
        if old != json.loads(json.dumps(cfg)):
            diff = sorted(
                k for k in set(old) | set(cfg) if old.get(k) != json.loads(json.dumps(cfg)).get(k)
            )
            raise UsageError(f"--resume: settings differ from the run in {out}: {', '.join(diff)}")
    else:
        _write_json(cfg_path, cfg)
    curves = _curves(args)
    E, N = len(args.etas), args.n_images
    timing = dict(machine=_machine(), units=[])
    units = [list(range(s, min(s + args.image_batch, N))) for s in range(0, N, args.image_batch)]
    todo = [u for u in units if not all((out / "records" / f"{i:05d}.json").exists() for i in u)]
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(todo) * len(curves) * run_sched.T * E * len(todo[0]) if todo else 0,
            desc=f"{args.task} images x eta x steps",
            unit="step",
        )
    status, divergence = "complete", None
    for unit in todo:
        t0 = time.perf_counter()
        problems = [
            _Problem(i, clean[i], str(sources[i]), args, op, A[rows], rows, prior, theta, run_sched)
            for i in unit
        ]
        samples = {}
        try:
            for curve in curves:
                for pb, s in zip(
                    problems,
                    _run_unit(problems, curve, args, prior, op, base_sched, run_sched, bar),
                    strict=True,
                ):
                    samples.setdefault(pb.i, {})[curve] = s
        except DivergedError as exc:
            status, divergence = "diverged", str(exc)
            break
        for pb in problems:
            rec = _image_record(pb, samples[pb.i], args, theta, run_sched)
            sdir = out / "samples"
            sdir.mkdir(exist_ok=True)
            np.save(
                sdir / f"{pb.i:05d}.npy",
                np.stack([samples[pb.i][c] for c in curves]).astype(np.float32),
            )
            if pb.exact:
                np.save(sdir / f"{pb.i:05d}_exact.npy", pb.exact_set.astype(np.float32))
                np.save(sdir / f"{pb.i:05d}_mean.npy", pb.m.astype(np.float32))
            np.save(sdir / f"{pb.i:05d}_y.npy", pb.y.astype(np.float32))
            _write_json(out / "records" / f"{pb.i:05d}.json", rec)
        timing["units"].append(dict(images=unit, seconds=round(time.perf_counter() - t0, 2)))
    if bar is not None:
        bar.close()
    if status == "diverged":
        res = dict(config=cfg, status="diverged", divergence=divergence, machine=_machine())
        _write_json(out / "results.json", res)
        raise DivergedError(divergence)
    if args.baseline_list:
        t0 = time.perf_counter()
        _run_baselines(args, prior, op, out)
        timing["baselines_seconds"] = round(time.perf_counter() - t0, 2)
    res = _aggregate(args, cfg, curves, clean, sources, theta, op, out)
    _write_json(out / "results.json", res)
    tpath = out / "timing.json"
    old_units = json.loads(tpath.read_text())["units"] if (args.resume and tpath.exists()) else []
    timing["units"] = old_units + timing["units"]
    _write_json(tpath, timing)
    _plots(args, res, curves, clean, op, out)
    return res


def _oracle_mse_at(oracle, P: float) -> float:
    """MSE of the measured shrinkage curve at perception P.

    The curve is taken from c = 0 to the c of least measured P (beyond it the finite-sample
    bias makes P rise again), made monotone by a running minimum, and interpolated linearly
    in P; below its least P the value at that point is used (the oracle measures no lower),
    above P(c = 0) the MMSE.
    """
    Ps = np.array([o["perception"] for o in oracle])
    ms = np.array([o["mse_post"] for o in oracle])
    stop = int(np.argmin(Ps)) + 1
    Pb = np.minimum.accumulate(Ps[:stop])[::-1]
    mb = ms[:stop][::-1]
    return float(np.interp(P, Pb, mb))


def _aggregate(args, cfg, curves, clean, sources, theta, op, out) -> dict:
    data = PRIORS[args.prior].data
    N, M = args.n_images, args.samples_per_image
    recs = [json.loads((out / "records" / f"{i:05d}.json").read_text()) for i in range(N)]
    smp = [np.load(out / "samples" / f"{i:05d}.npy").astype(np.float64) for i in range(N)]
    exact = "mmse" in recs[0]
    pool = clean_images(data, "pool", args.pool_size, size=args.patch_size, seed=args.image_seed)[0]
    pool = pool.reshape(pool.shape[0], -1)
    res = dict(
        config=cfg,
        status="complete",
        machine=_machine(),
        task=TASKS[args.task].description,
        prior=dict(name=args.prior, help=PRIORS[args.prior].help),
        images=[dict(image=r["image"], source=r["source"]) for r in recs],
        metric_notes=(
            "mse, mse_post, mmse, dp_bound, excess: summed over the d pixels; perception = sqrt(d) * "
            "sliced W2 over one orthonormal basis; psnr/ssim per sample, range [-1, 1]"
        ),
        curves={},
    )
    if exact:
        mm = np.array([r["mmse"] for r in recs])
        res["posterior"] = dict(
            mmse=float(mm.mean()),
            k_eff_mean=float(np.mean([r["k_eff"] for r in recs])),
            k_eff_1e3_mean=float(np.mean([r["k_eff_1e3"] for r in recs])),
            dropped_mass_max=float(max(r["dropped_mass"] for r in recs)),
            perception_floor=float(np.mean([r["perception_floor"] for r in recs])),
        )
        res["oracle"] = [
            dict(
                c=recs[0]["oracle"][k]["c"],
                mse_post=float(np.mean([r["oracle"][k]["mse_post"] for r in recs])),
                perception=float(np.mean([r["oracle"][k]["perception"] for r in recs])),
            )
            for k in range(len(recs[0]["oracle"]))
        ]
    clean2 = clean_images(data, "clean2", N * M, size=args.patch_size, seed=args.image_seed)[0]
    clean2 = clean2.reshape(clean2.shape[0], -1)
    res["dataset_reference"] = dict(
        fd_clean=frechet_distance(clean2, pool, rank_safe=True),
        sw2_clean=sliced_w2(clean2, pool, theta, rescale=True),
        n=N * M,
        n_clean=int(clean2.shape[0]),
        pool=int(pool.shape[0]),
        **_digit_metrics(data, clean2, None, pool, "_clean"),
    )
    # What a perfect restorer (x_hat = x, M times) scores: the fair reference for sets of
    # N images x M samples, whose diversity is that of N images, not of N * M.
    truth = np.repeat(clean, M, axis=0)
    res["dataset_reference"].update(
        fd_truth=frechet_distance(truth, pool, rank_safe=True),
        sw2_truth=sliced_w2(truth, pool, theta, rescale=True),
        **_digit_metrics(data, truth, np.repeat(sources, M), pool, "_truth"),
    )
    if exact:
        ex = np.concatenate(
            [np.load(out / "samples" / f"{i:05d}_exact.npy").astype(np.float64) for i in range(N)]
        )
        res["dataset_reference"].update(
            fd_exact_posterior=frechet_distance(ex, pool, rank_safe=True),
            sw2_exact_posterior=sliced_w2(ex, pool, theta, rescale=True),
            **_digit_metrics(data, ex, np.repeat(sources, M), pool, "_exact_posterior"),
        )
    for c, curve in enumerate(curves):
        per_eta = []
        for e, eta in enumerate(args.etas):
            rows = [r["curves"][curve][e] for r in recs]
            row = dict(
                eta=eta,
                mse=float(np.mean([x["mse"] for x in rows])),
                mse_se=float(math.sqrt(sum(x["mse_var"] for x in rows) / M) / N),
                psnr=float(np.mean([x["psnr"] for x in rows])),
                ssim=float(np.mean([x["ssim"] for x in rows])),
            )
            if exact:
                tot_mmse = float(mm.sum())
                mp = np.array([x["mse_post"] for x in rows])
                row.update(
                    mmse=float(mm.mean()),
                    mse_post=float(mp.mean()),
                    ratio=float(mp.sum() / tot_mmse),
                    ratio_sd=float(math.sqrt(sum(x["q_var"] for x in rows) / M) / tot_mmse),
                    ratio_sd_exact=float(
                        math.sqrt(sum(r["q_var_exact"] for r in recs) / M) / tot_mmse
                    ),
                    pred_ratio=float(sum(x["pred_mse_post"] for x in rows) / tot_mmse),
                    perception=float(np.mean([x["perception"] for x in rows])),
                    perception_floor=res["posterior"]["perception_floor"],
                    dp_bound=float(np.mean([x["dp_bound"] for x in rows])),
                    excess=float(np.mean([x["excess"] for x in rows])),
                    excess_rel=float(sum(x["excess"] for x in rows) / tot_mmse),
                )
                # The shrinkage oracle measured with the same estimator (same M, same
                # reference set, same upward bias of P), read at the measured P.
                orc = [
                    _oracle_mse_at(r["oracle"], x["perception"])
                    for r, x in zip(recs, rows, strict=True)
                ]
                row.update(
                    oracle_mse_at_P=float(np.mean(orc)),
                    excess_oracle_rel=float((mp.sum() - sum(orc)) / tot_mmse),
                )
                # Images whose posterior is (to 1e-3) one Gaussian: where the Gaussian-chain
                # prediction applies exactly; the others show the mixture effect.
                one = [k for k, r in enumerate(recs) if r["k_eff_1e3"] == 1]
                if one:
                    mm1 = float(mm[one].sum())
                    row.update(
                        n_unimodal=len(one),
                        ratio_unimodal=float(sum(rows[k]["mse_post"] for k in one) / mm1),
                        ratio_unimodal_sd=float(
                            math.sqrt(sum(rows[k]["q_var"] for k in one) / M) / mm1
                        ),
                        ratio_unimodal_sd_exact=float(
                            math.sqrt(sum(recs[k]["q_var_exact"] for k in one) / M) / mm1
                        ),
                        pred_ratio_unimodal=float(sum(rows[k]["pred_mse_post"] for k in one) / mm1),
                    )
            R = np.concatenate([s[c, e] for s in smp])
            row.update(fd=frechet_distance(R, pool, rank_safe=True), sw2=sliced_w2(R, pool, theta, rescale=True))
            row.update(_digit_metrics(data, R, np.repeat(sources, M), pool, ""))
            per_eta.append(row)
        res["curves"][curve] = dict(per_eta=per_eta)
    if args.baseline_list:
        res["baselines"] = _baseline_metrics(args, clean, sources, theta, pool, out)
    _check_finite(res, "the aggregate")
    return res


def _digit_metrics(data, X, labels, pool, suffix: str) -> dict:
    """Classifier FD, KID and (with labels) accuracy of digit images ``X`` (n, 256)."""
    if data != "digits":
        return {}
    from diffusion.metrics.perception import (
        classifier_accuracy,
        classifier_features,
        classifier_kid,
    )

    X = np.asarray(X, dtype=np.float64)
    out = {f"kid{suffix}": float(classifier_kid(X, pool, seed=0))}
    if X.shape[0] > 64:
        # FD of the 64 classifier features. The rank-safe route, not perception.classifier_fd:
        # a deterministic restorer (η = 0 with the exact score, PSCGAN at σ_z = 0) gives the
        # same image for every sample of a digit, so fewer than 65 distinct images and a
        # singular covariance, where the square root must clip rounding-negative eigenvalues.
        out[f"cfd{suffix}"] = frechet_distance(classifier_features(X), classifier_features(pool), rank_safe=True)
    if labels is not None:
        out[f"accuracy{suffix}"] = classifier_accuracy(X, np.asarray(labels).astype(int))
    return out


# --------------------------------------------------------------------------- figures


def _plots(args, res, curves, clean, op, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = args.patch_size
    n_show = min(args.grid_images, args.n_images)
    G = min(args.grid_samples, args.samples_per_image)
    E = len(args.etas)
    bcols = []  # (title, [N, M, d] samples): one column per baseline, its most stochastic point
    for name, rows in res.get("baselines", {}).items():
        pick = rows[-1] if name == "diffpir" else next(r for r in rows if r["key"] == "n1_sz1")
        lab = f"DiffPIR ζ={pick['zeta']:g}" if name == "diffpir" else "PSCGAN N=1"
        bcols.append((lab, np.load(out / "baselines" / f"{name}_{pick['key']}.npy")))
    for c, curve in enumerate(curves):
        ncol = 2 + E + len(bcols) + (1 if "posterior" in res else 0)
        fig, axes = plt.subplots(
            n_show * G, ncol, figsize=(0.9 * ncol, 0.9 * n_show * G), squeeze=False
        )
        for a in axes.ravel():
            a.axis("off")
        for i in range(n_show):
            smp = np.load(out / "samples" / f"{i:05d}.npy")[c]
            y = np.load(out / "samples" / f"{i:05d}_y.npy").reshape(op.out_shape)[0]
            for g in range(G):
                r = i * G + g
                if g == 0:
                    axes[r, 0].imshow(clean[i].reshape(s, s), cmap="gray", vmin=-1, vmax=1)
                    axes[r, 1].imshow(y, cmap="gray", vmin=-1, vmax=1)
                    if "posterior" in res:
                        mean = np.load(out / "samples" / f"{i:05d}_mean.npy")
                        axes[r, -1].imshow(mean.reshape(s, s), cmap="gray", vmin=-1, vmax=1)
                for e in range(E):
                    axes[r, 2 + e].imshow(smp[e, g].reshape(s, s), cmap="gray", vmin=-1, vmax=1)
                for b, (_, arr) in enumerate(bcols):
                    axes[r, 2 + E + b].imshow(arr[i, g].reshape(s, s), cmap="gray", vmin=-1, vmax=1)
        titles = ["clean", "y"] + [f"η={eta:g}" for eta in args.etas] + [t for t, _ in bcols]
        if "posterior" in res:
            titles.append("E[x|y]")
        for k, t in enumerate(titles):
            axes[0, k].set_title(t, fontsize=7)
        fig.suptitle(
            f"{args.task}, σ_y={args.sigma_y:g}, {curve} guidance, {args.variance}", fontsize=8
        )
        fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.3 / (0.9 * n_show * G)))
        fig.savefig(out / f"grid_{curve}.png", dpi=110)
        plt.close(fig)

    if "posterior" in res:
        _exact_dp_plot(args, res, curves, out)
    if "posterior" not in res or "baselines" in res:
        _dataset_dp_plot(
            args,
            res,
            curves,
            out / ("dp_curve_dataset.png" if "posterior" in res else "dp_curve.png"),
        )


def _exact_dp_plot(args, res, curves, out) -> None:
    """MSE given y against the exact-posterior perception: η-curves, oracle, D(P)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for curve in curves:
        pe = res["curves"][curve]["per_eta"]
        if "perception" not in pe[0]:
            continue
        P = [r["perception"] for r in pe]
        D = [r["mse_post"] for r in pe]
        ax.plot(P, D, "o-", label=f"{curve} guidance η-curve ({args.variance})")
        for r in pe:
            ax.annotate(f"{r['eta']:g}", (r["perception"], r["mse_post"]), fontsize=6)
    if "oracle" in res:
        P = [r["perception"] for r in res["oracle"]]
        ax.plot(P, [r["mse_post"] for r in res["oracle"]], "k--", label="shrinkage oracle")
        recs = [
            json.loads((out / "records" / f"{i:05d}.json").read_text())
            for i in range(args.n_images)
        ]
        mm = np.array([r["mmse"] for r in recs])
        grid = np.linspace(0.0, max(max(P), np.sqrt(mm).max()) * 1.05, 200)
        ax.plot(
            grid,
            [float(np.mean(dp_function(mm, p))) for p in grid],
            "k-",
            lw=1,
            label="D(P) (mean over images)",
        )
        ax.axvline(
            res["posterior"]["perception_floor"], color="gray", ls=":", label="perception floor"
        )
        ax.axhline(float(mm.mean()), color="gray", lw=0.5)
        ax.axhline(2 * float(mm.mean()), color="gray", lw=0.5, ls="--")
    ax.set_xlabel("perception P = √d · sliced W2 to the exact posterior")
    ax.set_ylabel("MSE given y (sum over pixels)")
    ax.set_title(f"{args.task}, σ_y={args.sigma_y:g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dp_curve.png", dpi=120)
    plt.close(fig)


def _dataset_dp_plot(args, res, curves, path) -> None:
    """MSE to the clean image against a dataset-level perception measure (Figs. 6, 10)."""
    import matplotlib.pyplot as plt

    digits = PRIORS[args.prior].data == "digits"
    pe0 = res["curves"][curves[0]]["per_eta"][0]
    key, xlab = ("fd", "Fréchet distance in pixel space")
    if digits:
        key, xlab = ("cfd", "Fréchet distance, digit-classifier features") if "cfd" in pe0 else (
            "kid", "KID, digit-classifier features")  # fmt: skip
    d = args.patch_size**2
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for curve in curves:
        pe = res["curves"][curve]["per_eta"]
        ax.plot([r[key] for r in pe], [r["mse"] / d for r in pe], "o-", label=f"ours ({curve}), η")
        for r in pe:
            ax.annotate(f"{r['eta']:g}", (r[key], r["mse"] / d), fontsize=6)
    for name, rows in res.get("baselines", {}).items():
        if name == "diffpir":
            ax.plot([r[key] for r in rows], [r["mse"] / d for r in rows], "s--", label="DiffPIR, ζ")
            for r in rows:
                ax.annotate(f"ζ={r['zeta']:g}", (r[key], r["mse"] / d), fontsize=6)
        else:
            for sel, lab, mk in (
                ([r for r in rows if r["sigma_z"] == 1.0], "PSCGAN, N averaged", "^-"),
                ([r for r in rows if r["n_avg"] == 1], "PSCGAN, σ_z (N = 1)", "v:"),
            ):
                sel = sorted(sel, key=lambda r: (r["n_avg"], r["sigma_z"]))
                ax.plot([r[key] for r in sel], [r["mse"] / d for r in sel], mk, label=lab)
    ref = res["dataset_reference"]
    M = args.samples_per_image
    ax.axvline(ref[f"{key}_truth"], color="gray", ls=":", label=f"perfect restorer (clean × {M})")
    if f"{key}_exact_posterior" in ref:
        ax.axvline(ref[f"{key}_exact_posterior"], color="k", ls="--", lw=0.8,
                   label=f"exact posterior samples (× {M})")  # fmt: skip
    ax.set_xlabel(xlab)
    ax.set_ylabel("MSE to the clean image (per pixel)")
    ax.set_title(f"{args.prior}, {args.task}, σ_y={args.sigma_y:g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def convergence_figure(run_dirs, path, *, eta: float = 1.0) -> Path:
    """MSE(η)/MMSE against the number of steps T for finished runs (one point per run).

    Runs are grouped by (schedule, variance); each group is drawn with its measured ratio
    (± 1 sd from the samples) and the Gaussian-chain prediction ``pred_ratio``. The
    horizontal line is the target 1 + η of Theorem 1.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict = {}
    for d in run_dirs:
        res = json.loads((Path(d) / "results.json").read_text())
        cfg = res["config"]
        row = next(r for r in res["curves"]["exact"]["per_eta"] if r["eta"] == eta)
        key = (cfg["schedule"], cfg["variance"])
        groups.setdefault(key, []).append(
            (cfg["steps"], row["ratio"], row["ratio_sd"], row["pred_ratio"])
        )
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for (sched, var), pts in sorted(groups.items()):
        pts.sort()
        T, r, sd, pr = (np.array(v) for v in zip(*pts, strict=True))
        line = ax.errorbar(T, r, yerr=sd, fmt="o", capsize=2, label=f"{sched}, {var}: measured")
        ax.plot(T, pr, "--", color=line[0].get_color(), label=f"{sched}, {var}: Gaussian chain")
    ax.axhline(1 + eta, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("steps T")
    ax.set_ylabel(f"MSE(η={eta:g}) / MMSE")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- ζ tuning


def tune_zeta(args) -> dict:
    """Choose ζ(η) on fit-split patches: per η, the stable ζ of least mean excess over D(P)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base_sched, run_sched, prior, op, A, rows, clean, sources, theta = _setup(args)
    problems = [
        _Problem(i, clean[i], str(sources[i]), args, op, A[rows], rows, prior, theta, run_sched)
        for i in range(args.n_images)
    ]
    table = {}
    for zeta in args.zeta_grid:
        try:
            smp = []
            for s in range(0, len(problems), args.image_batch):
                smp += _run_unit(
                    problems[s : s + args.image_batch],
                    "dps",
                    args,
                    prior,
                    op,
                    base_sched,
                    run_sched,
                    None,
                    zeta=zeta,
                )
        except DivergedError as exc:
            table[str(zeta)] = dict(diverged=str(exc))
            print(f"zeta={zeta:g}: diverged ({exc})", file=sys.stderr, flush=True)
            continue
        per_eta = []
        for e, eta in enumerate(args.etas):
            ex, mp, P = [], [], []
            for pb, s in zip(problems, smp, strict=True):
                X = s[e]
                if not pb.exact:  # no posterior: the criterion is the MSE to the clean image
                    ex.append(float(np.mean(np.sum((X - pb.clean.reshape(1, -1)) ** 2, axis=1))))
                    continue
                p = sliced_w2(X, pb.ref, theta, rescale=True)
                m = pb.mmse + float(np.mean(np.sum((X - pb.m) ** 2, axis=1)))
                ex.append(m - float(dp_function(pb.mmse, p)))
                mp.append(m / pb.mmse)
                P.append(p)
            per_eta.append(
                dict(eta=eta, excess=float(np.mean(ex)))
                if not mp
                else dict(
                    eta=eta,
                    excess=float(np.mean(ex)),
                    ratio=float(np.mean(mp)),
                    perception=float(np.mean(P)),
                )
            )
        table[str(zeta)] = dict(per_eta=per_eta)
        print(
            f"zeta={zeta:g}: " + " ".join(f"{r['eta']:g}:{r['excess']:.3g}" for r in per_eta),
            file=sys.stderr,
            flush=True,
        )
    chosen = {}
    for e, eta in enumerate(args.etas):
        best = min(
            ((v["per_eta"][e]["excess"], float(z)) for z, v in table.items() if "per_eta" in v),
            default=None,
        )
        if best is not None:
            chosen[str(eta)] = best[1]
    res = dict(
        config=_config(args),
        chosen=chosen,
        grid=table,
        criterion=(
            "least mean excess over D(P) per eta, among zeta whose whole eta batch did not diverge"
            if PRIORS[args.prior].exact
            else "least mean MSE to the clean image per eta (no exact posterior), among zeta "
            "whose whole eta batch did not diverge"
        ),
    )
    _write_json(out / "zeta_table.json", res)
    return res


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _validate(args)
        if args.tune_zeta is not None:
            tune_zeta(args)
            return 0
        run(args)
    except UsageError as exc:
        print(f"restore: error: {exc}", file=sys.stderr)
        return 2
    except DivergedError as exc:
        print(f"restore: diverged: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
