"""Entries of session 26 (issue #18) for names that were exempt as "not yet fuzzed": the
PSCGAN trainer and its pieces (diffusion.baselines) and the checkpoint and output helpers
of diffusion.training. Training loops and whole commands are ``heavy`` (deep run only) with
a tiny valid call."""

from __future__ import annotations

import argparse

import torch

from diffusion import training
from diffusion.baselines import pscgan
from diffusion.baselines import pscgan_images as pg
from diffusion.baselines import pscgan_images_cli as pcli
from diffusion.training import outputs
from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry


def _tiny_training(**kw):
    return pscgan.PSCGANTraining(
        **{**dict(steps=2, batch=4, n_critic=1, n_penalty=2, log_every=1), **kw}
    )


def _noisy(x, gen):
    return x + 0.1 * torch.randn(x.shape, generator=gen)


# --------------------------------------------------------------------------- baselines
@entry("diffusion.baselines.PSCGANTraining")
def _(tmp):
    return call(
        pscgan.PSCGANTraining,
        steps=K(2, "count"),
        batch=K(4, "count"),
        n_critic=K(1, "count"),
        n_penalty=K(2, "count"),
        lam=K(1.0, "nonneg"),
        gp=K(10.0, "nonneg"),
        lr=K(2e-4, "sigma"),
        betas=K((0.5, 0.9), "list"),
        ema=K(0.99, "prob"),
        adversarial=K("all", "choice"),
        seed=K(0, "seed"),
        log_every=K(1, "count"),
        then=lambda c: c.record(),
    )


@entry("diffusion.baselines.fit_pscgan", heavy=True)
def _(tmp):
    g, D = pscgan.seeded(lambda: (pscgan.Generator(), pscgan.Critic()), 0)
    return call(
        pscgan.fit_pscgan,
        K(g, "object"),
        K(D, "object"),
        torch.randn(8, 2, generator=torch.Generator().manual_seed(0)),
        K(_noisy, "callable"),
        K(_tiny_training(ema=0.9), "object"),
        resume_path=K(tmp / "resume.pt", "outfile"),
        resume_key=fixed("fuzz"),
        settings=K(None, None),
        save_every=K(30.0, "nonneg"),
        max_seconds=K(None, None),
        progress=False,
        desc=fixed("fuzz"),
    )


@entry("diffusion.baselines.pscgan_samples")
def _(tmp):
    g = pscgan.seeded(pscgan.Generator, 0)
    return call(pscgan.pscgan_samples, K(g, "object"), torch.zeros(3, 2), torch.zeros(4, 3, 2))


@entry("diffusion.baselines.pscgan.seeded")
def _(tmp):
    return call(pscgan.seeded, K(lambda: torch.randn(2), "callable"), K(0, "seed"))


@entry("diffusion.baselines.pscgan_images_cli.main", heavy=True)
def _(tmp):
    argv = ["--train", "--steps", "1", "--n-critic", "1", "--out", str(tmp / "g.pt")]
    return call(pcli.main, K(argv, "object"))


# --------------------------------------------------------------------------- training
def _small_generator():
    return pg.ImageGenerator(z_channels=2, width=4)


@entry("diffusion.training.save_model")
def _(tmp):
    return call(
        training.save_model,
        K(tmp / "m.pt", "outfile"),
        K(_small_generator(), "object"),
        key=fixed("fuzz/v1"),
        info=K({"a": 1}, "mapping"),
    )


def _saved_model(tmp):
    path = tmp / "m.pt"
    training.save_model(path, _small_generator(), key="fuzz/v1", info={"a": 1})
    return path


@entry("diffusion.training.load_model")
def _(tmp):
    return call(
        training.load_model,
        K(_saved_model(tmp), "infile"),
        K(pg.ImageGenerator, "callable"),
        key=fixed("fuzz/v1"),
        what=fixed("fuzz"),
        device=K("cpu", "device"),
        make=fixed(None),
    )


@entry("diffusion.training.load_plain")
def _(tmp):
    return call(training.load_plain, K(_saved_model(tmp), "infile"), what=fixed("fuzz"))


@entry("diffusion.training.save_modules")
def _(tmp):
    return call(
        training.save_modules,
        K(tmp / "mods.pt", "outfile"),
        modules=K({"g": _small_generator()}, "mapping"),
        key=fixed("fuzz/v1"),
        info=K({"a": 1}, "mapping"),
    )


@entry("diffusion.training.load_modules")
def _(tmp):
    path = tmp / "mods.pt"
    training.save_modules(path, modules={"g": _small_generator()}, key="fuzz/v1", info={"a": 1})
    return call(
        training.load_modules,
        K(path, "infile", missing_ok=True),  # a missing file: None, "nothing to reuse"
        fixed("fuzz/v1"),
        K({"g": pg.ImageGenerator}, "mapping"),
    )


@entry("diffusion.training.outputs.weights_parser")
def _(tmp):
    return call(
        outputs.weights_parser,
        fixed("prog"),
        fixed("a command"),
        fixed(tmp / "w.pt"),
        seed=K(0, "seed"),
        train_help=fixed(None),
        then=lambda p: vars(p.parse_args([])),
    )


@entry("diffusion.training.outputs.minutes_float")
def _(tmp):
    return call(outputs.minutes_float, K("2.5", "cli_text"), ok_errors=(argparse.ArgumentTypeError,))
