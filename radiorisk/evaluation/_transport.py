"""Transport diagnostics: how the validation cohort's case mix relates to the development cohort's.

Before reading an external validation's C and O/E, a reader needs to know whether the
validation cohort is *like* the development cohort (then the validation tests the
model's reproducibility) or different (then it tests its transportability), and
whether a change in performance is explained by the case mix alone. Four diagnostics
(Debray et al. 2015, *J Clin Epidemiol* 68:279; Vergouwe et al. 2010, *Am J Epidemiol*
172:971; van Klaveren et al. 2016, *J Clin Epidemiol* 79:78):

1. **Standardised mean differences** per model input (and per block):
   ``(mean_val - mean_dev) / sqrt((sd_dev² + sd_val²) / 2)``; a categorical column
   reports its level with the largest |SMD| of the level shares. |SMD| > 0.1 is the
   usual mark of a meaningful imbalance (Austin 2009). The development side comes from
   the development matrix when given, else from the bundle's training summaries
   (``requirements.json``; the same summaries, :func:`radiorisk.models._requirements.describe_training`).
2. **Membership model** (needs the development matrix): a ridge-penalised logistic
   regression of "validation vs development" on the model's inputs, its C from 5-fold
   out-of-fold probabilities (DeLong CI). C near 0.5: the cohorts cannot be told apart;
   near 1: they barely overlap. Debray 2015's version also enters the outcome; this one
   uses the predictors only (the case mix), and says so.
3. **Support**: the share of validation patients with at least one input outside the
   training ``[q01, q99]`` range or at a level unseen in training (the out-of-distribution
   score of :meth:`~radiorisk.models._requirements.ModelRequirements.ood_scores`).
4. **Linear predictor** (the complementary log-log of the risk by the horizon, which is
   the Cox linear predictor plus a constant for every model kind) in both cohorts: mean
   and SD. A larger SD means a more heterogeneous case mix (a higher reachable C); a
   shifted mean with good calibration means a different risk level. With it, the
   **model-based C** (:func:`radiorisk.stats.model_based_c`) in both
   cohorts: the C the model would reach if its risks were right there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._html import repr_html
from ..models import ModelRequirements, describe_training
from ..stats import auc_delong, cloglog, model_based_c

__all__ = ["TransportDiagnostics", "transport_diagnostics", "SMDDisplay", "SMD_COLUMNS", "TRANSPORT_COLUMNS"]

#: Columns of :attr:`TransportDiagnostics.smd`.
SMD_COLUMNS = ("column", "block", "kind", "level", "mean_dev", "sd_dev", "mean_val", "sd_val",
               "missing_dev", "missing_val", "smd", "abs_smd", "imbalanced", "share_outside_support")
#: Columns of :attr:`TransportDiagnostics.statistics` (= :meth:`TransportDiagnostics.to_frame`).
TRANSPORT_COLUMNS = ("statistic", "development", "validation", "ci_low", "ci_high", "source", "meaning")
_NO_DEV = ("no development matrix given: the membership model and the development linear predictor "
           "need the development patients (pass X_dev and risk_dev), the standardised differences "
           "use the bundle's training summaries")


@dataclass(frozen=True)
class TransportDiagnostics:
    """The case-mix and shift diagnostics of one validation cohort against the development cohort.

    Attributes
    ----------
    smd : DataFrame
        One row per model input (:data:`SMD_COLUMNS`), largest |SMD| first.
    blocks : DataFrame
        Per block: ``block, n_columns, n_imbalanced, max_abs_smd, mean_abs_smd``.
    statistics : DataFrame
        The summary statistics (:data:`TRANSPORT_COLUMNS`), each with a sentence
        saying what it means for the reader.
    threshold : float
        The |SMD| above which a column counts as imbalanced.
    notes : tuple of str
        What could not be computed, and why.
    """

    smd: pd.DataFrame
    blocks: pd.DataFrame
    statistics: pd.DataFrame
    threshold: float
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The summary statistics as a DataFrame (a copy)."""
        return self.statistics.copy()

    def value(self, statistic: str, side: str = "validation") -> float:
        """One number of :attr:`statistics` (``side`` ``"development"`` or ``"validation"``)."""
        row = self.statistics.loc[self.statistics["statistic"] == statistic]
        if row.empty:
            raise KeyError(f"statistic {statistic!r} is not one of {self.statistics['statistic'].tolist()}")
        return float(row[side].iloc[0])

    def _repr_html_(self) -> str:
        return repr_html("Transport diagnostics", self.statistics[["statistic", "development", "validation", "ci_low", "ci_high"]],
                         lines=self.notes)


