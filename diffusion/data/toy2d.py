r"""Seeded, standardised 2-D data sets of the paper's Section IV-A: pinwheel, S-curve, moons.

Each generator draws i.i.d. points from a fixed law and standardises them **per coordinate**
with constants of that law (mean and sd of a 100 000-point draw with seed 0, computed once
and cached), so that train, validation and test sets of any seed share one standardisation:

.. math::

    x = (u - \bar u) / s_u, \qquad u \sim \text{raw law}.

* ``pinwheel``: the 5-arm generator of Johnson et al. (2016): a point
  :math:`(1 + \sigma_r \epsilon_1, \sigma_\theta \epsilon_2)` is rotated by
  :math:`\theta = 2\pi k/5 + \rho\, e^{1 + \sigma_r\epsilon_1}` for a uniform arm k
  (radial sd :math:`\sigma_r = 0.3`, tangential sd :math:`\sigma_\theta = 0.05`, rate
  :math:`\rho = 0.25`): the rotation grows with the radius.
* ``scurve``: ``sklearn.datasets.make_s_curve`` (noise 0.05), projected to 2-D as its x and
  z coordinates (the S seen from the side).
* ``moons``: the law of ``sklearn.datasets.make_moons`` (noise 0.05), drawn **i.i.d.**: a
  fair coin picks the upper moon :math:`(\cos\theta, \sin\theta)` or the lower one
  :math:`(1 - \cos\theta, \tfrac12 - \sin\theta)`, :math:`\theta \sim U[0, \pi]`, plus
  :math:`N(0, 0.05^2 I)`. ``make_moons`` itself is *stratified*: it puts exactly n/2 points
  on each moon at evenly spaced angles, so two of its sets are much closer to each other than
  two i.i.d. samples (W2 0.042 vs 0.108 at n = 2000, standardised): a W2 "floor" measured
  between two ``make_moons`` sets is one no i.i.d. sampler, however perfect, can reach.

The settings of every data set, including the standardisation constants, are part of
:func:`data_settings`, whose hash keys cached networks.

References
----------
1. M. J. Johnson, D. Duvenaud, A. Wiltschko, S. R. Datta, R. P. Adams, "Composing graphical
   models with neural networks for structured representations and fast inference",
   NeurIPS 2016 (pinwheel).
2. F. Pedregosa et al., "Scikit-learn: Machine Learning in Python", JMLR 12 (2011)
   (``make_s_curve``; the law of ``make_moons``).
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np

__all__ = ["DATASETS", "data_settings", "make_data", "raw_data", "settings_hash"]

#: Parameters of each raw generator (before standardisation).
DATASETS: dict[str, dict] = {
    "pinwheel": dict(num_arms=5, radial_std=0.3, tangential_std=0.05, rate=0.25),
    "scurve": dict(noise=0.05, coords=[0, 2]),
    "moons": dict(noise=0.05, angles="iid uniform", moon="iid fair coin"),
}

_STANDARDISE_N = 100_000
_STANDARDISE_SEED = 0


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    return name


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    return int(n)


def _pinwheel(n: int, rng: np.random.Generator, p: dict) -> np.ndarray:
    arm = rng.integers(p["num_arms"], size=n)
    feat = rng.standard_normal((n, 2)) * np.array([p["radial_std"], p["tangential_std"]])
    feat[:, 0] += 1.0
    ang = 2.0 * np.pi * arm / p["num_arms"] + p["rate"] * np.exp(feat[:, 0])
    c, s = np.cos(ang), np.sin(ang)
    # Row vector times [[c, -s], [s, c]] (Johnson et al.'s einsum 'ti,tij->tj').
    return np.column_stack([feat[:, 0] * c + feat[:, 1] * s, -feat[:, 0] * s + feat[:, 1] * c])


def _moons(n: int, rng: np.random.Generator, p: dict) -> np.ndarray:
    upper = rng.random(n) < 0.5
    theta = rng.uniform(0.0, np.pi, size=n)
    c, s = np.cos(theta), np.sin(theta)
    x = np.column_stack([np.where(upper, c, 1.0 - c), np.where(upper, s, 0.5 - s)])
    return x + p["noise"] * rng.standard_normal((n, 2))


def raw_data(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` i.i.d. points of data set ``name`` before standardisation, an (n, 2) float64 array.

    Parameters
    ----------
    name : {"pinwheel", "scurve", "moons"}
    n : int >= 1
    rng : numpy.random.Generator
        The only source of randomness (scikit-learn generators get an integer seed drawn
        from it).
    """
    _check_name(name)
    n = _check_n(n)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    p = DATASETS[name]
    if name == "pinwheel":
        return _pinwheel(n, rng, p)
    if name == "moons":
        return _moons(n, rng, p)
    from sklearn.datasets import make_s_curve

    seed = int(rng.integers(2**31 - 1))
    X, _ = make_s_curve(n, noise=p["noise"], random_state=seed)
    return np.ascontiguousarray(X[:, p["coords"]], dtype=np.float64)


@functools.cache
def _standardisation(name: str) -> tuple[tuple[float, float], tuple[float, float]]:
    ref = raw_data(name, _STANDARDISE_N, np.random.default_rng(_STANDARDISE_SEED))
    return tuple(ref.mean(0).tolist()), tuple(ref.std(0).tolist())


def make_data(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` i.i.d. standardised points of data set ``name``, an (n, 2) float64 array.

    Examples
    --------
    >>> x = make_data("moons", 5, np.random.default_rng(0))
    >>> x.shape, x.dtype
    ((5, 2), dtype('float64'))
    >>> bool(np.array_equal(x, make_data("moons", 5, np.random.default_rng(0))))
    True
    """
    mean, sd = _standardisation(_check_name(name))
    return (raw_data(name, n, rng) - np.array(mean)) / np.array(sd)


def data_settings(name: str) -> dict:
    """Everything that defines the law of ``make_data(name, ...)``, as a JSON-able dict."""
    mean, sd = _standardisation(_check_name(name))
    return dict(
        name=name,
        params=DATASETS[name],
        standardise=dict(
            how="per-coordinate (u - mean) / sd of a reference draw",
            n=_STANDARDISE_N,
            seed=_STANDARDISE_SEED,
            mean=[round(v, 12) for v in mean],
            sd=[round(v, 12) for v in sd],
        ),
    )


def settings_hash(obj) -> str:
    """First 16 hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys).

    Examples
    --------
    >>> settings_hash({"b": 1, "a": [1.0, 2]}) == settings_hash({"a": [1.0, 2], "b": 1})
    True
    """
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"obj: expected plain JSON values (dicts, lists, numbers, strings), "
                        f"{exc}") from None  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value):
    """The text of a non-JSON value in settings (a path, a numpy scalar: ``str(value)``, as
    the hashes of the stored networks were made). A set (whose order, so its text, varies from
    run to run) or an object without its own text (``<object at 0x...>``, a memory address)
    would give a hash that changes between runs: TypeError."""
    t = type(value)
    if isinstance(value, (set, frozenset)) or (
        t.__str__ is object.__str__ and t.__repr__ is object.__repr__
    ):
        raise TypeError(f"{t.__name__} has no reproducible text")
    return str(value)
