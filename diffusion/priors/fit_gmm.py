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
chunk (atomically: a kill never leaves a truncated file), so a long fit can be stopped and
its latest state used. After each chunk the float64 EM state also goes (atomically) to a
hidden ``.<out name>.resume.npz`` beside ``--out``, keyed by a SHA-256 of the data and every
setting; the same command after a kill continues from it, and its final ``--out`` equals an
uninterrupted fit's array for array (metadata: all but ``seconds``). The resume file is
deleted when the fit completes; one of other settings or data, or an unreadable one, is
refused (exit 2, naming ``--out``) unless ``--fresh`` starts over. A bad command line (a count below 1, a negative or NaN tolerance or
floor, a ``--tol``, ``--reg-covar`` or ``--min-std`` above 1 (patch values lie in [-1, 1]),
fewer patches than components, an ``--out`` that is not a writable ``.npz`` path) ends with
one line on stderr that names the option, exit status 2.

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
import hashlib
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffusion.data.patches import FIT_IMAGES, patch_dataset
from diffusion.priors.gmm_image import DEFAULT_WEIGHTS, fit_patch_gmm, load_gmm, save_gmm
from numerics.cli import (
    ArgumentParser,
    UsageError,
    check_out_file,
    fail,
    nonneg_float,
    positive_float,
    positive_int,
    seed_int,
)
from numerics.io import as_path, atomic_write
from numerics.progress import Progress
from numerics.validate import as_scalar, check_bool, check_int

__all__ = [
    "DEFAULT_WEIGHTS",
    "FitConfig",
    "build_parser",
    "fit",
    "fit_patch_gmm",
    "main",
    "samples_figure",
    "save_gmm",
]

PROG = "python -m diffusion.fit_gmm_prior"


def samples_figure(weights, path, *, n: int = 48, seed: int = 0) -> Path:
    """Grid figure: prior samples beside real fit-split and test-split patches (same count).

    Samples and patches are shown on the common grey scale [-1, 1] (samples clipped for
    display only). ``weights``: a mixture ``.npz`` (:func:`save_gmm`); ``path``: the PNG to
    write; ``n``: images per panel, 1..1024; ``seed``: an integer in [0, 2**32).
    """
    n = check_int(n, "n", minimum=1, maximum=1024)
    seed = check_int(seed, "seed", maximum=2**32 - 1)
    path = check_out_file(path, "path")
    weights = as_path(weights, "weights")
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
    fig, axes = plt.subplots(
        rows, 3 * cols + 2, figsize=(0.42 * (3 * cols + 2), 0.42 * rows + 0.5), squeeze=False
    )
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
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class FitConfig:
    """Settings of one fit (the command line, checked)."""

    data: str = "patches"
    n_patches: int = 50000
    components: int = 32
    patch_size: int = 16
    reg_covar: float = 1e-4
    min_std: float = 0.02
    max_iter: int = 100
    tol: float = 1e-3
    seed: int = 0
    out: Path = DEFAULT_WEIGHTS
    checkpoint_every: int = 5
    quiet: bool = False
    fresh: bool = False

    def __post_init__(self):
        if self.data not in ("patches", "digits16"):
            raise ValueError(f"data: expected 'patches' or 'digits16', got {self.data!r}")
        for f, low, high in (
            ("n_patches", 2, None),
            ("components", 1, None),
            ("patch_size", 1, None),
            ("max_iter", 1, None),
            ("seed", 0, 2**32 - 1),
            ("checkpoint_every", 1, None),
        ):
            check_int(getattr(self, f), f, minimum=low, maximum=high)
        for f, positive in (("reg_covar", True), ("min_std", False), ("tol", False)):
            v = as_scalar(getattr(self, f), f)
            if v < 0 or (positive and v == 0) or v > 1.0:
                want = "(0, 1]" if positive else "[0, 1]"
                raise ValueError(f"{f}: expected a number in {want} ({_WHY[f]}), got {v!r}")
        check_bool(self.quiet, "quiet")
        check_bool(self.fresh, "fresh")
        if not isinstance(self.out, (str, os.PathLike)):
            raise TypeError(f"out: expected a path, got {type(self.out).__name__}")
        object.__setattr__(self, "out", check_out_file(self.out, "out"))


def _bounded(convert, top: float, why: str):
    """An argparse type: ``convert(text)`` (a finite number) that must be <= ``top``."""

    def parse(text: str) -> float:
        v = convert(text)
        if v > top:
            raise argparse.ArgumentTypeError(f"expected at most {top:g} ({why}), got {text!r}")
        return v

    parse.__name__ = convert.__name__
    return parse


