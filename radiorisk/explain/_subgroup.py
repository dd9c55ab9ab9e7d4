"""SHAP across subgroups: importance and effect per group with bootstrap CIs, permutation tests,
and a proxy check (how well the SHAP values predict a protected attribute)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._common import ExplainError, check_fraction, check_int, check_random_state, html_table
from ._shap import ShapResult, shap_values


def _numeric_or_nan(s: pd.Series) -> pd.Series:
    """A numeric or boolean column as float; a categorical has no slope (all NaN)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("Float64").astype(np.float64)
    return pd.Series(np.nan, index=s.index)

__all__ = ["SubgroupShap", "ProxyCheck", "EffectModificationTest", "shap_by_subgroup", "proxy_check",
           "effect_modification_test", "EFFECT_TEST_COLUMNS", "SUBGROUP_COLUMNS",
           "SUBGROUP_TEST_COLUMNS", "ADJUSTMENTS"]

#: Columns of :attr:`SubgroupShap.by_group`.
SUBGROUP_COLUMNS = ("attribute", "group", "feature", "block", "n", "mean_abs", "mean_abs_ci_low",
                    "mean_abs_ci_high", "effect", "effect_ci_low", "effect_ci_high")
#: Columns of :attr:`SubgroupShap.tests`.
SUBGROUP_TEST_COLUMNS = ("attribute", "feature", "block", "statistic", "observed", "p_value", "p_adjusted",
                         "flagged", "note")

_MSG_GROUPS_LEN = "groups: {name!r} has {k} values; the SHAP result has {n} patients"
_MSG_ONE_GROUP = ("groups: attribute {name!r} has fewer than two groups with at least {m} patients "
                  "(sizes {sizes}); nothing to compare")


def _group_table(groups, index: pd.Index) -> dict[str, np.ndarray]:
    """``{attribute: labels (object array, None = missing)}`` aligned with ``index``."""
    if isinstance(groups, pd.Series):
        groups = groups.to_frame(groups.name or "group")
    if isinstance(groups, pd.DataFrame):
        if groups.index.equals(index):
            g = groups
        elif index.isin(groups.index).all() and groups.index.is_unique:
            g = groups.reindex(index)
        elif len(groups) == len(index):
            g = groups
        else:
            raise ExplainError(f"groups: its index does not cover the {len(index)} patients of the result")
        items = {str(c): g[c].to_numpy(dtype=object) for c in g.columns}
    elif isinstance(groups, Mapping):
        items = {str(k): np.asarray(v, dtype=object) for k, v in groups.items()}
    else:
        raise ExplainError("groups must be a DataFrame (e.g. CohortData.groups), a Series or a mapping "
                           f"attribute -> labels; got {type(groups).__name__}")
    out = {}
    for k, v in items.items():
        if v.shape != (len(index),):
            raise ExplainError(_MSG_GROUPS_LEN.format(name=k, k=v.size, n=len(index)))
        out[k] = np.array([None if pd.isna(x) else str(x) for x in v], dtype=object)
    return out


#: Multiple-testing adjustments of :func:`shap_by_subgroup`.
ADJUSTMENTS = ("fdr_bh", "holm")


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values (NaN kept)."""
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    o = ok[np.argsort(p[ok], kind="stable")]
    m = o.size
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[o]))
    else:
        adj = np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    out[o] = adj
    return out


def _slopes(S1, Sx, Sy, Sxx, Sxy):
    """Least-squares slopes from sums (each (k, p)); NaN where x is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = Sxx - Sx * Sx / S1
        b = (Sxy - Sx * Sy / S1) / vx
    rel = np.abs(vx) <= 1e-12 * np.maximum(1.0, np.abs(Sxx))
    return np.where(rel | (S1 < 2), np.nan, b)


