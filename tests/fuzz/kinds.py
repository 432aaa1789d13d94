"""Nonsense of each kind of argument, built from the valid value it replaces.

A *kind* names what an argument means (an η, a covariance, a count, a tensor, a path to
read...). For each kind, :func:`canonical` lists the fixed families every run tries (η
outside [0, 1], NaN/Inf, huge 1e300 and tiny 1e-300 finite values, zero/negative σ,
non-SPD / singular / non-symmetric / complex covariances, mismatched shapes, wrong dtypes
and devices, empty batches, T = 0/1 schedules, non-callables for callables, unreadable
files...) and :func:`strategy` adds hypothesis-drawn variations of them.

Each :class:`Nonsense` says whether it is *invalid by definition* (``must_reject``): an η of
1.5, a σ of 0, a non-symmetric covariance, a fractional count, an unknown choice, a
non-callable callable. A call that accepts such a value without an error is a silent wrong
result, even when what it returns is finite. Values that are merely extreme (1e300, an
integer dtype, a singular covariance) may be accepted, as long as every float that comes
back is finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

from numerics.schedule import Schedule, linear_schedule


@dataclass(frozen=True)
class Nonsense:
    """One replacement value: ``make(tmp)`` builds it (fresh per call, files under ``tmp``)."""

    label: str
    make: Callable[[Path], object]
    must_reject: bool

    @property
    def relational(self) -> bool:
        """Wrong only relative to another argument (a shape mismatch, a T too small for the
        time index): an error naming any argument of the call is then a clear message."""
        return any(self.label.startswith(r) for r in RELATIONAL)


    @property
    def related(self) -> tuple[str, ...]:
        """Names a relational family may be blamed under besides the call's own arguments:
        a schedule too short is wrong relative to the time index a probe then asks for."""
        return TIME_NAMES if self.label.startswith("T = ") else ()


#: The spellings of a time index in the library's messages.
TIME_NAMES = ("t", "t_model", "k")

#: Labels of the relational families (see :attr:`Nonsense.relational`).
RELATIONAL = (
    "shape mismatch",
    "extra leading axis",
    "one more weight",
    "one component fewer",
    "shape (d+1, d+1)",
    "T = 1",
    "T = 0",
    "batch of wrong length",
    "one axis more",
)


def _n(label, make, must=False):
    return Nonsense(label, make, must)


def _const(label, value, must=False):
    return Nonsense(label, lambda tmp, v=value: v, must)


# --------------------------------------------------------------------------- helpers
def _copy(a):
    return a.clone() if isinstance(a, torch.Tensor) else np.array(a, copy=True)


def _set_flat(a, i, v):
    a = _copy(a)
    if isinstance(a, torch.Tensor):
        a.view(-1)[i] = v
    else:
        a.reshape(-1)[i] = v
    return a


def _huge(a):
    if isinstance(a, torch.Tensor):
        big = torch.finfo(a.dtype).max / 10 if a.is_floating_point() else 2**62
        return torch.where(a == 0, torch.full_like(a, big), a.sign() * big)
    a = np.asarray(a, dtype=np.float64)
    return np.where(a == 0, 1e300, np.sign(a) * 1e300)


def _tiny(a):
    if isinstance(a, torch.Tensor):
        t = torch.finfo(a.dtype).tiny if a.is_floating_point() else 1
        return a * t
    return np.asarray(a, dtype=np.float64) * 1e-300


def _wider(a):
    """One more entry along the last axis (a shape mismatch with the other arguments)."""
    if isinstance(a, torch.Tensor):
        if a.ndim == 0:
            return torch.stack([a, a])
        return torch.cat([a, a[..., :1]], dim=-1)
    a = np.asarray(a)
    if a.ndim == 0:
        return np.array([a, a])
    return np.concatenate([a, a[..., :1]], axis=-1)


def _extra_dim(a):
    return a[None] if isinstance(a, torch.Tensor) else np.asarray(a)[None]


def _empty(a):
    return a[:0] if getattr(a, "ndim", 0) >= 1 else (a.reshape(0) if hasattr(a, "reshape") else [])


# --------------------------------------------------------------------------- scalars
def _floats_common():
    return [
        _const("string", "abc", True),
        _const("complex", 0.5 + 0.5j, True),
    ]


def _scalar_float(valid, opts):
    return [
        _const("nan", math.nan),
        _const("inf", math.inf),
        _const("-inf", -math.inf),
        _const("huge 1e300", 1e300),
        _const("-1e300", -1e300),
        _const("tiny 1e-300", 1e-300),
        *_floats_common(),
    ]


def _sigma(valid, opts):
    return [_const("zero", 0.0, True), *_nonneg(valid, opts)]


def _nonneg(valid, opts):
    return [
        _const("negative", -1.0, True),
        _const("nan", math.nan, True),
        _const("inf", math.inf, True),
        _const("huge 1e300", 1e300),
        _const("tiny 1e-300", 1e-300),
        *_floats_common(),
    ]


def _prob(valid, opts):
    return [
        _const("negative", -0.1, True),
        _const("above 1", 1.1, True),
        _const("nan", math.nan, True),
        _const("inf", math.inf, True),
        *_floats_common(),
    ]


def _eta(valid, opts):
    out = [
        _const("eta -0.5", -0.5, True),
        _const("eta 1.5", 1.5, True),
        _const("nan", math.nan, True),
        _const("inf", math.inf, True),
        _const("string", "half", True),
        _const("complex", 0.5 + 0.5j, True),
    ]
    if isinstance(valid, torch.Tensor) and valid.ndim == 1:
        n = valid.shape[0]
        out += [
            _n(
                "batch of wrong length",
                lambda tmp, n=n: torch.full((n + 1,), 0.5, dtype=valid.dtype),
                True,
            ),
            _n("eta tensor with 1.5", lambda tmp: _set_flat(valid, 0, 1.5), True),
            _n("eta tensor with nan", lambda tmp: _set_flat(valid, 0, math.nan), True),
        ]
    elif isinstance(valid, np.ndarray) and valid.ndim == 1:
        n = valid.shape[0]
        out += [
            _n("batch of wrong length", lambda tmp, n=n: np.full(n + 1, 0.5), True),
            _n("eta array with 1.5", lambda tmp: _set_flat(valid, 0, 1.5), True),
        ]
    elif isinstance(valid, (list, tuple)):
        out = [
            _const("eta list with 1.5", [*valid[:-1], 1.5], True),
            _const("eta list with -0.5", [-0.5, *valid[1:]], True),
            _const("eta list with nan", [math.nan, *valid[1:]], True),
            _const("empty list", []),
            _const("string", "half", True),
        ]
    return out


def _count(valid, opts):
    return [
        _const("zero", 0),
        _const("negative", -1, True),
        _const("fractional", 2.5, True),
        _const("huge float 1e300", 1e300, True),
        _const("nan", math.nan, True),
        _const("string", "three", True),
    ]


def _index(valid, opts):
    return [
        _const("negative", -1, True),
        _const("out of range", 10**6, True),
        _const("fractional", 1.5, True),
        _const("nan", math.nan, True),
        _const("string", "one", True),
    ]


def _seed(valid, opts):
    return [
        _const("negative", -1, True),
        _const("2**70", 2**70),
        _const("fractional", 1.5, True),
        _const("nan", math.nan, True),
        _const("string", "zero", True),
    ]


def _int(valid, opts):
    return [
        _const("negative", -1),
        _const("fractional", 2.5, True),
        _const("nan", math.nan, True),
        _const("string", "three", True),
    ]


def _flag(valid, opts):
    return [_const("string 'no'", "no", True), _const("None", None)]


def _choice(valid, opts):
    return [
        _const("unknown", "bogus", True),
        _const("empty", "", True),
        _const("number", 3, True),
    ]


# --------------------------------------------------------------------------- arrays
def _array(valid, opts):
    a = np.asarray(valid)
    out = [
        _n("nan entry", lambda tmp: _set_flat(np.asarray(a, dtype=np.float64), 0, math.nan)),
        _n("inf entry", lambda tmp: _set_flat(np.asarray(a, dtype=np.float64), -1, math.inf)),
        _n("huge 1e300", lambda tmp: _huge(a)),
        _n("tiny 1e-300", lambda tmp: _tiny(a)),
        _n("shape mismatch (last axis + 1)", lambda tmp: _wider(a)),
        _n("extra leading axis", lambda tmp: _extra_dim(a)),
        _n("int dtype", lambda tmp: np.round(a).astype(np.int64)),
        _n("bool dtype", lambda tmp: a > 0),
        _n("complex", lambda tmp: a + 1j, True),
        _const("string", "abc", True),
        _const("None", None),
    ]
    if a.ndim >= 1:
        out.append(_n("empty batch", lambda tmp: a[:0]))
    return out


def _vector_list(valid, opts):
    """A list/tuple of numbers (e.g. etas, shrink factors)."""
    return [
        _const("nan entry", [math.nan, *list(valid)[1:]]),
        _const("huge entry", [1e300, *list(valid)[1:]]),
        _const("empty", []),
        _const("string", "abc", True),
        _const("nested", [list(valid)]),
    ]


def _weights(valid, opts):
    w = np.asarray(valid, dtype=np.float64)
    return [
        _n("negative weight", lambda tmp: _set_flat(w, 0, -0.5), True),
        _n("not summing to 1", lambda tmp: w * 2.0, True),
        _n("nan", lambda tmp: _set_flat(w, 0, math.nan), True),
        _n("empty", lambda tmp: w[:0], True),
        _n("one more weight", lambda tmp: np.append(w, 0.0)),
        _n("complex", lambda tmp: w + 0j + np.r_[1j, np.zeros(w.size - 1)], True),
        _const("string", "abc", True),
    ]


def _cov_family(S):
    d = S.shape[-1]
    lam = float(np.linalg.eigvalsh(S).max())
    E = np.zeros((d, d))
    if d > 1:
        E[0, 1] = 0.5 * lam + 1.0
    else:
        E[0, 0] = 0.0
    v = np.ones(d) / np.sqrt(d)
    fam = [
        ("non-symmetric", (S + E) if d > 1 else -S, True),
        ("indefinite", S - (lam + 1.0) * np.eye(d), True),
        ("singular", lam * np.outer(v, v), False),
        ("complex", S + 1j * (E - E.T) + (1j * np.eye(d) if d == 1 else 0), True),
        ("nan", _set_flat(S, 0, math.nan), True),
        ("inf", _set_flat(S, 0, math.inf), True),
        ("huge 1e300", S * 1e300, False),
        ("tiny 1e-300", S * 1e-300, False),
        ("shape (d+1, d+1)", np.eye(d + 1), False),
        ("not square", np.ones((d, d + 1)), True),
    ]
    return fam


def _cov(valid, opts):
    S = np.asarray(valid, dtype=np.float64)
    out = [Nonsense(lab, lambda tmp, m=m: m, must) for lab, m, must in _cov_family(S)]
    out.append(_const("string", "abc", True))
    return out


def _covs(valid, opts):
    C = np.asarray(valid, dtype=np.float64)
    out = []
    for lab, m, must in _cov_family(C[0]):
        if m.shape != C.shape[1:]:
            out.append(Nonsense(lab, lambda tmp, m=m: np.stack([m] * C.shape[0]), must))
            continue

        def mk(tmp, m=m):
            c = np.array(C, dtype=np.result_type(C, m))
            c[0] = m
            return c

        out.append(Nonsense(lab + " (component 0)", mk, must))
    out.append(_n("one component fewer", lambda tmp: C[1:] if len(C) > 1 else C[:0]))
    out.append(_const("string", "abc", True))
    return out


# --------------------------------------------------------------------------- tensors
def _tensor(valid, opts):
    x = valid
    out = [
        _n("string", lambda tmp: "abc", True),
        _n("numpy array instead of tensor", lambda tmp: x.detach().cpu().numpy().copy()),
        _n("meta device", lambda tmp: torch.empty_like(x, device="meta")),
        _n("None", lambda tmp: None),
        _n("shape mismatch (last axis + 1)", lambda tmp: _wider(x)),
        _n("extra leading axis", lambda tmp: _extra_dim(x)),
    ]
    if x.ndim >= 1:
        out.append(_n("empty batch", lambda tmp: x[:0].clone()))
    if x.is_floating_point():
        other = torch.float32 if x.dtype == torch.float64 else torch.float64
        out += [
            _n("nan entry", lambda tmp: _set_flat(x, 0, math.nan)),
            _n("inf entry", lambda tmp: _set_flat(x, -1, math.inf)),
            _n("huge (finfo.max / 10)", lambda tmp: _huge(x)),
            _n("tiny (finfo.tiny)", lambda tmp: _tiny(x)),
            _n("int64 dtype", lambda tmp: x.round().long()),
            _n("bool dtype", lambda tmp: x > 0),
            _n(
                "complex dtype",
                lambda tmp: torch.complex(x.double(), torch.ones_like(x.double())),
                True,
            ),
            _n(f"{other} dtype", lambda tmp: x.to(other)),
        ]
    else:  # integer tensors (labels, time indices)
        out += [
            _n("negative entry", lambda tmp: _set_flat(x, 0, -1), True),
            _n("float dtype", lambda tmp: x.double() + 0.5, True),
        ]
    return out


def _time(valid, opts):
    """A time index: an int or an int64 tensor [B]."""
    out = [
        _const("negative", -1, True),
        _const("out of range", 10**6, True),
        _const("fractional", 1.5, True),
        _const("string", "one", True),
        _n("float tensor", lambda tmp: torch.tensor(1.5), True),
        _n("bool tensor", lambda tmp: torch.tensor(True), True),
    ]
    if isinstance(valid, torch.Tensor) and valid.ndim == 1:
        out += [
            _n("batch of wrong length", lambda tmp: torch.cat([valid, valid[:1]])),
            _n("meta device", lambda tmp: torch.empty_like(valid, device="meta")),
        ]
    return out


# --------------------------------------------------------------------------- objects
def _schedule(valid, opts):
    from diffusion.schedule import TorchSchedule

    wrap = (lambda s: TorchSchedule(s)) if isinstance(valid, TorchSchedule) else (lambda s: s)
    return [
        _n("T = 1", lambda tmp: wrap(linear_schedule(1))),
        # No "T = 0" or "NaN beta" schedule here: Schedule itself refuses them (its
        # __post_init__, fuzzed as the entry numerics.schedule.Schedule), so no consumer
        # can be handed one.
        _const("string", "linear", True),
        _const("number", 42, True),
        _const("dict", {"T": 5}, True),
    ]


def _rng(valid, opts):
    return [
        _const("int", 42),
        _const("string", "x", True),
        _n("torch generator", lambda tmp: torch.Generator().manual_seed(0), True),
        _const("None", None),
    ]


def _generator(valid, opts):
    return [
        _const("int", 42),
        _const("string", "x", True),
        _n("numpy generator", lambda tmp: np.random.default_rng(0), True),
        _const("None", None),
    ]


def _callable(valid, opts):
    return [_const("int", 42, True), _const("string", "f", True), _const("None", None)]


def _model(valid, opts):
    """A denoiser ``model(x_t, t)``: non-callables, NaN outputs, wrong output shapes."""

    def nan_model(x, t, *a, **k):
        if isinstance(x, np.ndarray):
            return np.full_like(x, math.nan)
        return torch.full_like(x, math.nan)

    def shape_model(x, t, *a, **k):
        return x.reshape(x.shape[0], -1)[:, :-1]

    def numpy_model(x, t, *a, **k):
        if isinstance(x, np.ndarray):
            return torch.zeros(tuple(x.shape))
        return np.zeros(tuple(x.shape))

    return [
        _const("int", 42, True),
        _const("string", "f", True),
        _const("NaN output", nan_model),
        _const("wrong output shape", shape_model),
        _const("output of the other array library", numpy_model),
    ]


def _dtype(valid, opts):
    return [
        _const("int64", torch.int64, True),
        _const("bool", torch.bool, True),
        _const("complex128", torch.complex128),
        _const("string", "float32", True),
        _const("numpy dtype", np.float64),
        _const("number", 3, True),
    ]


def _device(valid, opts):
    return [
        _const("meta", "meta"),
        _const("cuda:97", "cuda:97", True),
        _const("unknown", "bogus", True),
    ]


def _shape(valid, opts):
    v = tuple(valid)
    return [
        _const("zero size", (0, *v[1:])),
        _const("negative size", (-1, *v[1:]), True),
        _const("fractional size", (2.5, *v[1:]), True),
        _const("string", "ab", True),
        _const("empty tuple", ()),
        _const("one axis more", (*v, 2)),
    ]


def _mapping(valid, opts):
    return [
        _const("empty", {}),
        _n("unknown key", lambda tmp: {**valid, "bogus_key": 1}),
        _const("number", 42, True),
        _const("string", "x", True),
    ]


def _object(valid, opts):
    return [
        _const("int", 42, True),
        _const("string", "x", True),
        _n("plain object", lambda tmp: object(), True),
        _const("None", None),
    ]


def _text(valid, opts):
    return [_const("number", 42), _const("empty", "")]


# --------------------------------------------------------------------------- paths
def _garbage(tmp: Path, suffix: str, data: bytes) -> Path:
    p = tmp / f"garbage{suffix}"
    p.write_bytes(data)
    return p


def _infile(valid, opts):
    valid = Path(valid)
    suf = "".join(valid.suffixes) if valid.is_file() else ".bin"

    def truncated(tmp):
        data = valid.read_bytes() if valid.is_file() else b"x"
        return _garbage(tmp, suf, data[: max(1, len(data) // 2)])

    return [
        # missing_ok: the function documents what a missing file means (e.g. "no cache yet").
        _n("missing file", lambda tmp: tmp / f"missing{suf}", not opts.get("missing_ok")),
        _n("a folder", lambda tmp: tmp, True),
        _n("binary garbage", lambda tmp: _garbage(tmp, suf, bytes(range(256)) * 4), True),
        _n("non-UTF-8 text", lambda tmp: _garbage(tmp, suf, b"\xff\xfe\xfa bad \x80\x81\n"), True),
        _n("empty file", lambda tmp: _garbage(tmp, suf, b""), True),
        _n("truncated copy", truncated, True),
        _const("number", 42, True),
    ]


def _indir(valid, opts):
    def a_file(tmp):
        p = tmp / "a_file"
        p.write_text("x")
        return p

    return [
        _n("missing folder", lambda tmp: tmp / "missing_dir", True),
        _n("a file", a_file, True),
        _n("empty folder", lambda tmp: (tmp / "empty").mkdir() or tmp / "empty"),
        _const("number", 42, True),
    ]


def _under_file(tmp: Path, name: str) -> Path:
    f = tmp / "plain_file"
    f.write_text("x")
    return f / name


def _outfile(valid, opts):
    name = Path(valid).name

    def a_folder(tmp):
        p = tmp / name
        p.mkdir()
        return p

    return [
        _n("existing folder at the path", a_folder, True),
        _n("path under a file", lambda tmp: _under_file(tmp, name), True),
        _const("number", 42, True),
    ]


def _outdir(valid, opts):
    def a_file(tmp):
        p = tmp / "a_file"
        p.write_text("x")
        return p

    return [
        _n("an existing file", a_file, True),
        _n("path under a file", lambda tmp: _under_file(tmp, "out"), True),
        _const("number", 42, True),
    ]


def _cli_text(valid, opts):
    """The text an argparse ``type=`` converter receives."""
    return [
        _const("nan", "nan", True),
        _const("inf", "inf", True),
        _const("negative", "-1", True),
        _const("huge 1e308", "1e308"),
        _const("1e999 (overflows to inf)", "1e999", True),
        _const("fractional", "1.5"),
        _const("not a number", "abc", True),
        _const("empty", "", True),
    ]


def _jsonable(valid, opts):
    """Anything JSON can hold; nonsense is what it cannot."""
    return [
        _n("plain object", lambda tmp: object(), True),
        _n("set inside", lambda tmp: {"a": {1, 2}}, True),
        _const("nan", math.nan),
        _const("huge int 10**400", 10**400),
    ]


def _zeta(valid, opts):
    """A DPS step-size specification (number, table, callable or preset name)."""
    return [
        _const("negative", -1.0, True),
        _const("nan", math.nan, True),
        _const("inf", math.inf, True),
        _const("unknown preset", "bogus", True),
        _const("empty table", {}, True),
        _const("table with a negative value", {0.0: 1.0, 1.0: -1.0}, True),
        _const("table with a nan key", {math.nan: 1.0}, True),
        _const("callable returning nan", lambda e: math.nan, True),
        _const("bool", True, True),
        _const("complex", 1 + 1j, True),
    ]


CANONICAL: dict[str, Callable] = {
    "jsonable": _jsonable,
    "zeta": _zeta,
    "cli_text": _cli_text,
    "float": _scalar_float,
    "sigma": _sigma,
    "nonneg": _nonneg,
    "prob": _prob,
    "eta": _eta,
    "count": _count,
    "index": _index,
    "seed": _seed,
    "int": _int,
    "flag": _flag,
    "choice": _choice,
    "array": _array,
    "list": _vector_list,
    "weights": _weights,
    "cov": _cov,
    "covs": _covs,
    "tensor": _tensor,
    "time": _time,
    "schedule": _schedule,
    "rng": _rng,
    "generator": _generator,
    "callable": _callable,
    "model": _model,
    "dtype": _dtype,
    "device": _device,
    "shape": _shape,
    "mapping": _mapping,
    "object": _object,
    "text": _text,
    "infile": _infile,
    "indir": _indir,
    "outfile": _outfile,
    "outdir": _outdir,
}


def infer_kind(value) -> str | None:
    """The kind of a plain value in a registry call (None: not fuzzed)."""
    from diffusion.schedule import TorchSchedule

    if value is None:
        return None
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "choice"
    if isinstance(value, Path):
        return "infile" if value.is_file() else "indir" if value.is_dir() else "outfile"
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, (Schedule, TorchSchedule)):
        return "schedule"
    if isinstance(value, np.random.Generator):
        return "rng"
    if isinstance(value, torch.Generator):
        return "generator"
    if isinstance(value, torch.dtype):
        return "dtype"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return "shape"
    if isinstance(value, (list, tuple)):
        return "list"
    if callable(value) and not isinstance(value, torch.nn.Module) and not hasattr(value, "A"):
        return "callable"
    return "object"


def canonical(kind: str, valid, opts: dict | None = None) -> list[Nonsense]:
    """The fixed nonsense families of ``kind`` for the valid value ``valid``."""
    return CANONICAL[kind](valid, opts or {})


# --------------------------------------------------------------------------- hypothesis
_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_EXTREME = st.sampled_from([1e-300, 1e-150, 1e150, 1e300, -1e300, 5e-324, 1.7e308])


def _scalar_rule(kind):
    """must_reject predicate of a drawn number, per scalar kind."""
    return {
        "sigma": lambda v: not (math.isfinite(v) and v > 0),
        "nonneg": lambda v: not (math.isfinite(v) and v >= 0),
        "prob": lambda v: not (0.0 <= v <= 1.0),
        "eta": lambda v: not (0.0 <= v <= 1.0),
        "float": lambda v: False,
    }[kind]


def strategy(kind: str, valid, opts: dict | None = None) -> st.SearchStrategy[Nonsense]:
    """Hypothesis draws of nonsense of ``kind``: the canonical families, plus random variants."""
    fixed = st.sampled_from(canonical(kind, valid, opts))
    extra = []
    if kind in ("sigma", "nonneg", "prob", "eta", "float") and not isinstance(
        valid, (np.ndarray, torch.Tensor, list, tuple)
    ):
        rule = _scalar_rule(kind)
        extra.append(
            st.one_of(_ANY_FLOAT, _EXTREME).map(lambda v: _const(f"drawn {v!r}", v, rule(v)))
        )
    if kind in ("count", "index", "int", "seed"):
        extra.append(
            st.integers(-(2**40), 0).map(lambda v: _const(f"drawn {v}", v, kind != "int" and v < 0))
        )
        extra.append(
            st.floats(allow_nan=True, allow_infinity=True)
            .filter(lambda v: not (math.isfinite(v) and v == int(v)))
            .map(lambda v: _const(f"drawn float {v!r}", v, True))
        )
    if kind in ("array", "tensor") and getattr(valid, "size", lambda: 1) and _numel(valid) > 0:
        n = _numel(valid)
        is_float = not isinstance(valid, torch.Tensor) or valid.is_floating_point()
        if is_float:
            extra.append(
                st.tuples(
                    st.integers(0, n - 1), st.sampled_from([math.nan, math.inf, -math.inf])
                ).map(
                    lambda iv: _n(
                        f"{iv[1]} at {iv[0]}",
                        lambda tmp, iv=iv: _set_flat(
                            valid
                            if isinstance(valid, torch.Tensor)
                            else np.asarray(valid, dtype=float),
                            iv[0],
                            iv[1],
                        ),
                    )
                )
            )
            extra.append(
                _EXTREME.map(lambda s: _n(f"scaled by {s:g}", lambda tmp, s=s: _scaled(valid, s)))
            )
    if kind in ("cov", "covs"):
        extra.append(
            st.floats(-10.0, -1e-6).map(
                lambda e: _n(
                    f"eigenvalue shifted by {e:g}", lambda tmp, e=e: _shift(valid, e), True
                )
            )
        )
    return st.one_of(fixed, *extra) if extra else fixed


def _numel(v) -> int:
    return int(v.numel()) if isinstance(v, torch.Tensor) else int(np.asarray(v).size)


def _scaled(v, s):
    if isinstance(v, torch.Tensor):
        return (
            v * torch.tensor(s, dtype=v.dtype)
            if v.dtype == torch.float64
            else v * min(abs(s), 1e38) * (1 if s > 0 else -1)
        )
    return np.asarray(v, dtype=np.float64) * s


def _shift(valid, e):
    C = np.array(valid, dtype=np.float64)
    d = C.shape[-1]
    if C.ndim == 2:
        lam = np.linalg.eigvalsh(C).min()
        return C + (e - lam) * np.eye(d)
    lam = np.linalg.eigvalsh(C[0]).min()
    C[0] = C[0] + (e - lam) * np.eye(d)
    return C
