"""Progress of a restoration run: a tqdm bar (optional) and one up-front time estimate.

The logic lives in :mod:`numerics.progress` (shared by every long command); this module keeps
restore's names: :class:`Progress` is :class:`numerics.progress.Progress` with the prefix
``restore``, e.g. ``restore: sampling 88 chains x 1000 steps: about 2 h 5 min left
(estimated from the first 3.0 s)`` (one unit = one chain advanced by one reverse step).
"""

from __future__ import annotations

from numerics import progress as _progress
from numerics.progress import ANNOUNCE_S, CALIBRATION_S, format_seconds

__all__ = ["ANNOUNCE_S", "CALIBRATION_S", "Progress", "format_seconds"]


class Progress(_progress.Progress):
    """:class:`numerics.progress.Progress` with ``prog="restore"`` by default."""

    def __init__(self, total: int, what: str, *, bar: bool, prog: str = "restore", desc=None):
        super().__init__(total, what, bar=bar, prog=prog, desc=desc)
