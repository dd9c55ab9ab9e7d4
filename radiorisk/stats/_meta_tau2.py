"""Between-study variance estimators of the random-effects model, as ``metafor::rma.uni`` computes them.

The model is :math:`y_i = \\mu + u_i + e_i`, :math:`u_i \\sim N(0, \\tau^2)`,
:math:`e_i \\sim N(0, v_i)` with known :math:`v_i`. Each estimator here follows the
code of metafor 3.8-1 for an intercept-only model step by step (starting values,
the Fisher-scoring step and its step halving, the search interval, the root
finder and its tolerance, the truncation of :math:`\\tau^2` at 0), so that the
numbers equal metafor's with its default ``control`` and also with a tight one:

``dl_tau2``
    DerSimonian–Laird: :math:`(Q - (k-1)) / (\\sum w - \\sum w^2 / \\sum w)` with
    :math:`w = 1/v`, truncated at 0.
``pm_tau2``
    Paule–Mandel: the root in :math:`[0, \\tau^2_{max}]` of the generalised
    :math:`Q(\\tau^2) = k - 1`, found by Brent's zeroin (R's ``uniroot``, tolerance
    ``eps**0.25`` unless ``tol`` is given), with :math:`\\tau^2_{max} =
    \\max(100, 10\\,\\mathrm{mad}(y)^2)`; 0 when :math:`Q(0) < k - 1`.
``reml_tau2``
    Restricted maximum likelihood by Fisher scoring from the Hedges (HE)
    estimate, steps halved while they would leave :math:`\\tau^2 \\ge 0`, stopping
    when a step changes :math:`\\tau^2` by at most ``tol`` (metafor's
    ``threshold``, 1e-5), at most 100 iterations; then metafor's check that the
    restricted likelihood at 0 is not higher (else :math:`\\tau^2 = 0`). Beyond
    metafor: where Fisher scoring does not converge (metafor stops with an error)
    the estimate is the best root of the REML score, and where it stops at a local
    maximum while the likelihood is higher elsewhere the note says where.
``qprofile_ci``
    The Q-profile confidence interval of :math:`\\tau^2` (Viechtbauer 2007), as
    ``confint.rma.uni``.

References: DerSimonian & Laird (1986) *Control Clin Trials* 7:177; Paule & Mandel (1982)
*J Res Natl Bur Stand* 87:377; Viechtbauer (2005) *J Educ Behav Stat* 30:261 and (2007)
*Stat Med* 26:37; Brent (1973) *Algorithms for Minimization without Derivatives*, ch. 4.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as sps

from ..exceptions import NotEstimableError

__all__ = ["Tau2", "dl_tau2", "pm_tau2", "reml_tau2", "qprofile_ci", "q_statistic", "zeroin"]

EPS = float(np.finfo(np.float64).eps)
ROOT_TOL = EPS ** 0.25  # metafor's control$tol (uniroot's default)
REML_THRESHOLD = 1e-5  # metafor's control$threshold
REML_MAXITER = 100  # metafor's control$maxiter
PM_MAXITER = 100
QP_MAXITER = 1000  # confint.rma.uni's maxiter
MAD_CONSTANT = 1.4826  # R's mad()


class Tau2(NamedTuple):
    """An estimate of the between-study variance.

    Attributes
    ----------
    tau2 : float
        The estimate (>= 0).
    iterations : int
        Fisher-scoring iterations or root-finder evaluations (0 for closed forms).
    note : str
        Empty, or what happened on the way (e.g. a reset to 0).
    """

    tau2: float
    iterations: int = 0
    note: str = ""


def q_statistic(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """The generalised :math:`Q(\\tau^2) = \\sum w_i (y_i - \\hat\\mu_w)^2`, :math:`w_i = 1/(v_i + \\tau^2)`.

    Parameters
    ----------
    tau2 : float
        Between-study variance (0 gives Cochran's Q).
    y, v : ndarray
        Estimates and their sampling variances.

    Returns
    -------
    float

    Examples
    --------
    >>> q_statistic(0.0, np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    0.5
    """
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    return float(np.sum(w * (y - mu) ** 2))


def _p_matrix(w: np.ndarray) -> np.ndarray:
    """metafor's ``P = W - W X (X'WX)^-1 X'W`` for the intercept-only model."""
    return np.diag(w) - np.outer(w, w) / np.sum(w)


def dl_tau2(y: np.ndarray, v: np.ndarray) -> Tau2:
    """DerSimonian–Laird estimate of :math:`\\tau^2`, truncated at 0.

    Parameters
    ----------
    y, v : ndarray
        Estimates and sampling variances (k >= 2).

    Returns
    -------
    Tau2

    Examples
    --------
    >>> dl_tau2(np.array([0.1, 0.45]), np.array([0.01, 0.0225])).tau2
    0.045
    """
    w = 1.0 / v
    P = _p_matrix(w)
    yc = y - np.mean(y)
    rss = float(yc @ P @ yc)
    tr_p = float(np.trace(P))
    return Tau2(max(0.0, (rss - (len(y) - 1)) / tr_p))


def _he_tau2(y: np.ndarray, v: np.ndarray) -> float:
    """Hedges' estimate, metafor's starting value for REML."""
    k = len(y)
    yc = y - np.mean(y)
    rss = float(yc @ yc)
    tr_pv = float(np.sum(v) - np.sum(v) / k)
    return (rss - tr_pv) / (k - 1)


def _reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    k = len(y)
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    rss = float(np.sum(w * (y - mu) ** 2))
    return (-0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * float(np.sum(np.log(v + tau2)))
            - 0.5 * float(np.log(np.sum(w))) - 0.5 * rss)


def reml_tau2(y: np.ndarray, v: np.ndarray, *, tol: float | None = None,
              maxiter: int = REML_MAXITER) -> Tau2:
    """Restricted maximum likelihood estimate of :math:`\\tau^2` by metafor's Fisher scoring.

    Parameters
    ----------
    y, v : ndarray
        Estimates and sampling variances (k >= 2).
    tol : float, optional
        Stop when a step changes :math:`\\tau^2` by at most this (default 1e-5,
        metafor's ``control$threshold``).
    maxiter : int
        Iterations before giving up.

    Returns
    -------
    Tau2

    Raises
    ------
    NotEstimableError
        When the restricted likelihood has no maximum below a large upper limit.

    Notes
    -----
    When Fisher scoring does not converge in ``maxiter`` iterations (it can cycle
    when the likelihood is flat or skewed), metafor stops with an error; here the
    estimate is then the root of the REML score with the highest restricted
    likelihood (``iterations`` is -1 and ``note`` says so).

    Examples
    --------
    >>> round(reml_tau2(np.array([0.1, 0.45]), np.array([0.01, 0.0225])).tau2, 6)
    0.045
    """
    threshold = REML_THRESHOLD if tol is None else float(tol)
    yc = y - np.mean(y)
    tau2 = max(0.0, _he_tau2(y, v))
    change, it = threshold + 1.0, 0
    while change > threshold:
        it += 1
        old = tau2
        P = _p_matrix(1.0 / (v + tau2))
        PP = P @ P
        with np.errstate(invalid="ignore", divide="ignore"):
            adj = (float(yc @ PP @ yc) - float(np.trace(P))) / float(np.trace(PP))
        if not np.isfinite(adj):  # metafor: is.na(adj) -> 0
            adj = 0.0
        while tau2 + adj < 0.0:
            adj /= 2.0
        tau2 += adj
        change = abs(old - tau2)
        if it > maxiter:
            return _reml_by_score_root(y, v, maxiter, change, threshold)
    note = ""
    if _reml_loglik(0.0, yc, v) - _reml_loglik(tau2, yc, v) > ROOT_TOL and tau2 > threshold:
        note = ("the REML Fisher scoring stopped where the restricted likelihood is lower than "
                "at tau2 = 0 (a local maximum): tau2 set to 0, as metafor does")
        tau2 = 0.0
    tau2 = max(0.0, tau2)
    higher = _higher_maximum_note(yc, v, tau2)
    return Tau2(tau2, it, "; ".join(n for n in (note, higher) if n))


def _reml_score(tau2: float, yc: np.ndarray, v: np.ndarray) -> float:
    """Twice the derivative of the restricted log-likelihood: ``y'PPy - tr(P)``."""
    P = _p_matrix(1.0 / (v + tau2))
    Py = P @ yc
    return float(Py @ Py) - float(np.trace(P))


def _reml_candidates(yc: np.ndarray, v: np.ndarray) -> list[float]:
    """Every local maximum of the restricted likelihood on [0, upper] (roots of the score, or 0).

    The score is evaluated on a grid; each sign change from + to - is solved by
    :func:`zeroin` to 1e-12, and 0 is a candidate when the score is negative there.
    """
    upper = max(100.0, 10.0 * (float(np.var(yc, ddof=1)) + float(np.max(v))))
    grid = np.concatenate([[0.0], np.geomspace(1e-10 * upper, upper, 240)])
    score = np.array([_reml_score(t, yc, v) for t in grid])
    candidates = [0.0] if score[0] <= 0 else []
    for i in np.flatnonzero((score[:-1] > 0) & (score[1:] <= 0)):
        root, _ = zeroin(lambda t: _reml_score(t, yc, v), grid[i], grid[i + 1], score[i],
                         score[i + 1], tol=1e-12, maxiter=QP_MAXITER)
        candidates.append(float(root))
    if not candidates:
        raise NotEstimableError(
            f"REML: the restricted likelihood increases up to tau2 = {upper:g}: tau2 cannot "
            "be estimated; try method='PM'")
    return candidates


def _best(candidates: list[float], yc: np.ndarray, v: np.ndarray) -> float:
    return max(candidates, key=lambda t: _reml_loglik(t, yc, v))


def _reml_by_score_root(y: np.ndarray, v: np.ndarray, maxiter: int, change: float,
                        threshold: float) -> Tau2:
    """The REML estimate when Fisher scoring cycles: the highest local maximum."""
    yc = y - np.mean(y)
    best = _best(_reml_candidates(yc, v), yc, v)
    note = (f"REML: Fisher scoring did not converge in {maxiter} iterations (last change "
            f"{change:.3g} > {threshold:g}; metafor stops here with an error); tau2 is the root "
            "of the REML score with the highest restricted likelihood")
    return Tau2(max(0.0, best), -1, note)


def _higher_maximum_note(yc: np.ndarray, v: np.ndarray, tau2: float) -> str:
    """A note when the restricted likelihood is higher elsewhere than where Fisher scoring stopped."""
    candidates = _reml_candidates(yc, v)
    best = _best(candidates, yc, v)
    here = min(candidates, key=lambda t: abs(t - tau2))  # the maximum Fisher scoring approached
    gain = _reml_loglik(best, yc, v) - _reml_loglik(tau2, yc, v)
    if best == here or gain <= 1e-8:
        return ""
    return (f"REML: the restricted likelihood has a higher maximum at tau2 = {best:.6g} "
            f"(log-likelihood +{gain:.3g}) than at the reported tau2 = {tau2:.6g}, where Fisher "
            "scoring stops as in metafor; compare method='PM' or the profile likelihood")


def _mad(y: np.ndarray) -> float:
    med = float(np.median(y))
    return MAD_CONSTANT * float(np.median(np.abs(y - med)))


def pm_tau2(y: np.ndarray, v: np.ndarray, *, tol: float | None = None,
            maxiter: int = PM_MAXITER) -> Tau2:
    """Paule–Mandel estimate of :math:`\\tau^2`: the root of :math:`Q(\\tau^2) = k - 1`.

    Parameters
    ----------
    y, v : ndarray
        Estimates and sampling variances (k >= 2).
    tol : float, optional
        Tolerance of the root finder (default ``eps**0.25``, metafor's ``control$tol``).
    maxiter : int
        Root-finder iterations.

    Returns
    -------
    Tau2

    Raises
    ------
    NotEstimableError
        When :math:`Q(\\tau^2_{max}) > k - 1` (no root in the search interval).

    Examples
    --------
    >>> round(pm_tau2(np.array([0.1, 0.45]), np.array([0.01, 0.0225]), tol=1e-12).tau2, 12)
    0.045
    """
    k = len(y)
    yc = y - np.mean(y)
    target = float(k - 1)
    tau2_max = max(100.0, 10.0 * _mad(y) ** 2)
    f_lo = q_statistic(0.0, yc, v) - target
    if f_lo < 0:
        return Tau2(0.0)
    f_hi = q_statistic(tau2_max, yc, v) - target
    if f_hi > 0:
        raise NotEstimableError(
            f"Paule-Mandel: Q(tau2) > k - 1 = {k - 1} even at tau2 = {tau2_max:g} (the upper "
            "end of the search interval): tau2 cannot be estimated; try method='REML'")
    root, evals = zeroin(lambda t: q_statistic(t, yc, v) - target, 0.0, tau2_max, f_lo, f_hi,
                         tol=ROOT_TOL if tol is None else float(tol), maxiter=maxiter)
    return Tau2(max(0.0, root), evals)


def _interpolation_step(a, b, c, fa, fb, fc, tol_act, prev_step):
    """Brent's secant or inverse quadratic step from b, or None to bisect."""
    cb = c - b
    if a == c:  # two distinct points: secant
        t1 = fb / fa
        p, q = cb * t1, 1.0 - t1
    else:  # inverse quadratic interpolation
        q, t1, t2 = fa / fc, fb / fc, fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
        return p / q
    return None


def zeroin(f, a: float, b: float, fa: float, fb: float, *, tol: float,
           maxiter: int) -> tuple[float, int]:
    """Brent's zeroin: a root of ``f`` in ``[a, b]`` given ``f(a)``, ``f(b)`` of opposite signs.

    The algorithm of Brent (1973, ch. 4) in the form R's ``uniroot`` uses: the
    iterate is accepted when half the bracket is at most ``2 eps |b| + tol / 2``;
    steps are never shorter than that.

    Parameters
    ----------
    f : callable
        The function.
    a, b : float
        The bracket.
    fa, fb : float
        ``f(a)`` and ``f(b)``.
    tol : float
        Absolute tolerance.
    maxiter : int
        Iterations (R's ``maxiter``).

    Returns
    -------
    (root, iterations) : tuple of float and int
        ``iterations`` is -1 when ``maxiter`` was reached (``root`` is then the last iterate).

    Examples
    --------
    >>> root, _ = zeroin(lambda x: x * x - 2.0, 0.0, 2.0, -2.0, 2.0, tol=1e-12, maxiter=100)
    >>> round(root, 10)
    1.4142135624
    """
    if fa == 0.0:
        return a, 0
    if fb == 0.0:
        return b, 0
    c, fc = a, fa
    for it in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):  # b is the best approximation
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, it + 1
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            step = _interpolation_step(a, b, c, fa, fb, fc, tol_act, prev_step)
            if step is not None:
                new_step = step
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, -1


