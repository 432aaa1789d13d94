r"""Your own images: ``python -m diffusion.restore --input PATH`` or ``--measurement PATH``.

**--input** (a PNG/JPEG file or a folder of them): each image is read in the prior's channel
count (:mod:`~diffusion.experiments.restore.imagefiles`), centre-cropped to the prior's
aspect ratio and resized (bicubic) to its size (one printed line says what was done),
measured, :math:`y = A x + n` with A the ``--task`` operator at that size and
:math:`n \sim N(0, \sigma_y^2 I)` seeded by ``(--seed, 1, image index)``, and restored at
every η with ``--samples-per-image`` samples (:func:`~diffusion.experiments.restore.api.run_chunk`,
the chains of :func:`~diffusion.experiments.restore.api.restore_images`). The metrics per η
against the clean image are PSNR, SSIM and MSE (conventions in ``results.json`` and
:mod:`~diffusion.experiments.restore.api`), and the residual :math:`\|y - A\hat x\|`.

**--measurement** (``.npy`` or ``.png``): the measurement is taken as given (the operator
comes from ``--task`` at the prior's size; entries A never reads are set to 0) and only the
residual is reported.

Outputs in ``--out``: ``images/<name>/`` with ``clean.png`` (as restored, after crop and
resize), ``y.png`` (the measurement: as is for deblurring, zero-filled for inpainting --
missing pixels show 0, mid-grey --, nearest-neighbour upsampled for super-resolution),
``y.npy`` (the measurement, float32, reusable with ``--measurement``),
``eta<η>_sample<j>.png`` and ``samples.npy`` ``[η, sample, C, H, W]``; ``grid.png`` (clean
| y | η = 0 ... 1); ``records/`` (one JSON per finished image); ``results.json``;
``timing.json``. ``--resume`` skips finished images; with the same ``--image-batch`` it
gives the same ``results.json``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from diffusion.experiments.restore.api import (
    as_measurement,
    chain_metrics,
    chunks,
    measure,
    probe_step,
    run_chunk,
    run_schedule,
)
from diffusion.experiments.restore.chains import DivergedError
from diffusion.experiments.restore.imagefiles import (
    list_images,
    prepare_image,
    read_image,
    read_measurement,
    write_png,
)
from diffusion.experiments.restore.run import apply_threads, prepare_out
from numerics.cli import UsageError
from numerics.io import atomic_write, read_json, write_json

__all__ = ["METRICS_NOTE", "Sources", "files_record", "load_sources", "run_files"]

#: The metric conventions, as written into ``results.json``.
METRICS_NOTE = (
    "per restored image against its clean image, then the mean over samples (per image) and "
    "over images and samples (per_eta); images in [-1, 1]: mse = mean over pixels and "
    "channels; psnr = 10 log10(2^2 / mse) in dB; ssim = skimage structural_similarity "
    "(data_range 2, 7 x 7 uniform window), per channel and averaged over channels "
    "(channel_axis); residual = ||y - A x_hat|| (2-norm over the measurement), residual_rms = "
    "residual / sqrt(m), m the entries A reads (about sigma_y when consistent with y)"
)


class Sources:
    """The images of a run: names, where they came from, clean images (``--input``) or
    given measurements (``--measurement``): ``names``, ``files`` and ``notes`` one per
    image, ``clean`` ``(N, C, H, W)`` / ``y`` ``(N, *out_shape)`` finite arrays or None."""

    def __init__(self, names, files, notes, clean=None, y=None):
        from numerics.validate import as_array

        for name, v in (("names", names), ("files", files), ("notes", notes)):
            if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                raise TypeError(f"{name}: expected a list, got {type(v).__name__}")
        self.names, self.files, self.notes = list(names), list(files), list(notes)
        if not all(isinstance(n, str) for n in self.names):
            raise TypeError("names: expected a list of str")
        n = len(self.names)
        for name, v in (("files", self.files), ("notes", self.notes)):
            if len(v) != n:
                raise ValueError(f"{name}: {len(v)} entries for {n} names")
        for name, v in (("clean", clean), ("y", y)):
            if v is not None and (as_array(v, name).ndim < 1 or len(v) != n):
                raise ValueError(f"{name}: expected one entry per name ({n}), got shape {np.shape(v)}")
        self.clean, self.y = clean, y

    def __len__(self) -> int:
        return len(self.names)


def _unique_names(paths) -> list[str]:
    stems = [p.stem for p in paths]
    return [
        s if stems.count(s) == 1 else f"{s}_{p.suffix.lstrip('.').lower()}"
        for s, p in zip(stems, paths, strict=True)
    ]


def load_sources(config, shape, out_shape) -> Sources:
    """Read ``--input`` (prepared to ``shape = (C, H, W)``, one line printed per image, at
    most five) or ``--measurement`` (of ``out_shape``)."""
    if config.input is not None:
        paths = list_images(config.input, "--input")
        names = _unique_names(paths)
        clean, notes = [], []
        for k, path in enumerate(paths):
            x, note = prepare_image(read_image(path, shape[0], "--input"), shape[1:])
            clean.append(x)
            notes.append(note)
            if k < 5:
                print(f"restore: {path.name}: {note} ({'RGB' if shape[0] == 3 else 'grey'})")
        if len(paths) > 5:
            print(f"restore: ... and {len(paths) - 5} more, prepared the same way")
        return Sources(names, paths, notes, clean=torch.from_numpy(np.stack(clean)))
    path = Path(config.measurement).expanduser()
    y = read_measurement(path, out_shape, "--measurement")
    names = [path.stem] if y.shape[0] == 1 else [f"{path.stem}_{k}" for k in range(y.shape[0])]
    return Sources(names, [path] * len(names), ["measurement as given"] * len(names), y=y)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def files_record(config, sources: Sources, shape, run_T: int) -> dict:
    """Everything that determines the numbers of a files run (``config.json``; compared on
    ``--resume``), with the input files' SHA-256."""
    zeta = config.zeta
    if hasattr(zeta, "items"):
        zeta = {str(k): v for k, v in sorted(zeta.items())}
    files = sorted({Path(p).name: _sha256(p) for p in sources.files}.items())
    record = dict(
        mode="input" if config.input is not None else "measurement",
        files=[dict(path=p, sha256=h) for p, h in files],
        task=config.task, prior=config.prior.name, image_shape=list(shape),
        sigma_y=config.sigma_y, etas=list(config.etas), guidance=config.guidance,
        variance=config.variance, zeta_value=zeta if config.guidance == "dps" else None,
        dps_form=config.dps_form, samples_per_image=config.samples_per_image,
        steps=run_T, start=config.start, device=config.device, dtype=config.dtype,
        seed=config.seed, max_abs=config.max_abs,
    )  # fmt: skip
    if config.arch is not None:  # ADM runs only: earlier runs keep their config
        from dataclasses import asdict

        from diffusion.priors.adm_load import adm_config

        net = asdict(adm_config(config.arch))
        record.update(arch=str(config.arch), arch_config=net, autocast=config.autocast)
    elif config.autocast != "none":  # a UNet2DModel under autocast
        record["autocast"] = config.autocast
    return record


