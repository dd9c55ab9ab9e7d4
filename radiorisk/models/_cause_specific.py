r"""Cause-specific competing-risk models: one hazard model per cause, combined into the cumulative incidence.

With :math:`\Lambda_1` the cause-specific cumulative hazard of MACE (competing
events censored) and :math:`\Lambda_2` that of the competing event (MACE
censored), the absolute risk of MACE by :math:`t_0` is the Aalen–Johansen-type
sum over the event times :math:`t_k \le t_0` of either cause

.. math::

    F_1(t_0 \mid x) = \sum_{t_k \le t_0} S(t_k- \mid x)\, d\Lambda_1(t_k \mid x),

with :math:`S(t-) = \prod_{s < t} \{1 - d\Lambda_1(s) - d\Lambda_2(s)\}` (product
limit, ``riskRegression::predict.CauseSpecificCox``'s default
``product.limit = TRUE``) or :math:`\exp\{-\Lambda_1(t-) - \Lambda_2(t-)\}`
(``product_limit=False``).  :class:`CauseSpecificCoxRisk` equals
``riskRegression::CSC`` + ``predictRisk`` (Cox models with Efron ties and the
Efron baseline hazard, as ``predictCox``); :class:`CauseSpecificXGBCoxRisk` uses
two boosted Cox models, each with its Breslow baseline from its training
margins.  Both are subclasses of the censoring-mode estimator of the same kind
(same parameters, so the same searches and factories): their own ``coef_`` /
booster is the model of MACE, ``competing_`` the model of the competing event.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..stats import efron_increments
from ._base import DEFAULT_HORIZON, ModelError, check_horizon, check_y_cr, make_y
from ._cause_specific_mi import ImputedCauseSpecific
from ._cox import CoxPHRisk
from ._xgb import XGBCoxRisk

__all__ = ["CauseSpecificCoxRisk", "CauseSpecificXGBCoxRisk", "cause_specific_cif", "CAUSE_SPECIFIC",
           "ESTIMAND_CENSORING"]

#: What a censoring-mode model predicts (competing events censored).
ESTIMAND_CENSORING = ("1 - survival from MACE with competing events treated as censoring "
                      "(Kaplan-Meier-type risk; exceeds the cumulative incidence when competing events occur)")

_CHUNK = 4096  # rows per block of the (rows x event times) products
_REL_MAX = 1e300  # relative hazards are capped here (an overflowing exp of a diverged fit's linear predictor)


def cause_specific_cif(hazards, horizon: float, *, product_limit: bool = True) -> np.ndarray:
    r"""Cumulative incidence of cause 1 by ``horizon`` from cause-specific hazards.

    Parameters
    ----------
    hazards : sequence of (times, increments, relative_hazard)
        One triple per cause, cause 1 first: the baseline hazard increments at
        the cause's distinct event times (for a log relative hazard of 0) and
        :math:`e^{m_i}` of the rows to predict (shape (n,)); the hazard of row
        :math:`i` jumps by ``relative_hazard[i] * increments[k]`` at ``times[k]``.
    horizon : float
        :math:`t_0` (event times :math:`\le t_0` count).
    product_limit : bool, default True
        :math:`S(t-)` as the product limit of the all-cause hazard
        (riskRegression's default) or as :math:`\exp(-\Lambda_1-\Lambda_2)`.
        An all-cause increment above 1 (a huge relative hazard) is a
        conditional probability of 1, shared between the causes in proportion
        to their increments; riskRegression has no such rule (it never arises
        in a converged fit).

    Returns
    -------
    ndarray of shape (n,)
        :math:`F_1(t_0 \mid x_i) = \sum_{t_k \le t_0} S(t_k-)\, d\Lambda_1(t_k)`.

    Examples
    --------
    One row, cause 1 jumps 0.1 at t = 1, cause 2 jumps 0.2 at t = 1 and 0.5 at t = 2,
    cause 1 again 0.1 at t = 3: :math:`F_1(3) = 0.1 + (1 - 0.3)(1 - 0.5)\,0.1`.

    >>> h1 = (np.array([1.0, 3.0]), np.array([0.1, 0.1]), np.ones(1))
    >>> h2 = (np.array([1.0, 2.0]), np.array([0.2, 0.5]), np.ones(1))
    >>> cause_specific_cif([h1, h2], 3.0).round(6).tolist()
    [0.135]
    >>> cause_specific_cif([h1, h2], 2.9).round(6).tolist()
    [0.1]
    """
    h = check_horizon(horizon)
    parts = [(np.asarray(t, dtype=np.float64), np.asarray(d, dtype=np.float64),
              np.asarray(r, dtype=np.float64).ravel()) for t, d, r in hazards]
    if not parts:
        raise ModelError("hazards: at least the hazard of cause 1 is required")
    n = parts[0][2].size
    if any(r.size != n for _, _, r in parts) or any(t.shape != d.shape for t, d, _ in parts):
        raise ModelError("hazards: every cause needs times and increments of one length and n relative hazards")
    grid = np.unique(np.concatenate([t[t <= h] for t, _, _ in parts]))
    if grid.size == 0:
        return np.zeros(n)
    base = np.zeros((len(parts), grid.size))
    for c, (t, d, _) in enumerate(parts):
        keep = t <= h
        np.add.at(base[c], np.searchsorted(grid, t[keep]), d[keep])
    out = np.empty(n)
    rel = [np.minimum(r, _REL_MAX) for _, _, r in parts]  # an overflowing exp(lp) (a diverged fit) as huge
    for s in range(0, n, _CHUNK):
        rows = slice(s, min(n, s + _CHUNK))
        d1 = rel[0][rows, None] * base[0][None, :]
        d_all = d1.copy()
        for c in range(1, len(parts)):
            d_all += rel[c][rows, None] * base[c][None, :]
        if product_limit:
            over = d_all > 1.0  # a discrete all-cause hazard above 1: every one left has an event there
            if over.any():
                d1 = np.where(over, d1 / np.where(over, d_all, 1.0), d1)
                d_all = np.minimum(d_all, 1.0)
            surv_after = np.cumprod(1.0 - d_all, axis=1)
        else:
            surv_after = np.exp(-np.cumsum(d_all, axis=1))
        surv_before = np.concatenate([np.ones((d1.shape[0], 1)), surv_after[:, :-1]], axis=1)
        out[rows] = np.sum(surv_before * d1, axis=1)
    return np.clip(out, 0.0, 1.0)  # rounding of a risk of 1 (a capped increment) stays a probability


class _CauseSpecific:
    """Fitting, prediction and persistence shared by the cause-specific models (a mixin before the base class)."""

    _base_class: type = object
    _base_name = ""
    #: The estimand of ``predict_risk`` (``estimand_``), for reports.
    ESTIMAND = ""

    @property
    def estimand_(self) -> str:
        """What :meth:`predict_risk` estimates (for fit reports)."""
        return self.ESTIMAND

    def fit(self, X, y, sample_weight=None):
        """Fit the model of MACE (competing events censored) on ``self`` and that of the competing event.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : structured array
            From :func:`~radiorisk.models.make_y` with ``event_type`` (0 censored,
            1 MACE, 2 competing event).
        sample_weight : None
            Not supported (the baseline hazards are unweighted).

        Returns
        -------
        self
        """
        if sample_weight is not None:
            raise ModelError(f"{type(self).__name__} does not support sample_weight")
        t, status = check_y_cr(y, len(X) if hasattr(X, "__len__") else None)
        if status is None:
            raise ModelError(f"{type(self).__name__} needs the event type: build y with "
                             "make_y(time, event, event_type=...) (0 censored, 1 MACE, 2 competing event)")
        self._check_cs_params()
        self._base_class.fit(self, X, make_y(t, status == 1))
        self.n_competing_ = int(np.sum(status == 2))
        if self.n_competing_:
            self.competing_ = self._fit_competing(X, make_y(t, status == 2))
            for attr in ("convergence_notes_", "fit_warnings_"):  # the notes of both fits, for fit reports
                if hasattr(self, attr):
                    mine = list(getattr(self, attr))
                    theirs = [f"competing-event model: {n}" for n in getattr(self.competing_, attr, ())]
                    setattr(self, attr, type(getattr(self, attr))(mine + theirs))
        else:  # no competing event: its hazard is 0 and F1 = 1 - S1
            self.competing_ = None
        self._set_cause_hazards(X, t, status)
        return self

    def _check_cs_params(self) -> None:
        pass

    def _competing_params(self) -> dict:
        """The parameters of the competing-event model: the estimator's own (base-class ones only)."""
        return self.get_params()

    def _fit_competing(self, X, y):
        """The fitted model of the competing event (``y``: competing events as the events)."""
        return self._base_class(**self._competing_params()).fit(X, y)

    def _cause_rel(self, model, X) -> np.ndarray:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _hazards(self, X):
        check_is_fitted(self, "cause_times_")
        models = [self, self.competing_]
        return [(t, d, self._cause_rel(m, X)) for m, t, d in zip(models, self.cause_times_,
                                                                   self.cause_increments_, strict=False)
                if m is not None]

    def predict_risk(self, X, horizon=None, *, product_limit: bool = True) -> np.ndarray:
        """Cumulative incidence of MACE by ``horizon`` (days; default: the estimator's horizon).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        horizon : float, optional
        product_limit : bool, default True
            :math:`S(t-)` as a product limit (``riskRegression``'s default) or as
            :math:`\\exp(-\\Lambda_1 - \\Lambda_2)`; see :func:`cause_specific_cif`.

        Returns
        -------
        ndarray of shape (n,)
        """
        h = check_horizon(horizon, self.horizon)
        return cause_specific_cif(self._hazards(X), h, product_limit=bool(product_limit))

    def predict_survival_function(self, X, *, times):
        """Not defined: a competing-risk model predicts the cumulative incidence (:meth:`predict_risk`)."""
        raise ModelError(f"{type(self).__name__} predicts the cumulative incidence of MACE (predict_risk) "
                         "under competing risks; it has no survival function of MACE")

    # -- persistence ----------------------------------------------------------------------
    def _to_state(self, folder) -> dict:
        st = self._base_class._to_state(self, folder)
        st = self._rename_booster(st, folder, "model_mace.json")
        comp = None
        if self.competing_ is not None:
            comp = self._rename_booster(self.competing_._to_state(folder), folder, "model_competing.json")
        return {**st, "competing": comp, "n_competing_": self.n_competing_, **self._cause_state()}

    def _cause_state(self) -> dict:
        """The combination's own state (the baseline hazard increments of each cause)."""
        return {"cause_times_": [np.asarray(v).tolist() for v in self.cause_times_],
                "cause_increments_": [np.asarray(v).tolist() for v in self.cause_increments_]}

    @staticmethod
    def _rename_booster(st: dict, folder, name: str) -> dict:
        if "booster" not in st:
            return st
        (folder / st["booster"]).rename(folder / name)
        return {**st, "booster": name}

    def _set_state(self, st: dict, folder) -> None:
        self._base_class._set_state(self, st, folder)
        self.n_competing_ = int(st["n_competing_"])
        comp = st["competing"]
        if (comp is None) != (self.n_competing_ == 0):
            raise ModelError("cause-specific state: the competing model is missing or unexpected")
        self.competing_ = None
        if comp is not None:
            self.competing_ = self._base_class(**self._competing_params())
            self.competing_._set_state(comp, folder)
        self._set_cause_state(st, comp)

    def _set_cause_state(self, st: dict, comp) -> None:
        self.cause_times_ = [np.asarray(v, dtype=np.float64) for v in st["cause_times_"]]
        self.cause_increments_ = [np.asarray(v, dtype=np.float64) for v in st["cause_increments_"]]
        if len(self.cause_times_) != (1 if comp is None else 2) or any(
                a.shape != b.shape for a, b in zip(self.cause_times_, self.cause_increments_, strict=True)):
            raise ModelError("cause-specific state: cause_times_ and cause_increments_ do not match")


class CauseSpecificCoxRisk(ImputedCauseSpecific, _CauseSpecific, CoxPHRisk):
    r"""Cause-specific Cox models of MACE and of the competing event, combined into the cumulative incidence.

    Parameters are those of :class:`~radiorisk.models.CoxPHRisk` (both causes'
    models use them), and ``competing_unpenalized``: the competing-event model's
    unpenalised columns (default ``"same"``: those of ``unpenalized``; ``[]``:
    every column penalised, e.g. a nuisance model with few competing events whose
    unpenalised binary predictors would otherwise separate).  ``fit`` needs ``y`` with ``event_type``
    (:func:`~radiorisk.models.make_y`).  With ``n_imputations`` (multiple
    imputation of missing covariates): M chained-equation imputations with the
    MACE indicator and the Nelson-Aalen hazard of MACE in the imputation model,
    one cause-specific pair per completed data set, the cumulative incidences
    averaged (:mod:`radiorisk.models._cause_specific_mi`).

    Attributes
    ----------
    coef_, se_, means_, hazard_ratios()
        The cause-specific Cox model of MACE (competing events censored): its
        hazard ratios, and :meth:`predict_log_hazard` /
        :meth:`predict_contributions` are its linear predictor (what SHAP explains).
    competing_ : CoxPHRisk or None
        The cause-specific Cox model of the competing event (None without one).
    cause_times_, cause_increments_ : list of ndarray
        Per cause, the Efron baseline hazard increments at its event times for
        :math:`(x - \bar x)^\top\beta = 0` (``survival::survfit``'s and
        ``riskRegression::predictCox``'s estimator for Efron ties).
    estimand_ : str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=400)})
    >>> t1, t2 = rng.exponential(900 / np.exp(0.7 * X["a"])), rng.exponential(1500, 400)
    >>> c = rng.uniform(200, 3000, 400)
    >>> t = np.minimum.reduce([t1, t2, c]).round() + 1
    >>> y = make_y(t, None, event_type=np.select([t1 <= np.minimum(t2, c), t2 <= c], [1, 2], 0))
    >>> m = CauseSpecificCoxRisk(horizon=1826.0).fit(X, y)
    >>> cif, km_type = m.predict_risk(X), CoxPHRisk(horizon=1826.0).fit(X, y).predict_risk(X)
    >>> bool((cif < km_type).all())
    True
    """

    _base_class = CoxPHRisk
    _base_name = "coxph"

    def __init__(self, *, horizon=DEFAULT_HORIZON, penalizer=0.0, l1_ratio=0.0, robust=False,
                 n_imputations=None, impute_max_iter=5, impute_delta=0.0, delta_columns=None,
                 random_state=0, unpenalized=None, penalizer_grid=None, inner_folds=5,
                 competing_unpenalized="same"):
        super().__init__(horizon=horizon, penalizer=penalizer, l1_ratio=l1_ratio, robust=robust,
                         n_imputations=n_imputations, impute_max_iter=impute_max_iter,
                         impute_delta=impute_delta, delta_columns=delta_columns, random_state=random_state,
                         unpenalized=unpenalized, penalizer_grid=penalizer_grid, inner_folds=inner_folds)
        self.competing_unpenalized = competing_unpenalized

    def _fit_competing(self, X, y):
        """The competing-event model; too few competing events for the inner CV of ``penalizer="cv"``:
        the MACE model's chosen strength instead (stated in ``convergence_notes_``)."""
        params = self._competing_params()
        try:
            return self._base_class(**params).fit(X, y)
        except ModelError as exc:
            if not (params["penalizer"] == "cv" and str(exc).startswith("too few events")):
                raise
        self.convergence_notes_.append(f"competing-event model: too few competing events ({int(y['event'].sum())}) "
                                       "for the inner cross-validation of its penalty; the MACE model's "
                                       f"strength {self.penalizer_:g} used")
        return self._base_class(**{**params, "penalizer": self.penalizer_}).fit(X, y)

    def _competing_params(self) -> dict:
        p = self.get_params()
        own = p.pop("competing_unpenalized")
        if not (isinstance(own, str) and own == "same"):
            p["unpenalized"] = own
        return p
    ESTIMAND = ("cumulative incidence of MACE (Aalen-Johansen-type product of cause-specific Cox models "
                "for MACE and for the competing event, as riskRegression::CSC + predictRisk)")

    def _set_cause_hazards(self, X, t, status) -> None:
        times, incs = [], []
        for model, code in ((self, 1), (self.competing_, 2)):
            if model is None:
                continue
            tt, inc = efron_increments(t, (status == code).astype(np.float64), model.predict_log_hazard(X))
            times.append(tt)
            incs.append(inc)
        self.cause_times_, self.cause_increments_ = times, incs

    def _cause_rel(self, model, X) -> np.ndarray:
        return np.exp(model.predict_log_hazard(X))


class CauseSpecificXGBCoxRisk(_CauseSpecific, XGBCoxRisk):
    r"""Cause-specific boosted Cox models of MACE and of the competing event, combined into the cumulative incidence.

    Parameters are those of :class:`~radiorisk.models.XGBCoxRisk` (both boosters
    use them, with the same seed).  Each cause's hazard is its booster's relative
    hazard times its Breslow baseline from the training margins; the risk is
    :func:`cause_specific_cif`.  ``fit`` needs ``y`` with ``event_type``.

    Attributes
    ----------
    booster_, baseline_times_, baseline_cumhaz_
        The model of MACE (competing events censored); :meth:`predict_margin` is
        its log relative hazard (what TreeSHAP explains).
    competing_ : XGBCoxRisk or None
        The model of the competing event.
    cause_times_, cause_increments_ : list of ndarray
        Per cause, the Breslow baseline hazard increments.
    estimand_ : str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300)})
    >>> t = rng.exponential(900, 300) + 1
    >>> y = make_y(t, None, event_type=rng.choice([0, 1, 2], 300))
    >>> m = CauseSpecificXGBCoxRisk(n_estimators=10, nthread=1).fit(X, y)
    >>> bool(((m.predict_risk(X) > 0) & (m.predict_risk(X) < 1)).all())
    True
    """

    _base_class = XGBCoxRisk
    _base_name = "xgb-cox"
    ESTIMAND = ("cumulative incidence of MACE (Aalen-Johansen-type product of cause-specific boosted Cox "
                "models for MACE and for the competing event)")

    def _set_cause_hazards(self, X, t, status) -> None:
        times, incs = [], []
        for model in (self, self.competing_):
            if model is None:
                continue
            times.append(np.asarray(model.baseline_times_, dtype=np.float64))
            incs.append(np.diff(np.concatenate([[0.0], model.baseline_cumhaz_])))
        self.cause_times_, self.cause_increments_ = times, incs

    def _cause_rel(self, model, X) -> np.ndarray:
        return model._relative_hazard(X)


#: Cause-specific class of each censoring-mode model name (``xgb-aft``: ``_cause_specific_aft``, added by
#: the registry).
CAUSE_SPECIFIC = {"coxph": CauseSpecificCoxRisk, "xgb-cox": CauseSpecificXGBCoxRisk}
