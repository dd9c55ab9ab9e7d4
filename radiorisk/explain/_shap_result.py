"""The result objects of :func:`radiorisk.explain.shap_values` and their views.

:class:`ShapResult` (values on the margin scale, per feature and patient, with
their blocks, base value and background), :class:`ModalityShap` (summed within
modality blocks) and :class:`RiskLink` (margin -> probability of MACE by a
horizon, for the patient-report view).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from ..models import aft_cause_specific_cif, cause_specific_cif
from ..models._base import step_at
from ..stats import check_horizon
from ._common import ExplainError, html_table, import_shap

__all__ = ["ShapResult", "RiskLink", "ModalityShap"]


@dataclass(frozen=True, eq=False)
class RiskLink:
    """Turns a model margin into the probability of MACE by a horizon.

    Attributes
    ----------
    kind : {"logistic", "cox", "aft", "identity", "cause-specific-cox", "cause-specific-aft"}
        The ``cause-specific`` kinds are the competing-risk models: the margin is that of
        the model of MACE, and the risk is the cumulative incidence of MACE with each
        patient's own competing-event model (:attr:`competing`) held fixed
        (:func:`~radiorisk.models.cause_specific_cif` with the product limit, as
        ``predict_risk``; :func:`~radiorisk.models.aft_cause_specific_cif`).
    horizon : float or None
        Default horizon (days); ``logistic`` models predict only at this one.
    baseline_times, baseline_cumhaz : ndarray or None
        Breslow baseline of Cox models (cumulative hazard at the margin ``offset``).
    offset : float
        Cox models: the margin at which the baseline applies.
    distribution : str or None
        AFT models: ``normal``, ``logistic`` or ``extreme``.
    sigma : float
        AFT scale.
    cause_times, cause_increments : tuple of ndarray or None
        ``cause-specific-cox``: per cause (MACE first) the baseline hazard increments.
    competing : ndarray or None
        ``cause-specific`` kinds: per explained patient, the competing event's relative
        hazard (Cox) or log-time margin (AFT); None without a competing-event model.  A
        margin array passed to :meth:`risk` must then have one row per patient.
    """

    kind: str
    horizon: float | None = None
    baseline_times: np.ndarray | None = field(default=None, repr=False)
    baseline_cumhaz: np.ndarray | None = field(default=None, repr=False)
    offset: float = 0.0
    distribution: str | None = None
    sigma: float = 1.0
    cause_times: tuple | None = field(default=None, repr=False)
    cause_increments: tuple | None = field(default=None, repr=False)
    competing: np.ndarray | None = field(default=None, repr=False)

    def subset(self, pos) -> RiskLink:
        """The link of the patients at positions ``pos`` (their competing-event models)."""
        if self.competing is None:
            return self
        return replace(self, competing=np.asarray(self.competing)[np.asarray(pos)])

    def risk(self, margin, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default :attr:`horizon`) from the margin.

        ``margin`` has any shape, except for a ``cause-specific`` link with a competing-event
        model: then its first axis is the patients of :attr:`competing`.
        """

        m = np.asarray(margin, dtype=np.float64)
        h = check_horizon(horizon, self.horizon)
        if self.kind.startswith("cause-specific"):
            return self._cause_specific_risk(m, h)
        if self.kind == "identity":
            if h != self.horizon:
                raise ExplainError(f"these SHAP values are on the risk scale at {self.horizon:g} d only")
            return m
        if self.kind == "logistic":
            if h != self.horizon:
                raise ExplainError(f"xgb-binary predicts only at its training horizon {self.horizon:g} d; "
                                   f"got {h:g}")
            return expit(m)
        if self.kind == "cox":
            H = float(step_at(self.baseline_times, self.baseline_cumhaz, h))
            return -np.expm1(-H * np.exp(m - self.offset))
        z = (np.log(h) - m) / self.sigma
        if self.distribution == "normal":
            return ndtr(z)
        if self.distribution == "logistic":
            return expit(z)
        return -np.expm1(-np.exp(z))

    def _cause_specific_risk(self, m: np.ndarray, h: float) -> np.ndarray:
        other = None
        if self.competing is not None:
            comp = np.asarray(self.competing, dtype=np.float64)
            if m.ndim == 0 or m.shape[0] != comp.shape[0]:
                raise ExplainError(f"the risk scale of a competing-risk model needs one margin row per explained "
                                   f"patient ({comp.shape[0]}, each with their own competing-event model); got "
                                   f"margins of shape {m.shape}")
            other = np.broadcast_to(comp.reshape((-1,) + (1,) * (m.ndim - 1)), m.shape).ravel()
        mf = m.ravel()
        if self.kind == "cause-specific-aft":
            out = aft_cause_specific_cif(mf, other, h, distribution=str(self.distribution), sigma=self.sigma)
        else:
            hazards = [(self.cause_times[0], self.cause_increments[0], np.exp(mf - self.offset))]
            if other is not None:
                hazards.append((self.cause_times[1], self.cause_increments[1], other))
            out = cause_specific_cif(hazards, h)
        return out.reshape(m.shape)


