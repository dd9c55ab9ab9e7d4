"""Gradient-boosted risk models on xgboost: binary with IPCW, Cox with a Breslow baseline, AFT.

All train with ``tree_method="hist"`` (deterministic for a given
``random_state`` whatever the thread count), keep NaN as xgboost's native
missing value (each split learns a default direction for it, so a patient
without PET simply follows that branch), and turn the booster's output margin
into an absolute risk by a horizon:

- :class:`XGBBinaryRisk`: ``binary:logistic`` on "event by the horizon" with
  inverse-probability-of-censoring weights (:func:`ipcw_weights`);
- :class:`XGBCoxRisk`: ``survival:cox`` plus a Breslow baseline cumulative
  hazard from the training margins;
- :class:`~radiorisk.models.XGBAFTRisk` (in ``_xgb_aft``): ``survival:aft`` and the fitted
  log-time distribution.
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..stats import censoring_survival
from ._base import (
    DEFAULT_HORIZON,
    ModelError,
    RiskEstimatorMixin,
    breslow_cumhaz,
    breslow_risk,
    breslow_survival,
    check_horizon,
    check_number,
    check_sample_weight,
    check_y,
    make_y,
)
from ._tuning import captured_warnings, holdout_rows

__all__ = ["XGBBinaryRisk", "XGBCoxRisk", "ipcw_weights"]


def ipcw_weights(time, event, *, horizon) -> tuple[np.ndarray, np.ndarray]:
    r"""Labels and inverse-probability-of-censoring weights for "event by the horizon".

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up (days) and event indicator (0/1).
    horizon : float
        The horizon :math:`t_0` in days.

    Returns
    -------
    label : ndarray of shape (n,)
        1 for an event at or before :math:`t_0`, else 0.
    weight : ndarray of shape (n,)
        :math:`1/G(T_i-)` for an event by :math:`t_0`; :math:`1/G(t_0-)` for
        a patient known to be event-free at :math:`t_0` (followed beyond it,
        or censored exactly at it); 0 for a patient censored before
        :math:`t_0`, whose status at the horizon is unknown.

    Notes
    -----
    :math:`G` is the Kaplan-Meier estimate of the censoring distribution in
    the same rows (:func:`radiorisk.stats.censoring_survival`; events
    leave the risk set first at tied times), so the weighted log-loss the
    model minimises estimates the log-loss of the full cohort had nobody
    been censored before the horizon.  Censored patients are neither
    dropped naively (which over-represents events) nor counted as
    event-free.

    A control's status is observed when its censoring time is at least
    :math:`t_0`, with probability :math:`G(t_0-)`; this equals
    :math:`G(t_0)`, the weight of the IPCW Brier score of
    :func:`radiorisk.stats.brier_t` (riskRegression's convention, controls
    :math:`T_i > t_0`), whenever nobody is censored exactly at :math:`t_0`.
    When somebody is (e.g. follow-up capped at the horizon), riskRegression's
    convention drops them and up-weights by :math:`1/G(t_0)`, which is
    undefined (:math:`G(t_0) = 0`) once everybody still at risk is censored
    at :math:`t_0`; here they are controls and every control gets
    :math:`1/G(t_0-)`.

    Examples
    --------
    >>> label, w = ipcw_weights([100, 200, 300, 400], [1, 0, 1, 0], horizon=350)
    >>> label.tolist(), w.round(3).tolist()
    ([1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.5, 1.5])

    Follow-up capped at the horizon: the patients censored at 350 d are controls.

    >>> label, w = ipcw_weights([100, 200, 300, 350, 350], [1, 0, 1, 0, 0], horizon=350)
    >>> label.tolist(), w.round(3).tolist()
    ([1.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.333, 1.333, 1.333])
    """
    y = make_y(time, event)
    t, e = y["time"], y["event"].astype(np.float64)
    h = check_horizon(horizon)
    G = censoring_survival(t, e)
    case = (t <= h) & (e == 1)
    ctrl = (t > h) | ((t == h) & (e == 0))
    w = np.zeros(t.size)
    if case.any():
        w[case] = 1.0 / G.before(t[case])
    if ctrl.any():
        w[ctrl] = 1.0 / float(np.asarray(G.before(np.array([h])))[0])
    return case.astype(np.float64), w


class _XGBRisk(RiskEstimatorMixin, BaseEstimator):
    """Shared parameters, fitting and margins of the xgboost risk models."""

    _allow_nan = True
    _objective = ""

    def __init__(self, *, horizon=DEFAULT_HORIZON, n_estimators=300, learning_rate=0.05, max_depth=3,
                 min_child_weight=1.0, subsample=0.8, colsample_bytree=0.8, reg_lambda=1.0,
                 reg_alpha=0.0, gamma=0.0, max_bin=256, random_state=0, nthread=None,
                 early_stopping_rounds=None, validation_fraction=0.2):
        self.horizon = horizon
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.random_state = random_state
        self.nthread = nthread
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self) -> None:
        check_horizon(self.horizon)
        check_number("n_estimators", self.n_estimators, low=1, integer=True)
        check_number("learning_rate", self.learning_rate, low=0.0, high=1.0, low_open=True)
        check_number("max_depth", self.max_depth, low=1, integer=True)
        check_number("min_child_weight", self.min_child_weight, low=0.0)
        check_number("subsample", self.subsample, low=0.0, high=1.0, low_open=True)
        check_number("colsample_bytree", self.colsample_bytree, low=0.0, high=1.0, low_open=True)
        check_number("reg_lambda", self.reg_lambda, low=0.0)
        check_number("reg_alpha", self.reg_alpha, low=0.0)
        check_number("gamma", self.gamma, low=0.0)
        check_number("max_bin", self.max_bin, low=2, integer=True)
        check_number("random_state", self.random_state, low=0, integer=True)
        check_number("nthread", self.nthread, low=1, integer=True, allow_none=True)
        check_number("early_stopping_rounds", self.early_stopping_rounds, low=1, integer=True,
                     allow_none=True)
        check_number("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                     low_open=True)
        if not float(self.validation_fraction) < 1.0:
            raise ModelError(f"validation_fraction must be < 1; got {self.validation_fraction!r}")

    def _booster_params(self) -> dict:
        p = {
            "objective": self._objective, "tree_method": "hist", "eta": float(self.learning_rate),
            "max_depth": int(self.max_depth), "min_child_weight": float(self.min_child_weight),
            "subsample": float(self.subsample), "colsample_bytree": float(self.colsample_bytree),
            "lambda": float(self.reg_lambda), "alpha": float(self.reg_alpha),
            "gamma": float(self.gamma), "max_bin": int(self.max_bin),
            "seed": int(self.random_state), "verbosity": 0,
        }
        if self.nthread is not None:
            p["nthread"] = int(self.nthread)
        return p

    # -- data -----------------------------------------------------------------------------
    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float32,
                             order="C")

    def _margin(self, Xa: np.ndarray) -> np.ndarray:
        m = self.booster_.inplace_predict(Xa, predict_type="margin")
        return np.asarray(m, dtype=np.float64).ravel()

    def _training_matrix(self, Xa, t, e, w, ref=None) -> xgb.QuantileDMatrix:  # pragma: no cover
        raise NotImplementedError

    def _base_score(self, t, e, w) -> float | None:
        """The starting margin (None: xgboost's own estimate)."""
        return None

    _eval_metric = ""

    def _train(self, Xa, t, e, w) -> None:
        """Boost on all rows, or with early stopping on a held-out share of them."""
        params = self._booster_params()
        n = int(self.n_estimators)
        notes: list[str] = []
        with captured_warnings(notes):
            if self.early_stopping_rounds is None:
                base = self._base_score(t, e, w)
                if base is not None:
                    params["base_score"] = base
                booster = xgb.train(params, self._training_matrix(Xa, t, e, w), num_boost_round=n)
                self.n_estimators_ = n
            else:
                valid = holdout_rows(e, self.validation_fraction, self.random_state)
                fit = ~valid
                base = self._base_score(t[fit], e[fit], w[fit])
                if base is not None:
                    params["base_score"] = base
                params["eval_metric"] = self._eval_metric
                dfit = self._training_matrix(Xa[fit], t[fit], e[fit], w[fit])
                dvalid = self._training_matrix(Xa[valid], t[valid], e[valid], w[valid], ref=dfit)
                booster = xgb.train(params, dfit, num_boost_round=n, evals=[(dvalid, "valid")],
                                    early_stopping_rounds=int(self.early_stopping_rounds),
                                    verbose_eval=False)
                best = int(booster.best_iteration) + 1
                booster = booster[:best]
                self.n_estimators_ = best
        self.booster_ = booster
        self.base_score_ = base
        self.fit_warnings_ = tuple(notes)

    # -- API ------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the booster (and the baseline where there is one).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
            Numeric features; NaN is a missing value.
        y : structured array
            From :func:`~radiorisk.models.make_y`.
        sample_weight : array-like of shape (n,), optional
            Non-negative case weights.

        Returns
        -------
        self
        """
        self._check_params()
        Xa = self._check_X(X, reset=True)
        t, e = check_y(y, Xa.shape[0])
        w = check_sample_weight(sample_weight, Xa.shape[0])
        self._train(Xa, t, e, w)
        self._after_fit(Xa, t, e, w)
        return self

    def _after_fit(self, Xa, t, e, w) -> None:
        pass

    def predict_margin(self, X) -> np.ndarray:
        """The booster's raw output margin (log-odds, log relative hazard or log-time location)."""
        check_is_fitted(self, "booster_")
        return self._margin(self._check_X(X, reset=False))

    # -- persistence ----------------------------------------------------------------------
    def _to_state(self, folder) -> dict:
        self.booster_.save_model(str(folder / "model.json"))
        return {"booster": "model.json", "feature_names_in_": _names(self),
                "n_features_in_": int(self.n_features_in_), **self._extra_state()}

    def _extra_state(self) -> dict:
        return {}

    def _set_state(self, st: dict, folder) -> None:
        booster = xgb.Booster()
        booster.load_model(str(folder / st["booster"]))
        if booster.num_features() != int(st["n_features_in_"]):
            raise ModelError(f"{st['booster']} has {booster.num_features()} features; the estimator "
                             f"expects {st['n_features_in_']}")
        self.booster_ = booster
        if self.nthread is not None:
            self.booster_.set_param({"nthread": int(self.nthread)})
        _set_names(self, st)
        self._set_extra_state(st)

    def _set_extra_state(self, st: dict) -> None:
        pass


def _names(est) -> list[str] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else [str(c) for c in names]


def _set_names(est, st: dict) -> None:
    est.n_features_in_ = int(st["n_features_in_"])
    if st.get("feature_names_in_") is not None:
        est.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)


