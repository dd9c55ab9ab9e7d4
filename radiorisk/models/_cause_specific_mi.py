r"""Multiple imputation of the cause-specific Cox model (``CauseSpecificCoxRisk(n_imputations=M)``).

The imputation model is :class:`~radiorisk.models._impute.ChainedImputation`
learnt on the training rows with the outcome of the event of interest in it
(the MACE indicator and the Nelson–Aalen cumulative hazard of MACE at each
row's time, competing events counted as censored there, as White & Royston
2009 recommend for the cause of interest); new rows are imputed by its
outcome-free models.  Each of the M completed training sets gets its own
cause-specific Cox pair (MACE and the competing event, each with the
estimator's parameters, so ``penalizer="cv"`` is chosen per imputation), and
the prediction is the mean over the M fits of each one's cumulative incidence
on its completed copy of the new rows (pooled CIF).  The MACE model's
coefficients are pooled by Rubin's rules (``pooled_``, ``coef_``, what
``hazard_ratios`` and SHAP's linear predictor show).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._base import ModelError, check_horizon, check_y_cr, make_y
from ._impute import ChainedImputation

__all__: list[str] = []


def _fit_dict(sub) -> dict:
    """One imputation's MACE fit in the form of ``CoxPHRisk.imputation_fits_``."""
    return {"coef": sub.coef_, "se": sub.se_, "means": sub.means_, "baseline_times": sub.baseline_times_,
            "baseline_cumhaz": sub.baseline_cumhaz_, "log_likelihood": float(sub.log_likelihood_)}


class ImputedCauseSpecific:
    """The ``n_imputations`` path of :class:`~radiorisk.models.CauseSpecificCoxRisk` (a mixin before it)."""

    def _one_fit_params(self) -> dict:
        return {**self.get_params(), "n_imputations": None, "impute_delta": 0.0, "delta_columns": None}

    def fit(self, X, y, sample_weight=None):
        """Fit (see the class); with ``n_imputations``: M imputations, M cause-specific pairs, pooled."""
        if self.n_imputations is None:
            return super().fit(X, y, sample_weight)
        if sample_weight is not None:
            raise ModelError(f"{type(self).__name__} does not support sample_weight")
        self._check_params()
        Xa = self._check_X(X, reset=True)
        t, status = check_y_cr(y, Xa.shape[0])
        if status is None:
            raise ModelError(f"{type(self).__name__} needs the event type: build y with "
                             "make_y(time, event, event_type=...) (0 censored, 1 MACE, 2 competing event)")
        if not (status == 1).any():
            raise ModelError("no event in the training rows: the Cox model cannot be fitted")
        names = self._names()
        imp = ChainedImputation(self.n_imputations, max_iter=self.impute_max_iter,
                                random_state=self.random_state, delta=self.impute_delta,
                                delta_columns=self._delta_positions(names)).fit(Xa, t, status == 1)
        complete = not np.isnan(Xa).any()  # M identical copies: one fit serves them all
        y_cr = make_y(t, None, event_type=status)
        subs = [type(self)(**self._one_fit_params()).fit(pd.DataFrame(Xc, columns=names), y_cr)
                for Xc in (imp.completed_[:1] if complete else imp.completed_)]
        self.convergence_notes_ = [f"imputation {m + 1}: {n}" for m, s in enumerate(subs)
                                   for n in getattr(s, "convergence_notes_", ())]
        subs = subs * self.n_imputations if complete else subs
        del imp.completed_
        self.imputation_, self.imputation_models_ = imp, subs
        self.n_events_, self.n_competing_ = int(np.sum(status == 1)), int(np.sum(status == 2))
        self.penalizer_, self.unpenalized_, self.inner_cv_ = subs[0].penalizer_, subs[0].unpenalized_, None
        self._set_imputed([_fit_dict(s) for s in subs], names)
        return self

    def predict_risk_per_imputation(self, X, horizon=None, *, product_limit: bool = True) -> np.ndarray:
        """Cumulative incidence of MACE by ``horizon`` of each imputation's fit on its completed ``X``, (M, n).

        Without ``n_imputations`` one row (:meth:`predict_risk`).
        """
        if self.n_imputations is None:
            return self.predict_risk(X, horizon, product_limit=product_limit)[None, :]
        check_is_fitted(self, "imputation_models_")
        h = check_horizon(horizon, self.horizon)
        Xa, names = self._check_X(X, reset=False), self._names()
        return np.array([sub.predict_risk(pd.DataFrame(Xc, columns=names), h, product_limit=product_limit)
                         for sub, Xc in zip(self.imputation_models_, self.imputation_.transform(Xa), strict=True)])

    def predict_risk(self, X, horizon=None, *, product_limit: bool = True) -> np.ndarray:
        """Cumulative incidence of MACE by ``horizon``; with ``n_imputations`` the mean over the M fits."""
        if self.n_imputations is None:
            return super().predict_risk(X, horizon, product_limit=product_limit)
        return np.mean(self.predict_risk_per_imputation(X, horizon, product_limit=product_limit), axis=0)

    def _to_state(self, folder) -> dict:
        if self.n_imputations is None:
            return super()._to_state(folder)
        st = self._base_class._to_state(self, folder)
        return {**st, "n_competing_": self.n_competing_,
                "imputation_models_": [s._to_state(folder) for s in self.imputation_models_]}

    def _set_state(self, st: dict, folder) -> None:
        if self.n_imputations is None:
            return super()._set_state(st, folder)
        self._base_class._set_state(self, st, folder)
        self.n_competing_ = int(st["n_competing_"])
        subs = []
        for s in st["imputation_models_"]:
            sub = type(self)(**self._one_fit_params())
            sub._set_state(s, folder)
            subs.append(sub)
        if len(subs) != self.n_imputations:
            raise ModelError(f"cause-specific state: {len(subs)} imputation models for n_imputations "
                             f"{self.n_imputations}")
        self.imputation_models_ = subs
        return None
