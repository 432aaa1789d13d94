r"""Gaussian-mixture prior: exact posterior under y = A x + n, diffused mixture, score, Tweedie.

Prior :math:`p(x) = \sum_k w_k N(x; \mu_k, P_k)`, measurement :math:`y = A x + n`,
:math:`n \sim N(0, \sigma_y^2 I)`. Each component factorises (completing the square):

.. math::

    N(x; \mu_k, P_k)\, N(y; A x, \sigma_y^2 I) = N(y; A\mu_k, G_k)\, N(x; m_k, S_k), \qquad
    G_k = A P_k A^\top + \sigma_y^2 I,

    m_k = \mu_k + P_k A^\top G_k^{-1}(y - A\mu_k), \qquad S_k = P_k - P_k A^\top G_k^{-1} A P_k
        = (P_k^{-1} + A^\top A/\sigma_y^2)^{-1},

so the posterior is the mixture :math:`\sum_k \tilde w_k N(x; m_k, S_k)` with
:math:`\tilde w_k \propto w_k N(y; A\mu_k, G_k)`. The forward diffusion
:math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon` is the same linear-Gaussian
model with :math:`A = \sqrt{\bar\alpha_t} I`, :math:`\sigma_y^2 = 1 - \bar\alpha_t`: the diffused
mixture is :math:`p_t = \sum_k w_k N(\sqrt{\bar\alpha_t}\mu_k, \Sigma_{k,t})`,
:math:`\Sigma_{k,t} = \bar\alpha_t P_k + (1 - \bar\alpha_t) I`, with score
:math:`\nabla \log p_t(x) = -\sum_k r_k(x)\,\Sigma_{k,t}^{-1}(x - \sqrt{\bar\alpha_t}\mu_k)`,
responsibilities :math:`r_k \propto w_k N(x; \sqrt{\bar\alpha_t}\mu_k, \Sigma_{k,t})`, and Tweedie

.. math::

    \mathbb{E}[x_0 \mid x_t] = \sum_k r_k\, m_{k}(x_t)
      = \frac{x_t + (1-\bar\alpha_t)\nabla\log p_t(x_t)}{\sqrt{\bar\alpha_t}}, \qquad
    \mathrm{Cov}[x_0 \mid x_t] = \frac{1-\bar\alpha_t}{\bar\alpha_t}
      \big(I + (1-\bar\alpha_t)\nabla^2 \log p_t(x_t)\big).

What is proven and how:

* 1-D: everything symbolically (two components with symbolic weights, means, variances,
  measurement gain a, :math:`\sigma_y`).
* matrices: the factorisation (quadratic form and determinant) and the information form
  for a generic symmetric 2-by-2 :math:`P` with a generic 1-by-2 and 2-by-2 A (explicit
  symbolic entries, so d = 2 only); the per-component Tweedie identity for matrix symbols of
  symbolic size d (every d). For other d the formulas are returned as matrix-symbol
  expressions that the tests evaluate at random points (d = 1..4) against ``numerics.gmm``
  -- a numerical check, not a proof.

Examples
--------
>>> import sympy as sp
>>> from theory.gmm import posterior_component_1d
>>> mean, var, ev_mean, ev_var = posterior_component_1d()
>>> var
p*sigma_y**2/(a**2*p + sigma_y**2)

References
----------
1. Z. Wang et al., arXiv 2503.20297 (2025), Section III-D and Appendix D.
2. C. M. Bishop, Pattern Recognition and Machine Learning (2006), Sec. 2.3.3.
"""

from __future__ import annotations

import sympy as sp

from ._core import (
    check,
    condition,
    eq,
    module_checks,
    normal_pdf,
    reparametrize,
    vanishes,
    vanishes_rational,
)
from .symbols import Tex, alphabar_t, d

__all__ = [
    "CHECKS",
    "VP",
    "checks",
    "diffused_component",
    "factorisation_2d",
    "information_form_2d",
    "mixture_1d",
    "posterior_component",
    "posterior_component_1d",
    "tweedie_component",
]

x, y, a, mu = sp.symbols("x y a mu", real=True)
sigma_y, p = sp.symbols("sigma_y p", positive=True)