def _view(y: torch.Tensor, shape) -> tuple[np.ndarray, str]:
    """The measurement as an image of ``shape`` for display, and what was done."""
    C, H, W = shape
    yv = y.numpy()
    if tuple(yv.shape) == tuple(shape):
        return yv, "as measured, same size as the image (missing pixels of inpainting are 0)"
    if yv.shape[0] == C and H % yv.shape[1] == 0 and W % yv.shape[2] == 0:
        fh, fw = H // yv.shape[1], W // yv.shape[2]
        up = yv.repeat(fh, axis=1).repeat(fw, axis=2)
        return up, f"nearest-neighbour upsampled x{fh} from {yv.shape[2]} x {yv.shape[1]}"
    return yv, "as measured"


def _batch(config, prior, op, y, kw, n_chains: int) -> int:
    if config.image_batch != "auto":
        return int(config.image_batch)
    from diffusion.experiments.restore.batching import auto_batch

    b = auto_batch(lambda n: probe_step(prior, op, y, kw, n), n_chains, config.device)
    print(f"restore: --image-batch auto: {b} chains per sampler call")
    return b


def _write_image(folder: Path, x_hat, y, clean, config, shape) -> str:
    """Every file of one finished image; returns what ``y.png`` shows."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = x_hat.numpy().astype(np.float32)  # [E, S, C, H, W]
    atomic_write(folder / "samples.npy", lambda p: np.save(p, arr))
    atomic_write(folder / "y.npy", lambda p: np.save(p, y.numpy().astype(np.float32)))
    view, how = _view(y, shape)
    write_png(folder / "y.png", view)
    if clean is not None:
        write_png(folder / "clean.png", clean.numpy())
    for e, eta in enumerate(config.etas):
        for j in range(arr.shape[1]):
            write_png(folder / f"eta{eta:g}_sample{j}.png", arr[e, j])
    return how


def _image_record(i: int, name: str, note: str, values: dict, etas, how: str) -> dict:
    rows = []
    for e, eta in enumerate(etas):
        row = {"eta": eta}
        for k in sorted(values):
            v = values[k][e, :, 0]
            row[k] = float(v.mean())
            if v.size > 1:
                row[f"{k}_sd"] = float(v.std(ddof=1))
        rows.append(row)
    return dict(image=i, name=name, prepared=note, measurement_view=how, per_eta=rows)


def run_files(config) -> dict:
    """Run (or resume) a ``--input`` / ``--measurement`` restoration; returns results.json.

    Raises
    ------
    UsageError
        A missing, unreadable or wrong-size file, a prior or task that does not fit, or no
        GPU memory for one chain (one line naming the option).
    DivergedError
        A chain diverged (``results.json`` then holds ``"status": "diverged"``).
    """
    from diffusion.sampler import DivergenceError

    apply_threads(config)
    prior = config.prior.load(config, None)
    shape = tuple(int(v) for v in prior.patch_shape)
    if shape[0] not in (1, 3):
        raise UsageError(f"--prior: the network takes {shape[0]} channels; images have 1 or 3")
    task = config.task_spec
    if shape[1] % task.factor or shape[2] % task.factor:
        raise UsageError(
            f"--task {task.name}: the prior's {shape[2]} x {shape[1]} images are not divisible "
            f"by its factor {task.factor}"
        )
    op = task.make(shape, config.data, seed=config.seed)
    sources = load_sources(config, shape, op.out_shape)
    try:
        run_sched = run_schedule(prior, config.steps)
    except ValueError as exc:
        raise UsageError(f"--steps: {exc}") from None
    if sources.clean is not None:
        y_all = measure(sources.clean, op, config.sigma_y, config.seed)
    else:
        y_all = as_measurement(torch.from_numpy(sources.y), op)
    out = config.out_path
    record = files_record(config, sources, shape, run_sched.T)
    prepare_out(out, record, config.resume)
    E, S, N = len(config.etas), config.samples_per_image, len(sources)
    kw = dict(
        etas=config.etas, samples=S, guidance=config.guidance,
        zeta=dict(config.zeta) if hasattr(config.zeta, "keys") else config.zeta,
        sigma_y=config.sigma_y, dps_form=config.dps_form, run_sched=run_sched,
        seed=config.seed, variance=config.variance, start=config.start,
        device=torch.device(config.device), dtype=config.torch_dtype, max_abs=config.max_abs,
    )  # fmt: skip
    done = [(out / "records" / f"{i:05d}.json").exists() for i in range(N)]
    batch = _batch(config, prior, op, y_all, kw, N * E * S) if not all(done) else 1
    plan = chunks(N, E * S, batch, split_images=config.guidance == "exact")
    plan = [ks for ks in plan if not all(done[b] for b in {k // (E * S) for k in ks})]
    from diffusion.experiments.restore.progress import Progress

    n_todo = sum(len(ks) for ks in plan)
    bar = Progress(
        n_todo * run_sched.T, f"{n_todo} chains x {run_sched.T} steps", bar=config.progress
    )
    timing, parts, t0 = dict(units=[]), {}, time.perf_counter()
    try:
        for ks in plan:
            x = run_chunk(ks, prior, op, y_all, list(range(N)), on_step=bar.update, **kw)
            for k, xk in zip(ks, x, strict=True):
                parts.setdefault(k // (E * S), {})[k % (E * S)] = xk
            for i in [i for i in sorted(parts) if len(parts[i]) == E * S]:
                chains = parts.pop(i)
                if not done[i]:  # (a chunk shared with a finished image recomputes it)
                    _finish(out, i, chains, sources, y_all, op, config, shape)
                    done[i] = True
                    timing["units"].append(
                        dict(image=i, seconds=round(time.perf_counter() - t0, 2))
                    )
    except DivergenceError as exc:
        msg = f"guidance diverged at reverse step k={exc.k} of {run_sched.T}: {str(exc).split(': ', 1)[-1]}"
        write_json(
            out / "results.json",
            dict(config=record, status="diverged", divergence=msg),
            sort_keys=True,
        )
        raise DivergedError(msg) from exc
    except Exception as exc:
        from diffusion.experiments.restore.batching import is_out_of_memory

        if is_out_of_memory(exc):
            raise UsageError(
                f"--image-batch: out of memory with {batch} chains per sampler call; pass a "
                "smaller --image-batch"
            ) from None
        raise
    finally:
        bar.close()
    res = _results(out, record, sources, config)
    write_json(out / "results.json", res, sort_keys=True)
    write_json(out / "timing.json", timing, sort_keys=True)
    _grid(out, sources, config, shape)
    return res


def _grid(out: Path, sources: Sources, config, shape) -> Path:
    """``grid.png``: clean | y | η = 0 ... 1, ``--grid-samples`` rows per image for the
    first ``--grid-images`` images."""
    from diffusion.experiments.restore.figures import image_grid

    G = min(config.grid_samples, config.samples_per_image)
    rows = []
    for i, name in enumerate(sources.names[: config.grid_images]):
        folder = out / "images" / name
        smp = np.load(folder / "samples.npy", allow_pickle=False)
        view, _ = _view(torch.from_numpy(np.load(folder / "y.npy", allow_pickle=False)), shape)
        first = [view] if sources.clean is None else [sources.clean[i].numpy(), view]
        for g in range(G):
            head = first if g == 0 else [None] * len(first)
            rows.append(head + [smp[e, g] for e in range(len(config.etas))])
    titles = ["clean"] if sources.clean is not None else []
    titles += ["y"] + [f"η={e:g}" for e in config.etas]
    title = f"{config.task}, σ_y={config.sigma_y:g}, {config.guidance} guidance"
    return image_grid(out / "grid.png", rows, titles, title)


def _finish(out: Path, i: int, chains: dict, sources: Sources, y_all, op, config, shape) -> None:
    """Write image i's files and then its record (which marks it done)."""
    E, S = len(config.etas), config.samples_per_image
    x_hat = torch.stack([chains[k] for k in range(E * S)]).reshape(E, S, *shape)
    clean = None if sources.clean is None else sources.clean[i]
    name = sources.names[i]
    how = _write_image(out / "images" / name, x_hat, y_all[i], clean, config, shape)
    values = chain_metrics(
        x_hat[:, :, None], op, y_all[i : i + 1], None if clean is None else clean[None]
    )
    rec = _image_record(i, name, sources.notes[i], values, config.etas, how)
    write_json(out / "records" / f"{i:05d}.json", rec, sort_keys=True)


def _results(out: Path, record: dict, sources: Sources, config) -> dict:
    """results.json from the per-image records."""
    recs = [
        read_json(out / "records" / f"{i:05d}.json", what="record") for i in range(len(sources))
    ]
    per_eta = []
    for e, eta in enumerate(config.etas):
        keys = [k for k in recs[0]["per_eta"][e] if k != "eta" and not k.endswith("_sd")]
        per_eta.append(
            {"eta": eta, **{k: float(np.mean([r["per_eta"][e][k] for r in recs])) for k in keys}}
        )
    return dict(
        config=record, status="complete", metrics=METRICS_NOTE, per_eta=per_eta, images=recs
    )
