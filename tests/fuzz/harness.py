"""Run one call under a time limit and classify what came back.

A call passes when it either

* returns a result whose every float is finite (walking tuples, lists, dicts, arrays,
  tensors, dataclasses, modules' state and project objects' attributes), and the argument it
  was given was not invalid by definition (:attr:`Nonsense.must_reject`), or
* raises ``ValueError`` / ``TypeError`` (or a subclass) whose message names the argument,
  or an exception the registry entry documents (``ok_errors``, e.g. the sampler's
  ``DivergenceError``), or, for a path argument, an ``OSError`` that names the argument or
  the path.

Everything else is one of the failure kinds of :data:`FAILURES`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import resource
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tests.fuzz.kinds import Nonsense, infer_kind

#: Seconds one call may take before it counts as a hang (``heavy`` entries: HEAVY_LIMIT).
TIME_LIMIT = 5.0
HEAVY_LIMIT = 30.0

FAILURES = {
    "nonfinite": "silent NaN/Inf in the result",
    "accepted": "silent wrong result (invalid argument accepted, or complex part dropped)",
    "wrong-exception": "wrong exception type",
    "unnamed": "ValueError/TypeError not naming the argument",
    "hang": "no answer within the time limit",
}
PASSES = ("ok-result", "ok-error")

#: Other spellings a message may use for an argument.
ALIASES = {"eta": ("η",), "etas": ("--eta",), "sigma_y": ("σ_y", "σ"), "zeta": ("ζ",)}

PATH_KINDS = ("infile", "indir", "outfile", "outdir")


class K:
    """A registry value with an explicit kind (``K(S, "cov")``); ``K(v, None)`` is not fuzzed."""

    def __init__(self, value, kind: str | None, **opts):
        self.value, self.kind, self.opts = value, kind, opts


def fixed(value):
    """A value that is passed as it is and never fuzzed (e.g. a message label)."""
    return K(value, None)


@dataclass
class Call:
    """A valid call of an entry point: ``fn(*args, **kwargs)``, then ``then(result)``."""

    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    then: Callable | None = None
    ok_errors: tuple = ()
    cleanup: Callable | None = None
    view: Callable | None = (
        None  # the part of the result to check (documented non-finite parts cut)
    )


def call(fn, *args, then=None, ok_errors=(), cleanup=None, view=None, **kwargs) -> Call:
    """A :class:`Call`; the keywords of ``call`` itself are ``then`` (a probe run on the result,
    e.g. methods of a constructed object), ``ok_errors`` (documented exceptions), ``cleanup``
    (undo side effects) and ``view`` (the part of the result to check)."""
    return Call(fn, args, kwargs, then=then, ok_errors=tuple(ok_errors), cleanup=cleanup, view=view)


# --------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class Param:
    """One fuzzable argument: its name (a ``**kwargs`` key counts as a name) and kind."""

    name: str
    kind: str
    container: str | None = None  # the **kwargs parameter holding it


def _unwrap(v):
    return v.value if isinstance(v, K) else v


def bound_arguments(c: Call):
    sig = inspect.signature(c.fn)
    return sig, sig.bind(*c.args, **c.kwargs)


def params_of(c: Call) -> list[tuple[Param, object, dict]]:
    """(Param, valid value, kind options) for every fuzzable argument of the call."""
    sig, b = bound_arguments(c)
    out = []
    for name, value in b.arguments.items():
        p = sig.parameters[name]
        if p.kind is p.VAR_POSITIONAL:
            continue
        items = value.items() if p.kind is p.VAR_KEYWORD else [(name, value)]
        for key, v in items:
            if isinstance(v, K):
                kind, val, opts = v.kind, v.value, v.opts
            else:
                kind, val, opts = infer_kind(v), v, {}
            if kind is None:
                continue
            cont = name if p.kind is p.VAR_KEYWORD else None
            out.append((Param(key, kind, cont), val, opts))
    return out


def realise(c: Call, param: Param | None = None, value=None):
    """``(args, kwargs)`` with every wrapper removed and ``param`` replaced by ``value``."""
    sig, b = bound_arguments(c)
    arguments = {}
    for name, v in b.arguments.items():
        p = sig.parameters[name]
        if p.kind is p.VAR_KEYWORD:
            arguments[name] = {k: _unwrap(x) for k, x in v.items()}
        elif p.kind is p.VAR_POSITIONAL:
            arguments[name] = tuple(_unwrap(x) for x in v)
        else:
            arguments[name] = _unwrap(v)
    if param is not None:
        if param.container is not None:
            arguments[param.container][param.name] = value
        else:
            arguments[param.name] = value
    b2 = inspect.BoundArguments(sig, arguments)
    return b2.args, b2.kwargs


# --------------------------------------------------------------------------- walking results
def first_nonfinite(obj, path: str = "result", depth: int = 0, seen=None) -> str | None:
    """Where the first non-finite float of ``obj`` is, or None."""
    if seen is None:
        seen = set()
    if depth > 6 or id(obj) in seen:
        return None
    if isinstance(obj, (bool, int, str, bytes, Path, type(None), np.bool_, np.integer)):
        return None
    if isinstance(obj, (float, np.floating)):
        return None if math.isfinite(obj) else path
    if isinstance(obj, (complex, np.complexfloating)):
        return None if (math.isfinite(obj.real) and math.isfinite(obj.imag)) else path
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return None if bool(np.all(np.isfinite(obj))) else path
        if obj.dtype.kind == "O":
            for i, v in enumerate(obj.reshape(-1)):
                r = first_nonfinite(v, f"{path}[{i}]", depth + 1, seen)
                if r:
                    return r
        return None
    if isinstance(obj, torch.Tensor):
        if obj.is_meta or not (obj.is_floating_point() or obj.is_complex()):
            return None
        return None if bool(torch.isfinite(obj.detach()).all()) else path
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k, v in obj.items():
            r = first_nonfinite(v, f"{path}[{k!r}]", depth + 1, seen)
            if r:
                return r
        return None
    if isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            r = first_nonfinite(v, f"{path}[{i}]", depth + 1, seen)
            if r:
                return r
        return None
    if isinstance(obj, torch.nn.Module):
        return first_nonfinite(dict(obj.state_dict()), f"{path}.state_dict()", depth + 1, seen)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        vals = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return first_nonfinite(vals, path, depth + 1, seen)
    mod = getattr(type(obj), "__module__", "") or ""
    if mod.split(".")[0] in ("numerics", "diffusion") and hasattr(obj, "__dict__"):
        vals = {
            k: v for k, v in vars(obj).items() if not callable(v) or isinstance(v, torch.nn.Module)
        }
        return first_nonfinite(vals, path, depth + 1, seen)
    return None


# --------------------------------------------------------------------------- running
class Hang(BaseException):
    """Raised by the alarm when a call runs past :data:`TIME_LIMIT` (not an Exception, so
    library code that catches Exception cannot swallow it)."""


def _on_alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    status: str  # one of PASSES or FAILURES
    detail: str

    @property
    def failed(self) -> bool:
        return self.status in FAILURES


def _names(param: str) -> list[str]:
    """The spellings that name ``param``: itself, its :data:`ALIASES`, and its command-line
    option (``sigma_y`` -> ``--sigma-y``: a config whose fields are a command's options, e.g.
    ``RestoreConfig``, names the option, one line for the command and the library alike)."""
    return [param, *ALIASES.get(param, ()), "--" + param.replace("_", "-")]


def _message_names(msg: str, param: str) -> bool:
    low = msg.lower()
    for n in _names(param):
        if re.search(rf"(?<![\w]){re.escape(n.lower())}(?![\w])", low):
            return True
    return False


def _complex_dropped(caught) -> bool:
    for w in caught:
        if issubclass(w.category, np.exceptions.ComplexWarning):
            return True
        if "discards the imaginary part" in str(w.message):
            return True
    return False


#: Address space a call may add (bytes): a nonsense count that makes the library allocate
#: tens of GB then fails with MemoryError instead of waking the OOM killer on a shared machine.
MEMORY_HEADROOM = 4 * 2**30


def _vsize() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def run_with_limit(fn: Callable[[], object], limit: float = TIME_LIMIT):
    """``fn()`` under a wall-clock limit (:class:`Hang`) and an address-space cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vsize() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old)