def posterior_component_1d(mu_=mu, p_=p, a_=a, s2=sigma_y**2):
    r"""One component, 1-D: complete the square in x of
    :math:`\log N(x; \mu, p) + \log N(y; a x, \sigma_y^2)`.

    Returns
    -------
    mean, var : posterior moments (precision :math:`1/p + a^2/\sigma_y^2`)
    ev_mean, ev_var : the evidence :math:`N(y; a\mu, a^2 p + \sigma_y^2)` read off the remainder
    """
    expo = -((x - mu_) ** 2) / (2 * p_) - (y - a_ * x) ** 2 / (2 * s2)
    poly = sp.Poly(sp.expand(expo), x)
    precision = sp.cancel(-2 * poly.coeff_monomial(x**2))
    linear = poly.coeff_monomial(x)
    mean = sp.factor(sp.cancel(linear / precision))
    var = sp.factor(sp.cancel(1 / precision))
    # remainder after removing the completed square is -(y - a mu)^2 / (2 ev_var)
    rem = sp.factor(sp.cancel(expo + (x - mean) ** 2 / (2 * var)))
    ev_var = sp.factor(sp.cancel(-((y - a_ * mu_) ** 2) / (2 * rem)))
    return mean, var, a_ * mu_, ev_var


def mixture_1d(K: int = 2, t_diffused: bool = False):
    r"""K-component 1-D mixture: the exact posterior (or, with ``t_diffused``, the law of a
    noisy observation of :math:`x_0` and its Tweedie quantities), all symbolic.

    Each component's posterior comes from :func:`~theory._core.condition` (the covariance form,
    shown equal to the completed square in :func:`posterior_component_1d`).

    Parameters
    ----------
    K : int
    t_diffused : bool
        False: posterior of x given :math:`y = a x + n`, :math:`n \sim N(0, \sigma_y^2)`.
        True: law of :math:`x = g\,x_0 + \sqrt{n}\,\varepsilon` with independent positive symbols
        g and n (the observation symbol is ``x``). The VP case is
        :math:`g = \sqrt{\bar\alpha_t}`, :math:`n = 1 - \bar\alpha_t`; keeping g and n free proves a
        stronger statement and is much faster for sympy.

    Returns
    -------
    dict with ``weights`` :math:`w_k` (the last is :math:`1 - \sum` of the others), ``means``
    :math:`\mu_k`, ``vars`` :math:`p_k`, per-component posterior ``post_means``, ``post_vars``,
    ``evidence`` densities :math:`w_k N(\text{obs}; g\mu_k, g^2 p_k + n)`, ``post_weights``
    :math:`\tilde w_k`, ``obs``, ``gain``, ``noise``; and for ``t_diffused``: ``p_t`` (the mixture
    density), ``score`` (:math:`\sum_k r_k \partial\log N_k`), ``tweedie_mean``
    (:math:`\sum_k r_k m_k`), ``tweedie_var`` (the mixture variance), ``score_form_mean``
    (:math:`(x + n\,\partial\log p_t)/g`) and ``score_form_var``
    (:math:`(n/g^2)(1 + n\,\partial^2\log p_t)`).
    """
    w = list(sp.symbols(f"w_1:{K}", positive=True))
    w.append(1 - sum(w))
    mus = sp.symbols(f"mu_1:{K + 1}", real=True)
    ps = sp.symbols(f"p_1:{K + 1}", positive=True)
    if t_diffused:
        gain, noise, obs = _g, _n, x
    else:
        gain, noise, obs = a, sigma_y**2, y
    post_means, post_vars, evid = [], [], []
    for wk, mk, pk in zip(w, mus, ps, strict=True):
        ev_var = gain**2 * pk + noise
        mean, var, _ = condition(mk, gain * mk, pk, gain * pk, 1 / ev_var, obs)
        post_means.append(mean)
        post_vars.append(var)
        evid.append(wk * normal_pdf(obs, gain * mk, ev_var))
    total = sp.Add(*evid)
    out = {"weights": w, "means": mus, "vars": ps, "post_means": post_means}
    out |= {"post_vars": post_vars, "evidence": evid, "post_weights": [e / total for e in evid]}
    out |= {"obs": obs, "gain": gain, "noise": noise}
    if t_diffused:
        r = out["post_weights"]
        comp_scores = [
            -(x - gain * mk) / (gain**2 * pk + noise) for mk, pk in zip(mus, ps, strict=True)
        ]
        tm = sp.Add(*(rk * mk for rk, mk in zip(r, post_means, strict=True)))
        out.update(
            p_t=total,
            score=sp.Add(*(rk * sk for rk, sk in zip(r, comp_scores, strict=True))),
            tweedie_mean=tm,
            tweedie_var=sp.Add(
                *(rk * (vk + mk**2) for rk, vk, mk in zip(r, post_vars, post_means, strict=True))
            )
            - tm**2,
            score_form_mean=(x + noise * sp.diff(sp.log(total), x)) / gain,
            score_form_var=noise / gain**2 * (1 + noise * sp.diff(sp.log(total), x, 2)),
        )
    return out


