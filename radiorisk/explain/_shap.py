"""SHAP values of every radiorisk model kind, mapped back to the input columns.

- ``xgb-binary``, ``xgb-cox``, ``xgb-aft``: exact TreeSHAP from xgboost's own
  ``Booster.predict(..., pred_contribs=True)`` (the path-dependent algorithm of
  ``shap.TreeExplainer``, computed in xgboost's C++ code);
- ``coxph``: exact linear SHAP, :math:`\\phi_j = \\beta_j (x_j - \\bar x_j)`,
  against the training means (or the mean of a given background);
- the competing-risk versions (``make_model(..., competing_risks=True)``): the same
  engines on the model of MACE (competing events censored) -- linear SHAP of the
  cause-specific Cox linear predictor (``coxph-cr``), TreeSHAP of the cause-specific
  boosters' margins (``xgb-cox-cr``, ``xgb-aft-cr``) and of ``xgb-binary-cr``'s log-odds;
  the risk view is the cumulative incidence with each patient's competing-event model fixed;
- any model: shap's Permutation or Kernel explainer on a stated background sample.

Values are on the model's margin scale (log-odds, log-hazard or log-time) where
they add up exactly: ``base_value + values.sum(axis=1)`` is the model margin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import (
    CR_SCALE_NOTES,
    OTHER_BLOCK,
    SCALES,
    ExplainError,
    check_blocks,
    check_int,
    check_random_state,
    final_estimator,
    model_kind,
    transform_head,
)
from ._shap_engines import (
    agnostic_shap,
    column_sources,
    linear_shap,
    margin_fn,
    risk_link,
    sum_columns,
    tree_shap,
)
from ._shap_result import ModalityShap, RiskLink, ShapResult

__all__ = ["ShapResult", "RiskLink", "ModalityShap", "shap_values", "METHODS", "ADDITIVITY_ATOL"]

#: Methods accepted by :func:`shap_values` (``"auto"`` picks ``tree`` or ``linear``).
METHODS = ("auto", "tree", "linear", "permutation", "kernel")

#: Largest allowed gap between ``base + sum(values)`` and the model margin (float32 trees).
ADDITIVITY_ATOL = 1e-4

_MSG_ADDITIVITY = ("shap_values: additivity fails for patient {pid!r}: base {base:.6g} + sum of values "
                   "{s:.6g} != model margin {m:.6g} (gap {gap:.3g} > {tol:g})")
_MSG_METHOD = "shap_values: method={method!r} does not apply to {kind!r}; use one of {ok}"
_NOTE_TREE = ("path-dependent TreeSHAP: the training patients as they flow through the trees "
              "(node cover), no separate background sample")
_NOTE_AFT = "log-time scale: a positive value lengthens the expected time to MACE (lowers risk)"


# ------------------------------------------------------------------------------ function
def shap_values(model, X, *, blocks=None, method: str = "auto", background=None,
                n_background: int = 100, max_evals=None, aggregate: bool = True,
                check_additivity: bool = True, random_state: int = 0) -> ShapResult:
    """SHAP values of a fitted risk model, on its margin scale, mapped back to the input columns.

    Parameters
    ----------
    model : RiskPipeline or estimator
        A fitted :func:`radiorisk.models.make_model` pipeline, a final
        estimator (``XGBBinaryRisk``, ``XGBCoxRisk``, ``XGBAFTRisk``,
        ``CoxPHRisk``), or any object with ``predict_risk(X, horizon)`` (then
        only ``permutation`` / ``kernel`` apply, on the risk scale).
    X : DataFrame
        The patients to explain (the columns seen in ``fit``).
    blocks : Mapping[str, list of str] or CohortData, optional
        Modality block -> input columns (``CohortData.blocks``); features not
        named get the block ``"other"``.
    method : {"auto", "tree", "linear", "permutation", "kernel"}
        ``auto``: ``tree`` for xgboost models, ``linear`` for ``coxph``,
        ``permutation`` otherwise.
    background : DataFrame, optional
        Background patients (input columns).  ``linear``: SHAP against their
        mean (default: the training means).  ``permutation``/``kernel``: a
        random sample of ``n_background`` of them (default: of ``X``) is the
        masker's background.  Not used by ``tree`` (path-dependent TreeSHAP,
        whose background is the training data through the trees' cover).
    n_background : int, default 100
        Size of the background sample of ``permutation``/``kernel``.
    max_evals : int, optional
        Model evaluations per patient (``permutation``; default ``2p + 1``,
        one forward-and-back permutation) or samples (``kernel``).
    aggregate : bool, default True
        Sum one-hot dummies into their categorical.  False keeps the model's
        (transformed) columns.
    check_additivity : bool, default True
        Raise :class:`ExplainError` unless ``base_value + values.sum(axis=1)``
        equals the model margin within :data:`ADDITIVITY_ATOL`.
    random_state : int, default 0
        Seed of the background sample and of the permutations.

    Returns
    -------
    ShapResult

    Raises
    ------
    ExplainError
        An unfitted model, a method that does not apply, or failed additivity.

    Notes
    -----
    The values are computed on the columns the final estimator sees (after
    preprocessing and selection).  Scaling and imputation are one-to-one, so
    such a column keeps its input name; dummies are summed into their
    categorical (``aggregate``); a missingness indicator ``<col>_missing``
    (``coxph``) stays a feature of its own, in the block of ``<col>``.  Input
    columns dropped by a selection step have no SHAP value.

    xgboost's native contributions and ``shap.TreeExplainer`` implement the same
    exact path-dependent TreeSHAP; they agree within 1e-5 (tested).

    Examples
    --------
    >>> import numpy as np
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> from radiorisk.models import make_model
    >>> data = assemble_cohort(simulate_cohort(300, seed=1))
    >>> model = make_model("xgb-cox", n_estimators=20, nthread=1).fit(data.X, data.y)
    >>> res = shap_values(model, data.X, blocks=data.blocks)
    >>> res.scale, res.method
    ('log-hazard', 'tree')
    >>> bool(np.allclose(res.margin, model[-1].predict_margin(data.X), atol=1e-4))
    True
    >>> res.by_block().to_frame()["block"].tolist()[:2]
    ['ccta', 'clinical']
    """
    kind, X = _checked_inputs(model, X, method)
    n_background = check_int("n_background", n_background, 1)
    rng = check_random_state(random_state)
    method = _resolved_method(method, kind)
    Z, bgZ = _model_columns(model, kind, X, background)
    zcols = list(Z.columns)
    fn = margin_fn(model, kind, zcols)
    vals, base, what = _explain(model, method, Z, bgZ, fn, n_background=n_background,
                                max_evals=max_evals, rng=rng, random_state=random_state)
    notes = []
    if check_additivity:
        notes.append(_check_additivity(fn, Z, vals, base, method, X.index))
    feat, src = _feature_map(model, kind, zcols, aggregate)
    fvals, names = sum_columns(vals, zcols, feat)
    colblock = check_blocks(blocks)
    fblocks = tuple(colblock.get(src.get(k, k), colblock.get(k, OTHER_BLOCK)) for k in names)
    data = pd.DataFrame({k: (X[k] if k in X.columns else Z[k]).to_numpy() for k in names},
                        index=X.index)
    if kind in ("xgb-aft", "xgb-aft-cr"):
        notes.append(_NOTE_AFT)
    if kind in CR_SCALE_NOTES:
        notes.insert(0, CR_SCALE_NOTES[kind])
    return ShapResult(values=fvals, base_value=float(base), data=data, feature_names=tuple(names),
                      blocks=fblocks, scale=SCALES[kind], model_kind=kind, method=method,
                      background=what, columns=dict(feat), link=risk_link(model, kind, Z), notes=tuple(notes))


# ------------------------------------------------------------------------------ steps
def _checked_inputs(model, X, method: str) -> tuple[str, pd.DataFrame]:
    """The model kind (a fitted model is required) and ``X`` as a DataFrame with str columns."""
    if method not in METHODS:
        raise ExplainError(f"shap_values: method must be one of {list(METHODS)}; got {method!r}")
    kind = model_kind(model)
    final = final_estimator(model)
    fitted_attr = {"coxph": "coef_", "coxph-cr": "coef_", "other": None}.get(kind, "booster_")
    if fitted_attr is not None and not hasattr(final, fitted_attr):
        raise ExplainError("shap_values: the model is not fitted (call fit first)")
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X))
    if not all(isinstance(c, str) for c in X.columns):
        X = X.rename(columns=str)
    if len(X) == 0:
        raise ExplainError("shap_values: X has no rows")
    return kind, X


def _resolved_method(method: str, kind: str) -> str:
    """``auto`` resolved (tree for xgboost, linear for coxph and coxph-cr, else permutation) and checked."""
    linear = kind in ("coxph", "coxph-cr")
    if method == "auto":
        method = "tree" if kind.startswith("xgb") else "linear" if linear else "permutation"
    ok = {"tree": kind.startswith("xgb"), "linear": linear}.get(method, True)
    if not ok:
        valid = (["tree"] if kind.startswith("xgb") else ["linear"] if linear else []) + \
            ["permutation", "kernel"]
        raise ExplainError(_MSG_METHOD.format(method=method, kind=kind, ok=valid))
    return method


def _model_columns(model, kind: str, X: pd.DataFrame, background):
    """``X`` and the background as the final estimator sees them (str columns)."""
    Z = transform_head(model, X) if kind != "other" else X
    if not all(isinstance(c, str) for c in Z.columns):
        Z = Z.rename(columns=str)
    bgZ = None
    if background is not None:
        bgZ = transform_head(model, background) if kind != "other" else background
    return Z, bgZ


def _explain(model, method: str, Z: pd.DataFrame, bgZ, fn, *, n_background: int, max_evals, rng,
             random_state) -> tuple[np.ndarray, float, str]:
    """Values, base value and what the base value is the expectation over, by ``method``."""
    if method == "tree":
        vals, base = tree_shap(model, Z)
        return vals, base, _NOTE_TREE
    if method == "linear":
        return linear_shap(model, Z, bgZ)
    pool = Z if bgZ is None else bgZ
    take = rng.choice(len(pool), size=min(n_background, len(pool)), replace=False)
    bg = pool.iloc[np.sort(take)]
    vals, base = agnostic_shap(fn, Z, bg, method=method, max_evals=max_evals, rng=rng)
    what = (f"a random sample of {len(bg)} patients of {'the background' if bgZ is not None else 'X'} "
            f"(random_state={random_state}), features masked independently")
    return vals, base, what


def _check_additivity(fn, Z: pd.DataFrame, vals: np.ndarray, base: float, method: str,
                      index: pd.Index) -> str:
    """Raise unless ``base + sum(values)`` is the model margin; the note stating the largest gap."""
    m = np.asarray(fn(Z.to_numpy()), dtype=np.float64)
    gap = np.abs(base + vals.sum(axis=1) - m)
    tol = ADDITIVITY_ATOL * (1.0 if method in ("tree", "linear") else 10.0)
    if method == "kernel":
        tol = max(tol, 1e-6 * float(np.max(np.abs(m))) + 1e-3)
    if np.any(gap > tol):
        i = int(np.argmax(gap))
        raise ExplainError(_MSG_ADDITIVITY.format(pid=index[i], base=base, s=vals[i].sum(), m=m[i],
                                                  gap=gap[i], tol=tol))
    return f"additivity checked: max |base + sum - margin| = {float(gap.max()):.2g}"


def _feature_map(model, kind: str, zcols: list[str], aggregate: bool):
    """Model column -> feature it is summed into, and feature -> input column giving its block."""
    if kind == "other":
        feat, src = {c: c for c in zcols}, {c: c for c in zcols}
    else:
        feat, src = column_sources(model, zcols)
    if not aggregate:
        feat = {c: c for c in zcols}
    return feat, src
