r"""VP (DDPM) forward process: marginals and the forward posterior q(x_{t-1} | x_t, x_0).

The forward step is :math:`x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon_t`,
:math:`\beta_t = 1 - \alpha_t`. This module derives

.. math::

    x_t \mid x_0 \sim N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1 - \bar\alpha_t) I\big), \qquad
    q(x_{t-1} \mid x_t, x_0) = N\Big(
    \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t} x_0
    + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t,\
    \tilde\beta_t I\Big), \quad
    \tilde\beta_t = \beta_t \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t},

the posterior both from the joint Gaussian of :math:`(x_{t-1}, x_t)` (Schur complement) and
by completing the square in the exponent, and shows the forms agree.

What is proven and how:

* forward marginal: the induction step from t-1 to t is a symbolic identity (any t), the base
  case t = 1 is the step itself; additionally T = 1..4 are unrolled with independent
  :math:`\alpha_1, \dots, \alpha_4`.
* the posterior: symbolic identities in :math:`\alpha_t, \bar\alpha_{t-1}` (any t).
* matrix case: the covariance of the diffused Gaussian data :math:`N(m, S)`,
  :math:`\Sigma_t = \bar\alpha_t S + (1-\bar\alpha_t) I`, satisfies
  :math:`\Sigma_t = \alpha_t \Sigma_{t-1} + \beta_t I` for a matrix symbol S of symbolic size d
  (so for every d); the matrix posterior's blocks are scalar multiples of I, and the
  Schur complement is carried out with d-by-d identity matrices of symbolic size d.

Examples
--------
>>> import sympy as sp
>>> from theory.vp import q_posterior
>>> from theory.symbols import SCHEDULE
>>> mean, var = q_posterior("joint")
>>> _, var_ddpm = q_posterior("ddpm")
>>> sp.simplify((var - var_ddpm).xreplace(SCHEDULE))
0

References
----------
1. J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, eqs. (4), (6)-(7).
2. C. M. Bishop, Pattern Recognition and Machine Learning (2006), Sec. 2.3.3.
"""

from __future__ import annotations

import sympy as sp

from ._core import check, condition, eq, module_checks, vanishes
from .symbols import (
    SCHEDULE,
    S,
    Tex,
    alpha_t,
    alphabar_t,
    alphabar_tm1,
    beta_t,
    d,
    x_0,
    x_t,
    x_tm1,
)

__all__ = [
    "CHECKS",
    "beta_tilde",
    "checks",
    "completed_square",
    "diffused_covariance",
    "forward_marginal_step",
    "forward_marginal_unrolled",
    "q_posterior",
    "q_posterior_matrix",
]


def beta_tilde():
    r""":math:`\tilde\beta_t = \beta_t (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t)`."""
    return beta_t * (1 - alphabar_tm1) / (1 - alphabar_t)


def forward_marginal_step():
    r"""Compose :math:`x_{t-1} \mid x_0 \sim N(\sqrt{\bar\alpha_{t-1}} x_0, 1-\bar\alpha_{t-1})`
    with one forward step.

    .. math::

        x_t \mid x_0 \sim N\big(\sqrt{\alpha_t}\sqrt{\bar\alpha_{t-1}}\,x_0,\
        \alpha_t(1 - \bar\alpha_{t-1}) + \beta_t\big)

    which equals :math:`N(\sqrt{\bar\alpha_t} x_0, 1 - \bar\alpha_t)` under
    :data:`~theory.symbols.SCHEDULE` (the induction step of the forward marginal).

    Returns
    -------
    coef, var : sympy expressions (mean = coef * x_0)
    """
    coef_prev, var_prev = sp.sqrt(alphabar_tm1), 1 - alphabar_tm1
    return sp.sqrt(alpha_t) * coef_prev, alpha_t * var_prev + beta_t


def forward_marginal_unrolled(T: int):
    r"""Unroll T forward steps from :math:`x_0` with independent :math:`\alpha_1..\alpha_T`.

    Returns
    -------
    coef, var : expressions with mean = coef * x_0
    alphas : tuple of the T symbols :math:`\alpha_s` (:math:`\beta_s = 1 - \alpha_s`)

    Examples
    --------
    >>> coef, var, alphas = forward_marginal_unrolled(2)
    >>> coef
    sqrt(alpha_1)*sqrt(alpha_2)
    >>> sp.expand(var - (1 - alphas[0] * alphas[1]))
    0
    """
    alphas = sp.symbols(f"alpha_1:{T + 1}", positive=True)
    coef, var = sp.Integer(1), sp.Integer(0)
    for a in alphas:
        coef, var = sp.sqrt(a) * coef, a * var + (1 - a)
    return coef, var, alphas


