"""The body of ``radiorisk predict``: apply a saved model bundle to a new cohort folder.

:func:`predict_cohort` validates the cohort (:func:`radiorisk.io.read_cohort`),
assembles the model's blocks with :func:`radiorisk.features.assemble_cohort` (the
bundle's outcome definition; radiomics from ``features`` or extracted from the
cohort's manifest with the bundle's preset, by the helper ``run_fit`` uses;
image-measured plaque when the model has ``img_`` columns), refuses a cohort that
lacks a column the model needs (every missing column, grouped by block), and writes:

- ``out`` (CSV, one row per patient): ``patient_id`` (pseudonymised as in
  ``radiorisk fit``: the same key gives the same pseudonyms), ``risk`` (by the
  horizon, written at full precision so that it reads back exactly), ``time``,
  ``event`` (and ``event_type`` with competing deaths), the group columns ``sex,
  ethnicity, site`` (and ``vendor`` when the scans record it), and the
  out-of-distribution score ``ood_n_outside, ood_share_outside, ood_max_abs_z``
  against the bundle's training summaries (definition in
  :mod:`radiorisk.models._requirements`; NaN for a bundle without them);
- ``<out stem>.provenance.json`` beside it, written last: the bundle's SHA-256
  (of its ``manifest.json``, which pins every file of the bundle), the SHA-256 of
  every input, versions, horizon, identifiers, the columns outside the training
  range and the missing values the model's preprocessor imputes;
- ``<out stem>_extraction/radiomics/`` beside ``out`` when radiomics were extracted
  (the tables ``run_fit`` writes into ``RUN/radiomics/``; a separate folder, so that
  predicting into a run folder never replaces the fit's own radiomics).

Errors name the parameters of :func:`predict_cohort`; the command line
(:mod:`radiorisk.cli._predict`) names its flags.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_csv, sha256_file
from ..exceptions import ModelError, RadioriskError
from ..features import DEFAULT_MACE, assemble_cohort, index_scans
from ..imaging import measure_plaque
from ..io import read_cohort
from ..models import load, load_requirements
from ..models._requirements import OOD_COLUMNS
from ..stats import check_horizon
from ._fit_radiomics import extract_run_radiomics, read_features
from ._harmonise import check_predict_batches, with_model_batches
from ._provenance import cohort_ids, inside, pseudonymiser, versions, write_json

__all__ = ["PredictRun", "predict_cohort", "provenance_path", "extraction_dir", "PREDICTION_COLUMNS"]

#: The leading columns of a predictions file (then event_type, vendor and the OOD score when present).
PREDICTION_COLUMNS = ("patient_id", "risk", "time", "event")
_GROUPS = ("sex", "ethnicity", "site")
_NO_REQUIREMENTS = ("the model bundle records no requirements (saved before radiorisk recorded them): "
                    "the cohort was checked only against the model's column names, blocks and training "
                    "distributions are unknown, and the out-of-distribution score is NaN")


@dataclass(frozen=True)
class PredictRun:
    """What :func:`predict_cohort` wrote.

    Attributes
    ----------
    out : Path
        The predictions CSV.
    provenance : Path
        Its provenance JSON.
    predictions : DataFrame
        The rows written (pseudonymised ids unless ``raw_ids``).
    notes : tuple of str
        The statements (also in the provenance).
    inputs : DataFrame or None
        The model's input matrix, one row per patient in the order of
        ``predictions``, indexed by the cohort's **raw** ids (in memory only,
        never written; for diagnostics such as
        :func:`radiorisk.evaluation._transport.transport_diagnostics`).
    """

    out: Path
    provenance: Path
    predictions: pd.DataFrame
    notes: tuple[str, ...]
    inputs: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk predict``."""
        p = self.predictions
        lines = [f"radiorisk predict: {len(p)} patient(s), mean risk {p['risk'].mean():.4f}"]
        if p["ood_n_outside"].notna().any():
            lines.append(f"  {int((p['ood_n_outside'] > 0).sum())} patient(s) with at least one input "
                         "outside the training [1 %, 99 %] range")
        lines += [f"  - {n}" for n in self.notes]
        lines += [f"Predictions: {self.out}", f"Provenance: {self.provenance}"]
        return "\n".join(lines)


