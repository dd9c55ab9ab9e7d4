"""Figures of the patient report: lesion panels and SHAP waterfalls, computed objects in, PNG bytes out.

Like :mod:`radiorisk.report._figures`, each function draws on its own
:class:`matplotlib.figure.Figure` (no pyplot, no global state) and computes
nothing: the slices, components and volumes come in a :class:`LesionImage`, the
SHAP values in a :class:`radiorisk.explain.ShapResult`.
"""

from __future__ import annotations

import io

import numpy as np

from ..explain import ShapWaterfallDisplay
from ._vocab import feature_label

__all__ = ["lesion_panel_png", "waterfall_png", "COMPONENT_COLORS"]

#: RGB of each plaque component (code -> colour): LAP red, fibro-fatty yellow, fibrous green, calcium white.
COMPONENT_COLORS = {1: "#e31a1c", 2: "#ffd92f", 3: "#33a02c", 4: "#f7f7f7"}
_VIEW_AXES = {"axial": ("y", "x"), "coronal": ("z", "x"), "sagittal": ("z", "y")}
#: CT display window (HU): level 200, width 800.
_WINDOW = (-200.0, 600.0)


def _save(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _component_legend(th: dict) -> list[tuple[int, str]]:
    """Legend texts of the components from the thresholds used."""
    lap, ff, calc = (_g(th.get(k)) for k in ("lap_hu", "fibrofatty_hu", "calcified_hu"))
    return [(1, f"low-attenuation < {lap} HU"), (2, f"fibro-fatty {lap}–{ff} HU"),
            (3, f"fibrous >{ff}–{calc} HU"), (4, f"calcified > {calc} HU")]


def _short(label: str, width: int = 56) -> str:
    """A label cut to ``width`` characters in its middle (its start, its end and its value stay).

    Examples
    --------
    >>> _short("plaque texture (radiomics: log-sigma-3-0-mm-3D_glcm_ClusterProminence, largest) = 27", 40)
    'plaque texture (r…minence, largest) = 27'
    """
    name, sep, val = label.rpartition(" = ")
    if not sep:
        name, val = label, ""
    room = width - len(val) - len(sep)
    if len(name) <= room or room < 8:
        return label
    head = (room - 1) // 2
    return name[:head] + "…" + name[len(name) - (room - 1 - head):] + sep + val


def _g(v) -> str:
    return "?" if v is None else f"{float(v):g}"


def _scale_bar(ax, width_mm: float, height_mm: float) -> None:
    """A bar of a round length (1, 2, 5 or 10 mm, about a quarter of the width) at the lower left."""
    target = width_mm / 4.0
    length = max((x for x in (1.0, 2.0, 5.0, 10.0, 20.0) if x <= max(target, 1.0)), default=1.0)
    x0, y0 = 0.06 * width_mm, 0.92 * height_mm
    ax.plot([x0, x0 + length], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    ax.text(x0 + length / 2, y0 - 0.04 * height_mm, f"{length:g} mm", color="white", ha="center",
            va="bottom", fontsize=7)


def lesion_panel_png(lesion, *, dpi: int = 110) -> bytes:
    """Axial, coronal and sagittal slices of one lesion: CT, plaque components by HU class, mask contour, scale bar.

    With a heatmap (:attr:`LesionImage.heatmap`) a second row shows the voxel-based map of its
    feature over the same slices (one colour scale, NaN transparent).

    Parameters
    ----------
    lesion : LesionImage
    dpi : int

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> from radiorisk.report._patient_result import LesionImage
    >>> hu = np.full((12, 12), 40.0); hu[4:8, 4:8] = 500.0
    >>> pl = np.zeros((12, 12), bool); pl[3:9, 3:9] = True
    >>> comp = np.where(pl, np.where(hu > 350, 4, 2), 0).astype(np.int8)
    >>> li = LesionImage(lesion="lesion 1", vessel="LAD", hu=(hu,) * 3, plaque=(pl,) * 3,
    ...                  components=(comp,) * 3, pixel_mm=((0.5, 0.5),) * 3, centre_voxel=(6, 6, 6),
    ...                  measurements={}, thresholds={"lap_hu": 30, "fibrofatty_hu": 130, "calcified_hu": 350})
    >>> lesion_panel_png(li, dpi=30)[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.colors import ListedColormap, to_rgba
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    heat = lesion.heatmap is not None
    fig = Figure(figsize=(8.4, 6.2 if heat else 3.3), layout="constrained")
    grid = fig.subplots(2 if heat else 1, 3, squeeze=False)
    axes = grid[0]
    colors = [(0, 0, 0, 0)] + [to_rgba(COMPONENT_COLORS[k], 0.6) for k in (1, 2, 3, 4)]
    cmap = ListedColormap(colors)
    for ax, view, hu, pl, comp, (pr, pc) in zip(axes, _VIEW_AXES, lesion.hu, lesion.plaque,
                                                lesion.components, lesion.pixel_mm, strict=True):
        h_mm, w_mm = hu.shape[0] * pr, hu.shape[1] * pc
        extent = (0.0, w_mm, h_mm, 0.0)
        ax.imshow(hu, cmap="gray", vmin=_WINDOW[0], vmax=_WINDOW[1], extent=extent, interpolation="nearest")
        ax.imshow(comp, cmap=cmap, vmin=-0.5, vmax=4.5, extent=extent, interpolation="nearest")
        if pl.any() and not pl.all():
            ys = (np.arange(hu.shape[0]) + 0.5) * pr
            xs = (np.arange(hu.shape[1]) + 0.5) * pc
            ax.contour(xs, ys, pl.astype(float), levels=[0.5], colors="#00e5ff", linewidths=1.0)
        _scale_bar(ax, w_mm, h_mm)
        rows, cols = _VIEW_AXES[view]
        ax.set_title(f"{view} ({rows}×{cols})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if heat:
        _heatmap_row(fig, grid[1], lesion)
    handles = [Patch(facecolor=COMPONENT_COLORS[k], edgecolor="0.4", label=t)
               for k, t in _component_legend(lesion.thresholds)]
    handles.append(Patch(facecolor="none", edgecolor="#00e5ff", label="mask contour"))
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle(f"{lesion.lesion}" + (f" ({lesion.vessel})" if lesion.vessel else "")
                 + " — window L200/W800 HU", fontsize=10)
    return _save(fig, dpi)


def _heatmap_row(fig, axes, lesion) -> None:
    """The voxel-based map of one feature over the CT slices, one colour scale for the three views."""
    vals = np.concatenate([np.ravel(m) for m in lesion.heatmap])
    vals = vals[np.isfinite(vals)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    im = None
    for ax, view, hu, m, (pr, pc) in zip(axes, _VIEW_AXES, lesion.hu, lesion.heatmap, lesion.pixel_mm,
                                         strict=True):
        h_mm, w_mm = hu.shape[0] * pr, hu.shape[1] * pc
        extent = (0.0, w_mm, h_mm, 0.0)
        ax.imshow(hu, cmap="gray", vmin=_WINDOW[0], vmax=_WINDOW[1], extent=extent, interpolation="nearest")
        im = ax.imshow(np.ma.masked_invalid(m), cmap="inferno", vmin=lo, vmax=hi, alpha=0.75, extent=extent,
                       interpolation="nearest")
        _scale_bar(ax, w_mm, h_mm)
        ax.set_title(f"{view}: voxel-based map", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(im, ax=list(axes), shrink=0.8, location="right")
    bar.set_label(_short(lesion.heatmap_feature, 40), fontsize=7)
    bar.ax.tick_params(labelsize=7)


def waterfall_png(shap, *, scale: str, horizon: float, title: str, max_display: int = 10,
                  dpi: int = 100) -> bytes:
    """The SHAP waterfall of one patient (:class:`radiorisk.explain.ShapWaterfallDisplay`), labelled in words.

    Parameters
    ----------
    shap : ShapResult
        One patient.
    scale : {"risk", "margin"}
        ``risk``: the probability of MACE by ``horizon``; ``margin``: the model's own scale.
    horizon : float
        Days.
    title : str
        The figure's title (never the raw patient id of a pseudonymised report).
    max_display : int
    dpi : int

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> import pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> x = pd.DataFrame({"age_years": [61.0], "sex_male": [1.0]}, index=["p1"])
    >>> res = ShapResult(values=np.array([[0.5, -0.2]]), base_value=-1.0, data=x,
    ...                  feature_names=("age_years", "sex_male"), blocks=("clinical", "clinical"),
    ...                  scale="log-hazard", model_kind="other", method="given", background="-")
    >>> waterfall_png(res, scale="margin", horizon=1826.0, title="t", dpi=30)[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.figure import Figure

    d = ShapWaterfallDisplay.from_shap(shap, patient=0, max_display=max_display, scale=scale,
                                       horizon=horizon)
    n = len(d.table_)
    fig = Figure(figsize=(7.2, 1.4 + 0.32 * n), layout="constrained")
    ax = fig.subplots()
    d.plot(ax=ax)
    t = d.table_
    lo, hi = float(min(t["start"].min(), t["end"].min())), float(max(t["start"].max(), t["end"].max()))
    pad = 0.06 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1e-3)
    ax.set_xlim(lo - pad, hi + pad)
    names = {f: feature_label(f) for f in shap.feature_names}
    labels = []
    for t in ax.get_yticklabels():
        text = t.get_text()
        feat, sep, val = text.partition(" = ")
        labels.append(_short(f"{names.get(feat, feat)} = {val}" if sep else text))
    ax.set_yticks(ax.get_yticks())
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, dpi)
