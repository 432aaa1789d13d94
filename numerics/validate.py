"""Input checks shared by numerics/ (and reused by diffusion/ for numpy inputs).

Every check raises ``ValueError`` naming the argument and what was expected, so
that bad input fails at the public boundary instead of deep inside a solver.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_array",
    "as_samples",
    "as_scalar",
    "check_bool",
    "check_callable",
    "check_eta",
    "check_int",
    "check_no_overflow",
    "check_positive",
    "check_rng",
    "check_seed",
    "check_sample_weights",
    "check_spd",
    "check_std",
    "check_weights",
]


#: Largest magnitude of a sample coordinate (:func:`as_samples`, ``max_abs`` of
#: :func:`as_array`): squared distances between such points stay finite in float64.
MAX_ABS = 1e150


def as_array(
    x, name: str, *, ndim: int | None = None, shape: tuple | None = None, max_abs=None
) -> np.ndarray:
    """Return ``x`` as a finite float64 array, checking its rank and shape.

    Real numbers only: complex values (whose imaginary part a float conversion would drop),
    strings and other non-numeric data raise ``ValueError`` naming ``name``. ``shape``
    entries that are ``None`` match any size. ``max_abs`` (e.g. :data:`MAX_ABS` for points
    whose squared distances are formed): the largest magnitude an entry may have.
    """
    if ndim is not None:
        ndim = check_int(ndim, "ndim")
    if x is None:
        raise ValueError(f"{name}: expected a numeric array, got None")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}") from exc
    if raw.dtype.kind == "c":
        raise ValueError(f"{name}: expected real numbers, got complex values ({raw.dtype})")
    if raw.dtype.kind not in "biufO":
        raise ValueError(f"{name}: expected a numeric array, got dtype {raw.dtype}")
    try:
        arr = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        if raw.dtype.kind == "O" and any(isinstance(v, complex) for v in raw.ravel()):
            raise ValueError(f"{name}: expected real numbers, got complex values") from exc
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
        ):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf")
    if max_abs is not None and arr.size and np.max(np.abs(arr)) > max_abs:
        raise ValueError(
            f"{name}: entries up to {max_abs:g} in magnitude expected (squares and distances "
            f"must stay finite in float64), got {np.max(np.abs(arr))!r}"
        )
    return arr


def as_scalar(x, name: str) -> float:
    """Return ``x`` as a finite real float (a number, a 0-d or one-element array; not a bool,
    a string or a complex number)."""
    if isinstance(x, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name}: expected a real number, got {type(x).__name__}")
    arr = as_array(x, name)
    if arr.size != 1:
        raise ValueError(f"{name}: expected a number, got shape {arr.shape}")
    return float(arr.reshape(()))


def check_bool(x, name: str) -> bool:
    """Return the flag ``x`` as a bool: ``True``/``False`` (or numpy bools) only.

    A string such as ``"no"``, a number or None would be read by its truthiness, so a
    misspelt flag would silently mean its opposite; they raise ``TypeError`` naming ``name``.
    """
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(x).__name__} {x!r:.40}")
    return bool(x)


def check_callable(f, name: str, *, optional: bool = False):
    """Return ``f`` after checking it can be called (None passes when ``optional``), so that a
    wrong object fails at once, naming ``name``, not at its first use deep in a loop."""
    if f is None and optional:
        return None
    if not callable(f):
        raise TypeError(f"{name}: expected a callable, got {type(f).__name__}")
    return f


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` after checking it is a ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name}: expected a numpy.random.Generator (numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_int(x, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return the count or index ``x`` as an int after checking it is an integer (not a bool,
    a float or a string: ``TypeError``) in ``[minimum, maximum]`` (``ValueError``)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(x).__name__} {x!r:.40}")
    if x < minimum or (maximum is not None and x > maximum):
        top = "" if maximum is None else f", {maximum}]"
        raise ValueError(f"{name}: expected an integer in [{minimum}{top or ', inf)'}, got {x}")
    return int(x)


def check_seed(seed, name: str = "seed"):
    """Return ``seed`` for ``numpy.random.default_rng``: an integer >= 0 or a non-empty list /
    tuple of them (checked), or None / a ``SeedSequence`` / a ``Generator`` (passed through)."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return seed
    if isinstance(seed, (list, tuple)) and seed:
        return [check_int(s, name) for s in seed]
    return check_int(seed, name)


