"""The two trained networks of one data set: the ε-network (DSM) and PSCGAN, loaded or trained.

Each is cached as a checkpoint under ``OUT/<data set>/weights/`` whose key hashes the data
settings, the training settings and the seed (:func:`~.models.save_checkpoint`); a
checkpoint with another key is trained again. After training, the
network that is used is the one read back from disk, so a resumed run uses exactly what an
uninterrupted one did.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

from diffusion.data.toy2d import data_settings, make_data, settings_hash
from diffusion.experiments.toy2d.config import FORMAT_VERSION, schedule_of
from diffusion.experiments.toy2d.models import (
    count_parameters,
    load_checkpoint,
    save_checkpoint,
    train_pscgan,
    train_score,
)
from diffusion.experiments.toy2d.seeding import derive_rng, derive_seed
from diffusion.experiments.toy2d.store import Store, timed

__all__ = ["NETWORKS", "CheckpointError", "load_or_train"]


class CheckpointError(ValueError):
    """A cached checkpoint that cannot be read safely (damaged, or not a plain-tensor file)."""


def _read_checkpoint(path: Path, key: str):
    """:func:`~.models.load_checkpoint`, its failures as one :class:`CheckpointError`.

    Checkpoints are loaded with torch's safe unpickler (``weights_only=True``): a file that
    would run code, or is damaged, is refused, never executed and never silently replaced.
    """
    try:
        return load_checkpoint(path, key)
    except (
        OSError,
        EOFError,
        RuntimeError,
        pickle.UnpicklingError,
        AttributeError,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:
        if isinstance(exc, pickle.UnpicklingError):
            why = (
                "refused by torch's safe loader (weights_only=True): it holds more than "
                "tensors, numbers and strings"
            )
        else:
            why = f"damaged or not a checkpoint of this program ({type(exc).__name__}: "
            why += " ".join(str(exc).split())[:120] + ")"
        raise CheckpointError(f"{path}: {why}; delete it to train again") from exc


#: The two networks: checkpoint file stem, log label, timing entry, module returned.
NETWORKS = {
    "score": dict(file="score_net", label="score network", timing="score_training", use="score"),
    "pscgan": dict(file="pscgan", label="PSCGAN", timing="pscgan_training", use="generator"),
}


def _score_training(ds: str, cfg: dict, seed: int, progress: bool):
    """``(what, key, train)`` of the ε-network (DSM, :func:`~.models.train_score`)."""
    st = cfg["score_training"]

    def train(X):
        net, tlog = train_score(
            X,
            schedule_of(cfg),
            steps=int(st["steps"]),
            batch=int(st["batch"]),
            lr=float(st.get("lr", 2e-3)),
            ema=st.get("ema", 0.999),
            warmup=int(st.get("warmup", 200)),
            seed=derive_seed(seed, ds, "score_init"),
            log_every=max(1, int(st["steps"]) // 50),
            progress=progress,
        )
        info = dict(
            parameters=count_parameters(net),
            loss=[round(v, 6) for v in tlog["loss"]],
            log_every=tlog["log_every"],
            settings=st,
            data=data_settings(ds),
        )
        return {"score": net}, info

    return f"{st['steps']} steps", dict(train=st, schedule=cfg["schedule"]), train


def _pscgan_training(ds: str, cfg: dict, seed: int, progress: bool):
    """``(what, key, train)`` of PSCGAN at the main σ_y (:func:`~.models.train_pscgan`)."""
    pg = {k: v for k, v in cfg["pscgan"].items() if k not in ("n_avg", "sigma_z")}

    def train(X):
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
            seed=derive_seed(seed, ds, "pscgan_init"),
            log_every=max(1, int(pg["steps"]) // 50),
            progress=progress,
        )
        info = dict(
            parameters=dict(generator=count_parameters(g), critic=count_parameters(D)),
            penalty=[round(v, 6) for v in tlog["penalty"]],
            critic=[round(v, 6) for v in tlog["critic"]],
            log_every=tlog["log_every"],
            settings=pg,
            sigma_y=cfg["sigma_y"],
        )
        return {"generator": g, "critic": D}, info

    return f"{pg['steps']} generator steps", dict(train=pg, sigma_y=cfg["sigma_y"]), train


def load_or_train(
    kind: str,
    store: Store,
    ds: str,
    cfg: dict,
    seed: int,
    timing: dict,
    *,
    log: Callable = print,
    progress: bool = False,
):
    """``(network, info)``: the ``kind`` network of data set ``ds``, trained first if needed.

    Parameters
    ----------
    kind : {"score", "pscgan"}
        The ε-network, or PSCGAN's generator (trained at the main σ_y).
    store : Store
        The data set's folder; the checkpoint is ``weights/<file>.pt`` (:data:`NETWORKS`).
    ds, cfg, seed : data set, validated config, run seed
    timing : dict
        Gets the training time (``score_training`` / ``pscgan_training``) when it trains.

    Returns
    -------
    network : torch.nn.Module
        In eval mode; after training, the one read back from disk.
    info : dict
        Training record (parameters, loss or penalty curves, settings) and the ``key``.
    """
    if kind not in NETWORKS:
        raise ValueError(f"kind: expected one of {sorted(NETWORKS)}, got {kind!r}")
    spec = NETWORKS[kind]
    setup = _score_training if kind == "score" else _pscgan_training
    what, key_extra, train = setup(ds, cfg, seed, progress)
    key_obj = dict(
        v=FORMAT_VERSION, data=data_settings(ds), n_train=cfg["sizes"]["n_train"], seed=seed
    )
    key = settings_hash(dict(key_obj, **key_extra))
    path = store.root / "weights" / f"{spec['file']}.pt"
    got = _read_checkpoint(path, key)
    if got is not None:
        log(f"  [{ds}] {spec['label']}: loaded {path}")
        return got[0][spec["use"]], got[1]
    log(f"  [{ds}] {spec['label']}: training ({what})")
    X = make_data(ds, cfg["sizes"]["n_train"], derive_rng(seed, ds, "train"))
    (modules, info), timing[spec["timing"]] = timed(lambda: train(X))
    info = dict(info, key=key, _timing=timing[spec["timing"]])
    save_checkpoint(path, modules=modules, key=key, info=info)
    store.saved(spec["file"])
    return _read_checkpoint(path, key)[0][spec["use"]], info  # use exactly what is on disk
