"""The gradient-boosted accelerated failure time model (``xgb-aft``): risk from the fitted log-time distribution.

Split from :mod:`._xgb` (shared parameters, training and persistence of the boosted models).
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb
from scipy.special import expit, ndtr
from sklearn.utils.validation import check_is_fitted

from ._base import DEFAULT_HORIZON, check_choice, check_horizon, check_number
from ._tuning import aft_intercept
from ._xgb import _COMMON_PARAMS_DOC, _XGBRisk

__all__ = ["XGBAFTRisk", "AFT_DISTRIBUTIONS", "aft_cdf", "aft_sf", "aft_pdf"]

#: Log-time error distributions of ``survival:aft``.
AFT_DISTRIBUTIONS = ("normal", "logistic", "extreme")


def aft_cdf(z: np.ndarray, distribution: str) -> np.ndarray:
    r"""CDF :math:`F_Z(z)` of the standard log-time error of ``survival:aft``.

    Parameters
    ----------
    z : ndarray
        Standardised log time :math:`(\log t - m) / \sigma`.
    distribution : {"normal", "logistic", "extreme"}
        ``extreme`` is the minimum extreme-value law :math:`1 - e^{-e^z}` (Weibull times).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> aft_cdf(np.array([0.0]), "normal").tolist(), round(float(aft_cdf(np.array([0.0]), "extreme")[0]), 4)
    ([0.5], 0.6321)
    """
    if distribution == "normal":
        return ndtr(z)
    if distribution == "logistic":
        return expit(z)
    return -np.expm1(-np.exp(z))  # extreme (minimum) value: Weibull times


def aft_sf(z: np.ndarray, distribution: str) -> np.ndarray:
    """Survival :math:`1 - F_Z(z)` of the standard log-time error, without cancellation in the upper tail.

    Examples
    --------
    >>> float(aft_sf(np.array([40.0]), "logistic")[0]) > 0, aft_sf(np.array([0.0]), "normal").tolist()
    (True, [0.5])
    """
    if distribution == "normal":
        return ndtr(-z)
    if distribution == "logistic":
        return expit(-z)
    return np.exp(-np.exp(z))


def aft_pdf(z: np.ndarray, distribution: str) -> np.ndarray:
    """Density :math:`f_Z(z)` of the standard log-time error of ``survival:aft``.

    Examples
    --------
    >>> round(float(aft_pdf(np.array([0.0]), "normal")[0]), 6), float(aft_pdf(np.array([0.0]), "logistic")[0])
    (0.398942, 0.25)
    """
    if distribution == "normal":
        return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    if distribution == "logistic":
        p = expit(z)
        return p * (1.0 - p)
    return np.exp(z - np.exp(z))


class XGBAFTRisk(_XGBRisk):
    __doc__ = f"""Gradient-boosted accelerated failure time model: risk from the fitted distribution.

    ``survival:aft`` models :math:`\\log T = m(x) + \\sigma Z`; events are
    exact observations (lower = upper bound = :math:`T`) and censored
    patients right-censored intervals :math:`[T, +\\infty)`.  The risk by
    horizon :math:`h` is :math:`F_Z((\\log h - m(x)) / \\sigma)` with
    :math:`F_Z` the standard normal, logistic, or minimum extreme-value
    (:math:`1 - e^{{-e^z}}`, i.e. Weibull times) CDF.

    Boosting starts from the location :math:`\\hat\\mu` at which the
    intercept-only model reproduces the Kaplan-Meier risk by ``horizon``
    (:func:`~radiorisk.models._tuning.aft_intercept`; ``base_score_`` = :math:`e^{{\\hat\\mu}}` days, xgboost's time scale) rather
    than xgboost's 0.5 (a margin of :math:`\\log 0.5`: every risk near 1 until
    the trees have moved it).

    Parameters
    ----------
    distribution : {{"normal", "logistic", "extreme"}}, default "normal"
        ``aft_loss_distribution``.
    sigma : float, default 1.0
        ``aft_loss_distribution_scale``: a fixed hyperparameter (xgboost does
        not estimate it), searched by the nested search (see
        ``docs/tuning.md``); it sets the spread of the predicted risks.{_COMMON_PARAMS_DOC}
    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({{"a": rng.normal(size=400)}})
    >>> y = make_y(rng.exponential(900 / np.exp(X["a"])) + 1, rng.random(400) < 0.8)
    >>> m = XGBAFTRisk(distribution="extreme", n_estimators=20, nthread=1).fit(X, y)
    >>> m.predict_risk(X).shape
    (400,)
    """

    _objective = "survival:aft"

    def __init__(self, *, distribution="normal", sigma=1.0, horizon=DEFAULT_HORIZON,
                 n_estimators=300, learning_rate=0.05, max_depth=3, min_child_weight=1.0,
                 subsample=0.8, colsample_bytree=0.8, reg_lambda=1.0, reg_alpha=0.0, gamma=0.0,
                 max_bin=256, random_state=0, nthread=None, early_stopping_rounds=None,
                 validation_fraction=0.2):
        super().__init__(horizon=horizon, n_estimators=n_estimators, learning_rate=learning_rate,
                         max_depth=max_depth, min_child_weight=min_child_weight,
                         subsample=subsample, colsample_bytree=colsample_bytree,
                         reg_lambda=reg_lambda, reg_alpha=reg_alpha, gamma=gamma, max_bin=max_bin,
                         random_state=random_state, nthread=nthread,
                         early_stopping_rounds=early_stopping_rounds,
                         validation_fraction=validation_fraction)
        self.distribution = distribution
        self.sigma = sigma

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("distribution", self.distribution, AFT_DISTRIBUTIONS)
        check_number("sigma", self.sigma, low=0.0, low_open=True)

    def _booster_params(self) -> dict:
        p = super()._booster_params()
        p["aft_loss_distribution"] = self.distribution
        p["aft_loss_distribution_scale"] = float(self.sigma)
        return p

    _eval_metric = "aft-nloglik"

    def _training_matrix(self, Xa, t, e, w, ref=None):
        upper = np.where(e == 1, t, np.inf)
        return xgb.QuantileDMatrix(Xa, weight=w, label_lower_bound=t, label_upper_bound=upper,
                                   max_bin=int(self.max_bin), nthread=self.nthread, ref=ref)

    def _base_score(self, t, e, w) -> float:
        """exp of the intercept-only AFT location (xgboost takes ``base_score`` on the time scale)."""
        mu = aft_intercept(t, e, distribution=self.distribution, sigma=float(self.sigma),
                           horizon=float(self.horizon), weight=w)
        return float(np.exp(mu))

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the estimator's horizon).

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "booster_")
        h = check_horizon(horizon, self.horizon)
        m = self._margin(self._check_X(X, reset=False))
        return aft_cdf((np.log(h) - m) / float(self.sigma), self.distribution)

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities :math:`S(t \\mid x)`, shape (n_samples, n_times)."""
        check_is_fitted(self, "booster_")
        tt = np.atleast_1d(np.asarray(times, dtype=np.float64))
        for t in tt:
            check_horizon(float(t))
        m = self._margin(self._check_X(X, reset=False))
        z = (np.log(tt)[None, :] - m[:, None]) / float(self.sigma)
        return 1.0 - aft_cdf(z, self.distribution)
