"""The SHAP engines of :func:`radiorisk.explain.shap_values` and what they need from a model.

- :func:`tree_shap`: exact path-dependent TreeSHAP from xgboost's own
  ``Booster.predict(..., pred_contribs=True)``;
- :func:`linear_shap`: exact linear SHAP of ``coxph`` (and of the Cox model of
  MACE of ``coxph-cr``) against the training means or the mean of a background;
- :func:`agnostic_shap`: shap's Permutation or Kernel explainer on a background sample;
- :func:`margin_fn`, :func:`risk_link`: the model's margin and its link to risk;
- :func:`column_sources`, :func:`sum_columns`: model (transformed) columns back to features.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xgboost as xgb

from ..models._preprocess import ModalityPreprocessor
from ._common import final_estimator, import_shap
from ._shap_result import RiskLink

__all__ = ["risk_link", "column_sources", "sum_columns", "margin_fn", "tree_shap", "linear_shap",
           "agnostic_shap"]


def risk_link(model, kind: str, Z: pd.DataFrame | None = None) -> RiskLink:
    """The :class:`RiskLink` of a fitted model of ``kind`` (margin -> risk by a horizon).

    ``Z`` (the explained patients in the model's columns) is needed by the competing-risk
    kinds ``coxph-cr``, ``xgb-cox-cr`` and ``xgb-aft-cr``: the link holds each patient's
    competing-event relative hazard (or log-time margin).
    """
    final = final_estimator(model)
    h = float(getattr(final, "horizon", np.nan)) if hasattr(final, "horizon") else None
    if kind in ("coxph-cr", "xgb-cox-cr", "xgb-aft-cr"):
        return _cause_specific_link(final, kind, Z, h)
    if kind in ("xgb-binary", "xgb-binary-cr"):
        return RiskLink("logistic", horizon=h)
    if kind == "xgb-cox":
        return RiskLink("cox", horizon=h, baseline_times=final.baseline_times_,
                        baseline_cumhaz=final.baseline_cumhaz_, offset=float(final.margin_offset_))
    if kind == "coxph":
        return RiskLink("cox", horizon=h, baseline_times=final.baseline_times_,
                        baseline_cumhaz=final.baseline_cumhaz_, offset=0.0)
    if kind == "xgb-aft":
        return RiskLink("aft", horizon=h, distribution=str(final.distribution), sigma=float(final.sigma))
    return RiskLink("identity", horizon=h)


def _cause_specific_link(final, kind: str, Z, h) -> RiskLink:
    """The cumulative-incidence link of a cause-specific model, with the patients' competing-event models."""
    comp = final.competing_
    if kind == "xgb-aft-cr":
        other = None if comp is None else comp.predict_margin(Z)
        return RiskLink("cause-specific-aft", horizon=h, distribution=str(final.distribution),
                        sigma=float(final.sigma), competing=other)
    if kind == "coxph-cr":
        offset, other = 0.0, None if comp is None else np.exp(comp.predict_log_hazard(Z))
    else:
        offset = float(final.margin_offset_)
        other = None if comp is None else np.exp(comp.predict_margin(Z) - float(comp.margin_offset_))
    return RiskLink("cause-specific-cox", horizon=h, offset=offset, competing=other,
                    cause_times=tuple(final.cause_times_), cause_increments=tuple(final.cause_increments_))


# ------------------------------------------------------------------------------- mapping
def column_sources(model, zcols: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Model column -> feature it is summed into, and feature -> input column giving its block.

    Scaled or imputed numeric columns map one-to-one to their input column;
    the dummies of a categorical to the categorical; a missingness indicator
    (``<col>_missing``) stays a feature of its own, in the block of ``<col>``.
    """

    feat = {c: c for c in zcols}
    src = {c: c for c in zcols}
    steps = model.steps[:-1] if hasattr(model, "steps") else []
    for _, step in steps:
        if not isinstance(step, ModalityPreprocessor):
            continue
        for c, levels in step.levels_.items():
            for lev in levels:
                name = f"{c}_{lev}"
                if name in feat:
                    feat[name] = c
                    src[c] = c
        for name, members in step.indicator_groups_:
            if name in feat:
                src[name] = members[0]
    return feat, src


def sum_columns(values: np.ndarray, zcols: list[str], feat: dict[str, str]):
    """Values of the model columns summed into their features, and the feature names in order."""
    names = list(dict.fromkeys(feat[c] for c in zcols))
    pos = {k: [] for k in names}
    for i, c in enumerate(zcols):
        pos[feat[c]].append(i)
    if all(len(v) == 1 for v in pos.values()):
        return values[:, [pos[k][0] for k in names]], names
    out = np.empty((values.shape[0], len(names)))
    for j, k in enumerate(names):
        idx = pos[k]
        out[:, j] = values[:, idx[0]] if len(idx) == 1 else values[:, idx].sum(axis=1)
    return out, names


# ------------------------------------------------------------------------------- engines
def margin_fn(model, kind: str, zcols: list[str]):
    """``f(A) -> margin`` on the model columns (``predict_risk`` for a model without a margin)."""
    final = final_estimator(model)
    if kind in ("coxph", "coxph-cr"):  # coxph-cr: the linear predictor of the model of MACE
        return lambda A: final.predict_log_hazard(pd.DataFrame(np.asarray(A, np.float64), columns=zcols))
    if kind.startswith("xgb"):
        return lambda A: final.predict_margin(pd.DataFrame(np.asarray(A, np.float64), columns=zcols))
    horizon = getattr(final, "horizon", None)
    return lambda A: np.asarray(model.predict_risk(pd.DataFrame(np.asarray(A), columns=zcols), horizon),
                                dtype=np.float64)


def tree_shap(model, Z: pd.DataFrame) -> tuple[np.ndarray, float]:
    """xgboost's exact TreeSHAP contributions and the bias term (the base value)."""
    final = final_estimator(model)
    Za = np.ascontiguousarray(Z.to_numpy(dtype=np.float32))
    nthread = -1 if final.nthread is None else int(final.nthread)
    dm = xgb.DMatrix(Za, missing=np.nan, nthread=nthread)
    contrib = final.booster_.predict(dm, pred_contribs=True, validate_features=False)
    return contrib[:, :-1].astype(np.float64), float(contrib[0, -1]) if len(contrib) else 0.0


def linear_shap(model, Z: pd.DataFrame, background) -> tuple[np.ndarray, float, str]:
    """Exact linear SHAP of a Cox model against the training means or the background mean."""
    final = final_estimator(model)
    if getattr(final, "n_imputations", None):  # multiply imputed: the mean of each fit's exact terms
        vals = final.predict_contributions(Z)
        if background is None:
            return vals, 0.0, ("the training-cohort mean of every model column in each imputation's fit "
                               "(averaged over the imputations), so the base value 0 is the log relative "
                               "hazard of the mean patient")
        ref = final.predict_contributions(background).mean(axis=0)
        return vals - ref, float(ref.sum()), (f"the mean of the given background ({len(background)} patients), "
                                               "features independent, averaged over the imputations")
    beta = np.asarray(final.coef_, dtype=np.float64)
    Za = Z.to_numpy(dtype=np.float64)
    if background is None:
        ref = np.asarray(final.means_, dtype=np.float64)
        what = ("the training-cohort mean of every model column (the Cox model's centring), so the "
                "base value 0 is the log relative hazard of the mean patient")
    else:
        ref = background.to_numpy(dtype=np.float64).mean(axis=0)
        what = f"the mean of the given background ({len(background)} patients), features independent"
    vals = (Za - ref) * beta
    base = float((ref - np.asarray(final.means_, dtype=np.float64)) @ beta)
    return vals, base, what


def agnostic_shap(fn, Z: pd.DataFrame, background: pd.DataFrame, *, method: str, max_evals, rng):
    """shap's Permutation or Kernel explainer of ``fn`` on the ``background`` sample."""
    shap = import_shap()

    bg = background.to_numpy(dtype=np.float64)
    Za = Z.to_numpy(dtype=np.float64)
    seed = int(rng.integers(2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's progress/deprecation chatter on some platforms
        if method == "permutation":
            masker = shap.maskers.Independent(bg, max_samples=len(bg))
            expl = shap.explainers.PermutationExplainer(fn, masker, seed=seed)
            evals = max_evals if max_evals is not None else 2 * Za.shape[1] + 1
            ex = expl(Za, max_evals=max(int(evals), 2 * Za.shape[1] + 1), silent=True)
            vals = np.asarray(ex.values, dtype=np.float64)
            base = float(np.mean(ex.base_values))
        else:
            expl = shap.KernelExplainer(fn, bg, seed=seed)
            kw = {"nsamples": int(max_evals)} if max_evals is not None else {}
            vals = np.asarray(expl.shap_values(Za, silent=True, **kw), dtype=np.float64)
            base = float(np.ravel(expl.expected_value)[0])
    return vals, base
