"""Reports: the HTML model report of a ``radiorisk fit`` run (TRIPOD+AI order); formats only.

Public names
------------
build_model_report, collect_model_report, ModelReport, ReportSection, MODEL_REPORT_SECTIONS
    The self-contained HTML model report of a RUN folder: participants,
    model specification, discrimination and the modality ladder, calibration
    overall and by group, fairness, decision curve, SHAP, automatically
    detected limitations and provenance (``radiorisk report``).
ReportError
    A report cannot be built (missing or incomplete RUN, audit or cohort folder).
patient_reports, write_patient_reports, PatientReport, ReportFactor, PatientReportError
    The patient structured report (HTML and JSON): risk at the horizon with its 95 %
    interval, the confidence flag and its reason, the top contributing factors in plain
    words, plaque findings (burden, subtypes, high-risk features, CAD-RADS, CAC), PET
    activity and a free-text field.

See ``docs/report.md``.
"""

from ._model import (
    MODEL_REPORT_SECTIONS,
    ModelReport,
    ReportError,
    ReportSection,
    build_model_report,
    collect_model_report,
)
from ._patient import (
    PatientReport,
    PatientReportError,
    ReportFactor,
    patient_reports,
    write_patient_reports,
)

__all__ = [
    "PatientReport",
    "PatientReportError",
    "ReportFactor",
    "patient_reports",
    "write_patient_reports",
    "MODEL_REPORT_SECTIONS",
    "ModelReport",
    "ReportError",
    "ReportSection",
    "build_model_report",
    "collect_model_report",
]
