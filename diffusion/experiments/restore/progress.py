"""Progress of a restoration run: a tqdm bar (optional) and one up-front time estimate.

:class:`Progress` counts units of work (one unit = one chain advanced by one reverse step).
Once the first units have run for :data:`CALIBRATION_S` seconds (or a tenth of the work is
done), it prints **one** line with the estimated sampling time left, e.g.
``restore: sampling 88 chains x 1000 steps: about 2 h 5 min left (from the first 3.0 s)``,
when that estimate exceeds :data:`ANNOUNCE_S` seconds; the bar itself (``progress=True``)
keeps its running estimate. The line goes to stderr (through ``tqdm.write`` when a bar is
shown), so results and their files never depend on it.
"""

from __future__ import annotations

import sys
import time

__all__ = ["ANNOUNCE_S", "CALIBRATION_S", "Progress", "format_seconds"]

#: Seconds of sampling the estimate is measured over (or a tenth of the work, if sooner).
CALIBRATION_S = 2.0

#: Runs estimated to take longer than this many seconds announce their time left.
ANNOUNCE_S = 30.0


def format_seconds(s: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``.

    Examples
    --------
    >>> format_seconds(44.6), format_seconds(200), format_seconds(7500)
    ('45 s', '3 min 20 s', '2 h 5 min')
    """
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


class Progress:
    """A bar over ``total`` units and the one-line time estimate (see the module notes).

    Parameters
    ----------
    total : int
        Units of work (chains x steps).
    what : str
        What is being sampled, for the estimate line (e.g. ``"88 chains x 1000 steps"``).
    bar : bool
        Show a tqdm bar.
    prog : str
        Prefix of the estimate line.
    """

    def __init__(self, total: int, what: str, *, bar: bool, prog: str = "restore", desc=None):
        self.total, self.what, self.prog = int(total), what, prog
        self.done = 0
        self.t0: float | None = None
        self.announced = False
        self.bar = None
        if bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=desc or what, unit="step")

    def update(self, n: int) -> None:
        """``n`` more units done (called after every reverse step of a batch)."""
        now = time.perf_counter()
        if self.t0 is None:  # the clock starts at the first finished step (no loading time)
            self.t0 = now
            self._first = n
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.announced:
            return
        elapsed, timed = now - self.t0, self.done - self._first
        if timed > 0 and (elapsed >= CALIBRATION_S or self.done * 10 >= self.total):
            self.announced = True
            left = elapsed / timed * (self.total - self.done)
            if left > ANNOUNCE_S:
                self.write(
                    f"{self.prog}: sampling {self.what}: about {format_seconds(left)} left "
                    f"(estimated from the first {elapsed:.1f} s)"
                )

    def write(self, line: str) -> None:
        """Print one line to stderr without breaking the bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