_COMMON_PARAMS_DOC = """
    horizon : float, default 1826.0
        Default prediction horizon in days (5 years).
    n_estimators : int, default 300
        Boosting rounds.
    learning_rate : float, default 0.05
    max_depth : int, default 3
    min_child_weight : float, default 1.0
    subsample, colsample_bytree : float, default 0.8
        Row and column subsampling per tree.
    reg_lambda, reg_alpha, gamma : float
        L2 and L1 penalties on leaf values, minimum split loss.
    max_bin : int, default 256
        Histogram bins per feature (``tree_method="hist"``).
    random_state : int, default 0
        Seed of the row/column subsampling; the same seed gives identical
        predictions whatever ``nthread``.
    nthread : int, optional
        Threads used by xgboost (None: xgboost's default, every core).
    early_stopping_rounds : int, optional
        With a value, ``validation_fraction`` of the rows (stratified on the
        event, drawn from ``random_state``: :func:`holdout_rows`) are held out
        and boosting stops once the held-out loss of the objective
        (log-loss, Cox or AFT negative log-likelihood) has not improved for
        that many rounds; the booster is cut at its best round
        (``n_estimators_``) and is trained on the other rows only, as
        scikit-learn's ``HistGradientBoosting*(early_stopping=True)`` does.
        Baselines (the Cox Breslow hazard) use every row.  Default None:
        ``n_estimators`` rounds on every row.
    validation_fraction : float, default 0.2
        Share held out for early stopping.
"""