def provenance_path(out: Path) -> Path:
    """The provenance JSON beside a predictions file.

    Examples
    --------
    >>> provenance_path(Path("out/predictions.csv")).as_posix()
    'out/predictions.provenance.json'
    """
    return out.with_name(out.stem + ".provenance.json")


def extraction_dir(out: Path) -> Path:
    """The folder whose ``radiomics/`` receives an extraction of :func:`predict_cohort` (never a fit run's own).

    Examples
    --------
    >>> (extraction_dir(Path("RUN/predictions.csv")) / "radiomics").as_posix()
    'RUN/predictions_extraction/radiomics'
    """
    return out.with_name(out.stem + "_extraction")


def _check_out(out: Path, overwrite: bool) -> None:
    for p in (out, provenance_path(out)):
        if p.exists() and not overwrite:
            raise ModelError(f"out {out}: {p.name} exists (use overwrite)")
        if p.is_dir():
            raise ModelError(f"out {out}: {p} is a folder; give a file name such as predictions.csv")


def _used_prefixes(columns) -> tuple[bool, bool]:
    """Whether the model uses radiomics (``rad_``) and image-measured plaque (``img_``) columns."""
    return any(c.startswith("rad_") for c in columns), any(c.startswith("img_") for c in columns)


def _radiomics(cohort, data_dir: Path, out: Path, pz, req, *, features, inputs: dict, notes: list,
               radiomics_cache, n_jobs: int, allow_outside_root: bool):
    """The radiomics table: read from ``features`` or extracted with the bundle's preset."""
    if features is not None:
        inputs["features"] = Path(features)
        return read_features(Path(features))
    preset = None if req is None else req.radiomics_preset
    if preset is None:
        raise ModelError("features: the model uses radiomics (rad_) columns and the bundle records no "
                         "radiomics preset; give the radiomics table of this cohort (features)")
    if len(cohort.manifest) == 0:
        raise ModelError(f"data_dir {data_dir}: the model uses radiomics but the cohort has no manifest "
                         "rows to extract them from (or give features)")
    cache = None if radiomics_cache is None else Path(radiomics_cache)
    if cache is not None and not pz.raw and inside(cache, extraction_dir(out)):
        raise ModelError(f"radiomics_cache {cache}: the store holds raw ids and image paths; put it "
                         f"outside {extraction_dir(out)} (or use raw_ids)")
    extraction_dir(out).mkdir(parents=True, exist_ok=True)
    res = extract_run_radiomics(cohort, extraction_dir(out), pz, params=preset, cache=cache, jobs=n_jobs,
                                allow_outside_root=allow_outside_root)
    notes.append(f"radiomics extracted from the manifest with the model's preset {preset!r}: "
                 f"{len(res.features)} lesion row(s), {len(res.failures)} failure(s) "
                 f"({extraction_dir(out).name}/radiomics/ beside out)")
    return res.features


def _assemble(cohort, data_dir: Path, req, *, plaque, radiomics, horizon: float):
    mace = DEFAULT_MACE if req is None or req.mace is None else req.mace
    competing = "censor" if req is None or req.competing is None else req.competing
    try:
        return assemble_cohort(cohort, plaque=plaque, radiomics=radiomics, mace=mace,
                               competing=competing, horizon=horizon)
    except ValueError as exc:
        if isinstance(exc, RadioriskError):
            raise
        raise ModelError(f"data_dir {data_dir}: {exc}") from exc


def _check_columns(columns, available, req, data_dir: Path) -> None:
    """Refuse a cohort without every model column, naming them all, grouped by block."""
    if req is not None:
        missing = req.missing_columns(available)
    else:
        have = set(available)
        gone = [c for c in columns if c not in have]
        missing = {"(block not recorded: bundle without requirements)": gone} if gone else {}
    if missing:
        n = sum(len(v) for v in missing.values())
        parts = "; ".join(f"block {b!r}: {', '.join(cols)}" for b, cols in missing.items())
        raise ModelError(f"data_dir {data_dir}: the cohort lacks {n} column(s) the model needs — {parts} "
                         "(the columns are built from the cohort's tables by assemble_cohort; add the "
                         "source columns, or refit without these blocks)")


def _listed(counts: dict, limit: int = 10) -> str:
    """``"a (3), b (1)"``, the first ``limit`` columns only (the provenance lists all).

    Examples
    --------
    >>> _listed({"a": 3, "b": 1, "c": 2}, limit=2)
    'a (3), b (1) and 1 more column(s) (all in the provenance)'
    """
    shown = ", ".join(f"{c} ({k})" for c, k in list(counts.items())[:limit])
    rest = len(counts) - limit
    return shown + (f" and {rest} more column(s) (all in the provenance)" if rest > 0 else "")


