r"""The Fine–Gray model of the subdistribution hazard of MACE (model kind ``fg``), on :func:`radiorisk.stats.fit_fine_gray`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..stats import NotEstimableError, fit_fine_gray
from ._base import (
    DEFAULT_HORIZON,
    ModelError,
    RiskEstimatorMixin,
    check_horizon,
    check_number,
    check_y,
    check_y_cr,
    step_at,
)

__all__ = ["FineGrayRisk"]

_Z975 = float(norm.ppf(0.975))


class FineGrayRisk(RiskEstimatorMixin, BaseEstimator):
    r"""Fine–Gray model of MACE under competing risks: the cumulative incidence by any horizon.

    Fits the proportional subdistribution hazards model of MACE
    (:func:`radiorisk.stats.fit_fine_gray`, equal to ``cmprsk::crr``) and
    predicts, as ``cmprsk::predict.crr``,

    .. math::

        F_1(t \mid x) = 1 - \exp\{-\Lambda_0(t)\, e^{x^\top\beta}\},

    with :math:`\Lambda_0` crr's baseline cumulative subdistribution hazard (its
    jumps ``bfitj`` at the event times of MACE, the value of the last event time
    :math:`\le t`).

    Parameters
    ----------
    horizon : float, default 1826.0
        Default prediction horizon in days.
    gtol : float, default 1e-9
        crr's convergence criterion (crr's default 1e-6).
    max_iter : int, default 100
        Newton–Raphson iterations (crr's default 10).
    variance : bool, default True
        Compute crr's robust (sandwich) standard errors (``se_``).

    Attributes
    ----------
    coef_, se_ : ndarray of shape (p,)
        Log subdistribution hazard ratios and crr's robust standard errors.
    means_ : ndarray of shape (p,)
        Training column means (the centre of :meth:`predict_log_hazard`; the
        risk does not depend on it).
    event_times_, baseline_hazard_ : ndarray
        crr's ``uftime`` and ``bfitj`` (for :math:`x = 0`).
    converged_ : bool
    convergence_notes_ : list of str
        Why the fit did not converge (empty when it did).
    n_events_, n_competing_ : int
    estimand_ : str
        What :meth:`predict_risk` estimates.

    Notes
    -----
    ``y`` should carry ``event_type`` (:func:`~radiorisk.models.make_y`); without
    it no competing event is known and the model is the Cox model with Breslow
    ties (``estimand_`` says so).  In a :func:`~radiorisk.models.make_model`
    pipeline ``fg`` gets the preprocessing of ``coxph`` (dummies, standardised
    continuous columns, median imputation with indicators).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=400)})
    >>> t1, t2 = rng.exponential(900 / np.exp(0.7 * X["a"])), rng.exponential(1500, 400)
    >>> c = rng.uniform(200, 3000, 400)
    >>> t = np.minimum.reduce([t1, t2, c]) + 1
    >>> y = make_y(t, None, event_type=np.select([t1 <= np.minimum(t2, c), t2 <= c], [1, 2], 0))
    >>> fg = FineGrayRisk(horizon=1826.0).fit(X, y)
    >>> hr = fg.hazard_ratios()
    >>> bool(hr.loc[0, "hr"] > 1), fg.converged_
    (True, True)
    >>> risk = fg.predict_risk(X)
    >>> bool(((risk > 0) & (risk < 1)).all())
    True
    """

    _allow_nan = False

    def __init__(self, *, horizon=DEFAULT_HORIZON, gtol=1e-9, max_iter=100, variance=True):
        self.horizon = horizon
        self.gtol = gtol
        self.max_iter = max_iter
        self.variance = variance

    def _check_params(self) -> None:
        check_horizon(self.horizon)
        check_number("gtol", self.gtol, low=0.0, low_open=True)
        check_number("max_iter", self.max_iter, low=1, integer=True)
        if not isinstance(self.variance, bool | np.bool_):
            raise ModelError(f"variance must be True or False; got {self.variance!r}")

    @property
    def estimand_(self) -> str:
        """What :meth:`predict_risk` estimates (for fit reports)."""
        check_is_fitted(self, "coef_")
        if not self.has_event_type_:
            return ("risk of MACE from the Fine-Gray model without recorded competing events (equal to a "
                    "Cox model with Breslow ties; competing events, if any, were censored)")
        return "cumulative incidence of MACE (Fine-Gray subdistribution hazard model, as cmprsk::crr)"

    def fit(self, X, y, sample_weight=None):
        """Fit the Fine–Gray model of MACE (status 1) against the competing event (status 2).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
            Numeric covariates without NaN.
        y : structured array
            From :func:`~radiorisk.models.make_y`, with ``event_type``.
        sample_weight : None
            Not supported (crr has no case weights).

        Returns
        -------
        self
        """
        self._check_params()
        if sample_weight is not None:
            raise ModelError("FineGrayRisk does not support sample_weight (cmprsk::crr has no case weights)")
        Xa = validate_data(self, X, reset=True, ensure_all_finite=True, dtype=np.float64)
        t, status = check_y_cr(y, Xa.shape[0])
        self.has_event_type_ = status is not None
        if status is None:
            status = check_y(y)[1].astype(np.int64)  # no competing event known: MACE or censored
        if not (status == 1).any():
            raise ModelError("no MACE in the training rows: the Fine-Gray model cannot be fitted")
        try:
            f = fit_fine_gray(Xa, t, status, cause=1, gtol=float(self.gtol), max_iter=int(self.max_iter),
                              variance=bool(self.variance), names=self._names())
        except NotEstimableError as exc:
            raise ModelError(f"the Fine-Gray model cannot be fitted ({exc}); look for collinear columns or "
                             "categories without MACE") from exc
        self.coef_, self.se_ = np.asarray(f.coef, dtype=np.float64), np.asarray(f.se, dtype=np.float64)
        self.means_ = Xa.mean(axis=0)
        self.event_times_ = np.asarray(f.event_times, dtype=np.float64)
        self.baseline_hazard_ = np.asarray(f.baseline_hazard, dtype=np.float64)
        self.converged_ = bool(f.converged)
        self.convergence_notes_ = [] if f.converged else [
            f"the Fine-Gray fit did not converge in {f.n_iter} iterations (criterion {f.criterion:.3g})"]
        self.n_events_, self.n_competing_ = int(f.n_events), int(f.n_competing)
        return self

    def _X(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return validate_data(self, X, reset=False, ensure_all_finite=True, dtype=np.float64)

    def predict_log_hazard(self, X) -> np.ndarray:
        r"""Linear predictor :math:`(x - \bar x)^\top \beta` (log subdistribution hazard ratio vs. the mean)."""
        return (self._X(X) - self.means_) @ self.coef_

    def predict_contributions(self, X) -> np.ndarray:
        r"""Per-column terms :math:`(x_j - \bar x_j)\beta_j` of :meth:`predict_log_hazard`, shape (n, p)."""
        return (self._X(X) - self.means_) * self.coef_

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Cumulative incidence of MACE by ``horizon`` (days; default: the estimator's), as ``predict.crr``.

        Returns
        -------
        ndarray of shape (n,)
        """
        h = check_horizon(horizon, self.horizon)
        H = float(step_at(self.event_times_, np.cumsum(self.baseline_hazard_), h))
        return -np.expm1(-H * np.exp(self._X(X) @ self.coef_))

    def hazard_ratios(self) -> pd.DataFrame:
        """Subdistribution hazard ratios with Wald 95 % CIs (crr's robust SEs) and p-values.

        Returns
        -------
        DataFrame
            Columns ``covariate, coef, se, hr, hr_ci_low, hr_ci_high, p``
            (as :meth:`CoxPHRisk.hazard_ratios`; ``hr`` is the subdistribution HR).
        """
        check_is_fitted(self, "coef_")
        b, se = self.coef_, self.se_
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2.0 * norm.sf(np.abs(b / se))
        return pd.DataFrame({"covariate": self._names(), "coef": b, "se": se, "hr": np.exp(b),
                             "hr_ci_low": np.exp(b - _Z975 * se), "hr_ci_high": np.exp(b + _Z975 * se),
                             "p": p})

    # -- persistence ----------------------------------------------------------------------
    _ARRAYS = ("coef_", "se_", "means_", "event_times_", "baseline_hazard_")

    def _to_state(self, folder) -> dict:
        names = getattr(self, "feature_names_in_", None)
        st = {"feature_names_in_": None if names is None else [str(c) for c in names],
              "n_features_in_": int(self.n_features_in_), "converged_": self.converged_,
              "convergence_notes_": list(self.convergence_notes_), "n_events_": self.n_events_,
              "n_competing_": self.n_competing_, "has_event_type_": self.has_event_type_}
        for k in self._ARRAYS:
            v = getattr(self, k)
            st[k] = [None if not np.isfinite(x) else float(x) for x in v]  # NaN SEs (variance=False)
        return st

    def _set_state(self, st: dict, folder) -> None:
        self.n_features_in_ = int(st["n_features_in_"])
        if st.get("feature_names_in_") is not None:
            self.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)
        for k in self._ARRAYS:
            setattr(self, k, np.array([np.nan if x is None else x for x in st[k]], dtype=np.float64))
        p = self.n_features_in_
        if not (self.coef_.shape == self.se_.shape == self.means_.shape == (p,)):
            raise ModelError(f"Fine-Gray state: coef_, se_ and means_ must have {p} values")
        if self.event_times_.shape != self.baseline_hazard_.shape:
            raise ModelError("Fine-Gray state: event_times_ and baseline_hazard_ differ in length")
        if not (np.all(np.isfinite(self.coef_)) and np.all(np.isfinite(self.baseline_hazard_))):
            raise ModelError("Fine-Gray state: coef_ and baseline_hazard_ must be finite")
        self.converged_ = bool(st["converged_"])
        self.convergence_notes_ = [str(v) for v in st["convergence_notes_"]]
        self.n_events_, self.n_competing_ = int(st["n_events_"]), int(st["n_competing_"])
        self.has_event_type_ = bool(st["has_event_type_"])
