"""Registry entries of the image restorations (session 26): :func:`diffusion.restore_images`
and its :class:`~diffusion.Restoration`, the ``diffusion.restore`` configuration, problems and
image files, and :mod:`diffusion.experiments.report_dps` (names that were exempt as "not yet
fuzzed" in :mod:`tests.fuzz.registry_new`).

The priors are tiny analytic ones (a Gaussian over 1 x 4 x 4 images, 100 training steps) and
the runs 3 reverse steps, so that every call answers well within the time limit.
"""

from __future__ import annotations

import numpy as np
import torch

from tests.fuzz.harness import K, call, fixed
from tests.fuzz.registry import entry

_F64 = torch.float64
_SHAPE = (1, 4, 4)


def _prior():
    from diffusion.priors import GaussianPrior
    from numerics.schedule import linear_schedule

    d = 16
    return GaussianPrior(torch.zeros(d, dtype=_F64), 0.3 * torch.eye(d, dtype=_F64),
                         linear_schedule(100))  # fmt: skip


def _operator():
    from diffusion.operators import AveragePoolSR

    return AveragePoolSR(2, _SHAPE)


def _images():
    return torch.linspace(-0.5, 0.5, 16, dtype=_F64).reshape(1, *_SHAPE)


# --------------------------------------------------------------------------- restore_images
@entry("diffusion.restore_images")
def _(tmp):
    from diffusion import restore_images
    from diffusion.sampler import DivergenceError

    # DivergenceError: documented (a chain beyond max_abs: huge images or sigma_y, tiny max_abs).
    return call(
        restore_images, K(_images(), "tensor"), K(_operator(), "object"), K(_prior(), "model"),
        etas=K([0.0, 1.0], "eta"), guidance=K("dps", "choice"), zeta=K(0.5, "zeta"),
        samples=K(1, "count"), sigma_y=K(0.05, "sigma"), steps=K(3, "count"),
        seed=K(0, "seed"), variance=K("beta_tilde", "choice"), dps_form=K("reference", "choice"),
        batch=K(2, "count"), dtype=K(torch.float32, "dtype"), max_abs=K(1e3, "float"),
        progress=K(False, "flag"), ok_errors=(DivergenceError,),
    )  # fmt: skip


@entry("diffusion.Restoration")
def _(tmp):
    from diffusion import Restoration

    samples = torch.zeros(2, 1, 1, *_SHAPE)
    y = torch.zeros(1, 1, 2, 2, dtype=_F64)
    metrics = {0.0: {"mse": 0.1}, 1.0: {"mse": 0.2}}
    values = {"mse": np.full((2, 1, 1), 0.1)}
    return call(Restoration, samples, y, K((0.0, 1.0), "eta"), K(metrics, "mapping"),
                K(values, "mapping"))  # fmt: skip


# --------------------------------------------------------------------------- image files
def _png(tmp, name="a.png", size=(6, 4)):
    from PIL import Image

    p = tmp / name
    Image.new("L", size, color=128).save(p)
    return p


@entry("diffusion.experiments.restore.imagefiles.list_images")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    (tmp / "imgs").mkdir()
    _png(tmp / "imgs")
    return call(imagefiles.list_images, K(tmp / "imgs", "indir"), fixed("--input"))


@entry("diffusion.experiments.restore.imagefiles.read_image")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    return call(imagefiles.read_image, K(_png(tmp), "infile"), K(1, "count"), fixed("--input"),
                view=lambda im: np.asarray(im, dtype=float))  # fmt: skip


@entry("diffusion.experiments.restore.imagefiles.prepare_image")
def _(tmp):
    from PIL import Image

    from diffusion.experiments.restore import imagefiles

    return call(imagefiles.prepare_image, K(Image.new("L", (6, 4), color=100), "object"),
                K((4, 4), "shape"))  # fmt: skip


@entry("diffusion.experiments.restore.imagefiles.read_measurement")
def _(tmp):
    from diffusion.experiments.restore import imagefiles

    p = tmp / "y.npy"
    np.save(p, np.zeros((1, 2, 2)))
    return call(imagefiles.read_measurement, K(p, "infile"), K((1, 2, 2), "shape"),
                fixed("--measurement"))  # fmt: skip
