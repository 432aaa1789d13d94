"""The priors :mod:`diffusion.restore` can run (``--prior NAME`` or ``--prior PATH``).

:data:`PRIORS` is a read-only mapping of the shipped priors. ``--prior PATH`` (the folder of
any ``UNet2DModel`` checkpoint) is resolved by :func:`resolve_prior` to a new
:class:`PriorEntry` held by the run's configuration; nothing is registered at run time. A
prior of your own is a :class:`PriorEntry` passed as ``RestoreConfig(prior=...)``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from diffusion._paths import WEIGHTS_DIR
from numerics.cli import UsageError

__all__ = [
    "PRIORS", "PriorEntry", "load_adm_file", "load_gmm_prior", "load_unet_folder", "resolve_prior",
]  # fmt: skip


@dataclass(frozen=True)
class PriorEntry:
    """A prior the command can run.

    Attributes
    ----------
    name : str
        As given to ``--prior`` (recorded in the results' ``config``).
    load : callable ``(config, schedule) -> model``
        Returns a denoiser (:mod:`diffusion.models` interface) on ``schedule`` with a
        ``patch_shape`` attribute; if ``exact``, it also has ``.gmm`` (the mixture) so the
        posterior is exact. ``config`` is the run's
        :class:`~diffusion.experiments.restore.config.RestoreConfig` (its ``weights_path``,
        ``device``, ``torch_dtype``).
    exact : bool
    help : str
    data : {"patches", "digits"}
        The clean images it restores: photograph patches (:mod:`diffusion.data.patches`,
        split by source image) or handwritten digits (:mod:`diffusion.data.digits`;
        ``--split fit`` is their validation split).
    default_weights : str, optional
        ``--weights`` when not given.
    """

    name: str
    load: Callable
    exact: bool
    help: str
    data: str = "patches"
    default_weights: str | None = None

    def __post_init__(self):
        if self.data not in ("patches", "digits"):
            raise ValueError(f"data: expected 'patches' or 'digits', got {self.data!r}")


def load_gmm_prior(config, schedule):
    """A Gaussian-mixture prior (:class:`~diffusion.priors.gmm_image.GMMImagePrior`) from
    ``config.weights_path``; its posterior is exact. ``schedule=None`` (``--input`` runs):
    the paper's linear schedule."""
    from diffusion.priors.gmm_image import GMMImagePrior

    path = config.weights_path
    try:
        return GMMImagePrior.from_file(path, schedule)
    except ValueError as exc:
        raise UsageError(f"--weights: {exc}") from exc
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        # truncated or foreign files: numpy's and zipfile's errors, one line naming the option
        raise UsageError(f"--weights: cannot read {path} as a mixture .npz ({exc})") from exc


def load_unet_folder(config, schedule):
    """A ``UNet2DModel`` checkpoint (:mod:`diffusion.priors.unet`), x̂₀ clipped to [-1, 1].

    With a ``schedule`` (the data-set runs) the network must take square one-channel images
    and have been trained on that schedule. ``schedule=None`` (``--input`` /
    ``--measurement`` runs) takes any channel count and size, and the network's own
    training schedule (its ``scheduler_config.json``, :mod:`diffusion.priors.unet`).
    """
    from diffusion.priors.unet import load_unet_prior

    name = config.prior.name
    opt = f"--prior {name}" if config.weights is None else "--weights"
    try:
        model = load_unet_prior(
            config.weights_path, device=config.device, dtype=config.torch_dtype, clip=(-1.0, 1.0),
            autocast=config.autocast,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise UsageError(f"{opt}: {exc}") from exc
    C, H, W = model.image_shape
    model.patch_shape = (C, H, W)
    if schedule is None:
        return model
    if C != 1 or H != W:
        raise UsageError(
            f"--prior {name}: the network takes {C} x {H} x {W} images; the data sets shipped "
            "here are square grayscale images (1 channel): restore your own images with --input"
        )
    base = getattr(model.schedule, "schedule", model.schedule)
    if not np.allclose(base.alpha_bar, schedule.alpha_bar, rtol=1e-9, atol=0.0):
        raise UsageError(
            f"--prior {name}: the network's training schedule is not the paper's "
            "linear schedule (T = 1000, beta 1e-4 -> 0.02) that this command samples with"
        )
    return model


def load_adm_file(config, schedule):
    """A guided-diffusion (ADM) ``.pt`` state dict with ``config.arch``
    (:mod:`diffusion.priors.adm_load`), x̂₀ clipped to [-1, 1], on the network's training
    schedule (linear, T = 1000). It restores your own images only (``schedule=None``: the
    ``--input`` / ``--measurement`` runs)."""
    from diffusion.priors.adm_load import load_adm_prior

    name = config.prior.name
    if schedule is not None:
        raise UsageError(
            f"--prior {name}: an ADM network restores your own images: pass --input or "
            "--measurement"
        )
    try:
        model = load_adm_prior(
            config.weights_path, config.arch, device=config.device, dtype=config.torch_dtype,
            autocast=config.autocast, clip=(-1.0, 1.0),
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise UsageError(f"--prior {name}: {exc}") from exc
    model.patch_shape = tuple(model.image_shape)
    return model


#: The shipped priors (``--prior NAME``), read-only.
PRIORS = MappingProxyType({
    "gmm": PriorEntry(
        "gmm", load_gmm_prior, True, "Gaussian mixture of 16x16 patches (exact posterior)",
        "patches", str(WEIGHTS_DIR / "gmm_patches16.npz"),
    ),
    "gmm-digits16": PriorEntry(
        "gmm-digits16", load_gmm_prior, True,
        "Gaussian mixture of the 16x16 digits (exact posterior)",
        "digits", str(WEIGHTS_DIR / "gmm_digits16.npz"),
    ),
    "digits16": PriorEntry(
        "digits16", load_unet_folder, False, "UNet2DModel trained on the 16x16 digits",
        "digits", str(WEIGHTS_DIR / "unet_digits16"),
    ),
    "patches32": PriorEntry(
        "patches32", load_unet_folder, False, "UNet2DModel trained on 32x32 photograph patches",
        "patches", str(WEIGHTS_DIR / "unet_patches32"),
    ),
    "patches32rgb": PriorEntry(
        "patches32rgb", load_unet_folder, False,
        "UNet2DModel trained on 32x32 RGB photograph patches (colour: use --input)",
        "patches", str(WEIGHTS_DIR / "unet_patches32rgb"),
    ),
})  # fmt: skip


def resolve_prior(name: str, weights: str | None = None) -> PriorEntry:
    """The :class:`PriorEntry` of ``--prior name``: a shipped one, or a new entry for the
    folder of a ``UNet2DModel`` checkpoint (its weights are the folder itself) or for an
    ADM ``.pt`` file (:func:`load_adm_file`; the network comes from ``--arch``).

    Raises :class:`~numerics.cli.UsageError` for an unknown name, or for ``weights`` given
    with a folder.
    """
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"--prior: expected a prior name or path (name), got {name!r:.40}")
    if name in PRIORS:
        return PRIORS[name]
    if Path(os.path.expanduser(name)).is_file():  # a guided-diffusion .pt (needs --arch)
        if weights is not None:
            raise UsageError("--weights: not used with --prior FILE (the file is the weights)")
        return PriorEntry(
            name, load_adm_file, False, f"ADM checkpoint {name}", "patches",
            os.path.expanduser(name),
        )  # fmt: skip
    folder = os.path.expanduser(name)
    if not Path(folder).is_dir():
        raise UsageError(
            f"--prior: unknown prior name {name!r}; expected one of {sorted(PRIORS)}, "
            "the folder of a UNet2DModel checkpoint or an ADM .pt file (with --arch)"
        )
    if weights is not None:
        raise UsageError("--weights: not used with --prior PATH (the folder is the weights)")
    return PriorEntry(
        name, load_unet_folder, False, f"UNet2DModel checkpoint {name}", "patches", folder
    )
