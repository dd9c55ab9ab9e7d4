"""Metrics of a binary outcome: discrimination, overall accuracy and calibration.

Every definition follows ``../referee/README.md`` and reproduces the R function
it names to 1e-6 or better.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

from ._common import (
    CalibrationErrors,
    Estimate,
    NotEstimableError,
    _summarise_errors,
    _wald,
    check_binary_inputs,
    logit_clipped,
)
from ._linalg import inverse_information, newton_step, sqrt_variance

__all__ = [
    "auc_delong",
    "brier_score",
    "calibration_intercept",
    "calibration_slope",
    "loess_calibration",
    "oe_ratio",
]

_ONE_CLASS = "the outcome has a single class ({k} rows, {e} events): {what} is not defined"


def _require_both_classes(y: np.ndarray, what: str) -> None:
    e = int(y.sum())
    if e == 0 or e == len(y):
        raise NotEstimableError(_ONE_CLASS.format(k=len(y), e=e, what=what))


def auc_delong(y_true, y_prob) -> Estimate:
    r"""Area under the ROC curve with DeLong's 95 % confidence interval.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    Estimate
        ``estimate`` (the AUC), ``se`` (DeLong) and the Wald interval clipped
        to [0, 1].

    Raises
    ------
    NotEstimableError
        When ``y_true`` has one class only.

    Notes
    -----
    With :math:`m` cases and :math:`n` controls,

    .. math::

        \mathrm{AUC} = \frac{1}{mn} \sum_{i \in \text{cases}} \sum_{j \in \text{controls}}
        \left[ 1(p_i > p_j) + \tfrac12 1(p_i = p_j) \right].

    DeLong's placements are :math:`V_{10,i}` (the share of controls below case
    :math:`i`, ties ½) and :math:`V_{01,j}` (the share of cases above control
    :math:`j`); :math:`SE^2 = s^2(V_{10})/m + s^2(V_{01})/n` with sample
    variances. They come from mid-ranks, so the cost is :math:`O(N \log N)`.
    This is ``pROC::roc(y, p, direction = "<")`` with
    ``ci.auc(method = "delong")``.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.

    Examples
    --------
    >>> r = auc_delong([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> round(r.estimate, 4)
    0.8889
    """
    y, p = check_binary_inputs(y_true, y_prob)
    _require_both_classes(y, "the AUC")
    cases, controls = p[y == 1], p[y == 0]
    m, n = len(cases), len(controls)
    r_all = rankdata(p)  # mid-ranks
    r_case = rankdata(cases)
    r_ctrl = rankdata(controls)
    v10 = (r_all[y == 1] - r_case) / n  # controls below case i (ties 1/2)
    v01 = 1.0 - (r_all[y == 0] - r_ctrl) / m  # cases above control j (ties 1/2)
    auc = float(np.mean(v10))
    var = 0.0
    if m > 1:
        var += np.var(v10, ddof=1) / m
    if n > 1:
        var += np.var(v01, ddof=1) / n
    se = float(sqrt_variance(var)) if (m > 1 and n > 1) else float("nan")
    lo, hi = auc - 1.959963984540054 * se, auc + 1.959963984540054 * se
    return Estimate(auc, se, float(max(0.0, lo)), float(min(1.0, hi)),
                    "Mann-Whitney AUC; DeLong SE (pROC ci.auc, method='delong')")


def brier_score(y_true, y_prob) -> float:
    r"""Brier score :math:`\frac1n \sum_i (p_i - y_i)^2`.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    float

    Examples
    --------
    >>> round(brier_score([0, 1], [0.2, 0.6]), 6)
    0.1
    """
    y, p = check_binary_inputs(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def oe_ratio(y_true, y_prob) -> float:
    r"""Observed-to-expected ratio :math:`\sum_i y_i / \sum_i p_i`.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    float

    Raises
    ------
    NotEstimableError
        When every predicted probability is 0.

    Examples
    --------
    >>> oe_ratio([0, 1, 1, 0], [0.25, 0.25, 0.5, 0.5])
    1.3333333333333333
    """
    y, p = check_binary_inputs(y_true, y_prob)
    s = float(np.sum(p))
    if s <= 0:
        raise NotEstimableError("the expected number of events is 0: O/E is not defined")
    return float(np.sum(y)) / s


# ---------------------------------------------------------------------------
# logistic recalibration fits
# ---------------------------------------------------------------------------


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray, *, tol: float = 1e-14,
                  max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Newton-Raphson ML fit of ``logit P(y=1) = offset + X b``; returns (b, InverseInformation)."""

    def deviance(b):
        eta = offset + X @ b
        # -2 loglik = 2 * sum(log(1 + e^eta) - y * eta), computed stably
        return 2.0 * float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    b = np.zeros(X.shape[1])
    dev = deviance(b)
    for _ in range(max_iter):
        mu = expit(offset + X @ b)
        w = mu * (1.0 - mu)
        info = X.T @ (X * w[:, None])
        score = X.T @ (y - mu)
        step = newton_step(info, score, "logistic calibration")
        new = b + step
        new_dev = deviance(new)
        halvings = 0
        while new_dev > dev + 1e-12 * abs(dev) and halvings < 30:  # step-halving, as glm.fit
            step /= 2.0
            new = b + step
            new_dev = deviance(new)
            halvings += 1
        done = abs(new_dev - dev) / (abs(new_dev) + 0.1) < tol or np.max(np.abs(step)) < 1e-13
        b, dev = new, new_dev
        if done:
            break
    else:
        raise NotEstimableError("the logistic calibration model did not converge (separation?)")
    if not np.all(np.isfinite(b)) or np.max(np.abs(b)) > 30:
        raise NotEstimableError("the logistic calibration model has no finite maximum (separation)")
    mu = expit(offset + X @ b)
    info = X.T @ (X * (mu * (1.0 - mu))[:, None])
    return b, inverse_information(info, "logistic calibration")


def _with_note(method: str, note: str) -> str:
    return f"{method}; {note}" if note else method


def calibration_intercept(y_true, y_prob) -> Estimate:
    r"""Calibration-in-the-large: the intercept with ``logit(p)`` as an offset.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    Estimate
        :math:`\hat\alpha`, its SE from the observed information at the MLE,
        and the Wald interval :math:`\hat\alpha \pm 1.959964\,SE`.

    Notes
    -----
    :math:`\operatorname{logit} P(y = 1) = \alpha + \operatorname{logit}(p)`
    with ``p`` clipped to :math:`[10^{-12}, 1 - 10^{-12}]`, fitted by
    Newton-Raphson to a relative deviance change below 1e-14; this is R's
    ``glm(y ~ 1 + offset(qlogis(p)), binomial, epsilon = 1e-14)``. It is *not*
    the "Intercept" of ``rms::val.prob`` (that one is fitted jointly with a slope).

    Examples
    --------
    >>> r = calibration_intercept([0, 1, 1, 0, 1], [0.2, 0.5, 0.6, 0.4, 0.3])
    >>> round(r.estimate, 4)
    0.8883
    """
    y, p = check_binary_inputs(y_true, y_prob)
    _require_both_classes(y, "the calibration intercept")
    b, inv = _logistic_fit(np.ones((len(y), 1)), y, logit_clipped(p))
    return _wald(b[0], inv.se[0], _with_note("glm(y ~ 1 + offset(qlogis(p)), binomial)", inv.note))


def calibration_slope(y_true, y_prob) -> Estimate:
    r"""Calibration slope: :math:`\beta` in :math:`\operatorname{logit} P(y=1) = a + \beta \operatorname{logit}(p)`.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    Estimate
        :math:`\hat\beta` with its Wald interval.

    Notes
    -----
    R's ``glm(y ~ qlogis(p), binomial, epsilon = 1e-14)``; ``p`` clipped to
    :math:`[10^{-12}, 1 - 10^{-12}]`.

    Examples
    --------
    >>> r = calibration_slope([0, 1, 1, 0, 1, 0], [0.2, 0.5, 0.6, 0.4, 0.3, 0.1])
    >>> round(r.estimate, 3)
    2.606
    """
    y, p = check_binary_inputs(y_true, y_prob)
    _require_both_classes(y, "the calibration slope")
    lp = logit_clipped(p)
    if np.ptp(lp) == 0:
        raise NotEstimableError("all predicted probabilities are equal: the slope is not defined")
    X = np.column_stack([np.ones(len(y)), lp])
    b, inv = _logistic_fit(X, y, np.zeros(len(y)))
    return _wald(b[1], inv.se[1], _with_note("glm(y ~ qlogis(p), binomial)", inv.note))


# ---------------------------------------------------------------------------
# loess calibration (Austin & Steyerberg 2019)
# ---------------------------------------------------------------------------


#: Fewest rows loess(span 0.75, degree 2) is tried on (fewer rows never fit: 0.75 n < 3 points).
_LOESS_MIN_ROWS = 4


def loess_fit(p: np.ndarray, y: np.ndarray):
    """R's default ``loess(y ~ p)`` (span 0.75, degree 2, gaussian, interpolated surface).

    Parameters
    ----------
    p, y : ndarray of shape (n,)
        Predicted probabilities and 0/1 outcomes.

    Returns
    -------
    skmisc.loess.loess
        The fitted smoother (``.predict(x).values``).

    Raises
    ------
    NotEstimableError
        When loess cannot be fitted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 200)
    >>> fit = loess_fit(p, rng.binomial(1, p).astype(float))
    >>> fit.predict(np.array([0.3])).values.shape
    (1,)
    """
    from skmisc.loess import loess

    if len(p) < _LOESS_MIN_ROWS:  # skmisc's C code crashes the process on a single row
        raise NotEstimableError(f"loess(y ~ p) cannot be fitted: {len(p)} row(s); a local quadratic fit "
                                f"with span 0.75 needs at least {_LOESS_MIN_ROWS}")
    try:
        fit = loess(p, y, span=0.75, degree=2, family="gaussian", surface="interpolate")
        fit.fit()
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        raise NotEstimableError(f"loess(y ~ p) cannot be fitted: {exc}") from exc
    return fit


_loess = loess_fit


def loess_calibration(y_true, y_prob) -> CalibrationErrors:
    r"""Integrated calibration index and friends from R's default ``loess(y ~ p)``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability of the outcome.

    Returns
    -------
    CalibrationErrors
        ``ici, e50, e90, emax`` and the smoothed observed risk at each row.

    Notes
    -----
    :math:`\hat o = \operatorname{loess}(y \sim p)` with R's defaults (span 0.75,
    degree 2, gaussian family, ``surface = "interpolate"``: kd-tree vertices
    with cubic blending), evaluated at every observed :math:`p_i`;
    :math:`d_i = |\hat o_i - p_i|`. ICI is :math:`\bar d`, E50 the median,
    E90 the type-7 0.9 quantile and Emax the maximum (Austin & Steyerberg
    2019, Stat Med 38:4051, appendix). ``skmisc.loess`` wraps the same
    ``dloess`` code as R and reproduces ``predict(loess(y ~ p), p)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> y = rng.binomial(1, p)
    >>> r = loess_calibration(y, p)
    >>> bool(0 <= r.e50 <= r.e90 <= r.emax)
    True
    """
    y, p = check_binary_inputs(y_true, y_prob)
    fit = _loess(p, y)
    try:
        obs = np.asarray(fit.predict(p).values, dtype=np.float64)
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        raise NotEstimableError(f"loess prediction failed: {exc}") from exc
    return _summarise_errors(obs, p, "predict(loess(y ~ p), p) [span 0.75, degree 2, interpolate]")
