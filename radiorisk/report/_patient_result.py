"""The patient report of ``radiorisk patient-report``: one result object, two views, one JSON document.

:class:`PatientReportResult` holds everything the report states, computed once by
:func:`radiorisk.pipeline.run_patient_report`: the structured report
(:class:`PatientReport`: risk, interval, confidence, factors, findings, comment), the
lesion images (:class:`LesionImage`: orthogonal slices through each imaged lesion with
its plaque components by HU class and its measured volumes), the patient's SHAP
values and the provenance.  :meth:`PatientReportResult.to_html` renders the clinician
view (the summary, the lesion panels, the SHAP waterfall on the risk scale and on the
model's scale) or the patient view from the same object; :meth:`~PatientReportResult.to_json`
writes format version 2 of ``radiorisk-patient-report`` (``data_schemas/patient_report.schema.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import PatientReportError
from ._patient_report import REPORT_FORMAT, PatientReport
from ._patient_values import _clean, _fmt, _horizon_text, _pct, _signed_pp
from ._patient_views import render_pdf, render_view
from ._vocab import feature_label

__all__ = ["LesionImage", "PatientReportResult", "PATIENT_REPORT_FORMAT", "COMPONENTS", "clinician_summary"]

#: Format name and version of the JSON written by ``radiorisk patient-report``.
PATIENT_REPORT_FORMAT = (REPORT_FORMAT[0], 2)
#: Plaque component codes of :attr:`LesionImage.components` (0: not plaque).
COMPONENTS = ((1, "low_attenuation", "low-attenuation"), (2, "fibrofatty", "fibro-fatty"),
              (3, "fibrous", "fibrous"), (4, "calcified", "calcified"))
VIEWS = ("axial", "coronal", "sagittal")


@dataclass(frozen=True, eq=False)
class LesionImage:
    """Orthogonal slices through the centre of one imaged lesion, with its components and volumes.

    Attributes
    ----------
    lesion : str
        The lesion as the report names it (``"lesion 2"`` when pseudonymised, else its id).
    vessel : str or None
    hu : tuple of 3 ndarray
        CT values (HU) of the axial, coronal and sagittal slices (array planes
        z, y and x through the centre), cropped around the lesion.
    plaque : tuple of 3 ndarray of bool
        The lesion's mask (its plaque labels) on each slice.
    components : tuple of 3 ndarray of int8
        Plaque component of each pixel by HU class (:data:`COMPONENTS`; 0 outside the plaque).
    pixel_mm : tuple of 3 (float, float)
        Pixel size (rows, columns) of each slice in mm.
    centre_voxel : tuple of 3 int
        The slice position: the plaque centroid, voxel indices (z, y, x).
    measurements : dict
        :func:`radiorisk.imaging.plaque_metrics` of the lesion (volumes in mm³, burden in %).
    thresholds : dict
        The HU thresholds of the components (``lap_hu``, ``fibrofatty_hu``, ``calcified_hu``).
    heatmap : tuple of 3 ndarray, optional
        A voxel-based radiomic feature map (:func:`radiorisk.imaging.voxel_feature_maps`) on the same
        three slices, NaN outside the mapped region (the lesion and a margin); None: no map.
    heatmap_feature : str, optional
        The pyradiomics name of the mapped feature (with ``heatmap``).

    Examples
    --------
    >>> z = np.zeros((4, 4))
    >>> li = LesionImage(lesion="lesion 1", vessel="LAD", hu=(z, z, z), plaque=(z > 0,) * 3,
    ...                  components=(z.astype(np.int8),) * 3, pixel_mm=((0.5, 0.5),) * 3,
    ...                  centre_voxel=(2, 2, 2), measurements={"v_total_mm3": 1.0},
    ...                  thresholds={"lap_hu": 30.0, "fibrofatty_hu": 130.0, "calcified_hu": 350.0})
    >>> li.to_dict()["views"]
    ['axial', 'coronal', 'sagittal']
    """

    lesion: str
    vessel: str | None
    hu: tuple
    plaque: tuple
    components: tuple
    pixel_mm: tuple
    centre_voxel: tuple
    measurements: dict
    thresholds: dict
    heatmap: tuple | None = None
    heatmap_feature: str | None = None

    def __post_init__(self):
        for name in ("hu", "plaque", "components", "pixel_mm"):
            if len(getattr(self, name)) != len(VIEWS):
                raise PatientReportError(f"LesionImage.{name} must hold {len(VIEWS)} views {VIEWS}")
        for k, (h, p, c) in enumerate(zip(self.hu, self.plaque, self.components, strict=True)):
            if not (np.shape(h) == np.shape(p) == np.shape(c)) or np.ndim(h) != 2:
                raise PatientReportError(f"LesionImage {self.lesion!r}: the {VIEWS[k]} slice, mask and "
                                         "components must be 2-D arrays of one shape")
        if self.heatmap is not None:
            if self.heatmap_feature is None or len(self.heatmap) != len(VIEWS) or any(
                    np.shape(m) != np.shape(h) for m, h in zip(self.heatmap, self.hu, strict=True)):
                raise PatientReportError(f"LesionImage {self.lesion!r}: a heatmap needs its feature name and "
                                         f"{len(VIEWS)} slices of the CT slices' shapes")

    def component_pixels(self) -> dict:
        """Pixels of each component on each view: ``{view: {component: count}}``.

        Examples
        --------
        >>> c = np.array([[0, 1], [4, 4]], np.int8)
        >>> li = LesionImage(lesion="l", vessel=None, hu=(c * 1.0,) * 3, plaque=(c > 0,) * 3, components=(c,) * 3,
        ...                  pixel_mm=((1.0, 1.0),) * 3, centre_voxel=(0, 0, 0), measurements={}, thresholds={})
        >>> li.component_pixels()["axial"]
        {'low_attenuation': 1, 'fibrofatty': 0, 'fibrous': 0, 'calcified': 2}
        """
        return {v: {name: int((c == code).sum()) for code, name, _ in COMPONENTS}
                for v, c in zip(VIEWS, self.components, strict=True)}

    def to_dict(self) -> dict:
        """The lesion panel as JSON-safe data (the measurements and slice geometry, not the pixels)."""
        return _clean({"lesion": self.lesion, "vessel": self.vessel, "views": list(VIEWS),
                       "centre_voxel_zyx": list(self.centre_voxel),
                       "slice_shape": [list(np.shape(h)) for h in self.hu],
                       "pixel_mm": [list(p) for p in self.pixel_mm],
                       "component_pixels": self.component_pixels(),
                       "measurements": self.measurements, "thresholds_hu": self.thresholds,
                       **({} if self.heatmap is None else {"heatmap": self._heatmap_dict()})})

    def _heatmap_dict(self) -> dict:
        v = np.concatenate([np.ravel(m) for m in self.heatmap])
        v = v[np.isfinite(v)]
        return {"feature": self.heatmap_feature, "pixels": int(v.size),
                "min": float(v.min()) if v.size else None, "max": float(v.max()) if v.size else None}


def _factor_words(r: PatientReport, k: int = 3) -> str:
    ups = list(r.factors[:k])
    if not ups:
        return "No contributing factor is available for this prediction."
    parts = [f"{f.label} ({f.value_text}) {f.direction} ({_signed_pp(f.risk_change)})" for f in ups]
    return "Main drivers: " + "; ".join(parts) + "."


def _plaque_words(r: PatientReport) -> str:
    p, c, q = r.plaque, r.cad_rads, r.pet
    parts = [(c.get("text") or "CAD-RADS not available")
             + (" (derived from the measurements)" if c.get("derived") else "")]
    nh = p.get("n_high_risk_lesions")
    hrp = c.get("hrp_modifier")
    if nh is not None:
        parts.append(f"high-risk plaque in {int(nh)} lesion(s)" if nh else "no high-risk plaque lesion")
    elif hrp is not None:
        parts.append("high-risk plaque present" if hrp else "no high-risk plaque")
    lapb = p.get("low_attenuation_plaque_burden_pct")
    if lapb is not None:
        parts.append(f"low-attenuation plaque burden {_fmt(lapb)} % "
                     f"({'above' if lapb > 4 else 'not above'} 4 %)")
    else:
        parts.append("low-attenuation plaque burden not available")
    parts.append("PET: " + (q.get("interpretation") or "not available"))
    return "Plaque findings: " + "; ".join(parts) + "."


def clinician_summary(r: PatientReport) -> tuple[str, str, str]:
    """The three sentences at the top of the clinician view: risk, drivers, plaque findings.

    Examples
    --------
    >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.12,
    ...                   ci_low=0.08, ci_high=0.17, ci_level=0.95, low_confidence=False,
    ...                   confidence_reason="", factors=())
    >>> clinician_summary(r)[0]
    'Estimated risk of MACE within 5 years (1826 days): 12.0 % (95 % interval 8.0 % to 17.0 %).'
    """
    risk = f"Estimated risk of MACE within {_horizon_text(r.horizon_days)}: {_pct(r.risk)}"
    if r.ci_low is not None and r.ci_high is not None:
        risk += f" ({100 * (r.ci_level or 0.95):g} % interval {_pct(r.ci_low)} to {_pct(r.ci_high)})"
    if r.low_confidence:
        risk += f"; low confidence: {r.confidence_reason}"
    elif r.low_confidence is None:
        risk += "; confidence not assessed"
    return risk.rstrip(".") + ".", _factor_words(r), _plaque_words(r)


@dataclass(frozen=True, eq=False)
class PatientReportResult:
    """One patient's report, computed once; rendered as the clinician or the patient view and as JSON.

    Attributes
    ----------
    report : PatientReport
        Risk, interval, confidence, factors, findings, comment.
    summary : tuple of 3 str
        :func:`clinician_summary` of ``report``.
    lesion_images : tuple of LesionImage
        One per imaged lesion of the patient (manifest rows).
    image_notes : tuple of str
        Lesions of the manifest that could not be shown, and why.
    shap : ShapResult
        The patient's SHAP values (one row, indexed by the printed identifier).
    horizon_days : float
    provenance : dict
        Who and when (``author``, ``created_utc``), the model bundle and its digest, the command.
    guideline : dict
        :func:`radiorisk.report.guideline_context` of ``report`` (empty: not shown).
    dicom_evidence : tuple of pydicom.Dataset
        Headers of the source CT series (DICOM input and raw ids only): the SR references
        them and takes the patient and study from them.  Never written to JSON or HTML.
    """

    report: PatientReport
    summary: tuple
    lesion_images: tuple = ()
    image_notes: tuple = ()
    shap: object = field(default=None, repr=False)
    horizon_days: float = float("nan")
    provenance: dict = field(default_factory=dict)
    guideline: dict = field(default_factory=dict)
    dicom_evidence: tuple = field(default=(), repr=False)

    @property
    def patient(self) -> str:
        """The printed identifier (its pseudonym unless raw ids were asked for)."""
        return self.report.patient

    def explanation(self) -> dict:
        """The SHAP values of the patient on the model's scale and on the risk scale (JSON-safe).

        Examples
        --------
        >>> import pandas as pd
        >>> from radiorisk.explain import ShapResult
        >>> x = pd.DataFrame({"age_years": [70.0]}, index=["pz_1"])
        >>> shap = ShapResult(values=np.array([[0.3]]), base_value=-0.1, data=x, feature_names=("age_years",),
        ...                   blocks=("clinical",), scale="log-hazard", model_kind="coxph", method="linear",
        ...                   background="the training cohort")
        >>> r = PatientReport(patient="pz_1", horizon_days=1826.0, outcome="MACE", risk=0.05, ci_low=None,
        ...                   ci_high=None, ci_level=None, low_confidence=None, confidence_reason="", factors=())
        >>> ex = PatientReportResult(report=r, summary=clinician_summary(r), shap=shap).explanation()
        >>> ex["base_value"], round(ex["margin"], 6), ex["contributions"][0]["label"]
        (-0.1, 0.2, 'age')
        """
        res = self.shap
        if res is None:
            return {}
        steps = res.risk_contributions(horizon=self.horizon_days) if res.link is not None else None
        change = {} if steps is None else dict(zip(steps["feature"], steps["risk_change"], strict=False))
        vals = res.values[0]
        order = np.argsort(-np.abs(vals), kind="stable")
        base_risk = None if steps is None else float(steps["risk"].iloc[0])
        return _clean({
            "scale": res.scale, "method": res.method, "background": res.background,
            "base_value": float(res.base_value), "margin": float(res.margin[0]),
            "base_risk": base_risk, "risk": self.report.risk,
            "base_value_meaning": (f"the model's average {res.scale} over {res.background}"
                                   + ("" if base_risk is None else
                                      f"; on the risk scale, {_pct(base_risk)} by {self.horizon_days:g} days")),
            "contributions": [{"feature": res.feature_names[j], "label": feature_label(res.feature_names[j]),
                               "block": res.blocks[j],
                               "shap": float(vals[j]), "risk_change": change.get(res.feature_names[j])}
                              for j in order if vals[j] != 0.0]})

    def to_dict(self) -> dict:
        """Format version 2: the fields of :meth:`PatientReport.to_dict` plus summary, images,
        explanation and provenance.

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
        ...                   confidence_reason="", factors=())
        >>> d = PatientReportResult(report=r, summary=clinician_summary(r)).to_dict()
        >>> d["format_version"], len(d["summary"]), d["lesion_images"]
        (2, 3, [])
        """
        out = self.report.to_dict()
        out["format_version"] = PATIENT_REPORT_FORMAT[1]
        out.update(summary=list(self.summary), lesion_images=[li.to_dict() for li in self.lesion_images],
                   image_notes=list(self.image_notes), explanation=self.explanation(),
                   guideline_context=_clean(self.guideline), provenance=_clean(self.provenance))
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """Strict JSON of :meth:`to_dict` (missing values are ``null``).

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05, ci_low=None,
        ...                   ci_high=None, ci_level=None, low_confidence=None, confidence_reason="", factors=())
        >>> '"format_version": 2' in PatientReportResult(report=r, summary=clinician_summary(r)).to_json()
        True
        """
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def to_html(self, view: str = "clinician") -> str:
        """One self-contained HTML page: ``view="clinician"`` or ``"patient"``.

        Figures are PNG ``data:`` URIs; the page loads nothing else.

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
        ...                   confidence_reason="", factors=())
        >>> page = PatientReportResult(report=r, summary=clinician_summary(r)).to_html()
        >>> "Estimated risk of MACE" in page and "http" not in page.split("<body")[1]
        True
        """
        return render_view(self, view)

    def to_pdf(self, view: str = "clinician") -> bytes:
        """The PDF of a view (:meth:`to_html` laid out on A4 pages by weasyprint).

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
        ...                   confidence_reason="", factors=())
        >>> PatientReportResult(report=r, summary=clinician_summary(r)).to_pdf()[:5]
        b'%PDF-'
        """
        return render_pdf(self, view)

    def to_sr(self):
        """The DICOM Structured Report (TID 1500 measurement report) of the lesion measurements and the risk.

        Returns
        -------
        highdicom.sr.Comprehensive3DSR
            See :func:`radiorisk.report._patient_sr.patient_sr`.
        """
        from ._patient_sr import patient_sr  # lazy: highdicom is slow to import

        return patient_sr(self)