def _imputation(est, X: pd.DataFrame) -> tuple[dict, str | None]:
    """Missing values per model input and a statement of how the model handles them."""
    counts = {str(c): int(k) for c, k in X.isna().sum().items() if k}
    if not counts:
        return counts, None
    pre = dict(est.steps).get("preprocess")
    m = getattr(est.steps[-1][1], "n_imputations", None)
    how = (f"multiply imputed ({m} outcome-free chained-equation imputations learnt on the training rows; "
           "risks averaged over them)" if m else
           "imputed with the training median by the model's preprocessor"
           if getattr(pre, "impute", None) == "median" else
           "passed to the model as missing (xgboost routes them natively)")
    return counts, f"missing values in the model's inputs (patients per column), {how}: {_listed(counts)}"


def _frame(data, X: pd.DataFrame, risk, ood: pd.DataFrame, cohort, pz) -> pd.DataFrame:
    """The rows of the predictions file (ids pseudonymised by ``pz``)."""
    out = pd.DataFrame({"patient_id": pz(X.index.to_numpy(dtype=object)), "risk": risk,
                        "time": data.time.loc[X.index].to_numpy(float),
                        "event": data.event.loc[X.index].to_numpy(int)})
    if data.event_type is not None:
        out["event_type"] = data.event_type.loc[X.index].to_numpy(int)
    for g in _GROUPS:
        out[g] = data.groups[g].loc[X.index].to_numpy(dtype=object)
    scans = index_scans(cohort.scans)
    if "vendor" in scans.columns and scans["vendor"].notna().any():
        scans.index = scans.index.astype(str)
        out["vendor"] = scans["vendor"].reindex(X.index).to_numpy(dtype=object)
    for c in OOD_COLUMNS:
        out[c] = ood[c].to_numpy()
    return out


def _ood(req, X: pd.DataFrame, notes: list) -> tuple[pd.DataFrame, dict]:
    """The OOD score per patient and the count of rows outside the training range per column."""
    if req is None:
        notes.append(_NO_REQUIREMENTS)
        return pd.DataFrame(np.nan, index=X.index, columns=list(OOD_COLUMNS)), {}
    outside = req.outside_counts(X)
    if outside:
        notes.append("values outside the training [1 %, 99 %] range (patients per column): "
                     f"{_listed(outside)}")
    return req.ood_scores(X), outside


def _provenance(*, argv, model_dir: Path, est, req, horizon, inputs, pz, n, outside, missing, notes,
                out: Path, configuration) -> dict:
    return {
        "command": "radiorisk predict",
        "argv": list(argv) if argv is not None else None,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "model": {"path": str(model_dir), "bundle_sha256": sha256_file(model_dir / "manifest.json"),
                  "bundle_sha256_of": "manifest.json (it lists the SHA-256 of every other file)",
                  "horizon_trained": est.horizon, "requirements": req is not None},
        "horizon_days": horizon,
        "configuration": configuration,
        "inputs_sha256": {k: {"path": str(p), "sha256": sha256_file(p)} for k, p in sorted(inputs.items())},
        "n_patients": int(n),
        "identifiers": pz.provenance(),
        "ood": {"definition": "ood_n_outside: inputs outside the training [q01, q99] range or at a level "
                              "unseen in training; ood_share_outside: that count over the inputs with a "
                              "value; ood_max_abs_z: max |x - mean| / sd over numeric inputs",
                "columns_outside": outside},
        "missing_values_imputed": missing,
        "statements": list(notes),
        "outputs": {"predictions": out.name},
    }


def _key_note(model_dir: Path, pz) -> str | None:
    """A statement when the ids are not written as in the fit run that saved the bundle (RUN/provenance.json)."""
    prov = model_dir.parent / "provenance.json"
    try:
        fit_ids = json.loads(prov.read_text(encoding="utf-8")).get("identifiers") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if fit_ids.get("key_fingerprint") == pz.fingerprint:
        return None
    return (f"patient ids are written {'raw' if pz.raw else 'with key ' + str(pz.fingerprint)}, the fit run "
            f"{'with key ' + str(fit_ids['key_fingerprint']) if fit_ids.get('key_fingerprint') else 'raw'}: "
            "the pseudonyms do not match those of the fit's files")


