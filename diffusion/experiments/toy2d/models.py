r"""Networks of the 2-D experiments: the ε-network trained by denoising score matching, and PSCGAN.

**Score network** (:class:`ScoreMLP`): the ``ScoreNetwork`` of the Diffusion Schrödinger
Bridge code (De Bortoli et al. 2021, ref. 1; the paper's ref. [18]). The point x and a
16-dimensional sinusoidal embedding of the time index t each go through an MLP block
(one hidden layer of 16 units, output 32), the two outputs are concatenated and go through
a third block (hidden 128, 128; output 2), with leaky-ReLU activations. With these widths
it has exactly **26 498** parameters, the paper's count. It predicts ε and is trained by
denoising score matching on the VP schedule (:func:`train_score`; the loss is
:func:`diffusion.training.dsm.dsm_loss`, summed over the two coordinates, t uniform in
1..T), with Adam, a cosine learning-rate decay and an exponential moving average (EMA) of
the weights, which is what is saved and sampled.
The sampler sees it through :class:`diffusion.models.EpsilonAdapter`.

**PSCGAN** (Ohayon et al. 2021, ref. 2): the 2-D generator and critic and the trainer are
:mod:`diffusion.baselines.pscgan` (:class:`Generator`, :class:`Critic`, WGAN-GP, ref. 3);
:func:`train_pscgan` trains them at one noise level σ_y on pairs (x, y = x + σ_y n), with the
critic on the first of the M samples of the penalty. At inference the tradeoff is traversed
by averaging N samples (:func:`pscgan_estimate`, ``n_avg``) or by scaling the latent,
:math:`z \sim N(0, \sigma_z^2 I)` (``sigma_z``).

Saving (:func:`save_checkpoint`, :func:`load_checkpoint`): the scheme of
:mod:`diffusion.training.checkpoint` (atomic writes, safe loads), a ``.pt`` file with the
state dicts, the configuration and a key hashing the data settings and training
configuration; a file whose key does not match is not loaded.

References
----------
1. V. De Bortoli, J. Thornton, J. Heng, A. Doucet, "Diffusion Schrödinger Bridge with
   Applications to Score-Based Generative Modeling", NeurIPS 2021 (code:
   ``bridge/models/basic/basic.py``).
2. G. Ohayon, T. Adrai, G. Vaksman, M. Elad, P. Milanfar, "High Perceptual Quality Image
   Denoising with a Posterior Sampling CGAN", ICCV Workshops 2021.
3. I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of
   Wasserstein GANs", NeurIPS 2017.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from diffusion.baselines.pscgan import (
    Critic,
    Generator,
    MLPBlock,
    PSCGANTraining,
    fit_pscgan,
    layer_config,
    pscgan_estimate,
    seeded,
)
from diffusion.priors.unet import count_parameters
from diffusion.training.checkpoint import atomic_torch_save, load_modules, save_modules
from diffusion.training.dsm import alpha_tables as _alpha_tables
from diffusion.training.dsm import dsm_loss
from diffusion.training.ema import ema_update
from numerics.progress import Progress
from numerics.schedule import Schedule
from numerics.validate import check_int

__all__ = [
    "Critic",
    "Generator",
    "MLPBlock",
    "ScoreMLP",
    "atomic_torch_save",
    "count_parameters",
    "dsm_loss",
    "load_checkpoint",
    "pscgan_estimate",
    "save_checkpoint",
    "timestep_embedding",
    "train_pscgan",
    "train_score",
]


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    r"""Sinusoidal embedding of the time index, ``[B] -> [B, dim]`` (DDPM / DSB form).

    .. math::

        e(t) = \big(\sin(t\omega_0), \ldots, \sin(t\omega_{h-1}), \cos(t\omega_0), \ldots,
        \cos(t\omega_{h-1})\big), \quad \omega_i = 10000^{-i/(h-1)}, \ h = \lfloor d/2
        \rfloor,

    zero-padded to ``dim`` when it is odd. ``t``: an integer tensor ``[B]`` of indices >= 0;
    ``dim`` >= 4 (h >= 2). Anything else raises ValueError/TypeError naming it.
    """
    _check_times(t, "t")
    dim = check_int(dim, "dim", minimum=4)
    half = dim // 2
    freq = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1)
    )
    arg = t.to(torch.float32)[:, None] * freq[None]
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class ScoreMLP(nn.Module):
    """DSB's 2-D ``ScoreNetwork``: ε-prediction ``net(x [B, d], t int64 [B]) -> [B, d]``.

    Parameters
    ----------
    x_dim : int
        Data dimension (2).
    pos_dim : int
        Size of the sinusoidal time embedding (16).
    encoder_layers : list of int
        Hidden widths of the point and time blocks ([16]); their output is ``2 * pos_dim``.
    decoder_layers : list of int
        Hidden widths of the third block ([128, 128]).
    """

    def __init__(
        self, x_dim: int = 2, pos_dim: int = 16, encoder_layers=(16,), decoder_layers=(128, 128)
    ):
        super().__init__()
        x_dim = check_int(x_dim, "x_dim", minimum=1)
        pos_dim = check_int(pos_dim, "pos_dim", minimum=4)  # timestep_embedding's dim
        encoder_layers = _widths(encoder_layers, "encoder_layers")
        decoder_layers = _widths(decoder_layers, "decoder_layers")
        self.config = layer_config(
            x_dim=x_dim,
            pos_dim=pos_dim,
            encoder_layers=encoder_layers,
            decoder_layers=decoder_layers,
        )
        enc_out = 2 * pos_dim
        self.pos_dim = int(pos_dim)
        self.t_encoder = MLPBlock(pos_dim, [*encoder_layers, enc_out])
        self.x_encoder = MLPBlock(x_dim, [*encoder_layers, enc_out])
        self.net = MLPBlock(2 * enc_out, [*decoder_layers, x_dim])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x [B, x_dim]`` (finite, the network's dtype and device), ``t`` integer ``[B]`` >= 0
        -> ε ``[B, x_dim]``; ValueError/TypeError naming the argument otherwise."""
        w = self.net.layers[-1].weight
        _check_points(x, "x", w.dtype, w.device, w.shape[0])
        _check_times(t, "t", batch=x.shape[0], device=w.device)
        temb = self.t_encoder(timestep_embedding(t, self.pos_dim).to(x.dtype))
        return self.net(torch.cat([self.x_encoder(x), temb], dim=-1))


