r"""Train a small ``UNet2DModel`` ε-prior on offline images: ``python -m diffusion.train_prior``.

Loss: denoising score matching in the ε-parametrisation (Ho et al. 2020, "L_simple") on the
paper's VP schedule (T = 1000, β from 1e-4 to 0.02),

.. math::

    L(\theta) = E_{x_0, t, \varepsilon}\,\big\|\varepsilon - \varepsilon_\theta(
    \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon,\ t - 1)\big\|^2 / D,
    \qquad t \sim U\{1, \dots, 1000\},\ \varepsilon \sim N(0, I),

averaged over the D pixels (the network reads diffusers' time index t - 1, see
:mod:`diffusion.unet_prior`). AdamW (weight decay 0, β = (0.9, 0.999)), learning rate warmed up
linearly over ``--warmup`` iterations and then constant, gradient norm clipped at 1.

**EMA.** The shipped weights are an exponential moving average of the iterates, decay
:math:`d_n = \min(0.999, (1 + n)/(10 + n))` after iteration n (the warm-up of diffusers'
``EMAModel``; 0.999 reached after ~9,000 iterations, so short runs average over their
last ~n/9 iterations rather than drag in their first ones).

**Data.** ``digits16``: the 1258 training digits of :func:`diffusion.digits.digits16`
(16 x 16, no flips: a mirrored 2 or 7 is not a digit). ``patches32``: ``--n-patches``
(default 20,000) 32 x 32 patches of the fit photographs
(:func:`diffusion.images.patch_dataset`), with random horizontal flips. Batches are drawn
with replacement.

**Randomness.** One seeded ``torch.Generator`` draws every batch index, flip, t and ε; the
initial weights come from ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the
global generator is left as it was). On the CPU with a fixed thread count a run is
reproducible, and resuming is bit-identical to an uninterrupted run. ``--device cuda`` trains
on the GPU with the same CPU-drawn batches (so a run can move between CPU and GPU when
resumed; each call's device is recorded under ``runs`` in ``train_config.json``); GPU
arithmetic is not bit-identical to the CPU's.

**Outputs in --out DIR.** ``checkpoint.pt`` (network, EMA, optimizer, step, generator state,
log; written every ``--ckpt-minutes`` and at the end, atomically); the EMA network by
``save_pretrained`` (``config.json``, ``diffusion_pytorch_model.safetensors``, float32),
rewritten at every checkpoint; ``train_config.json`` (data and training settings, git commit,
iterations, speed, whether the run finished); ``train_log.csv`` (``iteration, loss_mean,
elapsed_s``: the mean loss over each window of ``--log-every`` = 100 iterations).

**Resume.** Automatic: if ``DIR/checkpoint.pt`` exists the run continues from it (its
settings must match, else exit 2); ``--fresh`` starts over. ``--iters N`` is the total
number of iterations (a resumed run stops at N); ``--minutes M`` bounds this invocation's
wall time. Either or both; with neither, 5 minutes.

**Samples figure.** ``--samples-figure PNG`` draws 64 samples of the prior in ``--out``
(η = 1, no guidance, ``--sample-steps`` = 250 respaced steps) beside 64 real test images,
without training.

Examples (the shipped weights: see ``diffusion/weights/README.md``)::

    python -m diffusion.train_prior --data digits16 --minutes 10 --out diffusion/weights/unet_digits16
    python -m diffusion.train_prior --data digits16 --out diffusion/weights/unet_digits16 \
        --samples-figure docs/figures/learned/digits16_samples.png

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
2. P. Vincent, "A connection between score matching and denoising autoencoders", Neural
   Computation 23 (2011).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from diffusion.priors.unet import PRIOR_SHAPES, build_unet, count_parameters, load_unet_prior
from numerics.schedule import linear_schedule

__all__ = [
    "DATASETS",
    "UsageError",
    "ema_decay_at",
    "load_training_data",
    "main",
    "samples_figure",
    "train",
]

#: Training sets: name -> image shape [C, H, W].
DATASETS: dict[str, tuple[int, int, int]] = dict(PRIOR_SHAPES)

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
CONFIG = "train_config.json"


class UsageError(ValueError):
    """A bad command-line argument (exit status 2, one line)."""


def ema_decay_at(n: int, decay: float = 0.999) -> float:
    """EMA decay after iteration ``n`` (1-based): :math:`\\min(d, (1 + n)/(10 + n))`.

    Examples
    --------
    >>> ema_decay_at(1), ema_decay_at(100_000)
    (0.18181818181818182, 0.999)
    """
    return min(decay, (1.0 + n) / (10.0 + n))


def load_training_data(name: str, *, n_patches: int = 20000, seed: int = 0):
    """Training images of a named set as a float32 tensor ``[N, 1, S, S]`` in [-1, 1].

    Returns
    -------
    data : tensor [N, 1, S, S]
    flips : bool
        Whether random horizontal flips are a valid augmentation.
    meta : dict
        Data settings for ``train_config.json``.
    """
    if name == "digits16":
        from diffusion.data.digits import digits16

        x, _ = digits16("train", seed=seed)
        meta = {"data": name, "source": "diffusion.digits.digits16('train')", "split_seed": seed}
        flips = False
    elif name == "patches32":
        from diffusion.data.patches import patch_dataset

        x = patch_dataset("fit", n_patches, size=32, seed=seed)
        meta = {
            "data": name,
            "source": f"diffusion.images.patch_dataset('fit', {n_patches}, size=32, seed={seed})",
            "n_patches": n_patches,
        }
        flips = True
    else:
        raise UsageError(f"--data: expected one of {', '.join(DATASETS)}, got {name!r}")
    data = torch.as_tensor(np.asarray(x, dtype=np.float32)).unsqueeze(1).contiguous()
    meta.update(n_images=int(data.shape[0]), shape=list(data.shape[1:]), flips=flips)
    return data, flips, meta


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_log(out: Path, rows: list[tuple[int, float, float]]) -> None:
    tmp = out / (LOG + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "loss_mean", "elapsed_s"])
        for it, loss, el in rows:
            w.writerow([it, f"{loss:.6f}", f"{el:.1f}"])
    os.replace(tmp, out / LOG)


def train(
    data: torch.Tensor,
    out,
    *,
    channels=(32, 64, 64),
    layers_per_block: int = 1,
    iters: int | None = None,
    minutes: float | None = None,
    batch: int = 64,
    lr: float = 1e-3,
    warmup: int = 100,
    seed: int = 0,
    flips: bool = False,
    ema_decay: float = 0.999,
    log_every: int = 100,
    ckpt_minutes: float = 3.0,
    fresh: bool = False,
    progress: bool = True,
    data_meta: dict | None = None,
    device: str | torch.device = "cpu",
) -> dict:
    """Train (or resume) a UNet ε-prior on ``data`` and save it into ``out``.

    Parameters
    ----------
    data : tensor [N, C, S, S] in [-1, 1]
    out : path
        Output folder (module notes); created if needed.
    channels, layers_per_block
        Network (:func:`diffusion.unet_prior.build_unet`).
    iters : int, optional
        Total iterations (a resumed run stops there).
    minutes : float, optional
        Wall-time budget of this call (checked between iterations).
    batch, lr, warmup, seed, flips, ema_decay, log_every, ckpt_minutes
        Module notes.
    fresh : bool
        Ignore an existing checkpoint.
    progress : bool
        tqdm bar.
    data_meta : dict, optional
        Data settings stored in ``train_config.json`` and checked on resume.
    device : str or torch.device
        Where the network, its EMA and the optimizer live ("cpu" or "cuda"). The batches are
        still drawn on the CPU by the seeded generator (so a run may resume on another device),
        then moved.

    Returns
    -------
    dict
        ``step`` (iterations done in total), ``losses`` (this call's per-iteration losses),
        ``log`` (rows of train_log.csv), ``it_per_s`` (this call), ``finished``, ``resumed``.

    Raises
    ------
    UsageError
        The checkpoint in ``out`` was made with other settings.
    """
    from tqdm.auto import tqdm

    if data.ndim != 4 or data.shape[2] != data.shape[3]:
        raise ValueError(f"data: expected [N, C, S, S], got {list(data.shape)}")
    if iters is None and minutes is None:
        minutes = 5.0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    N, C, S = int(data.shape[0]), int(data.shape[1]), int(data.shape[2])
    settings = {
        "channels": [int(c) for c in channels],
        "layers_per_block": int(layers_per_block),
        "in_channels": C,
        "sample_size": S,
        "batch": int(batch),
        "lr": float(lr),
        "warmup": int(warmup),
        "seed": int(seed),
        "flips": bool(flips),
        "ema_decay": float(ema_decay),
        "log_every": int(log_every),
        "data": data_meta or {"n_images": N},
    }

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = build_unet(S, tuple(channels), in_channels=C, layers_per_block=layers_per_block)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    unet = unet.to(device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    step, rows, window, elapsed_before, runs_before = 0, [], [0.0, 0], 0.0, []

    ckpt_path = out / CHECKPOINT
    resumed = False
    if ckpt_path.is_file() and not fresh:
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["settings"] != settings:
            diff = sorted(k for k in settings if ck["settings"].get(k) != settings[k])
            raise UsageError(
                f"--out: {ckpt_path} was made with other settings ({', '.join(diff)}); "
                "use another --out or --fresh"
            )
        unet.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["rng"])
        step, rows, window = ck["step"], [tuple(r) for r in ck["log"]], list(ck["window"])
        elapsed_before, runs_before = ck["elapsed_s"], list(ck.get("runs", []))
        resumed = True

    sched = linear_schedule(1000, 1e-4, 0.02)
    T = sched.T
    sab = torch.as_tensor(np.sqrt(sched.alpha_bar), dtype=torch.float32)
    somab = torch.as_tensor(np.sqrt(sched.one_minus_alpha_bar), dtype=torch.float32)
    data = data.to(torch.float32)
    params, ema_params = list(unet.parameters()), list(ema.parameters())

    def save(finished: bool, it_per_s: float) -> None:
        runs = [
            *runs_before,
            {
                "command": command,
                "from_iteration": step0,
                "to_iteration": step,
                "seconds": round(time.perf_counter() - t_start, 1),
                "it_per_s": round(it_per_s, 3),
                "threads": torch.get_num_threads(),
                "device": _device_name(device),
            },
        ]
        tmp = out / (CHECKPOINT + ".tmp")
        torch.save(
            {
                "settings": settings,
                "model": unet.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "rng": gen.get_state(),
                "step": step,
                "log": rows,
                "window": window,
                "elapsed_s": elapsed_before + (time.perf_counter() - t_start),
                "runs": runs,
            },
            tmp,
        )
        os.replace(tmp, ckpt_path)
        ema.save_pretrained(str(out), safe_serialization=True)
        _write_log(out, rows)
        cfg = {
            **settings,
            "parameters": count_parameters(unet),
            "loss": "mean over pixels of ||eps - eps_theta(x_t, t - 1)||^2, t ~ U{1..1000}",
            "schedule": {"T": T, "beta_start": 1e-4, "beta_end": 0.02, "kind": "linear"},
            "optimizer": "AdamW(betas=(0.9, 0.999), weight_decay=0), grad-norm clip 1",
            "ema": f"decay min({ema_decay}, (1+n)/(10+n)) after iteration n",
            "iterations": step,
            "train_seconds": round(elapsed_before + (time.perf_counter() - t_start), 1),
            "it_per_s_last_call": round(it_per_s, 3),
            "threads": torch.get_num_threads(),
            "finished": finished,
            "git_commit": _git_commit(),
            "runs": runs,
            "versions": {"torch": torch.__version__, "diffusers": _diffusers_version()},
        }
        (out / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")

    command = (
        " ".join(["python -m diffusion.train_prior", *sys.argv[1:]])
        if Path(sys.argv[0]).name in ("train_prior.py", "__main__.py")
        else None
    )
    losses: list[float] = []
    step0 = step
    t_start = time.perf_counter()
    last_ckpt = t_start
    budget = None if minutes is None else minutes * 60.0
    bar = tqdm(
        total=iters,
        initial=step,
        disable=not progress,
        desc="train_prior",
        mininterval=10.0,
        dynamic_ncols=True,
    )
    unet.train()
    while True:
        if iters is not None and step >= iters:
            break
        if budget is not None and time.perf_counter() - t_start >= budget:
            break
        idx = torch.randint(N, (batch,), generator=gen)
        x0 = data[idx]
        if flips:
            m = torch.rand(batch, generator=gen) < 0.5
            x0 = torch.where(m.view(-1, 1, 1, 1), x0.flip(-1), x0)
        t = torch.randint(1, T + 1, (batch,), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        x_t = sab[t].view(-1, 1, 1, 1) * x0 + somab[t].view(-1, 1, 1, 1) * eps
        if device.type != "cpu":
            x_t, t, eps = (v.to(device, non_blocking=True) for v in (x_t, t, eps))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warmup) if warmup > 0 else lr
        loss = (unet(x_t, t - 1).sample - eps).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        d = ema_decay_at(step, ema_decay)
        with torch.no_grad():
            for pe, p in zip(ema_params, params, strict=True):
                pe.lerp_(p, 1.0 - d)
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise FloatingPointError(f"training loss is {lv} at iteration {step}")
        losses.append(lv)
        window[0] += lv
        window[1] += 1
        if step % log_every == 0:
            rows.append(
                (step, window[0] / window[1], elapsed_before + time.perf_counter() - t_start)
            )
            window = [0.0, 0]
            _write_log(out, rows)
            bar.set_postfix(loss=f"{rows[-1][1]:.4f}", refresh=False)
        bar.update(1)
        if time.perf_counter() - last_ckpt >= ckpt_minutes * 60.0:
            el = time.perf_counter() - t_start
            save(False, (step - step0) / max(el, 1e-9))
            last_ckpt = time.perf_counter()
    bar.close()
    el = time.perf_counter() - t_start
    it_s = (step - step0) / max(el, 1e-9)
    finished = iters is not None and step >= iters
    save(finished or iters is None, it_s)
    return {
        "step": step,
        "losses": losses,
        "log": rows,
        "it_per_s": it_s,
        "finished": finished,
        "resumed": resumed,
        "unet": unet,
        "ema": ema,
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def samples_figure(prior, real, path, *, n: int = 64, steps: int = 250, eta: float = 1.0, seed=0):
    """Save a PNG of ``n`` prior samples (left) beside ``n`` real images (right).

    Parameters
    ----------
    prior : diffusion.unet_prior.UNetPrior
    real : (n, H, W) array in [-1, 1]
    path : output PNG
    n : int
        A square number (64: 8 x 8 grids).
    steps : int
        Respaced sampler steps.
    eta : float
        Variance scale of the sampler (1: the DDPM law).
    seed : int
        Seed of the sampler's generator.

    Returns
    -------
    samples : tensor [n, C, H, W]
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diffusion.sampler import sample

    k = int(round(math.sqrt(n)))
    if k * k != n:
        raise ValueError(f"n: expected a square number, got {n}")
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
    real = np.asarray(real, dtype=np.float64)[:n]

    def grid(a):
        a = np.asarray(a, dtype=np.float64).reshape(k, k, H, W)
        pad = np.full((k, k, H + 2, W + 2), 1.0)
        pad[:, :, 1:-1, 1:-1] = a
        return pad.transpose(0, 2, 1, 3).reshape(k * (H + 2), k * (W + 2))

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.3))
    for ax, img, title in (
        (axes[0], x[:, 0].clamp(-1, 1).cpu().numpy(), f"samples (eta = {eta:g}, {steps} steps)"),
        (axes[1], real, "real test images"),
    ):
        ax.imshow(grid(img), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return x


# --------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit status 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m diffusion.train_prior",
        description="Train a UNet2DModel epsilon-prior (DSM, EMA, resumable) on offline images.",
    )
    p.add_argument("--data", required=True, help="digits16 or patches32")
    p.add_argument("--minutes", type=float, default=None, help="wall-time budget of this run")
    p.add_argument("--iters", type=int, default=None, help="total iterations (resume stops here)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100, help="linear lr warm-up iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default out/train_prior/DATA)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--channels", default="32,64,64", help="UNet block_out_channels")
    p.add_argument("--layers-per-block", type=int, default=1)
    p.add_argument("--n-patches", type=int, default=20000, help="patches32 training patches")
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--ckpt-minutes", type=float, default=3.0)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--fresh", action="store_true", help="ignore a checkpoint in --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--samples-figure", default=None, help="PNG: samples of the prior in --out, no training"
    )
    p.add_argument("--sample-steps", type=int, default=250)
    return p


