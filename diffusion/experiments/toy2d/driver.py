r"""``python -m diffusion.toy2d``: the paper's 2-D experiments (Figs. 4, 5, 9, 10, 11) against PSCGAN.

For each data set (pinwheel, S-curve, moons; :mod:`diffusion.toy2d_data`) the command

1. trains (or loads) one ε-network by denoising score matching and checks its unconditional
   samples (η = 1): empirical W2 to true samples against the finite-sample floor;
2. trains (or loads) PSCGAN at the main noise level (:mod:`diffusion.toy2d_models`);
3. picks nothing on the test pairs: the DPS weight ζ comes from ``configs/toy2d.json``; the
   validation sweep that chose it is recomputed on validation pairs and reported;
4. for every σ_y (the main one and the others, same network), on the same test pairs
   :math:`(x_i, y_i = x_i + \sigma_y n_i)`, runs the η-scaled reverse chain with DPS guidance
   for η = 0, 0.1, …, 1 in one batch, PSCGAN averaged over N samples and with a scaled latent
   σ_z, and an **oracle**: the exact posterior of the (empirical) data law by self-normalised
   importance sampling, giving E[x|y], exact posterior draws and their shrinkage
   :math:`m + c(x' - m)`, the construction that attains the conditional DP bound;
5. measures every point: MSE to the true x, W2 (POT network simplex) between the joint laws
   of :math:`(\hat x, y)` and :math:`(x, y)` and between the marginals of :math:`\hat x` and x,
   and k-NN KL for both, each with its floor;
6. runs the ζ ablation (η = 1, ζ varied; pinwheel, main σ_y);
7. writes ``toy2d.json`` (every curve point), per-data-set ``result.json`` and the figures.

Perception metric. The theory (Theorem 2) is about the *conditional* law
:math:`p(\hat x \mid y)` against :math:`p(x \mid y)`, which cannot be estimated from one x per
y. The W2 between the **joint** laws of :math:`(\hat x, y)` and :math:`(x, y)` is zero exactly
when :math:`\hat x \mid y` has the law of :math:`x \mid y` for almost every y, so it is the
primary perception axis here. The **marginal** W2 (law of :math:`\hat x` against the data
law, what a scatter plot of the reconstructions shows and, we believe, what the paper's
figures measure) is reported too; it can be zero for an estimator that ignores y.

Interrupted runs resume: every finished unit (a network, a sweep, a floor) is written
atomically under ``OUT/<data set>/`` with a key hashing everything it depends on, and is
reused when the key matches. Timings are kept out of ``toy2d.json`` (in
``toy2d_timing.json``) so that a resumed run writes the same JSON as an uninterrupted one.

References
----------
1. Z. Wang, Y. Bi, Y. Zhang, X. Yuan, arXiv 2503.20297 (2025), Section IV-A, Appendix E.
2. G. Ohayon et al., "High Perceptual Quality Image Denoising with a Posterior Sampling
   CGAN", ICCV Workshops 2021 (PSCGAN).
3. H. Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems",
   ICLR 2023 (DPS).
4. D. Freirich, T. Michaeli, R. Meir, "A Theory of the Distortion-Perception Tradeoff in
   Wasserstein Space", NeurIPS 2021.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from diffusion._paths import CONFIGS_DIR
from diffusion.data.toy2d import DATASETS, data_settings, make_data, settings_hash
from diffusion.experiments.toy2d.models import (
    count_parameters,
    load_checkpoint,
    pscgan_estimate,
    save_checkpoint,
    train_pscgan,
    train_score,
)
from diffusion.guidance import DPSGuidance
from diffusion.models import EpsilonAdapter
from diffusion.operators import Identity
from diffusion.sampler import sample
from numerics.metrics import knn_kl, knn_kl_or_none, metric_floor, w2_empirical
from numerics.schedule import linear_schedule

__all__ = [
    "CONFIG_PATH",
    "claim_summary",
    "dp_point",
    "load_config",
    "main",
    "oracle_posterior",
    "run_dataset",
    "sweep_ours",
]

CONFIG_PATH = CONFIGS_DIR / "toy2d.json"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- config
class ConfigError(ValueError):
    """An invalid configuration file; the message names the field."""


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path=None, *, quick: bool = False) -> dict:
    """Read the settings (default :data:`CONFIG_PATH`), apply the ``quick`` overrides, validate.

    Raises
    ------
    ConfigError
        Unreadable file, or a missing or invalid field (named).
    """
    path = Path(path) if path is not None else CONFIG_PATH
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config: {path} is not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from exc
    if not isinstance(cfg, dict):
        raise ConfigError("config: expected a JSON object")
    if quick:
        cfg = _merge(cfg, cfg.get("quick", {}))
    cfg.pop("quick", None)
    cfg.pop("_doc", None)
    _validate_config(cfg)
    return cfg


def _validate_config(cfg: dict) -> None:
    def need(key, kind=None):
        if key not in cfg:
            raise ConfigError(f"{key}: missing key")
        if kind is not None and not isinstance(cfg[key], kind):
            raise ConfigError(
                f"{key}: expected {kind.__name__ if isinstance(kind, type) else kind}"
            )
        return cfg[key]

    def pos(name, v, integer=False):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        if integer:
            ok = ok and isinstance(v, int)
        if not ok:
            raise ConfigError(
                f"{name}: expected a {'positive integer' if integer else 'number > 0'}, got {v!r}"
            )

    sch = need("schedule", dict)
    for k in ("T", "beta_start", "beta_end"):
        if k not in sch:
            raise ConfigError(f"schedule.{k}: missing key")
    pos("schedule.T", sch["T"], integer=True)
    pos("sampling_steps", need("sampling_steps"), integer=True)
    if cfg["sampling_steps"] > sch["T"]:
        raise ConfigError(f"sampling_steps: expected <= schedule.T = {sch['T']}")
    if need("variance") not in ("beta", "beta_tilde"):
        raise ConfigError(
            "variance: expected 'beta' or 'beta_tilde' (no Hessian for a trained network)"
        )
    if cfg.get("x0_clip") is not None:
        pos("x0_clip", cfg["x0_clip"])
    pos("sigma_y", need("sigma_y"))
    for v in need("sigma_y_other", list):
        pos("sigma_y_other[]", v)
    etas = need("etas", list)
    if not etas or any(not isinstance(e, (int, float)) or not 0 <= e <= 1 for e in etas):
        raise ConfigError("etas: expected a non-empty list of numbers in [0, 1]")
    dps = need("dps", dict)
    if dps.get("form") not in ("likelihood", "reference"):
        raise ConfigError("dps.form: expected 'likelihood' or 'reference'")
    zeta = need("zeta", dict)
    tags = [_fmt_sigma(cfg["sigma_y"])] + [_fmt_sigma(s) for s in cfg["sigma_y_other"]]
    for name in DATASETS:
        if not isinstance(zeta.get(name), dict):
            raise ConfigError(f"zeta.{name}: expected an object {{sigma_y: zeta}}")
        for tag in tags:
            if tag not in zeta[name]:
                raise ConfigError(f"zeta.{name}.{tag}: missing key (one zeta per sigma_y)")
            pos(f"zeta.{name}.{tag}", zeta[name][tag])
    for key in ("zeta_grid", "zeta_ablation_factors"):
        vals = need(key, list)
        if not vals:
            raise ConfigError(f"{key}: expected a non-empty list")
        for v in vals:
            pos(f"{key}[]", v)
    sizes = need("sizes", dict)
    for k in ("n_train", "n_test", "n_val", "n_quality", "floor_repeats", "n_oracle"):
        if k not in sizes:
            raise ConfigError(f"sizes.{k}: missing key")
        pos(f"sizes.{k}", sizes[k], integer=True)
    if sizes["floor_repeats"] < 2:
        raise ConfigError("sizes.floor_repeats: expected >= 2")
    if sizes["n_test"] < 10 or sizes["n_val"] < 10 or sizes["n_quality"] < 10:
        raise ConfigError("sizes: n_test, n_val and n_quality must be >= 10")
    st = need("score_training", dict)
    for k in ("steps", "batch"):
        pos(f"score_training.{k}", st.get(k), integer=True)
    pg = need("pscgan", dict)
    for k in ("steps", "batch", "n_critic", "n_penalty"):
        pos(f"pscgan.{k}", pg.get(k), integer=True)
    for v in pg.get("n_avg", []):
        pos("pscgan.n_avg[]", v, integer=True)
    if not pg.get("n_avg") or not pg.get("sigma_z"):
        raise ConfigError("pscgan.n_avg, pscgan.sigma_z: expected non-empty lists")
    if any(not isinstance(v, (int, float)) or v < 0 for v in pg["sigma_z"]):
        raise ConfigError("pscgan.sigma_z: expected numbers >= 0")


# --------------------------------------------------------------------------- storage
def _atomic_write(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: Path, obj) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8"))


class Store:
    """Finished units of one data set under ``root``: ``units/<name>.json`` (+ ``.npz``).

    A unit is complete when its JSON exists (written last, atomically) and its ``key`` matches.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def _paths(self, name: str):
        return self.root / "units" / f"{name}.json", self.root / "units" / f"{name}.npz"

    def load(self, name: str, key: str):
        jp, npz = self._paths(name)
        if not jp.exists():
            return None
        try:
            rec = json.loads(jp.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if rec.get("key") != key:
            return None
        arrays = {}
        if rec.get("has_arrays"):
            if not npz.exists():
                return None
            with np.load(npz) as f:
                arrays = {k: f[k] for k in f.files}
        return rec["meta"], arrays

    def save(self, name: str, key: str, meta: dict, arrays: dict | None = None) -> None:
        jp, npz = self._paths(name)
        if arrays:
            _atomic_write(npz, lambda p: np.savez(p.open("wb"), **arrays))
        _write_json(jp, dict(key=key, has_arrays=bool(arrays), meta=meta))
        _on_unit_saved(name)


def _on_unit_saved(name: str) -> None:
    """Hook called after every saved unit (tests use it to simulate an interruption)."""


def _seed(seed: int, *names) -> int:
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def _rng(seed: int, *names) -> np.random.Generator:
    return np.random.default_rng(_seed(seed, *names))


def _tgen(seed: int, *names) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(seed, *names))


