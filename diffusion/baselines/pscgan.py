r"""PSCGAN (Ohayon et al. 2021): one trainer and one WGAN-GP penalty for 2-D points and images.

A conditional generator :math:`g(y, z)` is trained, at one noise level, to *sample* the
posterior of x given a measurement y; averaging N of its samples moves from a posterior
sample (N = 1, best perception) towards the posterior mean (N → ∞, least MSE), and so does
shrinking the latent, :math:`z \sim N(0, \sigma_z^2 I)` with :math:`\sigma_z: 1 \to 0`.

**Losses** (:func:`fit_pscgan`). The critic :math:`D(x, y)` is trained with WGAN-GP
(ref. 2, :func:`gradient_penalty`),

.. math::

    L_D = E[D(g(y,z), y)] - E[D(x, y)] + \lambda_{GP}\, E\big[(\|\nabla_{\tilde x}
    D(\tilde x, y)\|_2 - 1)^2\big],

with :math:`\tilde x` uniform on the segment between a real and a generated sample, and the
generator with PSCGAN's first-moment penalty, the squared error (summed over the
coordinates) of the average of M samples, minus λ times the critic,

.. math::

    L_g = E\Big\|x - \frac1M\sum_{m=1}^M g(y, z_m)\Big\|^2
          - \lambda\, \frac1M\sum_{m=1}^M E[D(g(y, z_m), y)] .

Since :math:`E\|x - \bar g_M\|^2 = E\|x - E[g \mid y]\|^2 + \operatorname{tr}
\operatorname{Cov}[g \mid y]/M`, the penalty pulls the samples' mean to the MMSE estimate and
taxes their spread only by 1/M, which leaves the critic room to push the samples' law to the
posterior (ref. 1). The 2-D experiments apply the critic to the first of the M samples only
(``adversarial="first"``), the images to all M (``"all"``).

**Networks.** :class:`Generator` and :class:`Critic` are the 2-D ones (y and z each through
an MLP block 2 → 16 → 32, concatenated, then 64 → 126 → 126 → 2: 25 630 parameters, the
paper's 25 682 to 0.2 %; a critic of five linear layers 4 → 32 → 128 → 128 → 32 → 1 with leaky
ReLU: 25 057, the paper's 25 025). The image networks are in
:mod:`diffusion.baselines.pscgan_images`. A generator exposes ``latent_shape`` (the shape of
one z), which is all the trainer needs to know of it.

**Randomness.** The caller initialises the networks (e.g. under :func:`seeded`); one
``torch.Generator`` seeded ``seed + 1`` then draws every batch index, measurement noise,
latent and interpolation weight, in a fixed order, so a run is bit-for-bit repeatable on the
CPU with a fixed thread count, and a resumed run (``resume_path``) equals an uninterrupted
one.

References
----------
1. G. Ohayon, T. Adrai, G. Vaksman, M. Elad, P. Milanfar, "High Perceptual Quality Image
   Denoising with a Posterior Sampling CGAN", ICCV Workshops 2021.
2. I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved Training of
   Wasserstein GANs", NeurIPS 2017.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from diffusion.baselines._checks import (
    check_fit_args,
    check_generator,
    check_module,
    check_number,
    check_size,
    check_tensor,
)
from diffusion.baselines._pscgan_nets import Critic, Generator, MLPBlock, layer_config
from diffusion.training.checkpoint import atomic_torch_save, load_plain
from diffusion.training.ema import ema_update
from numerics.progress import Progress

__all__ = [
    "Critic",
    "Generator",
    "MLPBlock",
    "PSCGANTraining",
    "fit_pscgan",
    "gradient_penalty",
    "layer_config",
    "pscgan_estimate",
    "pscgan_samples",
    "seeded",
]


def seeded(factory: Callable[[], object], seed: int):
    """``factory()`` under ``torch.manual_seed(seed)`` in a forked global RNG (left as it was).

    ``factory``: a callable without arguments; ``seed``: an integer >= 0."""
    if not callable(factory):
        raise TypeError(f"factory: expected a callable, got {type(factory).__name__}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed!r:.40}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def gradient_penalty(critic, x_real, x_fake, y, gen) -> torch.Tensor:
    r"""WGAN-GP penalty :math:`E[(\|\nabla_{\tilde x} D(\tilde x, y)\|_2 - 1)^2]`.

    :math:`\tilde x = u\, x_{real} + (1 - u)\, x_{fake}`, one :math:`u \sim U(0, 1)` per sample
    (from ``gen``); the norm is over all coordinates of a sample (all pixels of an image).
    ``x_real``, ``x_fake``: ``[B, ...]``, finite, of one floating dtype and device (those of
    ``y``); ``critic(x, y) -> [B]``; ``gen``: a ``torch.Generator`` or None.
    """
    if not callable(critic):
        raise TypeError(f"critic: expected a callable critic(x, y), got {type(critic).__name__}")
    check_tensor(x_real, "x_real")
    if x_real.ndim < 1 or x_real.shape[0] < 1:
        raise ValueError(f"x_real: expected shape [B, ...] with B >= 1, got {list(x_real.shape)}")
    check_tensor(x_fake, "x_fake")
    if (x_fake.shape, x_fake.dtype, x_fake.device) != (x_real.shape, x_real.dtype, x_real.device):
        raise ValueError(f"x_fake: {list(x_fake.shape)} {x_fake.dtype} on {x_fake.device}, "
                         f"x_real: {list(x_real.shape)} {x_real.dtype} on {x_real.device}; "
                         "expected the same")  # fmt: skip
    if isinstance(y, torch.Tensor) and (y.dtype, y.device) != (x_real.dtype, x_real.device):
        raise TypeError(f"x_real: dtype {x_real.dtype} on {x_real.device}, y: {y.dtype} on "
                        f"{y.device}; expected the same")  # fmt: skip
    check_generator(gen, "gen")
    u = torch.rand(x_real.shape[0], *(1,) * (x_real.ndim - 1), generator=gen)
    xi = (u * x_real + (1 - u) * x_fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xi, y).sum(), xi, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def pscgan_samples(g: nn.Module, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """M samples per y in one pass: y ``[B, ...]``, z ``[M, B, *latent]`` -> ``[M, B, ...]``.

    ``g(y, z)``: a callable generator, e.g. :class:`Generator` (which checks its inputs).
    """
    if not callable(g):
        raise TypeError(f"g: expected a generator g(y, z), got {type(g).__name__}")
    check_tensor(y, "y", finite=False)
    check_tensor(z, "z", finite=False)
    if y.ndim < 1 or z.ndim < 2 or z.shape[1] != y.shape[0]:
        raise ValueError(f"z: expected shape [M, B, ...] with B = {y.shape[0] if y.ndim else '?'} "
                         f"(y's batch), got {list(z.shape)}")  # fmt: skip
    M, B = z.shape[:2]
    yy = y.expand(M, *y.shape).reshape(M * B, *y.shape[1:])
    return g(yy, z.reshape(M * B, *z.shape[2:])).reshape(M, B, *y.shape[1:])


@dataclass(frozen=True)
class PSCGANTraining:
    """Settings of :func:`fit_pscgan` (module notes).

    ``steps`` generator updates, each after ``n_critic`` critic updates, batches of ``batch``
    pairs; ``n_penalty`` = M; ``lam`` = λ; ``gp`` = λ_GP; Adam(``lr``, ``betas``) for both
    networks; ``ema``: decay of an averaged copy of the generator (None: no copy);
    ``adversarial``: "all" or "first" (module notes); ``seed``: the batches come from a
    generator seeded ``seed + 1``; ``log_every``: generator steps per logged mean.
    """

    steps: int = 900
    batch: int = 16
    n_critic: int = 2
    n_penalty: int = 8
    lam: float = 1.0
    gp: float = 10.0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    ema: float | None = None
    adversarial: str = "all"
    seed: int = 0
    log_every: int = 50

    def __post_init__(self):
        for name in ("steps", "batch", "n_critic", "n_penalty", "log_every"):
            check_size(getattr(self, name), name)
        if not isinstance(self.adversarial, str) or self.adversarial not in ("all", "first"):
            raise ValueError(f"adversarial: expected 'all' or 'first', got {self.adversarial!r}")
        for name in ("lam", "gp"):
            check_number(getattr(self, name), name)
        check_number(self.lr, "lr", strict=True)
        if self.lr > torch.finfo(torch.float32).max:  # Adam's float32 step
            raise ValueError(f"lr: expected a number the float32 weights can hold, got {self.lr!r}")
        b = self.betas
        if not (isinstance(b, (list, tuple)) and len(b) == 2):
            raise ValueError(f"betas: expected a pair of numbers in [0, 1), got {b!r:.40}")
        if not all(check_number(v, "betas") < 1.0 for v in b):
            raise ValueError(f"betas: expected a pair of numbers in [0, 1), got {b!r}")
        if self.ema is not None and not check_number(self.ema, "ema") < 1.0:
            raise ValueError(f"ema: expected a decay in [0, 1) or None, got {self.ema!r}")
        s = self.seed  # the batches' generator is seeded seed + 1 (torch: < 2**64)
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seed: expected an integer in [0, 2**64 - 1), got {s!r:.40}")
        if not 0 <= s < 2**64 - 1:
            raise ValueError(f"seed: expected an integer in [0, 2**64 - 1), got {s!r}")

    def record(self) -> dict:
        """The training settings as plain JSON values, for logs and resume checks (without
        ``adversarial`` and ``log_every``, which each caller fixes)."""
        return dict(
            steps=int(self.steps),
            batch=int(self.batch),
            n_critic=int(self.n_critic),
            n_penalty=int(self.n_penalty),
            lam=float(self.lam),
            gp=float(self.gp),
            lr=float(self.lr),
            betas=[float(b) for b in self.betas],
            ema=None if self.ema is None else float(self.ema),
            seed=int(self.seed),
        )


def _load_resume(path: Path, key: str, settings: dict, nets: dict, gen) -> tuple[dict, int]:
    st = load_plain(path, what="PSCGAN resume state")
    same = {k: v for k, v in json.loads(json.dumps(settings)).items() if k != "steps"}
    saved = st.get("settings") if isinstance(st, dict) else None
    if (
        not isinstance(saved, dict)
        or st.get("key") != key
        or {k: v for k, v in saved.items() if k != "steps"} != same
    ):
        raise ValueError(
            f"resume_path: {path} was written with other settings; delete it or "
            "pass the same settings (only steps may change)"
        )
    for name, obj in nets.items():
        obj.load_state_dict(st[name])
    gen.set_state(st["rng"])
    return st["log"], int(st["step"])


def fit_pscgan(
    g: nn.Module,
    D: nn.Module,
    data: torch.Tensor,
    measure: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    config: PSCGANTraining,
    *,
    resume_path=None,
    resume_key: str = "pscgan/resume",
    settings: dict | None = None,
    save_every: float = 30.0,
    max_seconds: float | None = None,
    progress: bool = False,
    desc: str = "train PSCGAN",
) -> tuple[nn.Module, dict]:
    r"""Train the PSCGAN pair ``(g, D)`` in place on ``data``; returns ``(generator, log)``.

    Parameters
    ----------
    g, D : modules
        ``g(y, z)`` with a ``latent_shape``, ``D(x, y) -> [B]``, initialised by the caller.
    data : tensor ``[N, ...]``
        Clean samples x; a batch is ``batch`` rows drawn with replacement.
    measure : callable ``measure(x, gen) -> y``
        The measurement of a batch, drawing its noise from ``gen`` (afresh for every batch).
    config : PSCGANTraining
    resume_path : path, optional
        The full state is saved there (atomically) every ``save_every`` seconds and at the
        end, and a run finding the file continues from it; ``resume_key`` and ``settings``
        (a JSON-able dict) must match what it holds, except ``settings["steps"]``.
    max_seconds : float, optional
        Stop after this many seconds of this call, at a log boundary (``finished`` False).
    progress, desc : tqdm bar.

    Returns
    -------
    generator : module
        The averaged copy if ``config.ema`` is set, else ``g``; eval mode, no grad.
    log : dict
        Per ``log_every`` generator steps the mean ``penalty`` (squared error of the
        M-average, summed over coordinates) and ``critic`` (the W1 estimate
        :math:`E D(x, y) - E D(g, y)`); ``log_every``, ``seconds`` (wall), ``cpu_seconds``
        (this process), ``steps_done``, ``finished``.
    """
    if not isinstance(config, PSCGANTraining):
        raise TypeError(f"config: expected a PSCGANTraining, got {type(config).__name__}")
    check_fit_args(g, D, data, measure, config, resume_path, resume_key, settings, save_every,
                   max_seconds, progress, desc)  # fmt: skip
    c = config
    g_ema = copy.deepcopy(g).requires_grad_(False) if c.ema is not None else None
    gen = torch.Generator().manual_seed(c.seed + 1)
    opt_g = torch.optim.Adam(g.parameters(), lr=c.lr, betas=tuple(c.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=c.lr, betas=tuple(c.betas))
    nets = dict(g=g, g_ema=g_ema, D=D, opt_g=opt_g, opt_d=opt_d)
    nets = {k: v for k, v in nets.items() if v is not None}
    settings = asdict(c) if settings is None else settings
    log = dict(penalty=[], critic=[], log_every=int(c.log_every), seconds=0.0, cpu_seconds=0.0)
    step0 = 0
    resume_path = None if resume_path is None else Path(resume_path)
    if resume_path is not None and resume_path.exists():
        log, step0 = _load_resume(resume_path, resume_key, settings, nets, gen)

    def save_state(step):
        if resume_path is not None:
            state = {k: v.state_dict() for k, v in nets.items()}
            atomic_torch_save(
                dict(key=resume_key, settings=json.loads(json.dumps(settings)), **state,
                     rng=gen.get_state(), log=log, step=step),
                resume_path,
            )  # fmt: skip

    zs, n, B, M = tuple(g.latent_shape), data.shape[0], c.batch, c.n_penalty

    def pairs():
        x = data[torch.randint(n, (B,), generator=gen)]
        return x, measure(x, gen)

    log.setdefault("cpu_seconds", float("nan"))  # nan: a part ran before it was recorded
    c_start = time.process_time()
    t_start = time.perf_counter()
    t_save = t_call = t_start
    acc_p = acc_c = 0.0
    step = step0
    bar = tqdm(range(step0, c.steps), desc=desc, disable=not progress, initial=step0,
               total=c.steps)  # fmt: skip
    eta = Progress(c.steps - step0, f"{c.steps - step0} generator steps", bar=False, prog=desc,
                   verb="training", budget_s=max_seconds)  # fmt: skip
    for step in bar:
        g.requires_grad_(False)
        D.requires_grad_(True)
        for _ in range(c.n_critic):
            x, y = pairs()
            with torch.no_grad():
                xf = g(y, torch.randn(B, *zs, generator=gen))
            w1 = D(x, y).mean() - D(xf, y).mean()
            loss_d = _finite_loss(-w1 + c.gp * gradient_penalty(D, x, xf, y, gen), step)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        g.requires_grad_(True)
        D.requires_grad_(False)
        x, y = pairs()
        xs = pscgan_samples(g, y, torch.randn(M, B, *zs, generator=gen))
        penalty = ((xs.mean(0) - x) ** 2).flatten(1).sum(1).mean()
        if c.adversarial == "all":
            adv = D(xs.flatten(0, 1), y.repeat(M, *(1,) * (y.ndim - 1))).mean()
        else:
            adv = D(xs[0], y).mean()
        loss_g = _finite_loss(penalty - c.lam * adv, step)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if g_ema is not None:
            ema_update(g_ema.parameters(), g.parameters(), c.ema)
        acc_p += penalty.item()
        acc_c += w1.item()
        eta.update(1)
        at_log = (step + 1) % c.log_every == 0
        if at_log:
            log["penalty"].append(acc_p / c.log_every)
            log["critic"].append(acc_c / c.log_every)
            acc_p = acc_c = 0.0
            bar.set_postfix(penalty=f"{log['penalty'][-1]:.3f}", w1=f"{log['critic'][-1]:.3f}")
        now = time.perf_counter()
        if now - t_save > save_every and at_log:
            log["seconds"] += now - t_start
            log["cpu_seconds"] += time.process_time() - c_start
            t_start = t_save = now
            c_start = time.process_time()
            save_state(step + 1)
        if max_seconds is not None and at_log and now - t_call > max_seconds:
            step += 1
            break
    else:
        step = c.steps
    log["seconds"] += time.perf_counter() - t_start
    log["cpu_seconds"] += time.process_time() - c_start
    log["steps_done"] = int(step)
    log["finished"] = bool(step >= c.steps)
    save_state(step)
    out = g_ema if g_ema is not None else g
    return out.eval().requires_grad_(False), log


@torch.no_grad()
def pscgan_estimate(
    g: nn.Module,
    y,
    *,
    n_avg: int = 1,
    sigma_z: float = 1.0,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    r"""PSCGAN estimate :math:`\hat x = \frac1N \sum_{m=1}^N g(y, \sigma_z z_m)`, z ~ N(0, I).

    Parameters
    ----------
    g : generator with ``latent_shape`` and ``y_shape``
        E.g. :class:`Generator` (2-D) or :class:`~diffusion.baselines.pscgan_images.
        ImageGenerator` (images: :func:`~diffusion.baselines.pscgan_images.pscgan_restore`
        also accepts other image layouts).
    y : tensor or array ``[B, *g.y_shape]``
        Measurements.
    n_avg : int >= 1
        N, the number of samples averaged (N = 1: a posterior sample; N → ∞: the
        generator's mean, the MMSE estimate if training succeeded).
    sigma_z : float >= 0
        Latent scale (0: the deterministic :math:`g(y, 0)`; then every N gives the same).
    generator : torch.Generator, optional
        Source of z (on the network's device), drawn at once as ``[N, B, *latent_shape]``,
        so the same generator state gives the same latents whatever ``chunk``.
    chunk : int, optional
        None: all N·B samples in one pass, and their mean. An int: at most this many
        measurements per pass, the samples summed over the passes and divided by N.

    Returns
    -------
    tensor ``[B, *g.y_shape]`` (float32, on the network's device)

    Examples
    --------
    >>> g = Generator()
    >>> pscgan_estimate(g, torch.zeros(5, 2), n_avg=3, generator=torch.Generator()).shape
    torch.Size([5, 2])
    """
    dev = next(check_module(g, "g", "latent_shape", "y_shape").parameters()).device
    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"y: expected a tensor or numeric array, got {type(y).__name__}") from exc
    if y.is_complex():
        raise TypeError(f"y: expected real measurements, got dtype {y.dtype}")
    y = check_tensor(y if y.is_floating_point() else y.float(), "y").float().to(dev)
    if y.ndim < 2 or tuple(y.shape[1:]) != tuple(g.y_shape):
        want = ", ".join(str(s) for s in g.y_shape)
        raise ValueError(f"y: expected shape [B, {want}], got {list(y.shape)}")
    if isinstance(n_avg, bool) or not isinstance(n_avg, (int, np.integer)) or n_avg < 1:
        raise ValueError(f"n_avg: expected an integer >= 1, got {n_avg!r}")
    if not (
        isinstance(sigma_z, (int, float, np.floating))
        and not isinstance(sigma_z, bool)
        and math.isfinite(sigma_z)
        and sigma_z >= 0
    ):
        raise ValueError(f"sigma_z: expected a finite number >= 0, got {sigma_z!r}")
    if chunk is not None:
        chunk = check_size(chunk, "chunk")
    check_generator(generator, "generator")
    B = y.shape[0]
    z = torch.randn(n_avg, B, *g.latent_shape, generator=generator, device=dev)
    if not bool(torch.isfinite(sigma_z * z).all()):
        raise ValueError(f"sigma_z: {sigma_z!r} overflows the latent sigma_z * z in {z.dtype}")
    if chunk is None:
        return _finite_estimate(pscgan_samples(g, y, sigma_z * z).mean(0))
    per = max(1, chunk // B)
    total = torch.zeros_like(y)
    for m in range(0, n_avg, per):
        zz = sigma_z * z[m : m + per]
        for b in range(0, B, chunk):
            total[b : b + chunk] += pscgan_samples(g, y[b : b + chunk], zz[:, b : b + chunk]).sum(0)
    return _finite_estimate(total / n_avg)


def _finite_loss(loss: torch.Tensor, step: int) -> torch.Tensor:
    """``loss`` if finite, else ValueError before any step is taken with it."""
    if not bool(torch.isfinite(loss)):
        raise ValueError(f"lam, gp, lr: the training loss is {float(loss)} at generator step "
                         f"{step} (a weight or step size too large for the networks' dtype)")  # fmt: skip
    return loss


def _finite_estimate(x: torch.Tensor) -> torch.Tensor:
    """``x`` if finite; else ValueError (the inputs were finite: the weights or the latent
    scale made the generator overflow)."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError("sigma_z: the estimate is not finite (the generator g overflowed at "
                         "this latent scale, or its weights are not finite)")  # fmt: skip
    return x