def _check_args(a) -> None:
    if a.data not in DATASETS:
        raise UsageError(f"--data: expected one of {', '.join(DATASETS)}, got {a.data!r}")
    for name in ("batch", "threads", "layers_per_block", "log_every", "sample_steps"):
        v = getattr(a, name)
        if v < 1:
            raise UsageError(f"--{name.replace('_', '-')}: expected an integer >= 1, got {v}")
    if a.iters is not None and a.iters < 1:
        raise UsageError(f"--iters: expected an integer >= 1, got {a.iters}")
    if a.warmup < 0 or a.seed < 0:
        bad = "warmup" if a.warmup < 0 else "seed"
        raise UsageError(f"--{bad}: expected an integer >= 0, got {getattr(a, bad)}")
    for name in ("minutes", "lr", "ckpt_minutes"):
        v = getattr(a, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UsageError(f"--{name.replace('_', '-')}: expected a number > 0, got {v}")
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
    a.channels = ch


def main(argv=None) -> int:
    try:
        a = build_parser().parse_args(argv)
        _check_args(a)
    except UsageError as exc:
        print(f"python -m diffusion.train_prior: error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path("out") / "train_prior" / a.data
    if out.exists() and not out.is_dir():
        print(
            f"python -m diffusion.train_prior: error: --out: {out} is not a folder", file=sys.stderr
        )
        return 2
    if a.device == "cuda" and not torch.cuda.is_available():
        print("python -m diffusion.train_prior: error: --device cuda: no CUDA device is available",
              file=sys.stderr)  # fmt: skip
        return 2
    if a.samples_figure:
        try:
            prior = load_unet_prior(out, image_shape=DATASETS[a.data], device=a.device)
        except (FileNotFoundError, ValueError) as exc:
            print(f"python -m diffusion.train_prior: error: --out: {exc}", file=sys.stderr)
            return 2
        if a.data == "digits16":
            from diffusion.data.digits import digits16

            real = digits16("test")[0][:64]
        else:
            from diffusion.data.patches import patch_dataset

            real = patch_dataset("test", 64, size=32)
        samples_figure(prior, real, a.samples_figure, steps=a.sample_steps, seed=a.seed)
        print(f"wrote {a.samples_figure}")
        return 0
    # The data split is the project's fixed one (seed 0), whatever the training --seed.
    data, flips, meta = load_training_data(a.data, n_patches=a.n_patches)
    try:
        res = train(
            data,
            out,
            channels=a.channels,
            layers_per_block=a.layers_per_block,
            iters=a.iters,
            minutes=a.minutes,
            batch=a.batch,
            lr=a.lr,
            warmup=a.warmup,
            seed=a.seed,
            flips=flips,
            ema_decay=a.ema_decay,
            log_every=a.log_every,
            ckpt_minutes=a.ckpt_minutes,
            fresh=a.fresh,
            progress=not a.no_progress,
            data_meta=meta,
            device=a.device,
        )
    except UsageError as exc:
        print(f"python -m diffusion.train_prior: error: {exc}", file=sys.stderr)
        return 2
    last = res["log"][-1][1] if res["log"] else float("nan")
    print(
        f"{res['step']} iterations ({'resumed' if res['resumed'] else 'fresh'}), "
        f"{res['it_per_s']:.2f} it/s, last logged loss {last:.4f}; saved to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