def _unit(store: Store, name: str, key_obj, compute, timing: dict, *, log=print):
    """Load unit ``name`` if finished with the same key, else compute it and save it."""
    key = settings_hash(key_obj)
    got = store.load(name, key)
    if got is not None:
        log(f"  [{store.root.name}] {name}: loaded")
        return got
    log(f"  [{store.root.name}] {name}: computing")
    t0, c0 = time.perf_counter(), time.process_time()
    meta, arrays = compute()
    timing[name] = dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    meta = dict(meta, _timing=timing[name])
    store.save(name, key, meta, arrays)
    return meta, arrays


def _strip_private(obj):
    if isinstance(obj, dict):
        return {k: _strip_private(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [_strip_private(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- the method
def _schedule(cfg):
    s = cfg["schedule"]
    return linear_schedule(int(s["T"]), float(s["beta_start"]), float(s["beta_end"]))


def sweep_ours(
    denoiser,
    y,
    sigma_y: float,
    etas,
    zeta,
    schedule,
    *,
    generator: torch.Generator,
    form: str = "likelihood",
    scale_by_beta: bool = False,
    steps: int | None = None,
    variance: str = "beta_tilde",
    progress: bool = False,
    dtype=torch.float32,
) -> np.ndarray:
    r"""The η-scaled reverse chain with DPS guidance for every η at once; returns [len(etas), n, d].

    One batch of ``len(etas) * n`` chains: block j runs η = ``etas[j]`` on the n measurements
    ``y`` (y = x + n, operator the identity), with the DPS step of
    :class:`~diffusion.guidance.DPSGuidance` (ζ constant over η and t).

    Parameters
    ----------
    denoiser : callable ``(x_t [B, d], t int64 [B]) -> x0_hat`` (:mod:`diffusion.models`)
    y : (n, d) array
    sigma_y : float > 0
    etas : sequence of float in [0, 1]
    zeta : float >= 0
    schedule : numerics Schedule (the denoiser's base schedule)
    generator : torch.Generator
    form, scale_by_beta : passed to DPSGuidance
    steps : int, optional
        Respace the schedule to this many steps (None: all T).
    variance : {"beta_tilde", "beta"}
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"y: expected an (n, d) array, got shape {y.shape}")
    etas = np.asarray(etas, dtype=np.float64).ravel()
    n, d = y.shape
    k = etas.shape[0]
    eta_all = torch.as_tensor(np.repeat(etas, n), dtype=dtype)
    y_all = torch.as_tensor(np.tile(y, (k, 1)), dtype=dtype)
    guide = DPSGuidance(
        Identity((d,)),
        y_all,
        float(zeta),
        form=form,
        sigma_y=float(sigma_y) if form == "likelihood" else None,
        scale_by_beta=scale_by_beta,
    )
    x0 = sample(
        denoiser,
        (k * n, d),
        schedule,
        eta=eta_all,
        guidance=guide,
        variance=variance,
        steps=steps if steps is not None and steps != schedule.T else None,
        generator=generator,
        progress=progress,
        dtype=dtype,
    )
    return x0.detach().to(torch.float64).numpy().reshape(k, n, d)


def oracle_posterior(prior_x, y, sigma_y: float, rng: np.random.Generator, *, chunk: int = 16):
    r"""Exact posterior of an empirical prior by self-normalised importance weights.

    For the empirical law of ``prior_x`` (M points) and y = x + σ_y n, the posterior is the
    weighted empirical law with :math:`w_m \propto \exp(-\|y - x_m\|^2 / 2\sigma_y^2)`:

    .. math::

        E[x \mid y] = \sum_m w_m x_m, \qquad
        \operatorname{tr}\operatorname{Cov}[x \mid y] = \sum_m w_m \|x_m - E[x \mid y]\|^2,

    and a posterior draw is :math:`x_m` with probability :math:`w_m`. As M grows this is the
    posterior of the data law itself.

    Parameters
    ----------
    prior_x : (M, d) array
    y : (n, d) array
    sigma_y : float > 0
    rng : numpy.random.Generator
        One uniform per y for the draw.

    Returns
    -------
    mean : (n, d) array
    draw : (n, d) array
    trace_cov : (n,) array
    ess : (n,) array
        Effective sample size :math:`1/\sum_m w_m^2` of each y.
    """
    X = np.asarray(prior_x, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64)
    n, d = Y.shape
    mean = np.empty((n, d))
    draw = np.empty((n, d))
    tr = np.empty(n)
    ess = np.empty(n)
    x2 = np.sum(X * X, axis=1)
    u = rng.random(n)
    for i0 in range(0, n, chunk):
        Yc = Y[i0 : i0 + chunk]
        d2 = np.sum(Yc * Yc, axis=1)[:, None] + x2[None] - 2.0 * Yc @ X.T
        logw = -0.5 * d2 / sigma_y**2
        logw -= logw.max(axis=1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(axis=1, keepdims=True)
        m = w @ X
        mean[i0 : i0 + chunk] = m
        tr[i0 : i0 + chunk] = w @ x2 - np.sum(m * m, axis=1)
        ess[i0 : i0 + chunk] = 1.0 / np.sum(w * w, axis=1)
        cw = np.cumsum(w, axis=1)
        idx = np.minimum((cw < u[i0 : i0 + chunk, None] * cw[:, -1:]).sum(axis=1), X.shape[0] - 1)
        draw[i0 : i0 + chunk] = X[idx]
    return mean, draw, np.maximum(tr, 0.0), ess


def dp_point(xhat, x, y, ref_x, ref_y) -> dict:
    r"""Distortion and perception of estimates ``xhat`` of the test pairs ``(x, y)``.

    * ``mse``: :math:`\frac1n\sum_i\|\hat x_i - x_i\|^2` (``mse_se`` its standard error);
    * ``w2_joint``: empirical W2 between :math:`\{(\hat x_i, y_i)\}` and an independent
      reference set :math:`\{(x'_j, y'_j)\}` of the joint law (4-D, exact LP);
    * ``w2_marginal``: empirical W2 between :math:`\{\hat x_i\}` and :math:`\{x'_j\}` (2-D);
    * ``kl_joint``, ``kl_marginal``: k-NN KL (k = 1) of the same pairs of sets, None where
      undefined (tied points).

    Parameters
    ----------
    xhat, x, y : (n, d) arrays
    ref_x, ref_y : (m, d) arrays, independent of the test pairs
    """
    xhat = np.asarray(xhat, dtype=np.float64)
    err = np.sum((xhat - x) ** 2, axis=1)
    J = np.column_stack([xhat, y])
    Jr = np.column_stack([ref_x, ref_y])
    return dict(
        mse=float(err.mean()),
        mse_se=float(err.std(ddof=1) / math.sqrt(err.shape[0])),
        w2_joint=w2_empirical(J, Jr),
        w2_marginal=w2_empirical(xhat, ref_x),
        kl_joint=knn_kl_or_none(J, Jr),
        kl_marginal=knn_kl_or_none(xhat, ref_x),
    )


# --------------------------------------------------------------------------- one data set
def _fmt_sigma(s: float) -> str:
    return f"{float(s):g}"


def _load_score(store, ds, cfg, seed, timing, log, progress):
    sched = _schedule(cfg)
    st = cfg["score_training"]
    key = settings_hash(
        dict(
            v=FORMAT_VERSION,
            data=data_settings(ds),
            n_train=cfg["sizes"]["n_train"],
            train=st,
            schedule=cfg["schedule"],
            seed=seed,
        )
    )
    path = store.root / "weights" / "score_net.pt"
    got = load_checkpoint(path, key)
    if got is not None:
        log(f"  [{ds}] score network: loaded {path}")
        return got[0]["score"], got[1]
    log(f"  [{ds}] score network: training ({st['steps']} steps)")
    X = make_data(ds, cfg["sizes"]["n_train"], _rng(seed, ds, "train"))
    t0, c0 = time.perf_counter(), time.process_time()
    net, tlog = train_score(
        X,
        sched,
        steps=int(st["steps"]),
        batch=int(st["batch"]),
        lr=float(st.get("lr", 2e-3)),
        ema=st.get("ema", 0.999),
        warmup=int(st.get("warmup", 200)),
        seed=_seed(seed, ds, "score_init"),
        log_every=max(1, int(st["steps"]) // 50),
        progress=progress,
    )
    timing["score_training"] = dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    info = dict(
        parameters=count_parameters(net),
        loss=[round(v, 6) for v in tlog["loss"]],
        log_every=tlog["log_every"],
        settings=st,
        data=data_settings(ds),
        key=key,
        _timing=timing["score_training"],
    )
    save_checkpoint(path, modules={"score": net}, key=key, info=info)
    _on_unit_saved("score_net")
    return load_checkpoint(path, key)[0]["score"], info  # use exactly what is on disk


def _load_pscgan(store, ds, cfg, seed, timing, log, progress):
    pg = {k: v for k, v in cfg["pscgan"].items() if k not in ("n_avg", "sigma_z")}
    key = settings_hash(
        dict(
            v=FORMAT_VERSION,
            data=data_settings(ds),
            n_train=cfg["sizes"]["n_train"],
            train=pg,
            sigma_y=cfg["sigma_y"],
            seed=seed,
        )
    )
    path = store.root / "weights" / "pscgan.pt"
    got = load_checkpoint(path, key)
    if got is not None:
        log(f"  [{ds}] PSCGAN: loaded {path}")
        return got[0]["generator"], got[1]
    log(f"  [{ds}] PSCGAN: training ({pg['steps']} generator steps)")
    X = make_data(ds, cfg["sizes"]["n_train"], _rng(seed, ds, "train"))
    t0, c0 = time.perf_counter(), time.process_time()
    g, D, tlog = train_pscgan(
        X,
        float(cfg["sigma_y"]),
        steps=int(pg["steps"]),
        batch=int(pg["batch"]),
        n_critic=int(pg["n_critic"]),
        n_penalty=int(pg["n_penalty"]),
        lam=float(pg.get("lam", 1.0)),
        gp=float(pg.get("gp", 10.0)),
        lr=float(pg.get("lr", 2e-4)),
        betas=tuple(pg.get("betas", (0.5, 0.9))),
        seed=_seed(seed, ds, "pscgan_init"),
        log_every=max(1, int(pg["steps"]) // 50),
        progress=progress,
    )
    timing["pscgan_training"] = dict(
        wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0
    )
    info = dict(
        parameters=dict(generator=count_parameters(g), critic=count_parameters(D)),
        penalty=[round(v, 6) for v in tlog["penalty"]],
        critic=[round(v, 6) for v in tlog["critic"]],
        log_every=tlog["log_every"],
        settings=pg,
        sigma_y=cfg["sigma_y"],
        key=key,
        _timing=timing["pscgan_training"],
    )
    save_checkpoint(path, modules={"generator": g, "critic": D}, key=key, info=info)
    _on_unit_saved("pscgan")
    return load_checkpoint(path, key)[0]["generator"], info


def _pairs(ds, n, sigma, seed, stream):
    x = make_data(ds, n, _rng(seed, ds, stream, "x"))
    noise = _rng(seed, ds, stream, "noise").standard_normal(x.shape)
    return x, x + sigma * noise


def run_dataset(
    ds: str,
    cfg: dict,
    out: Path,
    *,
    seed: int = 0,
    progress: bool = True,
    log=print,
    validate_only: bool = False,
) -> dict:
    """Run (or resume) every unit of data set ``ds``; returns its result dict (with timings).

    With ``validate_only`` it stops after the networks, the sample-quality check and the ζ
    validation sweeps, and returns ``{"dataset", "quality", "zeta_validation", "zeta"}``.
    """
    if ds not in DATASETS:
        raise ValueError(f"ds: expected one of {sorted(DATASETS)}, got {ds!r}")
    store = Store(Path(out) / ds)
    timing: dict = {}
    sched = _schedule(cfg)
    sizes = cfg["sizes"]
    steps = int(cfg["sampling_steps"])
    etas = [float(e) for e in cfg["etas"]]
    dps = dict(form=cfg["dps"]["form"], scale_by_beta=bool(cfg["dps"].get("scale_by_beta", False)))
    sigmas = [float(cfg["sigma_y"])] + [float(s) for s in cfg["sigma_y_other"]]
    zetas = {_fmt_sigma(s): float(cfg["zeta"][ds][_fmt_sigma(s)]) for s in sigmas}
    dset = data_settings(ds)
    common = dict(v=FORMAT_VERSION, data=dset, seed=seed)

    net, score_info = _load_score(store, ds, cfg, seed, timing, log, progress)
    clip = cfg.get("x0_clip")
    den = EpsilonAdapter(net, sched, clip=None if clip is None else (-float(clip), float(clip)))
    g, gan_info = _load_pscgan(store, ds, cfg, seed, timing, log, progress)
    chain = dict(
        schedule=cfg["schedule"],
        steps=steps,
        variance=cfg["variance"],
        x0_clip=cfg.get("x0_clip"),
        net=score_info["key"],
        dps=dps,
    )

    def ours(y, sigma, ets, z, gen_names):
        return sweep_ours(
            den,
            y,
            sigma,
            ets,
            z,
            sched,
            generator=_tgen(seed, ds, *gen_names),
            steps=steps,
            variance=cfg["variance"],
            progress=progress,
            **dps,
        )

    # 1. unconditional sample quality (eta = 1, no guidance)
    def quality():
        # R independent generated sets, each against its own fresh true set (W2 of a generated
        # set varies a lot between sampling seeds: a few samples between the modes cost much).
        n, R = sizes["n_quality"], sizes["floor_repeats"]
        x = sample(
            den,
            (R * n, 2),
            sched,
            eta=1.0,
            variance=cfg["variance"],
            steps=steps if steps != sched.T else None,
            generator=_tgen(seed, ds, "quality"),
            progress=progress,
        )
        x = x.to(torch.float64).numpy().reshape(R, n, 2)
        rng = _rng(seed, ds, "quality_ref")
        w2s = np.array([w2_empirical(x[r], make_data(ds, n, rng)) for r in range(R)])
        floor, floor_sd = metric_floor(
            w2_empirical, lambda m, r: make_data(ds, m, r), n, rng, repeats=R, return_sd=True
        )
        w2 = float(w2s.mean())
        meta = dict(
            n=n,
            repeats=R,
            w2=w2,
            w2_sd=float(w2s.std(ddof=1)),
            w2_each=w2s.tolist(),
            w2_floor=floor,
            w2_floor_sd=floor_sd,
            ratio=w2 / floor,
            passed=bool(w2 <= 1.5 * floor),
            criterion="mean W2(generated, true) over R sets <= 1.5 x floor (mean W2 of two "
            "true sets of the same n, R repeats)",
        )
        return meta, dict(samples=x[0].astype(np.float32))

    quality_meta, quality_arr = _unit(
        store,
        "quality",
        dict(common, chain=chain, n=sizes["n_quality"], r=sizes["floor_repeats"], v2=2),
        quality,
        timing,
        log=log,
    )

    # 2. zeta validation (validation pairs only), every sigma_y, eta in {0, 1}
    def zeta_validation(sigma):
        n = sizes["n_val"]
        x, y = _pairs(ds, n, sigma, seed, "val")
        rx, ry = _pairs(ds, n, sigma, seed, "val_ref")
        rows = []
        for z in tqdm(cfg["zeta_grid"], desc="zeta validation", disable=not progress, leave=False):
            xs = ours(y, sigma, [0.0, 1.0], float(z), ("val_chain", sigma, z))
            for e, xh in zip((0.0, 1.0), xs, strict=True):
                rows.append(dict(zeta=float(z), eta=e, **dp_point(xh, x, y, rx, ry)))
        at1 = [r for r in rows if r["eta"] == 1.0]
        best = min(at1, key=lambda r: r["w2_joint"])["zeta"]
        meta = dict(
            sigma_y=sigma,
            n=n,
            rows=rows,
            argmin_w2_joint_eta1=best,
            criterion="smallest joint W2 at eta = 1 on validation pairs",
        )
        return meta, None

    zvals = {}
    for sigma in sigmas:
        tag = _fmt_sigma(sigma)
        zvals[tag], _ = _unit(
            store,
            f"zeta_validation_s{tag}",
            dict(common, chain=chain, grid=cfg["zeta_grid"], n=sizes["n_val"], sigma=sigma),
            lambda sigma=sigma: zeta_validation(sigma),
            timing,
            log=log,
        )
        if zvals[tag]["argmin_w2_joint_eta1"] != zetas[tag]:
            log(
                f"  [{ds}] note: sigma_y = {tag}: configured zeta = {zetas[tag]:g}, validation "
                f"argmin = {zvals[tag]['argmin_w2_joint_eta1']:g} (the configured value is used)"
            )
    if validate_only:
        return dict(dataset=ds, quality=quality_meta, zeta_validation=zvals, zeta=zetas)

    # 3. per sigma_y: floors, oracle, ours, PSCGAN
    n = sizes["n_test"]
    x_test = make_data(ds, n, _rng(seed, ds, "test", "x"))
    n_test = _rng(seed, ds, "test", "noise").standard_normal(x_test.shape)
    per_sigma = {}
    figs_arrays = {}
    for sigma in sigmas:
        tag = _fmt_sigma(sigma)
        y = x_test + sigma * n_test
        rx, ry = _pairs(ds, n, sigma, seed, "ref")
        skey = dict(common, sigma=sigma, n=n)

        def floors(sigma=sigma):
            rng = _rng(seed, ds, "floors", sigma)

            def joint(m, r):
                xx = make_data(ds, m, r)
                return np.column_stack([xx, xx + sigma * r.standard_normal(xx.shape)])

            def marg(m, r):
                return make_data(ds, m, r)

            R = sizes["floor_repeats"]
            out = {}
            for name, smp in (("joint", joint), ("marginal", marg)):
                w, wsd = metric_floor(w2_empirical, smp, n, rng, repeats=R, return_sd=True)
                k, ksd = metric_floor(knn_kl, smp, n, rng, repeats=R, return_sd=True)
                out[name] = dict(w2=w, w2_sd=wsd, kl=k, kl_sd=ksd)
            return dict(out, repeats=R, n=n), None

        fl, _ = _unit(
            store, f"floors_s{tag}", dict(skey, r=sizes["floor_repeats"]), floors, timing, log=log
        )

        def oracle(sigma=sigma, y=y, rx=rx, ry=ry):
            prior = make_data(ds, sizes["n_oracle"], _rng(seed, ds, "oracle_prior"))
            m, draw, trc, ess = oracle_posterior(
                prior, y, sigma, _rng(seed, ds, "oracle_draw", sigma)
            )
            pts = []
            for c in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
                pts.append(dict(c=c, **dp_point(m + c * (draw - m), x_test, y, rx, ry)))
            meta = dict(
                mmse=float(trc.mean()),
                mmse_se=float(trc.std(ddof=1) / math.sqrt(n)),
                ess_min=float(ess.min()),
                ess_median=float(np.median(ess)),
                n_prior=sizes["n_oracle"],
                shrinkage=pts,
            )
            return meta, dict(mean=m.astype(np.float32), draw=draw.astype(np.float32))

        orc, orc_arr = _unit(
            store, f"oracle_s{tag}", dict(skey, m=sizes["n_oracle"]), oracle, timing, log=log
        )

        def ours_unit(sigma=sigma, tag=tag, y=y, rx=rx, ry=ry):
            xs = ours(y, sigma, etas, zetas[tag], ("ours", sigma))
            pts = [
                dict(eta=e, **dp_point(xh, x_test, y, rx, ry))
                for e, xh in zip(etas, xs, strict=True)
            ]
            return dict(zeta=zetas[tag], points=pts), dict(samples=xs.astype(np.float32))

        our, our_arr = _unit(
            store,
            f"ours_s{tag}",
            dict(skey, chain=chain, etas=etas, zeta=zetas[tag]),
            ours_unit,
            timing,
            log=log,
        )

        def gan_unit(sigma=sigma, y=y, rx=rx, ry=ry):
            gen = _tgen(seed, ds, "pscgan_eval", sigma)
            pts_n, pts_z, arrs = [], [], {}
            for N in cfg["pscgan"]["n_avg"]:
                xh = (
                    pscgan_estimate(g, y, n_avg=int(N), sigma_z=1.0, generator=gen).double().numpy()
                )
                pts_n.append(dict(n_avg=int(N), sigma_z=1.0, **dp_point(xh, x_test, y, rx, ry)))
                if int(N) == 1:
                    arrs["n1"] = xh.astype(np.float32)
            for sz in cfg["pscgan"]["sigma_z"]:
                xh = (
                    pscgan_estimate(g, y, n_avg=1, sigma_z=float(sz), generator=gen)
                    .double()
                    .numpy()
                )
                pts_z.append(dict(n_avg=1, sigma_z=float(sz), **dp_point(xh, x_test, y, rx, ry)))
            return dict(trained_at_sigma_y=cfg["sigma_y"], n_avg=pts_n, sigma_z=pts_z), arrs

        gan, gan_arr = _unit(
            store,
            f"pscgan_s{tag}",
            dict(skey, gan=gan_info["key"], N=cfg["pscgan"]["n_avg"], sz=cfg["pscgan"]["sigma_z"]),
            gan_unit,
            timing,
            log=log,
        )
        per_sigma[tag] = dict(sigma_y=sigma, floors=fl, oracle=orc, ours=our, pscgan=gan)
        per_sigma[tag]["summary"] = claim_summary(per_sigma[tag])
        figs_arrays[tag] = dict(
            y=y, ours=our_arr["samples"], pscgan=gan_arr.get("n1"), oracle_draw=orc_arr["draw"]
        )

    # 4. zeta ablation (pinwheel, main sigma): eta = 1, zeta varied, test pairs
    ablation = None
    if ds == "pinwheel":
        sigma = sigmas[0]
        y = x_test + sigma * n_test
        rx, ry = _pairs(ds, n, sigma, seed, "ref")
        zs = [zetas[_fmt_sigma(sigma)] * float(f) for f in cfg["zeta_ablation_factors"]]

        def ablation_unit():
            pts = []
            for z in tqdm(zs, desc="zeta ablation", disable=not progress, leave=False):
                xs = ours(y, sigma, [1.0], z, ("ablation", z))
                pts.append(dict(zeta=z, eta=1.0, **dp_point(xs[0], x_test, y, rx, ry)))
            return dict(sigma_y=sigma, points=pts), None

        ablation, _ = _unit(
            store,
            "zeta_ablation",
            dict(common, chain=chain, zs=zs, sigma=sigma, n=n),
            ablation_unit,
            timing,
            log=log,
        )

    result = dict(
        dataset=ds,
        data=dset,
        zeta=zetas,
        sigma_y=sigmas[0],
        sigma_y_other=sigmas[1:],
        score_net=dict(
            parameters=score_info["parameters"],
            loss=score_info["loss"],
            log_every=score_info["log_every"],
            settings=score_info["settings"],
        ),
        pscgan_net=dict(
            parameters=gan_info["parameters"],
            penalty=gan_info["penalty"],
            critic=gan_info["critic"],
            log_every=gan_info["log_every"],
            settings=gan_info["settings"],
            trained_at_sigma_y=gan_info["sigma_y"],
        ),
        quality=quality_meta,
        zeta_validation=zvals,
        results=per_sigma,
        zeta_ablation=ablation,
    )
    timing.setdefault("score_training", score_info.get("_timing"))
    timing.setdefault("pscgan_training", gan_info.get("_timing"))
    for name, meta in _iter_units(result):
        if "_timing" in meta:
            timing.setdefault(name, meta["_timing"])
    result["_timing"] = timing
    result["_arrays"] = dict(x_test=x_test, quality=quality_arr["samples"], per_sigma=figs_arrays)
    return result


def _iter_units(result):
    yield "quality", result["quality"]
    for tag, z in result["zeta_validation"].items():
        yield f"zeta_validation_s{tag}", z
    for tag, r in result["results"].items():
        for k in ("floors", "oracle", "ours", "pscgan"):
            yield f"{k}_s{tag}", r[k]
    if result["zeta_ablation"] is not None:
        yield "zeta_ablation", result["zeta_ablation"]


# --------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reconstructions(result: dict, sigma_tag: str, *, n_show: int = 1000):
    """Figs. 4/9: data, network samples, y, reconstructions per η, PSCGAN and exact posterior draws."""
    plt = _plt()
    arr = result["_arrays"]
    ps = arr["per_sigma"][sigma_tag]
    etas = [p["eta"] for p in result["results"][sigma_tag]["ours"]["points"]]
    show = [i for i, e in enumerate(etas) if round(e * 10) % 2 == 0]
    panels = [
        ("data x", arr["x_test"]),
        ("score net, unconditional", arr["quality"]),
        (f"y = x + n, σ_y = {sigma_tag}", ps["y"]),
    ]
    panels += [(f"ours, η = {etas[i]:g}", ps["ours"][i]) for i in show]
    if ps["pscgan"] is not None:
        panels.append(("PSCGAN, N = 1, σ_z = 1", ps["pscgan"]))
    panels.append(("exact posterior draws (oracle)", ps["oracle_draw"]))
    ncol = 4
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 3.0 * nrow), squeeze=False)
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.04, top=0.92, wspace=0.25, hspace=0.3)
    lim = 3.2 if float(sigma_tag) < 0.75 else 4.5
    for ax, (title, pts) in zip(axes.ravel(), panels, strict=False):
        pts = np.asarray(pts)[:n_show]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=2, alpha=0.5, lw=0, color="tab:blue" if "ours" in title else "k"
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{result['dataset']}: reconstructions of the same {min(n_show, len(arr['x_test']))} test pairs "
        f"(σ_y = {sigma_tag}, ζ = {result['zeta'][sigma_tag]:g})",
        fontsize=10,
    )
    return fig


def _curve(ax, pts, xkey, label, style, annotate=None):
    xs = [p[xkey] for p in pts if p[xkey] is not None]
    ys = [p["mse"] for p in pts if p[xkey] is not None]
    ax.plot(xs, ys, style, label=label, ms=4, lw=1.2)
    if annotate:
        for p in pts:
            if p[xkey] is not None:
                ax.annotate(
                    annotate(p),
                    (p[xkey], p["mse"]),
                    textcoords="offset points",
                    xytext=(3, 3),
                    fontsize=6,
                )


def plot_dp(result: dict):
    """Figs. 5/10: MSE vs joint W2, marginal W2 and joint KL, ours vs PSCGAN, for every σ_y."""
    plt = _plt()
    tags = list(result["results"])
    axes_keys = [
        ("w2_joint", "W2 of (x̂, y) vs (x, y)"),
        ("w2_marginal", "W2 of x̂ vs x (marginal)"),
        ("kl_marginal", "k-NN KL(x̂ ‖ x) (marginal) [nats]"),
    ]
    fig, axes = plt.subplots(len(tags), 3, figsize=(15, 4.2 * len(tags)), squeeze=False)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.93, wspace=0.22, hspace=0.35)
    for row, tag in zip(axes, tags, strict=True):
        r = result["results"][tag]
        for ax, (key, lab) in zip(row, axes_keys, strict=True):
            _curve(
                ax,
                r["ours"]["points"],
                key,
                f"ours (η sweep, ζ = {result['zeta'][tag]:g})",
                "o-",
                lambda p: f"{p['eta']:g}",
            )
            _curve(
                ax,
                r["pscgan"]["n_avg"],
                key,
                "PSCGAN, average of N",
                "s--",
                lambda p: f"N{p['n_avg']}",
            )
            _curve(
                ax, r["pscgan"]["sigma_z"], key, "PSCGAN, σ_z", "^--", lambda p: f"{p['sigma_z']:g}"
            )
            _curve(ax, r["oracle"]["shrinkage"], key, "oracle: m + c(x' − m)", "x:", None)
            fkey = "joint" if "joint" in key else "marginal"
            fval = r["floors"][fkey]["w2" if key.startswith("w2") else "kl"]
            ax.axvline(fval, color="gray", ls=":", lw=1, label="floor (two true sets)")
            ax.axhline(r["oracle"]["mmse"], color="tab:red", ls=":", lw=1, label="MMSE (oracle)")
            ax.axhline(2 * r["oracle"]["mmse"], color="tab:red", ls="--", lw=0.7, label="2·MMSE")
            ax.set_xlabel(lab)
            ax.set_ylabel("MSE")
            pscgan_note = (
                ""
                if float(tag) == r["pscgan"]["trained_at_sigma_y"]
                else f" (PSCGAN trained at {r['pscgan']['trained_at_sigma_y']:g})"
            )
            ax.set_title(f"σ_y = {tag}{pscgan_note}", fontsize=9)
        row[0].legend(fontsize=6)
    fig.suptitle(f"{result['dataset']}: distortion-perception tradeoffs", fontsize=11)
    return fig


def plot_zeta_ablation(result: dict):
    """Fig. 11: η sweep at the configured ζ vs ζ sweep at η = 1 (pinwheel, main σ_y)."""
    plt = _plt()
    tag = _fmt_sigma(result["sigma_y"])
    r = result["results"][tag]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.88, wspace=0.25)
    for ax, key, lab in (
        (axes[0], "w2_joint", "W2 of (x̂, y) vs (x, y)"),
        (axes[1], "w2_marginal", "W2 of x̂ vs x"),
    ):
        _curve(
            ax,
            r["ours"]["points"],
            key,
            f"η sweep, ζ = {result['zeta'][tag]:g}",
            "o-",
            lambda p: f"η{p['eta']:g}",
        )
        _curve(
            ax,
            result["zeta_ablation"]["points"],
            key,
            "η = 1, ζ sweep",
            "d--",
            lambda p: f"ζ{p['zeta']:.3g}",
        )
        _curve(ax, r["oracle"]["shrinkage"], key, "oracle shrinkage", "x:", None)
        ax.axvline(
            r["floors"]["joint" if "joint" in key else "marginal"]["w2"],
            color="gray",
            ls=":",
            lw=1,
            label="floor",
        )
        ax.set_xlabel(lab)
        ax.set_ylabel("MSE")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"{result['dataset']}, σ_y = {tag}: varying the DPS weight ζ at η = 1 vs varying η",
        fontsize=10,
    )
    return fig


def write_figures(result: dict, out: Path) -> list[Path]:
    """Write the figures of one data set under ``out``; returns their paths."""
    plt = _plt()
    paths = []
    ds = result["dataset"]

    def save(fig, name):
        p = out / name
        _atomic_write(p, lambda q: fig.savefig(q, dpi=110, format="png"))
        plt.close(fig)
        paths.append(p)

    for tag in result["results"]:
        save(plot_reconstructions(result, tag), f"{ds}_reconstructions_s{tag}.png")
    save(plot_dp(result), f"{ds}_dp.png")
    if result.get("zeta_ablation"):
        save(plot_zeta_ablation(result), f"{ds}_zeta_ablation.png")
    return paths


# --------------------------------------------------------------------------- tables
def claim_summary(r: dict) -> dict:
    """The paper's claim, measured: extent of each tradeoff, best MSE, and Pareto dominance.

    For ours (η sweep) and PSCGAN (N and σ_z curves together), at one σ_y: the smallest and
    largest MSE and joint / marginal W2; ``dominated``: how many points of one method have a
    point of the other with both a smaller MSE and a smaller joint W2 (no error margin;
    compare with the standard errors and floors in the tables).
    """
    ours = r["ours"]["points"]
    gan = r["pscgan"]["n_avg"] + r["pscgan"]["sigma_z"]

    def ext(pts):
        out = {}
        for k in ("mse", "w2_joint", "w2_marginal"):
            v = [p[k] for p in pts]
            out[k] = [float(min(v)), float(max(v))]
        best = min(pts, key=lambda p: p["mse"])
        out["mse_min_se"] = best["mse_se"]
        return out

    def dominated(a, b):
        return sum(any(q["mse"] < p["mse"] and q["w2_joint"] < p["w2_joint"] for q in b) for p in a)

    return dict(
        ours=ext(ours),
        pscgan=ext(gan),
        pscgan_points_dominated_by_ours=dominated(gan, ours),
        ours_points_dominated_by_pscgan=dominated(ours, gan),
        n_points=dict(ours=len(ours), pscgan=len(gan)),
        mmse_oracle=r["oracle"]["mmse"],
    )


def markdown_tables(result: dict) -> str:
    """Markdown tables (MSE, W2 joint, W2 marginal) of every point of one data set."""
    lines = []
    for tag, r in result["results"].items():
        fl = r["floors"]
        lines.append(
            f"**{result['dataset']}, σ_y = {tag}** — MMSE (oracle) = {r['oracle']['mmse']:.4f}; "
            f"floors: W2 joint {fl['joint']['w2']:.3f} ± {fl['joint']['w2_sd']:.3f}, "
            f"W2 marginal {fl['marginal']['w2']:.3f} ± {fl['marginal']['w2_sd']:.3f} (n = {fl['n']})\n"
        )
        lines.append("| method | setting | MSE | ± se | W2 joint | W2 marginal | KL marginal |")
        lines.append("|---|---|---|---|---|---|---|")

        def row(method, setting, p):
            kl = "–" if p["kl_marginal"] is None else f"{p['kl_marginal']:.3f}"
            lines.append(
                f"| {method} | {setting} | {p['mse']:.4f} | {p['mse_se']:.4f} | {p['w2_joint']:.3f} | "
                f"{p['w2_marginal']:.3f} | {kl} |"
            )

        for p in r["ours"]["points"]:
            row("ours", f"η = {p['eta']:g}", p)
        for p in r["pscgan"]["n_avg"]:
            row("PSCGAN", f"N = {p['n_avg']}", p)
        for p in r["pscgan"]["sigma_z"]:
            row("PSCGAN", f"σ_z = {p['sigma_z']:g}", p)
        for p in r["oracle"]["shrinkage"]:
            row("oracle", f"c = {p['c']:g}", p)
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _seed_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m diffusion.toy2d",
        description="2-D distortion-perception experiments (pinwheel, S-curve, moons): one trained "
        "score network with the eta-scaled DPS sampler vs PSCGAN (arXiv 2503.20297, Sec. IV-A).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", choices=[*DATASETS, "all"], required=True, help="data set to run")
    p.add_argument("--out", type=Path, default=Path("out/toy2d"), help="output and cache directory")
    p.add_argument(
        "--seed", type=_seed_arg, default=0, help="seed of every data stream, network and chain"
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny smoke run (seconds; numbers meaningless)"
    )
    p.add_argument(
        "--config", type=Path, default=None, help=f"settings file (default {CONFIG_PATH})"
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch CPU threads (1 is fastest for these tiny nets on a shared machine)",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the figures (JSON only)")
    p.add_argument(
        "--validate-only",
        action="store_true",
        help="train/load the networks, check sample quality, run the zeta validation sweep on "
        "validation pairs, print the zeta it selects, and stop (how configs/toy2d.json's zeta was chosen)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _machine() -> dict:
    return dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
    )


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} exists and is not a directory")
    try:
        cfg = load_config(args.config, quick=args.quick)
    except ConfigError as exc:
        parser.error(f"--config: {exc}")
    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    settings = dict(
        config=cfg, seed=args.seed, quick=bool(args.quick), format_version=FORMAT_VERSION
    )
    timing_path = out / "toy2d_timing.json"
    try:
        timing_all = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    except json.JSONDecodeError:
        timing_all = {}
    if args.validate_only:
        for ds in names:
            print(f"[{ds}]", flush=True)
            res = run_dataset(
                ds, cfg, out, seed=args.seed, progress=not args.no_progress, validate_only=True
            )
            q = res["quality"]
            print(f"  sample quality W2/floor = {q['ratio']:.2f}")
            for tag, zv in res["zeta_validation"].items():
                print(f"  zeta validation (sigma_y = {tag}, n = {zv['n']} validation pairs):")
                print("    zeta     eta   MSE      W2 joint  W2 marginal")
                for r in zv["rows"]:
                    print(
                        f"    {r['zeta']:<8g} {r['eta']:<5g} {r['mse']:<8.4f} {r['w2_joint']:<9.4f} "
                        f"{r['w2_marginal']:.4f}"
                    )
                print(
                    f"  sigma_y = {tag}: selected zeta = {zv['argmin_w2_joint_eta1']:g} "
                    f"({zv['criterion']}); configured {res['zeta'][tag]:g}"
                )
        return 0
    for ds in names:
        print(f"[{ds}]", flush=True)
        res = run_dataset(ds, cfg, out, seed=args.seed, progress=not args.no_progress)
        arrays = res.pop("_arrays")
        timing_all[ds] = res.pop("_timing")
        timing_all["_machine"] = _machine()
        _write_json(timing_path, timing_all)
        clean = _strip_private(res)
        _write_json(out / ds / "result.json", dict(settings=settings, **clean))
        if not args.no_figures:
            for p in write_figures({**res, "_arrays": arrays}, out):
                print(f"  wrote {p}")
        print(markdown_tables(clean))
        q = clean["quality"]
        print(
            f"  sample quality: W2 = {q['w2']:.4f} ± {q['w2_sd']:.4f}, floor = {q['w2_floor']:.4f} ± {q['w2_floor_sd']:.4f}, "
            f"ratio {q['ratio']:.2f} ({'pass' if q['passed'] else 'FAIL'} at 1.5)"
        )
    # the combined JSON: every data set of this settings that has a result in OUT
    combined = dict(settings=settings, datasets={})
    for ds in DATASETS:
        p = out / ds / "result.json"
        if p.exists():
            r = json.loads(p.read_text())
            if r.get("settings") == settings:
                r.pop("settings")
                combined["datasets"][ds] = r
    _write_json(out / "toy2d.json", combined)
    print(f"wrote {out / 'toy2d.json'} and {timing_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
