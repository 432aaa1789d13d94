r"""A Gaussian-mixture prior of image patches with an exact posterior: :class:`GMMImagePrior`.

:class:`GMMImagePrior` is a :class:`diffusion.priors.MixturePrior` (exact, differentiable
torch Tweedie denoiser, score and Hessian; each component's eigendecomposition computed
once, so :math:`\Sigma_{t,k}^{-1}` at every t is a diagonal rescale) that knows its patch
shape ``(1, s, s)`` and loads the fitted model shipped in
``diffusion/weights/gmm_patches16.npz`` (K = 32 full covariances, d = 256; made by
:mod:`diffusion.fit_gmm_prior`). For a linear operator A the posterior is again a mixture
(:meth:`numerics.gmm.GaussianMixture.posterior`), so every image-scale quantity has an exact
reference: the MMSE :math:`\operatorname{tr}\operatorname{Cov}[x \mid y]`, posterior samples,
the conditional score (:class:`diffusion.guidance.ExactGuidance`) and the shrinkage oracle.

The sampler sees it through the one model interface, ``prior(x_t [B, 1, s, s], t [B]) ->
E[x_0 | x_t]``, so DPS backpropagates through it exactly as through a network.

References
----------
1. D. Zoran, Y. Weiss, "From learning models of natural image patches to whole image
   restoration", ICCV 2011.
2. B. Efron, "Tweedie's formula and selection bias", JASA 106 (2011).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from diffusion._paths import WEIGHTS_DIR
from diffusion.priors.analytic import MixturePrior
from numerics.gmm import GaussianMixture

__all__ = ["DEFAULT_WEIGHTS", "GMMImagePrior", "load_gmm"]

#: The shipped model (see :mod:`diffusion.fit_gmm_prior` for the command that refits it).
DEFAULT_WEIGHTS = WEIGHTS_DIR / "gmm_patches16.npz"


def load_gmm(path=DEFAULT_WEIGHTS) -> tuple[GaussianMixture, dict]:
    """Read a mixture ``.npz`` (float32 on disk) as a float64 :class:`GaussianMixture`.

    Parameters
    ----------
    path : path-like
        A file written by :func:`diffusion.fit_gmm_prior.save_gmm`.

    Returns
    -------
    gmm : GaussianMixture
        Weights renormalised in float64, covariances symmetrised.
    meta : dict
        The fit's settings and convergence (``meta``) and its ``command``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"path: no mixture file at {path}; refit it with `python -m diffusion.fit_gmm_prior`"
        )
    with np.load(path, allow_pickle=False) as f:
        w = f["weights"].astype(np.float64)
        mu = f["means"].astype(np.float64)
        S = f["covs"].astype(np.float64)
        meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
        if "command" in f.files:
            meta["command"] = str(f["command"])
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    return GaussianMixture(w / w.sum(), mu, S), meta


class GMMImagePrior(MixturePrior):
    r"""A :class:`~diffusion.priors.MixturePrior` over ``(1, s, s)`` grayscale patches.

    Parameters
    ----------
    gmm : numerics.gmm.GaussianMixture
        Mixture over flattened patches, d = s².
    schedule : numerics Schedule or TorchSchedule
        Base schedule of the time index (usually ``linear_schedule(1000)``).
    meta : dict, optional
        Provenance (fit settings), kept as :attr:`meta`.

    Attributes
    ----------
    patch_shape : (1, s, s) tuple
    meta : dict

    Examples
    --------
    >>> import torch
    >>> from numerics.schedule import linear_schedule
    >>> gm = GaussianMixture([0.5, 0.5], np.zeros((2, 4)), np.stack([np.eye(4), 0.1 * np.eye(4)]))
    >>> prior = GMMImagePrior(gm, linear_schedule(1000))
    >>> prior.patch_shape
    (1, 2, 2)
    >>> prior(torch.zeros(3, 1, 2, 2, dtype=torch.float64), torch.tensor([1, 10, 1000])).shape
    torch.Size([3, 1, 2, 2])
    """

    def __init__(self, gmm: GaussianMixture, schedule, *, meta: dict | None = None):
        super().__init__(gmm, schedule)
        s = math.isqrt(self.d)
        if s * s != self.d:
            raise ValueError(f"gmm: dimension {self.d} is not a square patch (s * s)")
        self.patch_shape = (1, s, s)
        self.meta = dict(meta or {})

    @classmethod
    def from_file(cls, path=DEFAULT_WEIGHTS, schedule=None) -> GMMImagePrior:
        """Load a fitted mixture (default: the shipped K = 32, 16 x 16 model).

        ``schedule`` defaults to ``numerics.schedule.linear_schedule(1000)``.
        """
        if schedule is None:
            from numerics.schedule import linear_schedule

            schedule = linear_schedule(1000)
        gmm, meta = load_gmm(path)
        return cls(gmm, schedule, meta=meta)

    @classmethod
    def fit(
        cls,
        patches,
        n_components: int,
        schedule,
        *,
        reg_covar: float = 1e-4,
        max_iter: int = 100,
        tol: float = 1e-3,
        seed: int = 0,
    ) -> GMMImagePrior:
        """Fit by EM (:func:`diffusion.fit_gmm_prior.fit_patch_gmm`); for small, quick fits."""
        from diffusion.priors.fit_gmm import fit_patch_gmm

        w, mu, S, info = fit_patch_gmm(
            patches, n_components, reg_covar=reg_covar, max_iter=max_iter, tol=tol, seed=seed
        )
        return cls(GaussianMixture(w, mu, S), schedule, meta=dict(info, reg_covar=reg_covar))

    def __repr__(self) -> str:
        return f"GMMImagePrior(K={self.K}, patch_shape={self.patch_shape}, {self.schedule!r})"

    def _terms(self, xf: torch.Tensor, t: torch.Tensor) -> dict:
        """As :meth:`MixturePrior._terms`, with a fast path when every sample has the same t.

        The sampler always calls with one t per step. Then :math:`\\sigma_{t,k}`, its
        reciprocal and the log-determinants are ``(K, d)``/``(K,)`` quantities, formed once
        in float64 and cast, instead of ``[B, K, d]`` ones (the log alone was about half of
        the cost of a call at B = 176, K = 32, d = 256).
        """
        if t.numel() == 0 or not bool((t == t[0]).all()):
            return super()._terms(xf, t)
        p = self._p(xf)
        t0 = int(t[0])
        s = self.schedule.schedule
        ab, omab = float(s.alpha_bar[t0]), float(s.one_minus_alpha_bar[t0])
        lam64 = torch.from_numpy(self._np["lam"])
        lam_t64 = ab * lam64 + omab  # (K, d)
        const64 = (
            torch.from_numpy(self._np["logw"])
            - 0.5 * lam_t64.log().sum(-1)
            - 0.5 * self.d * math.log(2.0 * math.pi)
        )
        cast = dict(device=xf.device, dtype=xf.dtype)
        lam_t = lam_t64.to(**cast)
        inv = (1.0 / lam_t64).to(**cast)
        B = xf.shape[0]
        z = (xf @ p["Ucat"]).reshape(B, self.K, self.d) - math.sqrt(ab) * p["nu"][None]
        lw = const64.to(**cast)[None] - 0.5 * (z * z * inv).sum(-1)  # [B, K]
        return dict(
            p=p,
            ab=xf.new_full((1, 1, 1), ab),
            lam_t=lam_t[None],
            z=z,
            lw=lw,
            r=torch.softmax(lw, dim=1),
        )
