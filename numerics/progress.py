"""Time estimates of long runs: one line, up front, on stderr (torch-free; every command uses it).

:class:`Progress` counts units of work (e.g. one chain advanced by one reverse step, one
training iteration). Once the first units have run for :data:`CALIBRATION_S` seconds (or a
tenth of the work is done), it prints **one** line with the estimated time left, e.g.
``restore: sampling 88 chains x 1000 steps: about 2 h 5 min left (estimated from the first
3.0 s)``, when that estimate exceeds :data:`ANNOUNCE_S` seconds; an optional tqdm bar
(``bar=True``) keeps its running estimate. :func:`announce` prints the same kind of line
for a time known (or measured) up front, e.g. a wall-time budget. Lines go to stderr through
``tqdm.write``, so running bars are not broken and results never depend on them. Short runs
print nothing.

The estimate is the time of the units measured so far times the units left: it is the time
on *this* machine under its *present* load (a run that shares its cores with other jobs can
take several times its unloaded time).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from numerics.validate import as_scalar

__all__ = ["ANNOUNCE_S", "CALIBRATION_S", "Progress", "announce", "format_seconds"]

#: Seconds of work the estimate is measured over (or a tenth of the work, if sooner).
CALIBRATION_S = 2.0

#: Runs estimated to take longer than this many seconds announce their time left.
ANNOUNCE_S = 30.0


def _text(x, name: str) -> str:
    if not isinstance(x, str):
        raise TypeError(f"{name}: expected a string, got {type(x).__name__}")
    return x


def _count(x, name: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {x!r}")
    return int(x)


def _seconds(x, name: str) -> float:
    val = as_scalar(x, name)
    if not (math.isfinite(val) and val >= 0):
        raise ValueError(f"{name}: expected a finite number of seconds >= 0, got {val!r}")
    return val


def format_seconds(s: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``.

    Examples
    --------
    >>> format_seconds(44.6), format_seconds(200), format_seconds(7500)
    ('45 s', '3 min 20 s', '2 h 5 min')
    """
    s = int(round(_seconds(s, "s")))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def _write(line: str, bar=None) -> None:
    """One line to stderr without breaking a tqdm bar (``bar``'s, or any running one)."""
    if bar is not None:
        bar.write(line, file=sys.stderr)
        return
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
    sys.stderr.flush()


def announce(prog: str, what: str, seconds: float, basis: str, *, bar=None) -> bool:
    """Print ``"<prog>: <what>: about <seconds> left (<basis>)"`` to stderr when
    ``seconds`` exceeds :data:`ANNOUNCE_S`; returns whether it printed.

    Parameters
    ----------
    prog : str
        The command (prefix of the line).
    what : str
        The work, e.g. ``"training 3000 iterations"``.
    seconds : float
        Estimated seconds left.
    basis : str
        Where the estimate comes from, e.g. ``"the --minutes budget"``.
    bar : tqdm bar, optional
        Write through this bar.

    Examples
    --------
    >>> announce("demo", "waiting", 1.0, "a guess")  # short: nothing printed
    False
    """
    prog, what, basis = _text(prog, "prog"), _text(what, "what"), _text(basis, "basis")
    if not _seconds(seconds, "seconds") > ANNOUNCE_S:
        return False
    _write(f"{prog}: {what}: about {format_seconds(seconds)} left ({basis})", bar)
    return True


class Progress:
    """Counts ``total`` units; one up-front time estimate and an optional bar (module notes).

    Parameters
    ----------
    total : int
        Units of work (e.g. chains x steps, or iterations).
    what : str
        The work, for the estimate line (e.g. ``"88 chains x 1000 steps"``).
    bar : bool
        Show a tqdm bar.
    prog : str
        Prefix of the estimate line (the command).
    desc : str, optional
        The bar's label (default ``what``).
    verb : str
        What is done to ``what`` (``"sampling"``, ``"training"``, ...).
    budget_s : float, optional
        The run stops after this many seconds anyway (a wall-time budget counted from the
        construction of this object): the estimate is capped by what is left of it.

    Examples
    --------
    >>> p = Progress(100, "100 steps", bar=False, prog="demo")
    >>> for _ in range(100):
    ...     p.update(1)  # fast: no line printed
    >>> p.done, p.announced
    (100, True)
    """

    def __init__(
        self,
        total: int,
        what: str,
        *,
        bar: bool,
        prog: str,
        desc=None,
        verb: str = "sampling",
        budget_s: float | None = None,
    ):
        self.total, self.what = _count(total, "total"), _text(what, "what")
        self.prog, self.verb = _text(prog, "prog"), _text(verb, "verb")
        if not isinstance(bar, (bool, np.bool_)):
            raise TypeError(f"bar: expected True or False, got {type(bar).__name__}")
        if desc is not None:
            _text(desc, "desc")
        self.budget_s = None if budget_s is None else _seconds(budget_s, "budget_s")
        self.done = 0
        self.t_made = time.perf_counter()
        self.t0: float | None = None
        self.announced = False
        self.bar = None
        if bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=desc or what, unit="step")

    def update(self, n: int) -> None:
        """``n`` more units done (call it after every unit, e.g. every reverse step)."""
        n = _count(n, "n")
        now = time.perf_counter()
        if self.t0 is None:  # the clock starts at the first finished unit (no loading time)
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
            if self.budget_s is not None:
                left = min(left, max(self.budget_s - (now - self.t_made), 0.0))
            announce(
                self.prog,
                f"{self.verb} {self.what}",
                left,
                f"estimated from the first {elapsed:.1f} s",
                bar=self.bar,
            )

    def write(self, line: str) -> None:
        """Print one line to stderr without breaking the bar."""
        _write(_text(line, "line"), self.bar)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
