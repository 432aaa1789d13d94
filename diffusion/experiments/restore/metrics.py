r"""Per-image metrics of :mod:`diffusion.restore`: distortion against the clean image and,
with an exact posterior, against the truth given y.

The formulas live in :mod:`numerics` (:func:`~numerics.metrics.psnr`,
:func:`~numerics.metrics.sliced_w2`, :func:`~numerics.dp.dp_function`,
:func:`~numerics.gaussian.eta_chain_moments`); here they are applied to one image's samples
(``mse``, ``psnr``, ``ssim``; ``mse_post``, ``perception``, ``dp_bound``, ``excess``,
``pred_mse_post``) and, for digits, the classifier's FD, KID and accuracy.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.dp import dp_function
from numerics.metrics import frechet_distance, sliced_w2
from numerics.metrics import psnr as psnr_rows

__all__ = [
    "check_finite", "digit_metrics", "image_record", "oracle_mse_at", "predict_mse_post",
    "psnr_ssim",
]  # fmt: skip


def psnr_ssim(samples: np.ndarray, clean: np.ndarray):
    """PSNR and SSIM (``data_range=2``) of each row of ``samples`` (n, d) against ``clean``
    (d,), a square image of at least 7 x 7 pixels.

    ``ValueError`` naming ``samples`` / ``clean`` for NaN or Inf, wrong shapes or sizes."""
    from skimage.metrics import structural_similarity

    from numerics.validate import MAX_ABS, as_array

    clean = as_array(clean, "clean", max_abs=MAX_ABS).reshape(-1)
    s = math.isqrt(clean.size)
    if s < 7 or s * s != clean.size:
        raise ValueError(
            f"clean: expected a square image of at least 7 x 7 pixels (d = s * s), got d = "
            f"{clean.size}"
        )
    samples = as_array(samples, "samples", shape=(None, clean.size), max_abs=MAX_ABS)
    if samples.shape[0] < 1:
        raise ValueError(f"samples: expected at least one row, got shape {samples.shape}")
    psnr = psnr_rows(samples, clean.reshape(1, -1))
    ssim = np.array(
        [
            structural_similarity(x.reshape(s, s), clean.reshape(s, s), data_range=2.0)
            for x in samples
        ]
    )
    return psnr, ssim


def digit_metrics(data: str, X, labels, pool, suffix: str) -> dict:
    """Classifier FD, KID and (with labels) accuracy of digit images ``X`` (n, 256), keys
    ending in ``suffix``; ``{}`` unless ``data == "digits"``."""
    if data != "digits":
        return {}
    from diffusion.metrics.perception import (
        classifier_accuracy,
        classifier_features,
        classifier_kid,
    )

    X = np.asarray(X, dtype=np.float64)
    out = {f"kid{suffix}": float(classifier_kid(X, pool, seed=0))}
    if X.shape[0] > 64:
        # FD of the 64 classifier features. The rank-safe route, not perception.classifier_fd:
        # a deterministic restorer (η = 0 with the exact score, PSCGAN at σ_z = 0) gives the
        # same image for every sample of a digit, so fewer than 65 distinct images and a
        # singular covariance, where the square root must clip rounding-negative eigenvalues.
        out[f"cfd{suffix}"] = frechet_distance(
            classifier_features(X), classifier_features(pool), rank_safe=True
        )
    if labels is not None:
        out[f"accuracy{suffix}"] = classifier_accuracy(X, np.asarray(labels).astype(int))
    return out


def check_finite(obj, where: str) -> None:
    """Raise :class:`RuntimeError` if any float in the nested dicts/lists ``obj`` is not
    finite (nothing is written for ``where`` then)."""
    if isinstance(obj, dict):
        for v in obj.values():
            check_finite(v, where)
    elif isinstance(obj, list):
        for v in obj:
            check_finite(v, where)
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise RuntimeError(f"non-finite metric for {where}; nothing written for it")
    elif not isinstance(obj, (float, int, str, type(None))):
        raise TypeError(f"obj: expected nested dicts/lists of numbers and text, got {type(obj).__name__}")


def predict_mse_post(problem, eta: float, config, run_sched) -> float:
    """mse_post predicted by the exact Gaussian chain on N(m, S) under the run's rule."""
    from numerics.gaussian import eta_chain_moments

    mean, cov = eta_chain_moments(
        problem.m, problem.S, eta, run_sched, start=config.start, variance=config.variance
    )
    return problem.mmse + float(np.trace(cov)) + float(np.sum((mean - problem.m) ** 2))


def image_record(problem, curves_out: dict, setup) -> dict:
    """Per-image, per-η metrics for every curve (``curves_out``: curve -> [n_eta, M, d])."""
    cfg, theta = setup.config, setup.theta
    rec = dict(image=problem.i, source=problem.source)
    if problem.exact:
        rec.update(
            mmse=problem.mmse,
            k_eff=problem.k_eff,
            k_eff_1e3=problem.k_eff_1e3,
            dropped_mass=problem.dropped_mass,
            q_var_exact=problem.q_var_exact,
            perception_floor=problem.floor,
            oracle=problem.oracle,
        )
        pred = {eta: predict_mse_post(problem, eta, cfg, setup.run_sched) for eta in cfg.etas}
    rec["curves"] = {}
    for curve, smp in curves_out.items():
        rows = []
        for e, eta in enumerate(cfg.etas):
            X = smp[e].astype(np.float64)
            err = np.sum((X - problem.clean.reshape(1, -1)) ** 2, axis=1)
            psnr, ssim = psnr_ssim(X, problem.clean)
            row = dict(
                eta=eta,
                mse=float(err.mean()),
                mse_var=float(err.var(ddof=1)),
                psnr=float(psnr.mean()),
                ssim=float(ssim.mean()),
            )
            if problem.exact:
                q = np.sum((X - problem.m) ** 2, axis=1)
                P = sliced_w2(X, problem.ref, theta, rescale=True)
                D = float(dp_function(problem.mmse, P))
                mse_post = problem.mmse + float(q.mean())
                row.update(
                    mse_post=mse_post,
                    q_var=float(q.var(ddof=1)),
                    pred_mse_post=pred[eta],
                    perception=P,
                    dp_bound=D,
                    excess=mse_post - D,
                )
            rows.append(row)
        rec["curves"][curve] = rows
    check_finite(rec, f"image {problem.i}")
    return rec


def oracle_mse_at(oracle, P: float) -> float:
    """MSE of the measured shrinkage curve at perception P.

    The curve is taken from c = 0 to the c of least measured P (beyond it the finite-sample
    bias makes P rise again), made monotone by a running minimum, and interpolated linearly
    in P; below its least P the value at that point is used (the oracle measures no lower),
    above P(c = 0) the MMSE. ``P`` is a finite number >= 0.
    """
    from numerics.validate import as_scalar

    P = as_scalar(P, "P")
    if P < 0:
        raise ValueError(f"P: expected a perception >= 0, got {P!r}")
    Ps = np.array([o["perception"] for o in oracle])
    ms = np.array([o["mse_post"] for o in oracle])
    stop = int(np.argmin(Ps)) + 1
    Pb = np.minimum.accumulate(Ps[:stop])[::-1]
    mb = ms[:stop][::-1]
    return float(np.interp(P, Pb, mb))
