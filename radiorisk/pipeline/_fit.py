"""The body of ``radiorisk fit``: cross-validated risk model, modality ladder and final model of a cohort.

:func:`run_fit` writes into ``RUN``:

- ``oof_predictions.csv``: ``patient_id, repeat, fold, risk, time, event, sex,
  ethnicity, site`` (out-of-fold risk by the horizon, every patient and repeat;
  ``patient_id`` pseudonymised, see below);
- ``ladder.csv``: the modality ladder of the chosen blocks
  (:data:`radiorisk.models.LADDER_COLUMNS`);
- ``model/``: the final model refitted on all patients (``est.save``), with what it needs
  (``requirements.json``: blocks, columns with training summaries, horizon, outcome, radiomics
  preset; read by ``radiorisk predict``);
- ``iecv.csv`` (with ``cv_by``, internal-external cross-validation): per left-out
  cluster and metric the out-of-fold performance with its CI, then the pooled
  random-effects estimate and the prediction interval for a new cluster
  (:data:`radiorisk.pipeline._iecv.IECV_COLUMNS`);
- ``mnar_sensitivity.csv`` (``impute="mice:M"`` with missing PET values): the MNAR
  delta-adjustment table of the imputed PET columns
  (:func:`radiorisk.models.delta_sensitivity`; :data:`radiorisk.models.DELTA_COLUMNS`);
- ``provenance.json``: versions, configuration, SHA-256 of every input file,
  seed, the statements (censoring rule, populations, missing data), timings and
  how identifiers were written (method and key fingerprint, never the key);
- ``radiomics/`` (when radiomics were extracted from the manifest):
  ``features.parquet`` (long), ``features.failures.csv`` and
  ``features.provenance.json``.

Identifiers (``patient_id``, ``scan_id``, ``lesion_id``) are pseudonymised in
every file of ``RUN`` by default (:mod:`radiorisk.privacy`): keyed hashes whose
key stays with the user.  The computation itself runs on the raw ids in memory,
so results do not depend on the key.  Radiomics are extracted into a private
store (``radiomics_cache``, or a temporary folder) because the engine's store
records absolute image paths and raw ids; ``RUN/radiomics/`` receives
pseudonymised copies (:mod:`._fit_radiomics`).  ``raw_ids=True`` opts out and keeps
the engine's resumable store in ``RUN/radiomics/`` as it is.

Each file is written to a temporary name and renamed (atomic);
``provenance.json`` is written last and marks a complete run.  Errors name the
parameters of :func:`run_fit`; the command line (:mod:`radiorisk.cli`) names its flags.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from .._files import atomic_write_csv
from ..exceptions import FitUsageError, InputFileError, RadioriskError
from ..features import DEFAULT_MACE, assemble_cohort
from ..imaging import measure_plaque
from ..io import read_cohort
from ..models import (
    IMPUTE_DEFAULT,
    SEARCHABLE_MODELS,
    MIModel,
    ModelError,
    cross_validate_risk,
    default_cox_params,
    delta_sensitivity,
    fit_final_model,
    modality_ladder,
    parse_impute,
    requirements_from_cohort,
)
from ..privacy import Pseudonymiser
from ..stats import DEFAULT_HORIZON_DAYS
from ._fit_competing import MI_STATEMENT, competing_params, oof_columns, outcome_mode, statement
from ._fit_optimism import fit_optimism
from ._fit_options import check_options, competing_request
from ._fit_radiomics import extract_run_radiomics, read_features
from ._harmonise import harmonise_configuration, harmonise_setup
from ._iecv import cluster_labels, iecv_summary
from ._ladder_order import ladder_blocks
from ._progress import progress_step
from ._provenance import cohort_ids, fit_provenance, inside, pseudonymiser, write_json
from ._stable_features import stable_model_params

__all__ = ["FitRun", "run_fit"]

_OOF_COLUMNS = ["patient_id", "repeat", "fold", "risk", "time", "event", "sex", "ethnicity", "site"]


@dataclass(frozen=True)
class FitRun:
    """What :func:`run_fit` wrote.

    Attributes
    ----------
    out : Path
        The run folder.
    files : dict
        ``oof_predictions, ladder, model, provenance`` (and ``radiomics`` when
        extracted) -> path.
    ladder : LadderResult
    cv : CVResult
    notes : tuple of str
    iecv : IECVSummary or None
        The internal-external cross-validation summary (with ``cv_by``).
    mnar, optimism : DeltaSensitivity or None, OptimismResult or None
        The MNAR delta-adjustment table (``impute="mice:M"`` with missing PET values); the
        optimism-corrected bootstrap (``optimism_boot`` > 0).
    """

    out: Path
    files: dict
    ladder: object
    cv: object
    notes: tuple[str, ...]
    iecv: object = None
    mnar: object = None
    optimism: object = None

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk fit``."""
        lines = [f"radiorisk fit: {self.cv.model} on {'+'.join(self.cv.blocks)}", ""]
        s = self.ladder.summary()
        lines += ["  " + ln for ln in s.to_string().splitlines()]
        if self.iecv is not None:
            lines += ["", f"  leave-one-{self.iecv.cv_by}-out, pooled over {len(self.iecv.clusters)} "
                          f"{self.iecv.cv_by}s (random effects; iecv.csv):"]
            f = self.iecv.to_frame()
            for m in self.iecv.metrics:
                p, q = (f[(f["metric"] == m) & (f["row"] == r)].iloc[0] for r in ("pooled", "prediction"))
                lines.append(f"    {m}: {p.estimate:.3f} (95 % CI {p.ci_low:.3f} to {p.ci_high:.3f}; "
                             f"prediction interval {q.ci_low:.3f} to {q.ci_high:.3f}), I2 {p.i2:.0f} %")
        if self.mnar is not None:
            tab = self.mnar.table
            lines += ["", f"  MNAR sensitivity (imputed {', '.join(self.mnar.columns)} shifted by delta "
                          f"{self.mnar.units}; mnar_sensitivity.csv):"]
            lines += [f"    delta {r.delta:+.2f}: C {r.harrell_c:.3f}, O/E {r.oe_ratio:.3f} (patients "
                      f"without PET: O/E {r.oe_ratio_missing:.3f})" for r in tab.itertuples()]
        lines += [""] + [f"  - {n}" for n in self.notes]
        lines += ["", f"Results are in {self.out}"]
        return "\n".join(lines)


