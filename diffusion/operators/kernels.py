r"""Seeded random camera-shake (motion-blur) kernels, drawn with numpy's ``default_rng``.

The kernel is the image of a random motion trajectory, in the spirit of the camera-shake model
of Boracchi & Foi [1] that the DPS experiments use (through the ``motionblur`` package, size 61,
intensity 0.5): a particle moves at constant speed; at each step its direction is perturbed by
Gaussian noise, pulled back towards the starting point by an inertial (centripetal) term, and
with a small probability reversed by an impulsive shake. This generator is written from that
published description; it draws from the same family of kernels but not the same kernels as the
``motionblur`` package for a given seed.

References
----------
1. G. Boracchi, A. Foi, "Modeling the Performance of Image Restoration From Motion Blur",
   IEEE Trans. Image Processing 21(8), 2012, Section II (random motion trajectories).
2. H. Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems", ICLR 2023
   (motion-blur experiments: 61 x 61 kernels of intensity 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion.operators.base import _as_int

__all__ = ["motion_kernel"]


def _trajectory(rng: np.random.Generator, intensity: float, n_samples: int) -> np.ndarray:
    """Complex positions ``(n_samples,)`` of a unit-length random trajectory (path length 1)."""
    step = 1.0 / (n_samples - 1)
    # parameters of this trajectory, drawn once (the "anxiety" of the hand scales them all)
    sigma = 2.0 * math.pi * intensity * rng.uniform(0.5, 1.0) / math.sqrt(n_samples)
    pull = 4.0 * intensity * rng.uniform(0.0, 1.0) * step
    p_shake = 0.005 * intensity * rng.uniform(0.0, 1.0)
    v = complex(np.exp(2j * math.pi * rng.uniform()))
    noise = rng.standard_normal((n_samples - 1, 2)) @ np.array([1.0, 1.0j])
    shakes = rng.uniform(size=n_samples - 1) < p_shake
    turn = np.exp(1j * (math.pi + rng.uniform(-0.5, 0.5, size=n_samples - 1)))
    pos = np.zeros(n_samples, dtype=np.complex128)
    x = 0j
    for t in range(n_samples - 1):
        dv = sigma * noise[t] - pull * x  # Gaussian perturbation + inertial pull to 0
        if shakes[t]:
            dv += 2.0 * v * turn[t]  # impulsive shake: the velocity roughly reverses
        w = v + dv
        if abs(w) > 0:
            v = w / abs(w)
        x = x + v * step
        pos[t + 1] = x
    return pos


def motion_kernel(
    size: int = 61, intensity: float = 0.5, seed: int = 0, *, n_samples: int = 2000
) -> torch.Tensor:
    r"""A seeded random motion-blur kernel: ``(size, size)`` float64, non-negative, sum 1.

    Steps (all randomness from ``numpy.random.default_rng(seed)``, so the kernel is a
    deterministic function of ``(size, intensity, seed, n_samples)``):

    1. A trajectory of ``n_samples`` points :math:`x_t \in \mathbb{C}` with unit speed and
       direction :math:`v_t`, :math:`|v_t| = 1`:

       .. math::

           v_{t+1} = \frac{v_t + \sigma n_t - \kappa x_t + s_t}
           {|v_t + \sigma n_t - \kappa x_t + s_t|},
           \qquad x_{t+1} = x_t + \delta v_{t+1},

       :math:`x_0 = 0`, :math:`\delta = 1/(n-1)` (path length 1), :math:`n_t` standard complex
       Gaussian,
       :math:`\sigma = 2\pi\,\text{intensity}\,u_1/\sqrt{n}` (:math:`u_1 \sim U(0.5, 1)`: the
       direction wanders by about :math:`2\pi\,\text{intensity}\,u_1` radians over the path),
       :math:`\kappa = 4\,\text{intensity}\,u_2\,\delta` (:math:`u_2 \sim U(0, 1)`, the pull back
       towards the start), and with probability :math:`0.005\,\text{intensity}\,u_3` per step
       an impulsive shake :math:`s_t = 2 v_t e^{i(\pi + \epsilon_t)}`,
       :math:`\epsilon_t \sim U(-1/2, 1/2)`, that roughly reverses the motion. The initial
       direction is uniform on the circle.
    2. Path length :math:`L = (\text{size} - 1)(0.25 + 0.75\,\text{intensity})\,u_4` pixels,
       :math:`u_4 \sim U(0.75, 1)`; the trajectory is scaled to it, its bounding box centred in
       the window, and shrunk if it would not fit in ``size - 1`` pixels.
    3. Each point is splatted bilinearly onto the ``size x size`` grid (row = imaginary part,
       column = real part); the sum is normalised to 1.

    Parameters
    ----------
    size : int, odd, >= 3
        The paper (after DPS) uses 61.
    intensity : float in [0, 1]
        0 gives a straight line; larger values give longer, more curved, shakier paths. DPS
        uses 0.5.
    seed : int >= 0
    n_samples : int >= 2
        Trajectory points (sub-pixel sampling of the path).

    Examples
    --------
    >>> k = motion_kernel(15, 0.5, seed=3)
    >>> k.shape, bool((k >= 0).all()), round(float(k.sum()), 12)
    (torch.Size([15, 15]), True, 1.0)
    >>> bool(torch.equal(k, motion_kernel(15, 0.5, seed=3)))
    True
    """
    size = _as_int(size, "size", minimum=3)
    if size % 2 == 0:
        raise ValueError(f"size: expected an odd int, got {size!r}")
    try:
        intensity = float(intensity)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"intensity: expected a number in [0, 1], got {intensity!r}") from exc
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity: expected a number in [0, 1], got {intensity!r}")
    seed = _as_int(seed, "seed", minimum=0)
    n_samples = _as_int(n_samples, "n_samples", minimum=2)

    rng = np.random.default_rng(seed)
    pos = _trajectory(rng, intensity, n_samples)
    pos = pos * (size - 1) * (0.25 + 0.75 * intensity) * rng.uniform(0.75, 1.0)
    pts = np.stack([pos.imag, pos.real])  # (row, column)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    extent = float((hi - lo).max())
    if extent > size - 1:
        pts = pts * ((size - 1) / extent)
        lo, hi = lo * ((size - 1) / extent), hi * ((size - 1) / extent)
    pts = pts - ((lo + hi) / 2)[:, None] + (size - 1) / 2
    pts = np.clip(pts, 0.0, size - 1.0)

    base = np.minimum(np.floor(pts).astype(np.int64), size - 2)
    frac = pts - base
    k = np.zeros((size, size))
    for dr in (0, 1):
        for dc in (0, 1):
            w = (frac[0] if dr else 1 - frac[0]) * (frac[1] if dc else 1 - frac[1])
            np.add.at(k, (base[0] + dr, base[1] + dc), w)
    return torch.from_numpy(k / k.sum())
