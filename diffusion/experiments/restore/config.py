"""The settings of one :mod:`diffusion.restore` run, resolved and checked once.

:class:`RestoreConfig` is frozen: every stage reads it and none writes to it. Build it in
Python (``RestoreConfig(task="sr2", prior="gmm", n_images=2, ...)``) or from the command
line (:func:`config_from_args`); either way every check runs when it is made, and a bad value
raises :class:`~numerics.cli.UsageError` with a message that names the option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from diffusion.experiments.restore._config_base import ConfigBase
from diffusion.experiments.restore.baselines import BASELINES
from diffusion.experiments.restore.priors import PriorEntry, resolve_prior
from diffusion.experiments.restore.tasks import FILES_TASKS, PAPER_TASKS, TASKS, Task
from diffusion.experiments.restore.zeta import read_zeta_table, resolve_zeta
from numerics.cli import UsageError, check_out_dir

__all__ = [
    "ETAS_DEFAULT", "GRADIENT_GUIDANCES", "MAX_ABS_LIMIT", "MAX_DIFFPIR_LAMBDA", "MAX_SIGMA_Y",
    "RestoreConfig", "config_from_args",
]  # fmt: skip

#: The ``--guidance`` values that differentiate the prior's denoiser (take ``--zeta``).
GRADIENT_GUIDANCES = ("dps", "cov", "pigdm")

#: The largest ``--sigma-y``: y is stored (and DPS runs by default) in float32, whose
#: rounding of y beyond about 1e7 exceeds the whole signal range [-1, 1]; 1e308 overflowed.
MAX_SIGMA_Y = 1e6

#: The largest ``--max-abs``: a state kept below it must have finite squares and squared
#: distances in float64 (the metrics), as :data:`numerics.validate.MAX_ABS`; 1e308 did not.
MAX_ABS_LIMIT = 1e150

#: The largest ``--diffpir-lambda``: DiffPIR's :math:`\rho_k = \lambda\sigma_y^2/\bar\sigma_k^2`
#: stays below float32's largest value (3.4e38) for every ``--sigma-y`` <= :data:`MAX_SIGMA_Y`
#: on the 1000-step linear schedule (:math:`\bar\sigma_1^2 \approx 10^{-4}`); 1e308 overflowed.
MAX_DIFFPIR_LAMBDA = 1e20

#: η = 0, 0.1, ..., 1: the default of ``--eta``.
ETAS_DEFAULT = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

_CHOICES = dict(
    guidance=("dps", "exact", "cov", "pigdm"),
    variance=("beta", "beta_tilde", "exact"),
    dps_form=("reference", "likelihood"),
    schedule=("linear", "fixed-horizon"),
    start=("standard", "exact"),
    device=("cpu", "cuda"),
    dtype=("float32", "float64"),
    split=("test", "fit"),
    autocast=("none", "fp16", "bf16"),
)


@dataclass(frozen=True)
class RestoreConfig(ConfigBase):
    """Everything that determines a run (the options of ``python -m diffusion.restore``).

    Field names follow the options (``--samples-per-image`` is ``samples_per_image``), with
    these differences: ``prior`` is a :class:`~diffusion.experiments.restore.priors.PriorEntry`
    (a name is resolved when the config is made), ``zeta`` is the resolved ζ specification
    (a number, a preset name or a table ``{eta: zeta}``; ``None`` with exact guidance or
    while tuning), ``zeta_grid`` the ``--tune-zeta`` grid (``None``: no tuning),
    ``exact_reference`` and ``progress`` are the negations of ``--no-exact-reference`` and
    ``--no-progress``. ``patch_size = None`` takes the prior's; the resolved size is
    :attr:`Setup.patch_size <diffusion.experiments.restore.problems.Setup>`.

    ``input`` (an image file or folder) or ``measurement`` (a ``.npy``/``.png`` file) make
    it a run on your own images (:mod:`diffusion.experiments.restore.files`); the data-set
    options (``n_images``, ``image_seed``, ``split``, ``patch_size``, ``ref_samples``,
    ``pool_size``, ``exact_reference``, ``grid_images``'s data set) do not apply there, and
    ``image_batch`` counts chains (image x η x sample) per sampler call, ``"auto"`` allowed.

    Examples
    --------
    >>> cfg = RestoreConfig(task="sr2", prior="gmm", etas=[0, 1])
    >>> cfg.prior.exact, cfg.etas, cfg.zeta, cfg.curves
    (True, (0.0, 1.0), None, ('exact',))
    >>> RestoreConfig(task="sr2", sigma_y=0.0)
    Traceback (most recent call last):
    ...
    numerics.cli.UsageError: --sigma-y: expected a number in (0, 1e+06] (noise sd in [-1, 1] units), got 0
    """

    task: str
    prior: PriorEntry | str = "gmm"
    sigma_y: float = 0.05
    etas: tuple[float, ...] = ETAS_DEFAULT
    guidance: str = "exact"
    variance: str = "beta_tilde"
    zeta: float | str | Mapping | None = None
    dps_form: str = "reference"
    n_images: int = 8
    samples_per_image: int = 8
    steps: int = 1000
    schedule: str = "linear"
    start: str = "standard"
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    image_seed: int = 0
    split: str = "test"
    patch_size: int | None = None
    weights: str | None = None
    ref_samples: int = 256
    pool_size: int = 2000
    image_batch: int | str = 1
    exact_reference: bool = True
    max_abs: float = 1e3
    zeta_grid: tuple[float, ...] | None = None
    grid_images: int = 4
    grid_samples: int = 3
    baselines: tuple[str, ...] = ()
    diffpir_zetas: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0)
    diffpir_lambda: float = 1.75
    diffpir_steps: int = 100
    out: str | Path | None = None
    resume: bool = False
    progress: bool = True
    threads: int | None = None
    input: str | Path | None = None
    measurement: str | Path | None = None
    arch: str | Path | None = None
    autocast: str = "none"
    n_cg: int = 10

    def __post_init__(self):
        # Normalise once, at construction (a name to its entry, lists to tuples); the
        # object is never written to afterwards.
        if isinstance(self.prior, str):
            object.__setattr__(self, "prior", resolve_prior(self.prior, self.weights))
        if not isinstance(self.prior, PriorEntry):
            raise UsageError(f"--prior: expected a prior name or entry, got {self.prior!r:.40}")
        for name in ("out", "input", "measurement", "arch", "weights"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, Path)):
                raise UsageError(f"--{name}: expected a path, got {type(v).__name__}")
        for name in ("exact_reference", "resume", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise UsageError(f"{name}: expected True or False, got {getattr(self, name)!r:.40}")
        for name in ("etas", "baselines", "diffpir_zetas", "zeta_grid"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, tuple):
                object.__setattr__(self, name, tuple(v))
        try:
            object.__setattr__(self, "etas", tuple(float(e) for e in self.etas))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--eta: expected numbers in [0, 1], got {self.etas!r:.40}") from exc
        self._check_types()
        self._check()
        if self.guidance in GRADIENT_GUIDANCES and self.zeta_grid is None:
            z = resolve_zeta(self.zeta, prior=self.prior.name, task=self.task, form=self.dps_form)
            object.__setattr__(self, "zeta", MappingProxyType(z) if isinstance(z, dict) else z)

    # ------------------------------------------------------------------ checks

    def _check_types(self) -> None:
        """Integers and real numbers where the options take them (the command line converts
        its text; a config built in Python may hold anything)."""
        ints = ("n_images", "samples_per_image", "steps", "seed", "image_seed", "ref_samples",
                "pool_size", "grid_images", "grid_samples", "diffpir_steps", "n_cg",
                "image_batch", "patch_size", "threads")  # fmt: skip
        for name in ints:
            v = getattr(self, name)
            if v is None and name in ("patch_size", "threads") or v == "auto" and name == "image_batch":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise UsageError(f"--{name.replace('_', '-')}: expected an integer, got {v!r:.40}")
        for name in ("sigma_y", "max_abs", "diffpir_lambda"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise UsageError(f"--{name.replace('_', '-')}: expected a number, got {v!r:.40}")

    def _check(self) -> None:
        if self.task in PAPER_TASKS and not self.files_mode:
            raise UsageError(
                f"--task {self.task}: the paper's operators run on your own images "
                f"(--input/--measurement); the data sets take {', '.join(sorted(TASKS))}"
            )
        if self.task not in FILES_TASKS:
            raise UsageError(
                f"--task: unknown task {self.task!r}; expected one of {sorted(FILES_TASKS)}"
            )
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                opt = "--" + name.replace("_", "-")
                raise UsageError(
                    f"{opt}: expected one of {list(choices)}, got {getattr(self, name)!r}"
                )
        self._check_adm()
        _check_etas(self.etas)
        if not (0 < self.sigma_y <= MAX_SIGMA_Y):
            raise UsageError(
                f"--sigma-y: expected a number in (0, {MAX_SIGMA_Y:g}] (noise sd in [-1, 1] "
                f"units), got {self.sigma_y:g}"
            )
        entry = self.prior
        if self.patch_size is not None and self.patch_size < 1:
            raise UsageError(f"--patch-size: expected an integer >= 1, got {self.patch_size}")
        if self.patch_size is not None:
            self.task_spec.check_size(self.patch_size)
        for name in ("n_images", "samples_per_image", "ref_samples", "image_batch",
                     "grid_images", "grid_samples", "diffpir_steps"):  # fmt: skip
            if name == "image_batch" and self.image_batch == "auto":
                if not self.files_mode:
                    raise UsageError(
                        "--image-batch auto: applies to --input/--measurement runs; here give "
                        "the images per sampler call (an integer)"
                    )
                continue
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')}: expected an integer >= 1")
        if self.files_mode:
            self._check_files()
        elif self.samples_per_image < 2:
            raise UsageError("--samples-per-image: expected >= 2 (standard errors need two)")
        if self.pool_size < 2:
            raise UsageError("--pool-size: expected an integer >= 2")
        if self.seed < 0 or self.image_seed < 0:
            raise UsageError("--seed/--image-seed: expected integers >= 0")
        if self.schedule == "linear" and not 1 <= self.steps <= 1000:
            raise UsageError(f"--steps: expected 1..1000 with --schedule linear, got {self.steps}")
        if self.schedule == "fixed-horizon" and self.steps < 1:
            raise UsageError(f"--steps: expected an integer >= 1, got {self.steps}")
        if self.guidance == "exact" and not entry.exact:
            raise UsageError(f"--guidance exact: prior {entry.name!r} has no exact posterior")
        if self.guidance in GRADIENT_GUIDANCES and self.variance == "exact":
            raise UsageError("--variance exact needs the posterior Hessian: use --guidance exact")
        if self.guidance in GRADIENT_GUIDANCES and self.start == "exact":
            raise UsageError("--start exact needs the exact law of x_T | y: use --guidance exact")
        if self.guidance == "exact" and self.zeta is not None:
            raise UsageError("--zeta/--zeta-table apply to --guidance dps|cov|pigdm only")
        if isinstance(self.n_cg, bool) or not isinstance(self.n_cg, int) or self.n_cg < 1:
            raise UsageError(f"--n-cg: expected an integer >= 1, got {self.n_cg!r}")
        if self.files_mode and self.guidance in ("cov", "pigdm"):
            raise UsageError(
                f"--guidance {self.guidance}: runs on the data sets (not with --input/--measurement)"
            )
        if self.zeta == "discrepancy" and (self.files_mode or self.zeta_grid is not None):
            raise UsageError("--zeta discrepancy: calibrates on a data-set run (not tuning, files)")
        if self.zeta == "discrepancy" and self.grid_samples < 2:
            raise UsageError("--grid-samples: --zeta discrepancy needs >= 2 (the spread of A x)")
        if self.zeta_grid is not None:
            if self.guidance != "dps":
                raise UsageError("--tune-zeta tunes DPS: pass --guidance dps")
            if self.split != "fit":
                raise UsageError("--tune-zeta: ζ is chosen on fit images only: pass --split fit")
            if not self.zeta_grid or any(not (v > 0) for v in self.zeta_grid):
                raise UsageError("--tune-zeta: expected positive numbers")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device available")
        if self.threads is not None and self.threads < 1:
            raise UsageError("--threads: expected an integer >= 1")
        if not 0 < self.max_abs <= MAX_ABS_LIMIT:
            raise UsageError(f"--max-abs: expected a number in (0, {MAX_ABS_LIMIT:g}]")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise UsageError(
                f"--baselines: unknown {bad[0]!r}; expected some of {sorted(BASELINES)}"
            )
        if "pscgan" in self.baselines and (entry.data != "digits" or self.task != "deblur"):
            raise UsageError(
                "--baselines pscgan: the shipped PSCGAN restores digits16 deblurring only "
                "(--prior digits16|gmm-digits16 --task deblur)"
            )
        if not self.diffpir_zetas or any(not 0.0 <= z <= 1.0 for z in self.diffpir_zetas):
            raise UsageError("--diffpir-zeta: expected values in [0, 1]")
        if not 0 < self.diffpir_lambda <= MAX_DIFFPIR_LAMBDA:
            raise UsageError(f"--diffpir-lambda: expected a number in (0, {MAX_DIFFPIR_LAMBDA:g}]")
        _check_out(self.out_path)

    def _check_adm(self) -> None:
        """``arch`` goes with an ADM ``.pt`` prior, and only there; ``autocast`` with a network
        (ADM or ``UNet2DModel``)."""
        from diffusion.experiments.restore.priors import load_adm_file, load_unet_folder

        adm = self.prior.load is load_adm_file
        net = adm or self.prior.load is load_unet_folder
        if adm and self.arch is None:
            raise UsageError(
                f"--arch: required with --prior {self.prior.name} (an ADM .pt file): "
                "ffhq256, imagenet256 or a CONFIG.json"
            )
        if not adm and self.arch is not None:
            raise UsageError("--arch: applies to an ADM .pt file given as --prior FILE only")
        if not net and self.autocast != "none":
            raise UsageError(
                f"--autocast: applies to a network prior, not to --prior {self.prior.name}"
            )
        if adm and not self.files_mode:
            raise UsageError(
                f"--prior {self.prior.name}: an ADM network restores your own images: pass "
                "--input or --measurement"
            )
        if adm:
            from diffusion.priors.adm_load import adm_config

            try:
                adm_config(self.arch)
            except ValueError as exc:
                raise UsageError(f"--arch: {str(exc).removeprefix('arch: ')}") from None
        if net:
            from diffusion.priors.adm_load import check_autocast

            if self.device == "cuda" and not torch.cuda.is_available():
                return  # (named by the --device check)
            try:
                check_autocast(self.autocast, self.device, self.torch_dtype)
            except ValueError as exc:
                msg = str(exc).removeprefix("autocast: ")
                raise UsageError(f"--autocast {self.autocast}: {msg}") from None

    def _check_files(self) -> None:
        """The checks of a run on your own images (``input`` or ``measurement``)."""
        if self.input is not None and self.measurement is not None:
            raise UsageError("--measurement: give either --input or --measurement, not both")
        for opt, path in (("--input", self.input), ("--measurement", self.measurement)):
            if path is not None and not Path(path).expanduser().exists():
                raise UsageError(f"{opt}: {path} does not exist")
        if self.zeta_grid is not None:
            raise UsageError("--tune-zeta: tunes on the data sets; not with --input/--measurement")
        if self.baselines:
            raise UsageError("--baselines: run on the data sets; not with --input/--measurement")
        if self.schedule != "linear":
            raise UsageError(
                "--schedule fixed-horizon: --input/--measurement runs sample on the prior's own "
                "training schedule (respaced to --steps)"
            )
        if self.patch_size is not None:
            raise UsageError(
                "--patch-size: not used with --input/--measurement (images take the prior's size)"
            )

    # ------------------------------------------------------------------ derived values

    @property
    def files_mode(self) -> bool:
        """Whether this run restores your own files (``input`` or ``measurement`` given)."""
        return self.input is not None or self.measurement is not None

    @property
    def task_spec(self) -> Task:
        """The :class:`~diffusion.experiments.restore.tasks.Task` of :attr:`task`."""
        return FILES_TASKS[self.task]

    @property
    def data(self) -> str:
        """``"patches"`` or ``"digits"``: the prior's data set."""
        return self.prior.data

    @property
    def weights_path(self) -> str | None:
        """``weights``, or the prior's default."""
        return self.weights if self.weights is not None else self.prior.default_weights

    @property
    def out_path(self) -> Path:
        """``out``, or ``runs/restore-<task>-<guidance>-s<sigma_y>`` (with ``--input`` or
        ``--measurement``: ``runs/restore-<file or folder name>-<task>-...``)."""
        if self.out is None:
            tag = f"{self.task}-{self.guidance}-s{self.sigma_y:g}"
            if self.files_mode:
                return Path(f"runs/restore-{Path(self.input or self.measurement).stem}-{tag}")
            return Path(f"runs/restore-{tag}")
        return Path(self.out)

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float32 if self.dtype == "float32" else torch.float64

    @property
    def curves(self) -> tuple[str, ...]:
        """The η-curves sampled: the guidance's, plus the exact-score reference on the same
        noise for DPS over an exact prior (unless ``exact_reference`` is off)."""
        if self.guidance in GRADIENT_GUIDANCES and self.prior.exact and self.exact_reference:
            return (self.guidance, "exact")
        return (self.guidance,)

    def record(self, patch_size: int) -> dict:
        """Everything that determines the numbers, as JSON (``config.json`` and the results'
        ``config``; compared on ``--resume``), with the resolved ``patch_size``."""
        from numerics.validate import check_int

        patch_size = check_int(patch_size, "patch_size", minimum=1)
        zeta = self.zeta
        if isinstance(zeta, Mapping):
            zeta = {str(k): v for k, v in sorted(zeta.items())}
        cfg = dict(
            task=self.task, prior=self.prior.name, sigma_y=self.sigma_y, etas=list(self.etas),
            guidance=self.guidance, variance=self.variance, zeta_value=zeta,
            dps_form=self.dps_form, n_images=self.n_images,
            samples_per_image=self.samples_per_image, steps=self.steps, schedule=self.schedule,
            start=self.start, device=self.device, dtype=self.dtype, seed=self.seed,
            image_seed=self.image_seed, split=self.split, patch_size=patch_size,
            ref_samples=self.ref_samples, pool_size=self.pool_size, image_batch=self.image_batch,
            no_exact_reference=not self.exact_reference, max_abs=self.max_abs,
            weights=os.path.basename(str(self.weights_path)),
        )  # fmt: skip
        if self.guidance == "cov":  # other runs keep the config of earlier versions
            cfg["n_cg"] = self.n_cg
        if self.autocast != "none":  # likewise
            cfg["autocast"] = self.autocast
        if self.zeta_grid is not None:
            cfg["zeta_grid"] = list(self.zeta_grid)
        if self.baselines:  # runs without baselines keep the config of earlier versions
            cfg["baseline_list"] = list(self.baselines)
            if "diffpir" in self.baselines:
                cfg.update(
                    diffpir_zetas=list(self.diffpir_zetas),
                    diffpir_lambda=self.diffpir_lambda,
                    diffpir_steps=self.diffpir_steps,
                )
        return cfg


def _check_out(out: Path) -> None:
    """``--out`` must be a folder, or not exist yet below a writable folder."""
    check_out_dir(out, "--out")


def _check_etas(etas) -> None:
    if not etas:
        raise UsageError("--eta: expected at least one value")
    bad = [v for v in etas if not (0.0 <= v <= 1.0)]
    if bad:
        raise UsageError(f"--eta: values must be in [0, 1], got {bad[0]:g}")
    if len(set(etas)) != len(etas):
        raise UsageError("--eta: repeated values")


def config_from_args(ns) -> RestoreConfig:
    """The :class:`RestoreConfig` of parsed command-line options (from
    :func:`~diffusion.experiments.restore.cli.build_parser`); the one place that reads the
    namespace. ``--zeta-table`` is read here."""
    import argparse

    if not isinstance(ns, argparse.Namespace):
        raise TypeError(f"ns: expected the argparse.Namespace of build_parser(), got {type(ns).__name__}")
    prior = resolve_prior(ns.prior, ns.weights)
    files = ns.input is not None or ns.measurement is not None
    guidance = ns.guidance
    if guidance is None:  # your own images: the exact posterior where the prior has one
        guidance = "dps" if files and not prior.exact else "exact"
    zeta = ns.zeta
    if ns.zeta_table is not None:  # read only where it is used: DPS, not tuning
        use = guidance in GRADIENT_GUIDANCES and ns.tune_zeta is None
        zeta = read_zeta_table(ns.zeta_table) if use else ns.zeta_table
    if ns.tune_zeta is not None and guidance == "dps":
        zeta = None  # tuning chooses ζ
    samples = ns.samples_per_image
    if samples is None:
        samples = 1 if files else 8
    batch = ns.image_batch if ns.image_batch is not None else ("auto" if files else 1)
    return RestoreConfig(
        task=ns.task, prior=prior, sigma_y=ns.sigma_y, etas=ns.eta, guidance=guidance,
        variance=ns.variance, zeta=zeta, dps_form=ns.dps_form, n_images=ns.n_images,
        samples_per_image=samples, steps=ns.steps, schedule=ns.schedule,
        start=ns.start, device=ns.device, dtype=ns.dtype, seed=ns.seed,
        image_seed=ns.image_seed, split=ns.split, patch_size=ns.patch_size,
        weights=ns.weights, ref_samples=ns.ref_samples,
        pool_size=ns.pool_size, image_batch=batch,
        exact_reference=not ns.no_exact_reference, max_abs=ns.max_abs,
        zeta_grid=ns.tune_zeta, grid_images=ns.grid_images, grid_samples=ns.grid_samples,
        baselines=ns.baselines, diffpir_zetas=ns.diffpir_zeta,
        diffpir_lambda=ns.diffpir_lambda, diffpir_steps=ns.diffpir_steps, out=ns.out,
        resume=ns.resume, progress=not ns.no_progress, threads=ns.threads, input=ns.input,
        measurement=ns.measurement, arch=ns.arch, autocast=ns.autocast, n_cg=ns.n_cg,
    )  # fmt: skip
