"""Checks of a fitted Cox model's numbers (used by :class:`~radiorisk.models.CoxPHRisk`)."""

from __future__ import annotations

import numpy as np

__all__ = ["non_finite_fit_message"]


def _listed(cols: list[str], k: int = 8) -> str:
    return ", ".join(cols[:k]) + (f" and {len(cols) - k} more" if len(cols) > k else "")


def non_finite_fit_message(f: dict, names, n_events: int, penalizer: float) -> str | None:
    """Why a Cox fit is unusable (non-finite coefficients or standard errors), or None when finite.

    Such a fit cannot be reported (hazard ratios), saved (a bundle's JSON has no NaN) or trusted
    for risks: with few events per parameter lifelines can stop at coefficients in the hundreds with
    a singular information matrix (standard errors NaN).

    Parameters
    ----------
    f : dict
        The fit: ``coef`` and ``se``, one value per column.
    names : sequence of str
        The column names, in the order of ``coef``.
    n_events : int
        Events in the data the model was fitted on.
    penalizer : float
        The penalty strength used (named in the message's fix).

    Returns
    -------
    str or None
        The message (which columns, the likely cause with the events per parameter, the fixes),
        or None when every coefficient and standard error is finite.

    Examples
    --------
    >>> import numpy as np
    >>> fit = {"coef": np.array([0.4, 812.0]), "se": np.array([0.1, np.nan])}
    >>> msg = non_finite_fit_message(fit, ["age", "cac"], n_events=9, penalizer=0.0)
    >>> msg.split(". ")[0]
    "the Cox model's fit is not finite: non-finite standard errors for 1 of 2 columns (cac); largest finite coefficient 812 (cac)"
    >>> non_finite_fit_message({"coef": [0.4], "se": [0.1]}, ["age"], 9, 0.0) is None
    True
    """
    b, se = np.asarray(f["coef"], dtype=np.float64), np.asarray(f["se"], dtype=np.float64)
    bad_b = [n for n, v in zip(names, b, strict=True) if not np.isfinite(v)]
    bad_se = [n for n, v in zip(names, se, strict=True) if not np.isfinite(v) and n not in bad_b]
    if not bad_b and not bad_se:
        return None
    p = len(names)
    what = []
    if bad_b:
        what.append(f"non-finite coefficients for {len(bad_b)} of {p} columns ({_listed(bad_b)})")
    if bad_se:
        what.append(f"non-finite standard errors for {len(bad_se)} of {p} columns ({_listed(bad_se)})")
    finite = np.isfinite(b)
    if finite.any():
        j = int(np.argmax(np.where(finite, np.abs(b), -1.0)))
        what.append(f"largest finite coefficient {b[j]:.4g} ({names[j]})")
    penalty = (f"a penalty (penalizer={penalizer:g} now; radiorisk fit's default, without "
               "--param penalizer, chooses one by inner cross-validation and leaves the clinical "
               "columns unpenalised; or e.g. penalizer=0.1)")
    return (f"the Cox model's fit is not finite: {'; '.join(what)}. Likely cause: {n_events} events "
            f"for {p} parameters ({n_events / p:.2g} events per parameter; 10 or more is the usual "
            "minimum), so the partial likelihood has no finite maximum (a column or combination of "
            "columns separates the events) or the columns are collinear, and the information matrix "
            f"is singular. Fix: {penalty}, fewer columns (fewer modality blocks in --blocks), or "
            "more events")
