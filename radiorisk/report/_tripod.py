"""The TRIPOD+AI checklist of the model report: each item, where the report addresses it, or why not.

The items are those of the TRIPOD+AI statement (Collins, Moons, Dhiman et al., BMJ 2024;385:e078378),
numbered as in its checklist, each shortened to its requirement. The model report is generated from a
``radiorisk fit`` run, so some items can only be written by the study's authors (ethics, funding,
registration, patient involvement, the clinical context): the checklist says so instead of claiming
them. Items that depend on the run (heterogeneity across clusters, sample size) are marked addressed
only when the run has what they need.
"""

from __future__ import annotations

import pandas as pd

from ._model_base import _TITLES

__all__ = ["TRIPOD_AI_ITEMS", "tripod_checklist", "TRIPOD_COLUMNS"]

_AUTHORS = "not addressed: the authors must state it (the software cannot know it)"
_SYNTH_NOTE = "study-specific; radiorisk records the data source and dates it reads"

#: ``(item, topic, requirement)`` of the TRIPOD+AI checklist (main text items 1-27).
TRIPOD_AI_ITEMS = (
    ("1", "Title", "identify the study as developing or evaluating a prediction model, the population and outcome"),
    ("2", "Abstract", "see the TRIPOD+AI for Abstracts checklist"),
    ("3a", "Background", "healthcare context and rationale, references to existing models"),
    ("3b", "Background", "target population, intended purpose in the care pathway, intended users"),
    ("3c", "Background", "known health inequalities between sociodemographic groups"),
    ("4", "Objectives", "whether the study develops or validates a model (or both)"),
    ("5a", "Data", "sources of data for development and evaluation, rationale, representativeness"),
    ("5b", "Data", "dates of participant data: accrual and end of follow-up"),
    ("6a", "Participants", "study setting, number and location of centres"),
    ("6b", "Participants", "eligibility criteria"),
    ("6c", "Participants", "treatments received and how they were handled"),
    ("7", "Data preparation", "pre-processing and quality checking, similar across sociodemographic groups"),
    ("8a", "Outcome", "definition of the outcome and the time horizon, how and when assessed"),
    ("8b", "Outcome", "qualifications and demographics of outcome assessors (subjective outcomes)"),
    ("8c", "Outcome", "blinding of outcome assessment"),
    ("9a", "Predictors", "choice of initial predictors and any pre-selection"),
    ("9b", "Predictors", "definition of all predictors, how and when measured"),
    ("9c", "Predictors", "qualifications and demographics of predictor assessors (subjective predictors)"),
    ("10", "Sample size", "how the study size was arrived at; justification and any calculation"),
    ("11", "Missing data", "how missing data were handled; reasons for omitting data"),
    ("12a", "Analytical methods", "how the data were used (development, evaluation, partitioning)"),
    ("12b", "Analytical methods", "handling of predictors (functional form, rescaling, transformation)"),
    ("12c", "Analytical methods", "type of model, model-building steps, tuning, internal validation"),
    ("12d", "Analytical methods", "heterogeneity of parameters and performance across clusters"),
    ("12e", "Analytical methods", "measures and plots of performance (discrimination, calibration, utility)"),
    ("12f", "Analytical methods", "model updating (e.g. recalibration), overall or per group or setting"),
    ("12g", "Analytical methods", "how the model predictions were calculated (formula, code, object, API)"),
    ("13", "Class imbalance", "class imbalance methods, why, and recalibration after them"),
    ("14", "Fairness", "approaches used to address model fairness and their rationale"),
    ("15", "Model output", "output of the model (probabilities, classes), thresholds and their rationale"),
    ("16", "Training versus evaluation", "differences between development and evaluation data"),
    ("17", "Ethics", "ethics committee approval and informed consent"),
    ("18a", "Open science", "funding and the role of the funders"),
    ("18b", "Open science", "conflicts of interest"),
    ("18c", "Open science", "protocol"),
    ("18d", "Open science", "registration"),
    ("18e", "Open science", "data sharing"),
    ("18f", "Open science", "code sharing"),
    ("19", "Patient and public involvement", "patient and public involvement, or none"),
    ("20a", "Participants (results)", "flow of participants, with and without the outcome, follow-up"),
    ("20b", "Participants (results)", "characteristics overall and per setting, events, follow-up, missing data"),
    ("20c", "Participants (results)", "for model evaluation, comparison with the development data"),
    ("21", "Model development", "participants and outcome events in each analysis"),
    ("22", "Model specification", "the full model (formula, code, object, API) and access restrictions"),
    ("23a", "Model performance", "performance with CIs, including key subgroups; plots"),
    ("23b", "Model performance", "heterogeneity of performance across clusters"),
    ("24", "Model updating", "results of any model updating and the updated model's performance"),
    ("25", "Interpretation", "overall interpretation, including fairness"),
    ("26", "Limitations", "limitations (non-representative sample, sample size, overfitting, missing data)"),
    ("27a", "Usability", "how poor quality or unavailable input data should be handled in use"),
    ("27b", "Usability", "whether users interact with the input data or model, expertise required"),
    ("27c", "Usability", "next steps for research, applicability and generalisability"),
)
#: Columns of :func:`tripod_checklist`.
TRIPOD_COLUMNS = ("item", "topic", "requirement", "where", "how")