def q_posterior(form: str = "joint"):
    r"""Mean and variance of :math:`q(x_{t-1} \mid x_t, x_0)` (scalar; per coordinate).

    Parameters
    ----------
    form : {"joint", "ddpm", "square"}
        ``"joint"``: condition the joint Gaussian of :math:`(x_{t-1}, x_t) \mid x_0`
        (marginals from :func:`forward_marginal_step`, cross-covariance
        :math:`\mathrm{Cov}(x_{t-1}, \sqrt{\alpha_t} x_{t-1} + \sqrt{\beta_t}\varepsilon)
        = \sqrt{\alpha_t}(1 - \bar\alpha_{t-1})`).
        ``"ddpm"``: the closed form of Ho et al. (2020), eq. (7).
        ``"square"``: complete the square in :math:`x_{t-1}` of
        :math:`\log q(x_t \mid x_{t-1}) + \log q(x_{t-1} \mid x_0)`; precision
        :math:`\alpha_t/\beta_t + 1/(1 - \bar\alpha_{t-1})`.

    Returns
    -------
    mean, var : sympy expressions in x_t, x_0 and the schedule symbols
    """
    if form == "joint":
        mean, var, _ = condition(
            mean_a=sp.sqrt(alphabar_tm1) * x_0,
            mean_b=sp.sqrt(alphabar_t) * x_0,
            cov_aa=1 - alphabar_tm1,
            cov_ab=sp.sqrt(alpha_t) * (1 - alphabar_tm1),
            cov_bb_inv=1 / (1 - alphabar_t),
            b=x_t,
        )
        return mean, var
    if form == "ddpm":
        mean = (
            sp.sqrt(alphabar_tm1) * beta_t / (1 - alphabar_t) * x_0
            + sp.sqrt(alpha_t) * (1 - alphabar_tm1) / (1 - alphabar_t) * x_t
        )
        return mean, beta_tilde()
    if form == "square":
        precision, linear = completed_square()
        return linear / precision, 1 / precision
    raise ValueError(f"form: expected 'joint', 'ddpm' or 'square', got {form!r}")


def _log_joint():
    """Log of q(x_t | x_{t-1}) q(x_{t-1} | x_0), up to terms free of x_{t-1}."""
    return -((x_t - sp.sqrt(alpha_t) * x_tm1) ** 2) / (2 * beta_t) - (
        x_tm1 - sp.sqrt(alphabar_tm1) * x_0
    ) ** 2 / (2 * (1 - alphabar_tm1))


def completed_square():
    r"""Precision and linear coefficient of :math:`\log q(x_t \mid x_{t-1}) + \log q(x_{t-1} \mid x_0)`
    as a quadratic in :math:`x_{t-1}`: the exponent is
    :math:`-\tfrac12 \tilde\beta_t^{-1} x_{t-1}^2 + (\tilde\beta_t^{-1}\tilde\mu_t) x_{t-1} + \dots`

    Returns
    -------
    precision, linear : expressions (read off with :class:`sympy.Poly`, termwise cancelled)
    """
    poly = sp.Poly(sp.expand(_log_joint()), x_tm1)
    if poly.degree() != 2:  # pragma: no cover - structural guard
        raise AssertionError("log q is not quadratic in x_{t-1}")
    clean = lambda e: sp.Add(*(sp.cancel(a) for a in sp.Add.make_args(sp.expand(e))))  # noqa: E731
    return clean(-2 * poly.coeff_monomial(x_tm1**2)), clean(poly.coeff_monomial(x_tm1))


def diffused_covariance(S_=S, abar=alphabar_t):
    r""":math:`\Sigma_t = \bar\alpha_t S + (1 - \bar\alpha_t) I`: covariance of
    :math:`x_t` for data :math:`N(m, S)` (S a matrix symbol, or a scalar eigenvalue)."""
    if isinstance(S_, sp.MatrixExpr):
        return abar * S_ + (1 - abar) * sp.Identity(S_.shape[0])
    return abar * S_ + (1 - abar)


def q_posterior_matrix():
    r""":math:`q(x_{t-1} \mid x_t, x_0)` for vectors of symbolic size d.

    The joint blocks are :math:`(1-\bar\alpha_{t-1}) I`, :math:`\sqrt{\alpha_t}(1-\bar\alpha_{t-1}) I`
    and :math:`(1 - \bar\alpha_t) I`; the Schur complement with these d-by-d matrices gives

    .. math:: N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big).

    Returns
    -------
    mean : (d, 1) matrix expression in the vector symbols ``x_t``, ``x_0``
    cov : (d, d) matrix expression
    """
    I = sp.Identity(d)
    xt = sp.MatrixSymbol("x_t", d, 1)
    x0 = sp.MatrixSymbol("x_0", d, 1)
    mean, cov, _ = condition(
        mean_a=sp.sqrt(alphabar_tm1) * x0,
        mean_b=sp.sqrt(alphabar_t) * x0,
        cov_aa=(1 - alphabar_tm1) * I,
        cov_ab=sp.sqrt(alpha_t) * (1 - alphabar_tm1) * I,
        cov_bb_inv=sp.Inverse((1 - alphabar_t) * I).doit(),
        b=xt,
    )
    return mean, cov


