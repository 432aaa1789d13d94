r"""The paper's measurement operators by name, at 256 px and scaled to smaller images.

:func:`paper_operator` builds the operators of the paper's experiments (after DPS, at
256 x 256) for any image size; :data:`PAPER_OPERATORS` lists them with their settings at 256 px
(the docs' operators table).
"""

from __future__ import annotations

from types import MappingProxyType

from diffusion.operators.base import LinearOperator, _as_int
from diffusion.operators.bicubic import BicubicSR
from diffusion.operators.fft_blur import BOUNDARIES, FFTGaussianBlur, MotionBlur
from diffusion.operators.inpainting import Inpainting, box_mask
from diffusion.operators.masks import RandomInpainting, _pair, centre_box
from diffusion.operators.sr import AveragePoolSR

__all__ = ["PAPER_OPERATORS", "paper_operator", "scaled_blur"]

#: Operator name -> its setting at 256 x 256 (read-only).
PAPER_OPERATORS = MappingProxyType(
    {
        "deblur_gauss": "Gaussian blur, 61 x 61 kernel, std 3.0 px, by FFT",
        "deblur_motion": "motion blur, seeded random 61 x 61 camera-shake kernel, intensity 0.5, "
        "by FFT",
        "sr4": "super-resolution x4, 4 x 4 average pooling",
        "sr8": "super-resolution x8, 8 x 8 average pooling",
        "sr4_bicubic": "super-resolution x4, antialiased bicubic downsampling",
        "sr8_bicubic": "super-resolution x8, antialiased bicubic downsampling",
        "inpaint_box": "box inpainting, the centred 128 x 128 box missing",
        "inpaint_random70": "random inpainting, 70 % of the pixels missing (all channels)",
        "inpaint_random92": "random inpainting, 92 % of the pixels missing (all channels)",
    }
)

_REFERENCE_SIZE = 256


def scaled_blur(side: int) -> tuple[int, float]:
    r"""``(kernel_size, std)`` of the blurs for an image side of ``side`` pixels.

    The paper's 61 x 61, std 3.0 px at 256 px, scaled by :math:`r = \text{side}/256` but never
    below the patch-scale blur of ``python -m diffusion.restore`` (9 x 9, std 1.5 px):

    .. math::

        \text{kernel\_size} = \max(2\,\mathrm{round}((61 r - 1)/2) + 1,\ 9), \qquad
        \text{std} = \max(3 r,\ 1.5).

    Examples
    --------
    >>> scaled_blur(256), scaled_blur(128), scaled_blur(64), scaled_blur(16)
    ((61, 3.0), (31, 1.5), (15, 1.5), (9, 1.5))
    """
    side = _as_int(side, "side", minimum=1)
    r = side / _REFERENCE_SIZE
    return max(2 * round((61 * r - 1) / 2) + 1, 9), max(3.0 * r, 1.5)


def paper_operator(
    name: str, size, channels: int, seed: int = 0, *, boundary: str = "reflect"
) -> LinearOperator:
    r"""The paper's operator ``name`` for ``[B, channels, H, W]`` images.

    At 256 x 256 these are the paper's (DPS's) settings, :data:`PAPER_OPERATORS`. Scaling
    rule for other sizes (``side = min(H, W)``):

    - blurs: kernel size and std from :func:`scaled_blur` (61 / 3.0 at 256, 31 / 1.5 at 128,
      15 / 1.5 at 64, 9 / 1.5 at 16); the motion kernel keeps intensity 0.5 and is drawn with
      ``seed``. Applied by FFT with ``boundary`` (default ``"reflect"``, the DPS forward map;
      ``"circular"`` gives a closed-form :meth:`~LinearOperator.prox_l2`, the others use
      conjugate gradients);
    - super-resolution: the factor stays 4 or 8 (``H`` and ``W`` must be divisible by it);
      ``sr*`` is :class:`~diffusion.operators.AveragePoolSR`, ``sr*_bicubic``
      :class:`~diffusion.operators.BicubicSR`;
    - box inpainting: the centred ``(H // 2) x (W // 2)`` box (128 x 128 at 256, the central
      quarter of the pixels, as the patch-scale task of ``diffusion.restore``);
    - random inpainting: the same fraction (0.70, 0.92) of the pixels, the mask drawn with
      ``seed`` (:class:`~diffusion.operators.RandomInpainting`, same mask in every channel).

    Parameters
    ----------
    name : str
        A key of :data:`PAPER_OPERATORS`.
    size : int or (H, W) tuple of int
    channels : int >= 1
    seed : int >= 0
        Motion kernel and random mask; unused by the other operators.
    boundary : {"reflect", "circular", "zero"}
        Blur boundary handling (see :class:`~diffusion.operators.FFTBlur`).

    Examples
    --------
    >>> paper_operator("deblur_gauss", 256, 3)
    FFTGaussianBlur(kernel_size=61, std=3.0, in_shape=(3, 256, 256), boundary='reflect')
    >>> paper_operator("inpaint_box", 256, 3).mask[0].sum().item() == 256**2 - 128**2
    True
    >>> paper_operator("sr8_bicubic", (64, 32), 1).out_shape
    (1, 8, 4)
    """
    if name not in PAPER_OPERATORS:
        raise ValueError(f"name: expected one of {', '.join(PAPER_OPERATORS)}, got {name!r}")
    H, W = _pair(size, "size")
    shape = (_as_int(channels, "channels", minimum=1), H, W)
    seed = _as_int(seed, "seed", minimum=0)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
    kernel_size, std = scaled_blur(min(H, W))
    if name == "deblur_gauss":
        return FFTGaussianBlur(kernel_size, std, shape, boundary=boundary)
    if name == "deblur_motion":
        return MotionBlur(kernel_size, 0.5, shape, seed=seed, boundary=boundary)
    if name.startswith("sr"):
        factor = int(name[2])
        return (BicubicSR if name.endswith("bicubic") else AveragePoolSR)(factor, shape)
    if name == "inpaint_box":
        return Inpainting(box_mask(shape, centre_box((H, W), (H // 2, W // 2))))
    return RandomInpainting(shape, int(name[len("inpaint_random") :]) / 100, seed=seed)