def _widths(v, name: str) -> list[int]:
    """Hidden-layer widths: a list or tuple of ints >= 1 (may be empty)."""
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"{name}: expected a list of integers >= 1, got {type(v).__name__}")
    return [check_int(w, f"{name}[{i}]", minimum=1) for i, w in enumerate(v)]


def _check_points(x, name: str, dtype: torch.dtype, device: torch.device, d: int) -> None:
    """``x``: a finite tensor ``[B, d]``, B >= 1, of ``dtype`` on ``device``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype} (the network's), got {x.dtype}")
    if x.device != device:
        raise ValueError(f"{name}: tensor on {x.device}, the network is on {device}")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != d:
        raise ValueError(f"{name}: expected shape [B, {d}] with B >= 1, got {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf")


def _check_times(t, name: str, *, batch: int | None = None, device=None) -> None:
    """``t``: an integer tensor ``[B]`` (``B == batch`` when given) of indices >= 0."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected an integer tensor [B], got {type(t).__name__}")
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name}: expected an integer tensor, got {t.dtype}")
    if t.is_meta or (device is not None and t.device != device):
        raise ValueError(
            f"{name}: tensor on {t.device}" + (f", expected {device}" if device else "")
        )
    if t.ndim != 1 or (batch is not None and t.shape[0] != batch):
        want = "[B]" if batch is None else f"[{batch}] (one per point)"
        raise ValueError(f"{name}: expected shape {want}, got {list(t.shape)}")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{name}: expected time indices >= 0, got {int(t.min())}")


# --------------------------------------------------------------------------- score training


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac)))