@dataclass
class _Work:
    """What one fit has gathered so far (inputs, notes, timings, extra files)."""

    pz: Pseudonymiser
    inputs: dict
    notes: list
    timings: dict
    files_extra: dict
    progress: object = None  # progress(step, done, total) of the long steps (pipeline._progress)


def _missing_data(work: _Work, model: str, impute, horizon: float):
    """The model (a name, or the multiply imputed Cox factory) and a statement of the missing-data handling."""
    try:
        m = parse_impute(IMPUTE_DEFAULT if impute is None else impute)
    except ModelError as exc:
        raise FitUsageError(str(exc)) from exc
    if m is not None and model != "coxph":
        raise FitUsageError(f"impute={impute!r} is for model coxph; {model} handles missing values "
                            "natively (use impute='median', the default)")
    if model != "coxph":
        return model
    if m is None:
        work.notes.append("missing data (coxph): median imputation with an availability indicator per "
                          "missingness pattern, learnt in each training fold (impute='median', the "
                          "default)")
        return model
    work.notes.append(
        f"missing data (coxph): multiple imputation by chained equations, M = {m} (scikit-learn "
        "IterativeImputer, Bayesian ridge with posterior draws), learnt in each training fold with the "
        "event indicator and the Nelson-Aalen cumulative hazard in the imputation model; held-out and "
        "new patients are imputed by an outcome-free imputation model of the same training rows; "
        f"coefficients pooled by Rubin's rules, risks averaged over the {m} fits")
    return MIModel(m, horizon=horizon)