def _features_of(est) -> list[str]:
    first = next((s for _, s in est.steps if not isinstance(s, str)), None)
    return [str(c) for c in first.feature_names_in_]


def _inputs(cohort, data_dir: Path, features, radiomics_cache, horizon, model_cols, req,
            pz, out, notes, *, n_jobs, allow_outside_root):
    """The model's input matrix and the assembled cohort, every model column checked."""
    inputs = {name: p for name, p in cohort.files.items() if p is not None}
    uses_rad, uses_img = _used_prefixes(model_cols)
    radiomics = None
    if uses_rad or features is not None:
        radiomics = _radiomics(cohort, data_dir, out, pz, req, features=features, inputs=inputs,
                               notes=notes, radiomics_cache=radiomics_cache, n_jobs=n_jobs,
                               allow_outside_root=allow_outside_root)
    plaque = None
    if uses_img:
        if len(cohort.manifest) == 0:
            raise ModelError(f"data_dir {data_dir}: the model uses image-measured plaque (img_) columns "
                             "but the cohort has no manifest rows to measure them from")
        plaque, failures = measure_plaque(cohort.files["manifest"], allow_outside_root=allow_outside_root)
        notes.append(f"plaque measured on {len(plaque)} lesion mask(s); {len(failures)} failure(s)")
    data = _assemble(cohort, data_dir, req, plaque=plaque, radiomics=radiomics, horizon=horizon)
    data = with_model_batches(cohort, data, model_cols, data_dir)
    _check_columns(model_cols, data.X.columns, req, data_dir)
    return data, data.X[model_cols], inputs


def load_bundle(model_dir, horizon=None):
    """``(estimator, requirements or None, horizon)`` of a bundle, the horizon checked (default the model's).

    Examples
    --------
    >>> load_bundle("RUN/model", horizon=0)
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.HorizonError: horizon must be a number > 0 (a time in the follow-up's unit, days); got 0
    """
    if horizon is not None:
        horizon = check_horizon(horizon, name="horizon")
    model_dir = Path(model_dir)
    est, req = load(model_dir), load_requirements(model_dir)
    return est, req, check_horizon(horizon, est.horizon, name="horizon")


@dataclass(frozen=True)
class PreparedCohort:
    """A cohort folder read and assembled for a bundle (what :func:`predict_cohort` predicts from).

    Attributes
    ----------
    pz : Pseudonymiser
        The identifiers of the outputs.
    cohort : Cohort
        The validated tables (:func:`radiorisk.io.read_cohort`).
    data : CohortData
        The assembled cohort (every column, raw ids).
    X : DataFrame
        The model's input matrix (its columns, in its order), raw ids.
    inputs : dict
        Input name -> file path (for the provenance's digests).
    notes : list of str
        Statements so far (identifiers not yet scrubbed).
    """

    pz: object
    cohort: object
    data: object
    X: pd.DataFrame
    inputs: dict
    notes: list


