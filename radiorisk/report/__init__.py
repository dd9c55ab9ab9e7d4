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
patient_reports, write_patient_reports, PatientReport, ReportFactor, PatientReportError
    The patient structured report (HTML and JSON): risk at the horizon with its 95 %
    interval, the confidence flag and its reason, the top contributing factors in plain
    words, plaque findings (burden, subtypes, high-risk features, CAD-RADS, CAC), PET
    activity and a free-text field.

See ``docs/report.md``.
"""

from ._audit import AuditFigure, audit_figures, audit_findings, audit_report_html
from ._model import (
    MODEL_REPORT_SECTIONS,
    ModelReport,
    ModelReportInputs,
    ReportError,
    ReportSection,
    render_model_report,
)
from ._model_context import REPORT_GROUP_ATTRIBUTES, report_attributes
from ._patient import (
    PatientReport,
    PatientReportError,
    ReportFactor,
    patient_reports,
    write_patient_reports,
)

__all__ = [
    "AuditFigure",
    "audit_figures",
    "audit_findings",
    "audit_report_html",
    "PatientReport",
    "PatientReportError",
    "ReportFactor",
    "patient_reports",
    "write_patient_reports",
    "MODEL_REPORT_SECTIONS",
    "ModelReport",
    "ReportError",
    "ReportSection",
    "ModelReportInputs",
    "render_model_report",
    "REPORT_GROUP_ATTRIBUTES",
    "report_attributes",
]