#: gain and noise variance of a generic Gaussian observation of x_0 (VP: sqrt(abar_t), 1 - abar_t)
_g = sp.Symbol("g", positive=True)
_n = sp.Symbol("n", positive=True)
VP = {_g: sp.sqrt(alphabar_t), _n: 1 - alphabar_t}
_k = sp.Symbol("k", integer=True, positive=True)
_sig_k = alphabar_t * sp.Indexed("p", _k) + 1 - alphabar_t  # display only


def posterior_component():
    r"""Covariance-form posterior of one component, as matrix-symbol expressions.

    Symbols: ``mu`` (d, 1), ``P`` (d, d), ``A`` (k, d), ``y`` (k, 1), scalar ``sigma_y``.

    Returns
    -------
    m, S, G : :math:`m_k`, :math:`S_k`, :math:`G_k` (evidence covariance; evidence mean
        :math:`A\mu_k`)
    symbols : dict name -> symbol, for ``lambdify``
    """
    k = sp.Symbol("k", integer=True, positive=True)
    mu_ = sp.MatrixSymbol("mu", d, 1)
    P_ = sp.MatrixSymbol("P", d, d)
    A_ = sp.MatrixSymbol("A", k, d)
    y_ = sp.MatrixSymbol("y", k, 1)
    G = A_ * P_ * A_.T + sigma_y**2 * sp.Identity(k)
    gain = P_ * A_.T * G.I
    m_ = mu_ + gain * (y_ - A_ * mu_)
    S_ = P_ - gain * A_ * P_
    return m_, S_, G, dict(mu=mu_, P=P_, A=A_, y=y_, sigma_y=sigma_y)


def diffused_component():
    r"""Law of :math:`x_t` for one component :math:`N(\mu, P)` of :math:`x_0`: the evidence of
    :func:`posterior_component` with :math:`A = \sqrt{\bar\alpha_t} I`, :math:`\sigma_y^2 = 1 - \bar\alpha_t`.

    Returns
    -------
    mean, cov : :math:`\sqrt{\bar\alpha_t}\mu` and :math:`\bar\alpha_t P + (1-\bar\alpha_t) I`
        (matrix-symbol expressions, symbolic d)
    """
    m_, S_, G, sy = posterior_component()
    I = sp.Identity(d)
    sub = {sy["A"]: sp.sqrt(alphabar_t) * I}
    G_t = (
        G.xreplace(sub)
        .xreplace({sigma_y: sp.sqrt(1 - alphabar_t)})
        .subs(sp.Symbol("k", integer=True, positive=True), d)
    )
    return sp.sqrt(alphabar_t) * sy["mu"], G_t.doit()


def tweedie_component():
    r"""Per component: the Gaussian posterior mean of :math:`x_0` given :math:`x_t` and the
    score form, for matrix symbols of symbolic size d.

    Returns
    -------
    posterior_mean, score_form : :math:`\mu + \sqrt{\bar\alpha_t} P \Sigma_t^{-1}(x - \sqrt{\bar\alpha_t}\mu)`
        and :math:`(x - (1-\bar\alpha_t)\Sigma_t^{-1}(x - \sqrt{\bar\alpha_t}\mu))/\sqrt{\bar\alpha_t}`,
        :math:`\Sigma_t = \bar\alpha_t P + (1 - \bar\alpha_t) I`
    symbols : dict with ``P``, ``mu``, ``x``
    """
    P_ = sp.MatrixSymbol("P", d, d)
    mu_ = sp.MatrixSymbol("mu", d, 1)
    x_ = sp.MatrixSymbol("x", d, 1)
    I = sp.Identity(d)
    inv = sp.Inverse(alphabar_t * P_ + (1 - alphabar_t) * I)
    post = mu_ + sp.sqrt(alphabar_t) * P_ * inv * (x_ - sp.sqrt(alphabar_t) * mu_)
    score = -inv * (x_ - sp.sqrt(alphabar_t) * mu_)
    return post, (x_ + (1 - alphabar_t) * score) / sp.sqrt(alphabar_t), dict(P=P_, mu=mu_, x=x_)


def _generic_2d(k: int):
    p11, p22 = sp.symbols("p_11 p_22", positive=True)
    p12 = sp.Symbol("p_12", real=True)
    P_ = sp.Matrix([[p11, p12], [p12, p22]])
    A_ = sp.Matrix(k, 2, sp.symbols(f"a_1:{2 * k + 1}", real=True))
    mu_ = sp.Matrix(sp.symbols("mu_1 mu_2", real=True))
    x_ = sp.Matrix(sp.symbols("x_1 x_2", real=True))
    y_ = sp.Matrix(sp.symbols(f"y_1:{k + 1}", real=True))
    G = A_ * P_ * A_.T + sigma_y**2 * sp.eye(k)
    Gi = G.inv()
    m_ = mu_ + P_ * A_.T * Gi * (y_ - A_ * mu_)
    S_ = P_ - P_ * A_.T * Gi * A_ * P_
    return P_, A_, mu_, x_, y_, G, m_, S_


