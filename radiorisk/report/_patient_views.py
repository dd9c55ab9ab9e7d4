"""The two views of a :class:`PatientReportResult`: the clinician page and the plain-language patient page.

Both read the same result object; nothing here computes a number the page states
(the figures draw the slices, components and SHAP values the pipeline computed).
"""

from __future__ import annotations

import base64

import pandas as pd

from .._html import table_html
from ..exceptions import PatientReportError
from ._figures_patient import lesion_panel_png, waterfall_png
from ._html import render
from ._patient_report import _view
from ._patient_values import _fmt, _pct

__all__ = ["render_view", "render_pdf", "VIEWS"]

#: The views of a patient report.
VIEWS = ("clinician", "patient")

_MEASURES = (("v_total_mm3", "Total plaque", "mm³"), ("v_lap_mm3", "Low-attenuation", "mm³"),
             ("v_fibrofatty_mm3", "Fibro-fatty", "mm³"), ("v_fibrous_mm3", "Fibrous", "mm³"),
             ("v_calcified_mm3", "Calcified", "mm³"), ("v_noncalcified_mm3", "Non-calcified", "mm³"),
             ("plaque_burden_pct", "Plaque burden", "%"), ("max_plaque_burden_pct", "Maximum burden", "%"),
             ("remodelling_index", "Remodelling index", ""), ("hu_mean", "Mean attenuation", "HU"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _measure_table(m: dict) -> str:
    rows = []
    for key, label, unit in _MEASURES:
        v = m.get(key)
        if v is None:
            continue
        rows.append((label, f"{_fmt(float(v))} {unit}".strip()))
    if "spotty_calc" in m and m["spotty_calc"] is not None:
        rows.append(("Spotty calcification", "yes" if m["spotty_calc"] else "no"))
    frame = pd.DataFrame(rows or [("Measurements", "not available")], columns=["item", "value"], dtype=object)
    return table_html(frame, header=False, row_header=True, css_class="kv", align=False, empty=None,
                      caption="Measured on this mask")


def _component_text(th: dict) -> str:
    lap, ff, calc = (f"{float(th[k]):g}" for k in ("lap_hu", "fibrofatty_hu", "calcified_hu"))
    return (f"red: low-attenuation < {lap} HU; yellow: fibro-fatty {lap}–{ff} HU; green: fibrous above {ff} "
            f"up to {calc} HU; white: calcified > {calc} HU")


def _clinician_view(res) -> dict:
    r = res.report
    v = _view(r)
    v["summary"] = list(res.summary)
    images = []
    for li in res.lesion_images:
        cap = (f"{li.lesion}" + (f", {li.vessel}" if li.vessel else "")
               + f": axial, coronal and sagittal slices through voxel (z, y, x) = {tuple(li.centre_voxel)}"
               + ("" if li.heatmap is None else
                  f"; below, the voxel-based map of {li.heatmap_feature} (pyradiomics, the lesion and a margin), "
                  "the radiomic feature that moved this patient's prediction most"))
        images.append({"caption": cap, "b64": _b64(lesion_panel_png(li)), "table": _measure_table(li.measurements)})
    v["lesion_images"] = images
    v["image_notes"] = list(res.image_notes)
    v["component_text"] = _component_text(res.lesion_images[0].thresholds) if res.lesion_images else ""
    v["waterfalls"], v["base_text"] = _waterfalls(res)
    if res.guideline:
        v["guideline"] = res.guideline
    return v


def _waterfalls(res) -> tuple[list, str]:
    shap, h = res.shap, res.horizon_days
    if shap is None:
        return [], "No SHAP values were computed for this report."
    ex = res.explanation()
    figs = []
    if shap.link is not None and shap.scale != "risk":
        figs.append((f"Risk scale: the probability of MACE by {h:g} days, from the base risk "
                     f"{_pct(ex['base_risk'])} to this patient's {_pct(ex['risk'])}, factors added largest first",
                     _b64(waterfall_png(shap, scale="risk", horizon=h, title="Contributions to the risk"))))
    figs.append((f"Model scale ({shap.scale}): the additive SHAP values from the base value "
                 f"{ex['base_value']:.3g} to this patient's {ex['margin']:.3g}",
                 _b64(waterfall_png(shap, scale="margin", horizon=h,
                                    title=f"Contributions on the model's scale ({shap.scale})"))))
    text = (f"The base value is {ex['base_value_meaning']}: where every patient starts before their own "
            "values are taken into account. Each bar is one factor's SHAP value; red raises and blue lowers "
            "the risk. On the risk scale the steps depend on the order the factors are added in.")
    return figs, text


def _frequency(p: float | None) -> int | None:
    return None if p is None else int(round(100 * p))


def _patient_view(res) -> dict:
    r = res.report
    n = _frequency(r.risk)
    lo, hi = _frequency(r.ci_low), _frequency(r.ci_high)
    icons = []
    for k in range(100):
        icons.append("event" if n is not None and k < n else
                     "maybe" if hi is not None and k < hi else "")
    lesions = r.plaque.get("n_lesions")
    return {"patient": r.patient, "report_date": r.report_date or "not stated", "disclaimer": r.disclaimer,
            "n": n, "lo": lo, "hi": hi, "icons": icons, "years": f"{r.horizon_days / 365.25:.0f}",
            "low_confidence": r.low_confidence, "lesions": lesions,
            "cad_rads": r.cad_rads.get("text"), "pet": bool(r.pet.get("available")),
            "free_text": r.free_text, "top": [f.label for f in r.factors[:3]]}


def render_view(res, view: str = "clinician") -> str:
    """The HTML page of one view of a :class:`PatientReportResult`.

    Parameters
    ----------
    res : PatientReportResult
    view : {"clinician", "patient"}

    Returns
    -------
    str
        One self-contained HTML5 page.

    Raises
    ------
    PatientReportError
        An unknown view.

    Examples
    --------
    >>> render_view(None, "nurse")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.PatientReportError: view must be one of ('clinician', 'patient'); got 'nurse'
    """
    if view not in VIEWS:
        raise PatientReportError(f"view must be one of {VIEWS}; got {view!r}")
    if view == "clinician":
        return render("patient_clinician.html.j2", title=f"Patient risk report: {res.patient}",
                      v=_clinician_view(res)) + "\n"
    return render("patient_plain.html.j2", title=f"Your heart scan result: {res.patient}",
                  v=_patient_view(res)) + "\n"


def render_pdf(res, view: str = "clinician") -> bytes:
    """The PDF of one view of a :class:`PatientReportResult` (weasyprint; A4, the figures embedded).

    Parameters
    ----------
    res : PatientReportResult
    view : {"clinician", "patient"}

    Returns
    -------
    bytes

    Raises
    ------
    PatientReportError
        An unknown view, or weasyprint cannot be loaded (it needs the pango library).

    Examples
    --------
    >>> render_pdf(None, "nurse")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.PatientReportError: view must be one of ('clinician', 'patient'); got 'nurse'
    """
    if view not in VIEWS:
        raise PatientReportError(f"view must be one of {VIEWS}; got {view!r}")
    try:
        import weasyprint  # lazy: heavy, and it needs the system's pango
    except (ImportError, OSError) as exc:
        raise PatientReportError(f"the PDF format needs weasyprint and the pango library ({exc}); install "
                                 "them (docs/report.md) or leave out the pdf format") from exc
    return weasyprint.HTML(string=render_view(res, view)).write_pdf()
