"""Display classes (sklearn's pattern): computation in ``from_*``, drawing in ``plot(ax=None)``.

``from_estimator`` -> ``from_predictions`` -> ``plot``. matplotlib is imported
inside ``plot`` only; nothing here changes global matplotlib state. Each
display keeps the computed table (``table_``) and, after ``plot``, ``line_``,
``ax_`` and ``figure_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import check_binary_inputs, check_horizon, check_survival_inputs, net_benefit_curve
from ._audit import UNKNOWN_GROUP, SubgroupAudit, read_group_labels
from ._audit_competing import check_status
from ._audit_decision import DEFAULT_DECISION_THRESHOLDS
from ._tables import (
    calibration_table,
    net_benefit,
    survival_calibration_table,
    survival_net_benefit,
)

__all__ = ["CalibrationDisplay", "SubgroupForestDisplay", "DecisionCurveDisplay"]

_NO_MPL = "{name}.plot needs matplotlib (pip install matplotlib)"


def _check_matplotlib(name: str):
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(_NO_MPL.format(name=name)) from exc


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax, ax.figure


def _estimator_risk(estimator, X, horizon):
    if not hasattr(estimator, "predict_risk"):
        raise TypeError(f"{type(estimator).__name__} has no predict_risk(X, horizon)")
    return np.asarray(estimator.predict_risk(X, horizon), dtype=np.float64)


def _group_iter(risk, groups):
    """(label, row positions) for every group; one group 'all' without ``groups``."""
    n = len(risk)
    if groups is None:
        yield "all", np.arange(n)
        return
    lab = read_group_labels(groups)
    if len(lab) != n:
        raise ValueError(f"groups has {len(lab)} values; risk has {n}")
    for v in sorted({x for x in lab if x is not None}):
        yield v, np.flatnonzero(lab == v)
    miss = np.flatnonzero(np.array([x is None for x in lab], dtype=bool))
    if len(miss):
        yield UNKNOWN_GROUP, miss


class CalibrationDisplay:
    """Observed against predicted risk by risk band, per group, with 95 % CI bars and bands.

    Parameters
    ----------
    table : DataFrame
        ``group, bin, n, events, mean_predicted, observed, ci_low, ci_high``.
    kind : {"binary", "survival", "competing"}
    horizon : float or None
    name : str, optional
        Model name, used in the title.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 400)
    >>> d = CalibrationDisplay.from_predictions(p, y=rng.binomial(1, p), groups=rng.choice(["F", "M"], 400),
    ...                                         n_bins=5)
    >>> sorted(d.table_["group"].unique())
    ['F', 'M']
    """

    def __init__(self, table: pd.DataFrame, *, kind: str, horizon=None, name: str | None = None):
        self.table_ = table
        self.kind = kind
        self.horizon = horizon
        self.name = name

    @classmethod
    def from_predictions(cls, risk, *, y=None, time=None, event=None, horizon=None, groups=None,
                         n_bins: int = 10, min_per_bin: int = 20, name: str | None = None,
                         ax=None, plot: bool = False):
        """Compute the calibration table per group (deciles of risk within each group).

        Survival data use Kaplan-Meier observed risk at ``horizon`` with
        ``survfit``'s log-log CI (:func:`survival_calibration_table`); binary
        data the observed proportion with a Wilson CI (:func:`calibration_table`).
        With ``plot=True`` the display is drawn on ``ax`` too.
        """
        r = np.asarray(risk, dtype=np.float64)
        frames = []
        if y is None:
            t0 = check_horizon(horizon)
            t, e, r = check_survival_inputs(time, event, r)
            kind = "survival"
            for lab, idx in _group_iter(r, groups):
                tab = survival_calibration_table(t[idx], e[idx], r[idx], horizon=t0, n_bins=n_bins,
                                                 min_per_bin=min_per_bin)
                frames.append(tab.assign(group=lab))
        else:
            yy, r = check_binary_inputs(y, r)
            kind, t0 = "binary", None
            for lab, idx in _group_iter(r, groups):
                tab = calibration_table(yy[idx], r[idx], n_bins=n_bins, min_per_bin=min_per_bin)
                frames.append(tab.assign(group=lab))
        table = pd.concat(frames, ignore_index=True)
        table = table[["group"] + [c for c in table.columns if c != "group"]]
        disp = cls(table, kind=kind, horizon=t0, name=name)
        return disp.plot(ax=ax) if plot else disp

    @classmethod
    def from_estimator(cls, estimator, X, *, y=None, time=None, event=None, horizon=None, groups=None,
                       **kwargs):
        """Risks from ``estimator.predict_risk(X, horizon)``, then :meth:`from_predictions`."""
        risk = _estimator_risk(estimator, X, horizon)
        kwargs.setdefault("name", type(estimator).__name__)
        return cls.from_predictions(risk, y=y, time=time, event=event, horizon=horizon, groups=groups,
                                    **kwargs)

    @classmethod
    def from_audit(cls, audit: SubgroupAudit, attribute: str | None = None, *, bands=5,
                   name: str | None = None, ax=None, plot: bool = False):
        """The risk bands of :meth:`SubgroupAudit.calibration_within_groups` as points with CIs.

        The one calibration display of a competing-risk audit (``kind="competing"``:
        Aalen-Johansen observed cumulative incidence with ``prodlim``'s CI per band;
        competing events are not censored); it works for any audit.

        Parameters
        ----------
        audit : SubgroupAudit
        attribute : str, optional
            An audited attribute or intersection (default: all patients).
        bands : int or sequence of float
            As in :meth:`SubgroupAudit.calibration_within_groups` (the same cut points
            for every group).
        name : str, optional
        ax : matplotlib Axes, optional
        plot : bool
            Draw on ``ax`` too.

        Returns
        -------
        CalibrationDisplay

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.05, 0.5, 400)
        >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 400)}, n_boot=0)
        >>> CalibrationDisplay.from_audit(a, "sex", bands=4).table_.shape
        (8, 8)
        """
        cal = audit.calibration_within_groups(bands)
        tab = cal[(cal["attribute"] == (attribute or "overall")) & (cal["n"] > 0)]
        tab = tab.rename(columns={"band": "bin"})[["group", "bin", "n", "events", "mean_predicted",
                                                   "observed", "ci_low", "ci_high"]]
        kind = "competing" if audit.competing_risks else "survival" if audit.survival else "binary"
        disp = cls(tab.reset_index(drop=True), kind=kind, horizon=audit.horizon, name=name)
        return disp.plot(ax=ax) if plot else disp

    def plot(self, ax=None, *, ci: bool = True, band: bool = True):
        """Draw the points per group with error bars (and a shaded CI band); returns ``self``."""
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        self.line_ = {}
        cols = ["mean_predicted", "observed", "ci_high"] if ci else ["mean_predicted", "observed"]
        top = float(np.nanmax(self.table_[cols].to_numpy(float))) if len(self.table_) else 1.0
        lim = min(1.0, max(0.05, 1.1 * top))
        ax.plot([0, lim], [0, lim], ls="--", color="0.6", lw=1, label="ideal")
        for lab, tab in self.table_.groupby("group", sort=False):
            x, o = tab["mean_predicted"].to_numpy(), tab["observed"].to_numpy()
            (line,) = ax.plot(x, o, marker="o", lw=1.2, label=str(lab))
            if ci:
                lo, hi = tab["ci_low"].to_numpy(), tab["ci_high"].to_numpy()
                ax.errorbar(x, o, yerr=[np.clip(o - lo, 0, None), np.clip(hi - o, 0, None)], fmt="none",
                            ecolor=line.get_color(), alpha=0.6, capsize=2)
                if band:
                    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.12, lw=0)
            self.line_[lab] = line
        what = {"survival": "observed risk (Kaplan-Meier)",
                "competing": "observed cumulative incidence (Aalen-Johansen)"}.get(self.kind, "observed proportion")
        ax.set_xlabel("mean predicted risk")
        ax.set_ylabel(what)
        title = "Calibration" + (f" at t = {self.horizon:g}" if self.horizon is not None else "")
        ax.set_title(title + (f" - {self.name}" if self.name else ""))
        ax.legend(fontsize="small")
        self.ax_, self.figure_ = ax, fig
        return self


class SubgroupForestDisplay:
    """Forest plot of one metric per group with its CI, and the overall estimate as a reference line.

    Parameters
    ----------
    table : DataFrame
        Rows of :attr:`SubgroupAudit.by_group` (or ``to_frame()``) for one metric.
    metric : str
    overall : float
        The overall estimate (reference line).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 400)
    >>> d = SubgroupForestDisplay.from_predictions(p, y=rng.binomial(1, p), metric="oe_ratio",
    ...                                            groups={"sex": rng.choice(["F", "M"], 400)}, n_boot=20)
    >>> d.table_["group"].tolist()
    ['F', 'M']
    """

    def __init__(self, table: pd.DataFrame, *, metric: str, overall: float = np.nan, name: str | None = None):
        self.table_ = table.reset_index(drop=True)
        self.metric = metric
        self.overall = overall
        self.name = name

    @classmethod
    def from_audit(cls, audit: SubgroupAudit, metric: str, *, name: str | None = None):
        """Take ``metric`` from a computed :class:`SubgroupAudit`."""
        if metric not in audit.metrics:
            raise ValueError(f"metric {metric!r} is not in the audit ({list(audit.metrics)})")
        bg = audit.by_group
        ov = audit.overall
        return cls(bg[bg["metric"] == metric], metric=metric,
                   overall=float(ov.loc[ov["metric"] == metric, "estimate"].iloc[0]), name=name)

    @classmethod
    def from_predictions(cls, risk, *, metric: str, y=None, time=None, event=None, horizon=None,
                         groups=None, n_boot: int = 200, random_state=None, name: str | None = None,
                         ax=None, plot: bool = False, **audit_kwargs):
        """Run a :class:`SubgroupAudit` for ``metric`` and keep its per-group rows."""
        audit = SubgroupAudit(risk, y=y, time=time, event=event, horizon=horizon, groups=groups,
                              metrics=[metric], n_boot=n_boot, random_state=random_state, **audit_kwargs)
        disp = cls.from_audit(audit, metric, name=name)
        return disp.plot(ax=ax) if plot else disp

    @classmethod
    def from_estimator(cls, estimator, X, *, metric: str, horizon=None, **kwargs):
        """Risks from ``estimator.predict_risk(X, horizon)``, then :meth:`from_predictions`."""
        risk = _estimator_risk(estimator, X, horizon)
        kwargs.setdefault("name", type(estimator).__name__)
        return cls.from_predictions(risk, metric=metric, horizon=horizon, **kwargs)

    def plot(self, ax=None):
        """Draw estimate +- CI per group (flagged groups hollow and marked *); returns ``self``."""
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        t = self.table_
        ypos = np.arange(len(t))[::-1]
        est = t["estimate"].to_numpy(float)
        lo, hi = t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float)
        flag = t["flag"].to_numpy(bool) if "flag" in t else np.zeros(len(t), bool)
        err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
        err = np.where(np.isfinite(err), err, 0.0)
        self.line_ = ax.errorbar(est, ypos, xerr=err, fmt="none", ecolor="0.3", capsize=3)
        ax.scatter(est[~flag], ypos[~flag], color="C0", zorder=3)
        ax.scatter(est[flag], ypos[flag], facecolors="none", edgecolors="C3", zorder=3)
        labels = [f"{a}: {g}" + (" *" if f else "") for a, g, f in zip(t["attribute"], t["group"], flag,
                                                                     strict=True)]
        ax.set_yticks(ypos, labels)
        if np.isfinite(self.overall):
            ax.axvline(self.overall, color="C1", ls="--", lw=1, label=f"overall {self.overall:.3g}")
        if self.metric.startswith("oe_ratio"):
            ax.axvline(1.0, color="0.6", lw=1, label="O/E = 1")
        ax.set_xlabel(self.metric)
        ax.set_title(f"{self.metric} by group" + (f" - {self.name}" if self.name else "")
                     + ("  (* flagged)" if flag.any() else ""))
        ax.legend(fontsize="small", loc="best")
        self.ax_, self.figure_ = ax, fig
        return self


class DecisionCurveDisplay:
    """Decision curve: net benefit of the model, treat-all and treat-none against the threshold.

    Parameters
    ----------
    table : DataFrame
        ``group, threshold, model, treat_all, treat_none, n_treated``
        (:func:`net_benefit` / :func:`survival_net_benefit` per group).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 400)
    >>> d = DecisionCurveDisplay.from_predictions(p, y=rng.binomial(1, p), thresholds=[0.1, 0.2])
    >>> d.table_.shape
    (2, 6)
    """

    def __init__(self, table: pd.DataFrame, *, kind: str, horizon=None, name: str | None = None):
        self.table_ = table
        self.kind = kind
        self.horizon = horizon
        self.name = name

    @classmethod
    def from_predictions(cls, risk, *, y=None, time=None, event=None, horizon=None, groups=None,
                         thresholds=None, name: str | None = None, ax=None, plot: bool = False,
                         competing_risks: bool = False):
        """Net benefit per group (Vickers & Elkin; Kaplan-Meier version for survival data).

        With ``competing_risks=True`` ``event`` is the status (0/1/2) and the observed risk the
        Aalen-Johansen cumulative incidence of cause 1 (:func:`radiorisk.stats.net_benefit_curve`).
        """
        r = np.asarray(risk, dtype=np.float64)
        frames = []
        if y is None and competing_risks:
            t0 = check_horizon(horizon)
            t, e, r = check_status(time, event, r)
            kind = "competing"
            th = DEFAULT_DECISION_THRESHOLDS if thresholds is None else thresholds
            for lab, idx in _group_iter(r, groups):
                f = net_benefit_curve(r[idx], thresholds=th, time=t[idx], event=e[idx], horizon=t0,
                                      competing_risks=True).to_frame()
                frames.append(f.assign(n_treated=np.rint(f["treated"] * len(idx)).astype(int), group=lab))
        elif y is None:
            t0 = check_horizon(horizon)
            t, e, r = check_survival_inputs(time, event, r)
            kind = "survival"
            for lab, idx in _group_iter(r, groups):
                frames.append(survival_net_benefit(t[idx], e[idx], r[idx], horizon=t0,
                                                   thresholds=thresholds).assign(group=lab))
        else:
            yy, r = check_binary_inputs(y, r)
            kind, t0 = "binary", None
            for lab, idx in _group_iter(r, groups):
                frames.append(net_benefit(yy[idx], r[idx], thresholds=thresholds).assign(group=lab))
        table = pd.concat(frames, ignore_index=True)
        table = table[["group"] + [c for c in table.columns if c != "group"]]
        disp = cls(table, kind=kind, horizon=t0, name=name)
        return disp.plot(ax=ax) if plot else disp

    @classmethod
    def from_estimator(cls, estimator, X, *, y=None, time=None, event=None, horizon=None, **kwargs):
        """Risks from ``estimator.predict_risk(X, horizon)``, then :meth:`from_predictions`."""
        risk = _estimator_risk(estimator, X, horizon)
        kwargs.setdefault("name", type(estimator).__name__)
        return cls.from_predictions(risk, y=y, time=time, event=event, horizon=horizon, **kwargs)

    @classmethod
    def from_audit(cls, audit: SubgroupAudit, attribute: str | None = None, *, table=None, thresholds=None,
                   name: str | None = None, ax=None, plot: bool = False):
        """The net benefit of :meth:`SubgroupAudit.decision_curves` per group, with its bootstrap CIs.

        Works in every mode of the audit (``kind="competing"``: Aalen-Johansen observed risk).

        Parameters
        ----------
        audit : SubgroupAudit
        attribute : str, optional
            An audited attribute or intersection (default: all patients).
        table : DataFrame, optional
            ``audit.decision_curves(...)`` when already computed (the audit folder's
            ``decision_curves.csv``); else computed at ``thresholds``.
        thresholds : sequence of float, optional
        name : str, optional
        ax : matplotlib Axes, optional
        plot : bool

        Returns
        -------
        DecisionCurveDisplay

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.05, 0.5, 400)
        >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 400)}, n_boot=0)
        >>> DecisionCurveDisplay.from_audit(a, "sex", thresholds=[0.1, 0.2]).table_["group"].tolist()
        ['F', 'F', 'M', 'M']
        """
        dc = audit.decision_curves(thresholds) if table is None else table
        if "horizon" in dc.columns and audit.horizon is not None:
            dc = dc[dc["horizon"] == audit.horizon]
        tab = dc[dc["attribute"] == (attribute or "overall")].rename(columns={"net_benefit": "model"})
        tab = tab.assign(n_treated=np.rint(tab["treated"] * tab["n"]).astype(int))
        kind = "competing" if audit.competing_risks else "survival" if audit.survival else "binary"
        disp = cls(tab.reset_index(drop=True), kind=kind, horizon=audit.horizon, name=name)
        return disp.plot(ax=ax) if plot else disp

    def plot(self, ax=None, *, ci: bool = True):
        """Draw net benefit curves per group (with a CI band when the table has one), treat-all and treat-none.

        Returns ``self``.
        """
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        self.line_ = {}
        lows = []
        for lab, tab in self.table_.groupby("group", sort=False):
            (line,) = ax.plot(tab["threshold"], tab["model"], lw=1.5, label=f"model ({lab})")
            if ci and "nb_ci_low" in tab and np.isfinite(tab["nb_ci_low"].to_numpy(float)).any():
                ax.fill_between(tab["threshold"], tab["nb_ci_low"], tab["nb_ci_high"], color=line.get_color(),
                                alpha=0.15, lw=0)
            ax.plot(tab["threshold"], tab["treat_all"], lw=1, ls=":", color=line.get_color(),
                    label=f"treat all ({lab})")
            self.line_[lab] = line
            lows.append(float(np.nanmax(tab["model"])))
        ax.axhline(0.0, color="0.3", lw=1, label="treat none")
        top = max(lows) if lows else 0.1
        ax.set_ylim(-0.05 * max(top, 0.01), 1.1 * max(top, 0.01))
        ax.set_xlabel("threshold probability")
        ax.set_ylabel("net benefit" + (" (Aalen-Johansen)" if self.kind == "competing" else ""))
        ax.set_title("Decision curve" + (f" at t = {self.horizon:g}" if self.horizon is not None else "")
                     + (f" - {self.name}" if self.name else ""))
        ax.legend(fontsize="small")
        self.ax_, self.figure_ = ax, fig
        return self
