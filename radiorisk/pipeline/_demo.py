"""The end-to-end demo behind ``radiorisk demo`` and ``make demo``.

It synthesises a chest-pain cohort with plaque images and an injected ethnicity
bias (baseline MI hazard x1.8 in South Asian patients), validates it, measures
the plaque in the images, fits the modality ladder clinical -> +ccta -> +radiomics
with cross-validation (radiomics extracted from the images), audits the
out-of-fold risk by sex and ethnicity, and writes a report folder: the HTML model
report (TRIPOD+AI order, with SHAP explanations) and structured reports (HTML and
JSON) of three patients. Identifiers in every output except the synthetic input
folder are pseudonymised (docs/privacy.md).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..datasets import write_synthetic_cohort
from ..features import assemble_cohort
from ..imaging import measure_plaque, patient_plaque_summary
from ..io import read_cohort, validate
from ..models import load
from ..privacy import Pseudonymiser, cohort_ids
from ..stats import DEFAULT_HORIZON_DAYS
from ._audit import run_audit
from ._fit import run_fit
from ._model_inputs import per_patient
from ._model_report import build_model_report
from ._patient import patient_reports, write_patient_reports

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where it wrote it."""

    out: Path
    ok: bool
    steps: tuple[tuple[str, float], ...]
    cohort_summary: pd.DataFrame = field(compare=False)
    validation: str = ""
    ladder: pd.DataFrame | None = field(default=None, compare=False)
    audit: pd.DataFrame | None = field(default=None, compare=False)
    fit: object = field(default=None, compare=False, repr=False)
    report: Path | None = None
    patient_reports: tuple[Path, ...] = ()

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk demo``."""
        lines = ["radiorisk demo", ""]
        lines += [f"  {name:<28s} {secs:7.1f} s" for name, secs in self.steps]
        lines += ["", "Cohort by group (n, MACE events, PET available):", ""]
        lines += ["  " + ln for ln in self.cohort_summary.to_string(index=False).splitlines()]
        lines += ["", f"validation: {self.validation.splitlines()[-1] if self.validation else '-'}"]
        if self.ladder is not None:
            c = self.ladder[(self.ladder["metric"] == "harrell_c")]
            lines += ["", "Modality ladder (Harrell C, out-of-fold, 95 % CI):"]
            lines += [f"  {r.rung:<12s} {r.estimate:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})" for r in c.itertuples()]
        if self.audit is not None:
            oe = self.audit[(self.audit["metric"] == "oe_ratio_t") & (self.audit["attribute"] == "ethnicity")]
            lines += ["", "Observed/expected MACE by ethnicity (1 = calibrated; bias injected in south_asian):"]
            lines += [f"  {r.group:<12s} {r.estimate:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})" for r in oe.itertuples()]
            lines += [f"  audit report: {(self.out / 'audit' / 'report.html').resolve()}"]
        if self.patient_reports:
            lines += ["", f"Patient structured reports (HTML + JSON): {self.patient_reports[0].parent.resolve()}"]
        lines += ["", f"Results are in {self.out.resolve()}"]
        if self.report is not None:
            lines += [f"The model report is {Path(self.report).resolve()}"]
        return "\n".join(lines)


def cohort_summary(patients: pd.DataFrame, outcomes: pd.DataFrame, pet: pd.DataFrame) -> pd.DataFrame:
    """Participants, MACE events and PET availability overall, by sex and by ethnicity group.

    Parameters
    ----------
    patients, outcomes, pet : DataFrame
        Tables of a cohort folder (see :func:`radiorisk.io.read_cohort`).

    Returns
    -------
    DataFrame
        Columns ``attribute, group, n, events, event_pct, pet_available_pct``.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> c = simulate_cohort(300, seed=2)
    >>> cohort_summary(c.patients, c.outcomes, c.pet).iloc[0]["attribute"]
    'overall'
    """
    df = patients[["patient_id", "sex", "ethnicity_group5"]].merge(
        outcomes[["patient_id", "mace_event"]], on="patient_id", how="left"
    )
    pet_av = pet[["patient_id", "pet_available"]] if len(pet) else pd.DataFrame(
        {"patient_id": [], "pet_available": []}
    )
    df = df.merge(pet_av, on="patient_id", how="left")
    df["pet_available"] = df["pet_available"].fillna(False).astype(bool)
    df["mace_event"] = df["mace_event"].fillna(False).astype(bool)
    rows = []

    def add(attribute: str, group: str, sub: pd.DataFrame) -> None:
        rows.append(
            {
                "attribute": attribute,
                "group": group,
                "n": len(sub),
                "events": int(sub["mace_event"].sum()),
                "event_pct": round(100 * sub["mace_event"].mean(), 1) if len(sub) else float("nan"),
                "pet_available_pct": round(100 * sub["pet_available"].mean(), 1) if len(sub) else float("nan"),
            }
        )

    add("overall", "all", df)
    for attribute, col in (("sex", "sex"), ("ethnicity", "ethnicity_group5")):
        for g, sub in df.groupby(col, sort=True):
            add(attribute, str(g), sub)
    return pd.DataFrame(rows)


def run_demo(out="demo_output", *, quick: bool = False, seed: int = 1, progress: bool = True) -> DemoResult:
    """Run the demo and write its outputs under ``out``.

    Parameters
    ----------
    out : str or Path
        Output folder (created; an existing demo folder is replaced).
    quick : bool
        A small, fast version for CI (400 patients, 20 lesion images).
    seed : int
        Seed of the synthetic cohort.
    progress : bool
        Show progress bars.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import tempfile
    >>> res = run_demo(tempfile.mkdtemp(), quick=True, progress=False)  # doctest: +SKIP
    >>> res.ok  # doctest: +SKIP
    True
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pz = Pseudonymiser.from_options()  # RADIORISK_ID_KEY, else ~/.config/radiorisk/id_key (docs/privacy.md)
    steps = []
    n, k = (400, 20) if quick else (2000, 200)
    repeats, folds, n_boot = (1, 3, 50) if quick else (2, 5, 200)

    t0 = time.perf_counter()
    data_dir = out / "data"
    write_synthetic_cohort(
        data_dir, n=n, mode="chest-pain", images=k, seed=seed, bias="south_asian_baseline_hr", overwrite=True,
        progress=progress,
    )
    steps.append((f"synthesise ({n} patients, {k} images)", time.perf_counter() - t0))

    t0 = time.perf_counter()
    report = validate(data_dir)
    steps.append(("validate", time.perf_counter() - t0))
    text = report.format(max_lines=50)
    (out / "validation.txt").write_text(text + "\n", encoding="utf-8")

    cohort = read_cohort(data_dir, validate=False)
    summary = cohort_summary(cohort.patients, cohort.outcomes, cohort.pet)
    summary.to_csv(out / "cohort_summary.csv", index=False, lineterminator="\n")

    t0 = time.perf_counter()
    plaque, plaque_failures = measure_plaque(data_dir / "manifest.csv")
    (out / "plaque").mkdir(exist_ok=True)
    pz.frame(plaque).to_csv(out / "plaque" / "lesions.csv", index=False, lineterminator="\n")
    pz.frame(patient_plaque_summary(plaque)).to_csv(out / "plaque" / "patients.csv", lineterminator="\n")
    steps.append((f"measure plaque ({len(plaque)} lesions)", time.perf_counter() - t0))

    t0 = time.perf_counter()
    run = run_fit(
        data_dir, out / "run", model="coxph", blocks=["clinical", "ccta", "radiomics"], horizon=DEFAULT_HORIZON_DAYS,
        repeats=repeats, folds=folds, seed=seed, n_jobs=2, n_boot=n_boot,
        params={"penalizer": 0.1, "screen_k": 20}, overwrite=True, id_key=pz,
    )
    steps.append((f"radiomics + ladder (coxph, {repeats}x{folds} CV)", time.perf_counter() - t0))
    ladder = pd.read_csv(out / "run" / "ladder.csv")

    t0 = time.perf_counter()
    oof = pd.read_csv(out / "run" / "oof_predictions.csv", dtype={"patient_id": str})
    preds = per_patient(oof)[["risk", "time", "event", "sex", "ethnicity"]].reset_index(drop=True)  # no id
    preds.to_csv(out / "predictions.csv", index=False, lineterminator="\n")
    run_audit(out / "predictions.csv", out / "audit", risk_col="risk", time_col="time", event_col="event",
              horizon=DEFAULT_HORIZON_DAYS, groups=["sex", "ethnicity"], n_boot=n_boot, seed=seed, top_k=10)
    steps.append((f"audit by sex and ethnicity (B={n_boot})", time.perf_counter() - t0))
    audit = pd.read_csv(out / "audit" / "metrics.csv", dtype={"group": str})

    t0 = time.perf_counter()
    report_dir = out / "report"
    model_report, patients = _reports(out, data_dir, cohort, pz, report_dir, n_boot=n_boot, seed=seed,
                                      quick=quick)
    steps.append(("model report + patient reports", time.perf_counter() - t0))

    (out / "demo.json").write_text(
        json.dumps({"n": n, "images": k, "seed": seed, "valid": bool(report.ok)}, indent=2) + "\n"
    )
    return DemoResult(out=out, ok=bool(report.ok), steps=tuple(steps), cohort_summary=summary,
                      validation=text, ladder=ladder, audit=audit, fit=run, report=model_report,
                      patient_reports=patients)