@check("vp_forward_step", "theory.vp.forward_marginal_step", "test_forward_step")
def check_forward_step():
    coef, var = forward_marginal_step()
    ok = vanishes(coef - sp.sqrt(alphabar_t), SCHEDULE) and vanishes(
        var - (1 - alphabar_t), SCHEDULE
    )
    return (
        ok,
        "induction step of x_t|x_0 ~ N(sqrt(abar_t) x_0, 1-abar_t), any t",
        (eq(Tex(r"\mathbb{E}[x_t \mid x_0]"), coef * x_0), eq(var, 1 - alphabar_t)),
    )


@check("vp_forward_unrolled", "theory.vp.forward_marginal_unrolled", "test_forward_unrolled")
def check_forward_unrolled():
    ok = True
    for T in range(1, 5):
        coef, var, alphas = forward_marginal_unrolled(T)
        prod = sp.Mul(*alphas)
        ok = ok and vanishes(coef - sp.sqrt(prod)) and vanishes(var - (1 - prod))
    return (
        ok,
        "forward marginal unrolled for T = 1..4 with independent alphas",
        eq(Tex(r"\mathrm{Var}[x_4 \mid x_0]"), sp.expand(var)),
    )


def _joint_equals_ddpm(moment: int, shown: str, name: str):
    """Moment 0 (mean) or 1 (variance) of q(x_{t-1}|x_t,x_0): joint-Gaussian route = DDPM's."""
    joint, ddpm = q_posterior("joint")[moment], q_posterior("ddpm")[moment]
    return vanishes(joint - ddpm, SCHEDULE), shown, eq(Tex(name), ddpm)


@check("vp_q_mean", "theory.vp.q_posterior", "test_q_mean")
def check_q_mean():
    return _joint_equals_ddpm(
        0,
        "mean of q(x_{t-1}|x_t,x_0) from the joint Gaussian = DDPM closed form",
        r"\tilde\mu_t(x_t, x_0)",
    )


@check("vp_q_variance", "theory.vp.q_posterior", "test_q_variance")
def check_q_variance():
    return _joint_equals_ddpm(
        1, "variance of q(x_{t-1}|x_t,x_0) from the joint Gaussian = beta_tilde_t", r"\tilde\beta_t"
    )


@check("vp_completed_square", "theory.vp.completed_square", "test_completed_square")
def check_completed_square():
    md, vd = q_posterior("ddpm")
    ms, vs = q_posterior("square")
    # same moments, and the remainder after removing the square is free of x_{t-1}
    rem = _log_joint() + (x_tm1 - ms) ** 2 / (2 * vs)
    ok = (
        vanishes(ms - md, SCHEDULE)
        and vanishes(vs - vd, SCHEDULE)
        and vanishes(sp.diff(rem, x_tm1))
    )
    precision, linear = completed_square()
    return (
        ok,
        "completing the square in x_{t-1} gives the same mean and beta_tilde_t",
        (
            eq(Tex(r"\tilde\beta_t^{-1}"), precision),
            eq(Tex(r"\tilde\beta_t^{-1}\tilde\mu_t"), linear),
        ),
    )


@check("vp_matrix_marginal", "theory.vp.diffused_covariance", "test_matrix_marginal")
def check_matrix_marginal():
    I = sp.Identity(d)
    sig_t = diffused_covariance(S, alphabar_t)
    sig_tm1 = diffused_covariance(S, alphabar_tm1)
    return (
        vanishes(sig_t - (alpha_t * sig_tm1 + beta_t * I), SCHEDULE),
        "Sigma_t = abar_t S + (1-abar_t) I obeys Sigma_t = alpha_t Sigma_{t-1} + beta_t I, any d",
        eq(sig_t, alpha_t * sig_tm1 + beta_t * I),
    )


@check("vp_matrix_q_posterior", "theory.vp.q_posterior_matrix", "test_matrix_q_posterior")
def check_matrix_q_posterior():
    mean, cov = q_posterior_matrix()
    md, vd = q_posterior("ddpm")
    xt = sp.MatrixSymbol("x_t", d, 1)
    x0 = sp.MatrixSymbol("x_0", d, 1)
    md_vec = sp.MatMul(md.coeff(x_0), x0) + sp.MatMul(md.coeff(x_t), xt)
    ok = vanishes(cov - vd * sp.Identity(d), SCHEDULE) and vanishes(mean - md_vec, SCHEDULE)
    return (
        ok,
        "vector q(x_{t-1}|x_t,x_0) = N(mu_tilde, beta_tilde I) via d-by-d blocks, any d",
        (
            eq(Tex(r"\mathbb{E}[x_{t-1} \mid x_t, x_0]"), md_vec),
            eq(Tex(r"\mathrm{Cov}[x_{t-1} \mid x_t, x_0]"), vd * sp.Identity(d)),
        ),
    )


#: this module's checks in the order they are defined, and ``checks()`` that runs them
CHECKS, checks = module_checks(globals())
