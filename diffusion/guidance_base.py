r"""The guidance contract's base pieces: :class:`Guidance`, η per sample and ζ(η).

Split out of :mod:`diffusion.guidance` so that guidance families in their own modules
(:mod:`diffusion.guidance_gaussian`) can subclass :class:`Guidance` while
:mod:`diffusion.guidance` re-exports every class (no import cycle). Import these names from
:mod:`diffusion.guidance`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from diffusion._checks import check_tensor
from diffusion.models import check_time
from diffusion.schedule import StepCoefficients
from numerics.validate import as_array

#: ``check_operator`` and ``measurement_batch`` are shared helpers of the guidance modules.
__all__ = ["ZETA_PRESETS", "Guidance", "check_eta_batch", "zeta_function"]

_ETAS = tuple(round(0.1 * i, 1) for i in range(11))

#: The paper's three ζ(η) tables (arXiv 2503.20297, Appendix E, Tables I-III) for
#: η = 0, 0.1, ..., 1, for the DPS reference (normalised-step) form at 256 x 256 in [-1, 1].
#: Which task (deblur / SR, which noise level) each table belongs to is **not recoverable**
#: from the paper's text; they are shipped as named presets, not as task defaults.
ZETA_PRESETS: dict[str, dict[float, float]] = {
    "paper_table1": dict(zip(_ETAS, (39, 24, 24, 26, 26, 40, 22, 18, 12, 12, 6), strict=True)),
    "paper_table2": dict(zip(_ETAS, (33, 33, 33, 37, 40, 40, 33, 23, 15, 10, 6.5), strict=True)),
    "paper_table3": dict(zip(_ETAS, (26, 24, 24, 24, 30, 24, 20, 15, 12, 12, 10), strict=True)),
}


def check_eta_batch(eta, B: int) -> torch.Tensor:
    """η as a float64 CPU tensor [B] with values in [0, 1] (a scalar is broadcast to the batch).

    Raises ValueError naming ``eta`` for a wrong shape, NaN/Inf or values outside [0, 1],
    and naming ``B`` (the batch size) unless it is an int >= 1.
    """
    if isinstance(B, bool) or not isinstance(B, (int, np.integer)) or B < 1:
        raise ValueError(f"B: expected the batch size, an integer >= 1, got {B!r}")
    B = int(B)
    if isinstance(eta, torch.Tensor):
        e = eta.detach().cpu().to(torch.float64)
    else:
        try:
            e = torch.as_tensor(np.asarray(eta, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"eta: expected a number or a tensor [B], got {eta!r}") from exc
    if e.ndim == 0:
        e = e.expand(B).clone()
    if e.shape != (B,):
        raise ValueError(
            f"eta: expected a scalar or shape [{B}] (one per sample), got {list(e.shape)}"
        )
    if not bool(torch.isfinite(e).all()):
        raise ValueError("eta: contains NaN or Inf")
    if bool((e < 0).any()) or bool((e > 1).any()):
        raise ValueError(f"eta: expected values in [0, 1], got {e.min().item()}..{e.max().item()}")
    return e


def zeta_function(zeta) -> Callable[[np.ndarray], np.ndarray]:
    """Turn a ζ specification into a vectorised function of η.

    Parameters
    ----------
    zeta : float, callable, mapping or str
        A number (constant), a callable ``zeta(eta: float) -> float``, a table
        ``{eta: zeta}`` (piecewise linear in η, constant beyond its end points), or the name
        of a table in :data:`ZETA_PRESETS`.

    Returns
    -------
    callable ``(eta array) -> zeta array`` (same shape, float64, finite, >= 0)

    Examples
    --------
    >>> f = zeta_function({0.0: 1.0, 1.0: 3.0})
    >>> f(np.array([0.0, 0.25, 1.0])).tolist()
    [1.0, 1.5, 3.0]
    >>> float(zeta_function("paper_table1")(np.array(0.05)))
    31.5
    """
    if isinstance(zeta, str):
        if zeta not in ZETA_PRESETS:
            raise ValueError(
                f"zeta: unknown preset {zeta!r}; expected one of {sorted(ZETA_PRESETS)}"
            )
        zeta = ZETA_PRESETS[zeta]
    if isinstance(zeta, Mapping):
        if len(zeta) == 0:
            raise ValueError("zeta: expected a non-empty table {eta: zeta}")
        keys = as_array(list(zeta.keys()), "zeta (table keys)", ndim=1)
        vals = as_array(list(zeta.values()), "zeta (table values)", ndim=1)
        order = np.argsort(keys)
        keys, vals = keys[order], vals[order]
        if np.any(np.diff(keys) == 0):
            raise ValueError("zeta: table has repeated eta keys")
        if np.any(vals < 0):
            raise ValueError("zeta: table values must be >= 0")
        return lambda eta: np.interp(np.asarray(eta, dtype=np.float64), keys, vals)
    if callable(zeta):

        def f(eta):
            eta = np.asarray(eta, dtype=np.float64)
            out = np.vectorize(lambda e: float(zeta(float(e))), otypes=[np.float64])(eta)
            if not np.all(np.isfinite(out)) or np.any(out < 0):
                raise ValueError(f"zeta: callable returned {out!r}; expected finite values >= 0")
            return out

        f(np.array(_ETAS))  # refuse a callable that is bad on the grid now, not mid-run
        return f
    if isinstance(zeta, bool):
        raise ValueError(f"zeta: expected a number, callable, table or preset name, got {zeta!r}")
    try:
        z = float(zeta)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"zeta: expected a number, callable, table or preset name, got {zeta!r}"
        ) from exc
    if not math.isfinite(z) or z < 0:
        raise ValueError(f"zeta: expected a finite number >= 0, got {z!r}")
    return lambda eta: np.full(np.shape(eta), z)


class Guidance:
    """Base class of guidance objects (see the module docstring for the contract).

    Attributes
    ----------
    needs_grad : bool
        Whether the guidance differentiates through the model (the sampler then leaves
        ``torch.no_grad`` for it).
    """

    needs_grad = False

    def prepare(self, x_T: torch.Tensor, eta: torch.Tensor) -> None:
        """Check compatibility with the batch ``x_T`` [B, ...] and per-sample ``eta`` [B]."""

    def __call__(self, x_t, step: StepCoefficients, t_model: torch.Tensor, model):
        raise NotImplementedError  # pragma: no cover

    def _checked_call(self, x_t, step: StepCoefficients, t_model: torch.Tensor, model):
        """One guided step at ``x_t`` [B, ...]: ``(x0_hat [B, ...], delta [B, ...] or None)``.

        What the subclasses' ``__call__`` runs: checks its arguments (``x_t`` finite, of the
        guidance's per-sample shape; ``step`` a :class:`~diffusion.schedule.StepCoefficients`;
        ``t_model`` time indices of the model's base schedule) and that the step is finite,
        then runs ``_guide``. The sampler calls ``_guide`` directly, with arguments it has
        checked once.
        """
        self._check_ready()
        x_t = check_tensor(x_t, "x_t", finite=True)
        self._check_x(x_t, "x_t")
        if not isinstance(step, StepCoefficients):
            raise TypeError(f"step: expected a StepCoefficients, got {type(step).__name__}")
        self._check_model(model)
        T = getattr(getattr(self._time_source(model), "schedule", None), "T", None)
        t_model = check_time(t_model, x_t, t_name="t_model", T=T if isinstance(T, int) else None)
        x0, delta = self._guide(x_t, step, t_model, model)
        if not bool(torch.isfinite(x0).all()) or (
            delta is not None and not bool(torch.isfinite(delta).all())
        ):
            raise ValueError(
                "model: the guided step is not finite at this x_t (the model's output, or an "
                f"overflow of {x_t.dtype})"
            )
        return x0, delta

    def _guide(self, x_t, step, t_model, model):
        raise NotImplementedError  # pragma: no cover

    def _check_ready(self) -> None:
        """Raise ValueError if the guidance needs a ``prepare`` it has not had."""

    def _check_x(self, x: torch.Tensor, name: str) -> None:
        """Per-sample shape of a state ``x`` [B, ...] (``name`` in messages); subclasses."""

    def _check_model(self, model) -> None:
        if not callable(model):
            raise TypeError(f"model: expected a callable denoiser, got {type(model).__name__}")

    def _time_source(self, model):
        """The denoiser whose base schedule ``t_model`` indexes."""
        return model

    def hessian(self, x_t: torch.Tensor, t_model: torch.Tensor) -> torch.Tensor:
        """Hessian of log p_t(x_t | y) on flattened x_t ([B or 1, D, D]); not available here."""
        raise ValueError(
            f"{type(self).__name__} does not provide the Hessian of log p_t(x_t | y); "
            "variance='exact' needs ExactGuidance (an analytic posterior)"
        )

    @property
    def exact_law(self):
        """An object with ``sample_xt``/``mean_xt`` for the law of x_t | y, or None."""
        return None


class MeasurementGuidance(Guidance):
    """Base of the guidances that pull toward a measurement ``y = A x`` with a weight ζ(η):
    subclasses set ``operator``, ``y`` (``[N, *out_shape]``, :func:`measurement_batch`) and
    ``zeta`` (:func:`zeta_function`); ``prepare`` checks the batch against them and keeps
    ζ(η) [B] and y on the batch's dtype and device (``_zeta_t``, ``_y_t``)."""

    needs_grad = True

    def zeta_values(self, eta) -> np.ndarray:
        """ζ(η) as a float64 array of η's shape (η finite, in [0, 1])."""
        if isinstance(eta, torch.Tensor):
            eta = eta.detach().cpu()
        try:
            e = np.asarray(eta, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"eta: expected numbers in [0, 1], got {eta!r}") from exc
        if not np.all(np.isfinite(e)) or np.any(e < 0) or np.any(e > 1):
            raise ValueError(f"eta: expected finite values in [0, 1], got {eta!r}")
        return self.zeta(e)

    def _check_ready(self):
        if getattr(self, "_zeta_t", None) is None:
            raise ValueError(
                f"{type(self).__name__}: call prepare(x_T, eta) first (the sampler does)"
            )

    def _check_x(self, x, name):
        if tuple(x.shape[1:]) != tuple(self.operator.in_shape):
            raise ValueError(
                f"{name}: per-sample shape {list(x.shape[1:])} does not match the operator's "
                f"input shape {list(self.operator.in_shape)}"
            )
        zt = getattr(self, "_zeta_t", None)
        if name == "x_t" and zt is not None and zt.shape[0] != x.shape[0]:
            raise ValueError(
                f"{name}: a batch of {x.shape[0]}, but prepare() was given {zt.shape[0]}"
            )

    def prepare(self, x_T, eta):
        check_tensor(x_T, "x_T", finite=True)
        B = x_T.shape[0]
        self._check_x(x_T, "x_T")
        if self.y.shape[0] not in (1, B):
            raise ValueError(f"y: has {self.y.shape[0]} measurements for a batch of {B}")
        z = self.zeta_values(check_eta_batch(eta, B).numpy())
        self._zeta_t = torch.as_tensor(z, dtype=x_T.dtype, device=x_T.device)
        self._y_t = self.y.to(dtype=x_T.dtype, device=x_T.device)


