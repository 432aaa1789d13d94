r"""Image files in and out for ``python -m diffusion.restore --input / --measurement``
(Pillow).

Pixel values map to the [-1, 1] range of the samplers by :math:`x = 2u/255 - 1` and back by
rounding :math:`255 (x + 1)/2` after clipping to [-1, 1]. A prior of one channel reads
images as Pillow's ``"L"`` (ITU-R 601-2 luma), of three as ``"RGB"`` (an alpha channel is
dropped). Every file is written atomically (:func:`numerics.io.atomic_write`). A missing,
unreadable or wrong-size file is a :class:`~numerics.cli.UsageError` naming the option.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from numerics.cli import UsageError
from numerics.io import atomic_write

__all__ = [
    "IMAGE_SUFFIXES",
    "list_images",
    "prepare_image",
    "read_image",
    "read_measurement",
    "to_pil",
    "write_png",
]

#: The file types ``--input`` reads (case-insensitive); ``--measurement`` also reads ``.npy``.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_MODES = {1: "L", 3: "RGB"}


def list_images(path, option: str = "--input") -> list[Path]:
    """The image files of ``path``: the file itself, or the PNG/JPEG files of a folder
    (sorted by name, not recursive)."""
    p = _path(path, "path")
    if not p.exists():
        raise UsageError(f"{option}: {p} does not exist")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UsageError(f"{option}: no PNG or JPEG files in the folder {p}")
        return files
    if p.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"{option}: {p} is not a PNG or JPEG file (expected {IMAGE_SUFFIXES})")
    return [p]


def read_image(path, channels: int, option: str = "--input"):
    """The Pillow image of ``path`` in the mode of ``channels`` (1: ``"L"``, 3: ``"RGB"``)."""
    from PIL import Image, UnidentifiedImageError

    path = _path(path, "path")
    if channels not in _MODES:
        raise UsageError(f"--prior: the network takes {channels} channels; images have 1 or 3")
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(_MODES[channels])
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UsageError(f"{option}: cannot read {path} as an image ({exc})") from None


def _path(path, name: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name}: expected a file or folder path, got {type(path).__name__}")
    return Path(path).expanduser()


def prepare_image(im, size) -> tuple[np.ndarray, str]:
    """Centre-crop ``im`` to the aspect ratio of ``size = (H, W)`` and resize it (bicubic).

    Returns
    -------
    x : (C, H, W) float64 array in [-1, 1]
    note : str
        What was done, e.g. ``"512 x 384 -> centre crop 384 x 384 -> bicubic resize to
        64 x 64"`` (or ``"64 x 64, used as is"``).
    """
    from PIL import Image

    from numerics.validate import check_int

    if not isinstance(im, Image.Image):
        raise TypeError(f"im: expected a Pillow image, got {type(im).__name__}")
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 2:
        raise ValueError(f"size: expected (H, W), got {size!r:.40}")
    H, W = (check_int(v, "size", minimum=1) for v in size)
    w0, h0 = im.size
    steps = [f"{w0} x {h0}"]
    # the largest centred box of aspect W/H (width x height, as Pillow counts)
    cw, ch = (w0, round(w0 * H / W)) if w0 * H <= h0 * W else (round(h0 * W / H), h0)
    if (cw, ch) != (w0, h0):
        left, top = (w0 - cw) // 2, (h0 - ch) // 2
        im = im.crop((left, top, left + cw, top + ch))
        steps.append(f"centre crop {cw} x {ch}")
    if (cw, ch) != (W, H):
        im = im.resize((W, H), Image.Resampling.BICUBIC)
        steps.append(f"bicubic resize to {W} x {H}")
    note = " -> ".join(steps) if len(steps) > 1 else f"{w0} x {h0}, used as is"
    return _to_array(im), note


def _check_image(x, name: str = "x") -> np.ndarray:
    """``x`` as a finite float64 (C, H, W) array with C = 1 or 3 and H, W >= 1 (values
    outside [-1, 1] are clipped when written); ``ValueError`` naming ``name`` otherwise."""
    from numerics.validate import as_array

    a = as_array(x, name, ndim=3)
    if a.shape[0] not in _MODES or min(a.shape[1:]) < 1:
        raise ValueError(
            f"{name}: expected a (C, H, W) image with C = 1 or 3 channels, got shape {a.shape}"
        )
    return a


def to_pil(x):
    """A (C, H, W) array in [-1, 1] (C = 1 or 3) as a Pillow image (``"L"`` or ``"RGB"``);
    values outside [-1, 1] are clipped. ``ValueError`` naming ``x`` for another shape, NaN
    or Inf."""
    from PIL import Image

    a = _check_image(x, "x")
    u = np.round((np.clip(a, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    if u.shape[0] == 1:
        return Image.fromarray(u[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(u.transpose(1, 2, 0)), mode="RGB")


def write_png(path, x) -> Path:
    """Write the (C, H, W) array ``x`` in [-1, 1] as a PNG, atomically (checked as
    :func:`to_pil`)."""
    im = to_pil(x)
    return atomic_write(path, lambda p: im.save(p, format="PNG"))


def read_measurement(path, out_shape, option: str = "--measurement") -> np.ndarray:
    """A measurement file as a float64 array ``[N, *out_shape]`` in [-1, 1] units.

    ``.npy`` (read with ``allow_pickle=False``): shape ``out_shape``, ``[N, *out_shape]``,
    or ``(H, W)`` for one channel, values in [-1, 1] units (the ``y.npy`` written by an
    ``--input`` run). ``.png`` / ``.jpg``: one image of exactly the measurement's size,
    pixel values mapped to [-1, 1].
    """
    from numerics.validate import check_int

    if isinstance(out_shape, (str, bytes)) or not hasattr(out_shape, "__len__") or len(out_shape) != 3:
        raise ValueError(f"out_shape: expected (C, H, W), got {out_shape!r:.40}")
    out = tuple(check_int(v, "out_shape", minimum=1) for v in out_shape)
    p = _path(path, "path")
    want = f"{' x '.join(map(str, out))} (C x H x W)"
    if not p.is_file():
        raise UsageError(
            f"{option}: {p} does not exist" if not p.exists() else f"{option}: {p} is not a file"
        )
    if p.suffix.lower() == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UsageError(f"{option}: cannot read {p} as a .npy array ({exc})") from None
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise UsageError(f"{option}: {p} holds {a.dtype} values, expected real numbers")
        a = a.astype(np.float64)
        if a.shape == out[1:] and out[0] == 1:
            a = a[None]
        if a.shape == out:
            a = a[None]
        if a.ndim != len(out) + 1 or a.shape[1:] != out or a.shape[0] < 1:
            raise UsageError(
                f"{option}: {p} has shape {list(a.shape)}, expected the measurement's {want} "
                "or a batch [N, C, H, W] of them"
            )
    elif p.suffix.lower() in IMAGE_SUFFIXES:
        a = _to_array(read_image(p, out[0], option))
        if a.shape != out:
            raise UsageError(
                f"{option}: {p} is {a.shape[2]} x {a.shape[1]} pixels, expected the "
                f"measurement's {out[2]} x {out[1]} (width x height)"
            )
        a = a[None]
    else:
        raise UsageError(f"{option}: {p}: expected a .npy, .png or .jpg file")
    if not np.isfinite(a).all():
        raise UsageError(f"{option}: {p} contains NaN or Inf")
    return a


def _to_array(im) -> np.ndarray:
    """A Pillow ``"L"``/``"RGB"`` image as a (C, H, W) float64 array in [-1, 1]."""
    a = np.asarray(im, dtype=np.float64) / 255.0 * 2.0 - 1.0
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
