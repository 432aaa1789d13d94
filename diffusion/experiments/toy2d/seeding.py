r"""Named random streams of the 2-D experiment: one seed per (run seed, data set, purpose, ...).

Every data stream, network initialisation and chain of ``python -m diffusion.toy2d`` draws
from its own stream, derived from the run's ``--seed`` and a tuple of names:

.. math::

    \text{seed}(s, n_1, \dots, n_k) = \text{SeedSequence}\big([s \bmod 2^{32},
    \operatorname{crc32}(\text{str}(n_1)), \dots]\big)\text{.generate\_state}(1)[0],

so a stream does not depend on which other streams were drawn before it (a resumed run draws
exactly what an uninterrupted one does). The arithmetic is part of the results: changing it
changes every number.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from numerics.validate import check_int

__all__ = ["derive_generator", "derive_rng", "derive_seed"]


def derive_seed(seed: int, *names) -> int:
    """A 32-bit seed for the stream ``names`` of run ``seed`` (names go through ``str``).

    Examples
    --------
    >>> derive_seed(0, "pinwheel", "train")
    3493106971
    >>> derive_seed(0, "pinwheel", "ours", 0.5)
    1910540596
    """
    words = [check_int(seed, "seed") & 0xFFFFFFFF] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def derive_rng(seed: int, *names) -> np.random.Generator:
    """``numpy.random.default_rng(derive_seed(seed, *names))``."""
    return np.random.default_rng(derive_seed(seed, *names))


def derive_generator(seed: int, *names) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(seed, *names)``."""
    return torch.Generator().manual_seed(derive_seed(seed, *names))
