r"""The competing-risk ``xgb-binary``: a classifier of "MACE by the horizon" with competing-risk IPCW weights.

Under competing risks the cumulative incidence :math:`F_1(t_0 \mid x)` is the probability
of "MACE by :math:`t_0`" where a patient with a competing event before :math:`t_0` is a
control (they can no longer have MACE by :math:`t_0`).  Only censoring before
:math:`t_0` hides the status, so the inverse-probability-of-censoring weights use the
censoring distribution :math:`G` of the rows where *any* event ends follow-up:
:math:`1/G(T_i-)` for MACE or a competing event by :math:`t_0`, :math:`1/G(t_0-)` for a
patient followed beyond :math:`t_0`, 0 for a patient censored before it — the weights of
``riskRegression::Score``'s competing-risk Brier score.
"""

from __future__ import annotations

import numpy as np

from ..stats import censoring_survival
from ._base import ModelError, check_horizon, check_sample_weight, check_y_cr
from ._xgb import XGBBinaryRisk

__all__ = ["CompetingXGBBinaryRisk", "competing_ipcw_weights"]


def competing_ipcw_weights(time, status, *, horizon) -> tuple[np.ndarray, np.ndarray]:
    r"""Labels and competing-risk IPCW weights of "MACE by the horizon".

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up (days, > 0).
    status : array-like of shape (n,)
        0 censored, 1 MACE, 2 competing event.
    horizon : float

    Returns
    -------
    label : ndarray
        1 for MACE at or before the horizon, else 0.
    weight : ndarray
        :math:`1/G(T_i-)` for MACE or a competing event by the horizon,
        :math:`1/G(t_0-)` for a patient followed beyond it (or censored exactly at it),
        0 for a patient censored before it; :math:`G` is the Kaplan–Meier curve of the
        censoring times (:func:`radiorisk.stats.censoring_survival`, both causes ending
        follow-up as events).  Without competing events these are
        :func:`~radiorisk.models.ipcw_weights`.

    Examples
    --------
    >>> label, w = competing_ipcw_weights([100, 200, 300, 400], [1, 0, 2, 0], horizon=350)
    >>> label.tolist(), w.round(3).tolist()
    ([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.5, 1.5])
    """
    t = np.asarray(time, dtype=np.float64).ravel()
    s = np.asarray(status).ravel().astype(np.int64)
    if t.shape != s.shape:
        raise ModelError(f"time and status have different lengths: {t.size} and {s.size}")
    h = check_horizon(horizon)
    G = censoring_survival(t, (s != 0).astype(np.float64))
    by_h = (t <= h) & (s != 0)
    ctrl = (t > h) | ((t == h) & (s == 0))
    w = np.zeros(t.size)
    if by_h.any():
        w[by_h] = 1.0 / G.before(t[by_h])
    if ctrl.any():
        w[ctrl] = 1.0 / float(np.asarray(G.before(np.array([h])))[0])
    return ((t <= h) & (s == 1)).astype(np.float64), w


class CompetingXGBBinaryRisk(XGBBinaryRisk):
    """``xgb-binary`` under competing risks: predicts the cumulative incidence of MACE by its horizon.

    Parameters are those of :class:`~radiorisk.models.XGBBinaryRisk`; the weights are
    :func:`competing_ipcw_weights` times any ``sample_weight``.  ``fit`` needs ``y`` with
    ``event_type``.  With early stopping, the held-out rows are drawn from the MACE and the
    censored rows (competing events stay in the rows the booster is fitted on).

    Attributes
    ----------
    booster_ : xgboost.Booster
    ipcw_label_, ipcw_weight_ : ndarray
        :func:`competing_ipcw_weights` of the training rows.
    estimand_ : str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=400)})
    >>> y = make_y(rng.exponential(900, 400) + 1, None, event_type=rng.choice([0, 1, 2], 400))
    >>> m = CompetingXGBBinaryRisk(horizon=365.0, n_estimators=20, nthread=1).fit(X, y)
    >>> bool(((m.predict_risk(X) > 0) & (m.predict_risk(X) < 1)).all())
    True
    """

    ESTIMAND = ("cumulative incidence of MACE by the training horizon (gradient-boosted classifier of MACE "
                "by the horizon, competing events before it as controls, competing-risk IPCW weights)")

    @property
    def estimand_(self) -> str:
        """What :meth:`predict_risk` estimates (for fit reports)."""
        return self.ESTIMAND

    def fit(self, X, y, sample_weight=None):
        """Fit the booster on "MACE by the horizon" with :func:`competing_ipcw_weights`.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : structured array
            From :func:`~radiorisk.models.make_y`, with ``event_type``.
        sample_weight : array-like of shape (n,), optional

        Returns
        -------
        self
        """
        self._check_params()
        Xa = self._check_X(X, reset=True)
        t, status = check_y_cr(y, Xa.shape[0])
        if status is None:
            raise ModelError("CompetingXGBBinaryRisk needs the event type: build y with "
                             "make_y(time, event, event_type=...) (0 censored, 1 MACE, 2 competing event)")
        w = check_sample_weight(sample_weight, Xa.shape[0])
        self._train(Xa, t, status.astype(np.float64), w)  # the "event" of the booster's rows is the status
        self.ipcw_label_, self.ipcw_weight_ = competing_ipcw_weights(t, status, horizon=self.horizon)
        return self

    def _training_matrix(self, Xa, t, e, w, ref=None):
        import xgboost as xgb

        label, ipcw = competing_ipcw_weights(t, e, horizon=self.horizon)
        weight = ipcw * w
        use = weight > 0
        if not (weight[label == 1] > 0).any():
            raise ModelError(f"no MACE by the horizon {float(self.horizon):g} d in the training rows: "
                             "xgb-binary cannot be fitted")
        if not (weight[label == 0] > 0).any():
            raise ModelError(f"no control (followed beyond the horizon {float(self.horizon):g} d or with a "
                             "competing event by it) in the training rows: xgb-binary cannot be fitted")
        return xgb.QuantileDMatrix(Xa[use], label=label[use], weight=weight[use],
                                   max_bin=int(self.max_bin), nthread=self.nthread, ref=ref)
