r"""Networks of the 2-D experiments: the ε-network trained by denoising score matching, and PSCGAN.

**Score network** (:class:`ScoreMLP`): the ``ScoreNetwork`` of the Diffusion Schrödinger
Bridge code (De Bortoli et al. 2021, ref. 1; the paper's ref. [18]). The point x and a
16-dimensional sinusoidal embedding of the time index t each go through an MLP block
(one hidden layer of 16 units, output 32), the two outputs are concatenated and go through
a third block (hidden 128, 128; output 2), with leaky-ReLU activations. With these widths
it has exactly **26 498** parameters, the paper's count. It predicts ε and is trained by
denoising score matching on the VP schedule,

.. math::

    L(\theta) = E_{t \sim U\{1..T\},\, x_0,\, \varepsilon}
    \big\|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,
    \varepsilon,\ t)\big\|^2,

(:func:`dsm_loss`, :func:`train_score`), with Adam, a cosine learning-rate decay and an
exponential moving average (EMA) of the weights, which is what is saved and sampled.
The sampler sees it through :class:`diffusion.models.EpsilonAdapter`.

**PSCGAN** (Ohayon et al. 2021, ref. 2): a conditional generator :math:`g(y, z)` (y and z
each through an MLP block 2 → 16 → 32, concatenated, then 64 → 126 → 126 → 2; 25 630
parameters, the paper's 25 682 to 0.2 %) and a critic :math:`D(x, y)` of five linear layers
4 → 32 → 128 → 128 → 32 → 1 with leaky ReLU (25 057 parameters; the paper's 25 025). The
critic is trained with the WGAN-GP loss (ref. 3),

.. math::

    L_D = E[D(g(y,z), y)] - E[D(x, y)] + \lambda_{GP} E\big[(\|\nabla_{\tilde x} D(\tilde x,
    y)\| - 1)^2\big],

and the generator with the posterior-sampling penalty of PSCGAN, the squared error of the
average of M samples (the "first moment" penalty) minus λ times the critic,

.. math::

    L_g = E\Big\|x - \frac1M\sum_{m=1}^M g(y, z_m)\Big\|^2 - \lambda\, E[D(g(y, z), y)],

at one noise level σ_y (y = x + σ_y n). At inference the tradeoff is traversed by averaging
N samples (:func:`pscgan_estimate`, ``n_avg``) or by scaling the latent,
:math:`z \sim N(0, \sigma_z^2 I)` (``sigma_z``).

Saving (:func:`save_checkpoint`, :func:`load_checkpoint`): a ``.pt`` file with the state
dicts, the configuration and a hash of the data settings and training configuration; a
file whose hash does not match is not loaded.

References
----------
1. V. De Bortoli, J. Thornton, J. Heng, A. Doucet, "Diffusion Schrödinger Bridge with
   Applications to Score-Based Generative Modeling", NeurIPS 2021 (code:
   ``bridge/models/basic/basic.py``).
2. G. Ohayon, T. Adrai, G. Vaksman, M. Elad, P. Milanfar, "High Perceptual Quality Image
   Denoising with a Posterior Sampling CGAN", ICCV Workshops 2021.
3. I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of
   Wasserstein GANs", NeurIPS 2017.
4. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from numerics.schedule import Schedule

__all__ = [
    "Critic",
    "Generator",
    "MLPBlock",
    "ScoreMLP",
    "count_parameters",
    "dsm_loss",
    "load_checkpoint",
    "pscgan_estimate",
    "save_checkpoint",
    "timestep_embedding",
    "train_pscgan",
    "train_score",
]


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module``.

    Examples
    --------
    >>> count_parameters(ScoreMLP())
    26498
    >>> count_parameters(Generator()), count_parameters(Critic())
    (25630, 25057)
    """
    return sum(p.numel() for p in module.parameters())


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    r"""Sinusoidal embedding of the time index, ``[B] -> [B, dim]`` (DDPM / DSB form).

    .. math::

        e(t) = \big(\sin(t\omega_0), \ldots, \sin(t\omega_{h-1}), \cos(t\omega_0), \ldots,
        \cos(t\omega_{h-1})\big), \quad \omega_i = 10000^{-i/(h-1)}, \ h = \lfloor d/2
        \rfloor,

    zero-padded to ``dim`` when it is odd.
    """
    half = dim // 2
    freq = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1)
    )
    arg = t.to(torch.float32)[:, None] * freq[None]
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class MLPBlock(nn.Module):
    """Linear layers ``in -> widths[0] -> ... -> widths[-1]`` with leaky ReLU between them.

    No activation after the last layer (DSB's ``MLP(activate_final=False)``).
    """

    def __init__(self, in_dim: int, widths):
        super().__init__()
        dims = [int(in_dim), *(int(w) for w in widths)]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = nn.functional.leaky_relu(layer(x))
        return self.layers[-1](x)


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
        self.config = dict(
            x_dim=int(x_dim),
            pos_dim=int(pos_dim),
            encoder_layers=[int(w) for w in encoder_layers],
            decoder_layers=[int(w) for w in decoder_layers],
        )
        enc_out = 2 * pos_dim
        self.pos_dim = int(pos_dim)
        self.t_encoder = MLPBlock(pos_dim, [*encoder_layers, enc_out])
        self.x_encoder = MLPBlock(x_dim, [*encoder_layers, enc_out])
        self.net = MLPBlock(2 * enc_out, [*decoder_layers, x_dim])

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.t_encoder(timestep_embedding(t, self.pos_dim).to(x.dtype))
        return self.net(torch.cat([self.x_encoder(x), temb], dim=-1))


