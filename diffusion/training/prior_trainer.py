r"""The training loop of the UNet ε-priors: DSM, AdamW, EMA, resumable bit for bit.

One iteration (:func:`_step`) draws a batch of indices (with replacement), horizontal flips
when the set allows them, t uniform in 1..1000 and ε, all from one seeded CPU
``torch.Generator``, and takes one AdamW step on the DSM loss of
:mod:`diffusion.training.dsm` (reduction ``"mean"``; the network reads diffusers' index
t - 1) with the learning rate warmed up linearly and the gradient norm clipped at 1; then
the EMA copy moves (:mod:`diffusion.training.ema`, warm-up decay). The command and its
outputs are described in :mod:`diffusion.training.train_prior`.

**Checkpoints** (:func:`_save`): ``checkpoint.pt`` holds only tensors and plain containers
(network, EMA and optimizer state dicts, the generator state as a uint8 tensor, the step,
the log) and is written and read by :mod:`diffusion.training.checkpoint` (atomic write,
``weights_only`` load); the EMA network (diffusers' ``save_pretrained``), ``train_log.csv``
and ``train_config.json`` are each written to a temporary file and renamed, so a kill at
any moment leaves every file whole. A resumed run draws exactly the numbers an
uninterrupted one would, so on the CPU with a fixed thread count it ends with the same
weights, losses and log.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from diffusion.priors.unet import build_unet, count_parameters
from diffusion.training.checkpoint import atomic_torch_save, load_plain
from diffusion.training.dsm import alpha_tables, dsm_loss
from diffusion.training.ema import ema_decay_at, ema_update
from numerics.cli import UsageError
from numerics.io import atomic_write, write_json
from numerics.progress import Progress, announce
from numerics.schedule import linear_schedule

__all__ = ["CHECKPOINT", "CONFIG", "LOG", "train"]

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
CONFIG = "train_config.json"

_SCHEDULE = dict(T=1000, beta_start=1e-4, beta_end=0.02)


@dataclass
class _Run:
    """The state of one call of :func:`train` (networks, optimizer, generator, log)."""

    out: Path
    settings: dict
    device: torch.device
    unet: torch.nn.Module
    ema: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    command: str | None
    step: int = 0
    rows: list = field(default_factory=list)
    window: list = field(default_factory=lambda: [0.0, 0])
    elapsed_before: float = 0.0
    runs_before: list = field(default_factory=list)
    step0: int = 0
    t_start: float = 0.0


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


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def _write_log(out: Path, rows: list[tuple[int, float, float]]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "loss_mean", "elapsed_s"])
            for it, loss, el in rows:
                w.writerow([it, f"{loss:.6f}", f"{el:.1f}"])

    atomic_write(out / LOG, write)


def _save_pretrained(ema: torch.nn.Module, out: Path) -> None:
    """diffusers' ``save_pretrained`` into a temporary folder in ``out``, then renamed file by file."""
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".ema-"))
    try:
        ema.save_pretrained(str(tmp), safe_serialization=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build(data_shape, settings: dict, device) -> tuple:
    """Networks (initialised under ``torch.manual_seed(seed)``, global RNG restored),
    optimizer and batch generator of a fresh run."""
    C, S = int(data_shape[1]), int(data_shape[2])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        unet = build_unet(
            S, tuple(settings["channels"]), in_channels=C,
            layers_per_block=settings["layers_per_block"],
        )  # fmt: skip
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    unet = unet.to(device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(
        unet.parameters(), lr=settings["lr"], betas=(0.9, 0.999), weight_decay=0.0
    )
    gen = torch.Generator().manual_seed(settings["seed"])
    return device, unet, ema, opt, gen


def _resume(run: _Run, path: Path) -> None:
    """Load ``checkpoint.pt`` into ``run`` (same settings required); UsageError otherwise."""
    try:
        ck = load_plain(path, what="train_prior checkpoint")
    except ValueError as exc:
        raise UsageError(f"--out: {exc}; use another --out or --fresh") from None
    keys = ("settings", "model", "ema", "opt", "rng", "step", "log", "window", "elapsed_s")
    if not isinstance(ck, dict) or any(k not in ck for k in keys):
        raise UsageError(f"--out: {path} is not a train_prior checkpoint; use --fresh")
    settings = run.settings
    if ck["settings"] != settings:
        diff = sorted(k for k in settings if ck["settings"].get(k) != settings[k])
        raise UsageError(
            f"--out: {path} was made with other settings ({', '.join(diff)}); "
            "use another --out or --fresh"
        )
    run.unet.load_state_dict(ck["model"])
    run.ema.load_state_dict(ck["ema"])
    run.opt.load_state_dict(ck["opt"])
    run.gen.set_state(ck["rng"])
    run.step, run.rows, run.window = ck["step"], [tuple(r) for r in ck["log"]], list(ck["window"])
    run.elapsed_before, run.runs_before = ck["elapsed_s"], list(ck.get("runs", []))


def _save(run: _Run, finished: bool, it_per_s: float) -> None:
    """Checkpoint, EMA network, log and ``train_config.json``, each written atomically."""
    now = time.perf_counter() - run.t_start
    runs = [
        *run.runs_before,
        {
            "command": run.command,
            "from_iteration": run.step0,
            "to_iteration": run.step,
            "seconds": round(now, 1),
            "it_per_s": round(it_per_s, 3),
            "threads": torch.get_num_threads(),
            "device": _device_name(run.device),
        },
    ]
    atomic_torch_save(
        {
            "settings": run.settings,
            "model": run.unet.state_dict(),
            "ema": run.ema.state_dict(),
            "opt": run.opt.state_dict(),
            "rng": run.gen.get_state(),
            "step": run.step,
            "log": run.rows,
            "window": run.window,
            "elapsed_s": run.elapsed_before + now,
            "runs": runs,
        },
        run.out / CHECKPOINT,
    )
    _save_pretrained(run.ema, run.out)
    _write_log(run.out, run.rows)
    s = run.settings
    cfg = {
        **s,
        "parameters": count_parameters(run.unet),
        "loss": "mean over pixels of ||eps - eps_theta(x_t, t - 1)||^2, t ~ U{1..1000}",
        "schedule": {**_SCHEDULE, "kind": "linear"},
        "optimizer": "AdamW(betas=(0.9, 0.999), weight_decay=0), grad-norm clip 1",
        "ema": f"decay min({s['ema_decay']}, (1+n)/(10+n)) after iteration n",
        "iterations": run.step,
        "train_seconds": round(run.elapsed_before + (time.perf_counter() - run.t_start), 1),
        "it_per_s_last_call": round(it_per_s, 3),
        "threads": torch.get_num_threads(),
        "finished": finished,
        "git_commit": _git_commit(),
        "runs": runs,
        "versions": {"torch": torch.__version__, "diffusers": _diffusers_version()},
    }
    write_json(run.out / CONFIG, cfg, indent=2)


def _step(run: _Run, data: torch.Tensor, tables, T: int) -> torch.Tensor:
    """One AdamW iteration (module notes); returns the loss (a 0-d tensor)."""
    s, gen = run.settings, run.gen
    batch = s["batch"]
    idx = torch.randint(data.shape[0], (batch,), generator=gen)
    x0 = data[idx]
    if s["flips"]:
        m = torch.rand(batch, generator=gen) < 0.5
        x0 = torch.where(m.view(-1, 1, 1, 1), x0.flip(-1), x0)
    t = torch.randint(1, T + 1, (batch,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    lr, warmup = s["lr"], s["warmup"]
    for g in run.opt.param_groups:
        g["lr"] = lr * min(1.0, (run.step + 1) / warmup) if warmup > 0 else lr
    device = run.device if run.device.type != "cpu" else None
    loss = dsm_loss(
        lambda x, tt: run.unet(x, tt - 1).sample, x0, t, eps, tables,
        reduction="mean", device=device,
    )  # fmt: skip
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    params = list(run.unet.parameters())
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    run.opt.step()
    run.step += 1
    ema_update(run.ema.parameters(), params, ema_decay_at(run.step, s["ema_decay"]))
    return loss


def _record(run: _Run, lv: float, bar) -> None:
    """Add the loss to the window; close a window of ``log_every`` iterations into a row."""
    run.window[0] += lv
    run.window[1] += 1
    if run.step % run.settings["log_every"] == 0:
        elapsed = run.elapsed_before + time.perf_counter() - run.t_start
        run.rows.append((run.step, run.window[0] / run.window[1], elapsed))
        run.window = [0.0, 0]
        _write_log(run.out, run.rows)
        bar.set_postfix(loss=f"{run.rows[-1][1]:.4f}", refresh=False)
    bar.update(1)


def _estimate(iters: int | None, step: int, budget: float | None) -> Progress | None:
    """The time estimate of a run (:mod:`numerics.progress`): measured over the first
    iterations when ``iters`` bounds it (capped by the budget), else the budget itself."""
    if iters is not None:
        n = max(iters - step, 0)
        return Progress(n, f"{n} iterations", bar=False, prog="train_prior", verb="training",
                        budget_s=budget)  # fmt: skip
    announce("train_prior", "training", budget, "the --minutes budget")
    return None


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
    command: str | None = None,
) -> dict:
    """Train (or resume) a UNet ε-prior on ``data`` and save it into ``out``.

    Parameters
    ----------
    data : tensor [N, C, S, S] in [-1, 1]
    out : path
        Output folder (:mod:`diffusion.training.train_prior`); created if needed.
    channels, layers_per_block
        Network (:func:`diffusion.priors.unet.build_unet`).
    iters : int, optional
        Total iterations (a resumed run stops there).
    minutes : float, optional
        Wall-time budget of this call (checked between iterations); with neither this nor
        ``iters``, 5 minutes.
    batch, lr, warmup, seed, flips, ema_decay, log_every, ckpt_minutes
        :mod:`diffusion.training.train_prior` notes.
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
    command : str, optional
        The command line, recorded under ``runs`` in ``train_config.json``.

    Returns
    -------
    dict
        ``step`` (iterations done in total), ``losses`` (this call's per-iteration losses),
        ``log`` (rows of train_log.csv), ``it_per_s`` (this call), ``finished``, ``resumed``,
        ``unet``, ``ema``.

    Raises
    ------
    UsageError
        The checkpoint in ``out`` was made with other settings, or is not a safe, readable
        checkpoint; ``device`` is CUDA without a GPU.
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
    device, unet, ema, opt, gen = _build(data.shape, settings, device)
    run = _Run(out, settings, device, unet, ema, opt, gen, command)
    resumed = (out / CHECKPOINT).is_file() and not fresh
    if resumed:
        _resume(run, out / CHECKPOINT)
    sched = linear_schedule(_SCHEDULE["T"], _SCHEDULE["beta_start"], _SCHEDULE["beta_end"])
    tables, T = alpha_tables(sched), sched.T
    data = data.to(torch.float32)
    losses: list[float] = []
    run.step0 = run.step
    run.t_start = last_ckpt = time.perf_counter()
    budget = None if minutes is None else minutes * 60.0
    bar = tqdm(total=iters, initial=run.step, disable=not progress, desc="train_prior",
               mininterval=10.0, dynamic_ncols=True)  # fmt: skip
    eta = _estimate(iters, run.step, budget)
    unet.train()
    while not (iters is not None and run.step >= iters):
        if budget is not None and time.perf_counter() - run.t_start >= budget:
            break
        lv = float(_step(run, data, tables, T).detach())
        if not math.isfinite(lv):
            raise FloatingPointError(f"training loss is {lv} at iteration {run.step}")
        losses.append(lv)
        _record(run, lv, bar)
        if eta is not None:
            eta.update(1)
        if time.perf_counter() - last_ckpt >= ckpt_minutes * 60.0:
            el = time.perf_counter() - run.t_start
            _save(run, False, (run.step - run.step0) / max(el, 1e-9))
            last_ckpt = time.perf_counter()
    bar.close()
    el = time.perf_counter() - run.t_start
    it_s = (run.step - run.step0) / max(el, 1e-9)
    finished = iters is not None and run.step >= iters
    _save(run, finished or iters is None, it_s)
    return {
        "step": run.step,
        "losses": losses,
        "log": run.rows,
        "it_per_s": it_s,
        "finished": finished,
        "resumed": resumed,
        "unet": unet,
        "ema": ema,
    }
