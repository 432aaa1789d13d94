r"""Additive white Gaussian measurement noise that owns its random stream."""

from __future__ import annotations

import torch

from diffusion._checks import check_device, check_result, check_tensor
from diffusion.operators.base import _as_int
from numerics.validate import check_positive

__all__ = ["GaussianNoise"]


class GaussianNoise:
    r"""Additive white Gaussian noise: :math:`y \mapsto y + \sigma_y z`, :math:`z \sim N(0, I)`.

    ``sigma_y`` is in the units of the data: images live in :math:`[-1, 1]`, so
    ``sigma_y=0.05`` (the DPS setting) is 0.025 in :math:`[0, 1]` units, :math:`\approx 6.4/255`.

    Randomness: the object owns one ``torch.Generator`` per device, created at the first call on
    that device and seeded with ``seed`` (drawn once from the OS if ``seed`` is None; readable as
    ``.seed``). Two objects with the same seed produce the same noise sequence on the CPU, and on
    a given CUDA device with the same torch version; the CPU and CUDA streams are different
    generators (MT19937 vs Philox), so the same seed gives *different* noise on CPU and CUDA.
    Successive calls continue the stream; :meth:`reset` restarts it.

    Parameters
    ----------
    sigma_y : float > 0, finite
    seed : int >= 0, optional
    """

    def __init__(self, sigma_y: float, *, seed: int | None = None):
        self.sigma_y = check_positive(sigma_y, "sigma_y")
        if seed is None:
            seed = torch.Generator().seed()  # fresh OS entropy; global RNG state untouched
        self.seed = _as_int(seed, "seed", minimum=0)
        if self.seed >= 2**64:
            raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        self._generators: dict[torch.device, torch.Generator] = {}

    def reset(self) -> None:
        """Restart every device's stream from ``seed``."""
        self._generators.clear()

    def generator(self, device) -> torch.Generator:
        """The generator used on ``device`` (created and seeded on first use; ValueError naming
        ``device`` for one that does not exist here or holds no data)."""
        device = check_device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        g = self._generators.get(device)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._generators[device] = g
        return g

    def sample(self, like: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma_y z`, :math:`z \sim N(0, I)`, with ``like``'s shape, dtype and device."""
        return self._sample(check_tensor(like, "like", min_ndim=0))

    def _sample(self, like: torch.Tensor) -> torch.Tensor:
        z = torch.randn(
            like.shape, generator=self.generator(like.device), device=like.device, dtype=like.dtype
        )
        return check_result(self.sigma_y * z, "sigma_y")

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """Return ``y + sigma_y * z`` (same shape, dtype and device as ``y``; ``y`` finite)."""
        check_tensor(y, "y", min_ndim=0, finite=True)
        return check_result(y + self._sample(y), "y, sigma_y")

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma_y={self.sigma_y}, seed={self.seed})"
