"""The body of ``radiorisk validate-model``: external validation of a saved model on a new cohort.

:func:`validate_model` predicts the new cohort with the bundle
(:func:`radiorisk.pipeline.predict_cohort`: every check of ``radiorisk predict``),
audits the predictions overall and by sex, ethnicity, site and vendor
(:class:`radiorisk.evaluation.SubgroupAudit`, written by
:func:`radiorisk.pipeline.write_audit_outputs` into ``OUT/audit/``), computes the
transport diagnostics against the development cohort
(:func:`radiorisk.evaluation.transport_diagnostics`: from the bundle's
training summaries, and from the development patients themselves when the development
cohort folder is given), and writes the external-validation report
(:func:`radiorisk.report.render_external_validation`, in the TRIPOD+AI order for
validation studies). The result is an :class:`ExternalValidation`.

The folder ``OUT``::

    predictions.csv, predictions.provenance.json     the new cohort's risks (as radiorisk predict)
    development_predictions.csv (+ .provenance.json) the development cohort's, when given
    audit/                                           the full audit (metrics.csv, ..., report.html)
    performance.csv                                  overall performance, development beside validation
    transport.csv, transport_smd.csv, transport_blocks.csv
    updating.csv, updating_tests.csv                 recalibration on the new cohort (unless update=None)
    updated_model/                                   the recalibrated bundle, when an update was chosen
    refit/                                           update="refit": the fit run on the new cohort
    report.html                                      the external-validation report
    provenance.json                                  written last

Errors name the parameters of :func:`validate_model`; the command line names its flags.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_csv, atomic_write_text, sha256_file
from .._html import repr_html
from ..evaluation import SubgroupAudit, TransportDiagnostics, transport_diagnostics
from ..exceptions import ModelError
from ..features import index_scans
from ..io import read_cohort
from ..models import ModelRecalibration, is_competing, load, load_requirements
from ..privacy import ID_COLUMNS
from ..report import ExternalValidationInputs, render_external_validation
from ._audit import DEFAULT_AUDIT_SEED, write_audit_outputs
from ._fit import IMPUTE_DEFAULT, run_fit
from ._predict import PredictRun, load_bundle, predict_cohort
from ._provenance import versions, write_json
from ._updating import UPDATE_METHODS, ModelUpdate, judge_risks, update_risks

__all__ = ["ExternalValidation", "validate_model", "PERFORMANCE_COLUMNS", "DEFAULT_GROUPS"]

#: The audit's group columns, when the cohort has them (``detector``: energy-integrating or photon-counting CT).
DEFAULT_GROUPS = ("sex", "ethnicity", "site", "vendor", "detector")
#: Columns of ``performance.csv`` (:meth:`ExternalValidation.to_frame`).
PERFORMANCE_COLUMNS = ("metric", "validation", "validation_ci_low", "validation_ci_high", "n", "events",
                       "development", "development_ci_low", "development_ci_high", "flag_reason")


@dataclass(frozen=True)
class ExternalValidation:
    """An external validation of a model bundle on a new cohort (:func:`validate_model`).

    Attributes
    ----------
    out : Path
        The output folder.
    predictions : DataFrame
        The new cohort's predictions (as ``predictions.csv``).
    audit : SubgroupAudit
        Overall and per-group performance on the new cohort.
    transport : TransportDiagnostics
        Case mix and shift against the development cohort.
    development : SubgroupAudit or None
        Overall performance of the same model on the development cohort (its
        apparent performance: the model was fitted there), when that cohort was given.
    update : ModelUpdate or None
        The model updating (recalibration) on the new cohort, unless ``update=None``.
    notes : tuple of str
        Statements (prediction, audit, transport), also in the provenance.
    paths : dict
        Name -> written file.
    """

    out: Path
    predictions: pd.DataFrame
    audit: SubgroupAudit
    transport: TransportDiagnostics
    development: SubgroupAudit | None = None
    update: ModelUpdate | None = None
    notes: tuple[str, ...] = ()
    paths: dict = field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Overall performance, validation beside development (= ``performance.csv``)."""
        return performance_table(self.audit, self.development)

    def summary(self) -> str:
        """The text printed at the end of ``radiorisk validate-model``."""
        perf = self.to_frame().set_index("metric")
        lines = [f"radiorisk validate-model: {len(self.predictions)} patient(s), "
                 f"{int(self.audit.group_counts['events'].iloc[0])} event(s) by the horizon"]
        for m in perf.index:
            r = perf.loc[m]
            dev = f"; development {r['development']:.3f}" if np.isfinite(r["development"]) else ""
            lines.append(f"  {m}: {r['validation']:.3f} (95 % CI {r['validation_ci_low']:.3f} to "
                         f"{r['validation_ci_high']:.3f}){dev}")
        t = self.transport
        lines.append(f"  transport: {int(t.value('n_imbalanced_inputs'))} input(s) with |SMD| > "
                     f"{t.threshold:g}; {100 * t.value('share_outside_support'):.1f} % of patients outside "
                     "the training support" + (f"; membership C {t.value('membership_c'):.3f}"
                                               if np.isfinite(t.value("membership_c")) else ""))
        if self.update is not None:
            lines.append(f"  updating: {self.update.method} ({self.update.reason})")
        lines += [f"  - {n}" for n in self.notes]
        lines.append(f"Report: {self.out / 'report.html'}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return repr_html("External validation", self.to_frame(), lines=self.notes[:5])


def performance_table(audit: SubgroupAudit, development: SubgroupAudit | None = None) -> pd.DataFrame:
    """Overall metrics of the validation audit with the development cohort's beside them.

    Parameters
    ----------
    audit : SubgroupAudit
        On the validation cohort.
    development : SubgroupAudit, optional
        On the development cohort (same metrics).

    Returns
    -------
    DataFrame
        Columns :data:`PERFORMANCE_COLUMNS`, one row per metric.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), n_boot=0)
    >>> performance_table(a)["metric"].tolist()[:2]
    ['auc', 'brier']
    """
    ov = audit.overall.set_index("metric")
    dev = development.overall.set_index("metric") if development is not None else None
    rows = []
    for m in ov.index:
        r = ov.loc[m]
        d = dev.loc[m] if dev is not None and m in dev.index else None
        rows.append((m, r["estimate"], r["ci_low"], r["ci_high"], int(r["n"]), int(r["events"]),
                     np.nan if d is None else d["estimate"], np.nan if d is None else d["ci_low"],
                     np.nan if d is None else d["ci_high"], r["flag_reason"]))
    return pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ModelError(f"out {out}: is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ModelError(f"out {out}: the folder is not empty (use overwrite)")


def _with_groups(run: PredictRun, data_dir: Path, groups, allow_outside_root: bool) -> pd.DataFrame:
    """The predictions with the audit groups they lack, looked up in the patients or the index scans.

    A scan-level column (``detector``, ``kernel``, ...) is each patient's index scan's (earliest
    ``scan_date``, the scan of the ccta block), as ``fit --cv-by`` maps it. In memory only: the
    predictions file keeps the columns of ``radiorisk predict``.
    """
    pred = run.predictions.copy()
    wanted = [g for g in groups if g not in pred.columns]
    if not wanted:
        return pred
    cohort = read_cohort(data_dir, allow_outside_root=allow_outside_root)
    ids = run.inputs.index.astype(str)
    patients = cohort.patients.drop_duplicates("patient_id")
    patients = patients.set_axis(patients["patient_id"].astype(str))
    scans = index_scans(cohort.scans)
    scans = scans.set_axis(scans.index.astype(str))
    for g in wanted:
        for table in (patients, scans):
            if g in table.columns and g not in ID_COLUMNS:
                pred[g] = table[g].reindex(ids).to_numpy(dtype=object)
                break
    return pred


def _audit(pred: pd.DataFrame, groups, *, horizon, n_boot, seed, calibration_boot, competing_risks,
           notes: list) -> SubgroupAudit:
    present = [g for g in groups if g in pred.columns and pred[g].notna().any()]
    absent = [g for g in groups if g not in present]
    if absent:
        notes.append(f"no audit by {', '.join(absent)}: the predictions have no such labels")
    event = pred["event_type"].to_numpy(int) if competing_risks else pred["event"].to_numpy(int)
    cols = {g: pred[g].to_numpy(dtype=object) for g in present}
    if "sex" in cols and "ethnicity" in cols:  # the one intersection of the bias audit (not site x vendor x ...)
        cols["sex:ethnicity"] = np.array([None if pd.isna(a) or pd.isna(b) else f"{a}:{b}"
                                          for a, b in zip(cols["sex"], cols["ethnicity"], strict=True)], dtype=object)
    return SubgroupAudit(pred["risk"].to_numpy(float), time=pred["time"].to_numpy(float), event=event,
                         horizon=horizon, groups=cols, intersections=False, n_boot=n_boot, random_state=seed,
                         calibration_boot=calibration_boot, competing_risks=competing_risks)


def _outcome_check(run: PredictRun, where: str, competing_risks: bool) -> None:
    p = run.predictions
    if p["time"].isna().any() or p["event"].isna().any():
        raise ModelError(f"{where}: the cohort has patients without an outcome; external validation "
                         "needs the outcome of every patient")
    if competing_risks and "event_type" not in p.columns:
        raise ModelError("competing_risks: the model was not fitted with competing deaths recorded "
                         "(competing='competing'), so the predictions have no event_type")


def validate_model(model_dir, data_dir, out, *, development=None, horizon: float | None = None,
                   groups=DEFAULT_GROUPS, n_boot: int = 200, seed: int | None = None,
                   calibration_boot: int | None = None, competing_risks: bool | None = None,
                   update: str | None = "closed-test", features=None, development_features=None, radiomics_cache=None, n_jobs: int = 1,
                   id_key=None, id_key_file=None, raw_ids: bool = False, overwrite: bool = False,
                   figures: bool = True, argv=None, allow_outside_root: bool = False) -> ExternalValidation:
    """Validate a saved model on a new cohort: predictions, the full audit, transport, the report.

    Parameters
    ----------
    model_dir : path-like
        The model bundle (``RUN/model``).
    data_dir : path-like
        The validation cohort folder.
    out : path-like
        Output folder (created; must be empty unless ``overwrite``).
    development : path-like, optional
        The development cohort folder: its predictions by the same bundle give the
        membership model, the development linear predictor and the development column
        of ``performance.csv``. Without it the transport section uses the bundle's
        training summaries only.
    horizon : float, optional
        Days (default the model's).
    groups : sequence of str
        Audit groups (default sex, ethnicity, site, vendor, detector): columns of the
        predictions, else of the cohort's patients table, else of each patient's index
        scan; those the cohort does not have are left out, with a note.
    n_boot : int
        Bootstrap replicates of the audit's CIs.
    seed : int, optional
        Bootstrap seed (default 0, as ``radiorisk audit``).
    calibration_boot : int, optional
        As in :func:`radiorisk.pipeline.run_audit`.
    competing_risks : bool, optional
        Audit with the competing-risk estimands (status ``event_type``: needs a
        model fitted with competing deaths recorded).  Default None: as the bundle
        was fitted, so a competing-risk model (the default of ``fit`` when non-cardiac
        death is recorded) is validated on the cumulative incidence it predicts, and
        the notes say so; False scores its risks with competing deaths censored.
    update : str or None
        Model updating on the new cohort (:func:`radiorisk.pipeline._updating.update_risks`):
        ``"closed-test"`` (default) chooses between the original model, recalibration in
        the large and recalibration of intercept and slope; ``"intercept"``,
        ``"intercept_slope"`` or ``"original"`` impose one; ``"refit"`` refits the same pipeline on the
        new cohort (``OUT/refit/``, configuration from the fit run's provenance); None skips it. With
        ``competing_risks`` it is skipped (with a note); imposing a method is refused.
    features, development_features : path-like, optional
        Radiomics tables of the two cohorts (else extracted with the bundle's preset).
    radiomics_cache, n_jobs, id_key, id_key_file, raw_ids, allow_outside_root
        As in :func:`radiorisk.pipeline.predict_cohort`.
    overwrite : bool
        Write into a non-empty ``out``.
    figures : bool
        Draw figures (audit and report).
    argv : list of str, optional
        The command line, recorded in the provenance.

    Returns
    -------
    ExternalValidation

    Raises
    ------
    ModelError
        As :func:`predict_cohort` (missing columns are named by block), a
        non-empty ``out``, patients without an outcome.

    Examples
    --------
    >>> validate_model("RUN/model", "cohort", "OUT", n_boot=-1)
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ModelError: n_boot must be >= 0; got -1
    >>> ev = validate_model("RUN/model", "external_cohort", "OUT")  # doctest: +SKIP
    >>> ev.to_frame()  # doctest: +SKIP
    """
    if n_boot < 0:
        raise ModelError(f"n_boot must be >= 0; got {n_boot}")
    if update is not None and update not in (*UPDATE_METHODS, "refit"):
        raise ModelError(f"update must be one of {[*UPDATE_METHODS, 'refit']} or None; got {update!r}")
    notes_mode = []
    if competing_risks is None:
        competing_risks = is_competing(load_bundle(model_dir)[0])
        if competing_risks:
            notes_mode.append("competing risks: the model predicts the cumulative incidence of MACE with "
                              "non-cardiac death as a competing event, so it is validated with the competing-risk "
                              "estimands (Aalen-Johansen observed risk, c_cr, ...); competing_risks=False "
                              "(--censor-competing) censors competing deaths instead")
    skipped = None
    if update is not None and competing_risks:
        if update != "closed-test":
            raise ModelError("update: recalibration with competing risks is not implemented; use update=None")
        update, skipped = None, ("no model updating: recalibration with competing risks is not implemented "
                                 "(the closed test and the maps are for risks with deaths censored)")
    model_dir, data_dir, out = Path(model_dir), Path(data_dir), Path(out)
    _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    seed = DEFAULT_AUDIT_SEED if seed is None else seed
    common = dict(radiomics_cache=radiomics_cache, n_jobs=n_jobs, id_key=id_key, id_key_file=id_key_file,
                  raw_ids=raw_ids, overwrite=True, argv=argv, allow_outside_root=allow_outside_root)
    run = predict_cohort(model_dir, data_dir, out / "predictions.csv", horizon=horizon, features=features,
                         **common)
    _outcome_check(run, "data_dir", competing_risks)
    horizon = float(_horizon(run))
    notes = list(run.notes) + notes_mode + ([skipped] if skipped else [])
    dev_run = None
    if development is not None:
        try:
            dev_run = predict_cohort(model_dir, Path(development), out / "development_predictions.csv",
                                     horizon=horizon, features=development_features, **common)
        except ModelError as exc:  # its messages name predict_cohort's data_dir and features
            msg = _development_words(str(exc))
            raise type(exc)(msg) from exc
        _outcome_check(dev_run, "development", competing_risks)
    audit = _audit(_with_groups(run, data_dir, groups, allow_outside_root), groups, horizon=horizon, n_boot=n_boot, seed=seed,
                   calibration_boot=calibration_boot, competing_risks=competing_risks, notes=notes)
    dev_audit = None
    if dev_run is not None:
        dev_audit = _audit(dev_run.predictions, (), horizon=horizon, n_boot=n_boot, seed=seed,
                           calibration_boot=calibration_boot, competing_risks=competing_risks, notes=[])
        notes.append("the development column is the model's apparent performance on the cohort it was "
                     "fitted on (optimistic); the fit run's cross-validated figures are in its RUN folder")
    req = load_requirements(model_dir)
    transport = transport_diagnostics(
        run.inputs, run.predictions["risk"].to_numpy(float), requirements=req,
        X_dev=None if dev_run is None else dev_run.inputs,
        risk_dev=None if dev_run is None else dev_run.predictions["risk"].to_numpy(float),
        random_state=seed)
    notes += list(transport.notes)
    paths = {"predictions.csv": run.out, "predictions.provenance.json": run.provenance}
    if dev_run is not None:
        paths.update({"development_predictions.csv": dev_run.out,
                      "development_predictions.provenance.json": dev_run.provenance})
    (out / "audit").mkdir(exist_ok=True)
    for name, p in write_audit_outputs(audit, out / "audit", source=str(run.out), figures=figures).items():
        paths[f"audit/{name}"] = p
    upd = None
    if update is not None:
        p = run.predictions
        upd = update_risks(p["risk"].to_numpy(float), p["time"].to_numpy(float), p["event"].to_numpy(int),
                           horizon=horizon, method="closed-test" if update == "refit" else update,
                           n_boot=n_boot, random_state=seed)
        if update == "refit":
            upd = _refit(model_dir, data_dir, out, upd, horizon=horizon, n_boot=n_boot, seed=seed,
                         common=common, features=features, paths=paths, notes=notes)
    updated = _write_updated_bundle(model_dir, out, upd, horizon, req, data_dir, audit)
    if updated is not None:
        paths["updated_model"] = updated
        notes.append(f"the updated model ({upd.method}) is the bundle {updated.name}/ (radiorisk predict "
                     f"reads it; it predicts by {horizon:g} days only)")
    ev = ExternalValidation(out=out, predictions=run.predictions, audit=audit, transport=transport,
                            development=dev_audit, update=upd, notes=tuple(notes), paths=paths)
    frames = [("performance.csv", ev.to_frame()), ("transport.csv", transport.statistics),
              ("transport_smd.csv", transport.smd), ("transport_blocks.csv", transport.blocks)]
    if upd is not None:
        frames += [("updating.csv", upd.table), ("updating_tests.csv", upd.tests)]
    for name, frame in frames:
        atomic_write_csv(out / name, frame, float_format="%.10g")
        paths[name] = out / name
    inputs = ExternalValidationInputs(
        audit=audit, development=dev_audit, transport=transport, performance=ev.to_frame(),
        model=str(model_dir), data=str(data_dir), development_data=None if development is None else str(development),
        horizon=horizon, n_boot=n_boot, seed=seed, requirements=req, notes=tuple(notes), figures=figures,
        update=upd)
    atomic_write_text(out / "report.html", render_external_validation(inputs))
    paths["report.html"] = out / "report.html"
    write_json(out / "provenance.json", _provenance(argv, model_dir, data_dir, development, horizon, n_boot,
                                                    seed, competing_risks, update, notes, paths, out))
    paths["provenance.json"] = out / "provenance.json"
    return ev


def _refit(model_dir: Path, data_dir: Path, out: Path, upd: ModelUpdate, *, horizon: float, n_boot: int, seed: int,
           common: dict, features, paths: dict, notes: list) -> ModelUpdate:
    """Model revision: the same pipeline refitted on the new cohort (``OUT/refit/``, a ``radiorisk fit`` run).

    Its out-of-fold risks (5-fold CV on the new cohort) are judged like the recalibrations and added to
    the updating table as ``refit``; the configuration comes from the original fit run's provenance.
    """
    prov_path = model_dir.parent / "provenance.json"
    try:
        cfg = json.loads(prov_path.read_text(encoding="utf-8"))["configuration"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"update='refit': cannot read the fit run's configuration from {prov_path} ({exc}); "
                         "refitting needs the model, blocks and parameters that run recorded") from exc
    refit_dir = out / "refit"
    run_fit(data_dir, refit_dir, model=cfg["model"], blocks=cfg["blocks"], horizon=horizon, repeats=1,
                  folds=5, seed=seed, features=features, radiomics_params=cfg.get("radiomics_params") or "ccta-plaque",
                  measure=bool(cfg.get("measure_plaque")), mace=cfg.get("mace"),
                  competing=cfg.get("competing") or "censor", search=bool(cfg.get("search")),
                  params=cfg.get("params"), n_boot=n_boot, overwrite=True,
                  impute=cfg.get("impute") or IMPUTE_DEFAULT,
                  **{k: common[k] for k in ("n_jobs", "id_key", "id_key_file", "raw_ids", "radiomics_cache",
                                            "allow_outside_root", "argv")})
    write_json(refit_dir / "derived_from.json", {
        "bundle": str(model_dir), "bundle_sha256": sha256_file(model_dir / "manifest.json"),
        "fit_configuration": cfg, "refitted_on": str(data_dir)})
    oof = pd.read_csv(refit_dir / "oof_predictions.csv", float_precision="round_trip")
    risk, t, e = oof["risk"].to_numpy(float), oof["time"].to_numpy(float), oof["event"].to_numpy(int)
    row = ("refit", np.nan, np.nan, *judge_risks(risk, t, e, horizon, n_boot, seed), True)
    table = pd.concat([upd.table.assign(selected=False), pd.DataFrame([row], columns=upd.table.columns)],
                      ignore_index=True)
    paths["refit/model"] = refit_dir / "model"
    notes.append("model revision: the same pipeline refitted on this cohort in refit/ (a radiorisk fit run; "
                 "its bundle refit/model; refit/derived_from.json names the original)")
    return replace(upd, method="refit", table=table, risk=risk, recalibrator=None,
                   reason=f"chosen by the user (refit with the same pipeline on this cohort, judged by its "
                          f"out-of-fold risks); the closed test would choose {upd.method}")


def _write_updated_bundle(model_dir: Path, out: Path, upd: ModelUpdate | None, horizon: float, req, data_dir,
                          audit: SubgroupAudit) -> Path | None:
    """``OUT/updated_model/``: the original bundle with the chosen recalibration map (None: not updated).

    A bundle that was already recalibrated gets the composition of both maps (still one cloglog map:
    ``a2 + b2 (a1 + b1 l)``).
    """
    if upd is None or upd.method in ("original", "refit"):
        return None
    est = load(model_dir)
    row = upd.table.set_index("method").loc[upd.method]
    a, b = float(row["intercept"]), float(row["slope"])
    prior = getattr(est, "recalibration_", None)
    if prior is not None:
        a, b = a + b * prior.intercept, b * prior.slope
    method = upd.method if prior is None or prior.method == upd.method else "intercept_slope"
    counts = audit.group_counts.iloc[0]
    est.recalibration_ = ModelRecalibration(
        a, b, float(horizon), method,
        {"path": str(model_dir), "bundle_sha256": sha256_file(model_dir / "manifest.json"),
         "fitted_on": {"data": str(data_dir), "patients": int(counts["n"]), "events": int(counts["events"])},
         "closed_test": upd.reason})
    return est.save(out / "updated_model", overwrite=True, requirements=req)


def _development_words(message: str) -> str:
    """A message of :func:`predict_cohort` about the development cohort, naming this function's parameters.

    Examples
    --------
    >>> _development_words("data_dir D: the cohort lacks 1 column(s) (or give features)")
    'development D: the cohort lacks 1 column(s) (or give development_features)'
    """
    for old, new in (("data_dir ", "development "), ("features:", "development_features:"),
                     ("(or give features)", "(or give development_features)"),
                     ("cohort (features)", "cohort (development_features)")):
        message = message.replace(old, new)
    return message


def _horizon(run: PredictRun) -> float:
    return json.loads(run.provenance.read_text(encoding="utf-8"))["horizon_days"]


def _provenance(argv, model_dir: Path, data_dir: Path, development, horizon, n_boot, seed, competing_risks,
                update, notes, paths, out: Path) -> dict:
    return {
        "command": "radiorisk validate-model",
        "argv": list(argv) if argv is not None else None,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "model": {"path": str(model_dir), "bundle_sha256": sha256_file(model_dir / "manifest.json")},
        "data": str(data_dir), "development": None if development is None else str(development),
        "horizon_days": horizon, "n_boot": n_boot, "seed": seed, "competing_risks": competing_risks,
        "update": update,
        "statements": list(notes),
        "outputs": {name: {"sha256": sha256_file(p / "manifest.json" if Path(p).is_dir() else p)}
                    for name, p in sorted(paths.items())
                    if (Path(p).is_file() and Path(p).parent.resolve() in (out.resolve(), (out / "audit").resolve()))
                    or name == "updated_model"},
    }
