"""Cox proportional-hazards risk model on lifelines' ``CoxPHFitter`` (Efron ties)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from scipy.linalg import LinAlgWarning
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ..stats import NotEstimableError, fit_cox, fit_cox_ridge, rubin_pool
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
from ._cox_checks import non_finite_fit_message
from ._cox_penalty import DEFAULT_PENALIZER_GRID, choose_penalizer, penalty_factors
from ._impute import ChainedImputation

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
    penalizer : float or "cv", default 0.0
        lifelines' ``penalizer`` (elastic net strength; 0 = maximum likelihood),
        or ``"cv"``: the strength of ``penalizer_grid`` with the largest
        cross-validated partial likelihood (Verweij & van Houwelingen 1993) in
        ``inner_folds`` event-stratified folds of the training rows, drawn from
        ``random_state`` (:func:`~radiorisk.models._cox_penalty.choose_penalizer`).
    l1_ratio : float, default 0.0
        lifelines' ``l1_ratio`` (0 = ridge, 1 = lasso).
    unpenalized : list of str, optional
        Pre-specified columns left unpenalised (penalty factor 0; also their
        dummies ``<name>_<level>`` and indicators ``<name>_missing``).
    penalizer_grid : sequence of float, optional
        Candidates of ``penalizer="cv"`` (default
        :data:`~radiorisk.models._cox_penalty.DEFAULT_PENALIZER_GRID`, 1 to 0.001).
    inner_folds : int, default 5
        Inner folds of ``penalizer="cv"``.
    robust : bool, default False
        Sandwich (robust) standard errors, advisable with non-integer
        ``sample_weight``.
    n_imputations : int, optional
        Multiple imputation of missing covariates (NaN) by chained equations:
        M >= 2 imputations learnt on the training rows
        (:class:`~radiorisk.models._impute.ChainedImputation`: the outcome in
        the training imputation model, outcome-free imputation of new rows),
        one Cox fit per completed data set (lifelines; an unpenalised fit that
        lifelines does not converge is refitted by :func:`radiorisk.stats.fit_cox`,
        and lifelines' warnings go to ``convergence_notes_``), coefficients
        and standard errors pooled by Rubin's rules,
        risks averaged over the M fits.  Default None:
        no NaN allowed (the :func:`~radiorisk.models.make_model` pipeline
        imputes the median and adds an indicator).
    impute_max_iter : int, default 5
        Rounds of the chained equations (mice's default ``maxit``).
    impute_delta : float, default 0.0
        MNAR sensitivity analysis: shift of the imputed values of
        ``delta_columns`` (units of ``X``: standard deviations in a radiorisk
        pipeline, whose continuous columns are standardised).
    delta_columns : list of str, optional
        Columns shifted by ``impute_delta`` (default: every column).
    random_state : int, default 0
        Seed of the imputations and of the inner folds (the Cox fit itself is deterministic).

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
    penalizer_ : float
        The penalty strength used (chosen by inner CV with ``penalizer="cv"``).
    inner_cv_ : DataFrame or None
        With ``penalizer="cv"``: the inner-CV curve
        (:data:`~radiorisk.models._cox_penalty.INNER_CV_COLUMNS`); with
        ``n_imputations`` computed on the first completed data set.
    unpenalized_ : list of str
        The columns fitted without penalty.
    feature_names_in_ : ndarray of str
        Covariate names (``x0, x1, ...`` for arrays).
    pooled_ : DataFrame
        With ``n_imputations``: Rubin's rules table
        (:func:`radiorisk.stats.rubin_pool`, Barnard–Rubin df with
        ``dfcom`` = events − coefficients as ``mice::pool``); ``coef_`` and
        ``se_`` are its ``estimate`` and ``se``.
    imputation_fits_ : list of dict
        With ``n_imputations``: each completed data set's ``coef``, ``se``,
        ``means``, ``baseline_times``, ``baseline_cumhaz``.

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

    def __init__(self, *, horizon=DEFAULT_HORIZON, penalizer=0.0, l1_ratio=0.0, robust=False,
                 n_imputations=None, impute_max_iter=5, impute_delta=0.0, delta_columns=None,
                 random_state=0, unpenalized=None, penalizer_grid=None, inner_folds=5):
        self.horizon = horizon
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.unpenalized = unpenalized
        self.penalizer_grid = penalizer_grid
        self.inner_folds = inner_folds
        self.robust = robust
        self.n_imputations = n_imputations
        self.impute_max_iter = impute_max_iter
        self.impute_delta = impute_delta
        self.delta_columns = delta_columns
        self.random_state = random_state

    @property
    def _allow_nan(self) -> bool:
        return self.n_imputations is not None

    def _check_params(self) -> None:
        check_horizon(self.horizon)
        if not (isinstance(self.penalizer, str) and self.penalizer == "cv"):
            if isinstance(self.penalizer, str):
                raise ModelError(f"penalizer must be a number >= 0 or 'cv'; got {self.penalizer!r}")
            check_number("penalizer", self.penalizer, low=0.0)
        check_number("inner_folds", self.inner_folds, low=2, integer=True)
        check_number("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        if not isinstance(self.robust, bool | np.bool_):
            raise ModelError(f"robust must be True or False; got {self.robust!r}")
        check_number("n_imputations", self.n_imputations, low=2, integer=True, allow_none=True)
        check_number("impute_max_iter", self.impute_max_iter, low=1, integer=True)
        check_number("impute_delta", self.impute_delta)
        check_number("random_state", self.random_state, integer=True)
        if self.n_imputations is None and (self.impute_delta != 0 or self.delta_columns is not None):
            raise ModelError("impute_delta and delta_columns need n_imputations (multiple imputation)")

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        finite = "allow-nan" if self._allow_nan else True
        Xa = validate_data(self, X, reset=reset, ensure_all_finite=finite, dtype=np.float64)
        return Xa

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
        w = None if sample_weight is None else check_sample_weight(sample_weight, Xa.shape[0])
        if not (e == 1).any():
            raise ModelError("no event in the training rows: the Cox model cannot be fitted")
        self.n_events_ = int(np.sum(e))
        self._factors, self.unpenalized_ = penalty_factors(names, self.unpenalized)
        self.inner_cv_ = None
        self.convergence_notes_ = []
        if self.n_imputations is None:
            self._choose_penalty(Xa, t, e, w, names)
            self._set_fit(self._fit_checked(Xa, t, e, w, names))
            return self
        return self._fit_imputed(Xa, t, e, w, names)

    def _penalty(self, strength: float):
        """lifelines' penalizer: a number, or per-column strengths when some columns are unpenalised."""
        if self._factors.size and self._factors.min() == 0.0:
            return float(strength) * self._factors
        return float(strength)

    def _choose_penalty(self, Xa, t, e, w, names) -> None:
        """``penalizer_``: the given strength, or the inner-CV choice (``penalizer="cv"``)."""
        if not (isinstance(self.penalizer, str) and self.penalizer == "cv"):
            self.penalizer_ = float(self.penalizer)
            return
        if not self._factors.any():  # every column pre-specified: nothing to penalise
            self.penalizer_ = 0.0
            return
        grid = DEFAULT_PENALIZER_GRID if self.penalizer_grid is None else self.penalizer_grid

        def fit(Xk, tk, ek, lam, start):  # ridge: radiorisk's Newton fit of lifelines' objective (fast)
            if float(self.l1_ratio) == 0.0:
                try:
                    return fit_cox_ridge(Xk, tk, ek, lam * self._factors, init=start)
                except NotEstimableError as exc:
                    raise ModelError(str(exc)) from exc
            self.penalizer_ = lam
            return self._fit_one(Xk, tk, ek, None, names)["coef"]

        with threadpool_limits(1):
            lam, curve, n_unconv = choose_penalizer(fit, Xa, t, e, grid=grid, folds=int(self.inner_folds),
                                                    seed=int(self.random_state))
        self.penalizer_, self.inner_cv_ = float(lam), curve
        if n_unconv:
            self.convergence_notes_.append(f"{n_unconv} of {len(curve) * int(self.inner_folds)} inner-CV "
                                           "fits of the penalty did not converge")

    def _fit_one(self, Xa, t, e, w, names) -> dict:
        """One lifelines fit: coef, se, means, Breslow baseline and log-likelihood."""
        df = pd.DataFrame(Xa, columns=names)
        df[_DURATION] = t
        df[_EVENT] = e
        kw = {}
        if w is not None:
            df[_WEIGHT] = w
            kw["weights_col"] = _WEIGHT
        cph = CoxPHFitter(penalizer=self._penalty(self.penalizer_), l1_ratio=float(self.l1_ratio),
                          baseline_estimation_method="breslow")
        cph = _fit_lifelines(cph, df, robust=bool(self.robust), **kw)
        bch = cph.baseline_cumulative_hazard_
        return {"coef": cph.params_.reindex(names).to_numpy(dtype=np.float64),
                "se": cph.standard_errors_.reindex(names).to_numpy(dtype=np.float64),
                "means": pd.Series(cph._norm_mean).reindex(names).to_numpy(dtype=np.float64),
                "baseline_times": bch.index.to_numpy(dtype=np.float64),
                "baseline_cumhaz": bch.iloc[:, 0].to_numpy(dtype=np.float64),
                "log_likelihood": float(cph.log_likelihood_)}

    def _fit_checked(self, Xc, t, e, w, names) -> dict:
        """lifelines' fit (of the data, or of one completed set); refitted by :func:`radiorisk.stats.fit_cox` if it stalls.

        lifelines' convergence warnings are kept in ``convergence_notes_``
        instead of reaching the console; an unpenalised, unweighted fit that
        lifelines did not bring to convergence is refitted by radiorisk's Cox
        fitter (step-halving Newton–Raphson as ``survival::coxph``).
        """
        exact_ok = self.penalizer_ == 0 and w is None and not self.robust
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                f = self._fit_one(Xc, t, e, w, names)
            except ModelError:
                if not exact_ok:
                    raise
                f = None
        if f is None:  # lifelines halted (e.g. a singular information): radiorisk's fitter, or a clear error
            self.convergence_notes_.append("lifelines halted; refitted by radiorisk.stats.fit_cox")
            return self._fit_exact(Xc, t, e, names)
        kept = (ConvergenceWarning, LinAlgWarning)  # lifelines' numerical trouble: notes, not console
        notes = [str(c.message).strip().split("\n")[0].split(". ")[0].split(": slice")[0] for c in caught
                 if issubclass(c.category, kept)]
        for c in caught:
            if not issubclass(c.category, kept):
                warnings.warn(c.message, c.category, stacklevel=2)
        if any("failed to converge" in n for n in notes) and exact_ok:
            f = self._fit_exact(Xc, t, e, names)
            notes.append("refitted by radiorisk.stats.fit_cox")
        self.convergence_notes_.extend(dict.fromkeys(notes))
        bad = non_finite_fit_message(f, names, int(np.sum(e)), self.penalizer_)
        if bad:
            raise ModelError(bad)
        return f

    @staticmethod
    def _fit_exact(Xa, t, e, names) -> dict:
        """One unpenalised, unweighted fit by radiorisk's Cox fitter (``survival::coxph`` to 1e-8)."""
        try:
            f = fit_cox(Xa, t, e, ties="efron", names=names, tol=1e-12)
        except NotEstimableError as exc:
            ev = e == 1
            flat = [n for j, n in enumerate(names) if np.ptp(Xa[:, j]) == 0 or np.ptp(Xa[ev, j]) == 0]
            cause = (f"column(s) without variation among the events in this data set: {', '.join(flat)}; "
                     if flat else "")
            raise ModelError(f"the unpenalised Cox model cannot be fitted on this (completed) data set "
                             f"({exc}); {cause}the likelihood has no finite maximum (separation) or the "
                             "columns are collinear. Fix: a penalty (omit penalizer=0: radiorisk fit's "
                             "default penalises all but the clinical columns), drop that column, or use "
                             "--impute median") from exc
        return {"coef": f.coef, "se": f.se, "means": f.center, "baseline_times": f.event_times,
                "baseline_cumhaz": np.cumsum(f.hazard_breslow), "log_likelihood": float(f.loglik)}

    def _set_fit(self, f: dict) -> None:
        self.coef_, self.se_, self.means_ = f["coef"], f["se"], f["means"]
        self.baseline_times_, self.baseline_cumhaz_ = f["baseline_times"], f["baseline_cumhaz"]
        self.log_likelihood_ = float(f["log_likelihood"])

    def _delta_positions(self, names) -> list[int] | None:
        if self.delta_columns is None:
            return None
        unknown = [c for c in self.delta_columns if c not in names]
        if unknown:
            raise ModelError(f"delta_columns {unknown} are not columns of X")
        return [names.index(c) for c in self.delta_columns]

    def _fit_imputed(self, Xa, t, e, w, names):
        """M imputations, M fits, Rubin's rules (the MI path of :meth:`fit`)."""
        imp = ChainedImputation(self.n_imputations, max_iter=self.impute_max_iter,
                                random_state=self.random_state, delta=self.impute_delta,
                                delta_columns=self._delta_positions(names)).fit(Xa, t, e)
        complete = not np.isnan(Xa).any()  # M identical copies: one fit serves them all
        self._choose_penalty(imp.completed_[0], t, e, w, names)  # one strength for the M fits
        with threadpool_limits(1):  # M small fits: BLAS threads only contend
            fits = [self._fit_checked(Xc, t, e, w, names)
                    for Xc in (imp.completed_[:1] if complete else imp.completed_)]
        fits = fits * self.n_imputations if complete else fits
        del imp.completed_
        self.imputation_ = imp
        self._set_imputed(fits, names)
        return self

    def _set_imputed(self, fits: list[dict], names) -> None:
        """Pooled coefficients (Rubin), mean centre, first fit's baseline (predictions use every fit)."""
        self.imputation_fits_ = fits
        self.pooled_ = rubin_pool(np.array([f["coef"] for f in fits]),
                                  np.array([f["se"] for f in fits]) ** 2, terms=names,
                                  dfcom=float(max(self.n_events_ - len(names), 1)))
        self._set_fit({**fits[0], "coef": self.pooled_["estimate"].to_numpy(),
                       "se": self.pooled_["se"].to_numpy(),
                       "means": np.mean([f["means"] for f in fits], axis=0),
                       "log_likelihood": float(np.mean([f["log_likelihood"] for f in fits]))})

    def _per_imputation(self, X):
        """(fit, completed X) pairs: the M imputations of ``X`` (one pair without imputation)."""
        Xa = self._check_X(X, reset=False)
        if self.n_imputations is None:
            if np.isnan(Xa).any():
                raise ModelError("X contains NaN; CoxPHRisk needs complete rows (or n_imputations)")
            return [({"coef": self.coef_, "means": self.means_, "baseline_times": self.baseline_times_,
                      "baseline_cumhaz": self.baseline_cumhaz_}, Xa)]
        return list(zip(self.imputation_fits_, self.imputation_.transform(Xa), strict=True))

    def predict_log_hazard(self, X) -> np.ndarray:
        r"""Linear predictor :math:`(x - \bar x)^\top \beta` (log hazard ratio vs. the mean patient).

        With ``n_imputations``: the mean over the imputations of each fit's
        linear predictor on its completed copy of ``X``.
        """
        check_is_fitted(self, "coef_")
        return np.mean([(Xc - f["means"]) @ f["coef"] for f, Xc in self._per_imputation(X)], axis=0)

    def predict_contributions(self, X) -> np.ndarray:
        r"""Per-column terms of :meth:`predict_log_hazard`, shape (n, p): exact linear SHAP values.

        :math:`(x_j - \bar x_j)\, \beta_j`; with ``n_imputations`` the mean over the
        imputations of each fit's terms on its completed copy of ``X`` (so a
        patient without PET gets the average contribution of their imputed PET).
        The rows sum to :meth:`predict_log_hazard`.
        """
        check_is_fitted(self, "coef_")
        return np.mean([(Xc - f["means"]) * f["coef"] for f, Xc in self._per_imputation(X)], axis=0)

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the estimator's horizon).

        Returns
        -------
        ndarray of shape (n,)
        """
        return np.mean(self.predict_risk_per_imputation(X, horizon), axis=0)

    def predict_risk_per_imputation(self, X, horizon=None) -> np.ndarray:
        """Risk by ``horizon`` of each imputation's fit on its completed copy of ``X``, shape (M, n).

        ``predict_risk`` is the mean over the rows of this array; a model
        without imputation gives one row.  Used to pool performance measures
        across imputations.
        """
        check_is_fitted(self, "coef_")
        h = check_horizon(horizon, self.horizon)
        with np.errstate(over="ignore", invalid="ignore"):
            risk = np.array([breslow_risk(f["baseline_times"], f["baseline_cumhaz"], h,
                                          np.exp((Xc - f["means"]) @ f["coef"]))
                             for f, Xc in self._per_imputation(X)])
        if not np.isfinite(risk).all():
            raise ModelError(self._non_finite_message(risk))
        return risk

    def _non_finite_message(self, risk) -> str:
        """Why some risks are not finite: the fits (imputed data sets) and columns with extreme coefficients."""
        fits = self.imputation_fits_ if self.n_imputations is not None else [{"coef": self.coef_}]
        names, parts = self._names(), []
        for i, f in enumerate(fits):
            if np.isfinite(risk[i]).all():
                continue
            b = np.asarray(f["coef"])
            worst = [f"{names[j]} (coefficient {b[j]:.3g})" for j in np.argsort(-np.nan_to_num(np.abs(b), nan=np.inf))[:3]]
            where = f"imputed data set {i + 1} of {len(fits)}" if self.n_imputations is not None else "the fit"
            parts.append(f"{where}: largest coefficients {', '.join(worst)}")
        return ("the Cox model returned non-finite risks: " + "; ".join(parts) + ". Cause: a column "
                "(nearly) separates the events (monotone likelihood: it orders the event times or does "
                "not vary among the events, e.g. after imputation), so the unpenalised estimate diverges. "
                f"Fix: a penalty (penalizer={self.penalizer!r} now; the default strategy of radiorisk fit "
                "uses penalizer='cv'), dropping or merging that column, or --impute median")

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities :math:`S(t \\mid x)`, shape (n_samples, n_times)."""
        check_is_fitted(self, "coef_")
        return np.mean([breslow_survival(f["baseline_times"], f["baseline_cumhaz"], times,
                                         np.exp((Xc - f["means"]) @ f["coef"]))
                        for f, Xc in self._per_imputation(X)], axis=0)

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
            With ``n_imputations`` the coefficients and SEs are Rubin-pooled
            and the CI and p-value use Student's t with the Barnard–Rubin
            degrees of freedom (``pooled_["df"]``), as ``summary(mice::pool(fit))``.
        """
        check_is_fitted(self, "coef_")
        b, se = self.coef_, self.se_
        if self.n_imputations is None:
            q, sf = _Z975, norm.sf(np.abs(b / se))
        else:
            df = self.pooled_["df"].to_numpy()
            q, sf = student_t.ppf(0.975, df), student_t.sf(np.abs(b / se), df)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2.0 * sf
        return pd.DataFrame({
            "covariate": self._names(), "coef": b, "se": se, "hr": np.exp(b),
            "hr_ci_low": np.exp(b - q * se), "hr_ci_high": np.exp(b + q * se), "p": p,
        })

    # -- persistence ----------------------------------------------------------------------
    _FIT_KEYS = ("coef", "se", "means", "baseline_times", "baseline_cumhaz")

    def _to_state(self, folder) -> dict:
        names = getattr(self, "feature_names_in_", None)
        st = {
            "feature_names_in_": None if names is None else [str(c) for c in names],
            "n_features_in_": int(self.n_features_in_),
            "coef_": self.coef_.tolist(), "se_": self.se_.tolist(), "means_": self.means_.tolist(),
            "baseline_times_": self.baseline_times_.tolist(),
            "baseline_cumhaz_": self.baseline_cumhaz_.tolist(),
            "log_likelihood_": self.log_likelihood_, "n_events_": self.n_events_,
        }
        if self.penalizer == "cv" or self.unpenalized_:  # absent otherwise: older bundles stay as they were
            cv = self.inner_cv_
            st["penalty_"] = {"penalizer_": self.penalizer_, "unpenalized_": list(self.unpenalized_),
                              "inner_cv_": None if cv is None else  # a failed strength's -inf as null (JSON)
                              {c: [None if isinstance(v, float) and not np.isfinite(v) else v for v in cv[c].tolist()]
                               for c in cv.columns}}
        if self.n_imputations is not None:  # absent otherwise: single-fit bundles stay as they were
            st["imputation_fits_"] = [{k: np.asarray(f[k]).tolist() for k in self._FIT_KEYS}
                                      | {"log_likelihood": float(f["log_likelihood"])}
                                      for f in self.imputation_fits_]
            st["imputation_"] = self.imputation_.to_state()
        return st

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
        pen = st.get("penalty_") or {}
        self.penalizer_ = float(pen.get("penalizer_", 0.0 if self.penalizer == "cv" else self.penalizer))
        self.unpenalized_ = list(pen.get("unpenalized_", []))
        self.inner_cv_ = None
        if pen.get("inner_cv_") is not None:
            cv = pd.DataFrame(pen["inner_cv_"])
            for c in ("cvpl", "cvpl_per_event"):
                cv[c] = cv[c].astype(np.float64).fillna(-np.inf)
            self.inner_cv_ = cv
        if self.n_imputations is not None:
            self._set_imputed_state(st, p)

    def _set_imputed_state(self, st: dict, p: int) -> None:
        if "imputation_fits_" not in st or "imputation_" not in st:
            raise ModelError("Cox state: n_imputations is set but the imputations are missing")
        fits = [{k: np.asarray(f[k], dtype=np.float64) for k in self._FIT_KEYS}
                | {"log_likelihood": float(f["log_likelihood"])} for f in st["imputation_fits_"]]
        if len(fits) != self.n_imputations or any(f["coef"].shape != (p,) for f in fits):
            raise ModelError(f"Cox state: {len(fits)} imputation fits for n_imputations="
                             f"{self.n_imputations}, each with {p} coefficients")
        self.imputation_ = ChainedImputation.from_state(st["imputation_"])
        if self.imputation_.n_features_ != p:
            raise ModelError(f"Cox state: the imputation has {self.imputation_.n_features_} columns, "
                             f"the model {p}")
        self._set_imputed(fits, self._names())
