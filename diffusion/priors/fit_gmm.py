r"""Fit the Gaussian-mixture patch prior: ``python -m diffusion.fit_gmm_prior``.

A full-covariance mixture :math:`p(x) = \sum_k w_k N(x; \mu_k, S_k)` over flattened
``size x size`` grayscale patches in [-1, 1] (:mod:`diffusion.data.patches`, **fit split only**),
fitted by EM (``sklearn.mixture.GaussianMixture``, k-means initialisation) with the
covariance floor ``reg_covar`` added to every :math:`S_k` (so every eigenvalue is at least
``reg_covar``; 1e-4 here, a pixel sd of 0.01, about 1.3 grey levels of 255).

The shipped model ``diffusion/weights/gmm_patches16.npz`` (float32, K = 32, d = 256) was
made by exactly this command (42 minutes on 2 shared CPU cores; EM stopped after 10
iterations, see ``diffusion/weights/README.md``)::

    python -m diffusion.fit_gmm_prior --n-patches 50000 --components 32 \
        --reg-covar 1e-4 --max-iter 10 --tol 1e-3 --seed 0 \
        --out diffusion/weights/gmm_patches16.npz

EM runs in chunks of ``--checkpoint-every`` iterations and writes ``--out`` after each
chunk, so a long fit can be stopped and its latest state used.

The ``.npz`` holds ``weights (K,)``, ``means (K, d)``, ``covs (K, d, d)`` (float32) and
metadata strings (``command``, ``meta``: a JSON record of the settings, the fit's
convergence and the split). Load it with :func:`diffusion.priors.load_gmm`. The EM fit and
the file format live in :mod:`diffusion.priors.gmm_image` (:func:`fit_patch_gmm`,
:func:`save_gmm`, re-exported here); this module is the command.

References
----------
1. D. Zoran, Y. Weiss, "From learning models of natural image patches to whole image
   restoration", ICCV 2011.
2. F. Pedregosa et al., "Scikit-learn: machine learning in Python", JMLR 12 (2011).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from diffusion.data.patches import FIT_IMAGES, patch_dataset
from diffusion.priors.gmm_image import DEFAULT_WEIGHTS, fit_patch_gmm, load_gmm, save_gmm

__all__ = ["DEFAULT_WEIGHTS", "fit_patch_gmm", "main", "samples_figure", "save_gmm"]


def samples_figure(weights, path, *, n: int = 48, seed: int = 0) -> Path:
    """Grid figure: prior samples beside real fit-split and test-split patches (same count).

    Samples and patches are shown on the common grey scale [-1, 1] (samples clipped for
    display only).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gm, meta = load_gmm(weights)
    s = int(round(gm.d**0.5))
    if meta.get("data") == "digits16":
        from diffusion.data.digits import digits16

        panels = [
            ("prior samples", gm.sample(n, np.random.default_rng(seed))),
            ("real digits, train split", digits16("train")[0][:n]),
            ("real digits, test split", digits16("test")[0][:n]),
        ]
    else:
        panels = [
            ("prior samples", gm.sample(n, np.random.default_rng(seed))),
            ("real patches, fit images", patch_dataset("fit", n, size=s, seed=seed + 1)),
            ("real patches, test images", patch_dataset("test", n, size=s, seed=seed + 1)),
        ]
    cols = 8
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, 3 * cols + 2, figsize=(0.42 * (3 * cols + 2), 0.42 * rows + 0.5))
    for a in axes.ravel():
        a.axis("off")
    for p, (title, X) in enumerate(panels):
        X = np.asarray(X).reshape(n, s, s)
        for i in range(n):
            axes[i // cols, p * (cols + 1) + i % cols].imshow(
                np.clip(X[i], -1, 1), cmap="gray", vmin=-1, vmax=1, interpolation="nearest"
            )
        axes[0, p * (cols + 1) + cols // 2].set_title(title, fontsize=9)
    fig.suptitle(
        f"GMM prior (K={gm.K}, {s}x{s}, {meta.get('n_iter', '?')} EM iterations) vs real data",
        fontsize=10,
    )
    fig.tight_layout(pad=0.1)
    fig.subplots_adjust(top=1.0 - 0.4 / (0.42 * rows + 0.5))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m diffusion.fit_gmm_prior",
        description="Fit the Gaussian-mixture prior of grayscale image patches (fit split only).",
    )
    p.add_argument(
        "--data",
        choices=("patches", "digits16"),
        default="patches",
        help="patches of the fit photographs (default) or the digits16 train split",
    )
    p.add_argument("--n-patches", type=int, default=50000, help="patches from the fit images")
    p.add_argument("--components", type=int, default=32, help="mixture components K")
    p.add_argument("--patch-size", type=int, default=16, help="patch side (d = side^2)")
    p.add_argument("--reg-covar", type=float, default=1e-4, help="covariance floor")
    p.add_argument("--min-std", type=float, default=0.02, help="reject flatter patches")
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument(
        "--checkpoint-every", type=int, default=5, help="write --out every this many EM iterations"
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="do not fit: draw prior samples of --out beside real patches into this PNG",
    )
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = "python -m diffusion.fit_gmm_prior " + shlex.join(argv)
    if args.figure is not None:
        print(f"wrote {samples_figure(args.out, args.figure, seed=args.seed)}")
        return 0
    if args.data == "digits16":
        from diffusion.data.digits import digits16

        X = digits16("train")[0]  # all 1258 training digits; --n-patches does not apply
        args.patch_size = 16
    else:
        X = patch_dataset(
            "fit", args.n_patches, size=args.patch_size, seed=args.seed, min_std=args.min_std
        )
    print(
        f"fitting K={args.components} on {X.shape[0]} {args.data} of {args.patch_size}x{args.patch_size}",
        flush=True,
    )
    import sklearn

    base = dict(
        n_patches=int(X.shape[0]),
        patch_size=args.patch_size,
        components=args.components,
        reg_covar=args.reg_covar,
        min_std=args.min_std,
        max_iter=args.max_iter,
        tol=args.tol,
        seed=args.seed,
        data=args.data,
        fit_images=list(FIT_IMAGES) if args.data == "patches" else "digits16 train split",
        sklearn=sklearn.__version__,
    )

    def checkpoint(w, mu, S, info):
        save_gmm(args.out, w, mu, S, command=command, meta=dict(base, **info))
        print(f"checkpoint: {json.dumps(info)}", flush=True)

    w, mu, S, info = fit_patch_gmm(
        X,
        args.components,
        reg_covar=args.reg_covar,
        max_iter=args.max_iter,
        tol=args.tol,
        seed=args.seed,
        verbose=0 if args.quiet else 2,
        checkpoint=checkpoint,
        checkpoint_every=args.checkpoint_every,
    )
    meta = dict(base, **info)
    out = save_gmm(args.out, w, mu, S, command=command, meta=meta)
    print(json.dumps(meta), flush=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