def _reports(out: Path, data_dir: Path, cohort, pz, report_dir: Path, *, n_boot: int, seed: int,
             quick: bool) -> tuple[Path, tuple[Path, ...]]:
    """The HTML model report of the run and structured reports of three patients (pseudonymised)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    model_report = build_model_report(out / "run", report_dir / "model_report.html", data=data_dir,
                                      audit=out / "audit", n_boot=n_boot, seed=seed)
    # the final model's features: the run's radiomics table carries pseudonyms; link them back
    radiomics = pz.link_back(pd.read_parquet(out / "run" / "radiomics" / "features.parquet"), cohort_ids(cohort))
    data = assemble_cohort(cohort, radiomics=radiomics, horizon=DEFAULT_HORIZON_DAYS)
    model = load(out / "run" / "model")
    risk = pd.Series(model.predict_risk(data.X), index=data.X.index)
    imaged = risk[risk.index.isin(set(cohort.manifest["patient_id"].astype(str)))]
    pick = imaged if len(imaged) >= 3 else risk
    order = pick.sort_values()
    chosen = list(dict.fromkeys([order.index[-1], order.index[len(order) // 2], order.index[0]]))
    with warnings.catch_warnings():  # small bootstrap refits of a penalised Cox may not converge fully
        warnings.simplefilter("ignore")
        reports = patient_reports(
            model, data, chosen, tables=cohort, X_train=data.X, y_train=data.y, n_boot=5 if quick else 20,
            pseudonyms=pz.mapping(chosen), random_state=seed,
            free_text="Synthetic patient from radiorisk demo; not a real person.",
            provenance={"run": "demo", "model": "coxph clinical+ccta+radiomics"},
        )
    written = write_patient_reports(reports, report_dir / "patients")
    return model_report, tuple(Path(p) for p in written["path"])
