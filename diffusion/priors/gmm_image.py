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

import copy
import json
import math
import time
import zipfile
from pathlib import Path

import numpy as np

from diffusion._paths import WEIGHTS_DIR
from diffusion.priors.analytic import MixturePrior
from numerics.gmm import GaussianMixture
from numerics.io import as_path, atomic_write
from numerics.validate import as_array, as_scalar, check_callable, check_int, check_positive

#: Largest magnitude of a patch value :func:`fit_patch_gmm` accepts: EM forms squares and
#: sums of them over the patches, which must stay finite in float64.
MAX_PATCH_ABS = 1e100

__all__ = ["DEFAULT_WEIGHTS", "GMMImagePrior", "fit_patch_gmm", "load_gmm", "save_gmm"]

#: The shipped model (see :mod:`diffusion.fit_gmm_prior` for the command that refits it).
DEFAULT_WEIGHTS = WEIGHTS_DIR / "gmm_patches16.npz"


def load_gmm(path=DEFAULT_WEIGHTS) -> tuple[GaussianMixture, dict]:
    """Read a mixture ``.npz`` (float32 on disk) as a float64 :class:`GaussianMixture`.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_gmm`.

    Returns
    -------
    gmm : GaussianMixture
        Weights renormalised in float64, covariances symmetrised.
    meta : dict
        The fit's settings and convergence (``meta``) and its ``command``.
    """
    path = as_path(path)
    if not path.is_file():
        raise ValueError(
            f"path: no mixture file at {path}; refit it with `python -m diffusion.fit_gmm_prior`"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            w = f["weights"].astype(np.float64)
            mu = f["means"].astype(np.float64)
            S = f["covs"].astype(np.float64)
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
            if "command" in f.files:
                meta["command"] = str(f["command"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        # truncated or foreign files, object arrays (refused: allow_pickle=False), bad JSON
        raise ValueError(f"path: {path} is not a readable mixture .npz ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"path: {path} has a 'meta' entry that is not a JSON object")
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    return GaussianMixture(w / w.sum(), mu, S), meta


def fit_patch_gmm(
    patches,
    n_components: int,
    *,
    reg_covar: float = 1e-4,
    max_iter: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    verbose: int = 0,
    checkpoint=None,
    checkpoint_every: int = 5,
    resume_state=None,
    state_callback=None,
):
    r"""EM fit of a full-covariance Gaussian mixture to flattened patches.

    EM runs in chunks of ``checkpoint_every`` iterations (``warm_start``: each chunk
    continues from the last; the result equals one uninterrupted run of the same number
    of iterations), and ``checkpoint(weights, means, covs, info)`` is called after each
    chunk, so a long fit can be stopped and its latest state used.

    Parameters
    ----------
    patches : (n, ...) array
        Flattened to ``(n, d)``.
    n_components : int >= 1
    reg_covar : float > 0
        Added to the diagonal of every covariance (the floor).
    max_iter : int
    tol : float >= 0
        EM stops when the mean log-likelihood per patch improves by less than this (0: run
        ``max_iter`` iterations).
    seed : int
        k-means initialisation seed.
    verbose : int
        sklearn's verbosity (2: one line per iteration).
    checkpoint : callable, optional
    checkpoint_every : int >= 1
    resume_state : dict, optional
        EM state to continue from (as given to ``state_callback``): ``weights_ (K,)``,
        ``means_ (K, d)``, ``covariances_ (K, d, d)``, ``precisions_cholesky_ (K, d, d)``,
        ``lower_bound_``, ``converged_`` and ``n_iter`` (iterations done, 1..max_iter). The
        fit then skips the k-means start and runs the remaining iterations: bit-identical
        to the uninterrupted fit with the same settings and ``checkpoint_every``.
    state_callback : callable, optional
        Called after each chunk (before ``checkpoint``) with that state dict (float64
        arrays, a float, a bool and an int), e.g. to save it for a later ``resume_state``.

    Returns
    -------
    weights : (K,) float64 array
    means : (K, d) float64 array
    covs : (K, d, d) float64 array
    info : dict
        ``converged``, ``n_iter``, ``lower_bound`` (mean log-likelihood per patch), ``seconds``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGMM

    X = _patch_rows(patches)
    n_components = check_int(n_components, "n_components", minimum=1)
    if n_components > X.shape[0]:
        raise ValueError(
            f"n_components: expected at most the number of patches ({X.shape[0]}), "
            f"got {n_components}"
        )
    reg_covar = check_positive(reg_covar, "reg_covar")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = as_scalar(tol, "tol")
    if tol < 0:  # 0 is allowed: EM then runs max_iter iterations
        raise ValueError(f"tol: expected a finite number >= 0, got {tol!r}")
    seed = check_int(seed, "seed", maximum=2**32 - 1)
    verbose = check_int(verbose, "verbose")
    checkpoint = check_callable(checkpoint, "checkpoint", optional=True)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
    state_callback = check_callable(state_callback, "state_callback", optional=True)
    if resume_state is not None:
        resume_state = _check_state(resume_state, n_components, X.shape[1], max_iter)
    t0 = time.perf_counter()
    chunk = min(checkpoint_every, max_iter)
    gm = SkGMM(
        n_components=n_components,
        covariance_type="full",
        reg_covar=reg_covar,
        max_iter=chunk,
        tol=tol,
        init_params="kmeans",
        random_state=seed,
        verbose=verbose,
        verbose_interval=1,
        warm_start=True,
    )
    done = 0
    if resume_state is not None:
        for k in _STATE_KEYS:
            setattr(gm, k, resume_state[k])
        done = resume_state["n_iter"]
    while True:
        if resume_state is None or not (gm.converged_ or done >= max_iter):
            gm.max_iter = min(chunk, max_iter - done)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gm.fit(X)
            done += int(gm.n_iter_)
        resume_state = None  # only a resumed fit that had already finished skips EM
        info = dict(
            converged=bool(gm.converged_),
            n_iter=done,
            lower_bound=float(gm.lower_bound_),
            seconds=round(time.perf_counter() - t0, 1),
        )
        covs = 0.5 * (gm.covariances_ + np.swapaxes(gm.covariances_, 1, 2))
        out = (np.asarray(gm.weights_), np.asarray(gm.means_), covs, info)
        if state_callback is not None:
            state = {k: copy.copy(getattr(gm, k)) for k in _STATE_KEYS}
            state_callback(dict(state, n_iter=done))
        if checkpoint is not None:
            checkpoint(*out)
        if gm.converged_ or done >= max_iter:
            return out


#: The attributes of ``sklearn.mixture.GaussianMixture`` that a warm-started ``fit`` reads
#: (``fit_predict``: no k-means start once ``converged_`` exists; the E-step uses
#: ``precisions_cholesky_``; EM continues from ``lower_bound_``).
_STATE_KEYS = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "lower_bound_",
    "converged_",
)


def _check_state(state, K: int, d: int, max_iter: int) -> dict:
    """``state`` (a mapping, see :func:`fit_patch_gmm`) checked and copied, else a
    ``TypeError``/``ValueError`` naming ``resume_state``."""
    from collections.abc import Mapping

    if not isinstance(state, Mapping):
        raise TypeError(f"resume_state: expected a dict, got {type(state).__name__}")
    want = set(_STATE_KEYS) | {"n_iter"}
    if set(state) != want:
        raise ValueError(
            f"resume_state: expected exactly the keys {sorted(want)}, got {sorted(map(str, state))}"
        )
    out = {}
    for k, shape in (
        ("weights_", (K,)),
        ("means_", (K, d)),
        ("covariances_", (K, d, d)),
        ("precisions_cholesky_", (K, d, d)),
    ):
        v = state[k]
        if not isinstance(v, np.ndarray) or v.dtype != np.float64 or v.shape != shape:
            raise ValueError(f"resume_state: {k} must be a float64 array of shape {shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"resume_state: {k} must be finite")
        out[k] = v.copy()
    lb = state["lower_bound_"]
    if isinstance(lb, (bool, np.bool_)) or not isinstance(lb, (float, int, np.number)):
        raise TypeError(f"resume_state: lower_bound_ must be a number, got {type(lb).__name__}")
    if not math.isfinite(float(lb)):
        raise ValueError(f"resume_state: lower_bound_ must be finite, got {lb!r}")
    out["lower_bound_"] = float(lb)
    conv = state["converged_"]
    if not isinstance(conv, (bool, np.bool_)):
        raise TypeError(f"resume_state: converged_ must be a bool, got {type(conv).__name__}")
    out["converged_"] = bool(conv)
    n = state["n_iter"]
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"resume_state: n_iter must be an int, got {type(n).__name__}")
    if not 1 <= int(n) <= max_iter:
        raise ValueError(f"resume_state: n_iter must lie in [1, max_iter={max_iter}], got {n}")
    out["n_iter"] = int(n)
    return out


def _patch_rows(patches) -> np.ndarray:
    """``patches`` ``(n, ...)`` as a finite ``(n, d)`` float64 array, n >= 2, d >= 1."""
    X = as_array(patches, "patches", max_abs=MAX_PATCH_ABS)
    if X.ndim < 2 or X.shape[0] < 2 or X[0].size < 1:
        raise ValueError(
            f"patches: expected an (n, ...) array of n >= 2 non-empty patches, got shape {X.shape}"
        )
    return X.reshape(X.shape[0], -1)


def save_gmm(path, weights, means, covs, *, command: str, meta: dict) -> Path:
    """Write a mixture as float32 ``.npz`` (``weights``, ``means``, ``covs``) with metadata.

    Atomically (:func:`numerics.io.atomic_write`): an interrupted write leaves the previous
    file, never a truncated one. Strings only, no pickled objects.
    """
    gmm = GaussianMixture(weights, means, covs)  # validates weights, means, covs
    if not isinstance(command, str):
        raise TypeError(f"command: expected a str, got {type(command).__name__}")
    if not isinstance(meta, dict):
        raise TypeError(f"meta: expected a dict, got {type(meta).__name__}")
    w = gmm.weights
    arrays = dict(
        weights=(w / w.sum()).astype(np.float32),
        means=gmm.means.astype(np.float32),
        covs=gmm.covs.astype(np.float32),
        command=np.array(command),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: numpy appends no second ".npz"
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


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
    shared_t_terms : True
        A batch with one t (every sampler step) takes the faster shared-t route of
        :class:`~diffusion.priors.MixturePrior`.

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

    shared_t_terms = True

    def __init__(self, gmm: GaussianMixture, schedule, *, meta: dict | None = None):
        super().__init__(gmm, schedule)
        s = math.isqrt(self.d)
        if s * s != self.d:
            raise ValueError(f"gmm: dimension {self.d} is not a square patch (s * s)")
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"meta: expected a dict or None, got {type(meta).__name__}")
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
        """Fit by EM (:func:`fit_patch_gmm`); for small, quick fits."""
        d = _patch_rows(patches).shape[1]
        if math.isqrt(d) ** 2 != d:
            raise ValueError(f"patches: {d} values per patch, not a square patch (s * s)")
        w, mu, S, info = fit_patch_gmm(
            patches, n_components, reg_covar=reg_covar, max_iter=max_iter, tol=tol, seed=seed
        )
        return cls(GaussianMixture(w, mu, S), schedule, meta=dict(info, reg_covar=reg_covar))

    def __repr__(self) -> str:
        return f"GMMImagePrior(K={self.K}, patch_shape={self.patch_shape}, {self.schedule!r})"