# --------------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class ShapResult:
    """SHAP values of one model on a set of patients, with their scale, blocks and base value.

    Attributes
    ----------
    values : ndarray of shape (n, p)
        SHAP value of each patient (row) and feature (column), on :attr:`scale`.
    base_value : float
        The expected margin under the background (:attr:`background`).
        ``base_value + values.sum(axis=1)`` equals the model margin
        (:attr:`margin`) for every patient.
    data : DataFrame of shape (n, p)
        The feature values, indexed by patient (the input's index).  A
        one-hot-encoded categorical shows its original level.
    feature_names : tuple of str
    blocks : tuple of str
        Modality block of each feature (``clinical``, ``ccta``, ``radiomics``,
        ``pet``; ``other`` when the ``blocks`` mapping does not name it).
    scale : str
        ``log-odds`` (xgb-binary), ``log-hazard`` (xgb-cox, coxph),
        ``log-time`` (xgb-aft; a positive value means a *longer* expected time,
        i.e. lower risk) or ``risk`` (the model-agnostic fallback on a model
        without a margin).  Competing-risk models (``model_kind`` ending in
        ``-cr``) are explained on the margin of their model of MACE:
        ``cause-specific log-hazard`` (coxph-cr, xgb-cox-cr), ``log-time``
        (xgb-aft-cr: the cause-specific log-time of MACE), ``log-odds``
        (xgb-binary-cr: of the cumulative incidence); a note says which, and
        :meth:`risk` is the cumulative incidence.
    model_kind : str
    method : str
        ``tree`` (xgboost TreeSHAP), ``linear``, ``permutation`` or ``kernel``.
    background : str
        What the base value is the expectation over.
    columns : Mapping[str, str]
        Model (transformed) column -> feature it was summed into.
    link : RiskLink
        Margin -> probability of MACE by a horizon (the patient-report view).
    notes : tuple of str
    """

    values: np.ndarray = field(repr=False)
    base_value: float
    data: pd.DataFrame = field(repr=False)
    feature_names: tuple[str, ...] = field(repr=False)
    blocks: tuple[str, ...] = field(repr=False)
    scale: str
    model_kind: str
    method: str
    background: str
    columns: Mapping[str, str] = field(default_factory=dict, repr=False)
    link: RiskLink | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    # -- views ------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of patients."""
        return int(self.values.shape[0])

    @property
    def index(self) -> pd.Index:
        """Patient identifiers (the index of the explained ``X``)."""
        return self.data.index

    @property
    def margin(self) -> np.ndarray:
        """``base_value + values.sum(axis=1)``: the model margin of each patient."""
        return self.base_value + self.values.sum(axis=1)

    def to_frame(self) -> pd.DataFrame:
        """SHAP values as a DataFrame: one row per patient, one column per feature."""
        return pd.DataFrame(self.values, index=self.data.index, columns=list(self.feature_names))

    def importance(self) -> pd.DataFrame:
        """Global importance: ``feature, block, mean_abs, mean, rank`` (mean \\|SHAP\\| descending)."""
        a = np.abs(self.values).mean(axis=0)
        df = pd.DataFrame({"feature": list(self.feature_names), "block": list(self.blocks),
                           "mean_abs": a, "mean": self.values.mean(axis=0)})
        df = df.sort_values("mean_abs", ascending=False, kind="stable").reset_index(drop=True)
        df["rank"] = np.arange(1, len(df) + 1)
        return df

    def subset(self, rows) -> ShapResult:
        """The same result for ``rows``: patient ids of the index, a boolean mask, or positions.

        Integers are taken as patient ids when the index holds all of them, else as positions.
        """
        pos = _positions(self.data.index, rows)
        link = None if self.link is None else self.link.subset(pos)
        return replace(self, values=self.values[pos], data=self.data.iloc[pos], link=link)

    def by_block(self) -> ModalityShap:
        """Contribution of each modality block (sum of its features' SHAP values) per patient."""
        names = list(dict.fromkeys(self.blocks))
        b = np.asarray(self.blocks)
        vals = np.column_stack([self.values[:, b == k].sum(axis=1) for k in names]) if names \
            else np.zeros((self.n, 0))
        return ModalityShap(values=pd.DataFrame(vals, index=self.data.index, columns=names),
                            base_value=self.base_value, scale=self.scale,
                            n_features={k: int((b == k).sum()) for k in names})

    def risk(self, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` from the margin (equals the model's ``predict_risk``)."""
        return self.link.risk(self.margin, horizon)

    def risk_contributions(self, rows=None, *, horizon=None, order="magnitude") -> pd.DataFrame:
        """The probability-at-horizon view of the SHAP values, one step per feature.

        Per-feature changes in *probability* are not additive: the link
        (logistic, :math:`1 - e^{-H_0 e^m}`, the AFT CDF) is non-linear, so the
        change a feature makes depends on what was added before it.  This view
        therefore fixes an order, starts from the base risk (the link of
        ``base_value``) and adds the features' log-scale values one at a time;
        each step's ``risk_change`` is the difference between the risk with
        and without that feature given the ones before it.  The changes add
        up to ``risk - base_risk`` exactly, but depend on the stated order.

        Parameters
        ----------
        rows : positions, boolean mask or patient ids, optional
            Patients to show (default: every patient).
        horizon : float, optional
            Days (default: the model's horizon).
        order : {"magnitude", "global"}
            ``magnitude``: per patient, by decreasing \\|SHAP\\|;
            ``global``: by decreasing mean \\|SHAP\\| over all patients.

        Returns
        -------
        DataFrame
            ``patient_id, step, feature, block, shap, margin, risk, risk_change``
            with step 0 the base (``feature = "base"``).
        """
        if order not in ("magnitude", "global"):
            raise ExplainError(f"order must be 'magnitude' or 'global'; got {order!r}")
        sub = self if rows is None else self.subset(rows)
        v = sub.values
        if order == "global":
            o = np.tile(np.argsort(-np.abs(self.values).mean(axis=0), kind="stable"), (sub.n, 1))
        else:
            o = np.argsort(-np.abs(v), axis=1, kind="stable")
        vs = np.take_along_axis(v, o, axis=1)
        m = self.base_value + np.concatenate([np.zeros((sub.n, 1)), np.cumsum(vs, axis=1)], axis=1)
        r = sub.link.risk(m, horizon)  # (patients, steps): a competing-risk link needs the patient rows
        p = v.shape[1]
        names = np.asarray(["base"] + list(self.feature_names), dtype=object)
        blocks = np.asarray([""] + list(self.blocks), dtype=object)
        oo = np.concatenate([np.full((sub.n, 1), -1), o], axis=1) + 1
        pid = np.repeat(np.asarray(sub.data.index, dtype=object), p + 1)
        dr = np.diff(r, axis=1, prepend=np.nan)
        dr[:, 0] = 0.0
        return pd.DataFrame({
            "patient_id": pid, "step": np.tile(np.arange(p + 1), sub.n),
            "feature": names[oo].ravel(), "block": blocks[oo].ravel(),
            "shap": np.concatenate([np.zeros((sub.n, 1)), vs], axis=1).ravel(),
            "margin": m.ravel(), "risk": r.ravel(), "risk_change": dr.ravel(),
        })

    def to_explanation(self):
        """A :class:`shap.Explanation` of the same values, for shap's own plots."""
        shap = import_shap()

        data = self.data.apply(_numeric_for_plot).to_numpy(dtype=np.float64)
        return shap.Explanation(values=self.values, base_values=np.full(self.n, self.base_value),
                                data=data, feature_names=list(self.feature_names))

    def _statements(self) -> list[str]:
        return [f"{self.n} patients x {len(self.feature_names)} features; model {self.model_kind}; "
                f"method {self.method}",
                f"scale: {self.scale}; base value {self.base_value:.4g}",
                f"background: {self.background}", *self.notes]

    def __repr__(self) -> str:
        return (f"ShapResult(n={self.n}, features={len(self.feature_names)}, model={self.model_kind!r}, "
                f"method={self.method!r}, scale={self.scale!r}, base_value={self.base_value:.4g})")

    def _repr_html_(self) -> str:
        return html_table("SHAP values", self._statements(), self.importance())


@dataclass(frozen=True, eq=False)
class ModalityShap:
    """SHAP values summed within modality blocks (clinical, ccta, radiomics, pet).

    Attributes
    ----------
    values : DataFrame of shape (n, k)
        Per patient (rows) the contribution of each block (columns) on the margin scale;
        ``base_value + values.sum(axis=1)`` is the model margin.
    base_value : float
    scale : str
    n_features : Mapping[str, int]
        Number of features in each block.
    """

    values: pd.DataFrame = field(repr=False)
    base_value: float
    scale: str
    n_features: Mapping[str, int] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Global view: ``block, n_features, mean_abs, mean, share`` (share of the summed mean \\|SHAP\\|)."""
        a = self.values.abs().mean(axis=0)
        tot = float(a.sum())
        return pd.DataFrame({
            "block": list(self.values.columns),
            "n_features": [self.n_features.get(k, 0) for k in self.values.columns],
            "mean_abs": a.to_numpy(), "mean": self.values.mean(axis=0).to_numpy(),
            "share": a.to_numpy() / tot if tot > 0 else np.nan,
        }).sort_values("mean_abs", ascending=False, kind="stable").reset_index(drop=True)

    def _repr_html_(self) -> str:
        return html_table("SHAP by modality block", [f"scale: {self.scale}",
                          f"base value {self.base_value:.4g}"], self.to_frame())


def _positions(index: pd.Index, rows) -> np.ndarray:
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if arr.shape != (len(index),):
            raise ExplainError(f"a boolean row mask needs {len(index)} values; got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if np.issubdtype(arr.dtype, np.integer) and not index.isin(arr).all():
        if (arr < -len(index)).any() or (arr >= len(index)).any():
            raise ExplainError(f"row positions must be in [0, {len(index)}); got {arr.tolist()[:5]}")
        return arr
    pos = index.get_indexer(arr)
    if (pos < 0).any():
        raise ExplainError(f"unknown patient id(s): {arr[pos < 0].tolist()[:5]}")
    return pos


def _numeric_for_plot(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("Float64").astype(np.float64)
    return pd.Series(pd.Categorical(s.astype(object)).codes.astype(np.float64), index=s.index).where(s.notna())