def check_operator(operator) -> None:
    """Raise ValueError naming ``operator`` unless it has ``.A``, ``.in_shape``, ``.out_shape``."""
    for attr in ("A", "in_shape", "out_shape"):
        if not hasattr(operator, attr):
            raise ValueError(
                f"operator: expected a LinearOperator with .{attr}, got {type(operator).__name__}"
            )


def op_apply(operator, adjoint: bool = False):
    """``operator.A`` (``A_adjoint``) without the per-call finiteness check for a
    :class:`~diffusion.operators.LinearOperator` (a guided step's state is checked by the
    sampler's divergence watch), else the method itself."""
    from diffusion.operators.base import LinearOperator

    if isinstance(operator, LinearOperator):
        return operator._A_adjoint if adjoint else operator._A
    return operator.A_adjoint if adjoint else operator.A


def measurement_batch(operator, y) -> torch.Tensor:
    """The measurement as a finite floating tensor ``[N, *operator.out_shape]``.

    ``y`` of shape ``operator.out_shape`` (one y for the whole batch) gets N = 1; a shape
    ``[N, *out_shape]`` is kept (N = 1 or the batch size, checked by ``prepare``). Raises
    ValueError naming ``y`` otherwise.
    """
    out = tuple(operator.out_shape)
    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(np.asarray(y, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y: expected a real array or tensor, got {type(y).__name__}") from exc
    if y.is_complex() or y.device.type == "meta":
        raise ValueError(f"y: expected a real tensor with data, got {y.dtype} on {y.device}")
    if not y.is_floating_point():
        y = y.double()
    if tuple(y.shape) == out:
        y = y.unsqueeze(0)
    if y.ndim != len(out) + 1 or tuple(y.shape[1:]) != out:
        raise ValueError(
            f"y: expected shape {list(out)} (the operator's output) or [N, {', '.join(map(str, out))}], "
            f"got {list(y.shape)}"
        )
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y: contains NaN or Inf")
    return y