def factorisation_2d(k: int = 1):
    r"""d = 2, generic symmetric P, generic k-by-2 A: the two sides of the factorisation.

    Returns
    -------
    quad_lhs, quad_rhs : :math:`(x-\mu)^\top P^{-1}(x-\mu) + \|y - Ax\|^2/\sigma_y^2` and
        :math:`(y - A\mu)^\top G^{-1}(y - A\mu) + (x - m)^\top S^{-1}(x - m)`
    det_lhs, det_rhs : :math:`\det P\,\sigma_y^{2k}` and :math:`\det G \det S`
    """
    P_, A_, mu_, x_, y_, G, m_, S_ = _generic_2d(k)
    r = y_ - A_ * x_
    ql = ((x_ - mu_).T * P_.inv() * (x_ - mu_))[0, 0] + (r.T * r)[0, 0] / sigma_y**2
    qr = ((y_ - A_ * mu_).T * G.inv() * (y_ - A_ * mu_))[0, 0] + (
        (x_ - m_).T * S_.inv() * (x_ - m_)
    )[0, 0]
    return ql, qr, P_.det() * sigma_y ** (2 * k), G.det() * S_.det()


def information_form_2d(k: int = 2):
    r"""d = 2: :math:`(P^{-1} + A^\top A/\sigma_y^2)\,S - I` for the covariance-form S (must vanish)."""
    P_, A_, *_, S_ = _generic_2d(k)
    return (P_.inv() + A_.T * A_ / sigma_y**2) * S_ - sp.eye(2)


def _same_gaussian_product(left, right) -> bool:
    """Products of scalar Gaussian densities, given as (variable, mean, variance) triples:
    equal iff the exponents agree (a rational identity) and so do the products of variances
    (the normalising constants)."""
    expo = lambda fs: sp.Add(*(-((v - m_) ** 2) / (2 * s) for v, m_, s in fs))  # noqa: E731
    dets = lambda fs: sp.Mul(*(s for _, _, s in fs))  # noqa: E731
    return vanishes(sp.cancel(sp.together(expo(left) - expo(right)))) and vanishes(
        dets(left) - dets(right)
    )


@check(
    "gmm_component_posterior_1d", "theory.gmm.posterior_component_1d", "test_component_posterior_1d"
)
def check_component_posterior_1d():
    mean, var, ev_mean, ev_var = posterior_component_1d()
    lhs = normal_pdf(x, mu, p) * normal_pdf(y, a * x, sigma_y**2)
    rhs = normal_pdf(y, ev_mean, ev_var) * normal_pdf(x, mean, var)
    cov_form_mean, cov_form_var, _ = condition(mu, a * mu, p, a * p, 1 / (a**2 * p + sigma_y**2), y)
    ok = (
        _same_gaussian_product(
            [(x, mu, p), (y, a * x, sigma_y**2)], [(y, ev_mean, ev_var), (x, mean, var)]
        )
        and vanishes(ev_var - (a**2 * p + sigma_y**2))
        and vanishes(mean - cov_form_mean)
        and vanishes(var - cov_form_var)
    )
    return (
        ok,
        "1-D: N(x; mu, p) N(y; a x, s^2) = N(y; a mu, a^2 p + s^2) N(x; m, v); completed square = covariance form",
        (eq(lhs, rhs), eq(Tex("m_k"), mean), eq(Tex("v_k"), var)),
    )


