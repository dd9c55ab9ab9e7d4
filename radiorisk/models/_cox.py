"""Cox proportional-hazards risk model on lifelines' ``CoxPHFitter`` (Efron ties)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import (
    DEFAULT_HORIZON,
    ModelError,
    RiskEstimatorMixin,
    breslow_risk,
    breslow_survival,
    check_horizon,
    check_number,
    check_sample_weight,
    check_y,
)

__all__ = ["CoxPHRisk", "HAZARD_RATIO_COLUMNS"]

#: Columns of :meth:`CoxPHRisk.hazard_ratios`.
HAZARD_RATIO_COLUMNS = ("covariate", "coef", "se", "hr", "hr_ci_low", "hr_ci_high", "p")

# Newton-Raphson to convergence (lifelines' defaults stop ~1e-5 from survival::coxph's estimate)
_FIT_OPTIONS = {"precision": 1e-10, "r_precision": 1e-14}
_Z975 = float(norm.ppf(0.975))
_DURATION, _EVENT, _WEIGHT = "__radiorisk_time__", "__radiorisk_event__", "__radiorisk_weight__"


def _fit_lifelines(cph, df: pd.DataFrame, *, robust: bool, **kw):
    """Fit, retrying with shorter Newton steps when lifelines' first steps diverge.

    lifelines' Newton-Raphson has no step-halving on a falling log-likelihood
    (``survival::coxph`` has), so heavy-tailed covariates can make it diverge
    from 0; a smaller initial step then converges to the same maximum.
    """
    last = None
    for step in (0.95, 0.5, 0.2):
        try:
            with warnings.catch_warnings(), np.errstate(over="raise"):
                # lifelines advises robust errors for non-integer weights; documented in CoxPHRisk
                warnings.filterwarnings("ignore", message=".*weights are not integers.*")
                return cph.fit(df, duration_col=_DURATION, event_col=_EVENT, robust=robust,
                               fit_options={**_FIT_OPTIONS, "step_size": step}, **kw)
        except (ConvergenceError, FloatingPointError) as exc:  # diverging steps overflow exp()
            last = exc
    raise ModelError(
        "the Cox model did not converge (lifelines: "
        f"{str(last).split('.')[0]}); look for collinear columns or categories with no "
        "events, or set penalizer > 0"
    ) from last


class CoxPHRisk(RiskEstimatorMixin, BaseEstimator):
    r"""Cox proportional-hazards model: hazard ratios and absolute risk by any horizon.

    Fits :class:`lifelines.CoxPHFitter` (Efron ties, Newton-Raphson; optional
    elastic-net penalty) and predicts
    :math:`1 - \exp\{-H_0(h)\, e^{(x - \bar x)^\top \beta}\}` with lifelines'
    Breslow baseline cumulative hazard :math:`H_0` (at the training means
    :math:`\bar x`).  Unpenalised, coefficients and standard errors equal
    R's ``survival::coxph`` (tested to 1e-4 on whas500).

    Parameters
    ----------
    horizon : float, default 1826.0
        Default prediction horizon in days (5 years).
    penalizer : float, default 0.0
        lifelines' ``penalizer`` (elastic net strength; 0 = maximum likelihood).
    l1_ratio : float, default 0.0
        lifelines' ``l1_ratio`` (0 = ridge, 1 = lasso).
    robust : bool, default False
        Sandwich (robust) standard errors, advisable with non-integer
        ``sample_weight``.

    Attributes
    ----------
    coef_, se_ : ndarray of shape (p,)
        Log hazard ratios and their standard errors.
    means_ : ndarray of shape (p,)
        Training column means, the centre of the baseline.
    baseline_times_, baseline_cumhaz_ : ndarray
        lifelines' baseline cumulative hazard (a step function of time).
    log_likelihood_ : float
        Partial log-likelihood at the estimate.
    feature_names_in_ : ndarray of str
        Covariate names (``x0, x1, ...`` for arrays).

    Notes
    -----
    Missing values are not allowed here: in :func:`~radiorisk.models.make_model`
    pipelines the preprocessing step imputes the training median and adds an
    availability indicator (e.g. for PET).  With a penalty the standard
    errors and confidence intervals of :meth:`hazard_ratios` come from the
    penalised information and are not valid inference.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    >>> y = make_y(rng.exponential(1000 / np.exp(0.7 * X["a"])) + 1, np.ones(500))
    >>> cox = CoxPHRisk(horizon=365.0).fit(X, y)
    >>> hr = cox.hazard_ratios()
    >>> list(hr.columns)
    ['covariate', 'coef', 'se', 'hr', 'hr_ci_low', 'hr_ci_high', 'p']
    >>> bool(hr.loc[0, "hr_ci_low"] < np.exp(0.7) < hr.loc[0, "hr_ci_high"])
    True
    """

    _allow_nan = False

    def __init__(self, *, horizon=DEFAULT_HORIZON, penalizer=0.0, l1_ratio=0.0, robust=False):
        self.horizon = horizon
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.robust = robust

    def _check_params(self) -> None:
        check_horizon(self.horizon)
        check_number("penalizer", self.penalizer, low=0.0)
        check_number("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        if not isinstance(self.robust, bool | np.bool_):
            raise ModelError(f"robust must be True or False; got {self.robust!r}")

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        Xa = validate_data(self, X, reset=reset, ensure_all_finite=True, dtype=np.float64)
        return Xa

    def _names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else [f"x{j}" for j in range(self.n_features_in_)]

    def fit(self, X, y, sample_weight=None):
        """Fit the Cox model by maximum (penalised) partial likelihood.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
            Numeric covariates without NaN.
        y : structured array
            From :func:`~radiorisk.models.make_y`.
        sample_weight : array-like of shape (n,), optional
            Case weights (lifelines ``weights_col``).

        Returns
        -------
        self
        """
        self._check_params()
        Xa = self._check_X(X, reset=True)
        t, e = check_y(y, Xa.shape[0])
        names = self._names()
        reserved = {_DURATION, _EVENT, _WEIGHT} & set(names)
        if reserved:
            raise ModelError(f"column names {sorted(reserved)} are reserved")
        df = pd.DataFrame(Xa, columns=names)
        df[_DURATION] = t
        df[_EVENT] = e
        kw = {}
        if sample_weight is not None:
            df[_WEIGHT] = check_sample_weight(sample_weight, Xa.shape[0])
            kw["weights_col"] = _WEIGHT
        if not (e == 1).any():
            raise ModelError("no event in the training rows: the Cox model cannot be fitted")
        cph = CoxPHFitter(penalizer=float(self.penalizer), l1_ratio=float(self.l1_ratio),
                          baseline_estimation_method="breslow")
        cph = _fit_lifelines(cph, df, robust=bool(self.robust), **kw)
        self.coef_ = cph.params_.reindex(names).to_numpy(dtype=np.float64)
        self.se_ = cph.standard_errors_.reindex(names).to_numpy(dtype=np.float64)
        self.means_ = pd.Series(cph._norm_mean).reindex(names).to_numpy(dtype=np.float64)
        bch = cph.baseline_cumulative_hazard_
        self.baseline_times_ = bch.index.to_numpy(dtype=np.float64)
        self.baseline_cumhaz_ = bch.iloc[:, 0].to_numpy(dtype=np.float64)
        self.log_likelihood_ = float(cph.log_likelihood_)
        self.n_events_ = int(np.sum(e))
        return self

    def predict_log_hazard(self, X) -> np.ndarray:
        r"""Linear predictor :math:`(x - \bar x)^\top \beta` (log hazard ratio vs. the mean patient)."""
        check_is_fitted(self, "coef_")
        Xa = self._check_X(X, reset=False)
        return (Xa - self.means_) @ self.coef_

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the estimator's horizon).

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "coef_")
        h = check_horizon(horizon, self.horizon)
        return breslow_risk(self.baseline_times_, self.baseline_cumhaz_, h, np.exp(self.predict_log_hazard(X)))

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities :math:`S(t \\mid x)`, shape (n_samples, n_times)."""
        check_is_fitted(self, "coef_")
        return breslow_survival(self.baseline_times_, self.baseline_cumhaz_, times, np.exp(self.predict_log_hazard(X)))

    def hazard_ratios(self) -> pd.DataFrame:
        """Hazard ratios with Wald 95 % confidence intervals and p-values.

        Returns
        -------
        DataFrame
            One row per covariate, columns ``covariate, coef, se, hr,
            hr_ci_low, hr_ci_high, p``: ``hr = exp(coef)``, the CI is
            ``exp(coef -/+ 1.959964 se)``, ``p`` the two-sided Wald test.
            In a :func:`~radiorisk.models.make_model` pipeline continuous
            covariates are standardised, so their hazard ratio is per SD.
        """
        check_is_fitted(self, "coef_")
        b, se = self.coef_, self.se_
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2.0 * norm.sf(np.abs(b / se))
        return pd.DataFrame({
            "covariate": self._names(), "coef": b, "se": se, "hr": np.exp(b),
            "hr_ci_low": np.exp(b - _Z975 * se), "hr_ci_high": np.exp(b + _Z975 * se), "p": p,
        })

    # -- persistence ----------------------------------------------------------------------
    def _to_state(self, folder) -> dict:
        names = getattr(self, "feature_names_in_", None)
        return {
            "feature_names_in_": None if names is None else [str(c) for c in names],
            "n_features_in_": int(self.n_features_in_),
            "coef_": self.coef_.tolist(), "se_": self.se_.tolist(), "means_": self.means_.tolist(),
            "baseline_times_": self.baseline_times_.tolist(),
            "baseline_cumhaz_": self.baseline_cumhaz_.tolist(),
            "log_likelihood_": self.log_likelihood_, "n_events_": self.n_events_,
        }

    def _set_state(self, st: dict, folder) -> None:
        self.n_features_in_ = int(st["n_features_in_"])
        if st.get("feature_names_in_") is not None:
            self.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)
        for k in ("coef_", "se_", "means_", "baseline_times_", "baseline_cumhaz_"):
            setattr(self, k, np.asarray(st[k], dtype=np.float64))
        p = self.n_features_in_
        if not (self.coef_.shape == self.se_.shape == self.means_.shape == (p,)):
            raise ModelError(f"Cox state: coef_, se_ and means_ must have {p} values")
        if self.baseline_times_.shape != self.baseline_cumhaz_.shape:
            raise ModelError("Cox state: baseline_times_ and baseline_cumhaz_ differ in length")
        self.log_likelihood_ = float(st["log_likelihood_"])
        self.n_events_ = int(st["n_events_"])