def _mnar(work: _Work, fit_model, data, blocks, *, horizon, seed, folds, params, out: Path):
    """The delta-adjustment table of a multiply imputed fit with missing PET (else None), written out."""
    if not isinstance(fit_model, MIModel) or "pet" not in blocks:
        return None
    pet = [c for c in data.blocks.get("pet", ()) if data.X[c].isna().any() and data.X[c].dropna().nunique() > 2]
    if not pet:
        return None
    params.pop("competing_unpenalized", None)  # params is the caller's copy (competing_params)
    if params.pop("competing_risks", False):
        work.notes.append("the MNAR delta-adjustment table uses the censoring estimands (multiply imputed "
                          "Cox model of MACE with competing deaths censored; Harrell's C, Kaplan-Meier O/E)")
    res = _timed(work, "mnar_sensitivity", delta_sensitivity, data, blocks=blocks, horizon=horizon,
                 random_state=seed, n_imputations=fit_model.n_imputations, folds=folds or 5,
                 params=params)
    work.files_extra["mnar_sensitivity"] = out / "mnar_sensitivity.csv"
    atomic_write_csv(out / "mnar_sensitivity.csv", res.table, float_format="%.10g")
    work.notes.extend(res.notes)
    return res


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FitUsageError(f"out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FitUsageError(f"out {out}: the folder exists and is not empty (use overwrite)")


def _drop_constant_columns(data):
    keep = {b: tuple(data.varying_columns(cols)) for b, cols in data.blocks.items()}
    dropped = [c for b, cols in data.blocks.items() for c in cols if c not in keep[b]]
    return replace(data, blocks=MappingProxyType(keep)), dropped


def _timed(work: _Work, name: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    work.timings[name] = time.perf_counter() - t0
    return result


def _radiomics(work: _Work, cohort, data_dir: Path, out: Path, blocks, *, features, radiomics_params,
               radiomics_cache, n_jobs, allow_outside_root):
    """The radiomics table: read from ``features``, extracted from the manifest, or None."""
    if features is not None:
        features = Path(features)
        work.inputs["features"] = features
        return read_features(features)
    if "radiomics" not in blocks:
        return None
    if len(cohort.manifest) == 0:
        raise FitUsageError("blocks includes radiomics but there is no features table and the "
                            f"cohort {data_dir} has no manifest rows to extract radiomics from")
    res = _timed(work, "extract_radiomics", extract_run_radiomics, cohort, out, work.pz,
                 params=radiomics_params, cache=radiomics_cache, jobs=n_jobs,
                 allow_outside_root=allow_outside_root, progress=work.progress)
    work.files_extra["radiomics"] = out / "radiomics"
    work.notes.append(f"radiomics extracted from the manifest with preset {radiomics_params!r}: "
                      f"{len(res.features)} lesion row(s), {len(res.failures)} failure(s) "
                      f"(out/radiomics/)")
    return res.features


def _plaque(work: _Work, cohort, data_dir: Path, allow_outside_root: bool):
    if len(cohort.manifest) == 0:
        raise FitUsageError(f"measure: the cohort {data_dir} has no manifest rows")
    plaque, failures = _timed(work, "measure_plaque", measure_plaque, cohort.files["manifest"],
                              allow_outside_root=allow_outside_root)
    work.notes.append(f"plaque measured on {len(plaque)} lesion mask(s); {len(failures)} failure(s)")
    return plaque


def _assemble(work: _Work, cohort, blocks, *, plaque, radiomics, mace, competing, horizon):
    try:
        data = assemble_cohort(cohort, plaque=plaque, radiomics=radiomics, mace=mace,
                               competing=competing, horizon=horizon)
    except ValueError as exc:
        raise FitUsageError(str(exc)) from exc
    empty = [b for b in blocks if not data.blocks[b]]
    if empty:
        raise FitUsageError(f"blocks: block(s) {empty} have no columns in this cohort")
    used_before = set(data.columns(blocks))
    data, dropped = _drop_constant_columns(data)
    dropped_used = [c for c in dropped if c in used_before]
    if dropped_used:
        work.notes.append(f"constant column(s) left out: {', '.join(dropped_used)}")
    return data


def _fit_models(work: _Work, model, data, blocks, *, horizon, seed, repeats, folds, n_jobs, search,
                n_boot, params, clusters=None):
    """Cross-validation, the modality ladder (reusing it) and the final model."""
    kw = {"horizon": horizon, "random_state": seed, "search": search, "params": params}
    try:
        if clusters is None:
            cv = _timed(work, "cross_validation", cross_validate_risk, model, data, blocks=blocks,
                        repeats=repeats, folds=folds, n_jobs=n_jobs, progress=work.progress, **kw)
            ladder = _timed(work, "ladder", modality_ladder, model, data, rungs=blocks, repeats=repeats,
                            folds=folds, n_jobs=n_jobs, n_boot=n_boot, reuse=[cv], progress=work.progress, **kw)
        else:
            cv, ladder = _fit_iecv(work, model, data, blocks, clusters, n_jobs=n_jobs, n_boot=n_boot, kw=kw)
        est, final_info = _timed(work, "final_model", progress_step, work.progress, "final model", fit_final_model,
                                 model, data, blocks=blocks, **kw)
    except ValueError as exc:
        if isinstance(exc, RadioriskError):
            raise
        raise FitUsageError(str(exc)) from exc
    return cv, ladder, est, final_info


def _fit_iecv(work: _Work, model, data, blocks, clusters, *, n_jobs, n_boot, kw):
    """Leave-one-cluster-out CV of the chosen blocks and the ladder on the same clusters (reusing it)."""
    try:
        cv = _timed(work, "cross_validation", cross_validate_risk, model, data, blocks=blocks,
                    clusters=clusters, n_jobs=n_jobs, **kw)
    except ValueError as exc:  # name run_fit's parameter
        raise FitUsageError(str(exc).replace(f"clusters {clusters.name!r}", f"cv_by {clusters.name!r}", 1)) \
            from exc
    ladder = _timed(work, "ladder", modality_ladder, model, data, rungs=blocks, clusters=clusters,
                    n_jobs=n_jobs, n_boot=n_boot, reuse=[cv], **kw)
    return cv, ladder


def _write_results(work: _Work, out: Path, data, cv, ladder, est, iecv=None, requirements=None,
                   competing_risks: bool = False) -> dict:
    files = {}
    oof = cv.to_frame().merge(data.groups, left_on="patient_id", right_index=True, how="left")
    if competing_risks:  # the status 0/1/2 the competing-risk metrics of the OOF risks need
        oof["event_type"] = data.event_type.reindex(oof["patient_id"]).to_numpy(int)
    oof["patient_id"] = work.pz(oof["patient_id"].to_numpy(dtype=object))
    files["oof_predictions"] = out / "oof_predictions.csv"
    atomic_write_csv(files["oof_predictions"], oof[oof_columns(_OOF_COLUMNS, competing_risks)], float_format="%.10g")
    files["ladder"] = out / "ladder.csv"
    atomic_write_csv(files["ladder"], ladder.to_frame(), float_format="%.10g")
    if iecv is not None:
        files["iecv"] = out / "iecv.csv"
        atomic_write_csv(files["iecv"], iecv.to_frame(), float_format="%.10g")
    files["model"] = out / "model"
    tmp_model = out / f".model.tmp-{os.getpid()}"
    if tmp_model.exists():
        shutil.rmtree(tmp_model)
    est.save(tmp_model, requirements=requirements)
    if files["model"].exists():
        shutil.rmtree(files["model"])
    os.replace(tmp_model, files["model"])
    files.update(work.files_extra)
    return files


def _prepare_out(out: Path, pz: Pseudonymiser, notes: list) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"out {out}: cannot create the folder: {exc}") from exc
    if not pz.raw and (out / "radiomics").is_dir():
        shutil.rmtree(out / "radiomics")  # an overwritten raw_ids run's store has raw ids and paths
    if pz.created:
        notes.append(f"a new id key was created (fingerprint {pz.fingerprint}); keep it private: it "
                     "links the pseudonyms back to the ids")


def _check_cache(radiomics_cache, out: Path, pz: Pseudonymiser):
    """``radiomics_cache`` as a Path (or None); refused inside ``out`` unless ids are raw."""
    if radiomics_cache is None:
        return None
    radiomics_cache = Path(radiomics_cache)
    if not pz.raw and inside(radiomics_cache, out):
        raise FitUsageError(f"radiomics_cache {radiomics_cache}: the store holds raw ids and image "
                            f"paths; put it outside out {out} (or use raw_ids)")
    return radiomics_cache


def _clusters(work: _Work, cohort, data, cv_by):
    """The cluster labels of ``cv_by`` (None without it); their source goes to the notes."""
    if cv_by is None:
        return None
    clusters, source = cluster_labels(cohort, data, cv_by)
    work.notes.append(source)
    return clusters


def _statements(pz: Pseudonymiser, cohort, data, work: _Work, cv, ladder, iecv) -> tuple[str, ...]:
    """Every note of the run once, in order; scrubbed of identifiers unless ids are raw."""
    notes = tuple(dict.fromkeys([*data.notes, *work.notes, *cv.notes, *ladder.notes,
                                 *(iecv.notes if iecv is not None else ())]))
    if not pz.raw:  # no statement may carry an identifier
        notes = tuple(pz.scrub_text(n, cohort_ids(cohort)) for n in notes)
    return notes


def _iecv_configuration(cv_by, cv) -> dict:
    """``cv_by``, the folds and the clusters of a leave-one-cluster-out run; {} for K-fold (default runs)."""
    if cv_by is None:
        return {}
    return {"cv_by": cv_by, "folds": cv.folds, "clusters": list(cv.clusters)}


def run_fit(
    data_dir,
    out,
    *,
    model: str,
    blocks,
    horizon: float = DEFAULT_HORIZON_DAYS,
    repeats: int | None = None,
    folds: int | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    features=None,
    radiomics_params: str = "ccta-plaque",
    measure: bool = False,
    mace=None,
    competing: str | None = None,
    competing_risks: bool | None = None,
    search: bool = True,
    search_iter: int = 8,
    search_budget: float | None = None,
    n_boot: int = 500,
    params: dict | None = None,
    overwrite: bool = False,
    argv=None,
    id_key=None,
    id_key_file=None,
    raw_ids: bool = False,
    radiomics_cache=None,
    allow_outside_root: bool = False,
    cv_by: str | None = None,
    impute: str = IMPUTE_DEFAULT,
    stable_features: float | None = None,
    robustness=None,
    optimism_boot: int = 0,
    harmonise=None,
    harmonise_covariates=None,
    ladder_order=None,
    progress=None,
) -> FitRun:
    """Validate a cohort folder, cross-validate, build the ladder and refit the final model.

    Parameters
    ----------
    data_dir : path-like
        Cohort folder (validated with :func:`radiorisk.io.read_cohort`).
    out : path-like
        Run folder to write (refused when it exists and is not empty, unless
        ``overwrite``).
    model : {"xgb-binary", "xgb-cox", "xgb-aft", "coxph"}
    blocks : str or sequence of str
        Modality blocks (``"clinical,ccta,radiomics,pet"``); the ladder climbs
        them in the order clinical, ccta, radiomics, pet.
    horizon : float
        Prediction horizon in days.
    repeats, folds, seed, n_jobs
        Cross-validation (see :func:`radiorisk.models.cross_validate_risk`);
        repeats and folds default to 5 x 5.
    features : path-like, optional
        Radiomics table (``radiorisk extract`` output, long or wide, Parquet or
        CSV).  Without it, the ``radiomics`` block is extracted from the cohort's
        manifest with ``radiomics_params`` into ``out/radiomics/``.
    radiomics_params : str
        Preset or YAML for that extraction.
    measure : bool
        Also measure plaque from the manifest's masks (``img_`` columns of the
        ccta block).
    mace : sequence of str, optional
        MACE components (default mi, cardiac_death, ua_hosp, revasc_unplanned).
    competing_risks : bool or None, default None
        Non-cardiac death (and cardiac death outside ``mace``) as a competing event (True), or censored
        (False: ``fit --censor-competing``, the cause-specific estimand).  Default None: competing risks
        whenever the cohort records such a death.  Then the kind's competing-risk version is fitted
        (every kind has one), risks are the cumulative incidence of MACE, ``oof_predictions.csv``
        gains ``event_type``, the ladder and IECV metrics are ``c_cr``, ``auc_cr``, ... and the notes state
        the estimand (docs/ladder.md).  ``competing`` (``"censor"`` / ``"competing"``): older spelling.
    search : bool
        Nested random search for the xgb models (ignored for coxph).
    search_iter : int
        Candidates of the search.
    search_budget : float or None
        Time cap of the search per outer fold, seconds. Default None: every
        candidate is tried, so the result does not depend on the machine's
        speed; a budget that cuts a search short makes it machine-dependent
        (recorded as ``truncated`` in the provenance).
    n_boot : int
        Bootstrap resamples for the ladder CIs.
    params : dict, optional
        Fixed model parameters (e.g. ``{"penalizer": 0.1}`` for coxph); the
        search draws the parameters of its space on top of them.
    overwrite : bool
        Replace the files of an existing run folder.
    argv : list of str, optional
        The command line, recorded in ``provenance.json``.
    id_key : bytes, str or Pseudonymiser, optional
        Key of the id pseudonyms (default: ``id_key_file``, else the
        environment variable ``RADIORISK_ID_KEY``, else the user's key file
        ``~/.config/radiorisk/id_key``, created once; see :mod:`radiorisk.privacy`).
    id_key_file : path-like, optional
        Key file (created with a random key when missing); must lie outside ``out``.
    raw_ids : bool
        Write raw identifiers (opt-out of pseudonymisation, for private outputs).
    radiomics_cache : path-like, optional
        Folder of the resumable radiomics store (raw ids and absolute image
        paths: keep it private, outside ``out``).  Default: a temporary store
        (pseudonymised runs) or ``out/radiomics/`` (``raw_ids``).
    allow_outside_root : bool, default False
        Accept manifest image/mask paths that lead outside the cohort folder
        (refused by default, rule ``path_outside_root``).
    cv_by : str, optional
        Internal-external cross-validation: each fold leaves one cluster out
        (``"site"``, ``"vendor"``, or any patient-level column of the cohort's
        groups or ``patients`` table; a ``scans`` column is read from each
        patient's first scan).  One pass (``repeats`` must be unset or 1,
        ``folds`` unset: one fold per cluster); the ladder and the OOF
        predictions use these folds, and ``iecv.csv`` holds the per-cluster
        performance and its random-effects meta-analysis (``n_boot`` resamples
        per cluster).  PET rungs fitted on the PET-available patients leave
        out the same clusters (those among them).
    impute : {"median", "mice:M"}, default "median"
        Missing covariates of ``coxph``: ``"median"`` (the default) imputes the
        training median and adds an availability indicator; ``"mice:M"``
        multiply imputes by chained equations inside every training fold (M
        imputations, M Cox fits, Rubin's rules, averaged risks; see
        ``docs/models.md``).  The xgboost models handle missing values natively
        and accept only the default.  The handling is stated in the run's notes
        and ``configuration.impute``; the saved model carries its imputers.
    stable_features, robustness : float and path-like, optional
        Keep only the radiomic features whose ICC(2,1) across perturbations (and
        reader ICC, when recorded) reaches ``stable_features``, from the
        ``robustness_icc.csv`` of ``radiorisk robustness`` (``robustness``: the
        file or its folder); applied by the model's ``ICCFilter`` step
        (:mod:`radiorisk.pipeline._stable_features`; the counts are in the notes).
    optimism_boot : int, default 0 (off)
        Resamples of the optimism-corrected bootstrap of the final pipeline (``optimism.csv``; docs/models.md).
    harmonise, harmonise_covariates : str or sequence of str, optional
        ComBat of the radiomic features by batch (``"vendor,kernel"``) inside the folds (:mod:`._harmonise`).
    ladder_order, progress : optional
        Rung order of the ladder (a permutation of ``blocks``, e.g. ``"clinical,ccta,pet,radiomics"``;
        default the canonical order); ``progress(step, done, total)`` of the long steps (docs/architecture.md).

    Returns
    -------
    FitRun

    Examples
    --------
    >>> run_fit("cohort", "run", model="svm", blocks="clinical")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.FitUsageError: model 'svm': choose from ['xgb-binary', 'xgb-cox', 'xgb-aft', 'coxph', 'fg']
    >>> run = run_fit("demo_output/data", "run", model="coxph", blocks="clinical,ccta")  # doctest: +SKIP
    >>> run = run_fit("demo_output/data", "run", model="coxph", blocks="clinical", cv_by="site")  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    blocks, horizon, repeats, folds = check_options(model, blocks, horizon, repeats=repeats, folds=folds,
                                                     n_jobs=n_jobs, n_boot=n_boot,
                                                     search_budget=search_budget, cv_by=cv_by)
    blocks, mace = ladder_blocks(blocks, ladder_order), tuple(mace) if mace else DEFAULT_MACE
    cr_request = competing_request(competing_risks, competing, model)
    data_dir, out = Path(data_dir), Path(out)
    _check_out(out, overwrite)
    pz = pseudonymiser(id_key, id_key_file, raw_ids, out)
    radiomics_cache = _check_cache(radiomics_cache, out, pz)
    work = _Work(pz=pz, inputs={}, notes=[], timings={}, files_extra={}, progress=progress)
    fit_model = _missing_data(work, model, impute, horizon)
    cohort = _timed(work, "read_validate", read_cohort, data_dir, allow_outside_root=allow_outside_root)
    work.inputs.update({name: p for name, p in cohort.files.items() if p is not None})
    _prepare_out(out, pz, work.notes)
    radiomics = _radiomics(work, cohort, data_dir, out, blocks, features=features,
                           radiomics_params=radiomics_params, radiomics_cache=radiomics_cache,
                           n_jobs=n_jobs, allow_outside_root=allow_outside_root)
    plaque = _plaque(work, cohort, data_dir, allow_outside_root) if measure else None
    data, cr, n_competing = outcome_mode(
        lambda comp: _assemble(work, cohort, blocks, plaque=plaque, radiomics=radiomics, mace=mace,
                               competing=comp, horizon=horizon), cr_request, model, optimism_boot)
    if cr or cr_request is not None:
        work.notes.append(statement(model, cr, request=cr_request, n_competing=n_competing, horizon=horizon))
    clusters = _clusters(work, cohort, data, cv_by)
    model_params, note = stable_model_params(data, blocks, stable_features, robustness, params)
    data, model_params, hnote = harmonise_setup(cohort, data, blocks, harmonise, harmonise_covariates,
                                                model_params, fit_model)
    work.notes += [n for n in (note, hnote) if n]
    if model == "coxph":  # the default strategy: clinical unpenalised, penalty by inner CV (issue 16)
        model_params, note = default_cox_params(data, blocks, model_params)
        work.notes.append(note)
    model_params, note = competing_params(model_params, cr, model)
    work.notes += [n for n in (note, MI_STATEMENT if cr and isinstance(fit_model, MIModel) else None) if n]
    s = {"n_iter": int(search_iter), "budget_seconds": search_budget} \
        if search and model in SEARCHABLE_MODELS else None
    cv, ladder, est, final_info = _fit_models(work, fit_model, data, blocks, horizon=horizon, seed=seed,
                                              repeats=repeats, folds=folds, n_jobs=n_jobs, search=s,
                                              n_boot=n_boot, params=model_params, clusters=clusters)
    conv = list(getattr(est.steps[-1][1], "convergence_notes_", None) or [])
    if conv:  # lifelines' warnings, kept off the console
        work.notes.append("the final model's fit reported: " + "; ".join(conv))
    status = data.event_type if cr else None  # competing-risk metrics per cluster
    iecv = None if cv_by is None else _timed(work, "iecv_summary", iecv_summary, cv, n_boot=n_boot,
                                             random_state=seed, status=status)
    mnar = _mnar(work, fit_model, data, blocks, horizon=horizon, seed=seed, folds=folds, params=dict(model_params),
                 out=out)
    opt = fit_optimism(work, fit_model, data, blocks, optimism_boot, final_info, out, horizon, seed, n_jobs, model_params)
    preset = radiomics_params if features is None and "radiomics" in blocks else None
    files = _write_results(work, out, data, cv, ladder, est, iecv,
                           requirements_from_cohort(data, blocks, radiomics_preset=preset), competing_risks=cr)
    all_notes = _statements(pz, cohort, data, work, cv, ladder, iecv)
    work.timings["total"] = time.perf_counter() - t_start
    configuration = {
        "data": str(data_dir), "out": str(out), "model": model, "blocks": blocks,
        "horizon_days": horizon, "repeats": repeats, "folds": folds, "n_jobs": n_jobs,
        "features": None if features is None else str(features),
        "radiomics_params": radiomics_params if features is None and "radiomics" in blocks else None,
        "measure_plaque": bool(measure), "mace": list(mace), "competing": data.competing,
        "competing_risks": cr,
        "search": s, "n_boot": n_boot, "params": params or {}, **_iecv_configuration(cv_by, cv),
        "impute": IMPUTE_DEFAULT if impute is None else impute,
        "stable_features": None if stable_features is None else
        {"threshold": float(stable_features), "robustness": str(robustness)},
        **({"optimism_boot": optimism_boot} if optimism_boot else {}),
        **harmonise_configuration(model_params),
    }
    prov = fit_provenance(argv=argv, seed=seed, configuration=configuration, inputs=work.inputs, data=data,
                          blocks=blocks, final_info=final_info, cv=cv, pz=pz, notes=all_notes, files=files,
                          timings=work.timings)
    files["provenance"] = out / "provenance.json"
    write_json(files["provenance"], prov)
    return FitRun(out=out, files=files, ladder=ladder, cv=cv, notes=all_notes, iecv=iecv, mnar=mnar, optimism=opt)