@check("gmm_posterior_mixture_1d", "theory.gmm.mixture_1d", "test_posterior_mixture_1d")
def check_posterior_mixture_1d():
    mix = mixture_1d(2)
    # p(x) p(y|x) = sum_k [w_k N(x; mu_k, p_k) N(y; a x, s^2)] = sum_k w_k N(y; ..) N(x; m_k, v_k)
    # (each bracket by the factorisation) = p(y) * posterior
    ok = all(
        _same_gaussian_product(
            [(x, mk, pk), (y, a * x, sigma_y**2)],
            [(y, a * mk, a**2 * pk + sigma_y**2), (x, mm, vv)],
        )
        for mk, pk, mm, vv in zip(
            mix["means"], mix["vars"], mix["post_means"], mix["post_vars"], strict=True
        )
    )
    pairs = zip(mix["post_weights"], mix["post_means"], mix["post_vars"], strict=True)
    posterior = sp.Add(*(wt * normal_pdf(x, mk, vk) for wt, mk, vk in pairs))
    pairs = zip(mix["evidence"], mix["post_means"], mix["post_vars"], strict=True)
    factorised = sp.Add(*(ek * normal_pdf(x, mm, vv) for ek, mm, vv in pairs))
    ok = ok and vanishes_rational(sp.Add(*mix["evidence"]) * posterior - factorised)
    ok = ok and vanishes_rational(sp.Add(*mix["post_weights"]) - 1)
    return (
        ok,
        "1-D two-component prior: p(x) p(y|x) = p(y) sum_k w~_k N(x; m_k, v_k), w~_k prop. to w_k N(y; a mu_k, a^2 p_k + s^2)",
        (
            eq(Tex(r"\tilde w_1"), mix["post_weights"][0]),
            eq(Tex("m_1"), mix["post_means"][0]),
            eq(Tex("v_1"), mix["post_vars"][0]),
        ),
    )


@check("gmm_component_posterior_2d", "theory.gmm.factorisation_2d", "test_component_posterior_2d")
def check_component_posterior_2d():
    ql, qr, dl, dr = factorisation_2d(1)
    ok = vanishes(sp.cancel(sp.together(ql - qr))) and vanishes(dl - dr)
    ok = ok and vanishes(information_form_2d(2))
    m_, S_, G, _ = posterior_component()
    return (
        ok,
        "d = 2, generic symmetric P: factorisation (quadratic form, determinant) for a generic 1x2 A, "
        "covariance form = information form for a generic 2x2 A",
        (eq(Tex("m_k"), m_), eq(Tex("S_k"), S_), eq(Tex("G_k"), G)),
    )


@check("gmm_diffused_score", "theory.gmm.diffused_component", "test_diffused_score")
def check_diffused_score():
    dm = mixture_1d(2, t_diffused=True)
    ok = vanishes_rational(dm["score"] - sp.diff(sp.log(dm["p_t"]), x))
    _, cov_t = diffused_component()
    sy = posterior_component()[3]
    ok = ok and vanishes(cov_t - (alphabar_t * sy["P"] + (1 - alphabar_t) * sp.Identity(d)))
    score_k = sp.diff(sp.log(normal_pdf(x, sp.sqrt(alphabar_t) * sp.Indexed("mu", _k), _sig_k)), x)
    return (
        ok,
        "p_t = sum_k w_k N(sqrt(abar) mu_k, abar P_k + (1-abar) I) (any d); "
        "score = sum_k r_k grad log N_k (1-D, K = 2, any Gaussian observation)",
        (
            eq(Tex(r"\Sigma_{k,t}"), cov_t),
            eq(
                Tex(r"\partial_x \log p_t(x)"),
                sp.Sum(
                    sp.Indexed("r", _k) * score_k,
                    (_k, 1, sp.Symbol("K", integer=True, positive=True)),
                ),
            ),
        ),
    )


@check("gmm_tweedie_mean", "theory.gmm.tweedie_component", "test_tweedie_mean")
def check_tweedie_mean():
    post, sf, syms = tweedie_component()
    Sig = sp.MatrixSymbol("Sigma_t", d, d)
    ok = vanishes(reparametrize(post - sf, syms["P"], Sig, alphabar_t))
    dm = mixture_1d(2, t_diffused=True)
    ok = ok and vanishes_rational(dm["tweedie_mean"] - dm["score_form_mean"])
    return (
        ok,
        "E[x_0|x_t] = sum_k r_k m_k(x_t) = (x_t + (1-abar) grad log p_t)/sqrt(abar): "
        "per component any d, two-component mixture 1-D",
        eq(post, sf),
    )


@check("gmm_tweedie_cov", "theory.gmm.mixture_1d", "test_tweedie_cov")
def check_tweedie_cov():
    dm = mixture_1d(2, t_diffused=True)
    return (
        vanishes_rational(dm["tweedie_var"] - dm["score_form_var"]),
        "Var[x_0|x_t] = ((1-abar)/abar)(1 + (1-abar) d^2 log p_t) for the 1-D two-component mixture",
        eq(
            Tex(r"\mathrm{Var}[x_0 \mid x_t = x]"),
            (_n / _g**2 * (1 + _n * sp.Derivative(sp.log(sp.Function("p_t")(x)), (x, 2)))).xreplace(
                VP
            ),
        ),
    )


#: this module's checks in the order they are defined, and ``checks()`` that runs them
CHECKS, checks = module_checks(globals())
