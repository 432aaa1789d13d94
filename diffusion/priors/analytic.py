r"""Analytic priors as exact, differentiable torch denoisers: Gaussian and Gaussian mixture.

For :math:`p_0 = \sum_k w_k N(\mu_k, S_k)` with :math:`S_k = U_k \operatorname{diag}(\lambda_k)
U_k^\top` (decomposed **once**, at construction), the VP-diffused law at time t is
:math:`p_t = \sum_k w_k N(\sqrt{\bar\alpha_t}\mu_k, \Sigma_{t,k})` with
:math:`\Sigma_{t,k} = U_k \operatorname{diag}(\bar\alpha_t\lambda_k + 1 - \bar\alpha_t) U_k^\top`,
so every quantity below is a diagonal rescale in each component's eigenbasis (no per-step
solve). With :math:`z_k = U_k^\top(x - \sqrt{\bar\alpha_t}\mu_k)`,
:math:`\sigma_{t,k} = \bar\alpha_t\lambda_k + 1 - \bar\alpha_t` and responsibilities
:math:`r_k \propto w_k N(x; \sqrt{\bar\alpha_t}\mu_k, \Sigma_{t,k})`:

.. math::

    E[x_0 \mid x_t] = \sum_k r_k \big(\mu_k + U_k (\sqrt{\bar\alpha_t}\lambda_k / \sigma_{t,k}
    \odot z_k)\big), \qquad
    \nabla\log p_t = -\sum_k r_k U_k (z_k / \sigma_{t,k}),

    \nabla^2 \log p_t = -\sum_k r_k \Sigma_{t,k}^{-1} + \sum_k r_k (g_k - s)(g_k - s)^\top,
    \quad g_k = -U_k(z_k/\sigma_{t,k}),\ s = \nabla\log p_t.

The Tweedie mean is computed per component, without dividing by :math:`\sqrt{\bar\alpha_t}`
(about 6e-3 at t = 1000), and is differentiable (DPS backpropagates through it).

Shapes: the priors act on flattened vectors; an input ``[B, C, H, W]`` (or any ``[B, ...]``)
with ``C*H*W = d`` is flattened and the output reshaped back. The computation follows the
input's dtype (float32 or float64) and device; the float64 parameters are cast once per
(dtype, device) and cached. Cost per call: two ``[B, d] x [d, K d]`` matrix products and
``O(B K d)`` elementwise work (d = 256, K = 32: 4 M multiply-adds per sample);
:meth:`MixturePrior.hessian` adds ``O(K d^3)`` once per distinct t plus ``O(B K d^2)``.

References
----------
1. B. Efron, "Tweedie's formula and selection bias", JASA 106 (2011).
2. C. Meng et al., "Estimating High Order Gradients of the Data Distribution by
   Denoising", NeurIPS 2021 (second-order Tweedie).
3. Z. Wang et al., arXiv 2503.20297 (2025), Section III-D (the 2-D mixture example).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion._checks import check_device, check_torch_generator
from diffusion.models import Denoiser, check_time
from diffusion.operators.base import check_float_dtype
from numerics.gaussian import linear_gaussian_posterior
from numerics.gmm import GaussianMixture
from numerics.validate import as_array, check_int, check_no_overflow, check_positive, check_spd

__all__ = ["GaussianPrior", "MixturePrior", "PAPER_GMM"]

_LOG_2PI = math.log(2.0 * math.pi)
_NON_FINITE = "x_t: contains NaN or Inf, or values too large for its dtype"

#: The 2-component 2-D mixture used for the paper's Section III-D example here (the paper's
#: own parameters did not survive extraction; these follow /work/shared/README.md).
PAPER_GMM = dict(
    weights=[0.5, 0.5],
    means=[[-1.0, -1.0], [1.0, 1.0]],
    covs=[[[0.25, 0.1], [0.1, 0.15]], [[0.15, -0.05], [-0.05, 0.3]]],
)


def _matrix_of(A, d: int) -> np.ndarray:
    """A measurement matrix (m, d) from an array or an operator with ``as_matrix()``."""
    if hasattr(A, "as_matrix"):
        A = A.as_matrix()
    if isinstance(A, torch.Tensor):
        A = A.detach().cpu().double().numpy()
    A = as_array(A, "A", ndim=2)
    if A.shape[1] != d:
        raise ValueError(f"A: expected shape (m, {d}), got {A.shape}")
    return A


def _vector_of(y) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().double().numpy()
    return as_array(y, "y").reshape(-1)


class MixturePrior(Denoiser):
    r"""Exact torch denoiser, score, Hessian and sampler of a Gaussian mixture prior.

    Parameters
    ----------
    gmm : numerics.gmm.GaussianMixture
        The mixture (float64); its eigendecomposition is computed once (``gmm.eig``).
        Components of weight 0 are dropped.
    schedule : numerics Schedule or TorchSchedule
        The base schedule the time index ``t`` refers to (usually ``linear_schedule(1000)``).

    Attributes
    ----------
    gmm : GaussianMixture
    K, d : int
        Number of (non-zero-weight) components and dimension.
    shared_t_terms : bool
        Class attribute: a batch whose samples all have the same t (every sampler step) forms
        the ``(K, d)`` terms once in float64 (:class:`~diffusion.priors.GMMImagePrior` turns
        it on; here it is off, so the 2-D results keep the rounding they were made with: the
        two routes agree to a few ulps).

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> prior = MixturePrior(GaussianMixture(**PAPER_GMM), linear_schedule(1000))
    >>> x = torch.zeros(3, 2, dtype=torch.float64)
    >>> prior(x, torch.tensor([1, 500, 1000])).shape
    torch.Size([3, 2])
    """

    shared_t_terms = False

    def __init__(self, gmm: GaussianMixture, schedule):
        super().__init__(schedule)
        if not isinstance(gmm, GaussianMixture):
            raise ValueError(
                f"gmm: expected a numerics.gmm.GaussianMixture, got {type(gmm).__name__}"
            )
        self.gmm = gmm
        keep = np.flatnonzero(gmm.weights > 0)
        lam, U = gmm.eig
        w = gmm.weights[keep]
        self._np = dict(
            logw=np.log(w / w.sum()),
            w=w / w.sum(),
            mu=np.array(gmm.means[keep]),
            lam=np.array(lam[keep]),
            U=np.array(U[keep]),
        )
        self.K, self.d = int(keep.size), gmm.d
        self._params: dict = {}

    @classmethod
    def from_arrays(cls, weights, means, covs, schedule) -> MixturePrior:
        """Build from ``weights (K,)``, ``means (K, d)``, ``covs (K, d, d)`` (validated)."""
        return cls(GaussianMixture(weights, means, covs), schedule)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.K}, d={self.d}, {self.schedule!r})"

    # ----------------------------------------------------------------- internals
    def _p(self, like: torch.Tensor) -> dict:
        key = (like.dtype, like.device)
        p = self._params.get(key)
        if p is None:
            f64 = {k: torch.from_numpy(v) for k, v in self._np.items()}
            U = f64["U"]  # (K, d, d), U[k][:, j] eigenvector j
            K, d = self.K, self.d
            p64 = dict(
                logw=f64["logw"],
                w=f64["w"],
                mu=f64["mu"],
                lam=f64["lam"],
                U=U,
                # x @ Ucat = [U_1^T x, ..., U_K^T x] flattened: Ucat[i, k d + j] = U[k, i, j]
                Ucat=U.permute(1, 0, 2).reshape(d, K * d).contiguous(),
                nu=torch.einsum("kij,ki->kj", U, f64["mu"]),  # U_k^T mu_k
            )
            p = {k: v.to(device=like.device, dtype=like.dtype) for k, v in p64.items()}
            self._params[key] = p
        return p

    def _flat(self, x: torch.Tensor, name: str = "x_t") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a floating-point tensor, got {type(x).__name__}")
        if not x.dtype.is_floating_point:
            raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if x.is_meta:
            raise ValueError(f"{name}: a meta tensor holds no data")
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.d:
            raise ValueError(
                f"{name}: expected shape [B, ...] with {self.d} values per sample, "
                f"got {list(x.shape)}"
            )
        return x.reshape(x.shape[0], self.d)

    def _time(self, t, x_t) -> torch.Tensor:
        return check_time(t, x_t, T=self.schedule.T)

    def _terms(self, xf: torch.Tensor, t: torch.Tensor, need_logp: bool = False) -> dict:
        """The per-component terms of one call: ``z``, ``lam_t``, ``ab``, responsibilities
        ``r`` and (when computed) the log-weights ``lw`` = log w_k + log N_k(x), [B, K]."""
        if self.shared_t_terms and t.numel() and bool((t == t[0]).all()):
            return self._terms_shared_t(xf, int(t[0]))
        p = self._p(xf)
        B = xf.shape[0]
        ab = self.schedule.gather("alpha_bar", t, xf)[:, None, None]  # [B, 1, 1]
        omab = self.schedule.gather("one_minus_alpha_bar", t, xf)[:, None, None]
        lam_t = ab * p["lam"][None] + omab  # [B, K, d]
        z = (xf @ p["Ucat"]).reshape(B, self.K, self.d) - ab.sqrt() * p["nu"][None]
        tm = dict(p=p, ab=ab, lam_t=lam_t, z=z)
        if self.K == 1 and not need_logp:  # one component: responsibility 1, no density needed
            if not bool(torch.isfinite(z).all()):
                raise ValueError(_NON_FINITE)
            tm["r"] = xf.new_ones(B, 1)
            return tm
        logn = -0.5 * (z * z / lam_t).sum(-1) - 0.5 * lam_t.log().sum(-1)
        logn = logn - 0.5 * self.d * _LOG_2PI
        tm["lw"] = p["logw"][None] + logn  # [B, K]
        tm["r"] = torch.softmax(tm["lw"], dim=1)
        return self._guard(tm)

    def _guard(self, tm: dict) -> dict:
        r"""Keep ``r`` finite where every component's density underflows (one sync per call).

        At :math:`|x| \gtrsim 10^{154}` (float64; :math:`10^{19}` in float32) the Mahalanobis
        terms overflow, every log-weight is :math:`-\infty` and the softmax would be NaN. Those
        rows get their responsibilities from the quadratic forms scaled by
        :math:`m = \max_{k,j} |z_{kj}|/\sigma_{t,kj}^{1/2}`:
        :math:`\log r_k = c_k - \tfrac12 m^2 (Q_k - \min_j Q_j) + \text{const}`,
        :math:`Q_k = \|z_k/(m\,\sigma_{t,k}^{1/2})\|^2`, :math:`c_k` the log weight and
        log-determinant term, so the score, Hessian and Tweedie mean stay finite (the
        component of least Mahalanobis distance takes all the weight). Their log-density is
        below the float range: :meth:`logpdf` refuses them. A non-finite x is a ValueError.
        """
        top = tm["lw"].amax(1)
        if bool(torch.isfinite(top).all()):
            return tm
        z, lam_t = tm["z"], tm["lam_t"]
        if not bool(torch.isfinite(z).all()):
            raise ValueError(_NON_FINITE)
        q = z / lam_t.sqrt()
        m = q.abs().amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
        Q = ((q / m) ** 2).sum(-1)  # [B, K], in [0, d]
        D = Q - Q.amin(1, keepdim=True)
        c = tm["p"]["logw"][None] - 0.5 * lam_t.log().sum(-1)
        lw_scaled = c - 0.5 * torch.where(D > 0, m[:, :, 0] ** 2 * D, torch.zeros_like(D))
        bad = ~torch.isfinite(top)
        tm["r"] = torch.where(bad[:, None], torch.softmax(lw_scaled, dim=1), tm["r"])
        tm["underflow"] = bad
        return tm

    def _terms_shared_t(self, xf: torch.Tensor, t0: int) -> dict:
        r""":meth:`_terms` when every sample has the same t (``shared_t_terms``).

        Then :math:`\sigma_{t,k}`, its reciprocal and the log-determinants are ``(K, d)`` /
        ``(K,)`` quantities, formed once in float64 and cast, instead of ``[B, K, d]`` ones
        (the log alone was about half of the cost of a call at B = 176, K = 32, d = 256).
        """
        p = self._p(xf)
        s = self.schedule.schedule
        ab, omab = float(s.alpha_bar[t0]), float(s.one_minus_alpha_bar[t0])
        lam_t64 = ab * torch.from_numpy(self._np["lam"]) + omab  # (K, d)
        const64 = (
            torch.from_numpy(self._np["logw"])
            - 0.5 * lam_t64.log().sum(-1)
            - 0.5 * self.d * math.log(2.0 * math.pi)
        )
        cast = dict(device=xf.device, dtype=xf.dtype)
        inv = (1.0 / lam_t64).to(**cast)
        B = xf.shape[0]
        z = (xf @ p["Ucat"]).reshape(B, self.K, self.d) - math.sqrt(ab) * p["nu"][None]
        lw = const64.to(**cast)[None] - 0.5 * (z * z * inv).sum(-1)  # [B, K]
        tm = dict(
            p=p,
            ab=xf.new_full((1, 1, 1), ab),
            lam_t=lam_t64.to(**cast)[None],
            z=z,
            lw=lw,
            r=torch.softmax(lw, dim=1),
        )
        return self._guard(tm)

    def _back(self, v: torch.Tensor, p: dict) -> torch.Tensor:
        """sum_k U_k v_k for v [B, K, d] -> [B, d]."""
        return v.reshape(v.shape[0], -1) @ p["Ucat"].T

    # ----------------------------------------------------------------- interface
    def denoise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        r"""Exact Tweedie mean :math:`E[x_0 \mid x_t]` (differentiable), shape of ``x_t``."""
        xf = self._flat(x_t)
        tm = self._terms(xf, self._time(t, x_t))
        p, r = tm["p"], tm["r"]
        gain = tm["ab"].sqrt() * p["lam"][None] / tm["lam_t"]
        if self.K == 1:
            x0 = p["mu"] + self._back(gain * tm["z"], p)
        else:
            x0 = r @ p["mu"] + self._back(r[:, :, None] * gain * tm["z"], p)
        return x0.reshape(x_t.shape)

    def score(self, x_t: torch.Tensor, t) -> torch.Tensor:
        r""":math:`\nabla_x \log p_t(x)`, shape of ``x_t`` (t = 0 is the prior itself)."""
        xf = self._flat(x_t)
        t = self._time(t, x_t)
        tm = self._terms(xf, t)
        v = tm["z"] / tm["lam_t"]
        s = -self._back(v if self.K == 1 else tm["r"][:, :, None] * v, tm["p"])
        return s.reshape(x_t.shape)

    def logpdf(self, x_t: torch.Tensor, t) -> torch.Tensor:
        r""":math:`\log p_t(x)`, shape [B]."""
        xf = self._flat(x_t)
        t = self._time(t, x_t)
        tm = self._terms(xf, t, need_logp=True)
        if "underflow" in tm:
            amax = float(x_t.abs().amax())
            raise ValueError(
                f"x_t: |x_t| up to {amax:.3g} is so far from the mixture that log p_t(x) is below "
                f"the {x_t.dtype} range"
            )
        return torch.logsumexp(tm["lw"], dim=1)

    def responsibilities(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """Component responsibilities at time t, shape [B, K] (rows sum to 1)."""
        xf = self._flat(x_t)
        t = self._time(t, x_t)
        return self._terms(xf, t)["r"]

    def hessian(self, x_t: torch.Tensor, t) -> torch.Tensor:
        r""":math:`\nabla_x^2 \log p_t(x)` on the flattened vector, shape [B, d, d].

        For a single Gaussian (K = 1) the Hessian does not depend on x: the result is then
        ``[1, d, d]`` when every sample has the same t (broadcast it over the batch).
        """
        xf = self._flat(x_t)
        t = self._time(t, x_t)
        ts = torch.unique(t)
        if ts.numel() > 1:  # group samples by time; each group shares Σ_{t,k}^{-1}
            H = xf.new_empty(xf.shape[0], self.d, self.d)
            for tv in ts:
                idx = torch.nonzero(t == tv).squeeze(1)
                H[idx] = self.hessian(xf[idx], t[idx]).expand(idx.numel(), -1, -1)
            return H
        tm = self._terms(xf, t)
        p, r, lam_t = tm["p"], tm["r"], tm["lam_t"][:1]  # same t: lam_t rows are equal
        U = p["U"]
        prec = (U / lam_t[0][:, None, :]) @ U.transpose(1, 2)  # (K, d, d) Σ_{t,k}^{-1}
        if self.K == 1:
            return -(0.5 * (prec + prec.transpose(1, 2)))
        g = -torch.einsum("kij,bkj->bki", U, tm["z"] / tm["lam_t"])  # [B, K, d]
        s = torch.einsum("bk,bki->bi", r, g)
        H = -(r @ prec.reshape(self.K, -1)).reshape(-1, self.d, self.d)
        Bm = r.sqrt()[:, :, None] * (g - s[:, None, :])
        H = H + Bm.transpose(1, 2) @ Bm
        return 0.5 * (H + H.transpose(1, 2))

    # ------------------------------------------------------------- exact laws
    def mean(self) -> np.ndarray:
        """E[x_0], a float64 (d,) array."""
        return self.gmm.mean()

    def mmse(self) -> float:
        """Trace of the covariance (the MMSE when this is a posterior)."""
        return self.gmm.mmse()

    def mean_xt(self, t: int) -> np.ndarray:
        r""":math:`E[x_t] = \sqrt{\bar\alpha_t}\,E[x_0]`, a float64 (d,) array (t of the base schedule)."""
        t = check_int(t, "t", maximum=self.schedule.T)
        return np.sqrt(self.schedule.schedule.alpha_bar[t]) * self.mean()

    def sample_xt(
        self,
        n: int,
        t: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ) -> torch.Tensor:
        r"""Exact draws of :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon`, [n, d].

        A component index from one uniform per sample (inverse CDF of the weights), then
        :math:`\sqrt{\bar\alpha_t}\mu_k + U_k \sigma_{t,k}^{1/2} \odot \varepsilon`. Drawn in
        float64 on the generator's device (CPU by default), then cast; ``t = 0`` samples the
        prior itself.

        Parameters
        ----------
        n : int >= 1
        t : int in [0, T] of the base schedule
        generator : torch.Generator, optional
        dtype, device : output dtype (floating-point; TypeError otherwise) and device
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {n!r}")
        dtype = check_float_dtype(dtype)
        T = self.schedule.T
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t <= T:
            raise ValueError(f"t: expected an integer in [0, {T}], got {t!r}")
        check_torch_generator(generator)
        if device is not None:
            device = check_device(device, allow_meta=True)
        gdev = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=gdev).cpu()
        eps = torch.randn(n, self.d, generator=generator, dtype=torch.float64, device=gdev).cpu()
        p = self._p(torch.empty(0, dtype=torch.float64))
        cw = torch.cumsum(p["w"], 0)
        labels = torch.searchsorted(cw, u, right=True).clamp_(max=self.K - 1)
        ab = float(self.schedule.schedule.alpha_bar[t])
        omab = float(self.schedule.schedule.one_minus_alpha_bar[t])
        sd = (ab * p["lam"] + omab).sqrt()  # (K, d)
        x = torch.empty(n, self.d, dtype=torch.float64)
        for k in range(self.K):
            idx = labels == k
            if idx.any():
                x[idx] = math.sqrt(ab) * p["mu"][k] + (eps[idx] * sd[k]) @ p["U"][k].T
        return x.to(dtype=dtype, device=device)

    def sample(self, n: int, *, generator=None, dtype=torch.float64, device=None) -> torch.Tensor:
        """Exact draws of :math:`x_0` from the prior, [n, d] (``sample_xt`` at t = 0)."""
        return self.sample_xt(n, 0, generator=generator, dtype=dtype, device=device)

    def posterior(self, A, sigma_y, y) -> MixturePrior:
        r"""The exact posterior given :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`, as a prior.

        Parameters
        ----------
        A : (m, d) array or tensor, or an operator with ``as_matrix()``
        sigma_y : float > 0
        y : (m,) array or tensor (any shape with m values)
        """
        A = _matrix_of(A, self.d)
        return MixturePrior(
            self.gmm.posterior(A, check_positive(sigma_y, "sigma_y"), _vector_of(y)),
            self.schedule,
        )


class GaussianPrior(MixturePrior):
    r"""Exact torch denoiser of a Gaussian prior :math:`N(m, S)` (a one-component mixture).

    .. math::

        E[x_0 \mid x_t] = m + \sqrt{\bar\alpha_t} S \Sigma_t^{-1}(x_t - \sqrt{\bar\alpha_t} m),
        \quad \nabla\log p_t = -\Sigma_t^{-1}(x_t - \sqrt{\bar\alpha_t} m), \quad
        \nabla^2\log p_t = -\Sigma_t^{-1},

    :math:`\Sigma_t = \bar\alpha_t S + (1-\bar\alpha_t) I`.

    Parameters
    ----------
    mean : (d,) array
    cov : (d, d) array, symmetric positive definite
    schedule : numerics Schedule or TorchSchedule

    Examples
    --------
    >>> from numerics.schedule import linear_schedule
    >>> prior = GaussianPrior([0.0], [[1.0]], linear_schedule(1000))
    >>> x = torch.tensor([[1.0]], dtype=torch.float64)
    >>> round(prior(x, torch.tensor([1])).item(), 8)  # sqrt(alpha_bar_1) x = sqrt(1 - 1e-4)
    0.99995
    """

    def __init__(self, mean, cov, schedule):
        m = as_array(mean, "mean", ndim=1)
        if m.size == 0:
            raise ValueError("mean: expected a (d,) vector with d >= 1, got an empty one")
        check_no_overflow(m * m, "mean")  # the quadratic forms square it
        S = check_spd(cov, "cov", d=m.shape[0])
        super().__init__(GaussianMixture([1.0], m[None], S[None]), schedule)
        self.loc, self.cov = m, S

    def posterior(self, A, sigma_y, y) -> GaussianPrior:
        """The exact Gaussian posterior (:func:`numerics.gaussian.linear_gaussian_posterior`)."""
        A = _matrix_of(A, self.d)
        m, S = linear_gaussian_posterior(self.loc, self.cov, A, sigma_y, _vector_of(y))
        return GaussianPrior(m, S, self.schedule)