class Generator(nn.Module):
    """PSCGAN's conditional generator ``g(y [B, d], z [B, z_dim]) -> x [B, d]``."""

    def __init__(
        self, x_dim: int = 2, z_dim: int = 2, encoder_layers=(16, 32), decoder_layers=(126, 126)
    ):
        super().__init__()
        self.config = dict(
            x_dim=int(x_dim),
            z_dim=int(z_dim),
            encoder_layers=[int(w) for w in encoder_layers],
            decoder_layers=[int(w) for w in decoder_layers],
        )
        self.z_dim = int(z_dim)
        self.y_encoder = MLPBlock(x_dim, encoder_layers)
        self.z_encoder = MLPBlock(z_dim, encoder_layers)
        self.net = MLPBlock(2 * encoder_layers[-1], [*decoder_layers, x_dim])

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.y_encoder(y), self.z_encoder(z)], dim=-1))


class Critic(nn.Module):
    """PSCGAN's critic ``D(x [B, d], y [B, d]) -> [B]``: five linear layers, leaky ReLU."""

    def __init__(self, x_dim: int = 2, widths=(32, 128, 128, 32)):
        super().__init__()
        self.config = dict(x_dim=int(x_dim), widths=[int(w) for w in widths])
        self.net = MLPBlock(2 * x_dim, [*widths, 1])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)


# --------------------------------------------------------------------------- score training


def _alpha_tables(schedule: Schedule):
    ab = torch.from_numpy(np.array(schedule.alpha_bar, dtype=np.float64))  # a writable copy
    omab = torch.from_numpy(np.array(schedule.one_minus_alpha_bar, dtype=np.float64))
    return ab.sqrt().float(), omab.sqrt().float()


