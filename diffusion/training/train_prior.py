r"""Train a small ``UNet2DModel`` ε-prior on offline images: ``python -m diffusion.train_prior``.

Loss: denoising score matching in the ε-parametrisation (Ho et al. 2020, "L_simple") on the
paper's VP schedule (T = 1000, β from 1e-4 to 0.02),

.. math::

    L(\theta) = E_{x_0, t, \varepsilon}\,\big\|\varepsilon - \varepsilon_\theta(
    \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon,\ t - 1)\big\|^2 / D,
    \qquad t \sim U\{1, \dots, 1000\},\ \varepsilon \sim N(0, I),

averaged over the D pixels (the network reads diffusers' time index t - 1, see
:mod:`diffusion.priors.unet`; the loss is :func:`diffusion.training.dsm.dsm_loss`, the loop
:mod:`diffusion.training.prior_trainer`). AdamW (weight decay 0, β = (0.9, 0.999)), learning rate warmed up
linearly over ``--warmup`` iterations and then constant, gradient norm clipped at 1.

**EMA.** The shipped weights are an exponential moving average of the iterates, decay
:math:`d_n = \min(0.999, (1 + n)/(10 + n))` after iteration n (the warm-up of diffusers'
``EMAModel``; 0.999 reached after ~9,000 iterations, so short runs average over their
last ~n/9 iterations rather than drag in their first ones).

**Data** (:func:`diffusion.data.image_sets.load_training_data`). ``digits16``: the 1258
training digits of :func:`diffusion.data.digits.digits16` (16 x 16, no flips: a mirrored 2
or 7 is not a digit). ``patches32``: ``--n-patches`` (default 20,000) 32 x 32 patches of the
fit photographs (:func:`diffusion.data.patches.patch_dataset`), with random horizontal flips.
``patches32rgb``: the same with RGB patches of the colour fit photographs (3 channels).
Batches are drawn with replacement.

**Randomness.** One seeded ``torch.Generator`` draws every batch index, flip, t and ε; the
initial weights come from ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the
global generator is left as it was). On the CPU with a fixed thread count a run is
reproducible, and resuming is bit-identical to an uninterrupted run. ``--device cuda`` trains
on the GPU with the same CPU-drawn batches (so a run can move between CPU and GPU when
resumed; each call's device is recorded under ``runs`` in ``train_config.json``); GPU
arithmetic is not bit-identical to the CPU's.

**Outputs in --out DIR** (every file written to a temporary file and renamed, so a kill
never leaves a truncated one). ``checkpoint.pt`` (network, EMA, optimizer, step, generator
state as a tensor, log; written every ``--ckpt-minutes`` and at the end; only tensors and
plain containers, see :mod:`diffusion.training.checkpoint`); the EMA network by
``save_pretrained`` (``config.json``, ``diffusion_pytorch_model.safetensors``, float32),
rewritten at every checkpoint; ``train_config.json`` (data and training settings, git commit,
iterations, speed, whether the run finished); ``train_log.csv`` (``iteration, loss_mean,
elapsed_s``: the mean loss over each window of ``--log-every`` = 100 iterations).

**Resume.** Automatic: if ``DIR/checkpoint.pt`` exists the run continues from it (its
settings must match, else exit 2); ``--fresh`` starts over. The checkpoint is loaded with
``torch.load(weights_only=True)`` only: a file holding anything else (such as a pickle that
would run code), a truncated or a foreign file is refused with one line and exit 2, and
nothing in it is run. ``--iters N`` is the total
number of iterations (a resumed run stops at N); ``--minutes M`` bounds this invocation's
wall time. Either or both; with neither, 5 minutes.

**Samples figure.** ``--samples-figure PNG`` draws 64 samples of the prior in ``--out``
(η = 1, no guidance, ``--sample-steps`` = 250 respaced steps) beside 64 real test images,
without training (colour sets in colour).

**Quality** (patch sets). ``--fd-report JSON`` draws ``--fd-n`` samples (η = 1,
``--sample-steps``, clipped to [-1, 1]) and writes their Fréchet distances to as many
held-out test patches beside the floor (as many fit patches, and another set of held-out
patches) and a trivial baseline (the Gaussian with the training patches' mean and
covariance), :mod:`diffusion.training.prior_quality`; with ``--samples-figure`` too, the
figure shows the first 64 of the same samples.

Examples (the shipped weights: see ``diffusion/weights/README.md``)::

    python -m diffusion.train_prior --data digits16 --minutes 10 --out diffusion/weights/unet_digits16
    python -m diffusion.train_prior --data digits16 --out diffusion/weights/unet_digits16 \
        --samples-figure docs/figures/learned/digits16_samples.png
    python -m diffusion.train_prior --data patches32rgb --out diffusion/weights/unet_patches32rgb \
        --fd-report fd.json --fd-n 500 --sample-steps 50

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. P. Vincent, "A connection between score matching and denoising autoencoders", Neural
   Computation 23 (2011).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from diffusion.data.image_sets import load_training_data
from diffusion.priors.unet import PRIOR_SHAPES, load_unet_prior
from diffusion.training.ema import ema_decay_at
from diffusion.training.outputs import check_out_dir, check_out_file, minutes_float
from diffusion.training.prior_quality import fd_table, gaussian_draws
from diffusion.training.prior_trainer import train
from numerics.cli import (
    ArgumentParser,
    UsageError,
    fail,
    positive_float,
    positive_int,
    seed_int,
)
from numerics.io import atomic_write, write_json

__all__ = [
    "DATASETS",
    "UsageError",
    "build_parser",
    "draw_samples",
    "ema_decay_at",
    "load_training_data",
    "main",
    "samples_figure",
    "train",
]

#: Training sets: name -> image shape [C, H, W].
DATASETS: dict[str, tuple[int, int, int]] = dict(PRIOR_SHAPES)

PROG = "python -m diffusion.train_prior"


def draw_samples(prior, n: int, *, steps: int = 250, eta: float = 1.0, seed=0):
    """``n`` samples of the prior (no guidance), tensor ``[n, C, H, W]`` on the CPU.

    ``steps`` respaced sampler steps, variance scale ``eta``, the sampler's generator seeded
    with ``seed``.
    """
    from diffusion.sampler import sample

    C, H, W = prior.image_shape
    x = sample(
        prior,
        (n, C, H, W),
        prior.schedule.schedule,
        eta=eta,
        steps=steps,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
        device=next(prior.unet.parameters()).device,
    )
    return x.cpu()


def samples_figure(
    prior, real, path, *, n: int = 64, steps: int = 250, eta: float = 1.0, seed=0, samples=None
):
    """Save a PNG of ``n`` prior samples (left) beside ``n`` real images (right).

    Parameters
    ----------
    prior : diffusion.priors.unet.UNetPrior
    real : (n, H, W) or (n, C, H, W) array in [-1, 1] (C = 1 grey, 3 colour)
    path : output PNG (written atomically)
    n : int
        A square number (64: 8 x 8 grids).
    steps : int
        Respaced sampler steps.
    eta : float
        Variance scale of the sampler (1: the DDPM law).
    seed : int
        Seed of the sampler's generator.
    samples : tensor [>= n, C, H, W], optional
        Samples drawn already (their first ``n`` are shown; ``steps``, ``eta`` and ``seed``
        then only label the figure).

    Returns
    -------
    samples : tensor [n, C, H, W]
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = int(round(math.sqrt(n)))
    if k * k != n:
        raise ValueError(f"n: expected a square number, got {n}")
    C, H, W = prior.image_shape
    if samples is None:
        x = draw_samples(prior, n, steps=steps, eta=eta, seed=seed)
    else:
        x = torch.as_tensor(samples)[:n].cpu()
    real = np.asarray(real, dtype=np.float64)[:n].reshape(n, C, H, W)

    def grid(a):
        # [n, C, H, W] -> (k (H + 2), k (W + 2)) grey, or (..., 3) colour, in [0, 1]
        a = (np.asarray(a, dtype=np.float64).reshape(k, k, C, H, W) + 1.0) / 2.0
        pad = np.full((k, k, C, H + 2, W + 2), 1.0)
        pad[..., 1:-1, 1:-1] = a
        g = pad.transpose(0, 3, 1, 4, 2).reshape(k * (H + 2), k * (W + 2), C)
        return g[..., 0] if C == 1 else g

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
    panels = (
        (axes[0], x.clamp(-1, 1).numpy(), f"samples (eta = {eta:g}, {steps} steps)"),
        (axes[1], real, "real test images"),
    )
    for ax, img, title in panels:
        ax.imshow(grid(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return x


# --------------------------------------------------------------------------- command line


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Train a UNet2DModel epsilon-prior (DSM, EMA, resumable) on offline images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="digits16, patches32 or patches32rgb (required)")
    p.add_argument("--minutes", type=minutes_float, default=None,
                   help="wall-time budget of this run in minutes (None: no budget)")  # fmt: skip
    p.add_argument("--iters", type=positive_int, default=None,
                   help="total iterations, resume stops here (None: no limit)")  # fmt: skip
    p.add_argument("--batch", type=positive_int, default=64, help="images per training batch")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak Adam learning rate")
    p.add_argument("--warmup", type=int, default=100, help="linear lr warm-up iterations")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of data order, noise and weights")
    p.add_argument("--out", default=None, help="output folder (None: out/train_prior/DATA)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads")
    p.add_argument("--channels", default="32,64,64", help="UNet block_out_channels")
    p.add_argument("--layers-per-block", type=positive_int, default=1, help="UNet layers_per_block")
    p.add_argument("--n-patches", type=positive_int, default=20000,
                   help="patches32 / patches32rgb training patches")  # fmt: skip
    p.add_argument(
        "--ema-decay",
        type=float,
        default=0.999,
        help="decay of the weights' exponential moving average",
    )
    p.add_argument(
        "--log-every",
        type=positive_int,
        default=100,
        help="log the loss every this many iterations",
    )
    p.add_argument(
        "--ckpt-minutes", type=minutes_float, default=3.0, help="minutes between checkpoints"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    p.add_argument("--fresh", action="store_true", help="ignore a checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--samples-figure",
        default=None,
        help="PNG: samples of the prior in --out, no training (None: train)",
    )
    p.add_argument(
        "--sample-steps", type=positive_int, default=250,
        help="reverse steps of --samples-figure and --fd-report",
    )  # fmt: skip
    p.add_argument(
        "--fd-report", default=None,
        help="JSON: Frechet distances of the prior's samples in --out to held-out patches, "
        "no training (None: train)",
    )  # fmt: skip
    p.add_argument("--fd-n", type=positive_int, default=500,
                   help="samples (and real patches per set) of --fd-report")  # fmt: skip
    return p


def _check_args(a) -> tuple[int, ...]:
    """The checks argparse's converters cannot make alone; returns the channels."""
    if a.data not in DATASETS:
        raise UsageError(f"--data: expected one of {', '.join(DATASETS)}, got {a.data!r}")
    if a.warmup < 0:
        raise UsageError(f"--warmup: expected an integer >= 0, got {a.warmup}")
    if not (0.0 <= a.ema_decay < 1.0):
        raise UsageError(f"--ema-decay: expected a number in [0, 1), got {a.ema_decay}")
    if a.n_patches < a.batch:
        raise UsageError(f"--n-patches: expected at least --batch={a.batch}, got {a.n_patches}")
    try:
        ch = tuple(int(c) for c in a.channels.split(","))
    except ValueError:
        raise UsageError(
            f"--channels: expected comma-separated integers, got {a.channels!r}"
        ) from None
    S = DATASETS[a.data][1]
    if not ch or any(c < 8 or c % 8 for c in ch) or S % (2 ** (len(ch) - 1)):
        raise UsageError(
            f"--channels: expected multiples of 8 with 2**(levels-1) dividing {S}, got {a.channels!r}"
        )
    if a.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if a.fd_report and a.data == "digits16":
        raise UsageError("--fd-report: measured on photograph patches (patches32, patches32rgb)")
    if a.fd_report and a.fd_n < 64 and a.samples_figure:
        raise UsageError(f"--fd-n: expected at least 64 with --samples-figure, got {a.fd_n}")
    return ch


def _draw_samples(a, out: Path) -> None:
    """``--samples-figure`` (64 samples of the prior in ``out`` beside 64 test images) and
    ``--fd-report`` (module notes)."""
    try:
        prior = load_unet_prior(out, image_shape=DATASETS[a.data], device=a.device)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--out: {exc}") from None
    colour = a.data == "patches32rgb"
    samples = None
    if a.fd_report:
        samples = draw_samples(prior, a.fd_n, steps=a.sample_steps, seed=a.seed).clamp(-1, 1)
        _fd_report(a, samples.double().numpy(), colour)
    if not a.samples_figure:
        return
    if a.data == "digits16":
        from diffusion.data.digits import digits16

        real = digits16("test")[0][:64]
    else:
        from diffusion.data.patches import patch_dataset

        real = patch_dataset("test", 64, size=32, colour=colour)
    samples_figure(
        prior, real, a.samples_figure, steps=a.sample_steps, seed=a.seed, samples=samples
    )
    print(f"wrote {a.samples_figure}")


def _fd_report(a, samples: np.ndarray, colour: bool) -> None:
    """``--fd-report``: the table of :func:`fd_table` for the samples, the floor and the
    Gaussian baseline, written as JSON and printed."""
    from diffusion.data.patches import patch_dataset

    n = a.fd_n
    shape = (n, *DATASETS[a.data])
    held_out = patch_dataset("test", n, size=32, seed=0, colour=colour).reshape(shape)
    train_data = load_training_data(a.data, n_patches=a.n_patches)[0].double().numpy()
    sets = {
        "model samples": samples,
        "floor: fit patches (seed 1)": patch_dataset(
            "fit", n, size=32, seed=1, colour=colour
        ).reshape(shape),
        "floor: held-out patches (seed 1)": patch_dataset(
            "test", n, size=32, seed=1, colour=colour
        ).reshape(shape),
        "baseline: Gaussian of the training patches": gaussian_draws(train_data, n, seed=a.seed),
    }
    table = fd_table(sets, held_out)
    report = {
        "data": a.data,
        "prior": str(a.out),
        "n": n,
        "sample_steps": a.sample_steps,
        "eta": 1.0,
        "seed": a.seed,
        "reference": f"patch_dataset('test', {n}, size=32, seed=0, colour={colour})",
        "metric": "numerics.metrics.frechet_distance (rank-safe) of 2x2 and 4x4 block means",
        "command": _command(),
        "fd": table,
    }
    write_json(a.fd_report, report, indent=2)
    for name, row in table.items():
        cells = "   ".join(f"{k} {v:.4g}" for k, v in row.items())
        print(f"{name:45s} {cells}")
    print(f"wrote {a.fd_report}")


def _command() -> str | None:
    """The command line, when this process runs ``python -m diffusion.train_prior``."""
    if Path(sys.argv[0]).name in ("train_prior.py", "__main__.py"):
        return " ".join([PROG, *sys.argv[1:]])
    return None


def main(argv=None) -> int:
    try:
        a = build_parser().parse_args(argv)
        channels = _check_args(a)
        out = Path(a.out) if a.out else Path("out") / "train_prior" / a.data
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out: {out} is not a folder")
        if a.samples_figure or a.fd_report:
            if a.samples_figure:
                check_out_file(a.samples_figure, "--samples-figure")
            if a.fd_report:
                check_out_file(a.fd_report, "--fd-report")
        else:
            check_out_dir(out)
    except UsageError as exc:
        return fail(PROG, exc)
    torch.set_num_threads(a.threads)
    try:
        if a.samples_figure or a.fd_report:
            _draw_samples(a, out)
            return 0
        # The data split is the project's fixed one (seed 0), whatever the training --seed.
        data, flips, meta = load_training_data(a.data, n_patches=a.n_patches)
        res = train(
            data, out, channels=channels, layers_per_block=a.layers_per_block, iters=a.iters,
            minutes=a.minutes, batch=a.batch, lr=a.lr, warmup=a.warmup, seed=a.seed,
            flips=flips, ema_decay=a.ema_decay, log_every=a.log_every,
            ckpt_minutes=a.ckpt_minutes, fresh=a.fresh, progress=not a.no_progress,
            data_meta=meta, device=a.device, command=_command(),
        )  # fmt: skip
    except UsageError as exc:
        return fail(PROG, exc)
    except FloatingPointError as exc:  # the trainer's non-finite loss: a step size too large
        return fail(PROG, UsageError(f"--lr: training diverged ({exc}); try a smaller --lr"))
    except OSError as exc:
        return fail(PROG, UsageError(f"--out: cannot write in {out} ({exc})"))
    last = res["log"][-1][1] if res["log"] else float("nan")
    print(
        f"{res['step']} iterations ({'resumed' if res['resumed'] else 'fresh'}), "
        f"{res['it_per_s']:.2f} it/s, last logged loss {last:.4f}; saved to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
