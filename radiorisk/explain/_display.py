"""SHAP displays (sklearn's pattern): computation in ``from_*``, drawing in ``plot(ax=None)``.

``from_estimator(model, X, ...)`` computes :func:`shap_values` and calls
``from_shap(result, ...)``; ``plot`` draws on the caller's axes (a new figure
when ``ax`` is None) and keeps ``ax_`` and ``figure_``.  matplotlib (and shap,
for ``engine="shap"``) is imported inside ``plot`` only; nothing here changes
global matplotlib state.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._common import ExplainError, import_shap
from ._shap import shap_values
from ._shap_result import ShapResult, _numeric_for_plot, _positions

__all__ = ["ShapSummaryDisplay", "ShapBarDisplay", "ShapWaterfallDisplay", "ShapDependenceDisplay",
           "ModalityBarDisplay"]

_NO_MPL = "{name}.plot needs matplotlib (pip install matplotlib)"
_BLOCK_COLORS = {"clinical": "#4c72b0", "ccta": "#dd8452", "radiomics": "#55a868", "pet": "#c44e52",
                 "other": "#8c8c8c"}
_ENGINES = ("radiorisk", "shap")


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


def _check_result(result) -> ShapResult:
    if not isinstance(result, ShapResult):
        raise ExplainError(f"expected a ShapResult from radiorisk.explain.shap_values; got {type(result).__name__}")
    return result


def _check_engine(engine: str) -> None:
    if engine not in _ENGINES:
        raise ExplainError(f"engine must be one of {list(_ENGINES)}; got {engine!r}")


def _top(result: ShapResult, max_display: int) -> np.ndarray:
    if isinstance(max_display, bool) or not isinstance(max_display, int | np.integer) or max_display < 1:
        raise ExplainError(f"max_display must be an integer >= 1; got {max_display!r}")
    order = np.argsort(-np.abs(result.values).mean(axis=0), kind="stable")
    return order[: int(max_display)]


def _scale_label(result: ShapResult) -> str:
    return f"SHAP value ({result.scale})"


def _swarm_offsets(v: np.ndarray, width: float = 0.4, nbins: int = 80) -> np.ndarray:
    """Vertical offsets stacking points with similar values (a beeswarm)."""
    if v.size == 0:
        return v
    lo, hi = float(np.min(v)), float(np.max(v))
    b = np.zeros(v.size, dtype=int) if hi == lo else np.minimum(((v - lo) / (hi - lo) * nbins).astype(int),
                                                                 nbins - 1)
    order = np.argsort(b, kind="stable")
    counts = np.bincount(b, minlength=nbins)
    rank = np.empty(v.size)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(v.size) - np.repeat(start, counts)
    k = np.ceil(rank / 2) * np.where(rank % 2 == 0, 1, -1)
    scale = width / max(1.0, counts.max() / 2)
    return k * scale


class _FromEstimator:
    @classmethod
    def from_estimator(cls, model, X, *, blocks=None, method: str = "auto", random_state: int = 0, **kwargs):
        """Compute :func:`shap_values` of ``model`` on ``X``, then :meth:`from_shap`."""
        res = shap_values(model, X, blocks=blocks, method=method, random_state=random_state)
        return cls.from_shap(res, **kwargs)


class ShapSummaryDisplay(_FromEstimator):
    """Beeswarm: one row per feature (top by mean \\|SHAP\\|), points coloured by the feature value.

    Parameters
    ----------
    result : ShapResult
    max_display : int, default 15

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    >>> res = ShapResult(values=x.to_numpy() * [1.0, 0.2], base_value=0.0, data=x, feature_names=("a", "b"),
    ...                  blocks=("ccta", "pet"), scale="log-hazard", model_kind="other", method="given",
    ...                  background="-")
    >>> ShapSummaryDisplay.from_shap(res).features_
    ['a', 'b']
    """

    def __init__(self, result: ShapResult, *, max_display: int = 15):
        self.result = _check_result(result)
        self.max_display = max_display
        self.features_ = [result.feature_names[j] for j in _top(result, max_display)]

    @classmethod
    def from_shap(cls, result: ShapResult, *, max_display: int = 15):
        """The display of a computed :class:`ShapResult`."""
        return cls(result, max_display=max_display)

    def plot(self, ax=None, *, engine: str = "radiorisk", cmap: str = "coolwarm", colorbar: bool = True,
             s: float = 10.0):
        """Draw the beeswarm (``engine="shap"``: ``shap.plots.beeswarm`` on ``ax``); returns ``self``."""
        _check_matplotlib(type(self).__name__)
        _check_engine(engine)
        ax, fig = _axes(ax)
        res = self.result
        if engine == "shap":
            shap = import_shap()

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                shap.plots.beeswarm(res.to_explanation(), max_display=self.max_display, ax=ax, show=False,
                                    plot_size=None, color_bar=colorbar)
            self.ax_, self.figure_ = ax, fig
            return self
        top = _top(res, self.max_display)
        self.scatter_ = []
        for row, j in enumerate(top):
            y0 = len(top) - 1 - row
            v = res.values[:, j]
            x = _numeric_for_plot(res.data.iloc[:, j]).to_numpy(dtype=np.float64)
            ok = ~np.isnan(x)
            c = np.full(x.shape, 0.5)
            if ok.any():
                lo, hi = np.nanpercentile(x, [5, 95])
                c = np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.full(x.shape, 0.5)
            off = _swarm_offsets(v)
            if (~ok).any():
                ax.scatter(v[~ok], y0 + off[~ok], s=s, color="0.7", lw=0, alpha=0.8)
            sc = ax.scatter(v[ok], y0 + off[ok], c=c[ok], cmap=cmap, vmin=0, vmax=1, s=s, lw=0, alpha=0.9)
            self.scatter_.append(sc)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(np.arange(len(top)))
        ax.set_yticklabels([res.feature_names[j] for j in top[::-1]])
        ax.set_xlabel(_scale_label(res))
        ax.set_title("SHAP summary")
        if colorbar and self.scatter_:
            cb = fig.colorbar(self.scatter_[0], ax=ax, ticks=[0, 1])
            cb.set_ticklabels(["low", "high"])
            cb.set_label("feature value (grey: missing)")
        self.ax_, self.figure_ = ax, fig
        return self


class ShapBarDisplay(_FromEstimator):
    """Mean \\|SHAP\\| per feature (top ``max_display``), bars coloured by modality block.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> x = pd.DataFrame({"a": [1.0, -1.0], "b": [0.1, 0.2]})
    >>> res = ShapResult(values=x.to_numpy(), base_value=0.0, data=x, feature_names=("a", "b"),
    ...                  blocks=("ccta", "pet"), scale="log-odds", model_kind="other", method="given",
    ...                  background="-")
    >>> ShapBarDisplay.from_shap(res).table_["feature"].tolist()
    ['a', 'b']
    """

    def __init__(self, result: ShapResult, *, max_display: int = 15):
        self.result = _check_result(result)
        self.max_display = max_display
        self.table_ = result.importance().head(int(max_display)) if _top(result, max_display).size else None

    @classmethod
    def from_shap(cls, result: ShapResult, *, max_display: int = 15):
        """The display of a computed :class:`ShapResult`."""
        return cls(result, max_display=max_display)

    def plot(self, ax=None, *, engine: str = "radiorisk"):
        """Draw horizontal bars (``engine="shap"``: ``shap.plots.bar`` on ``ax``); returns ``self``."""
        _check_matplotlib(type(self).__name__)
        _check_engine(engine)
        ax, fig = _axes(ax)
        if engine == "shap":
            shap = import_shap()

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                shap.plots.bar(self.result.to_explanation(), max_display=self.max_display, ax=ax, show=False)
            self.ax_, self.figure_ = ax, fig
            return self
        t = self.table_.iloc[::-1]
        colors = [_BLOCK_COLORS.get(b, _BLOCK_COLORS["other"]) for b in t["block"]]
        self.bars_ = ax.barh(np.arange(len(t)), t["mean_abs"], color=colors)
        ax.set_yticks(np.arange(len(t)))
        ax.set_yticklabels(t["feature"])
        ax.set_xlabel(f"mean |SHAP value| ({self.result.scale})")
        ax.set_title("Feature importance")
        _block_legend(ax, list(dict.fromkeys(t["block"][::-1])))
        self.ax_, self.figure_ = ax, fig
        return self


def _block_legend(ax, blocks):
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=_BLOCK_COLORS.get(b, _BLOCK_COLORS["other"]), label=b) for b in blocks],
              fontsize="small", loc="lower right")


class ShapWaterfallDisplay(_FromEstimator):
    """One patient: from the base value to the margin (or risk) feature by feature.

    Parameters
    ----------
    result : ShapResult
    patient : int position or patient id
        The row of ``result`` to show.
    max_display : int, default 10
        Features shown; the rest are summed into one bar.
    scale : {"margin", "risk"}
        ``margin``: the additive SHAP values on the model's scale.  ``risk``:
        the probability by ``horizon``, adding features in decreasing \\|SHAP\\|
        order (see :meth:`ShapResult.risk_contributions`; the steps depend on
        that order).
    horizon : float, optional

    Attributes
    ----------
    table_ : DataFrame
        ``feature, value, start, end`` of each bar (the last row is the total).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> x = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}, index=["p1", "p2"])
    >>> res = ShapResult(values=np.array([[0.5, -0.2], [0.1, 0.3]]), base_value=-1.0, data=x,
    ...                  feature_names=("a", "b"), blocks=("ccta", "pet"), scale="log-hazard",
    ...                  model_kind="other", method="given", background="-")
    >>> d = ShapWaterfallDisplay.from_shap(res, patient="p1")
    >>> d.table_[["feature", "end"]].round(2).values.tolist()
    [['a = 1', -0.5], ['b = 0', -0.7], ['total', -0.7]]
    """

    def __init__(self, result: ShapResult, *, patient=0, max_display: int = 10, scale: str = "margin",
                 horizon=None):
        self.result = _check_result(result)
        if scale not in ("margin", "risk"):
            raise ExplainError(f"scale must be 'margin' or 'risk'; got {scale!r}")
        pos = _positions(result.index, [patient])
        if pos.size != 1:
            raise ExplainError(f"patient must name one row; got {patient!r}")
        self.position, self.scale, self.horizon = int(pos[0]), scale, horizon
        self.patient_id = result.index[self.position]
        if isinstance(max_display, bool) or not isinstance(max_display, int | np.integer) or max_display < 1:
            raise ExplainError(f"max_display must be an integer >= 1; got {max_display!r}")
        one = result.subset([self.position])
        steps = one.risk_contributions(horizon=horizon) if scale == "risk" else None
        v = one.values[0]
        order = np.argsort(-np.abs(v), kind="stable")
        shown, rest = order[:max_display], order[max_display:]
        key = "risk" if scale == "risk" else "margin"
        if steps is not None:
            base = float(steps["risk"].iloc[0])
            inc = steps["risk_change"].to_numpy()[1:]  # same (per-patient magnitude) order
        else:
            base = float(result.base_value)
            inc = v[order]
        labels = []
        for j in shown:
            val = one.data.iloc[0, j]
            labels.append(f"{result.feature_names[j]} = {_fmt(val)}")
        if rest.size:
            labels.append(f"{rest.size} other features")
        vals = list(inc[: shown.size]) + ([float(inc[shown.size:].sum())] if rest.size else [])
        start = base + np.concatenate([[0.0], np.cumsum(vals)[:-1]])
        end = start + np.asarray(vals)
        self.base_ = base
        self.total_ = float(end[-1]) if len(end) else base
        self.table_ = pd.DataFrame({"feature": labels + ["total"], "value": vals + [self.total_ - base],
                                    "start": list(start) + [base], "end": list(end) + [self.total_]})
        self.key_ = key

    @classmethod
    def from_shap(cls, result: ShapResult, *, patient=0, max_display: int = 10, scale: str = "margin",
                  horizon=None):
        """The display of one patient of a computed :class:`ShapResult`."""
        return cls(result, patient=patient, max_display=max_display, scale=scale, horizon=horizon)

    def plot(self, ax=None):
        """Draw the waterfall bars (red raises the margin/risk, blue lowers it); returns ``self``."""
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        t = self.table_.iloc[:-1]
        y = np.arange(len(t))[::-1]
        colors = np.where(t["value"] > 0, "#d62728", "#1f77b4")
        self.bars_ = ax.barh(y, t["value"], left=t["start"], color=colors)
        ax.axvline(self.base_, color="0.5", ls="--", lw=0.8)
        ax.axvline(self.total_, color="0.2", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(t["feature"])
        what = (f"risk by {self.horizon or self.result.link.horizon:g} d" if self.key_ == "risk"
                else self.result.scale)
        ax.set_xlabel(f"{what}: base {self.base_:.3g} -> {self.total_:.3g}")
        ax.set_title(f"Patient {self.patient_id}")
        self.ax_, self.figure_ = ax, fig
        return self


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return "missing" if np.isnan(v) else f"{v:.3g}"
    return "missing" if pd.isna(v) else str(v)


class ShapDependenceDisplay(_FromEstimator):
    """SHAP value of one feature against its value, optionally coloured by group (e.g. sex).

    Parameters
    ----------
    result : ShapResult
    feature : str
    color_by : array-like of group labels, or a feature name, optional
        Group labels (one per patient) give one colour and one least-squares
        line per group - the per-group ``effect`` of :func:`shap_by_subgroup`;
        a feature name colours the points by that feature's value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> x = pd.DataFrame({"hrp": [0.0, 1.0, 0.0, 1.0]})
    >>> res = ShapResult(values=np.array([[0.0], [1.0], [0.0], [0.3]]), base_value=0.0, data=x,
    ...                  feature_names=("hrp",), blocks=("ccta",), scale="log-hazard", model_kind="other",
    ...                  method="given", background="-")
    >>> d = ShapDependenceDisplay.from_shap(res, "hrp", color_by=["F", "F", "M", "M"])
    >>> {k: round(v, 3) for k, v in d.slopes_.items()}
    {'F': 1.0, 'M': 0.3}
    """

    def __init__(self, result: ShapResult, feature: str, *, color_by=None):
        self.result = _check_result(result)
        if feature not in result.feature_names:
            raise ExplainError(f"unknown feature {feature!r}; the result has {list(result.feature_names)[:10]}...")
        self.feature = feature
        j = result.feature_names.index(feature)
        self.x_ = _numeric_for_plot(result.data.iloc[:, j]).to_numpy(dtype=np.float64)
        self.y_ = result.values[:, j]
        self.groups_ = None
        self.color_values_ = None
        self.slopes_ = {}
        if isinstance(color_by, str):
            if color_by not in result.feature_names:
                raise ExplainError(f"color_by: unknown feature {color_by!r}")
            k = result.feature_names.index(color_by)
            self.color_values_ = _numeric_for_plot(result.data.iloc[:, k]).to_numpy(dtype=np.float64)
            self.color_name = color_by
        elif color_by is not None:
            g = np.asarray(pd.Series(color_by).astype(object).where(pd.notna(pd.Series(color_by)), None))
            if g.shape != (result.n,):
                raise ExplainError(f"color_by has {g.size} labels; the result has {result.n} patients")
            self.groups_ = g
            self.color_name = getattr(color_by, "name", None) or "group"
            for lab in sorted({str(v) for v in g if v is not None}):
                m = (g.astype(str) == lab) & ~np.isnan(self.x_)
                xs, ys = self.x_[m], self.y_[m]
                self.slopes_[lab] = (float(np.polyfit(xs, ys, 1)[0]) if m.sum() >= 2 and np.ptp(xs) > 0
                                     else float("nan"))

    @classmethod
    def from_shap(cls, result: ShapResult, feature: str, *, color_by=None):
        """The display of one feature of a computed :class:`ShapResult`."""
        return cls(result, feature, color_by=color_by)

    @classmethod
    def from_estimator(cls, model, X, feature: str, *, blocks=None, method: str = "auto",
                       random_state: int = 0, color_by=None):
        """Compute :func:`shap_values` of ``model`` on ``X``, then :meth:`from_shap`."""
        res = shap_values(model, X, blocks=blocks, method=method, random_state=random_state)
        return cls.from_shap(res, feature, color_by=color_by)

    def plot(self, ax=None, *, s: float = 12.0, jitter: float = 0.0, random_state: int = 0):
        """Draw the scatter (and per-group lines); ``jitter`` spreads 0/1 features; returns ``self``."""
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        x = self.x_ + (np.random.default_rng(random_state).uniform(-jitter, jitter, self.x_.size)
                       if jitter else 0.0)
        self.scatter_ = {}
        if self.groups_ is not None:
            g = self.groups_.astype(str)
            for lab, slope in self.slopes_.items():
                m = g == lab
                sc = ax.scatter(x[m], self.y_[m], s=s, alpha=0.6, lw=0, label=f"{lab} (slope {slope:.3g})")
                self.scatter_[lab] = sc
                xm = self.x_[m & ~np.isnan(self.x_)]
                if np.isfinite(slope) and xm.size:
                    ym = self.y_[m & ~np.isnan(self.x_)]
                    xx = np.array([xm.min(), xm.max()])
                    ax.plot(xx, ym.mean() + slope * (xx - xm.mean()), color=sc.get_facecolor()[0], lw=1.5)
            ax.legend(fontsize="small", title=self.color_name)
        else:
            c = self.color_values_
            sc = ax.scatter(x, self.y_, s=s, alpha=0.7, lw=0, c=c, cmap="coolwarm" if c is not None else None)
            self.scatter_["all"] = sc
            if c is not None:
                fig.colorbar(sc, ax=ax).set_label(self.color_name)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel(self.feature)
        ax.set_ylabel(f"SHAP value of {self.feature} ({self.result.scale})")
        ax.set_title(f"Dependence: {self.feature}")
        self.ax_, self.figure_ = ax, fig
        return self


class ModalityBarDisplay(_FromEstimator):
    """Contribution of each modality block: mean \\|SHAP\\| over patients, or one patient's signed sums.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> x = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0], "c": [3.0, 3.0]})
    >>> res = ShapResult(values=np.array([[0.5, -0.2, 0.1], [0.1, 0.3, 0.1]]), base_value=0.0, data=x,
    ...                  feature_names=("a", "b", "c"), blocks=("ccta", "pet", "ccta"), scale="log-hazard",
    ...                  model_kind="other", method="given", background="-")
    >>> ModalityBarDisplay.from_shap(res).table_[["block", "value"]].round(2).values.tolist()
    [['ccta', 0.4], ['pet', 0.25]]
    """

    def __init__(self, result: ShapResult, *, patient=None):
        self.result = _check_result(result)
        mod = result.by_block()
        self.patient = patient
        if patient is None:
            t = mod.to_frame()
            self.table_ = pd.DataFrame({"block": t["block"], "value": t["mean_abs"]})
        else:
            pos = _positions(result.index, [patient])
            row = mod.values.iloc[int(pos[0])]
            self.table_ = pd.DataFrame({"block": list(row.index), "value": row.to_numpy()})

    @classmethod
    def from_shap(cls, result: ShapResult, *, patient=None):
        """Global (``patient=None``) or one patient's block contributions."""
        return cls(result, patient=patient)

    def plot(self, ax=None):
        """Draw one bar per block; returns ``self``."""
        _check_matplotlib(type(self).__name__)
        ax, fig = _axes(ax)
        t = self.table_.iloc[::-1]
        colors = [_BLOCK_COLORS.get(b, _BLOCK_COLORS["other"]) for b in t["block"]]
        self.bars_ = ax.barh(np.arange(len(t)), t["value"], color=colors)
        ax.set_yticks(np.arange(len(t)))
        ax.set_yticklabels(t["block"])
        if self.patient is None:
            ax.set_xlabel(f"mean |sum of SHAP values in block| ({self.result.scale})")
            ax.set_title("Contribution by modality")
        else:
            ax.axvline(0, color="0.5", lw=0.8)
            ax.set_xlabel(f"sum of SHAP values in block ({self.result.scale})")
            ax.set_title(f"Contribution by modality: patient {self.patient}")
        self.ax_, self.figure_ = ax, fig
        return self