def prepare_cohort(est, req, model_dir, data_dir, out, horizon: float, *, features=None, radiomics_cache=None,
                   n_jobs: int = 1, id_key=None, id_key_file=None, raw_ids: bool = False,
                   allow_outside_root: bool = False) -> PreparedCohort:
    """Read ``data_dir`` and assemble the model's inputs, as :func:`predict_cohort` does (nothing written
    but a radiomics extraction into :func:`extraction_dir` of ``out``).

    Parameters are those of :func:`predict_cohort`; ``est, req`` come from :func:`load_bundle`.

    Examples
    --------
    >>> est, req, h = load_bundle("RUN/model")  # doctest: +SKIP
    >>> prep = prepare_cohort(est, req, "RUN/model", "cohort", Path("out/p.csv"), h)  # doctest: +SKIP
    """
    model_dir, data_dir, out = Path(model_dir), Path(data_dir), Path(out)
    pz = pseudonymiser(id_key, id_key_file, raw_ids, extraction_dir(out))
    cohort = read_cohort(data_dir, allow_outside_root=allow_outside_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    notes: list = [n for n in (_key_note(model_dir, pz),) if n]
    model_cols = _features_of(est)
    data, X, inputs = _inputs(cohort, data_dir, features, radiomics_cache, horizon, model_cols,
                              req, pz, out, notes, n_jobs=n_jobs, allow_outside_root=allow_outside_root)
    notes += [n for n in (check_predict_batches(est, X, data_dir),) if n]
    return PreparedCohort(pz=pz, cohort=cohort, data=data, X=X, inputs=inputs, notes=notes)


def predict_cohort(model_dir, data_dir, out, *, horizon: float | None = None, features=None,
                   radiomics_cache=None, n_jobs: int = 1, id_key=None, id_key_file=None,
                   raw_ids: bool = False, overwrite: bool = False, argv=None,
                   allow_outside_root: bool = False) -> PredictRun:
    """Apply a model bundle to a cohort folder and write one row per patient with its provenance.

    Parameters
    ----------
    model_dir : path-like
        The model bundle (``RUN/model`` of ``radiorisk fit``), checked as by
        :func:`radiorisk.models.load`.
    data_dir : path-like
        Cohort folder (validated with :func:`radiorisk.io.read_cohort`).
    out : path-like
        The predictions CSV; ``<stem>.provenance.json`` is written beside it.
    horizon : float, optional
        Days; default the model's training horizon.
    features : path-like, optional
        Radiomics table of this cohort (``radiorisk extract`` output); default:
        extracted from the cohort's manifest with the bundle's preset when the
        model uses radiomics.
    radiomics_cache : path-like, optional
        Private, resumable store of that extraction (outside the folder of ``out``).
    n_jobs : int
        Parallel radiomics extraction.
    id_key, id_key_file, raw_ids
        Identifiers, as in :func:`radiorisk.pipeline.run_fit` (the same key gives
        the same pseudonyms as the fit's files).
    overwrite : bool
        Replace existing output files.
    argv : list of str, optional
        The command line, recorded in the provenance.
    allow_outside_root : bool
        Accept manifest paths leading outside the cohort folder.

    Returns
    -------
    PredictRun

    Raises
    ------
    ModelError
        The cohort lacks columns the model needs (all named, grouped by block),
        the output exists, or radiomics cannot be obtained.
    BundleError
        The bundle is malformed, tampered or of an unknown version.

    Examples
    --------
    >>> predict_cohort("RUN/model", "cohort", "p.csv", horizon=-1)
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.HorizonError: horizon must be a number > 0 (a time in the follow-up's unit, days); got -1
    >>> run = predict_cohort("RUN/model", "new_cohort", "predictions.csv")  # doctest: +SKIP
    """
    model_dir, data_dir, out = Path(model_dir), Path(data_dir), Path(out)
    est, req, horizon = load_bundle(model_dir, horizon)
    _check_out(out, overwrite)
    prep = prepare_cohort(est, req, model_dir, data_dir, out, horizon, features=features,
                          radiomics_cache=radiomics_cache, n_jobs=n_jobs, id_key=id_key,
                          id_key_file=id_key_file, raw_ids=raw_ids, allow_outside_root=allow_outside_root)
    pz, cohort, data, X, inputs, notes = prep.pz, prep.cohort, prep.data, prep.X, prep.inputs, prep.notes
    try:
        risk = est.predict_risk(X, horizon=horizon)
    except ModelError as exc:
        raise ModelError(f"horizon: {exc}") from exc
    if horizon != est.horizon:
        notes.append(f"risk by {horizon:g} days; the model was fitted for {est.horizon:g} days")
    ood, outside = _ood(req, X, notes)
    missing, note = _imputation(est, X)
    notes += [note] if note else []
    notes = [*data.notes, *notes]
    if not pz.raw:  # no statement may carry an identifier
        notes = [pz.scrub_text(n, cohort_ids(cohort)) for n in notes]
    frame = _frame(data, X, risk, ood, cohort, pz)
    atomic_write_csv(out, frame)
    configuration = {"model": str(model_dir), "data": str(data_dir), "out": str(out), "horizon_days": horizon,
                     "features": None if features is None else str(features), "n_jobs": n_jobs}
    prov = _provenance(argv=argv, model_dir=model_dir, est=est, req=req, horizon=horizon, inputs=inputs,
                       pz=pz, n=len(frame), outside=outside, missing=missing, notes=notes, out=out,
                       configuration=configuration)
    write_json(provenance_path(out), prov)
    return PredictRun(out=out, provenance=provenance_path(out), predictions=frame, notes=tuple(notes), inputs=X)
