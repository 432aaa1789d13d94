r"""PSCGAN (Ohayon et al. 2021) for deblurring the 16 x 16 digits: the GAN baseline of issue #9.

A conditional generator :math:`g(y, z)` is trained, at one noise level, to *sample* the
posterior of :math:`x` given :math:`y = A x + \sigma_y n`; averaging N of its samples moves
from a posterior sample (N = 1, best perception) towards the posterior mean (N → ∞, least
MSE), and so does shrinking the latent, :math:`z \sim N(0, \sigma_z^2 I)` with
:math:`\sigma_z: 1 \to 0`. :func:`pscgan_restore` does both. The trainer and the WGAN-GP
penalty are the ones of the 2-D experiments, :mod:`diffusion.baselines.pscgan`; this module
holds the image networks, the deblurring problem and the evaluation.

**Losses** (:func:`diffusion.baselines.pscgan.fit_pscgan`, whose notes derive them): the
critic :math:`D(x, y)` by WGAN-GP, the generator by the squared error (summed over the 256
pixels) of the average of M samples minus λ times the critic on all M samples. Defaults
(:data:`TRAIN_DEFAULTS`): M = 8 and λ = 1, the weights of the 2-D version
(:func:`diffusion.experiments.toy2d.models.train_pscgan`, whose penalty is also summed over
dimensions), 900 generator steps of batch 16 with 2 critic steps each, generator EMA decay
0.99.

**Problem** (:func:`deblur_operator`): Gaussian blur, 5 x 5 kernel, std 1.0 px, reflecting
boundary, at :math:`\sigma_y = 0.05` in the [-1, 1] pixel range, digits of the ``train``
split of :func:`diffusion.data.digits.digits16` (noise drawn afresh for every batch). The
paper's blur (61 x 61, std 3.0 at 256 x 256 px) scaled by 16/256 would have std 0.19 px,
a blur too small to matter at 16 x 16, so a 1-px blur is used instead.

**Networks.** :class:`ImageGenerator` (154 625 parameters): y and a noise map
z ``[B, 4, 16, 16]`` concatenated, a small U-Net (two 3 x 3 convolutions at 16 x 16 with
32 channels, a stride-2 convolution to 8 x 8 with 64 channels and two more, nearest
upsampling, a skip connection, two convolutions), leaky ReLU, and the output added to y
(it predicts the residual :math:`x - y`). :class:`ImageCritic` (166 689): the pair
:math:`(x, y)` as 2 channels, convolutions 32 @ 16², 64 @ 8², 128 @ 4², a linear layer;
leaky ReLU, no normalisation (WGAN-GP forbids batch norm in the critic). The saved and
sampled generator is an exponential moving average (EMA, decay 0.99) of the trained
weights.

**Training** (``python -m diffusion.pscgan_images --train``): Adam (lr 2e-4, betas
(0.5, 0.9), as WGAN-GP); seeded and resumable (a hidden ``.<name>.resume.pt`` file beside
``--out`` keeps networks, optimisers, RNG state and log; with the same seed, torch build
and thread count a resumed run gives the same weights as an uninterrupted one; only
``--steps`` may change on resume); ``--minutes`` caps the wall time of one invocation.
One generator step (with its 2 critic steps) takes 0.38 s on one idle core of the 2-core
development machine, so the 900 steps take about 6 minutes; the shipped weights took 424 s
of wall time (276 s CPU) on that machine shared with other jobs (load average 5), and an
interrupted run resumed to the end gave the same weights bit for bit.

**Measured** (``python -m diffusion.pscgan_images --evaluate``: the 360 ``test`` digits,
one noise draw per σ_y; MSE per pixel; FD, KID and accuracy on the digit classifier of
:mod:`diffusion.metrics.perception`, against the same clean digits, KID paired; "y" is the
measurement itself, "LMMSE" the linear MMSE estimate under a Gaussian fitted to the
``train`` digits, which knows σ_y):

=======  ===========  ========  =====  ======  ======  ========  =====
σ_y      estimate     MSE/px    PSNR   SSIM    FD      KID       acc
=======  ===========  ========  =====  ======  ======  ========  =====
0.05     y            0.02555   22.06  0.880   2.236   0.188     0.994
0.05     LMMSE        0.00206   33.06  0.988   0.0050  1.0e-4    0.994
0.05     N=1          0.00349   30.66  0.984   0.0055  1.0e-4    0.994
0.05     N=64         0.00212   32.86  0.988   0.0048  1.0e-4    0.994
0.05     N=1, σ_z=.5  0.00349   30.69  0.984   0.066   5.8e-3    0.994
0.05     N=1, σ_z=0   0.00451   29.59  0.980   0.150   1.4e-2    0.994
0.2      y            0.06310   18.05  0.785   2.218   0.170     0.981
0.2      LMMSE        0.01291   25.09  0.912   0.136   6.1e-3    0.986
0.2      N=1          0.02620   21.92  0.890   0.102   6.2e-3    0.989
0.2      N=64         0.02479   22.16  0.893   0.100   6.2e-3    0.989
=======  ===========  ========  =====  ======  ======  ========  =====

At the training level, averaging 64 samples cuts the MSE by 39 % (an exact posterior
sampler would halve it) down to the linear MMSE, while FD and KID do not separate N = 1
from N = 64 (over four latent draws FD is 0.0052 ± 0.0003 at N = 1 and 0.0046 ± 0.00003
at N = 64): the 1-px blur at σ_y = 0.05 leaves a narrow posterior, so samples and their
mean look alike to the classifier. Shrinking the latent (σ_z < 1) does *not* traverse
the tradeoff: z = 0 is far from the latents seen in training (:math:`\|z\| \approx 32`),
and σ_z = 0 is worse in MSE *and* perception than a sample. At σ_y = 0.2, a noise level
it was not trained for, the generator breaks in distortion, as the paper reports: its MSE
is 12 times that at 0.05 (the measurement's only 2.5 times) and twice the linear MMSE's,
and averaging no longer helps (the error is bias, not spread); its FD (0.10) stays below
the linear estimate's (0.14).

References
----------
1. G. Ohayon, T. Adrai, G. Vaksman, M. Elad, P. Milanfar, ICCV Workshops 2021 (PSCGAN; the
   method and its WGAN-GP critic: :mod:`diffusion.baselines.pscgan`).
2. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, "Traversing Distortion-Perception Tradeoff using a
   Single Score-Based Generative Model", arXiv 2503.20297 (2025) (the comparison).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diffusion._paths import WEIGHTS_DIR
from diffusion.baselines._checks import (
    check_generator,
    check_module,
    check_net_input,
    check_number,
    check_size,
    check_tensor,
)
from diffusion.baselines.pscgan import (
    PSCGANTraining,
    fit_pscgan,
    gradient_penalty,
    pscgan_estimate,
    seeded,
)
from diffusion.data.digits import digits16
from diffusion.metrics.digit_classifier import as_image_batch
from diffusion.operators import GaussianBlur, LinearOperator
from diffusion.training.checkpoint import load_model, save_model
from numerics.validate import check_positive

__all__ = [
    "DEFAULT_PATH",
    "DEBLUR",
    "TRAIN_DEFAULTS",
    "ImageCritic",
    "ImageGenerator",
    "deblur_operator",
    "evaluate_pscgan",
    "gradient_penalty",
    "load_pscgan",
    "measure",
    "pscgan_restore",
    "save_pscgan",
    "train_pscgan_images",
]

#: The shipped generator.
DEFAULT_PATH = WEIGHTS_DIR / "pscgan_digits16_deblur.pt"

#: The deblurring problem (see the module notes for why std 1.0 px, not the paper's scaled 0.19).
DEBLUR = dict(kernel_size=5, std=1.0, in_shape=(1, 16, 16), boundary="reflect", sigma_y=0.05)

#: Training settings of the shipped generator.
TRAIN_DEFAULTS = dict(
    steps=900,
    batch=16,
    n_critic=2,
    n_penalty=8,
    lam=1.0,
    gp=10.0,
    lr=2e-4,
    betas=(0.5, 0.9),
    ema=0.99,
    seed=0,
)

_KEY = "pscgan_digits16/v1"


def deblur_operator() -> GaussianBlur:
    """The blur of :data:`DEBLUR`: 5 x 5, std 1.0 px, reflecting boundary, ``[B, 1, 16, 16]``."""
    return GaussianBlur(
        DEBLUR["kernel_size"], DEBLUR["std"], DEBLUR["in_shape"], boundary=DEBLUR["boundary"]
    )


def _conv(a: int, b: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(a, b, k, stride=stride, padding=(k - 1) // 2 if stride == 1 else 1)


class ImageGenerator(nn.Module):
    """PSCGAN generator ``g(y [B, 1, 16, 16], z [B, z_channels, 16, 16]) -> x [B, 1, 16, 16]``.

    A two-level U-Net on ``cat(y, z)`` whose output is added to y (module notes).

    Examples
    --------
    >>> from diffusion.priors.unet import count_parameters
    >>> g = ImageGenerator()
    >>> g(torch.zeros(2, 1, 16, 16), torch.zeros(2, 4, 16, 16)).shape
    torch.Size([2, 1, 16, 16])
    >>> count_parameters(g)
    154625
    """

    def __init__(self, z_channels: int = 4, width: int = 32):
        super().__init__()
        c, zc = check_size(width, "width"), check_size(z_channels, "z_channels")
        self.config = dict(z_channels=zc, width=c)
        self.z_channels = zc
        self.inp = nn.ModuleList([_conv(1 + zc, c), _conv(c, c)])
        self.down = nn.ModuleList([_conv(c, 2 * c, 4, stride=2), _conv(2 * c, 2 * c)])
        self.mid = _conv(2 * c, 2 * c)
        self.up = _conv(2 * c, c)
        self.out = nn.ModuleList([_conv(2 * c, c), _conv(c, 1)])

    #: Shape of one measurement y.
    y_shape = (1, 16, 16)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """Shape of one latent z: ``(z_channels, 16, 16)``."""
        return (self.z_channels, 16, 16)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``y [B, 1, 16, 16]``, ``z [B, z_channels, 16, 16]`` (the network's dtype and
        device, finite) -> ``[B, 1, 16, 16]``."""
        check_net_input(y, "y", self, self.y_shape)
        check_net_input(z, "z", self, self.latent_shape, batch=y.shape[0], other="y")
        act = nn.functional.leaky_relu
        h = torch.cat([y, z], dim=1)
        for layer in self.inp:
            h = act(layer(h), 0.2)
        skip = h
        for layer in self.down:
            h = act(layer(h), 0.2)
        h = act(self.mid(h), 0.2) + h
        h = act(self.up(nn.functional.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        h = act(self.out[0](torch.cat([h, skip], dim=1)), 0.2)
        return y + self.out[1](h)


class ImageCritic(nn.Module):
    """PSCGAN critic ``D(x [B, 1, 16, 16], y [B, 1, 16, 16]) -> [B]`` (module notes).

    Examples
    --------
    >>> from diffusion.priors.unet import count_parameters
    >>> count_parameters(ImageCritic())
    166689
    """

    def __init__(self, width: int = 32):
        super().__init__()
        c = check_size(width, "width")
        self.config = dict(width=c)
        self.convs = nn.ModuleList(
            [_conv(2, c), _conv(c, 2 * c, 4, stride=2), _conv(2 * c, 4 * c, 4, stride=2)]
        )
        self.head = nn.Linear(4 * c * 16, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``, ``y``: ``[B, 1, 16, 16]`` (the network's dtype and device, finite) -> ``[B]``."""
        check_net_input(x, "x", self, ImageGenerator.y_shape)
        check_net_input(y, "y", self, ImageGenerator.y_shape, batch=x.shape[0], other="x")
        h = torch.cat([x, y], dim=1)
        for layer in self.convs:
            h = nn.functional.leaky_relu(layer(h), 0.2)
        return self.head(h.flatten(1)).squeeze(-1)


def measure(x: torch.Tensor, sigma_y: float, gen: torch.Generator, operator=None) -> torch.Tensor:
    r""":math:`y = A x + \sigma_y n`, n ~ N(0, I) from ``gen``, A the deblur blur by default.

    ``x``: a finite floating tensor ``[B, *A.in_shape]`` on ``gen``'s device; ``sigma_y`` > 0;
    ``gen``: a ``torch.Generator`` or None. Returns ``[B, *A.out_shape]`` in ``x``'s dtype.
    """
    sigma_y = check_positive(sigma_y, "sigma_y")
    check_generator(gen, "gen")
    A = deblur_operator() if operator is None else operator
    if not isinstance(A, LinearOperator):
        raise TypeError(f"operator: expected a LinearOperator or None, got {type(A).__name__}")
    dev = torch.device("cpu") if gen is None else gen.device
    check_tensor(x, "x", device=dev)
    y = A(A.check_input(x, "x")) + sigma_y * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"sigma_y: {sigma_y!r} makes the noise overflow in {x.dtype}")
    return y


# --------------------------------------------------------------------------- checkpoints


def save_pscgan(g: ImageGenerator, path, info: dict | None = None) -> None:
    """Write the generator ``{key, config, state, info}`` to ``path`` (atomic; no critic).

    ``g``: an :class:`ImageGenerator`; ``info``: a dict of plain values, or None."""
    if not isinstance(g, ImageGenerator):
        raise TypeError(f"g: expected an ImageGenerator, got {type(g).__name__}")
    if info is not None and not isinstance(info, dict):
        raise TypeError(f"info: expected a dict or None, got {type(info).__name__}")
    save_model(path, g, key=_KEY, info=info)


def load_pscgan(path=None, device="cpu") -> ImageGenerator:
    """Load a generator saved by :func:`save_pscgan` (default: the shipped one).

    Returns it on ``device``, eval mode, ``requires_grad`` off; its training record (settings,
    log, command) is ``g.info``. A file that is not a PSCGAN-digits checkpoint, or that a
    safe load refuses (:mod:`diffusion.training.checkpoint`), raises ValueError naming it;
    nothing is downloaded.
    """
    return load_model(
        DEFAULT_PATH if path is None else path, ImageGenerator, key=_KEY, what="PSCGAN digits",
        device=device, make="python -m diffusion.pscgan_images --train --out PATH",
    )  # fmt: skip


# --------------------------------------------------------------------------- training


def train_pscgan_images(
    *,
    steps: int = TRAIN_DEFAULTS["steps"],
    batch: int = TRAIN_DEFAULTS["batch"],
    n_critic: int = TRAIN_DEFAULTS["n_critic"],
    n_penalty: int = TRAIN_DEFAULTS["n_penalty"],
    lam: float = TRAIN_DEFAULTS["lam"],
    gp: float = TRAIN_DEFAULTS["gp"],
    lr: float = TRAIN_DEFAULTS["lr"],
    betas=TRAIN_DEFAULTS["betas"],
    ema: float = TRAIN_DEFAULTS["ema"],
    seed: int = TRAIN_DEFAULTS["seed"],
    sigma_y: float = DEBLUR["sigma_y"],
    data: np.ndarray | None = None,
    generator_width: int = 32,
    critic_width: int = 32,
    resume_path=None,
    save_every: float = 30.0,
    max_seconds: float | None = None,
    log_every: int = 50,
    progress: bool = False,
) -> tuple[ImageGenerator, dict]:
    r"""Train PSCGAN for deblurring on ``data`` (default: the ``train`` digits); ``(g_ema, log)``.

    Each of ``steps`` generator updates follows ``n_critic`` WGAN-GP critic updates; the
    losses are those of the module notes. ``log`` has, per ``log_every`` generator steps, the
    mean ``penalty`` (squared error of the ``n_penalty``-average, summed over pixels),
    ``critic`` (the critic's W1 estimate :math:`E D(x, y) - E D(g, y)`), and ``seconds``
    (wall), ``cpu_seconds`` (CPU time of this process), ``steps_done``, ``finished``.

    With ``resume_path``, the full state is saved there every ``save_every`` seconds and at
    the end, and a run finding the file continues from it (same settings required, except
    ``steps``, which may be raised to train longer). The
    run stops after ``max_seconds`` of this invocation (``finished`` False) if given.
    """
    config = PSCGANTraining(
        steps=steps, batch=batch, n_critic=n_critic, n_penalty=n_penalty, lam=lam, gp=gp,
        lr=lr, betas=betas, ema=ema, adversarial="all", seed=seed, log_every=log_every,
    )  # fmt: skip
    sigma_y = check_positive(sigma_y, "sigma_y")
    generator_width = check_size(generator_width, "generator_width")
    critic_width = check_size(critic_width, "critic_width")
    if data is not None and (
        np.iscomplexobj(data) or (isinstance(data, torch.Tensor) and data.is_complex())
    ):
        raise TypeError("data: expected real images, got complex values")
    settings = dict(
        config.record(),
        sigma_y=float(sigma_y),
        generator_width=int(generator_width),
        critic_width=int(critic_width),
        operator={k: v for k, v in DEBLUR.items() if k != "sigma_y"},
        data="digits16 train" if data is None else "custom",
    )
    X = as_image_batch(digits16("train")[0] if data is None else data, "data")
    A = deblur_operator()
    g, D = seeded(
        lambda: (ImageGenerator(width=generator_width), ImageCritic(width=critic_width)), seed
    )
    g_ema, log = fit_pscgan(
        g, D, X, lambda x, gen: measure(x, sigma_y, gen, A), config,
        resume_path=resume_path, resume_key=_KEY + "/resume", settings=settings,
        save_every=save_every, max_seconds=max_seconds, progress=progress,
        desc="train PSCGAN (digits)",
    )  # fmt: skip
    log["settings"] = settings
    g_ema.info = dict(log)
    return g_ema, log


# --------------------------------------------------------------------------- inference


def pscgan_restore(g: ImageGenerator, y, **options) -> torch.Tensor:
    r"""PSCGAN estimate :math:`\hat x = \frac1N\sum_{m=1}^N g(y, \sigma_z z_m)`, z ~ N(0, I), of images.

    :func:`diffusion.baselines.pscgan.pscgan_estimate` with ``chunk=4096`` images per forward
    pass unless given (``n_avg``, ``sigma_z``, ``generator``, ``chunk``: its keywords), after
    checking ``y``: a tensor or array ``[B, 1, 16, 16]`` (or ``[B, 16, 16]``, ``[B, 256]``)
    of measurements in the [-1, 1] range. Returns ``[B, 1, 16, 16]`` (float32, on the
    network's device); the same generator state gives the same output whatever ``chunk``.

    Examples
    --------
    >>> g = ImageGenerator()
    >>> y = torch.zeros(3, 1, 16, 16)
    >>> pscgan_restore(g, y, n_avg=4, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 1, 16, 16])
    """
    dev = next(check_module(g, "g", "latent_shape", "y_shape").parameters()).device
    if isinstance(y, torch.Tensor) and (y.is_meta or y.is_complex()):
        raise ValueError(f"y: expected real measurements with data, got a {y.dtype} tensor on "
                         f"{y.device}")  # fmt: skip
    y = as_image_batch(y, "y", device=dev)
    return pscgan_estimate(g, y, **{"chunk": 4096, **options})


def _entries(values, name: str) -> list:
    """``values`` (a list or tuple) as a list, else ValueError naming it."""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{name}: expected a list of numbers, got {values!r:.40}")
    return list(values)


def _lmmse(y: torch.Tensor, A, sigma_y: float) -> torch.Tensor:
    r"""Linear MMSE deblurring under :math:`N(\mu, \Sigma)` fitted to the ``train`` digits.

    :math:`\hat x = \mu + \Sigma A^\top (A \Sigma A^\top + \sigma_y^2 I)^{-1}(y - A\mu)`,
    :math:`\Sigma` the sample covariance plus :math:`10^{-4} I`; float64, ``[B, 1, 16, 16]``.
    """
    tr = digits16("train")[0].reshape(-1, 256)
    mu, S = tr.mean(0), np.cov(tr.T) + 1e-4 * np.eye(256)
    M = np.asarray(A.as_matrix(), dtype=np.float64)
    K = np.linalg.solve(M @ S @ M.T + sigma_y**2 * np.eye(256), M @ S).T  # S A^T (.)^-1
    Y = y.reshape(-1, 256).double().cpu().numpy()
    xh = mu + (Y - mu @ M.T) @ K.T
    return torch.as_tensor(xh, dtype=torch.float32).reshape(y.shape)


def evaluate_pscgan(
    g: ImageGenerator,
    *,
    sigma_ys=(0.05, 0.2),
    n_avgs=(1, 4, 16, 64),
    sigma_zs=(1.0,),
    split: str = "test",
    seed: int = 0,
    classifier=None,
) -> list[dict]:
    """MSE / PSNR / SSIM / classifier FD, KID, accuracy / sliced W2 of PSCGAN on a split.

    ``sigma_ys``: noise levels in (0, 1e6]; ``n_avgs``: integers >= 1; ``sigma_zs``: latent
    scales in [0, 1e6]; ``seed``: an integer in [0, 2**32) (ValueError naming them otherwise).

    For every σ_y, the split's digits are blurred and noised once (seeded by
    ``(seed, round(1e6 σ_y))``); for every ``(N, σ_z)`` one estimate per image is compared with
    its clean image (distortion: ``mse`` per pixel, ``mse_image`` summed over the 256 pixels,
    ``psnr``, ``ssim``) and the set of estimates with the set of clean images (perception:
    ``fd``, ``kid``, ``sw2``; see :mod:`diffusion.metrics.perception`) and with the labels (``acc``).
    Rows with ``estimator`` "y" score the measurement itself, rows "lmmse" the linear MMSE
    estimate under a Gaussian fitted to the ``train`` digits (:func:`_lmmse`; ``n_avg`` 0
    for both), a yardstick that knows σ_y. Returns one dict per row.

    The perception numbers compare restorations of the split's images with *those same*
    clean images, so a near-perfect restoration scores far below the FD between two
    independent real sets (the FD of ``val`` against ``test`` is 0.30 with the shipped
    classifier, that of the two halves of ``test`` 0.87): read them against each other,
    not against that floor. ``kid`` uses the paired estimator
    (:func:`diffusion.metrics.perception.mmd2_unbiased`, ``paired=True``), unbiased for the law of
    the restorations against the law of the clean digits despite the pairing.
    """
    from diffusion.metrics import perception as P

    if classifier is not None and not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier: expected a digit classifier module or None, got "
                        f"{type(classifier).__name__}")  # fmt: skip
    # At most 1e6: a noise seed is round(1e6 σ_y), and the generator was trained at σ_z = 1.
    sigma_ys = [check_positive(s, "sigma_ys") for s in _entries(sigma_ys, "sigma_ys")]
    n_avgs = [check_size(n, "n_avgs") for n in _entries(n_avgs, "n_avgs")]
    sigma_zs = [check_number(s, "sigma_zs") for s in _entries(sigma_zs, "sigma_zs")]
    for name, vals in (("sigma_ys", sigma_ys), ("sigma_zs", sigma_zs)):
        if any(v > 1e6 for v in vals):
            raise ValueError(f"{name}: expected values up to 1e6, got {max(vals)!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an integer in [0, 2**32), got {seed!r:.40}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected an integer in [0, 2**32), got {seed!r}")
    clf = P._classifier(classifier)
    x, labels = digits16(split)
    X = as_image_batch(x)
    A = deblur_operator()
    rows = []
    for s in sigma_ys:
        gy = torch.Generator().manual_seed(int(seed) * 1_000_003 + round(1e6 * s))
        y = A(X) + s * torch.randn(X.shape, generator=gy)
        cases = [("y", float("nan"), 0, y), ("lmmse", float("nan"), 0, _lmmse(y, A, s))]
        for sz in sigma_zs:
            for N in n_avgs:
                gz = torch.Generator().manual_seed(int(seed) + 7 * int(N))
                xh = pscgan_restore(g, y, n_avg=int(N), sigma_z=float(sz), generator=gz)
                cases.append(("pscgan", float(sz), int(N), xh))
        for name, sz, N, xh in cases:
            err = ((xh - X) ** 2).flatten(1).mean(1)
            rows.append(
                dict(
                    estimator=name,
                    sigma_y=float(s),
                    sigma_z=sz,
                    n_avg=N,
                    mse=float(err.mean()),
                    mse_image=float(256 * err.mean()),
                    psnr=P.psnr(xh, X),
                    ssim=P.ssim(xh, X),
                    fd=P.classifier_fd(xh, X, classifier=clf),
                    kid=P.classifier_kid(xh, X, classifier=clf, seed=seed, paired=True),
                    acc=P.classifier_accuracy(xh, labels, classifier=clf),
                    sw2=P.pixel_sliced_w2(xh, X, seed=seed),
                )
            )
    return rows
