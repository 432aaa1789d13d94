r"""One-step Tweedie for **any** law of :math:`x_{t-1}`: the reverse posterior moments in score form.

With :math:`x_t = \sqrt{\alpha_t} x_{t-1} + \sqrt{\beta_t}\,\varepsilon` and
:math:`p_t(x) = \int p(u)\, N(x; \sqrt{\alpha_t} u, \beta_t I)\, du`,

.. math::

    \mathbb{E}[x_{t-1} \mid x_t] = \frac{x_t + \beta_t \nabla\log p_t(x_t)}{\sqrt{\alpha_t}},
    \qquad
    \mathrm{Cov}[x_{t-1} \mid x_t] = \frac{\beta_t}{\alpha_t}\big(I + \beta_t \nabla^2 \log p_t(x_t)\big),

whatever p is. Derived three ways, each returning the posterior moments beside their score
forms: for an arbitrary density as unevaluated integrals (:func:`tweedie_integrals`), for a
discrete law on symbolic atoms (:func:`tweedie_discrete`) and for a 1-D two-component
Gaussian mixture (:func:`tweedie_mixture_1d`). :mod:`theory.reverse_posterior` checks them.

References
----------
1. B. Efron, "Tweedie's formula and selection bias", JASA 106 (2011).
2. Z. Wang et al., arXiv 2503.20297 (2025), eq. (7).
"""

from __future__ import annotations

import sympy as sp

from ._core import condition, normal_pdf
from .symbols import alpha_t, beta_t

__all__ = [
    "one_step_mean",
    "one_step_var",
    "tweedie_discrete",
    "tweedie_integrals",
    "tweedie_mixture_1d",
]


def one_step_mean(x, logp):
    r"""First-order one-step Tweedie in 1-D: :math:`(x + \beta_t \partial_x \log p_t)/\sqrt{\alpha_t}`."""
    return (x + beta_t * sp.diff(logp, x)) / sp.sqrt(alpha_t)


def one_step_var(x, logp):
    r"""Second order in 1-D: :math:`(\beta_t/\alpha_t)(1 + \beta_t \partial_x^2 \log p_t)`."""
    return beta_t / alpha_t * (1 + beta_t * sp.diff(logp, x, 2))


def _moments_and_score_forms(x, pt, mean, second):
    """The posterior mean and variance of x_{t-1} (from its first two moments) beside their
    score forms over p_t (the dict of :func:`tweedie_discrete` and :func:`tweedie_mixture_1d`)."""
    return {
        "mean": mean,
        "mean_score": one_step_mean(x, sp.log(pt)),
        "var": second - mean**2,
        "var_score": one_step_var(x, sp.log(pt)),
    }


def tweedie_integrals(dim: int = 1):
    r"""One-step Tweedie for an arbitrary density ``p`` of :math:`x_{t-1}`, as integrals.

    :math:`p_t(x) = \int p(u)\, N(x; \sqrt{\alpha_t} u, \beta_t I)\, du`. Returns, per
    coordinate i, the posterior moments (ratios of integrals) and the score forms:

    Returns
    -------
    dict with keys
        ``mean``: list of :math:`\mathbb{E}[u_i \mid x]`; ``mean_score``: list of
        :math:`(x_i + \beta_t \partial_i \log p_t)/\sqrt{\alpha_t}`; for ``dim == 1`` also
        ``var`` (:math:`\mathrm{Var}[u \mid x]`) and ``var_score``
        (:math:`(\beta_t/\alpha_t)(1 + \beta_t \partial^2 \log p_t)`).
    """
    xs = sp.symbols(f"x_1:{dim + 1}", real=True) if dim > 1 else (sp.Symbol("x", real=True),)
    us = sp.symbols(f"u_1:{dim + 1}", real=True) if dim > 1 else (sp.Symbol("u", real=True),)
    p = sp.Function("p")
    kern = sp.Mul(
        *(normal_pdf(xi, sp.sqrt(alpha_t) * ui, beta_t) for xi, ui in zip(xs, us, strict=True))
    )
    lims = [(ui, -sp.oo, sp.oo) for ui in us]
    pt = sp.Integral(p(*us) * kern, *lims)
    out = {
        "mean": [sp.Integral(ui * p(*us) * kern, *lims) / pt for ui in us],
        "mean_score": [one_step_mean(xi, sp.log(pt)) for xi in xs],
    }
    if dim == 1:
        (u,), (x,) = us, xs
        second = sp.Integral(u**2 * p(u) * kern, *lims) / pt
        out["var"] = second - out["mean"][0] ** 2
        out["var_score"] = one_step_var(x, sp.log(pt))
    return out


def tweedie_discrete(K: int = 3):
    r"""One-step Tweedie for a discrete law :math:`\sum_i w_i \delta_{u_i}` of :math:`x_{t-1}`
    (symbolic atoms and weights), 1-D.

    Returns
    -------
    dict with ``mean``, ``mean_score``, ``var``, ``var_score`` (see :func:`tweedie_integrals`).
    """
    x = sp.Symbol("x", real=True)
    u = sp.symbols(f"u_1:{K + 1}", real=True)
    w = sp.symbols(f"w_1:{K + 1}", positive=True)
    dens = [wi * normal_pdf(x, sp.sqrt(alpha_t) * ui, beta_t) for wi, ui in zip(w, u, strict=True)]
    pt = sp.Add(*dens)
    mean = sp.Add(*(di * ui for di, ui in zip(dens, u, strict=True))) / pt
    second = sp.Add(*(di * ui**2 for di, ui in zip(dens, u, strict=True))) / pt
    return _moments_and_score_forms(x, pt, mean, second)


def tweedie_mixture_1d():
    r"""One-step Tweedie for :math:`x_{t-1} \sim w N(\mu_1, s_1) + (1-w) N(\mu_2, s_2)` (1-D).

    The exact posterior is a mixture of the per-component Gaussian kernels (each from
    :func:`~theory._core.condition`) with responsibilities
    :math:`r_k \propto w_k N(x; \sqrt{\alpha_t}\mu_k, \alpha_t s_k + \beta_t)`.

    Returns
    -------
    dict with ``mean``, ``mean_score``, ``var``, ``var_score``.
    """
    x = sp.Symbol("x", real=True)
    w = sp.Symbol("w", positive=True)
    mus = sp.symbols("mu_1:3", real=True)
    ss = sp.symbols("s_1:3", positive=True)
    comps = []
    for wk, mu, s in zip((w, 1 - w), mus, ss, strict=True):
        mk, ck, _ = condition(
            mu, sp.sqrt(alpha_t) * mu, s, sp.sqrt(alpha_t) * s, 1 / (alpha_t * s + beta_t), x
        )
        comps.append((wk * normal_pdf(x, sp.sqrt(alpha_t) * mu, alpha_t * s + beta_t), mk, ck))
    pt = sp.Add(*(c[0] for c in comps))
    mean = sp.Add(*(dk * mk for dk, mk, _ in comps)) / pt
    second = sp.Add(*(dk * (ck + mk**2) for dk, mk, ck in comps)) / pt
    return _moments_and_score_forms(x, pt, mean, second)