def check_positive(x, name: str) -> float:
    """Return ``x`` as a float after checking it is a finite real number > 0."""
    try:
        val = as_scalar(x, name)
    except ValueError as exc:
        raise ValueError(f"{name}: expected a positive real number, got {x!r}") from exc
    if val <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {val!r}")
    return val


def check_std(x, name: str) -> float:
    """Return a standard deviation ``x`` (a finite number > 0) whose square, the variance the
    formulas use, is a positive finite float64 too (about 1e-154 < x < 1e154)."""
    val = check_positive(x, name)
    if not 0.0 < val * val < np.inf:
        raise ValueError(
            f"{name}: expected a standard deviation whose square is a positive finite "
            f"float64 (about 1e-154..1e154), got {val!r}"
        )
    return val


def check_no_overflow(m: np.ndarray, name: str) -> np.ndarray:
    """Return ``m``, an array computed from the finite input ``name``, if it is all finite;
    else ``ValueError`` blaming ``name`` (its entries were too large for float64 products)."""
    arr = np.asarray(m)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: entries too large, the products formed from it overflow float64")
    return m


def check_eta(eta, name: str = "eta", *, n: int | None = None) -> np.ndarray:
    """Return the variance scale ``eta`` as a float64 array (scalar or ``(n,)``) in [0, 1]."""
    if n is not None:
        n = check_int(n, "n")
    arr = as_array(eta, name)
    if arr.ndim > 1 or (arr.ndim == 1 and n is not None and arr.shape[0] != n):
        want = "a scalar" if n is None else f"a scalar or shape (n,) = ({n},)"
        raise ValueError(f"{name}: expected {want}, got shape {arr.shape}")
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name}: expected values in [0, 1], got {arr.min()}..{arr.max()}")
    return arr


def check_spd(cov, name: str, *, d: int | None = None, rtol: float = 1e-8) -> np.ndarray:
    """Return ``cov`` (a ``(d, d)`` symmetric positive-definite matrix) symmetrised.

    Symmetry is checked relative to the largest entry; positive definiteness by a
    Cholesky factorisation.
    """
    if d is not None:
        d = check_int(d, "d", minimum=1)
    rtol = _tolerance(rtol, "rtol")
    arr = as_array(cov, name, ndim=2)
    if arr.shape[0] != arr.shape[1] or (d is not None and arr.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise ValueError(f"{name}: expected a {want} matrix, got shape {arr.shape}")
    scale = max(float(np.max(np.abs(arr))), np.finfo(float).tiny)
    if np.max(np.abs(arr - arr.T)) > rtol * scale:
        raise ValueError(f"{name}: expected a symmetric matrix")
    arr = 0.5 * (arr + arr.T)
    try:
        np.linalg.cholesky(arr)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"{name}: expected a positive-definite matrix") from exc
    return arr


def check_weights(weights, name: str = "weights", *, atol: float = 1e-8) -> np.ndarray:
    """Return mixture ``weights`` ``(K,)`` after checking they are >= 0 and sum to 1."""
    atol = _tolerance(atol, "atol")
    arr = as_array(weights, name, ndim=1)
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one weight")
    if np.any(arr < 0):
        raise ValueError(f"{name}: expected non-negative weights, got min {arr.min()}")
    if abs(arr.sum() - 1.0) > atol:
        raise ValueError(f"{name}: expected weights summing to 1, got sum {arr.sum()!r}")
    return arr


def as_samples(x, name: str, *, d: int | None = None) -> np.ndarray:
    """Return a sample set ``x`` as a finite ``(n, d)`` float64 array with n, d >= 1 and
    entries at most :data:`MAX_ABS` in magnitude.

    ``d``, when given, is the dimension it must have (that of another set).
    """
    if d is not None:
        d = check_int(d, "d", minimum=1)
    arr = as_array(x, name, ndim=2, max_abs=MAX_ABS)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty (n, d) array, got shape {arr.shape}")
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"{name}: expected shape (*, {d}) to match the first set, got {arr.shape}")
    return arr


def check_sample_weights(w, name: str, n: int) -> np.ndarray:
    """Return the weights ``w`` of n samples (uniform when ``w`` is None) as a ``(n,)`` array."""
    n = check_int(n, "n", minimum=1)
    if w is None:
        return np.full(n, 1.0 / n)
    w = check_weights(w, name)
    if w.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},) to match the samples, got {w.shape}")
    return w


def _tolerance(x, name: str) -> float:
    val = as_scalar(x, name)
    if val < 0:
        raise ValueError(f"{name}: expected a tolerance >= 0, got {val!r}")
    return val
