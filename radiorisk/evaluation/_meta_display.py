"""Forest plot of a random-effects meta-analysis (internal-external validation across sites).

:class:`MetaForestDisplay` follows the Display pattern of :mod:`._display`: the
table is computed in ``from_meta`` (``MetaAnalysis.to_frame()``), ``plot(ax=None)``
draws on the caller's axes (matplotlib imported there only) and returns ``self``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import MetaAnalysis
from ._display import _axes, _check_matplotlib

__all__ = ["MetaForestDisplay"]

_REFERENCE = {"log": 1.0}  # O/E = 1; no reference line on the other scales unless asked


class MetaForestDisplay:
    """Forest plot: one row per study (site) with its CI, the pooled diamond and the prediction interval.

    Parameters
    ----------
    table : DataFrame
        :meth:`radiorisk.stats.MetaAnalysis.to_frame` (rows ``study``, ``pooled``,
        ``prediction``); drawn on the original scale (``*_original`` columns).
    metric : str, optional
        x-axis label (e.g. ``"harrell_c"``).
    reference : float, optional
        A vertical reference line (default 1 for a log-scale analysis: O/E = 1).
    name : str, optional
        Added to the title.
    summary : str, optional
        Heterogeneity text shown under the title (``from_meta`` writes tau², I² and k).

    Attributes
    ----------
    table_ : DataFrame
    ax_, figure_, line_
        After :meth:`plot`: the axes, figure and the study error bars.
    diamond_, pi_line_
        After :meth:`plot`: the pooled diamond (a Polygon spanning the CI) and the
        prediction-interval line (None when k < 3).

    Examples
    --------
    >>> from radiorisk.stats import random_effects
    >>> ma = random_effects([0.71, 0.62, 0.78, 0.69], [0.02, 0.03, 0.03, 0.02], transform="logit",
    ...                     labels=["site01", "site02", "site03", "site04"])
    >>> d = MetaForestDisplay.from_meta(ma, metric="harrell_c")
    >>> d.table_["row"].tolist()
    ['study', 'study', 'study', 'study', 'pooled', 'prediction']
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> d.plot(ax=ax).ax_ is ax, ax.get_yticklabels()[0].get_text()
    (True, 'site01')
    """

    def __init__(self, table: pd.DataFrame, *, metric: str | None = None, reference: float | None = None,
                 name: str | None = None, summary: str = ""):
        self.table_ = table.reset_index(drop=True)
        self.metric = metric
        self.reference = reference
        self.name = name
        self.summary = summary

    @classmethod
    def from_meta(cls, meta_analysis: MetaAnalysis, *, metric: str | None = None,
                  reference: float | None = None, name: str | None = None):
        """Take the rows of a :class:`radiorisk.stats.MetaAnalysis` (``random_effects(...)``)."""
        if not isinstance(meta_analysis, MetaAnalysis):
            raise TypeError(f"from_meta needs a MetaAnalysis (radiorisk.stats.random_effects); got "
                            f"{type(meta_analysis).__name__}")
        ma = meta_analysis
        if reference is None:
            reference = _REFERENCE.get(ma.transform)
        summary = (f"k = {ma.k}, tau² = {ma.tau2:.3g}" + (f" ({ma.transform} scale)" if ma.transform else "")
                   + f", I² = {ma.i2:.0f} %")
        return cls(ma.to_frame(), metric=metric, reference=reference, name=name, summary=summary)

    def plot(self, ax=None):
        """Draw the studies (marker area by weight), the pooled diamond and the prediction interval; returns ``self``."""
        _check_matplotlib(type(self).__name__)
        from matplotlib.patches import Polygon

        ax, fig = _axes(ax)
        t = self.table_
        study = t[t["row"] == "study"]
        k = len(study)
        y = np.arange(k)[::-1] + 2.0  # studies from the top; pooled at 1, prediction interval at 0
        est = study["estimate_original"].to_numpy(float)
        lo, hi = study["ci_low_original"].to_numpy(float), study["ci_high_original"].to_numpy(float)
        err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
        self.line_ = ax.errorbar(est, y, xerr=np.where(np.isfinite(err), err, 0.0), fmt="none",
                                 ecolor="0.3", capsize=3)
        w = study["weight"].to_numpy(float)
        ax.scatter(est, y, s=20 + 2.5 * np.nan_to_num(w), marker="s", color="C0", zorder=3)
        pooled = t[t["row"] == "pooled"].iloc[0]
        p, plo, phi = (float(pooled[c]) for c in ("estimate_original", "ci_low_original", "ci_high_original"))
        self.diamond_ = ax.add_patch(Polygon([(plo, 1), (p, 1.3), (phi, 1), (p, 0.7)], closed=True,
                                             color="C1", zorder=3))
        labels = list(study["label"]) + [str(pooled["label"])]
        ticks = list(y) + [1.0]
        pred = t[t["row"] == "prediction"].iloc[0]
        qlo, qhi = float(pred["ci_low_original"]), float(pred["ci_high_original"])
        self.pi_line_ = None
        if np.isfinite(qlo) and np.isfinite(qhi):
            (self.pi_line_,) = ax.plot([qlo, qhi], [0, 0], color="C1", lw=2, solid_capstyle="butt")
            ax.plot([qlo, qlo, qhi, qhi], [-0.15, 0.15, -0.15, 0.15], color="C1", lw=0, marker="|", ms=8)
            labels.append("prediction interval")
        else:
            labels.append("prediction interval: none (k < 3)")
        ticks.append(0.0)
        ax.set_yticks(ticks, labels)
        ax.axvline(p, color="C1", ls=":", lw=1)
        if self.reference is not None:
            ax.axvline(self.reference, color="0.6", lw=1)
        ax.set_ylim(-0.8, k + 2.6)
        ax.set_xlabel(self.metric or "estimate")
        title = "Forest plot" + (f": {self.metric}" if self.metric else "") + (f" - {self.name}" if self.name else "")
        ax.set_title(title + (f"\n{self.summary}" if self.summary else ""), fontsize="medium")
        self.ax_, self.figure_ = ax, fig
        return self