class XGBBinaryRisk(_XGBRisk):
    __doc__ = f"""Probability of MACE by the horizon from a classifier of "event by the horizon".

    ``binary:logistic`` on label 1 = event at or before ``horizon``, with
    inverse-probability-of-censoring weights (:func:`ipcw_weights`) times any
    ``sample_weight``: patients censored before the horizon get weight 0 and
    the others are up-weighted by :math:`1/G`, with :math:`G` the (unweighted)
    censoring Kaplan-Meier curve of the training rows.  Rows with weight 0
    are left out of the booster's data.  The model predicts only at the
    horizon it was trained for.

    Parameters
    ----------{_COMMON_PARAMS_DOC}
    Attributes
    ----------
    booster_ : xgboost.Booster
    ipcw_label_, ipcw_weight_ : ndarray
        Label and IPCW weight of each training row (before ``sample_weight``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"a": rng.normal(size=400), "b": rng.normal(size=400)}})
    >>> y = make_y(rng.exponential(900 / np.exp(X["a"])) + 1, rng.random(400) < 0.8)
    >>> m = XGBBinaryRisk(horizon=365.0, n_estimators=20, nthread=1).fit(X, y)
    >>> r = m.predict_risk(X)
    >>> bool(((r > 0) & (r < 1)).all())
    True
    """

    _objective = "binary:logistic"

    _eval_metric = "logloss"

    def _training_matrix(self, Xa, t, e, w, ref=None):
        label, ipcw = ipcw_weights(t, e, horizon=self.horizon)
        weight = ipcw * w
        use = weight > 0
        if not (weight[label == 1] > 0).any():
            raise ModelError(f"no event by the horizon {float(self.horizon):g} d in the training "
                             "rows: xgb-binary cannot be fitted")
        if not (weight[label == 0] > 0).any():
            raise ModelError(f"nobody is followed beyond the horizon {float(self.horizon):g} d in "
                             "the training rows: xgb-binary cannot be fitted")
        return xgb.QuantileDMatrix(Xa[use], label=label[use], weight=weight[use],
                                   max_bin=int(self.max_bin), nthread=self.nthread, ref=ref)

    def _after_fit(self, Xa, t, e, w) -> None:
        self.ipcw_label_, self.ipcw_weight_ = ipcw_weights(t, e, horizon=self.horizon)

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by the training horizon.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        horizon : float, optional
            Must be None or the horizon the model was trained for.

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "booster_")
        h = check_horizon(horizon, self.horizon)
        if h != float(self.horizon):
            raise ModelError(f"xgb-binary was trained for horizon={float(self.horizon):g} d and "
                             f"cannot predict at {h:g} d; refit with horizon={h:g}")
        return expit(self._margin(self._check_X(X, reset=False)))