def train_score(
    data: np.ndarray,
    schedule: Schedule,
    *,
    steps: int = 20_000,
    batch: int = 512,
    lr: float = 2e-3,
    ema: float | None = 0.999,
    seed: int = 0,
    warmup: int = 200,
    log_every: int = 100,
    progress: bool = False,
    net: ScoreMLP | None = None,
) -> tuple[ScoreMLP, dict]:
    """Train a :class:`ScoreMLP` by DSM on ``data`` (an (n, 2) array); returns ``(net, log)``.

    The returned network holds the EMA weights (or the raw ones when ``ema`` is None), in
    eval mode with ``requires_grad`` off. ``log`` has ``loss`` (mean training loss of every
    ``log_every`` steps), ``seconds``, ``steps``, ``batch``, ``lr``, ``ema``.

    Seeded: with the same ``seed`` and the same torch build and thread count, the result is
    bit-for-bit repeatable (the initialisation uses a forked global RNG, every batch a
    dedicated ``torch.Generator``).
    """
    X = torch.as_tensor(np.asarray(data, dtype=np.float32))
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"data: expected an (n, d) array, got shape {tuple(X.shape)}")
    for name, v in (("steps", steps), ("batch", batch), ("log_every", log_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    if ema is not None and not 0.0 <= ema < 1.0:
        raise ValueError(f"ema: expected a decay in [0, 1) or None, got {ema!r}")
    if net is None:
        net = seeded(lambda: ScoreMLP(x_dim=X.shape[1]), seed)
    avg = copy.deepcopy(net) if ema is not None else None
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    tables = _alpha_tables(schedule)
    T = schedule.T
    losses, acc = [], 0.0
    t0 = time.perf_counter()
    eta = Progress(steps, f"the score network, {steps} steps", bar=False, prog="toy2d",
                   verb="training")  # fmt: skip
    net.train()
    for step in tqdm(range(steps), desc="train score net", disable=not progress, leave=False):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, min(warmup, steps))
        idx = torch.randint(X.shape[0], (batch,), generator=gen)
        t = torch.randint(1, T + 1, (batch,), generator=gen)
        eps = torch.randn(batch, X.shape[1], generator=gen)
        loss = dsm_loss(net, X[idx], t, eps, tables)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if avg is not None:
            ema_update(avg.parameters(), net.parameters(), ema)
        acc += loss.item()
        eta.update(1)
        if (step + 1) % log_every == 0:
            losses.append(acc / log_every)
            acc = 0.0
    out = avg if avg is not None else net
    out.eval().requires_grad_(False)
    log = dict(
        loss=losses,
        seconds=time.perf_counter() - t0,
        steps=int(steps),
        batch=int(batch),
        lr=float(lr),
        ema=ema,
        log_every=int(log_every),
    )
    return out, log


# --------------------------------------------------------------------------- PSCGAN


def train_pscgan(
    data: np.ndarray,
    sigma_y: float,
    *,
    steps: int = 4000,
    batch: int = 256,
    n_critic: int = 5,
    n_penalty: int = 8,
    lam: float = 1.0,
    gp: float = 10.0,
    lr: float = 2e-4,
    betas=(0.5, 0.9),
    seed: int = 0,
    log_every: int = 100,
    progress: bool = False,
) -> tuple[Generator, Critic, dict]:
    r"""Train PSCGAN on pairs ``(x, x + sigma_y n)``, x from ``data``; returns ``(g, D, log)``.

    Each of ``steps`` generator updates follows ``n_critic`` WGAN-GP critic updates
    (gradient-penalty weight ``gp``); the generator loss is the squared error of the average
    of ``n_penalty`` samples minus ``lam`` times the critic on the first of them
    (:func:`diffusion.baselines.pscgan.fit_pscgan`). Noise n is drawn afresh for every batch,
    z ~ N(0, I). Adam(``lr``, ``betas``) for both, as in WGAN-GP. ``log`` has
    per-``log_every`` means of ``penalty`` (the MSE of the M-average), ``critic`` (−L_D
    without the penalty: the critic's W1 estimate) and ``seconds``.
    """
    X = torch.as_tensor(np.asarray(data, dtype=np.float32))
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"data: expected an (n, d) array, got shape {tuple(X.shape)}")
    if not (isinstance(sigma_y, (int, float)) and sigma_y > 0 and math.isfinite(sigma_y)):
        raise ValueError(f"sigma_y: expected a finite number > 0, got {sigma_y!r}")
    cfg = PSCGANTraining(
        steps=steps, batch=batch, n_critic=n_critic, n_penalty=n_penalty, lam=lam, gp=gp,
        lr=lr, betas=tuple(betas), ema=None, adversarial="first", seed=seed,
        log_every=log_every,
    )  # fmt: skip
    d = X.shape[1]
    g, D = seeded(lambda: (Generator(x_dim=d), Critic(x_dim=d)), seed)
    g, flog = fit_pscgan(
        g, D, X, lambda x, gen: x + sigma_y * torch.randn(x.shape, generator=gen), cfg,
        progress=progress,
    )  # fmt: skip
    D.eval().requires_grad_(False)
    log = dict(penalty=flog["penalty"], critic=flog["critic"], log_every=int(log_every))
    record = {k: v for k, v in cfg.record().items() if k not in ("ema", "seed")}
    log.update(seconds=flog["seconds"], **record, sigma_y=float(sigma_y))
    return g, D, log


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path, *, modules: dict[str, nn.Module], key: str, info: dict) -> None:
    """Write ``{state dicts, configs, key, info}`` to ``path`` atomically
    (:func:`diffusion.training.checkpoint.save_modules`).

    ``modules`` maps names that :func:`load_checkpoint` knows (``score``, ``generator``,
    ``critic``) to networks of those classes; ``key`` is a string; ``info`` a dict (JSON-like).
    Anything else raises ValueError/TypeError naming the argument before anything is written.
    """
    if not isinstance(modules, dict) or not modules:
        raise TypeError(f"modules: expected a non-empty dict name -> network, got {modules!r:.60}")
    for name, m in modules.items():
        if name not in _CLASSES or not isinstance(m, _CLASSES[name]):
            raise ValueError(
                f"modules: expected names {sorted(_CLASSES)} mapped to their networks "
                f"({', '.join(c.__name__ for c in _CLASSES.values())}), got {name!r}: "
                f"{type(m).__name__}"
            )
    if not isinstance(key, str):
        raise TypeError(f"key: expected a string, got {type(key).__name__}")
    if not isinstance(info, dict):
        raise TypeError(f"info: expected a dict, got {type(info).__name__}")
    save_modules(path, modules=modules, key=key, info=info)


_CLASSES = {"score": ScoreMLP, "generator": Generator, "critic": Critic}


def load_checkpoint(path, key: str):
    """Networks saved by :func:`save_checkpoint` if the file's key matches, else None:
    :func:`diffusion.training.checkpoint.load_modules` with the classes of this experiment
    (``(modules, info)``; ValueError naming the file if it is not a safe, readable checkpoint).
    """
    return load_modules(path, key, _CLASSES)
