"""Pipeline: the bodies of ``radiorisk fit``, ``audit`` and ``demo`` as library functions, with provenance.

The layer between the computing layers and the command line: it reads folders,
orchestrates ``io -> imaging -> features -> models -> evaluation -> explain``,
and writes run folders atomically with their provenance. :mod:`radiorisk.cli`
only parses arguments and prints messages around these functions.

Public names
------------
run_fit, FitRun
    Validate a cohort folder, cross-validate, climb the modality ladder, refit the final
    model and write a RUN folder (``radiorisk fit``).
pseudonymiser
    Resolve the id key of a run (or the raw-ids opt-out); refuses a key file inside the run.
iecv_summary, IECVSummary, IECV_COLUMNS
    Internal–external cross-validation (``run_fit(cv_by=...)``): per-cluster performance and its
    random-effects pooling with the prediction interval for a new cluster (``RUN/iecv.csv``).
run_audit, read_predictions, Predictions, write_audit_outputs
    Audit a predictions file and write the audit folder (``radiorisk audit``).
build_model_report, collect_model_report
    Gather a RUN's inputs (its audit computed when it has none) and write the HTML model
    report (``radiorisk report``).
predict_cohort, PredictRun
    Apply a saved model to a cohort folder: its blocks (radiomics with the bundle's preset),
    every missing column named, risks, group columns and an out-of-distribution score
    (``radiorisk predict``).
validate_model, ExternalValidation, update_risks, ModelUpdate
    External validation of a saved model on a new cohort: predictions, the full audit by sex,
    ethnicity, site, vendor and detector, transport diagnostics against the development cohort,
    model updating chosen by a closed test, and the TRIPOD+AI-ordered report
    (``radiorisk validate-model``).
run_patient_report, PatientReportRun
    Patient reports from a bundle and a cohort folder: clinician and patient views (HTML, PDF),
    JSON and DICOM SR per patient (``radiorisk patient-report``).
patient_reports, write_patient_reports
    Patient structured reports: risk with its interval, confidence, reasons (SHAP) and
    findings, computed and written as HTML and JSON.
run_robustness, RobustnessResult
    Perturbation stability of every radiomic feature (MIRP-style perturbations, ICC(2,1)/ICC(3,1)
    with CIs, merged with the reader ICC; ``radiorisk robustness``).
run_demo, DemoResult, cohort_summary
    The whole flow on a synthetic cohort (``radiorisk demo``).
ConsoleProgress, console_progress
    Renders the ``progress(step, done, total)`` callbacks of the long steps on stderr
    (tqdm bars on a terminal, one summary line per finished step).
"""

from ._audit import Predictions, read_predictions, run_audit, write_audit_outputs
from ._demo import DemoResult, cohort_summary, run_demo
from ._external import ExternalValidation, validate_model
from ._fit import FitRun, run_fit
from ._iecv import IECV_COLUMNS, IECVSummary, iecv_summary
from ._model_report import build_model_report, collect_model_report
from ._patient import patient_reports, write_patient_reports
from ._patient_run import PatientReportRun, run_patient_report
from ._predict import PredictRun, predict_cohort
from ._progress import ConsoleProgress, console_progress
from ._provenance import pseudonymiser
from ._robustness import RobustnessResult, run_robustness
from ._updating import ModelUpdate, update_risks

__all__ = [
    "FitRun",
    "run_fit",
    "IECVSummary",
    "iecv_summary",
    "IECV_COLUMNS",
    "pseudonymiser",
    "Predictions",
    "read_predictions",
    "run_audit",
    "write_audit_outputs",
    "build_model_report",
    "collect_model_report",
    "PredictRun",
    "predict_cohort",
    "ExternalValidation",
    "validate_model",
    "ModelUpdate",
    "update_risks",
    "patient_reports",
    "write_patient_reports",
    "PatientReportRun",
    "run_patient_report",
    "RobustnessResult",
    "run_robustness",
    "DemoResult",
    "cohort_summary",
    "run_demo",
    "ConsoleProgress",
    "console_progress",
]
