"""Figures of the model report: computed tables in, PNG bytes out.

Each function draws on its own :class:`matplotlib.figure.Figure` (no pyplot,
no backend switch, no global state) and returns the PNG as bytes for
embedding.  Nothing here computes a statistic: the numbers come in as
DataFrames or result objects computed elsewhere.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ._vocab import _DISC, _NOT_DISC

__all__ = ["png", "ladder_figure", "availability_figure", "shap_subgroup_figure"]

_BLOCK_COLORS = {"clinical": "#4c72b0", "ccta": "#dd8452", "radiomics": "#55a868", "pet": "#c44e52",
                 "other": "#8c8c8c"}


def png(draw, *, size=(6.4, 4.2), dpi: int = 100) -> bytes:
    """Run ``draw(ax)`` on a fresh figure and return the PNG bytes.

    Parameters
    ----------
    draw : callable
        Receives one :class:`matplotlib.axes.Axes`.
    size : tuple of float
        Figure size in inches.
    dpi : int
        Resolution.

    Returns
    -------
    bytes

    Examples
    --------
    >>> data = png(lambda ax: ax.plot([0, 1], [0, 1]), size=(2, 2), dpi=20)
    >>> data[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    draw(ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def ladder_figure(ladder: pd.DataFrame) -> bytes:
    """Discrimination of each rung of the modality ladder with its 95 % CI.

    Parameters
    ----------
    ladder : DataFrame
        ``ladder.csv`` of ``radiorisk fit`` (``rung, metric, estimate, ci_low, ci_high``).

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> lad = pd.DataFrame({"population": "all", "rung": ["clinical", "+ccta"], "metric": "harrell_c",
    ...                     "estimate": [0.65, 0.77], "ci_low": [0.6, 0.73], "ci_high": [0.7, 0.81]})
    >>> ladder_figure(lad)[:4] == b"\\x89PNG"
    True
    """
    labels = {m: w for m, w in _DISC.items() if m not in _NOT_DISC}  # the discrimination scale only
    lad = ladder[ladder["metric"].isin(list(labels))].copy()
    pop = lad["population"].astype(str) if "population" in lad else pd.Series("all", index=lad.index)
    lad["key"] = [r if p == "all" else f"{r}\n({p})" for p, r in zip(pop, lad["rung"], strict=True)]
    rungs = list(dict.fromkeys(lad["key"]))
    metrics = [m for m in labels if m in set(lad["metric"])]

    def draw(ax):
        x = np.arange(len(rungs), dtype=float)
        width = 0.8 / max(len(metrics), 1)
        for k, m in enumerate(metrics):
            t = lad[lad["metric"] == m].set_index("key").reindex(rungs)
            est = t["estimate"].to_numpy(float)
            lo = np.nan_to_num(est - t["ci_low"].to_numpy(float), nan=0.0)
            hi = np.nan_to_num(t["ci_high"].to_numpy(float) - est, nan=0.0)
            xs = x + (k - (len(metrics) - 1) / 2) * width
            ax.errorbar(xs, est, yerr=[lo, hi], fmt="o", capsize=3, label=labels[m])
        ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        ax.set_xticks(x)
        ax.set_xticklabels(rungs, fontsize="small")
        ax.set_xlabel("modality ladder (each rung adds a block)")
        ax.set_ylabel("discrimination (95 % CI)")
        ax.set_title("Discrimination by modality rung (out-of-fold)")
        ax.legend(fontsize="small", loc="lower right")

    return png(draw)


def availability_figure(table: pd.DataFrame) -> bytes:
    """Share of patients with each modality available, per group.

    Parameters
    ----------
    table : DataFrame
        ``attribute, group`` and one ``<block>_available_pct`` column per block (0-100).

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> t = pd.DataFrame({"attribute": ["sex", "sex"], "group": ["female", "male"],
    ...                   "pet_available_pct": [8.0, 12.0]})
    >>> availability_figure(t)[:4] == b"\\x89PNG"
    True
    """
    cols = [c for c in table.columns if c.endswith("_available_pct")]
    labels = [f"{a} = {g}" if a != "overall" else "all patients"
              for a, g in zip(table["attribute"], table["group"], strict=True)]

    def draw(ax):
        y = np.arange(len(table), dtype=float)
        h = 0.8 / max(len(cols), 1)
        for k, c in enumerate(cols):
            block = c[: -len("_available_pct")]
            ax.barh(y + (k - (len(cols) - 1) / 2) * h, table[c].to_numpy(float), height=h,
                    color=_BLOCK_COLORS.get(block, _BLOCK_COLORS["other"]), label=block)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlim(0, 105)
        ax.set_xlabel("patients with the modality available (%)")
        ax.set_title("Modality availability by group")
        ax.legend(fontsize="small", loc="lower right")

    return png(draw, size=(6.4, 0.9 + 0.28 * len(table) * max(1, len(cols) / 2)))


def shap_subgroup_figure(by_group: pd.DataFrame, *, attribute: str, features, scale: str) -> bytes:
    """Mean \\|SHAP\\| of the top features within each group of one attribute, with 95 % CIs.

    Parameters
    ----------
    by_group : DataFrame
        :attr:`radiorisk.explain.SubgroupShap.by_group`
        (``attribute, group, feature, mean_abs, mean_abs_ci_low, mean_abs_ci_high``).
    attribute : str
        E.g. ``"sex"``.
    features : sequence of str
        Features to show (top first).
    scale : str
        The SHAP scale, for the axis label.

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> bg = pd.DataFrame({"attribute": "sex", "group": ["female", "male"], "feature": "age",
    ...                    "mean_abs": [0.2, 0.3], "mean_abs_ci_low": [0.1, 0.2], "mean_abs_ci_high": [0.3, 0.4]})
    >>> shap_subgroup_figure(bg, attribute="sex", features=["age"], scale="log-hazard")[:4] == b"\\x89PNG"
    True
    """
    features = list(features)
    t = by_group[(by_group["attribute"] == attribute) & by_group["feature"].isin(features)]
    groups = list(dict.fromkeys(t["group"]))

    def draw(ax):
        y = np.arange(len(features), dtype=float)
        h = 0.8 / max(len(groups), 1)
        for k, g in enumerate(groups):
            s = t[t["group"] == g].set_index("feature").reindex(features)
            est = s["mean_abs"].to_numpy(float)
            err = None
            if {"mean_abs_ci_low", "mean_abs_ci_high"} <= set(s.columns):
                err = [np.nan_to_num(est - s["mean_abs_ci_low"].to_numpy(float), nan=0.0).clip(0),
                       np.nan_to_num(s["mean_abs_ci_high"].to_numpy(float) - est, nan=0.0).clip(0)]
            ax.barh(y + (k - (len(groups) - 1) / 2) * h, est, height=h, xerr=err, capsize=2,
                    label=str(g), error_kw={"lw": 0.8})
        ax.set_yticks(y)
        ax.set_yticklabels(features, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(f"mean |SHAP| ({scale}), 95 % CI")
        ax.set_title(f"Feature importance by {attribute}")
        ax.legend(fontsize="small", loc="lower right")

    return png(draw, size=(6.4, 1.2 + 0.35 * len(features) * max(1, len(groups) / 2)))
