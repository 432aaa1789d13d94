"""The measurement tasks of :mod:`diffusion.restore`: which operator ``A``.

:data:`TASKS` are the patch-scale tasks (the paper's 61 x 61 / std 3.0 blur and x8
super-resolution at 256 px, scaled to 16 px), run on the data sets and on your own images.
:data:`PAPER_TASKS` are the paper's operators of :func:`diffusion.operators.paper_operator`
(at 256 px the paper's settings, scaled for other sizes), run on your own images only
(``--input`` / ``--measurement``); :data:`FILES_TASKS` is both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from numerics.cli import UsageError

__all__ = ["FILES_TASKS", "PAPER_TASKS", "TASKS", "Task"]


@dataclass(frozen=True)
class Task:
    """A measurement task at patch scale.

    Attributes
    ----------
    name : str
    description : str
        The settings, as stated in the docs.
    make : callable ``(in_shape, data="patches", seed=0) -> LinearOperator``
        ``seed`` draws the motion kernel / random mask of the paper's operators; the
        patch-scale tasks ignore it.
    factor : int
        Side lengths must be divisible by it (SR factor; 1 otherwise).
    """

    name: str
    description: str
    make: Callable
    factor: int = 1

    def check_size(self, size: int) -> None:
        """Raise :class:`~numerics.cli.UsageError` (naming ``--patch-size``) unless the
        image side ``size`` is divisible by :attr:`factor`; ``ValueError`` / ``TypeError``
        naming ``size`` unless it is an integer >= 1."""
        from numerics.validate import check_int

        size = check_int(size, "size", minimum=1)
        if size % self.factor:
            raise UsageError(
                f"--patch-size: image size {size} is not divisible by the SR factor "
                f"{self.factor} of task {self.name}"
            )


def _deblur(shape, data: str = "patches", seed: int = 0):
    from diffusion.operators import GaussianBlur

    if data == "digits":  # strokes ~2 px wide: the PSCGAN baseline's operator
        return GaussianBlur(5, 1.0, shape, boundary="reflect")
    return GaussianBlur(9, 1.5, shape, boundary="reflect")


def _sr(factor):
    def make(shape, data: str = "patches", seed: int = 0):
        from diffusion.operators import AveragePoolSR

        return AveragePoolSR(factor, shape)

    return make


def _inpaint(shape, data: str = "patches", seed: int = 0):
    from diffusion.operators import Inpainting, box_mask

    _, H, W = shape
    return Inpainting(box_mask(shape, (H // 4, W // 4, H // 2, W // 2)))


#: The tasks (``--task NAME``), read-only.
TASKS = MappingProxyType(
    {
        "deblur": Task(
            "deblur",
            "Gaussian blur, 9 x 9 kernel, std 1.5 px (digits: 5 x 5, std 1.0 px), reflect boundary",
            _deblur,
        ),
        "sr2": Task("sr2", "super-resolution x2 (2 x 2 average pooling)", _sr(2), 2),
        "sr4": Task("sr4", "super-resolution x4 (4 x 4 average pooling)", _sr(4), 4),
        "inpaint": Task(
            "inpaint",
            "box inpainting: the central (H/2) x (W/2) box missing (1/4 of pixels)",
            _inpaint,
        ),
    }
)


def _paper(name: str):
    def make(shape, data: str = "patches", seed: int = 0):
        from diffusion.operators import paper_operator

        C, H, W = shape
        return paper_operator(name, (H, W), C, seed=seed)

    return make


def _paper_tasks() -> dict:
    from diffusion.operators.paper import PAPER_OPERATORS

    return {
        name: Task(
            name,
            f"{description} (at 256 px; scaled to the prior's size)",
            _paper(name),
            int(name[2]) if name.startswith("sr") else 1,
        )
        for name, description in PAPER_OPERATORS.items()
        if name not in TASKS  # sr4: the patch-scale task is the same operator
    }


#: The paper's operators as tasks (``--task NAME`` with ``--input`` / ``--measurement``),
#: read-only: ``deblur_gauss``, ``deblur_motion``, ``sr8``, ``sr4_bicubic``, ``sr8_bicubic``,
#: ``inpaint_box``, ``inpaint_random70``, ``inpaint_random92`` (``sr4`` is in :data:`TASKS`).
PAPER_TASKS = MappingProxyType(_paper_tasks())

#: Every task of a ``--input`` / ``--measurement`` run: :data:`TASKS` and :data:`PAPER_TASKS`.
FILES_TASKS = MappingProxyType({**TASKS, **PAPER_TASKS})
