r"""The restoration problems of :mod:`diffusion.restore`: clean images, measurements and,
for an exact prior, the exact posterior.

:func:`make_setup` loads what a run shares (prior, operator, clean images, metric
directions) into a frozen :class:`Setup`; :func:`make_problem` builds image i's
:class:`Problem`: :math:`y = A x + n`, :math:`n \sim N(0, \sigma_y^2 I)`, and with a mixture
prior the pruned posterior mixture (:func:`numerics.gmm.pruned_posterior`), its mean m,
covariance S, reference samples and the shrinkage oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from diffusion.experiments.restore.chains import schedules
from numerics.cli import UsageError
from numerics.gmm import pruned_posterior, squared_error_variance
from numerics.metrics import orthonormal_directions, sliced_w2

__all__ = ["WEIGHT_FLOOR", "Problem", "Setup", "clean_images", "make_problem", "make_setup"]

#: Posterior components below this weight are dropped (the dropped mass is reported).
WEIGHT_FLOOR = 1e-10


def clean_images(data: str, role: str, n: int, *, size: int, seed: int):
    """``n`` clean images of one data set for one role, and their sources (or digit labels).

    Roles: ``"test"`` (restored and reported), ``"fit"`` (ζ tuning: fit-split patches, or
    the validation digits), ``"pool"`` (the clean reference set of the dataset-level
    metrics: test-split patches of another seed, or the training digits) and ``"clean2"``
    (independent clean images, a reference value: test patches of a third seed, or the
    validation digits). Digits are drawn without replacement in a seeded permutation, so
    fewer images are a subset of more; asking for more than the split holds is an error.

    Returns
    -------
    images : (n, size, size) float64 array in [-1, 1]
    sources : (n,) str array (source photograph, or the digit's label)
    """
    from numerics.validate import check_int

    if data not in ("digits", "patches"):
        raise ValueError(f"data: expected 'digits' or 'patches', got {data!r:.40}")
    if role not in ("test", "fit", "pool", "clean2"):
        raise ValueError(f"role: expected 'test', 'fit', 'pool' or 'clean2', got {role!r:.40}")
    n, size = check_int(n, "n", minimum=1), check_int(size, "size", minimum=1)
    seed = check_int(seed, "seed")
    if data == "digits":
        from diffusion.data.digits import digits16

        split = {"test": "test", "fit": "val", "pool": "train", "clean2": "val"}[role]
        x, labels = digits16(split)
        if size != 16:
            raise UsageError(f"--patch-size: digits are 16 x 16, got {size}")
        if n > x.shape[0]:
            if role in ("pool", "clean2"):
                n = x.shape[0]
            else:
                raise UsageError(f"--n-images: the {split} digits hold {x.shape[0]}, asked {n}")
        order = np.random.default_rng([int(seed), 11]).permutation(x.shape[0])[:n]
        return x[order], labels[order].astype(str)
    from diffusion.data.patches import patch_dataset

    split = {"test": "test", "fit": "fit", "pool": "test", "clean2": "test"}[role]
    offset = {"test": 0, "fit": 0, "pool": 1000, "clean2": 2000}[role]
    return patch_dataset(split, n, size=size, seed=seed + offset, return_sources=True)


@dataclass(frozen=True)
class Setup:
    """What every image of a run shares.

    Attributes
    ----------
    config : RestoreConfig
    base_sched, run_sched : Schedule
        The prior's training schedule and the one the chains run on.
    prior : model
        The loaded prior (:attr:`PriorEntry.load <diffusion.experiments.restore.priors.PriorEntry>`).
    op : LinearOperator
        The task's operator on ``(1, patch_size, patch_size)`` images.
    A : (m, d) array
        ``op`` as a matrix; ``rows`` the indices of its non-zero rows (the entries ``A``
        reads; the others are measured as 0).
    clean : (N, d) array
    sources : (N,) str array
    theta : (d, d) array
        The orthonormal basis of the sliced W2 (seeded by ``(seed, 7)``).
    """

    config: object
    base_sched: object
    run_sched: object
    prior: object
    op: object
    A: np.ndarray
    rows: np.ndarray
    clean: np.ndarray
    sources: np.ndarray
    theta: np.ndarray

    @property
    def patch_size(self) -> int:
        """The image side: ``config.patch_size``, or the prior's."""
        return int(self.prior.patch_shape[-1])


def make_setup(config) -> Setup:
    """Load the prior, build the operator, draw the clean images and the directions.

    The images are the first N of a fixed draw of max(N, 64) patches (of N digits in a
    seeded permutation), so runs with fewer images use a subset.
    """
    base_sched, run_sched = schedules(config)
    prior = config.prior.load(config, base_sched)
    size = config.patch_size
    if size is None:
        size = int(prior.patch_shape[-1])
        config.task_spec.check_size(size)
    if tuple(prior.patch_shape) != (1, size, size):
        raise UsageError(
            f"--patch-size: {size} does not match the prior's patches "
            f"{prior.patch_shape[1]}x{prior.patch_shape[2]}"
        )
    op = config.task_spec.make((1, size, size), config.data)
    A = op.as_matrix().numpy()
    rows = np.flatnonzero(np.any(A != 0.0, axis=1))
    N = config.n_images
    n_draw = N if config.data == "digits" else max(N, 64)
    clean, sources = clean_images(
        config.data, config.split, n_draw, size=size, seed=config.image_seed
    )
    theta = orthonormal_directions(size**2, 1, [config.seed, 7])
    return Setup(
        config, base_sched, run_sched, prior, op, A, rows,
        clean[:N].reshape(N, -1), sources[:N], theta,
    )  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One test image: clean x, measurement y, and (exact prior) the exact posterior.

    Attributes
    ----------
    i : int
    clean : (d,) array
    source : str
    y : (m,) array
        ``A x + n``, entries that ``A`` never reads set to 0.
    exact : bool
        Whether the fields below are set (a mixture prior); else they are ``None``.
    post : GaussianMixture
        The pruned posterior; ``dropped_mass`` the weight dropped below
        :data:`WEIGHT_FLOOR`; ``k_eff`` / ``k_eff_1e3`` its components / those of weight
        >= 1e-3.
    m, S, mmse : the posterior mean, covariance and tr S.
    q_var_exact : float
        Variance of ``||x - m||^2`` under the posterior.
    ref, exact_set : (ref_samples, d), (M, d) arrays
        Exact posterior samples: the reference set of the perception, and M more.
    floor : float
        The perception of ``exact_set`` (what a perfect sampler scores at this M).
    oracle : list of dict
        Shrinkage ``m + c (x - m)`` of ``exact_set``, c = 0, 0.1, ..., 1: ``mse_post`` and
        ``perception``.
    """

    i: int
    clean: np.ndarray
    source: str
    y: np.ndarray
    exact: bool
    post: object = None
    dropped_mass: float | None = None
    k_eff: int | None = None
    k_eff_1e3: int | None = None
    m: np.ndarray | None = None
    S: np.ndarray | None = None
    mmse: float | None = None
    q_var_exact: float | None = None
    ref: np.ndarray | None = None
    exact_set: np.ndarray | None = None
    floor: float | None = None
    oracle: list | None = None

    def __post_init__(self):
        # Checked at construction (make_problem builds valid ones), naming the field.
        from numerics.validate import as_array, check_bool, check_int

        check_int(self.i, "i")
        if not isinstance(self.source, str):
            raise TypeError(f"source: expected a str, got {type(self.source).__name__}")
        check_bool(self.exact, "exact")
        for name in ("clean", "y"):
            as_array(getattr(self, name), name, ndim=1)
        for name in ("m", "S", "ref", "exact_set"):
            if getattr(self, name) is not None:
                as_array(getattr(self, name), name)
        for name in ("dropped_mass", "mmse", "q_var_exact", "floor"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v)):
                raise ValueError(f"{name}: expected a finite number or None, got {v!r:.40}")


def measure(setup: Setup, i: int) -> np.ndarray:
    """Image i's measurement ``A x + n`` (noise seeded by ``(seed, 1, i)``), with the
    entries ``A`` never reads set to 0 (they carry no information)."""
    cfg, op = setup.config, setup.op
    rng_y = np.random.default_rng([cfg.seed, 1, i])
    Ax = op.A(torch.from_numpy(setup.clean[i].reshape(1, *op.in_shape))).reshape(-1)
    y = Ax.numpy().astype(np.float64) + cfg.sigma_y * rng_y.standard_normal(Ax.shape[0])
    keep = np.zeros(y.shape[0], dtype=bool)
    keep[setup.rows] = True
    y[~keep] = 0.0
    return y


def make_problem(setup: Setup, i: int) -> Problem:
    """Image i's :class:`Problem` (posterior samples seeded by ``(seed, 2, i)``)."""
    cfg, clean, theta = setup.config, setup.clean[i], setup.theta
    y = measure(setup, i)
    source = str(setup.sources[i])
    if not hasattr(setup.prior, "gmm"):
        return Problem(i, clean, source, y, False)
    rows = setup.rows
    post, dropped = pruned_posterior(
        setup.prior.gmm, setup.A[rows], cfg.sigma_y, y[rows], floor=WEIGHT_FLOOR
    )
    m, S = post.mean(), post.cov()
    mmse = float(np.trace(S))
    rng_p = np.random.default_rng([cfg.seed, 2, i])
    ref = post.sample(cfg.ref_samples, rng_p)
    exact_set = post.sample(cfg.samples_per_image, rng_p)
    dev = exact_set - m
    oracle = []
    for c in np.linspace(0.0, 1.0, 11):
        P = sliced_w2(m + c * dev, ref, theta, rescale=True)
        mse_post = mmse + float(np.mean(np.sum((c * dev) ** 2, axis=1)))
        oracle.append(dict(c=float(c), mse_post=mse_post, perception=P))
    return Problem(
        i, clean, source, y, True, post=post, dropped_mass=dropped, k_eff=int(post.K),
        k_eff_1e3=int(np.sum(post.weights >= 1e-3)), m=m, S=S, mmse=mmse,
        q_var_exact=squared_error_variance(post, m), ref=ref, exact_set=exact_set,
        floor=sliced_w2(exact_set, ref, theta, rescale=True), oracle=oracle,
    )  # fmt: skip