def classify(
    c: Call, param: Param | None, nonsense: Nonsense | None, value, limit: float = TIME_LIMIT
) -> Outcome:
    """Call ``c`` with ``param`` replaced by ``value`` (None: the valid call) and judge it."""
    args, kwargs = realise(c, param, value) if param is not None else realise(c)

    def body():
        out = c.fn(*args, **kwargs)
        if c.view is not None:
            out = c.view(out)
        if c.then is not None:
            out = (out, c.then(out))
        return out

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run_with_limit(body, limit)
        except Hang:
            return Outcome("hang", f"no answer in {limit:g} s")
        except Exception as exc:  # noqa: BLE001 - classifying is the point
            return _judge_error(c, param, nonsense, value, exc)
        finally:
            if c.cleanup is not None:
                c.cleanup()
    where = first_nonfinite(result)
    if where is not None:
        return Outcome("nonfinite", f"non-finite value at {where}")
    if _complex_dropped(caught):
        return Outcome("accepted", "complex input accepted, imaginary part dropped (warning only)")
    if nonsense is not None and nonsense.must_reject:
        return Outcome("accepted", "invalid value accepted without an error")
    return Outcome("ok-result", "finite result")


def _judge_error(
    c: Call, param: Param | None, nonsense: Nonsense | None, value, exc: BaseException
) -> Outcome:
    name = type(exc).__name__
    msg = " ".join(str(exc).split())[:200]
    if c.ok_errors and isinstance(exc, c.ok_errors):
        return Outcome("ok-error", f"{name} (documented): {msg}")
    if param is None:
        return Outcome("wrong-exception", f"valid call raised {name}: {msg}")
    is_path = param.kind in PATH_KINDS
    if not isinstance(exc, (ValueError, TypeError)) and not (is_path and isinstance(exc, OSError)):
        return Outcome("wrong-exception", f"{name}: {msg}")
    text = str(exc)
    names = [param.name]
    if nonsense is not None and nonsense.relational:
        names += [p.name for p, _v, _o in params_of(c)] + list(nonsense.related)
    if any(_message_names(text, n) for n in names):
        return Outcome("ok-error", f"{name}: {msg}")
    if is_path and isinstance(value, (str, Path)) and str(value) in text:
        return Outcome("ok-error", f"{name} (names the path): {msg}")
    return Outcome("unnamed", f"{name} not naming {param.name!r}: {msg}")


class TmpDir:
    """A fresh temporary folder per call (``with TmpDir() as tmp``)."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="fuzz-"))
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
