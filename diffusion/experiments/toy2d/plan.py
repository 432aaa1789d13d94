r"""What the stages of one data set share: the plan, the measurement pairs, the guided chain.

* :class:`DatasetPlan`: the settings of one data set, derived once from the config, and its
  named random streams (:mod:`.seeding`);
* :class:`Pairs`: points x of the data law with standard normal noise, observed as
  :math:`y = x + \sigma_y n` at any σ_y (validation, reference and test pairs);
* :class:`Chain`: the trained denoiser with the sampler settings that key its units, and the
  η sweep with DPS guidance (:func:`~.sweep.sweep_ours`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from diffusion.data.toy2d import DATASETS, data_settings, make_data
from diffusion.experiments.toy2d.config import FORMAT_VERSION, fmt_sigma, schedule_of
from diffusion.experiments.toy2d.seeding import derive_generator, derive_rng
from diffusion.experiments.toy2d.store import Store, check_stable_key
from diffusion.experiments.toy2d.sweep import sweep_ours
from numerics.schedule import Schedule
from numerics.validate import (
    as_array,
    as_samples,
    check_bool,
    check_callable,
    check_int,
    check_positive,
    check_std,
)

__all__ = ["Chain", "DatasetPlan", "Pairs"]


@dataclass(frozen=True)
class DatasetPlan:
    """What every stage of one data set shares; build it with :meth:`build`.

    Attributes
    ----------
    ds : str
        Data set name.
    cfg : dict
        The validated config (:func:`~.config.load_config`).
    seed : int
        The run's seed.
    schedule : Schedule
        The base schedule of the score network.
    steps : int
        Sampling steps.
    etas : list of float
        The η sweep.
    dps : dict
        ``{"form", "scale_by_beta"}`` of the DPS guidance.
    sigmas : list of float
        The main σ_y first, then the others.
    zetas : dict
        ζ per σ_y key (``"0.5"``).
    common : dict
        The part of every unit key that names the format, the data set and the seed.
    progress : bool
        Show progress bars.
    log : callable
        Where progress lines go (``print``).
    """

    ds: str
    cfg: dict
    seed: int
    schedule: Schedule
    steps: int
    etas: list
    dps: dict
    sigmas: list
    zetas: dict
    common: dict
    progress: bool = False
    log: Callable = print

    @classmethod
    def build(cls, ds: str, cfg: dict, *, seed: int = 0, progress: bool = False, log=print):
        """The plan of data set ``ds`` under the config ``cfg`` (validated by
        :func:`~.config.load_config`); a wrong argument raises ValueError/TypeError naming it."""
        if not isinstance(ds, str) or ds not in DATASETS:
            raise ValueError(f"ds: expected one of {sorted(DATASETS)}, got {ds!r}")
        if not isinstance(cfg, dict):
            raise TypeError(f"cfg: expected the config dict, got {type(cfg).__name__}")
        seed = check_int(seed, "seed")
        progress = check_bool(progress, "progress")
        check_callable(log, "log")
        try:
            return cls._build(ds, cfg, seed, progress, log)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"cfg: not a toy2d config (load_config makes one): {exc!r}") from exc

    @classmethod
    def _build(cls, ds, cfg, seed, progress, log):
        sigmas = [float(cfg["sigma_y"])] + [float(s) for s in cfg["sigma_y_other"]]
        dps = cfg["dps"]
        return cls(
            ds=ds,
            cfg=cfg,
            seed=seed,
            schedule=schedule_of(cfg),
            steps=int(cfg["sampling_steps"]),
            etas=[float(e) for e in cfg["etas"]],
            dps=dict(form=dps["form"], scale_by_beta=bool(dps.get("scale_by_beta", False))),
            sigmas=sigmas,
            zetas={fmt_sigma(s): float(cfg["zeta"][ds][fmt_sigma(s)]) for s in sigmas},
            common=dict(v=FORMAT_VERSION, data=data_settings(ds), seed=seed),
            progress=progress,
            log=log,
        )

    @property
    def sizes(self) -> dict:
        """``cfg["sizes"]``."""
        return self.cfg["sizes"]

    @property
    def sampler_steps(self) -> int | None:
        """``steps`` for :func:`diffusion.sampler.sample` (None: every step of the schedule)."""
        return self.steps if self.steps != self.schedule.T else None

    def rng(self, *names) -> np.random.Generator:
        """The numpy stream ``(seed, ds, *names)``."""
        return derive_rng(self.seed, self.ds, *names)

    def generator(self, *names) -> torch.Generator:
        """The torch stream ``(seed, ds, *names)``."""
        return derive_generator(self.seed, self.ds, *names)


def _check_plan(plan) -> None:
    if not isinstance(plan, DatasetPlan):
        raise TypeError(f"plan: expected a DatasetPlan, got {type(plan).__name__}")


@dataclass(frozen=True)
class Pairs:
    """n points ``x`` of the data law and standard normal ``noise`` of the same shape."""

    x: np.ndarray
    noise: np.ndarray

    def __post_init__(self):
        x = as_samples(self.x, "x")
        noise = as_array(self.noise, "noise", shape=x.shape)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "noise", noise)

    @classmethod
    def draw(cls, plan: DatasetPlan, n: int, stream: str) -> Pairs:
        """Streams ``(stream, "x")`` and ``(stream, "noise")`` of the plan."""
        _check_plan(plan)
        x = make_data(plan.ds, n, plan.rng(stream, "x"))
        return cls(x, plan.rng(stream, "noise").standard_normal(x.shape))

    @property
    def n(self) -> int:
        return self.x.shape[0]

    def y(self, sigma: float) -> np.ndarray:
        r"""The measurements :math:`y = x + \sigma n` (σ > 0, finite)."""
        return self.x + check_positive(sigma, "sigma") * self.noise


@dataclass(frozen=True)
class Chain:
    """The trained denoiser and the sampler settings; ``key`` goes into every unit key."""

    denoiser: Callable
    key: dict

    def __post_init__(self):
        check_callable(self.denoiser, "denoiser")
        if not isinstance(self.key, dict):
            raise TypeError(f"key: expected a dict, got {type(self.key).__name__}")
        check_stable_key(self.key, "key")

    @classmethod
    def build(cls, plan: DatasetPlan, denoiser, net_key: str) -> Chain:
        """The chain of ``denoiser`` under ``plan``'s sampler settings; ``net_key`` (a string)
        names the network in every unit key."""
        _check_plan(plan)
        if not isinstance(net_key, str):
            raise TypeError(f"net_key: expected a string, got {type(net_key).__name__}")
        cfg = plan.cfg
        key = dict(
            schedule=cfg["schedule"],
            steps=plan.steps,
            variance=cfg["variance"],
            x0_clip=cfg.get("x0_clip"),
            net=net_key,
            dps=plan.dps,
        )
        return cls(denoiser, key)

    def sweep(self, plan: DatasetPlan, y, sigma: float, etas, zeta: float, names) -> np.ndarray:
        """:func:`~.sweep.sweep_ours` of ``y`` with the plan's settings, stream ``names`` (a
        tuple or list of stream names)."""
        _check_plan(plan)
        sigma = check_std(sigma, "sigma")
        if not isinstance(names, (tuple, list)):
            raise TypeError(f"names: expected a tuple of stream names, got {type(names).__name__}")
        return sweep_ours(
            self.denoiser,
            y,
            sigma,
            etas,
            zeta,
            plan.schedule,
            generator=plan.generator(*names),
            steps=plan.steps,
            variance=plan.cfg["variance"],
            progress=plan.progress,
            **plan.dps,
        )


def check_stage(plan, chain, store, timing) -> None:
    """TypeError naming the argument unless plan, chain, store are a DatasetPlan, a Chain, a
    Store and timing a dict (the arguments every stage shares)."""
    for name, v, cls in (("plan", plan, DatasetPlan), ("chain", chain, Chain), ("store", store, Store),
                         ("timing", timing, dict)):  # fmt: skip
        if not isinstance(v, cls):
            raise TypeError(f"{name}: expected a {cls.__name__}, got {type(v).__name__}")
