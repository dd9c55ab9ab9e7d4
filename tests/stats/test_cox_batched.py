"""fit_cox_batched is the batched form of fit_cox: with integer weights each column's fit is
fit_cox (Efron) on the copied rows, and its Efron baseline hazard is fit_cox's.

Exact identity is impossible (the sums run in another order, and the batched fit takes a last
Newton step without evaluating there), so random data with tied times, zero weights and
censoring at the last time check agreement to 1e-9.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.stats import CoxRiskSets, efron_cumulative_hazard_batched, fit_cox, fit_cox_batched
from radiorisk.stats._cox import _accept_step, _relative_change


def _problem(seed, n, B):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    t = np.sort(np.round(rng.exponential(np.exp(-0.5 * x1)), 1) + 0.1)  # tied times
    order = np.argsort(t, kind="stable")
    x1 = x1[order]
    e = rng.binomial(1, 0.7, n).astype(float)
    e[-1] = 0.0  # censored at the last time
    x2 = rng.normal(size=(n, B)) + 0.3 * x1[:, None]
    W = rng.integers(0, 3, size=(n, B)).astype(float)
    W[:, 0] = 1.0
    return t, e, x1, x2, W


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(25, 90), st.booleans())
def test_each_column_is_fit_cox_on_the_copied_rows(seed, n, compiled):
    t, e, x1, x2, W = _problem(seed, n, 4)
    rs = CoxRiskSets.from_sorted(t, e)
    beta, ok = fit_cox_batched(rs, x1, x2, W, compiled=compiled)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        tt, ee = np.repeat(t, k), np.repeat(e, k)
        X = np.column_stack([np.repeat(x1, k), np.repeat(x2[:, b], k)])
        try:
            fit = fit_cox(X, tt, ee, ties="efron")
        except Exception:  # noqa: BLE001 - no events or no convergence: nothing to compare
            continue
        if not ok[b]:
            continue
        np.testing.assert_allclose(beta[:, b], fit.coef, rtol=0, atol=1e-9)
        # the Efron baseline hazard at the estimate, up to the last time: fit_cox's
        eta = beta[0, b] * x1 + beta[1, b] * x2[:, b]
        m = eta.max()
        H = efron_cumulative_hazard_batched(rs, W[:, [b]], np.exp(eta - m)[:, None],
                                            np.ones(len(rs.event_times), bool))[0]
        H_fit = fit.cumulative_hazard(t[-1], np.zeros(2))  # for eta = 0; H is for eta = m
        np.testing.assert_allclose(H * np.exp(-m), H_fit, rtol=1e-8)


def test_the_step_rules_are_shared_and_work_on_scalars_and_arrays():
    assert _accept_step(-10.0, -10.0 + 1e-12) and not _accept_step(-11.0, -10.0)
    np.testing.assert_array_equal(_accept_step(np.array([-10.0, -11.0]), np.array([-10.0, -10.0])),
                                  [True, False])
    assert _relative_change(-10.0, -5.0) == 1.0
    assert _relative_change(1.0, 0.0) == 1.0  # absolute change when the new value is 0
