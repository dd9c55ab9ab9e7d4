"""Rubin's rules: pooling estimates across multiply imputed data sets, as R's ``mice::pool``.

:func:`rubin_pool` combines, for each parameter, the M point estimates
:math:`Q_m` and their squared standard errors :math:`U_m` from M completed
data sets (Rubin 1987; van Buuren, *Flexible Imputation of Missing Data*,
2nd ed., §2.3):

.. math::

    \\bar Q = \\frac1M \\sum_m Q_m, \\quad \\bar U = \\frac1M \\sum_m U_m, \\quad
    B = \\frac{1}{M-1} \\sum_m (Q_m - \\bar Q)^2, \\quad
    T = \\bar U + (1 + 1/M) B,

the relative increase in variance :math:`r = (1 + 1/M) B / \\bar U`, the
proportion of variance due to missingness :math:`\\lambda = (1 + 1/M) B / T`,
the Barnard–Rubin (1999) degrees of freedom

.. math::

    \\nu_{old} = \\frac{M - 1}{\\lambda^2}, \\quad
    \\nu_{obs} = \\frac{\\nu_{com} + 1}{\\nu_{com} + 3}\\, \\nu_{com} (1 - \\lambda), \\quad
    \\nu = \\frac{\\nu_{old}\\, \\nu_{obs}}{\\nu_{old} + \\nu_{obs}}

(:math:`\\lambda` floored at 1e-4 inside the formula; :math:`\\nu = \\nu_{old}`
when :math:`\\nu_{com}` is infinite) and the fraction of missing information
:math:`\\gamma = (r + 2/(\\nu + 3)) / (r + 1)`.  These are the formulas of
``mice::pool`` 3.15 (``pool.fitlist`` with ``rule = "rubin1987"`` and
``barnard.rubin``); for a ``coxph`` fit mice takes :math:`\\nu_{com}` = number of
events minus number of coefficients.  The tests compare with R to 1e-8
(``tests/reference/mice``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..exceptions import RadioriskError

__all__ = ["rubin_pool", "RUBIN_COLUMNS", "barnard_rubin_df"]

#: Columns of :func:`rubin_pool`'s table (mice::pool's ``pooled`` plus ``se``, ``ci_low``, ``ci_high``).
RUBIN_COLUMNS = ("term", "m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi",
                 "se", "ci_low", "ci_high")


def barnard_rubin_df(m: int, b, t, dfcom=np.inf) -> np.ndarray:
    """Barnard–Rubin (1999) degrees of freedom of a pooled estimate (``mice:::barnard.rubin``).

    Parameters
    ----------
    m : int
        Number of imputations (>= 2).
    b, t : array-like
        Between-imputation and total variance of each parameter.
    dfcom : float, default inf
        Complete-data degrees of freedom.

    Returns
    -------
    ndarray
        One value per parameter.

    Examples
    --------
    >>> round(float(barnard_rubin_df(5, [0.01], [0.05])[0]), 3)  # (M - 1) / lambda^2, lambda = 0.24
    69.444
    """
    b = np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.maximum((1.0 + 1.0 / m) * b / t, 1e-4)
        dfold = (m - 1) / lam**2
        if np.isinf(dfcom):
            return dfold
        dfobs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
        return dfold * dfobs / (dfold + dfobs)


def _as_matrix(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise RadioriskError(f"{name} must be a table of shape (M imputations, p parameters); "
                             f"got {a.ndim} dimensions")
    return a


def rubin_pool(estimates, variances, *, terms=None, dfcom=np.inf, level: float = 0.95) -> pd.DataFrame:
    """Pool M sets of estimates and variances by Rubin's rules (``mice::pool``'s pooled table).

    Parameters
    ----------
    estimates : array-like of shape (M, p)
        Point estimates of p parameters in each of M completed data sets (a
        DataFrame's columns name the terms).
    variances : array-like of shape (M, p)
        Their squared standard errors (within-imputation variances).  A NaN
        (a standard error that could not be estimated in some imputation)
        makes that term's variance columns NaN, as in R.
    terms : sequence of str, optional
        Parameter names (default: the columns of ``estimates`` or ``x0, x1, ...``).
    dfcom : float, default inf
        Complete-data degrees of freedom of the Barnard–Rubin correction
        (mice uses events minus coefficients for a Cox model; inf gives the
        Rubin 1987 large-sample degrees of freedom).
    level : float, default 0.95
        Level of the t interval ``estimate -/+ t_{df, (1+level)/2} * se``.

    Returns
    -------
    DataFrame
        One row per term with :data:`RUBIN_COLUMNS`: ``m``, ``estimate`` (mean),
        ``ubar`` (mean within variance), ``b`` (between variance), ``t`` (total
        variance), ``dfcom``, ``df`` (Barnard–Rubin), ``riv``, ``lambda``,
        ``fmi`` — as ``mice::pool(fit)$pooled`` — and ``se = sqrt(t)``,
        ``ci_low``, ``ci_high``.

    Raises
    ------
    RadioriskError
        Fewer than 2 imputations, shapes that differ, non-finite estimates,
        negative variances or ``dfcom`` <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[0.50, -1.0], [0.56, -1.1], [0.47, -0.9]])
    >>> u = np.array([[0.010, 0.040], [0.012, 0.041], [0.011, 0.039]])
    >>> pooled = rubin_pool(q, u, terms=["age", "tbr"], dfcom=200)
    >>> pooled[["term", "m", "estimate"]].round(4).to_dict("records")
    [{'term': 'age', 'm': 3, 'estimate': 0.51}, {'term': 'tbr', 'm': 3, 'estimate': -1.0}]
    >>> bool(np.allclose(pooled["t"], pooled["ubar"] + (1 + 1 / 3) * pooled["b"]))
    True
    """
    if terms is None and isinstance(estimates, pd.DataFrame):
        terms = [str(c) for c in estimates.columns]
    q = _as_matrix(estimates, "estimates")
    u = _as_matrix(variances, "variances")
    if q.shape != u.shape:
        raise RadioriskError(f"estimates has shape {q.shape} but variances has {u.shape}")
    m, p = q.shape
    if m < 2:
        raise RadioriskError(f"Rubin's rules need at least 2 imputations; got {m}")
    if not np.isfinite(q).all():
        raise RadioriskError("estimates must be finite in every imputation")
    if (~np.isnan(u) & (~np.isfinite(u) | (u < 0))).any():
        raise RadioriskError("variances must be finite and >= 0 (or NaN: not estimable) in every "
                             "imputation")
    if not (isinstance(dfcom, int | float | np.integer | np.floating) and dfcom > 0):
        raise RadioriskError(f"dfcom must be a number > 0 (or inf); got {dfcom!r}")
    if not 0.0 < level < 1.0:
        raise RadioriskError(f"level must be in (0, 1); got {level!r}")
    terms = [f"x{j}" for j in range(p)] if terms is None else [str(s) for s in terms]
    if len(terms) != p:
        raise RadioriskError(f"terms has {len(terms)} names for {p} parameters")
    qbar, ubar = q.mean(axis=0), u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        df = barnard_rubin_df(m, b, t, float(dfcom))
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
    se = np.sqrt(t)
    half = sps.t.ppf(0.5 + level / 2.0, df) * se
    return pd.DataFrame({
        "term": terms, "m": m, "estimate": qbar, "ubar": ubar, "b": b, "t": t,
        "dfcom": float(dfcom), "df": df, "riv": riv, "lambda": lam, "fmi": fmi,
        "se": se, "ci_low": qbar - half, "ci_high": qbar + half,
    }, columns=list(RUBIN_COLUMNS))
