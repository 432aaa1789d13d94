r"""DiffPIR (Zhu et al. 2023): plug-and-play restoration with a diffusion denoiser, in-house.

One reverse step of DiffPIR, from state :math:`x_k` of a respaced schedule (model time
:math:`t_k`) to :math:`x_{k-1}`, for every sample of the batch:

.. math::

    \hat x_0 &= D(x_k, t_k) \quad\text{(the denoiser: } E[x_0 \mid x_k]\text{)},\\
    \hat x_0' &= \arg\min_x\ \|y - A x\|^2 + \rho_k \|x - \hat x_0\|^2
               = (A^\top A + \rho_k I)^{-1}(A^\top y + \rho_k \hat x_0),
    \qquad \rho_k = \frac{\lambda\,\sigma_y^2}{\bar\sigma_k^2},\quad
    \bar\sigma_k^2 = \frac{1 - \bar\alpha_k}{\bar\alpha_k},\\
    \hat\varepsilon &= \frac{x_k - \sqrt{\bar\alpha_k}\,\hat x_0'}{\sqrt{1 - \bar\alpha_k}},
    \qquad
    x_{k-1} = \sqrt{\bar\alpha_{k-1}}\,\hat x_0' + \sqrt{1 - \bar\alpha_{k-1}}
    \big(\sqrt{1 - \zeta}\,\hat\varepsilon + \sqrt{\zeta}\,\varepsilon\big),
    \quad \varepsilon \sim N(0, I).

The data step is the proximal point of the likelihood :math:`\|y - Ax\|^2/(2\sigma_y^2)` around
:math:`\hat x_0` with an isotropic Gaussian of variance :math:`\bar\sigma_k^2/\lambda`
(:math:`\bar\sigma_k` is the noise level of :math:`x_k/\sqrt{\bar\alpha_k}`). Since
:math:`\bar\alpha_0 = 1`, the last step returns :math:`x_0 = \hat x_0'` of step 1: the output
is the ridge estimate around the denoiser's last prediction. The chain starts from
:math:`x_T \sim N(0, I)` at model time ``T`` (1000), over ``steps`` evenly strided times
(:func:`numerics.schedule.respace`, correct :math:`\bar\alpha` for the stride).

**The data step** is the operator's proximal map,
:meth:`LinearOperator.prox_l2(x0_hat, y, rho=rho_k) <diffusion.operators.LinearOperator.prox_l2>`:
closed form for :class:`~diffusion.operators.Identity`, :class:`~diffusion.operators.Inpainting`
(:math:`A^\top A` diagonal), :class:`~diffusion.operators.AveragePoolSR` (:math:`AA^\top = I/f^2`,
push-through), :class:`~diffusion.operators.GaussianBlur` (per-axis SVD, or the DFT for the
circular boundary) and :class:`~diffusion.operators.DenseOperator` (thin SVD), conjugate
gradients for any other operator; always in the residual form
:math:`\hat x_0' = \hat x_0 + (A^\top A + \rho I)^{-1}A^\top(y - A\hat x_0)`, exact, checked
against a dense ``solve`` in the tests. :func:`data_step` is the step alone.

**When DiffPIR is the exact posterior mean (Gaussian prior).** The data step replaces the
law of :math:`x_0 \mid x_k` by :math:`N(\hat x_0, (\bar\sigma_k^2/\lambda) I)`. For a Gaussian
prior :math:`N(\mu, S)` that law is exactly :math:`N(\hat x_0, C_k)`,
:math:`C_k = (S^{-1} + \bar\sigma_k^{-2} I)^{-1}`, and :math:`y \perp x_k \mid x_0`, so the exact
conditional denoiser is :math:`E[x_0 \mid x_k, y] = (A^\top A + \sigma_y^2 C_k^{-1})^{-1}
(A^\top y + \sigma_y^2 C_k^{-1}\hat x_0)`. The DiffPIR step equals it for every A, y, x_k iff
:math:`\sigma_y^2 C_k^{-1} = \rho_k I`, i.e. iff :math:`S = s^2 I` is isotropic and
:math:`\lambda_k = 1 + \bar\sigma_k^2/s^2` (a :math:`\bar\sigma`-dependent λ; pass ``lam`` as
a callable). Then the chain is the DDIM / DiffPIR chain of the exact posterior
:math:`N(m, S_y)`: started at :math:`x_T = \sqrt{\bar\alpha_T}\,m` it stays on
:math:`x_k = \sqrt{\bar\alpha_k}\,m` (:math:`\hat x_0' = m`, :math:`\hat\varepsilon = 0`) and
returns :math:`m` exactly with ζ = 0, and a random output of mean :math:`m` with ζ > 0, for any
number of steps. For any constant λ and a proper prior it is exact for no finite setting
(:math:`\sigma_y^2 C_k^{-1} = \rho_k I` fails at some k); with λ = 1 the mismatch
:math:`\sigma_y^2 S^{-1}` is relatively small where :math:`\bar\sigma_k^2 \ll` the prior
variances (the flat-prior limit); with full-rank A, y fixed and :math:`\sigma_y \to 0` the
output is :math:`m + \sigma_y^2 L + O(\sigma_y^4)` with :math:`L \ne 0` in general (both tend to
:math:`A^{-1}y`). From any :math:`x_T` with the exact step and ζ = 0 the chain is DDIM on the
posterior: in :math:`u = x/\sqrt{\bar\alpha}`, :math:`u_{k-1} - m = (S_y + \bar\sigma_{k-1}
\bar\sigma_k I)(S_y + \bar\sigma_k^2 I)^{-1}(u_k - m)`, so the output is
:math:`m + G(x_T/\sqrt{\bar\alpha_T} - m)` with G diagonal in the eigenbasis of :math:`S_y`.
From :math:`x_T \sim N(0, I)` its covariance :math:`GG^\top/\bar\alpha_T` is neither 0 (the
mean) nor :math:`S_y` (a posterior sample): at 100 uniform steps, along an eigenvector of
:math:`S_y` with eigenvalue v, it is 0.05, 0.32, 0.74, 0.91, 0.96 times v for v = 1e-4, 1e-3,
1e-2, 0.1, 1 (0.47 … 0.996 at 1000 steps; it tends to v only as the steps refine), and its
mean is :math:`m - Gm`, off by :math:`O(\sqrt{\bar\alpha_T v})`. The tests check each statement.

Differences from the reference code (github.com/yuanzhi-zhu/DiffPIR, ``main_ddpir_*.py``):
it writes :math:`\sigma_y` in [0, 1] pixel units but :math:`\bar\sigma_t` in the network's
[-1, 1] units, so its :math:`\rho` is :math:`\lambda_{\rm ref}(\sigma_y/2)^2/\bar\sigma_t^2`:
its ``lambda_`` is 4x the λ here for the same :math:`\rho` (both units here are [-1, 1]).
It spaces its 100 times quadratically (``skip_type='quad'``) and skips the data step at the
last time (its output is the denoiser's :math:`\hat x_0` at t = 1); here the times are
uniform and every step, the last included, has its data step. Its optional start at an
intermediate time from a noised :math:`y` is not implemented (``x_T`` can be passed).

Randomness: ``x_T`` and the per-step normals are drawn in float32 on the generator's device
and cast (as in :func:`diffusion.sampler.sample`), one ``[B, ...]`` normal per step even when
ζ = 0, so float32 and float64 runs see the same noise.

References
----------
1. Y. Zhu, K. Zhang, J. Liang, J. Cao, B. Wen, R. Timofte, L. Van Gool, "Denoising Diffusion
   Models for Plug-and-Play Image Restoration", CVPR Workshops (NTIRE) 2023, Algorithm 1.
2. J. Song, C. Meng, S. Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
3. A. Nichol, P. Dhariwal, "Improved DDPM", ICML 2021 (respaced schedules).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from diffusion.models import _call_denoiser
from diffusion.operators import LinearOperator
from diffusion.sampler import DivergenceError, check_divergence
from diffusion.schedule import as_torch_schedule
from numerics.schedule import check_schedule, respace
from numerics.validate import check_bool, check_eta, check_positive, check_std

__all__ = ["DivergenceError", "data_step", "diffpir", "rho_schedule"]


# --------------------------------------------------------------------------- data step


def data_step(
    operator: LinearOperator, y: torch.Tensor, x0_hat: torch.Tensor, rho: float
) -> torch.Tensor:
    r"""The DiffPIR data step :math:`(A^\top A + \rho I)^{-1}(A^\top y + \rho\,\hat x_0)`.

    .. math::

        \hat x_0' = \arg\min_x\ \|y - A x\|^2 + \rho\,\|x - \hat x_0\|^2
        = \hat x_0 + (A^\top A + \rho I)^{-1} A^\top (y - A\hat x_0),

    :meth:`operator.prox_l2(x0_hat, y, rho=rho) <diffusion.operators.LinearOperator.prox_l2>`,
    batched, in ``x0_hat``'s dtype and device (``y`` is cast to that dtype).

    Parameters
    ----------
    operator : diffusion.operators.LinearOperator
    y : tensor [B, *operator.out_shape]
    x0_hat : tensor [B, *operator.in_shape]
    rho : float > 0

    Returns
    -------
    tensor [B, *operator.in_shape]

    Examples
    --------
    >>> from diffusion.operators import Inpainting
    >>> op = Inpainting(torch.tensor([1.0, 0.0]))
    >>> data_step(op, torch.tensor([[2.0, 5.0]]), torch.tensor([[0.0, 1.0]]), 1.0)
    tensor([[1., 1.]])
    """
    if not isinstance(operator, LinearOperator):
        raise ValueError(
            f"operator: expected a diffusion.operators.LinearOperator, got {type(operator).__name__}"
        )
    for v, name in ((x0_hat, "x0_hat"), (y, "y")):
        if isinstance(v, torch.Tensor) and v.is_meta:
            raise ValueError(f"{name}: a tensor on the meta device (no data)")
    operator.check_input(x0_hat, "x0_hat")
    operator.check_measurement(y, "y")
    if y.shape[0] not in (1, x0_hat.shape[0]) or y.device != x0_hat.device:
        raise ValueError(
            f"x0_hat: batch {x0_hat.shape[0]} on {x0_hat.device}; y: batch {y.shape[0]} on "
            f"{y.device}; expected the same device and a batch of B or 1"
        )
    return operator.prox_l2(x0_hat, y.to(x0_hat.dtype), rho=rho)


# --------------------------------------------------------------------------- the chain


def rho_schedule(schedule, sigma_y: float, lam) -> np.ndarray:
    r""":math:`\rho_k = \lambda_k \sigma_y^2 / \bar\sigma_k^2`, :math:`\bar\sigma_k^2 =
    (1 - \bar\alpha_k)/\bar\alpha_k`, for k = 0..T of a (respaced) numpy schedule.

    Parameters
    ----------
    schedule : numerics.schedule.Schedule
    sigma_y : float > 0
    lam : float > 0, or callable ``lam(sigma_bar: float) -> float > 0``

    Returns
    -------
    rho : (T + 1,) float64 array (entry 0, at :math:`\bar\sigma_0 = 0`, is ``inf``: unused)

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> s = linear_schedule(1000)
    >>> r = rho_schedule(s, 0.1, 1.0)
    >>> bool(np.isclose(r[500], 0.01 * s.alpha_bar[500] / s.one_minus_alpha_bar[500]))
    True
    """
    check_schedule(schedule)
    sigma_y = check_std(sigma_y, "sigma_y")
    omab = np.asarray(schedule.one_minus_alpha_bar, dtype=np.float64)
    ab = np.asarray(schedule.alpha_bar, dtype=np.float64)
    sbar = np.sqrt(omab[1:] / ab[1:])
    if callable(lam):
        lams = np.array([float(lam(float(s))) for s in sbar])
        if not np.all(np.isfinite(lams)) or np.any(lams <= 0):
            raise ValueError("lam: the callable must return finite values > 0 at every step")
    else:
        lams = np.full(sbar.shape, check_positive(lam, "lam"))
    rho = lams * sigma_y**2 / sbar**2
    if not np.all(np.isfinite(rho) & (rho > 0)):
        raise ValueError(
            f"sigma_y: rho = lam sigma_y^2 / sigma_bar^2 leaves (0, inf) in float64 at "
            f"sigma_y={sigma_y!r} (lam and the schedule as given)"
        )
    return np.concatenate([[np.inf], rho])


def _check_zeta(zeta) -> float:
    z = check_eta(zeta, "zeta")
    if z.ndim:
        raise ValueError(f"zeta: expected a number in [0, 1], got {zeta!r}")
    return float(z)


_HINT = ". Check the denoiser's output and sigma_y; a smaller lam weights the measurement more."


def _randn(shape, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float32, device=gen.device)


def diffpir(
    model: Callable,
    y: torch.Tensor,
    operator: LinearOperator,
    sigma_y: float,
    *,
    steps: int = 100,
    zeta: float = 0.3,
    lam: float | Callable = 7.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    x_T: torch.Tensor | None = None,
    max_abs: float | None = 1e3,
) -> torch.Tensor:
    r"""Restore ``x`` from ``y = A x + n`` with DiffPIR over a denoiser (module docstring).

    Parameters
    ----------
    model : denoiser ``model(x_t [B, ...], t int64 [B]) -> x0_hat``
        With ``model.schedule`` (its base schedule, :mod:`diffusion.models`); ``t`` is the
        base-schedule time index.
    y : tensor [B, *operator.out_shape]
        Measurements, float32 or float64; the run uses ``y``'s dtype and device.
    operator : diffusion.operators.LinearOperator
    sigma_y : float > 0
        Noise level of ``y`` (same units as the images, [-1, 1]).
    steps : int in [1, T]
        Number of reverse steps (the base schedule respaced; 100 in the paper).
    zeta : float in [0, 1]
        Share of fresh noise in each step (0: deterministic DDIM-like, 1: all fresh).
        The paper uses 0.1–0.3.
    lam : float > 0, or callable ``lam(sigma_bar) -> float > 0``
        λ of :math:`\rho_k = \lambda\sigma_y^2/\bar\sigma_k^2` (the paper: 1–7 in these units;
        the reference code's ``lambda_`` is 4x this, module notes). A callable gives a
        per-step :math:`\lambda(\bar\sigma_k)`.
    generator : torch.Generator, optional
        Source of ``x_T`` and the per-step noise; None seeds a fresh one from the OS.
    progress : bool
        tqdm bar over the steps.
    x_T : tensor [B, *operator.in_shape], optional
        Initial state at model time ``T`` (default :math:`N(0, I)`).
    max_abs : float or None
        Divergence threshold: a state with a non-finite entry or ``|x| > max_abs`` stops the
        run with :class:`~diffusion.sampler.DivergenceError` naming the step.

    Returns
    -------
    x0 : tensor [B, *operator.in_shape]
        :math:`\hat x_0'` of the last step, in ``y``'s dtype and device.

    Raises
    ------
    ValueError
        ``zeta`` outside [0, 1], ``lam <= 0``, ``sigma_y <= 0``, ``steps`` outside [1, T],
        ``y`` or ``x_T`` of the wrong shape, non-floating or non-finite, a model without a
        base schedule.
    DivergenceError
        The chain produced a non-finite state or ``|x| > max_abs``.

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> from diffusion.operators import Identity
    >>> from diffusion.priors import GaussianPrior
    >>> prior = GaussianPrior([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], linear_schedule(1000))
    >>> y = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    >>> x = diffpir(prior, y, Identity(2), 0.1, steps=20, zeta=0.0,
    ...             generator=torch.Generator().manual_seed(0))
    >>> x.shape, x.dtype
    (torch.Size([1, 2]), torch.float64)
    """
    check_bool(progress, "progress")
    # ---- arguments
    sigma_y = check_std(sigma_y, "sigma_y")
    zeta = _check_zeta(zeta)
    if not callable(lam):
        lam = check_positive(lam, "lam")
    if not isinstance(operator, LinearOperator):
        raise ValueError(
            f"operator: expected a diffusion.operators.LinearOperator, got {type(operator).__name__}"
        )
    if not callable(model):
        raise ValueError(f"model: expected a callable denoiser, got {type(model).__name__}")
    base = getattr(model, "schedule", None)
    if base is None:
        raise ValueError("model: expected a denoiser with a base schedule (model.schedule)")
    base = as_torch_schedule(base).schedule
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"steps: expected an integer, got {steps!r}")
    if not 1 <= steps <= base.T:
        raise ValueError(f"steps: expected an integer in [1, T={base.T}], got {steps}")
    if isinstance(y, torch.Tensor) and y.is_meta:
        raise ValueError("y: a tensor on the meta device (no data)")
    y = operator.check_measurement(y, "y")
    if y.shape[0] < 1:
        raise ValueError("y: an empty batch (expected at least one measurement)")
    if y.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"y: expected float32 or float64, got {y.dtype}")
    if max_abs is not None:
        max_abs = check_positive(max_abs, "max_abs")
    dtype, device = y.dtype, y.device
    B = y.shape[0]
    shape = (B, *operator.in_shape)
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    elif not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    if x_T is None:
        x = _randn(shape, generator).to(device=device, dtype=dtype)
    else:
        x = operator.check_input(x_T, "x_T").detach().to(device=device, dtype=dtype)

    # ---- schedule and ρ_k
    sched = respace(base, int(steps)) if steps != base.T else base
    rho = rho_schedule(sched, sigma_y, lam)
    ab, omab = sched.alpha_bar, sched.one_minus_alpha_bar
    ys = y.detach()

    with torch.no_grad():
        for k in tqdm(range(sched.T, 0, -1), desc="DiffPIR", disable=not progress, leave=False):
            t_model = int(sched.timesteps[k])
            x0 = _call_denoiser(model, x, torch.full((B,), t_model, dtype=torch.long, device=device))
            x0p = operator._prox_l2(x0, ys, float(rho[k]))  # checked once, above
            eps_hat = (x - math.sqrt(ab[k]) * x0p) / math.sqrt(omab[k])
            z = _randn(shape, generator).to(device=device, dtype=dtype)
            noise = math.sqrt(1.0 - zeta) * eps_hat + math.sqrt(zeta) * z
            x = math.sqrt(ab[k - 1]) * x0p + math.sqrt(omab[k - 1]) * noise
            check_divergence(x, max_abs, k=k, t_model=t_model, who="DiffPIR", hint=_HINT)
    return x
