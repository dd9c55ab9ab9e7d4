"""Reports: the HTML model report of a ``radiorisk fit`` run (TRIPOD+AI order), patient and audit reports; formats only.

Public names
------------
render_model_report, ModelReportInputs, ModelReport, ReportSection, MODEL_REPORT_SECTIONS
    The self-contained HTML model report of a RUN folder: participants,
    model specification, discrimination and the modality ladder, calibration
    overall and by group, fairness, decision curve, SHAP, automatically
    detected limitations and provenance. Gathering the inputs and writing the
    file (``radiorisk report``) is :func:`radiorisk.pipeline.build_model_report`.
report_attributes, REPORT_GROUP_ATTRIBUTES
    The group attributes the model report shows.
audit_report_html, audit_findings, audit_figures, AuditFigure
    The ``report.html`` of an audit folder: findings in plain language, figures, tables.
ReportError
    A report cannot be built (missing or incomplete RUN, audit or cohort folder).
render_patient_reports, PatientReportInputs, PatientReport, ReportFactor, PatientReportError
    The patient structured report (HTML and JSON), formatted from its computed inputs
    (computing and writing them: :func:`radiorisk.pipeline.patient_reports`,
    :func:`radiorisk.pipeline.write_patient_reports`): risk at the horizon with its 95 %
    interval, the confidence flag and its reason, the top contributing factors in plain
    words, plaque findings (burden, subtypes, high-risk features, CAD-RADS, CAC), PET
    activity and a free-text field.
PatientReportResult, LesionImage, clinician_summary, PATIENT_REPORT_FORMAT, COMPONENTS
    The report of ``radiorisk patient-report`` (computed by
    :func:`radiorisk.pipeline.run_patient_report`): the structured report, a three-sentence
    summary, the lesion images (slices with plaque components by HU class and volumes) and
    the SHAP values, rendered as the clinician view or the plain-language patient view
    (HTML with embedded figures) and as JSON format version 2.
load_guideline, guideline_context, complete_cad_rads
    The guideline context of a patient report from a versioned, attributed table (CAD-RADS 2.0
    suggestions, the user's risk bands, the low-confidence flag); CAD-RADS categories derived
    from the measurements where the scans table does not record them.
ExternalValidationInputs, render_external_validation
    The external-validation report of ``radiorisk validate-model`` (computed by
    :func:`radiorisk.pipeline.validate_model`), in the TRIPOD+AI order for validation studies.

See ``docs/report.md`` and ``docs/external_validation.md``.
"""

from ._audit import AuditFigure, audit_figures, audit_findings, audit_report_html
from ._external import ExternalValidationInputs, render_external_validation
from ._model import (
    MODEL_REPORT_SECTIONS,
    ModelReport,
    ModelReportInputs,
    ReportError,
    ReportSection,
    render_model_report,
)
from ._model_context import (
    NET_BENEFIT_THRESHOLDS,
    REPORT_GROUP_ATTRIBUTES,
    ReportExplanations,
    report_attributes,
)
from ._patient_guideline import complete_cad_rads, guideline_context, load_guideline
from ._patient_render import PatientReportInputs, render_patient_reports
from ._patient_report import REPORT_FORMAT, PatientReport, PatientReportError, ReportFactor
from ._patient_result import (
    COMPONENTS,
    PATIENT_REPORT_FORMAT,
    LesionImage,
    PatientReportResult,
    clinician_summary,
)
from ._vocab import CAC_CATEGORIES, DISCLAIMER, feature_label

__all__ = [
    "ExternalValidationInputs",
    "render_external_validation",
    "AuditFigure",
    "audit_figures",
    "audit_findings",
    "audit_report_html",
    "PatientReport",
    "PatientReportError",
    "ReportFactor",
    "PatientReportInputs",
    "render_patient_reports",
    "REPORT_FORMAT",
    "PatientReportResult",
    "LesionImage",
    "clinician_summary",
    "PATIENT_REPORT_FORMAT",
    "COMPONENTS",
    "load_guideline",
    "guideline_context",
    "complete_cad_rads",
    "CAC_CATEGORIES",
    "DISCLAIMER",
    "feature_label",
    "MODEL_REPORT_SECTIONS",
    "ModelReport",
    "ReportError",
    "ReportSection",
    "ModelReportInputs",
    "ReportExplanations",
    "render_model_report",
    "REPORT_GROUP_ATTRIBUTES",
    "NET_BENEFIT_THRESHOLDS",
    "report_attributes",
]