def dsm_loss(
    net: nn.Module, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Schedule
) -> torch.Tensor:
    r"""Denoising-score-matching loss of an ε-network on one batch (mean over the batch).

    .. math::

        \frac1B\sum_b \big\|\varepsilon_b - \varepsilon_\theta(\sqrt{\bar\alpha_{t_b}} x_{0,b}
        + \sqrt{1 - \bar\alpha_{t_b}}\,\varepsilon_b,\ t_b)\big\|^2

    Parameters
    ----------
    net : module ``net(x_t, t) -> eps_hat``
    x0, eps : tensors [B, d]
    t : int64 tensor [B], values in 1..T
    schedule : numerics Schedule
    """
    sab, somab = _alpha_tables(schedule)
    xt = sab[t, None] * x0 + somab[t, None] * eps
    return ((net(xt, t) - eps) ** 2).sum(-1).mean()


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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ScoreMLP(x_dim=X.shape[1]) if net is None else net
    avg = copy.deepcopy(net) if ema is not None else None
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sab, somab = _alpha_tables(schedule)
    T = schedule.T
    losses, acc = [], 0.0
    t0 = time.perf_counter()
    net.train()
    for step in tqdm(range(steps), desc="train score net", disable=not progress, leave=False):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, min(warmup, steps))
        idx = torch.randint(X.shape[0], (batch,), generator=gen)
        t = torch.randint(1, T + 1, (batch,), generator=gen)
        eps = torch.randn(batch, X.shape[1], generator=gen)
        x0 = X[idx]
        xt = sab[t, None] * x0 + somab[t, None] * eps
        loss = ((net(xt, t) - eps) ** 2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if avg is not None:
            with torch.no_grad():
                for pa, pn in zip(avg.parameters(), net.parameters(), strict=True):
                    pa.lerp_(pn, 1.0 - ema)
        acc += loss.item()
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


def _gradient_penalty(critic: Critic, x_real, x_fake, y, gen) -> torch.Tensor:
    u = torch.rand(x_real.shape[0], 1, generator=gen)
    xi = (u * x_real + (1 - u) * x_fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xi, y).sum(), xi, create_graph=True)
    return ((g.norm(dim=1) - 1.0) ** 2).mean()


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
    of ``n_penalty`` samples minus ``lam`` times the critic (module docstring). Noise n is
    drawn afresh for every batch, z ~ N(0, I). Adam(``lr``, ``betas``) for both, as in
    WGAN-GP. ``log`` has per-``log_every`` means of ``penalty`` (the MSE of the M-average),
    ``critic`` (−L_D without the penalty: the critic's W1 estimate) and ``seconds``.
    """
    X = torch.as_tensor(np.asarray(data, dtype=np.float32))
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"data: expected an (n, d) array, got shape {tuple(X.shape)}")
    if not (isinstance(sigma_y, (int, float)) and sigma_y > 0 and math.isfinite(sigma_y)):
        raise ValueError(f"sigma_y: expected a finite number > 0, got {sigma_y!r}")
    d = X.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = Generator(x_dim=d)
        D = Critic(x_dim=d)
    gen = torch.Generator().manual_seed(seed + 1)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=tuple(betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=tuple(betas))
    zd = g.z_dim

    def pairs():
        x = X[torch.randint(X.shape[0], (batch,), generator=gen)]
        return x, x + sigma_y * torch.randn(batch, d, generator=gen)

    log = dict(penalty=[], critic=[], log_every=int(log_every))
    acc_p = acc_c = 0.0
    t0 = time.perf_counter()
    for step in tqdm(range(steps), desc="train PSCGAN", disable=not progress, leave=False):
        g.requires_grad_(False)
        D.requires_grad_(True)
        for _ in range(n_critic):
            x, y = pairs()
            with torch.no_grad():
                xf = g(y, torch.randn(batch, zd, generator=gen))
            w1 = D(x, y).mean() - D(xf, y).mean()
            loss_d = -w1 + gp * _gradient_penalty(D, x, xf, y, gen)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        g.requires_grad_(True)
        D.requires_grad_(False)
        x, y = pairs()
        z = torch.randn(n_penalty, batch, zd, generator=gen)
        xs = g(y.expand(n_penalty, -1, -1).reshape(-1, d), z.reshape(-1, zd)).reshape(
            n_penalty, batch, d
        )
        penalty = ((xs.mean(0) - x) ** 2).sum(-1).mean()
        adv = D(xs[0], y).mean()
        loss_g = penalty - lam * adv
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        acc_p += penalty.item()
        acc_c += w1.item()
        if (step + 1) % log_every == 0:
            log["penalty"].append(acc_p / log_every)
            log["critic"].append(acc_c / log_every)
            acc_p = acc_c = 0.0
    g.eval().requires_grad_(False)
    D.eval().requires_grad_(False)
    log.update(
        seconds=time.perf_counter() - t0,
        steps=int(steps),
        batch=int(batch),
        n_critic=int(n_critic),
        n_penalty=int(n_penalty),
        lam=float(lam),
        gp=float(gp),
        lr=float(lr),
        betas=[float(b) for b in betas],
        sigma_y=float(sigma_y),
    )
    return g, D, log


@torch.no_grad()
def pscgan_estimate(
    g: Generator,
    y,
    *,
    n_avg: int = 1,
    sigma_z: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""PSCGAN estimate :math:`\hat x = \frac1N \sum_{m=1}^N g(y, \sigma_z z_m)`, z ~ N(0, I).

    Parameters
    ----------
    g : Generator
    y : tensor or array [B, d]
    n_avg : int >= 1
        N, the number of samples averaged (N → ∞ approaches the generator's mean, the
        MMSE estimate if training succeeded).
    sigma_z : float >= 0
        Latent scale (0: the deterministic :math:`g(y, 0)`).
    generator : torch.Generator, optional

    Returns
    -------
    tensor [B, d] (float32)
    """
    y = (
        torch.as_tensor(np.asarray(y, dtype=np.float32))
        if not isinstance(y, torch.Tensor)
        else y.float()
    )
    if y.ndim != 2:
        raise ValueError(f"y: expected shape [B, d], got {list(y.shape)}")
    if isinstance(n_avg, bool) or not isinstance(n_avg, (int, np.integer)) or n_avg < 1:
        raise ValueError(f"n_avg: expected an integer >= 1, got {n_avg!r}")
    if not (math.isfinite(sigma_z) and sigma_z >= 0):
        raise ValueError(f"sigma_z: expected a finite number >= 0, got {sigma_z!r}")
    B, d = y.shape
    z = torch.randn(n_avg, B, g.z_dim, generator=generator)
    xs = g(y.expand(n_avg, -1, -1).reshape(-1, d), sigma_z * z.reshape(-1, g.z_dim))
    return xs.reshape(n_avg, B, d).mean(0)


# --------------------------------------------------------------------------- checkpoints


def atomic_torch_save(payload: dict, path) -> None:
    """``torch.save(payload, path)`` through a temp file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".pt")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path, *, modules: dict[str, nn.Module], key: str, info: dict) -> None:
    """Write ``{state dicts, configs, key, info}`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(
        key=key,
        info=info,
        configs={k: m.config for k, m in modules.items()},
        state={k: m.state_dict() for k, m in modules.items()},
    )
    atomic_torch_save(payload, path)


_CLASSES = {"score": ScoreMLP, "generator": Generator, "critic": Critic}


def load_checkpoint(path, key: str):
    """Load a checkpoint written by :func:`save_checkpoint` if its key matches, else None.

    Returns
    -------
    (modules, info) or None
        ``modules`` maps the saved names to networks (eval mode, ``requires_grad`` off).
    """
    path = Path(path)
    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("key") != key:
        return None
    mods = {}
    for name, cfg in payload["configs"].items():
        m = _CLASSES[name](**cfg)
        m.load_state_dict(payload["state"][name])
        mods[name] = m.eval().requires_grad_(False)
    return mods, payload["info"]