#: Upper bounds of the real-valued settings (:class:`FitConfig`, the options): patch values
#: lie in [-1, 1], so a patch's pixel standard deviation is at most 1 and its pixel variance
#: at most 1; ``tol`` is a gain of mean log-likelihood per patch, in nats (default 1e-3).
_WHY = {
    "min_std": "the pixel sd of a patch in [-1, 1] is at most 1",
    "reg_covar": "a variance floor above the largest pixel variance of [-1, 1] data",
    "tol": "the threshold on the mean log-likelihood gain per patch, in nats",
}
_MIN_STD = _bounded(nonneg_float, 1.0, _WHY["min_std"])
_REG_COVAR = _bounded(positive_float, 1.0, _WHY["reg_covar"])
_TOL = _bounded(nonneg_float, 1.0, _WHY["tol"])


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Fit the Gaussian-mixture prior of grayscale image patches (fit split only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--data",
        choices=("patches", "digits16"),
        default="patches",
        help="patches of the fit photographs or the digits16 train split",
    )
    p.add_argument("--n-patches", type=positive_int, default=50000, help="patches (>= 2)")
    p.add_argument("--components", type=positive_int, default=32, help="mixture components K")
    p.add_argument("--patch-size", type=positive_int, default=16, help="patch side (d = side^2)")
    p.add_argument("--reg-covar", type=_REG_COVAR, default=1e-4, help="covariance floor")
    p.add_argument("--min-std", type=_MIN_STD, default=0.02, help="reject flatter patches")
    p.add_argument("--max-iter", type=positive_int, default=100, help="EM iterations at most")
    p.add_argument(
        "--tol",
        type=_TOL,
        default=1e-3,
        help="EM stops when the mean log-likelihood gains less",
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the patches and the EM start")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="the .npz to write")
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=5,
        help="write --out every this many EM iterations",
    )
    p.add_argument("--quiet", action="store_true", help="no per-iteration log")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="ignore (and replace) the resume state of an interrupted fit into --out",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="do not fit: draw prior samples of --out beside real patches into this PNG "
        "(None: fit)",
    )
    return p


def _writable(path: Path, option: str, suffix: str | None) -> Path:
    """Refuse (UsageError naming ``option``) a path that cannot be written atomically."""
    if suffix is not None and path.suffix != suffix:
        raise UsageError(f"argument {option}: expected a file name ending in {suffix}, got {path}")
    if path.is_dir():
        raise UsageError(f"argument {option}: {path} is a folder, expected a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UsageError(f"argument {option}: cannot write {path} ({exc.strerror or exc})") from exc
    return path


def _resume_file(out) -> Path:
    """The hidden resume state of a fit into ``out``: ``.<out name>.resume.npz`` beside it."""
    out = as_path(out, "out")
    return out.parent / f".{out.name}.resume.npz"


def _settings_key(X: np.ndarray, base: dict, checkpoint_every: int) -> str:
    """SHA-256 of everything the EM iterates depend on: the data's bytes and the settings."""
    h = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(json.dumps(dict(base, checkpoint_every=checkpoint_every), sort_keys=True).encode())
    return h.hexdigest()


def _save_state(path: Path, key: str, state: dict) -> None:
    arrays = {k: np.asarray(v) for k, v in state.items()}
    arrays["settings_key"] = np.array(key)
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def _load_state(path: Path, key: str, out: Path) -> dict:
    """The resume state at ``path`` written by a fit of settings ``key``, else UsageError."""
    again = "; pass --fresh to start over"
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in z.files}
        saved_key = str(got.pop("settings_key"))
        state = {k: got[k] for k in ("weights_", "means_", "covariances_", "precisions_cholesky_")}
        state["lower_bound_"] = float(got["lower_bound_"])
        state["converged_"] = bool(got["converged_"])
        state["n_iter"] = int(got["n_iter"])
    except Exception as exc:  # noqa: BLE001 -- any unreadable file: one line, no traceback
        raise UsageError(
            f"argument --out: the resume state {path} of an interrupted fit into {out} is "
            f"unreadable ({type(exc).__name__}: {exc}){again}"
        ) from None
    if saved_key != key:
        raise UsageError(
            f"argument --out: the resume state {path} of an interrupted fit into {out} was "
            f"written with other settings or data{again}"
        )
    return state


