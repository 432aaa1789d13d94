"""numerics.dps: the numpy DPS step against finite differences of its loss."""

from __future__ import annotations

import numpy as np
import pytest

from numerics.dp_curve import DEFAULT_PROBLEM, load_problem
from numerics.dps import dps_score
from numerics.schedule import linear_schedule


def test_dps_score_gradient_matches_finite_differences(rng):
    """The numpy DPS step uses the analytic Jacobian of Tweedie; check against central differences."""
    prob = load_problem(DEFAULT_PROBLEM)
    prior, A, y = prob.prior, prob.A, prob.y + np.array([0.3, -0.1])
    sched = linear_schedule(1000)
    x = rng.normal(size=(4, 2))
    for form in ("reference", "likelihood"):
        for t in (5, 300, 900):
            s_dps = dps_score(prior, A, 0.5, y, sched, zeta=0.7, form=form)(x, t)
            s_prior = prior.score(x, t, sched)

            def loss(xx, t=t, form=form):
                r = y - prior.tweedie_mean(xx, t, sched) @ A.T
                n2 = np.sum(r**2, axis=1)
                return np.sqrt(n2) if form == "reference" else n2 / (2 * 0.5**2)

            h = 1e-6
            grad = np.stack(
                [(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(2)], axis=1
            )
            expected = s_prior - 0.7 * np.sqrt(sched.alpha[t]) * grad / sched.beta[t]
            np.testing.assert_allclose(
                s_dps, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()
            )


def test_bad_form_is_refused():
    prob = load_problem(DEFAULT_PROBLEM)
    with pytest.raises(ValueError, match="^form"):
        dps_score(prob.prior, prob.A, 0.5, prob.y, linear_schedule(10), zeta=1.0, form="l2")