@dataclass(frozen=True, eq=False)
class SubgroupShap:
    """SHAP importance and effect per subgroup, and tests of their differences between groups.

    Attributes
    ----------
    by_group : DataFrame
        One row per attribute, group and feature (:data:`SUBGROUP_COLUMNS`):
        ``mean_abs`` is the mean \\|SHAP\\| in the group and ``effect`` the
        least-squares slope of the feature's SHAP value on its value (for a
        0/1 feature: the mean SHAP of the 1s minus that of the 0s), each with
        a percentile bootstrap CI (patients resampled within the group).
    tests : DataFrame
        One row per attribute, feature and statistic (``importance`` or
        ``effect``; :data:`SUBGROUP_TEST_COLUMNS`): the range of the
        statistic across groups (max - min; the absolute difference for two
        groups), its permutation p-value (group labels shuffled), the
        p-value adjusted (``adjust``) over the features within attribute and
        statistic, and ``flagged`` (``p_adjusted < alpha``).
    n_boot, n_perm : int
    level, alpha : float
    adjust : str
    scale : str
    random_state : int
    notes : tuple of str
    """

    by_group: pd.DataFrame = field(repr=False)
    tests: pd.DataFrame = field(repr=False)
    n_boot: int
    n_perm: int
    level: float
    alpha: float
    adjust: str
    scale: str
    random_state: int
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :attr:`tests` whose difference between groups is beyond chance."""
        return self.tests[self.tests["flagged"]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """:attr:`by_group` (the long per-group table)."""
        return self.by_group

    def _repr_html_(self) -> str:
        return html_table("SHAP by subgroup", [
            f"{self.n_boot} bootstrap replicates ({self.level:.0%} percentile CIs); "
            f"{self.n_perm} label permutations; {self.adjust} within attribute, alpha = {self.alpha:g}",
            f"scale: {self.scale}", *self.notes], self.flagged)


def shap_by_subgroup(result: ShapResult, groups, *, n_boot: int = 200, n_perm: int = 999,
                     level: float = 0.95, alpha: float = 0.05, adjust: str = "fdr_bh",
                     min_group_size: int = 20, random_state: int = 0) -> SubgroupShap:
    """Mean \\|SHAP\\| and SHAP effect of every feature per group, and which differ between groups.

    Parameters
    ----------
    result : ShapResult
        From :func:`shap_values`.
    groups : DataFrame, Series or mapping
        Protected attributes (e.g. ``CohortData.groups[["sex", "ethnicity"]]``),
        aligned with the result's patients (by index, else by position).
        Missing labels leave the patient out of that attribute.
    n_boot : int, default 200
        Bootstrap replicates for the per-group CIs.
    n_perm : int, default 999
        Label permutations of the difference tests.
    level : float, default 0.95
        CI level.
    alpha : float, default 0.05
        Level of the adjusted p-values.
    adjust : {"fdr_bh", "holm"}, default "fdr_bh"
        Over the features, per attribute and statistic: Benjamini-Hochberg
        (false discovery rate, a screening view) or Holm (family-wise error).
        With ``n_perm`` permutations no p-value is below ``1 / (n_perm + 1)``,
        so Holm over ``p`` features needs ``n_perm > p / alpha``.
    min_group_size : int, default 20
        Groups smaller than this are reported but left out of the tests.
    random_state : int, default 0

    Returns
    -------
    SubgroupShap

    Notes
    -----
    Two statistics are tested for every feature, each by permuting the group
    labels among the patients of the tested groups (``n_perm`` times; p =
    (1 + #{perm >= observed}) / (1 + n_perm)):

    - *importance*: mean \\|SHAP\\| per group.  It differs when the feature
      matters more in one group, but also when its values are distributed
      differently (a group with less plaque has smaller plaque SHAP values).
    - *effect*: the slope of the SHAP value on the feature value within the
      group - the model's per-unit effect, which does not depend on how common
      the feature is.  A difference is effect modification as learned by the
      model (e.g. high-risk plaque weighing more in women).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["female", "male"], 400)
    >>> x = rng.integers(0, 2, 400).astype(float)
    >>> v = np.column_stack([x * np.where(sex == "female", 1.0, 0.3), rng.normal(0, 0.1, 400)])
    >>> res = ShapResult(values=v, base_value=0.0, data=pd.DataFrame({"hrp": x, "age": rng.normal(size=400)}),
    ...                  feature_names=("hrp", "age"), blocks=("ccta", "clinical"), scale="log-hazard",
    ...                  model_kind="other", method="given", background="-")
    >>> sub = shap_by_subgroup(res, {"sex": sex}, n_boot=50, n_perm=99)
    >>> sub.flagged[["feature", "statistic"]].values.tolist()
    [['hrp', 'importance'], ['hrp', 'effect']]
    """
    n_boot = check_int("n_boot", n_boot, 1)
    n_perm = check_int("n_perm", n_perm, 1)
    min_group_size = check_int("min_group_size", min_group_size, 2)
    level = check_fraction("level", level)
    alpha = check_fraction("alpha", alpha)
    if adjust not in ADJUSTMENTS:
        raise ExplainError(f"adjust must be one of {list(ADJUSTMENTS)}; got {adjust!r}")
    rng = check_random_state(random_state)
    table = _group_table(groups, result.index)
    V = np.asarray(result.values, dtype=np.float64)
    A = np.abs(V)
    X = result.data.apply(_numeric_or_nan).to_numpy(dtype=np.float64)
    W = (~np.isnan(X)).astype(np.float64)
    X0 = np.where(W > 0, X, 0.0)
    feats = list(result.feature_names)
    p = len(feats)
    q = (1 - level) / 2
    rows, tests, notes = [], [], []
    for attr, lab in table.items():
        labels = sorted({x for x in lab if x is not None})
        sizes = {g: int(np.sum(lab == g)) for g in labels}
        tested = [g for g in labels if sizes[g] >= min_group_size]
        small = [g for g in labels if sizes[g] < min_group_size]
        if small:
            notes.append(f"{attr}: group(s) {small} have fewer than {min_group_size} patients; "
                         "reported, not tested")
        for g in labels:
            idx = np.flatnonzero(lab == g)
            ng = idx.size
            Wb = rng.multinomial(ng, np.full(ng, 1.0 / ng), size=n_boot).astype(np.float64)
            mabs = A[idx].mean(axis=0)
            bmabs = Wb @ A[idx] / ng
            sums = _weighted_sums(W[idx], X0[idx], V[idx], None)
            eff = _slopes(*sums)[0]
            beff = _slopes(*_weighted_sums(W[idx], X0[idx], V[idx], Wb))
            elo, ehi = np.full(p, np.nan), np.full(p, np.nan)
            good = ~np.isnan(eff)
            if good.any():
                with warnings.catch_warnings():  # a replicate may hold a constant feature
                    warnings.simplefilter("ignore", RuntimeWarning)
                    elo[good], ehi[good] = np.nanquantile(beff[:, good], [q, 1 - q], axis=0)
            lo, hi = np.quantile(bmabs, [q, 1 - q], axis=0)
            rows.append(pd.DataFrame({
                "attribute": attr, "group": g, "feature": feats, "block": list(result.blocks), "n": ng,
                "mean_abs": mabs, "mean_abs_ci_low": lo, "mean_abs_ci_high": hi,
                "effect": eff, "effect_ci_low": np.where(np.isnan(eff), np.nan, elo),
                "effect_ci_high": np.where(np.isnan(eff), np.nan, ehi)}))
        if len(tested) < 2:
            notes.append(_MSG_ONE_GROUP.format(name=attr, m=min_group_size, sizes=sizes))
            continue
        keep = np.flatnonzero(np.isin(lab, tested) & np.array([x is not None for x in lab]))
        codes = np.searchsorted(np.asarray(tested, dtype=object), lab[keep].astype(str))
        obs_i, obs_e, null_i, null_e = _permutation(codes, len(tested), A[keep], W[keep], X0[keep],
                                                    V[keep], n_perm, rng)
        for stat, obs, null in (("importance", obs_i, null_i), ("effect", obs_e, null_e)):
            with np.errstate(invalid="ignore"):
                pv = (1.0 + np.sum(null >= obs[None, :] - 1e-12, axis=0)) / (1.0 + n_perm)
            pv = np.where(np.isnan(obs), np.nan, pv)
            ph = _adjust(pv, adjust)
            note = np.where(np.isnan(obs), "not estimable: feature constant, missing or categorical within a group", "")
            tests.append(pd.DataFrame({
                "attribute": attr, "feature": feats, "block": list(result.blocks), "statistic": stat,
                "observed": obs, "p_value": pv, "p_adjusted": ph, "flagged": np.nan_to_num(ph, nan=1.0) < alpha,
                "note": note}))
    by_group = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=SUBGROUP_COLUMNS)
    tst = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=SUBGROUP_TEST_COLUMNS)
    return SubgroupShap(by_group=by_group[list(SUBGROUP_COLUMNS)], tests=tst[list(SUBGROUP_TEST_COLUMNS)],
                        n_boot=n_boot, n_perm=n_perm, level=level, alpha=alpha, adjust=adjust,
                        scale=result.scale,
                        random_state=int(random_state), notes=tuple(notes))


def _weighted_sums(W, X0, V, Wb):
    """Sums for slopes: with ``Wb`` (B, n) bootstrap counts -> each (B, p); else (1, p)."""
    if Wb is None:
        Wb = np.ones((1, W.shape[0]))
    return (Wb @ W, Wb @ X0, Wb @ (W * V), Wb @ (X0 * X0), Wb @ (X0 * V))


def _permutation(codes, k, A, W, X0, V, n_perm, rng):
    """Observed and permuted ranges across groups of mean |SHAP| and of the SHAP slopes."""
    XV, XX, WV = X0 * V, X0 * X0, W * V

    def stats(c):
        G = np.zeros((k, c.size))
        G[c, np.arange(c.size)] = 1.0
        cnt = G.sum(axis=1)[:, None]
        m = (G @ A) / cnt
        s = _slopes(G @ W, G @ X0, G @ WV, G @ XX, G @ XV)
        with np.errstate(invalid="ignore"):
            rs = np.max(s, axis=0) - np.min(s, axis=0)
        return np.ptp(m, axis=0), rs

    oi, oe = stats(codes)
    ni = np.empty((n_perm, A.shape[1]))
    ne = np.empty((n_perm, A.shape[1]))
    for b in range(n_perm):
        ni[b], ne[b] = stats(rng.permutation(codes))
    return oi, oe, ni, ne


# ------------------------------------------------------------------------------- proxy
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
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = check_int("cv", cv, 2)
    threshold = check_fraction("threshold", threshold, low=0.5)
    table = _group_table(groups, result.index)
    if attribute not in table:
        raise ExplainError(f"proxy_check: attribute {attribute!r} is not in groups ({list(table)})")
    lab = table[attribute]
    ok = np.array([x is not None for x in lab])
    y = lab[ok].astype(str)
    levels, counts = np.unique(y, return_counts=True)
    if len(levels) < 2 or counts.min() < cv:
        raise ExplainError(f"proxy_check: {attribute!r} needs at least two groups with >= {cv} patients "
                           f"each; got {dict(zip(levels.tolist(), counts.tolist(), strict=True))}")
    feats = list(result.feature_names)
    unknown = sorted(set(exclude) - set(feats))
    if unknown:
        raise ExplainError(f"proxy_check: exclude names unknown features {unknown}")
    use = [j for j, f in enumerate(feats) if f not in set(exclude)]
    V = np.asarray(result.values, dtype=np.float64)[ok]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=int(random_state))
    P = cross_val_predict(clf, V[:, use], y, cv=folds, method="predict_proba")
    if len(levels) == 2:
        auc = float(roc_auc_score(y == levels[1], P[:, 1]))
    else:
        auc = float(roc_auc_score(y, P, multi_class="ovr", average="macro", labels=levels))
    uni, gap = [], []
    for j in range(V.shape[1]):
        best, big = 0.5, 0.0
        for g in levels if len(levels) > 2 else levels[1:]:
            a = float(roc_auc_score(y == g, V[:, j])) if np.ptp(V[:, j]) > 0 else 0.5
            best = max(best, a, 1.0 - a)
            big = max(big, abs(float(V[y == g, j].mean() - V[y != g, j].mean())))
        uni.append(best)
        gap.append(big)
    fr = pd.DataFrame({"feature": feats, "block": list(result.blocks), "mean_abs": np.abs(V).mean(axis=0),
                       "auc": uni, "gap": gap})
    fr["proxy"] = fr["auc"] >= threshold
    fr = fr.sort_values(["proxy", "gap"], ascending=False, kind="stable").reset_index(drop=True)
    return ProxyCheck(attribute=attribute, auc=auc, features=fr, threshold=threshold,
                      flagged=bool(auc >= threshold), excluded=tuple(exclude),
                      groups=tuple(levels.tolist()), cv=cv)


# ------------------------------------------------------------------- effect modification
#: Columns of :attr:`EffectModificationTest.table`.
EFFECT_TEST_COLUMNS = ("attribute", "group", "reference", "feature", "block", "effect", "effect_reference",
                       "difference", "se", "ci_low", "ci_high", "z", "p_value", "p_adjusted", "flagged")


@dataclass(frozen=True, eq=False)
class EffectModificationTest:
    """Does the model's per-unit effect of a feature differ between groups beyond refitting noise?

    Attributes
    ----------
    table : DataFrame
        One row per non-reference group and feature (:data:`EFFECT_TEST_COLUMNS`):
        the SHAP effect (slope of the feature's SHAP value on its value) in the
        group and in the reference group from the fitted model, their
        ``difference``, its bootstrap standard error over ``n_boot`` refits,
        the percentile CI, the Wald ``z`` and p-value, the adjusted p-value and
        ``flagged`` (``p_adjusted < alpha``).
    attribute : str
    reference : str
    n_boot : int
    n_failed : int
        Refits that failed (left out).
    level, alpha : float
    adjust : str
    scale : str
    random_state : int
    """

    table: pd.DataFrame = field(repr=False)
    attribute: str
    reference: str
    n_boot: int
    n_failed: int
    level: float
    alpha: float
    adjust: str
    scale: str
    random_state: int

    @property
    def flagged(self) -> pd.DataFrame:
        """Rows of :attr:`table` with ``flagged``."""
        return self.table[self.table["flagged"]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """:attr:`table`."""
        return self.table

    def _repr_html_(self) -> str:
        return html_table(f"Effect modification by {self.attribute}", [
            f"reference group {self.reference!r}; {self.n_boot} bootstrap refits ({self.n_failed} failed); "
            f"{self.adjust}, alpha = {self.alpha:g}", f"scale: {self.scale}"], self.flagged)


def _group_effects(res: ShapResult, lab: np.ndarray, levels) -> np.ndarray:
    """(k, p) SHAP slopes per group."""
    V = np.asarray(res.values, dtype=np.float64)
    X = res.data.apply(_numeric_or_nan).to_numpy(dtype=np.float64)
    W = (~np.isnan(X)).astype(np.float64)
    X0 = np.where(W > 0, X, 0.0)
    G = np.vstack([(lab == g).astype(np.float64) for g in levels])
    return _slopes(G @ W, G @ X0, G @ (W * V), G @ (X0 * X0), G @ (X0 * V))


def effect_modification_test(model, X, y, groups, *, attribute: str, reference=None, features=None,
                             n_boot: int = 50, level: float = 0.95, alpha: float = 0.05,
                             adjust: str = "fdr_bh", blocks=None, random_state: int = 0
                             ) -> EffectModificationTest:
    """Test whether a model's effect of each feature differs between groups, refitting on resamples.

    :func:`shap_by_subgroup` compares groups under one fitted model: with
    thousands of patients nearly every difference in the model's explanations
    is "beyond chance", including those a refit on another sample would not
    reproduce.  This test asks the sampling question: the effect of a feature
    in a group is the slope of its SHAP value on its value there (the model's
    per-unit effect, whatever the feature's distribution); the difference to
    the reference group is computed for the fitted model and for ``n_boot``
    refits of ``clone(model)`` on bootstrap resamples of ``(X, y)`` (SHAP
    evaluated on ``X``), whose spread gives the standard error.

    Parameters
    ----------
    model : RiskPipeline
        The fitted model (its parameters are reused in every refit).
    X : DataFrame
    y : structured array
        The training data of ``model`` (``CohortData.y``).
    groups : DataFrame, Series or mapping
        Containing ``attribute``, aligned with ``X``.
    attribute : str
    reference : str, optional
        Reference group (default: the largest).
    features : list of str, optional
        Features to test (default: all with a defined effect).
    n_boot : int, default 50
    level : float, default 0.95
        Level of the percentile CI of the difference.
    alpha : float, default 0.05
    adjust : {"fdr_bh", "holm"}
        Over the tested features (and groups).
    blocks : Mapping or CohortData, optional
        Passed to :func:`shap_values`.
    random_state : int, default 0

    Returns
    -------
    EffectModificationTest

    Notes
    -----
    The p-value is the Wald test ``z = difference / se`` with the bootstrap
    standard error (continuous p-values, so an adjustment over many features
    is possible with few refits); the percentile CI is reported beside it.
    """
    from sklearn.base import clone


    n_boot = check_int("n_boot", n_boot, 2)
    level = check_fraction("level", level)
    alpha = check_fraction("alpha", alpha)
    if adjust not in ADJUSTMENTS:
        raise ExplainError(f"adjust must be one of {list(ADJUSTMENTS)}; got {adjust!r}")
    rng = check_random_state(random_state)
    if not isinstance(X, pd.DataFrame):
        raise ExplainError("effect_modification_test: X must be a DataFrame")
    table = _group_table(groups, X.index)
    if attribute not in table:
        raise ExplainError(f"effect_modification_test: attribute {attribute!r} is not in groups ({list(table)})")
    lab = table[attribute]
    levels, counts = np.unique(lab[np.array([v is not None for v in lab])].astype(str), return_counts=True)
    if len(levels) < 2:
        raise ExplainError(f"effect_modification_test: {attribute!r} has fewer than two groups")
    ref = str(levels[np.argmax(counts)]) if reference is None else str(reference)
    if ref not in levels:
        raise ExplainError(f"reference {reference!r} is not a group of {attribute!r} ({levels.tolist()})")
    order = [ref] + [g for g in levels if g != ref]
    lab_s = np.array(["" if v is None else v for v in lab], dtype=object)
    yy = np.asarray(y)
    res = shap_values(model, X, blocks=blocks, check_additivity=False)
    eff = _group_effects(res, lab_s, order)
    obs = eff[1:] - eff[0]
    boots, failed = [], 0
    for _ in range(n_boot):
        idx = rng.integers(0, len(X), len(X))
        try:
            mb = clone(model).fit(X.iloc[idx], yy[idx])
        except ValueError:
            failed += 1
            continue
        rb = shap_values(mb, X, blocks=blocks, check_additivity=False)
        if rb.feature_names != res.feature_names:
            failed += 1
            continue
        e = _group_effects(rb, lab_s, order)
        boots.append(e[1:] - e[0])
    if len(boots) < 2:
        raise ExplainError(f"effect_modification_test: only {len(boots)} of {n_boot} refits succeeded")
    B = np.stack(boots)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(B, axis=0, ddof=1)
        q = (1 - level) / 2
        lo, hi = np.nanquantile(B, [q, 1 - q], axis=0)
    from scipy.stats import norm

    with np.errstate(invalid="ignore", divide="ignore"):
        z = obs / se
    pv = 2 * norm.sf(np.abs(z))
    names = list(res.feature_names)
    keep = np.ones(len(names), bool) if features is None else np.isin(names, list(features))
    if features is not None:
        unknown = sorted(set(features) - set(names))
        if unknown:
            raise ExplainError(f"effect_modification_test: unknown features {unknown}")
    rows = []
    for gi, g in enumerate(order[1:]):
        rows.append(pd.DataFrame({
            "attribute": attribute, "group": g, "reference": ref, "feature": names, "block": list(res.blocks),
            "effect": eff[gi + 1], "effect_reference": eff[0], "difference": obs[gi], "se": se[gi],
            "ci_low": lo[gi], "ci_high": hi[gi], "z": z[gi], "p_value": pv[gi]})[keep])
    t = pd.concat(rows, ignore_index=True)
    t["p_adjusted"] = _adjust(t["p_value"].to_numpy(dtype=np.float64), adjust)
    t["flagged"] = np.nan_to_num(t["p_adjusted"].to_numpy(), nan=1.0) < alpha
    return EffectModificationTest(table=t[list(EFFECT_TEST_COLUMNS)], attribute=attribute, reference=ref,
                                  n_boot=len(boots), n_failed=failed, level=level, alpha=alpha, adjust=adjust,
                                  scale=res.scale, random_state=int(random_state))