def _sec(sid: str) -> str:
    return _TITLES[sid]


def tripod_checklist(*, iecv: bool = False, sample_size: bool = False, explanations: bool = True) -> pd.DataFrame:
    """The TRIPOD+AI checklist of a model report: where each item is addressed, or why not.

    Parameters
    ----------
    iecv : bool
        The run is an internal–external cross-validation (``fit --cv-by``): items 12d and 23b
        are addressed by its per-cluster table and forest plots.
    sample_size : bool
        The report has the sample-size table (item 10).
    explanations : bool
        The report has the SHAP section.

    Returns
    -------
    DataFrame
        Columns :data:`TRIPOD_COLUMNS`, one row per item of :data:`TRIPOD_AI_ITEMS`; ``where`` is a
        section title of the report, the report's header, or ``not addressed: ...`` with the reason.

    Examples
    --------
    >>> t = tripod_checklist()
    >>> len(t), t.loc[t["item"] == "17", "where"].str.startswith("not addressed").item()
    (52, True)
    >>> tripod_checklist(iecv=True).set_index("item").loc["23b", "where"]
    '2. Model specification'
    """
    part, model, disc, cal = _sec("participants"), _sec("model"), _sec("discrimination"), _sec("calibration")
    fair, dec, lim, prov = _sec("fairness"), _sec("decision-curve"), _sec("limitations"), _sec("provenance")
    expl = _sec("explanations")
    where = {
        "1": ("report header", "the title names the model kind, the blocks and MACE; the subtitle the horizon"),
        "2": (_AUTHORS, "a report is not an abstract"),
        "3a": (_AUTHORS, "the clinical rationale is the authors'"),
        "3b": (_AUTHORS, "the intended use is the authors'; the report states research use only"),
        "3c": (_AUTHORS, f"the report measures inequalities of performance ({fair}), not of health"),
        "4": ("report header", "a development study with internal validation (cross-validation)"),
        "5a": (prov, f"the cohort folder and the SHA-256 of every input; representativeness: {_SYNTH_NOTE}"),
        "5b": (part, "follow-up (reverse Kaplan–Meier median) and the horizon; accrual dates are the authors'"),
        "6a": (part, "patients by site (the site group table)"),
        "6b": (_AUTHORS, "eligibility is decided before the cohort folder is made"),
        "6c": (part, "statin treatment at baseline is a predictor (clinical block); treatments after baseline are "
                     "not modelled"),
        "7": (part, "radiorisk validate's checks (every violation named) and the modality availability by group"),
        "8a": (model, "MACE components, horizon, handling of deaths outside MACE"),
        "8b": (_AUTHORS, "outcome adjudication is outside the software"),
        "8c": (_AUTHORS, "outcome adjudication is outside the software"),
        "9a": (model, "the modality blocks and the columns of each; no univariable pre-selection unless configured"),
        "9b": (model, "every input column by block; definitions in docs/schemas.md and the data schemas"),
        "9c": (_AUTHORS, "the readers of the CCTA and PET are the site's; two-reader ICC when a second reader exists"),
        "10": ((model, "Riley et al. minimum sample size per ladder rung") if sample_size else
               ("not addressed: the run has no sample-size table", "run radiorisk samplesize")),
        "11": (part, "missing cells per block and the imputation, fitted inside each training fold"),
        "12a": (model, "all patients for development; performance by out-of-fold predictions"),
        "12b": (model, "the preprocessing steps and their parameters (imputation, scaling, selection)"),
        "12c": (model, "model kind, pipeline steps, fixed parameters or the nested search, the CV design"),
        "12d": ((model, "leave-one-cluster-out CV with random-effects pooling (iecv.csv)") if iecv else
                ("not addressed: a single-cluster analysis", "fit --cv-by site gives it")),
        "12e": (disc, f"discrimination ({disc}), calibration ({cal}), clinical utility ({dec})"),
        "12f": ("not addressed: no updating at development", "external updating is radiorisk validate-model"),
        "12g": (prov, "the model bundle (its files and SHA-256) and radiorisk predict"),
        "13": ("not addressed: no class imbalance method is used", "survival models on all patients"),
        "14": (fair, "per-group performance with CIs, contrasts and flags; mitigation is separate (radiorisk audit)"),
        "15": (model, "the probability of MACE by the horizon; the fairness threshold is stated in its section"),
        "16": ("not addressed: a development report", "external validation: radiorisk validate-model's report"),
        "17": (_AUTHORS, "ethics approval is the authors'"),
        "18a": (_AUTHORS, "funding is the authors'"),
        "18b": (_AUTHORS, "conflicts of interest are the authors'"),
        "18c": (_AUTHORS, "the protocol is the authors'"),
        "18d": (_AUTHORS, "registration is the authors'"),
        "18e": (_AUTHORS, "data sharing is the authors'; the report carries no patient identifiers"),
        "18f": (prov, "software versions; radiorisk is open source"),
        "19": (_AUTHORS, "patient involvement is the authors'"),
        "20a": (part, "patients, events by the horizon, censored before it, follow-up"),
        "20b": (part, "characteristics, events and missing data by group and block"),
        "20c": ("not addressed: a development report", "radiorisk validate-model compares the case mix"),
        "21": (disc, "patients and events of each ladder rung and of the audit"),
        "22": (prov, "the bundle is the full model (loadable with radiorisk.models.load)"),
        "23a": (disc, f"C, td-AUC and O/E with CIs overall and by group ({cal}, {fair})"),
        "23b": ((model, "per-cluster performance, pooled estimates and prediction intervals, forest plots") if iecv
                else ("not addressed: a single-cluster analysis", "fit --cv-by site gives it")),
        "24": ("not addressed: no updating at development", "radiorisk validate-model reports updating"),
        "25": (lim, "the summary and the automatic findings; the interpretation in context is the authors'"),
        "26": (lim, "limitations detected automatically (events per group, extrapolation, sample size, ...)"),
        "27a": (prov, "radiorisk predict refuses missing columns and scores out-of-distribution inputs"),
        "27b": (expl if explanations else _AUTHORS, "explanations of individual predictions; expertise is the "
                                                   "authors' to state"),
        "27c": (_AUTHORS, "next steps are the authors'"),
    }
    rows = [(item, topic, req, *where[item]) for item, topic, req in TRIPOD_AI_ITEMS]
    return pd.DataFrame(rows, columns=list(TRIPOD_COLUMNS))
