"""The proxy check: can a protected attribute be read off a model's SHAP values?"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._common import ExplainError, check_fraction, check_int, html_table
from ._groups import group_labels
from ._shap_result import ShapResult

__all__ = ["ProxyCheck", "proxy_check"]


@dataclass(frozen=True, eq=False)
class ProxyCheck:
    """How well a model's SHAP values predict a protected attribute.

    Attributes
    ----------
    attribute : str
    auc : float
        Cross-validated AUC (one-vs-rest macro average for more than two groups)
        of an L2 logistic regression of the attribute on the SHAP matrix
        (features in ``excluded`` left out).  0.5 = the model's explanations carry
        no information about the attribute.
    features : DataFrame
        ``feature, block, mean_abs, auc, gap, proxy`` per feature: ``auc`` is
        the univariable AUC of the feature's SHAP value for the attribute (max
        over groups one-vs-rest, folded so that 0.5 is none and 1 perfect);
        ``gap`` the largest difference, on the model's scale, between a group's
        mean SHAP value and the other patients' (how much the model moves that
        group's predictions through the feature; AUC alone ignores magnitude);
        ``proxy`` is ``auc >= threshold``.  Sorted by ``proxy`` then ``gap``.
    threshold : float
    flagged : bool
        ``auc >= threshold``: the explanations predict the attribute.
    excluded : tuple of str
    groups : tuple of str
    cv : int
    """

    attribute: str
    auc: float
    features: pd.DataFrame = field(repr=False)
    threshold: float
    flagged: bool
    excluded: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    cv: int = 5

    def to_frame(self) -> pd.DataFrame:
        """:attr:`features` (proxies first, by decreasing ``gap``)."""
        return self.features

    def _repr_html_(self) -> str:
        return html_table(f"Proxy check: {self.attribute}", [
            f"cross-validated AUC of the attribute from the SHAP values: {self.auc:.3f} "
            f"({'flagged' if self.flagged else 'not flagged'}; threshold {self.threshold:g})",
            f"excluded features: {list(self.excluded)}"], self.features)


def proxy_check(result: ShapResult, groups, *, attribute: str, exclude=(), threshold: float = 0.7,
                cv: int = 5, random_state: int = 0) -> ProxyCheck:
    """Can the protected attribute be read off the model's SHAP values (a proxy check)?

    The SHAP values are the model's inputs weighted by how the model uses them.
    If a classifier predicts ethnicity from them, the model leans on features
    that carry ethnicity - even when ethnicity itself is not an input.

    Parameters
    ----------
    result : ShapResult
    groups : DataFrame, Series or mapping
        As in :func:`shap_by_subgroup`; must contain ``attribute``.
    attribute : str
        E.g. ``"ethnicity"`` or ``"sex"``.
    exclude : sequence of str
        Features left out of the multivariable check (the attribute itself
        when it is an input, e.g. ``("sex_male",)`` for sex).
    threshold : float, default 0.7
        AUC from which the check (and a feature) is flagged.  A screening rule,
        not a test: report the AUCs.
    cv : int, default 5
        Stratified folds.
    random_state : int, default 0

    Returns
    -------
    ProxyCheck

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> rng = np.random.default_rng(0)
    >>> eth = rng.choice(["A", "B"], 500)
    >>> proxy = (eth == "B") + rng.normal(0, 0.5, 500)
    >>> v = np.column_stack([0.4 * proxy, rng.normal(0, 0.2, 500)])
    >>> res = ShapResult(values=v, base_value=0.0, data=pd.DataFrame({"zip_density": proxy, "age": v[:, 1]}),
    ...                  feature_names=("zip_density", "age"), blocks=("other", "clinical"),
    ...                  scale="log-hazard", model_kind="other", method="given", background="-")
    >>> chk = proxy_check(res, {"ethnicity": eth}, attribute="ethnicity")
    >>> chk.flagged, chk.features["feature"].iloc[0]
    (True, 'zip_density')
    """
    cv = check_int("cv", cv, 2)
    threshold = check_fraction("threshold", threshold, low=0.5)
    ok, y, levels = _attribute_labels(groups, result.index, attribute, cv)
    use = _used_features(list(result.feature_names), exclude)
    V = np.asarray(result.values, dtype=np.float64)[ok]
    auc = _cross_validated_auc(V[:, use], y, levels, cv=cv, random_state=random_state)
    fr = _per_feature(result, V, y, levels, threshold)
    return ProxyCheck(attribute=attribute, auc=auc, features=fr, threshold=threshold,
                      flagged=bool(auc >= threshold), excluded=tuple(exclude),
                      groups=tuple(levels.tolist()), cv=cv)


def _attribute_labels(groups, index: pd.Index, attribute: str, cv: int):
    """Patients with a label (mask), their labels and the groups; each group needs ``cv`` patients."""
    table = group_labels(groups, index)
    if attribute not in table:
        raise ExplainError(f"proxy_check: attribute {attribute!r} is not in groups ({list(table)})")
    lab = table[attribute]
    ok = np.array([x is not None for x in lab])
    y = lab[ok].astype(str)
    levels, counts = np.unique(y, return_counts=True)
    if len(levels) < 2 or counts.min() < cv:
        raise ExplainError(f"proxy_check: {attribute!r} needs at least two groups with >= {cv} patients "
                           f"each; got {dict(zip(levels.tolist(), counts.tolist(), strict=True))}")
    return ok, y, levels


def _used_features(feats: list[str], exclude) -> list[int]:
    """Positions of the features the multivariable check uses (all but ``exclude``)."""
    unknown = sorted(set(exclude) - set(feats))
    if unknown:
        raise ExplainError(f"proxy_check: exclude names unknown features {unknown}")
    return [j for j, f in enumerate(feats) if f not in set(exclude)]


def _cross_validated_auc(V: np.ndarray, y: np.ndarray, levels: np.ndarray, *, cv: int,
                         random_state) -> float:
    """AUC of an L2 logistic regression of the attribute on ``V`` (stratified folds; macro OvR)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=int(random_state))
    P = cross_val_predict(clf, V, y, cv=folds, method="predict_proba")
    if len(levels) == 2:
        return float(roc_auc_score(y == levels[1], P[:, 1]))
    return float(roc_auc_score(y, P, multi_class="ovr", average="macro", labels=levels))


def _per_feature(result: ShapResult, V: np.ndarray, y: np.ndarray, levels: np.ndarray,
                 threshold: float) -> pd.DataFrame:
    """Univariable folded AUC and largest mean gap of each feature (proxies first, by gap)."""
    uni, gap = [], []
    for j in range(V.shape[1]):
        best, big = 0.5, 0.0
        for g in levels if len(levels) > 2 else levels[1:]:
            a = float(roc_auc_score(y == g, V[:, j])) if np.ptp(V[:, j]) > 0 else 0.5
            best = max(best, a, 1.0 - a)
            big = max(big, abs(float(V[y == g, j].mean() - V[y != g, j].mean())))
        uni.append(best)
        gap.append(big)
    fr = pd.DataFrame({"feature": list(result.feature_names), "block": list(result.blocks),
                       "mean_abs": np.abs(V).mean(axis=0), "auc": uni, "gap": gap})
    fr["proxy"] = fr["auc"] >= threshold
    return fr.sort_values(["proxy", "gap"], ascending=False, kind="stable").reset_index(drop=True)