class XGBCoxRisk(_XGBRisk):
    __doc__ = f"""Gradient-boosted Cox model with a Breslow baseline: absolute risk by any horizon.

    ``survival:cox`` learns log relative hazards :math:`m(x)` (censored rows
    carry a negative time label, the xgboost convention; ties as Breslow).
    The baseline cumulative hazard is the Breslow estimate from the training
    margins,

    .. math::

        H_0(t) = \\sum_{{t_k \\le t}} \\frac{{\\sum_{{T_i = t_k}} w_i \\delta_i}}
                                       {{\\sum_{{T_j \\ge t_k}} w_j e^{{m_j - c}}}},

    (:math:`c` the mean training margin, for numerical range), and the risk
    by horizon :math:`h` is :math:`1 - \\exp(-H_0(h)\\, e^{{m(x) - c}})`.
    :math:`H_0` is flat after the last training event time.

    Parameters
    ----------{_COMMON_PARAMS_DOC}
    Attributes
    ----------
    booster_ : xgboost.Booster
    margin_offset_ : float
        :math:`c`.
    baseline_times_, baseline_cumhaz_ : ndarray
        Distinct training event times and :math:`H_0` at each.

    Notes
    -----
    xgboost's Cox objective multiplies each row's gradient by its weight but
    keeps the risk-set sums unweighted, so ``sample_weight`` is an
    approximation of a weighted partial likelihood; the Breslow baseline
    uses the weights exactly.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"a": rng.normal(size=400)}})
    >>> y = make_y(rng.exponential(900 / np.exp(X["a"])) + 1, rng.random(400) < 0.8)
    >>> m = XGBCoxRisk(n_estimators=20, nthread=1).fit(X, y)
    >>> r1, r5 = m.predict_risk(X, 365.0), m.predict_risk(X, 1826.0)
    >>> bool((r1 <= r5).all())
    True
    """

    _objective = "survival:cox"

    _eval_metric = "cox-nloglik"

    def _training_matrix(self, Xa, t, e, w, ref=None):
        label = np.where(e == 1, t, -t)
        return xgb.QuantileDMatrix(Xa, label=label, weight=w, max_bin=int(self.max_bin),
                                   nthread=self.nthread, ref=ref)

    def _after_fit(self, Xa, t, e, w) -> None:
        m = self._margin(Xa)
        self.margin_offset_ = float(np.average(m, weights=w))
        self.baseline_times_, self.baseline_cumhaz_ = breslow_cumhaz(t, e, m - self.margin_offset_, w)

    def _relative_hazard(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return np.exp(self._margin(self._check_X(X, reset=False)) - self.margin_offset_)

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the estimator's horizon).

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "booster_")
        h = check_horizon(horizon, self.horizon)
        return breslow_risk(self.baseline_times_, self.baseline_cumhaz_, h, self._relative_hazard(X))

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities :math:`S(t \\mid x)`, shape (n_samples, n_times)."""
        check_is_fitted(self, "booster_")
        return breslow_survival(self.baseline_times_, self.baseline_cumhaz_, times, self._relative_hazard(X))

    def _extra_state(self) -> dict:
        return {"margin_offset_": self.margin_offset_,
                "baseline_times_": self.baseline_times_.tolist(),
                "baseline_cumhaz_": self.baseline_cumhaz_.tolist()}

    def _set_extra_state(self, st: dict) -> None:
        self.margin_offset_ = float(st["margin_offset_"])
        self.baseline_times_ = np.asarray(st["baseline_times_"], dtype=np.float64)
        self.baseline_cumhaz_ = np.asarray(st["baseline_cumhaz_"], dtype=np.float64)
        if self.baseline_times_.shape != self.baseline_cumhaz_.shape:
            raise ModelError("baseline_times_ and baseline_cumhaz_ differ in length")