def _level_smd(dev: dict, val: dict) -> tuple[str | None, float]:
    """The level with the largest |SMD| of its share (categorical and binary columns)."""
    best, smd = None, np.nan
    for lev in sorted(set(dev) | set(val)):
        p, q = float(dev.get(lev, 0.0)), float(val.get(lev, 0.0))
        s = np.sqrt((p * (1 - p) + q * (1 - q)) / 2)
        d = (q - p) / s if s > 0 else (0.0 if p == q else np.inf * np.sign(q - p))
        if best is None or abs(d) > abs(smd):
            best, smd = lev, d
    return best, float(smd)


def _smd_row(column: str, block: str, d: dict, v: dict, outside: float, threshold: float) -> dict:
    row = {"column": column, "block": block, "kind": d["kind"], "level": None,
           "mean_dev": d.get("mean"), "sd_dev": d.get("sd"), "mean_val": v.get("mean"), "sd_val": v.get("sd"),
           "missing_dev": d.get("missing_share"), "missing_val": v.get("missing_share"),
           "share_outside_support": outside}
    if d["kind"] == "categorical" or v["kind"] == "categorical":
        row["level"], smd = _level_smd(d.get("levels", {}), v.get("levels", {}))
    elif d.get("mean") is None or v.get("mean") is None:
        smd = np.nan
    else:
        sd = np.sqrt(((d.get("sd") or 0.0) ** 2 + (v.get("sd") or 0.0) ** 2) / 2)
        diff = v["mean"] - d["mean"]
        smd = diff / sd if sd > 0 else (0.0 if diff == 0 else np.inf * np.sign(diff))
    row["smd"] = float(smd)
    row["abs_smd"] = abs(float(smd))
    row["imbalanced"] = bool(np.isfinite(smd) and abs(smd) > threshold) or bool(np.isinf(smd))
    return row