class Tau2Interval(NamedTuple):
    """The Q-profile confidence interval of :math:`\\tau^2`."""

    low: float
    high: float
    note: str = ""


def qprofile_ci(y: np.ndarray, v: np.ndarray, tau2: float, *, level: float = 0.95,
                tol: float | None = None) -> Tau2Interval:
    """Q-profile confidence interval of :math:`\\tau^2`, as ``confint.rma.uni`` (``type = "QP"``).

    The limits solve :math:`Q(\\tau^2) = \\chi^2_{k-1}` at the upper and lower
    ``(1 - level) / 2`` quantiles in :math:`[0, \\max(100, 10 \\hat\\tau^2)]`; a limit
    below 0 is 0 and one beyond the interval is its upper end (stated in ``note``).

    Parameters
    ----------
    y, v : ndarray
        Estimates and sampling variances.
    tau2 : float
        The estimate (sets the search interval).
    level : float
        Confidence level.
    tol : float, optional
        Root-finder tolerance (default ``eps**0.25``).

    Returns
    -------
    Tau2Interval

    Examples
    --------
    >>> ci = qprofile_ci(np.array([0.2, 0.22, 0.19]), np.array([0.01, 0.0144, 0.0064]), 0.0)
    >>> ci.low, ci.high
    (0.0, 0.0)
    """
    k = len(y)
    alpha = 1.0 - level
    crit_u = float(sps.chi2.isf(alpha / 2, k - 1))
    crit_l = float(sps.chi2.ppf(alpha / 2, k - 1))
    hi_end = max(100.0, 10.0 * tau2)
    tol = ROOT_TOL if tol is None else float(tol)
    q_lo, q_hi = q_statistic(0.0, y, v), q_statistic(hi_end, y, v)

    def root(target):
        r, _ = zeroin(lambda t: q_statistic(t, y, v) - target, 0.0, hi_end, q_lo - target,
                      q_hi - target, tol=tol, maxiter=QP_MAXITER)
        return r

    if q_lo < crit_l:
        return Tau2Interval(0.0, 0.0, "the Q-profile CI of tau2 is {0}: Q(0) is below the "
                                      f"lower {alpha / 2:g} quantile of chi2({k - 1})")
    notes = []
    if q_hi > crit_l:
        high = hi_end
        notes.append(f"the upper Q-profile limit of tau2 is beyond {hi_end:g}")
    else:
        high = root(crit_l)
    if q_hi > crit_u:
        return Tau2Interval(hi_end, hi_end, f"the Q-profile CI of tau2 lies beyond {hi_end:g}")
    low = 0.0 if q_lo < crit_u else root(crit_u)
    return Tau2Interval(low, high, "; ".join(notes))