def fit(cfg: FitConfig, command: str) -> tuple[Path, dict]:
    """Load the data, run EM (writing ``cfg.out`` after every chunk), write ``cfg.out``.

    After every chunk the EM state also goes (atomically) to :func:`_resume_file`; a fit
    whose resume state exists continues from it (bit-identical to an uninterrupted fit)
    unless ``cfg.fresh``; a state of other settings or data, or an unreadable one, is a
    :class:`UsageError` naming ``--out``. The state is deleted when the fit completes.
    Returns the path and the metadata written with the mixture.
    """
    if not isinstance(cfg, FitConfig):
        raise TypeError(f"cfg: expected a FitConfig, got {type(cfg).__name__}")
    if not isinstance(command, str):
        raise TypeError(f"command: expected a str, got {type(command).__name__}")
    if cfg.data == "digits16":
        from diffusion.data.digits import digits16

        X = digits16("train")[0]  # all 1258 training digits; --n-patches does not apply
        size = 16
    else:
        X = patch_dataset(
            "fit", cfg.n_patches, size=cfg.patch_size, seed=cfg.seed, min_std=cfg.min_std
        )
        size = cfg.patch_size
    if cfg.components > X.shape[0]:
        raise UsageError(
            f"argument --components: {cfg.components} components for {X.shape[0]} data points"
        )
    print(f"fitting K={cfg.components} on {X.shape[0]} {cfg.data} of {size}x{size}", flush=True)
    import sklearn

    base = dict(
        n_patches=int(X.shape[0]),
        patch_size=size,
        components=cfg.components,
        reg_covar=cfg.reg_covar,
        min_std=cfg.min_std,
        max_iter=cfg.max_iter,
        tol=cfg.tol,
        seed=cfg.seed,
        data=cfg.data,
        fit_images=list(FIT_IMAGES) if cfg.data == "patches" else "digits16 train split",
        sklearn=sklearn.__version__,
    )

    key = _settings_key(X, base, cfg.checkpoint_every)
    state_path = _resume_file(cfg.out)
    resume = None
    if cfg.fresh:
        state_path.unlink(missing_ok=True)
    elif state_path.exists():
        resume = _load_state(state_path, key, cfg.out)
        print(f"(resumed) from {state_path} after {resume['n_iter']} EM iterations", flush=True)

    eta = Progress(cfg.max_iter, f"EM, at most {cfg.max_iter} iterations", bar=False,
                   prog="fit_gmm_prior", verb="fitting")  # fmt: skip

    def checkpoint(w, mu, S, info):
        save_gmm(cfg.out, w, mu, S, command=command, meta=dict(base, **info))
        print(f"checkpoint: {json.dumps(info)}", flush=True)
        if not cfg.quiet:  # the first chunk (with the k-means start) starts the clock
            eta.update(info["n_iter"] - eta.done)

    w, mu, S, info = fit_patch_gmm(
        X,
        cfg.components,
        reg_covar=cfg.reg_covar,
        max_iter=cfg.max_iter,
        tol=cfg.tol,
        seed=cfg.seed,
        verbose=0 if cfg.quiet else 2,
        checkpoint=checkpoint,
        checkpoint_every=cfg.checkpoint_every,
        resume_state=resume,
        state_callback=lambda state: _save_state(state_path, key, state),
    )
    meta = dict(base, **info)
    out = save_gmm(cfg.out, w, mu, S, command=command, meta=meta)
    state_path.unlink(missing_ok=True)  # complete: nothing to resume
    return out, meta


def main(argv=None) -> int:
    """The command: one line on stderr naming the option and exit 2 on a bad command line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = "python -m diffusion.fit_gmm_prior " + shlex.join(argv)
    try:
        a = build_parser().parse_args(argv)
        if a.figure is not None:
            _writable(a.figure, "--figure", None)
            if not a.out.is_file():
                raise UsageError(f"argument --out: no mixture file at {a.out} to draw")
            print(f"wrote {samples_figure(a.out, a.figure, seed=a.seed)}")
            return 0
        if a.data == "patches" and a.n_patches < max(2, a.components):
            raise UsageError(
                f"argument --n-patches: expected at least max(2, --components) = "
                f"{max(2, a.components)} patches, got {a.n_patches}"
            )
        _writable(a.out, "--out", ".npz")
        cfg = FitConfig(
            **{f: getattr(a, f) for f in FitConfig.__dataclass_fields__},
        )
        out, meta = fit(cfg, command)
    except (UsageError, ValueError) as exc:  # bad options, or data that cannot be fitted
        return fail(PROG, exc)
    print(json.dumps(meta), flush=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