def _membership(X_dev: pd.DataFrame, X_val: pd.DataFrame, random_state: int, folds: int) -> tuple:
    """C of a ridge logistic model of cohort membership, from out-of-fold probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    both = pd.concat([X_dev, X_val], axis=0, ignore_index=True)
    y = np.r_[np.zeros(len(X_dev)), np.ones(len(X_val))]
    cat = [c for c in both.columns if not (pd.api.types.is_numeric_dtype(both[c])
                                           or pd.api.types.is_bool_dtype(both[c]))]
    num = both.drop(columns=cat).astype(float)
    parts = []
    for c in num.columns:
        x = num[c]
        if x.isna().any():
            parts.append(x.isna().astype(float).rename(f"{c}__missing"))
        x = x.fillna(x.median() if x.notna().any() else 0.0)
        sd = x.std(ddof=0)
        parts.append((x - x.mean()) / sd if sd > 0 else x * 0.0)
    if cat:
        parts.append(pd.get_dummies(both[cat].astype(str), dtype=float))
    Z = pd.concat(parts, axis=1).to_numpy(float) if parts else np.zeros((len(both), 1))
    k = int(min(folds, len(X_dev), len(X_val)))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    prob = cross_val_predict(LogisticRegression(C=1.0, max_iter=5000), Z, y, cv=cv,
                             method="predict_proba")[:, 1]
    return auc_delong(y, prob)


def _lp_stats(risk) -> tuple[float, float]:
    lp = cloglog(np.asarray(risk, dtype=float))
    return float(np.mean(lp)), float(np.std(lp, ddof=1)) if lp.size > 1 else float("nan")


def _describe_membership(c: float) -> str:
    if not np.isfinite(c):
        return "not computed"
    how = ("cannot be told apart" if c < 0.6 else "differ moderately" if c < 0.75 else "differ clearly"
           if c < 0.9 else "barely overlap")
    kind = "reproducibility" if c < 0.6 else "transportability"
    return (f"A model that tries to tell validation from development patients by the model's inputs "
            f"reaches C = {c:.2f}: the two case mixes {how} (near 0.5 alike, near 1 disjoint), so this "
            f"validation mostly tests the model's {kind} (Debray et al. 2015; predictors only, no outcome).")


def _statistics(risk_val, risk_dev, ood_share: tuple[float, float], membership, n_imb: int, n_cols: int,
                dev_source: str) -> pd.DataFrame:
    lp_v = _lp_stats(risk_val)
    lp_d = _lp_stats(risk_dev) if risk_dev is not None else (np.nan, np.nan)
    mbc_v = model_based_c(risk_val).estimate
    mbc_d = model_based_c(risk_dev).estimate if risk_dev is not None else np.nan
    nan = float("nan")
    rows = [
        ("n_imbalanced_inputs", nan, float(n_imb), nan, nan, dev_source,
         f"{n_imb} of {n_cols} model inputs differ by more than the |SMD| threshold between the cohorts "
         "(per-input table below)."),
        ("share_outside_support", ood_share[0], ood_share[1], nan, nan,
         "bundle summaries" if np.isfinite(ood_share[1]) else "not available (no bundle summaries)",
         f"{100 * ood_share[1]:.1f} % of the validation patients have at least one input outside the training "
         "[1 %, 99 %] range or at a level unseen in training: for them the model extrapolates"
         + (f" (development patients: {100 * ood_share[0]:.1f} %, by construction of the range; with many "
            "inputs this share is high in any cohort: read it against the development value)."
            if np.isfinite(ood_share[0]) else "; with many inputs this share is high in any cohort.")),
        ("membership_c", nan, membership.estimate if membership is not None else nan,
         membership.ci_low if membership is not None else nan,
         membership.ci_high if membership is not None else nan,
         "development and validation matrices" if membership is not None else "not available",
         _describe_membership(membership.estimate if membership is not None else nan)),
        ("lp_mean", lp_d[0], lp_v[0], nan, nan, "risk by the horizon, complementary log-log",
         "Mean linear predictor (log(-log(1 - risk))): a difference is a different predicted risk level "
         f"({lp_v[0] - lp_d[0]:+.2f} on the log cumulative-hazard scale)." if np.isfinite(lp_d[0]) else
         "Mean linear predictor (log(-log(1 - risk))) of the validation cohort; the development value needs "
         "the development patients."),
        ("lp_sd", lp_d[1], lp_v[1], nan, nan, "risk by the horizon, complementary log-log",
         "Spread of the linear predictor: a larger SD is a more heterogeneous case mix, which by itself "
         "raises the C a model can reach (Vergouwe et al. 2010)."),
        ("model_based_c", mbc_d, mbc_v, nan, nan, "risks only (no outcomes)",
         "The C the model would reach in each cohort if its risks were right there (van Klaveren et al. "
         "2016): a lower validation value means a narrower case mix explains part of a lower observed "
         "C; compare the observed td-AUC at the horizon with the validation value to judge the model itself."),
    ]
    return pd.DataFrame(rows, columns=list(TRANSPORT_COLUMNS))


def transport_diagnostics(X_val: pd.DataFrame, risk_val, *, requirements: ModelRequirements | None = None,
                          X_dev: pd.DataFrame | None = None, risk_dev=None, threshold: float = 0.1,
                          random_state: int = 0, folds: int = 5) -> TransportDiagnostics:
    """Case-mix and shift diagnostics of a validation cohort against the development cohort.

    Parameters
    ----------
    X_val : DataFrame
        The model's inputs in the validation cohort (columns in the model's order).
    risk_val : array-like of shape (n_val,)
        The model's risk by the horizon for those patients.
    requirements : ModelRequirements, optional
        The bundle's training summaries (``load_requirements(RUN/model)``): the
        development side of the SMDs when ``X_dev`` is not given, the blocks, and
        the training support. At least one of ``requirements`` and ``X_dev``.
    X_dev : DataFrame, optional
        The development matrix (same columns): enables the membership model and
        SMDs from the rows themselves.
    risk_dev : array-like, optional
        The model's risk for the development patients (the development linear
        predictor and model-based C).
    threshold : float
        |SMD| above which an input counts as imbalanced (default 0.1).
    random_state : int
        Seed of the membership model's folds.
    folds : int
        Folds of the membership model's out-of-fold probabilities.

    Returns
    -------
    TransportDiagnostics

    Raises
    ------
    ValueError
        Neither ``requirements`` nor ``X_dev``; columns that differ; lengths that differ.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X_dev = pd.DataFrame({"age": rng.normal(60, 8, 400), "sex": rng.choice(["F", "M"], 400)})
    >>> X_val = pd.DataFrame({"age": rng.normal(66, 8, 300), "sex": rng.choice(["F", "M"], 300)})
    >>> risk = lambda X: 1 / (1 + np.exp(-(X["age"] - 70) / 8))
    >>> td = transport_diagnostics(X_val, risk(X_val), X_dev=X_dev, risk_dev=risk(X_dev))
    >>> td.smd.loc[0, "column"], bool(td.smd.loc[0, "imbalanced"])
    ('age', True)
    >>> 0.6 < td.value("membership_c") < 0.8
    True
    """
    if requirements is None and X_dev is None:
        raise ValueError("give requirements (the bundle's training summaries) or X_dev (the development matrix)")
    columns = [str(c) for c in X_val.columns]
    risk_val = np.asarray(risk_val, dtype=float).ravel()
    if risk_val.size != len(X_val):
        raise ValueError(f"risk_val has {risk_val.size} values for {len(X_val)} rows of X_val")
    if X_dev is not None:
        if [str(c) for c in X_dev.columns] != columns:
            raise ValueError("X_dev and X_val must have the same columns in the same order")
        if risk_dev is not None and np.asarray(risk_dev).size != len(X_dev):
            raise ValueError(f"risk_dev has {np.asarray(risk_dev).size} values for {len(X_dev)} rows of X_dev")
    if requirements is not None:
        missing = [c for c in columns if c not in requirements.distributions]
        if missing:
            raise ValueError(f"X_val has columns the requirements do not describe: {missing}")
    blocks = dict(requirements.blocks or {}) if requirements is not None else {}
    block_of = {c: b for b, cols in blocks.items() for c in cols}
    dev = describe_training(X_dev) if X_dev is not None else requirements
    val = describe_training(X_val)
    outside = (requirements._outside(X_val[columns]).mean(axis=0) if requirements is not None
               else pd.Series(np.nan, index=columns))
    rows = [_smd_row(c, block_of.get(c, "(block not recorded)"), dev.distributions[c], val.distributions[c],
                     float(outside[c]), threshold) for c in columns]
    smd = pd.DataFrame(rows, columns=list(SMD_COLUMNS))
    smd = smd.sort_values("abs_smd", ascending=False, kind="mergesort", na_position="last").reset_index(drop=True)
    by_block = (smd.groupby("block", sort=True)
                .agg(n_columns=("column", "size"), n_imbalanced=("imbalanced", "sum"),
                     max_abs_smd=("abs_smd", "max"), mean_abs_smd=("abs_smd", "mean")).reset_index())
    notes = []
    membership = None
    if X_dev is not None:
        membership = _membership(X_dev[columns], X_val[columns], random_state, folds)
    else:
        notes.append(_NO_DEV)
    def share(X):
        return float((requirements.ood_scores(X[columns])["ood_n_outside"] > 0).mean())

    ood_share = (share(X_dev) if requirements is not None and X_dev is not None else float("nan"),
                 share(X_val) if requirements is not None else float("nan"))
    stats = _statistics(risk_val, None if risk_dev is None else np.asarray(risk_dev, float), ood_share,
                        membership, int(smd["imbalanced"].sum()), len(columns),
                        "development matrix" if X_dev is not None else "bundle summaries")
    return TransportDiagnostics(smd=smd, blocks=by_block, statistics=stats, threshold=float(threshold),
                                notes=tuple(notes))


class SMDDisplay:
    """Standardised mean differences of the model's inputs (a "love plot"), largest first.

    Parameters
    ----------
    table : DataFrame
        :attr:`TransportDiagnostics.smd` (or its first rows).
    threshold : float
        Dashed lines at ``±threshold``.
    max_rows : int
        The inputs with the largest |SMD| shown.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X_dev = pd.DataFrame({"age": rng.normal(60, 8, 200), "ldl": rng.normal(3, 1, 200)})
    >>> X_val = pd.DataFrame({"age": rng.normal(64, 8, 200), "ldl": rng.normal(3, 1, 200)})
    >>> td = transport_diagnostics(X_val, np.full(200, 0.1), X_dev=X_dev)
    >>> SMDDisplay.from_transport(td).table_["column"].tolist()
    ['age', 'ldl']
    """

    def __init__(self, table: pd.DataFrame, *, threshold: float = 0.1, max_rows: int = 25):
        self.table_ = table.loc[np.isfinite(table["smd"].to_numpy(float))].head(max_rows).reset_index(drop=True)
        self.threshold = float(threshold)

    @classmethod
    def from_transport(cls, transport: TransportDiagnostics, *, max_rows: int = 25) -> SMDDisplay:
        """The display of :attr:`TransportDiagnostics.smd` with its threshold."""
        return cls(transport.smd, threshold=transport.threshold, max_rows=max_rows)

    def plot(self, ax=None):
        """Draw one point per input (imbalanced ones in red); returns ``self``."""
        from ._display import _axes, _check_matplotlib

        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        t = self.table_
        y = np.arange(len(t))[::-1]
        smd = t["smd"].to_numpy(float)
        bad = t["imbalanced"].to_numpy(bool)
        ax.scatter(smd[~bad], y[~bad], color="C0", zorder=3, label="|SMD| within threshold")
        ax.scatter(smd[bad], y[bad], color="C3", zorder=3, label="imbalanced")
        for x in (-self.threshold, self.threshold):
            ax.axvline(x, color="0.5", ls="--", lw=1)
        ax.axvline(0.0, color="0.8", lw=1)
        labels = [c if not isinstance(lev, str) else f"{c} = {lev}" for c, lev in zip(t["column"], t["level"],
                                                                                     strict=True)]
        ax.set_yticks(y, labels)
        ax.set_xlabel("standardised mean difference (validation - development)")
        ax.set_title("Case mix: validation against development")
        ax.legend(fontsize="small", loc="best")
        self.ax_, self.figure_ = ax, fig
        return self
