"""``radiorisk fit``: cross-validated risk model, modality ladder and final model of a cohort.

The lead wires :func:`add_fit_parser` into :mod:`radiorisk.cli`.  The command is
a thin layer over :func:`run_fit`, which writes into ``RUN``:

- ``oof_predictions.csv``: ``patient_id, repeat, fold, risk, time, event, sex,
  ethnicity, site`` (out-of-fold risk by the horizon, every patient and repeat;
  ``patient_id`` pseudonymised, see below);
- ``ladder.csv``: the modality ladder of the chosen blocks
  (:data:`radiorisk.models._ladder.LADDER_COLUMNS`);
- ``model/``: the final model refitted on all patients (``est.save``);
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
pseudonymised copies.  ``raw_ids=True`` (``--raw-ids``) opts out and keeps the
engine's resumable store in ``RUN/radiomics/`` as it is.

Each file is written to a temporary name and renamed (atomic);
``provenance.json`` is written last and marks a complete run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from ._files import atomic_write, atomic_write_csv, atomic_write_text, sha256_file
from .exceptions import FitUsageError, InputFileError, RadioriskError
from .privacy import ID_COLUMNS, IdKeyError, Pseudonymiser
from .stats import DEFAULT_HORIZON_DAYS, check_horizon

__all__ = ["FitUsageError", "FitRun", "run_fit", "fit_command", "add_fit_parser"]

_BLOCK_ORDER = ("clinical", "ccta", "radiomics", "pet")
_MODELS = ("xgb-binary", "xgb-cox", "xgb-aft", "coxph")
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
    """

    out: Path
    files: dict
    ladder: object
    cv: object
    notes: tuple[str, ...]

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk fit``."""
        lines = [f"radiorisk fit: {self.cv.model} on {'+'.join(self.cv.blocks)}", ""]
        s = self.ladder.summary()
        lines += ["  " + ln for ln in s.to_string().splitlines()]
        lines += [""] + [f"  - {n}" for n in self.notes]
        lines += ["", f"Results are in {self.out}"]
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _atomic_write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_csv(path, df, float_format="%.10g")


def _versions() -> dict:
    import importlib.metadata as md

    from . import __version__

    out = {"radiorisk": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scipy", "scikit-learn", "scikit-survival", "xgboost", "lifelines",
                "joblib", "pyradiomics-bhklab"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _parse_blocks(blocks) -> list[str]:
    if isinstance(blocks, str):
        blocks = [b.strip() for b in blocks.split(",") if b.strip()]
    unknown = [b for b in blocks if b not in _BLOCK_ORDER]
    if unknown:
        raise FitUsageError(f"--blocks: unknown block(s) {unknown}; choose from {list(_BLOCK_ORDER)}")
    if not blocks:
        raise FitUsageError("--blocks: give at least one block, e.g. clinical,ccta")
    return [b for b in _BLOCK_ORDER if b in blocks]


def _read_features(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(f"--features {path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types
        raise InputFileError(f"--features {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if "patient_id" not in df.columns and df.index.name != "patient_id":
        raise InputFileError(f"--features {path}: no 'patient_id' column; expected the radiomics table "
                             "of `radiorisk extract` (long or wide) or one row per patient")
    return df


def _drop_constant_columns(data):
    keep, dropped = {}, []
    for b, cols in data.blocks.items():
        kept = []
        for c in cols:
            v = data.X[c]
            k = int(v.isna().sum())
            if k == len(v) or (k == 0 and v.nunique() <= 1):
                dropped.append(c)
            else:
                kept.append(c)
        keep[b] = tuple(kept)
    return replace(data, blocks=MappingProxyType(keep)), dropped


# ---------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------


def run_fit(
    data_dir,
    out,
    *,
    model: str,
    blocks,
    horizon: float = DEFAULT_HORIZON_DAYS,
    repeats: int = 5,
    folds: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
    features=None,
    radiomics_params: str = "ccta-plaque",
    measure: bool = False,
    mace=None,
    competing: str = "censor",
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
        Cross-validation (see :func:`radiorisk.models.cross_validate_risk`).
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
    competing : {"censor", "competing"}
        Handling of non-cardiac death (see :func:`radiorisk.features.assemble_cohort`).
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

    Returns
    -------
    FitRun
    """
    from .features._assemble import DEFAULT_MACE, assemble_cohort
    from .io import read_cohort
    from .models._ladder import modality_ladder
    from .models._validation import SEARCHABLE_MODELS, cross_validate_risk, fit_final_model

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if model not in _MODELS:
        raise FitUsageError(f"--model {model!r}: choose from {list(_MODELS)}")
    blocks = _parse_blocks(blocks)
    horizon = check_horizon(horizon, name="--horizon")
    if repeats < 1:
        raise FitUsageError(f"--repeats must be >= 1; got {repeats}")
    if folds < 2:
        raise FitUsageError(f"--folds must be >= 2; got {folds}")
    if n_jobs < 1:
        raise FitUsageError(f"--n-jobs must be >= 1; got {n_jobs}")
    if n_boot < 0:
        raise FitUsageError(f"--n-boot must be >= 0; got {n_boot}")
    if search_budget is not None and not search_budget > 0:
        raise FitUsageError(f"--search-budget must be > 0 seconds; got {search_budget}")
    mace = tuple(mace) if mace else DEFAULT_MACE
    data_dir = Path(data_dir)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FitUsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FitUsageError(f"--out {out}: the folder exists and is not empty (use --overwrite)")
    pz = _pseudonymiser(id_key, id_key_file, raw_ids, out)
    if radiomics_cache is not None:
        radiomics_cache = Path(radiomics_cache)
        if not pz.raw and _inside(radiomics_cache, out):
            raise FitUsageError(f"--radiomics-cache {radiomics_cache}: the store holds raw ids and image "
                                f"paths; put it outside --out {out} (or use --raw-ids)")

    t0 = time.perf_counter()
    cohort = read_cohort(data_dir, allow_outside_root=allow_outside_root)
    timings["read_validate"] = time.perf_counter() - t0
    inputs = {name: p for name, p in cohort.files.items() if p is not None}
    notes: list[str] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"--out {out}: cannot create the folder: {exc}") from exc

    radiomics = None
    files_extra: dict[str, Path] = {}
    if not pz.raw and (out / "radiomics").is_dir():
        shutil.rmtree(out / "radiomics")  # an overwritten --raw-ids run's store has raw ids and paths
    if pz.created:
        notes.append(f"a new id key was created (fingerprint {pz.fingerprint}); keep it private: it "
                     "links the pseudonyms back to the ids")
    if features is not None:
        features = Path(features)
        radiomics = _read_features(features)
        inputs["features"] = features
    elif "radiomics" in blocks:
        if len(cohort.manifest) == 0:
            raise FitUsageError("--blocks includes radiomics but there is no --features table and the "
                                f"cohort {data_dir} has no manifest rows to extract radiomics from")
        from .imaging import extract_radiomics

        t0 = time.perf_counter()
        (out / "radiomics").mkdir(exist_ok=True)
        if radiomics_cache is not None:
            radiomics_cache.mkdir(parents=True, exist_ok=True)
            store = radiomics_cache / "features.parquet"
        elif pz.raw:
            store = out / "radiomics" / "features.parquet"
        else:
            store = None  # a temporary store: the engine's store records raw ids and image paths
        manifest = cohort.files["manifest"]
        if allow_outside_root:  # checked and resolved here; extract_radiomics takes the frame as given
            from .imaging._engine import read_manifest_for_extraction

            manifest = read_manifest_for_extraction(manifest, allow_outside_root=True)
        res = extract_radiomics(manifest, params=radiomics_params, out=store, jobs=n_jobs)
        if store is None or store.parent != out / "radiomics":
            _write_radiomics(out / "radiomics", res, pz, cohort.files["manifest"],
                             allow_outside_root=allow_outside_root)
        files_extra["radiomics"] = out / "radiomics"
        timings["extract_radiomics"] = time.perf_counter() - t0
        radiomics = res.features
        notes.append(f"radiomics extracted from the manifest with preset {radiomics_params!r}: "
                     f"{len(res.features)} lesion row(s), {len(res.failures)} failure(s) "
                     f"(out/radiomics/)")
    plaque = None
    if measure:
        if len(cohort.manifest) == 0:
            raise FitUsageError(f"--measure-plaque: the cohort {data_dir} has no manifest rows")
        from .imaging import measure_plaque

        t0 = time.perf_counter()
        plaque, failures = measure_plaque(cohort.files["manifest"], allow_outside_root=allow_outside_root)
        timings["measure_plaque"] = time.perf_counter() - t0
        notes.append(f"plaque measured on {len(plaque)} lesion mask(s); {len(failures)} failure(s)")

    try:
        data = assemble_cohort(cohort, plaque=plaque, radiomics=radiomics, mace=mace,
                               competing=competing, horizon=horizon)
    except ValueError as exc:
        raise FitUsageError(str(exc)) from exc
    empty = [b for b in blocks if not data.blocks[b]]
    if empty:
        raise FitUsageError(f"--blocks: block(s) {empty} have no columns in this cohort")
    used_before = set(data.columns(blocks))
    data, dropped = _drop_constant_columns(data)
    dropped_used = [c for c in dropped if c in used_before]
    if dropped_used:
        notes.append(f"constant column(s) left out: {', '.join(dropped_used)}")
    s = None
    if search and model in SEARCHABLE_MODELS:
        s = {"n_iter": int(search_iter), "budget_seconds": search_budget}
    try:
        t0 = time.perf_counter()
        cv = cross_validate_risk(model, data, blocks=blocks, horizon=horizon, random_state=seed,
                                 repeats=repeats, folds=folds, n_jobs=n_jobs, search=s, params=params)
        timings["cross_validation"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ladder = modality_ladder(model, data, horizon=horizon, random_state=seed, rungs=blocks,
                                 repeats=repeats, folds=folds, n_jobs=n_jobs, search=s,
                                 n_boot=n_boot, reuse=[cv], params=params)
        timings["ladder"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        est, final_info = fit_final_model(model, data, blocks=blocks, horizon=horizon,
                                          random_state=seed, search=s, params=params)
        timings["final_model"] = time.perf_counter() - t0
    except ValueError as exc:
        if isinstance(exc, RadioriskError):
            raise
        raise FitUsageError(str(exc)) from exc

    files = {}
    oof = cv.to_frame().merge(data.groups, left_on="patient_id", right_index=True, how="left")
    oof["patient_id"] = pz(oof["patient_id"].to_numpy(dtype=object))
    files["oof_predictions"] = out / "oof_predictions.csv"
    _atomic_write_csv(files["oof_predictions"], oof[_OOF_COLUMNS])
    files["ladder"] = out / "ladder.csv"
    _atomic_write_csv(files["ladder"], ladder.to_frame())
    files["model"] = out / "model"
    tmp_model = out / f".model.tmp-{os.getpid()}"
    if tmp_model.exists():
        shutil.rmtree(tmp_model)
    est.save(tmp_model)
    if files["model"].exists():
        shutil.rmtree(files["model"])
    os.replace(tmp_model, files["model"])

    files.update(files_extra)
    all_notes = tuple(dict.fromkeys([*data.notes, *notes, *cv.notes, *ladder.notes]))
    if not pz.raw:  # no statement may carry an identifier
        all_notes = tuple(pz.scrub_text(n, _cohort_ids(cohort)) for n in all_notes)
    timings["total"] = time.perf_counter() - t_start
    prov = {
        "command": "radiorisk fit",
        "argv": list(argv) if argv is not None else None,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
        "seed": int(seed),
        "configuration": {
            "data": str(data_dir), "out": str(out), "model": model, "blocks": blocks,
            "horizon_days": horizon, "repeats": repeats, "folds": folds, "n_jobs": n_jobs,
            "features": None if features is None else str(features),
            "radiomics_params": radiomics_params if features is None and "radiomics" in blocks else None,
            "measure_plaque": bool(measure), "mace": list(mace), "competing": competing,
            "search": s, "n_boot": n_boot, "params": params or {},
        },
        "inputs_sha256": {name: {"path": str(p), "sha256": sha256_file(p)}
                          for name, p in sorted(inputs.items())},
        "cohort": {"n_patients": data.n, "n_events": int(data.event.sum()),
                   "pet_available": int(data.pet_available.sum()),
                   "columns": {b: list(data.blocks[b]) for b in blocks}},
        "final_model": {k: v for k, v in final_info.items()},
        "search_per_fold": None if cv.search is None else cv.search.to_dict(orient="records"),
        "identifiers": pz.provenance(),
        "statements": list(all_notes),
        "outputs": {k: str(v.name) for k, v in files.items()},
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    files["provenance"] = out / "provenance.json"
    atomic_write_text(files["provenance"], json.dumps(prov, indent=2, default=_json_default) + "\n")
    return FitRun(out=out, files=files, ladder=ladder, cv=cv, notes=all_notes)


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).expanduser().resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _pseudonymiser(id_key, id_key_file, raw_ids: bool, out: Path) -> Pseudonymiser:
    """Resolve the id key (or the ``--raw-ids`` opt-out); the key file must lie outside ``out``."""
    if isinstance(id_key, Pseudonymiser):
        if id_key_file is not None or raw_ids:
            raise FitUsageError("give a Pseudonymiser, or id_key_file/raw_ids, not both")
        return id_key
    if id_key_file is not None and _inside(Path(id_key_file), out):
        raise FitUsageError(f"--id-key-file {id_key_file}: the key must stay outside the outputs "
                            f"(--out {out})")
    try:
        pz = Pseudonymiser.from_options(key=id_key, key_file=id_key_file, raw_ids=raw_ids)
    except IdKeyError as exc:
        raise FitUsageError(str(exc)) from exc
    if pz.key_path is not None and _inside(pz.key_path, out):
        raise FitUsageError(f"the id key file {pz.key_path} lies inside --out {out}; the key must stay "
                            "outside the outputs (set RADIORISK_ID_KEY or --id-key-file)")
    return pz


def _cohort_ids(cohort) -> list[str]:
    """Every patient, scan and lesion id of the cohort's tables."""
    ids: dict[str, None] = {}
    for name in ("patients", "scans", "lesions", "pet", "outcomes", "manifest"):
        t = getattr(cohort, name, None)
        if isinstance(t, pd.DataFrame):
            for c in ID_COLUMNS:
                if c in t.columns:
                    ids.update(dict.fromkeys(t[c].dropna().astype(str)))
    ids.pop("", None)
    return list(ids)


def _write_radiomics(folder: Path, res, pz: Pseudonymiser, manifest, *, allow_outside_root: bool = False) -> None:
    """Pseudonymised copies of an extraction: ``features.parquet`` (long), failures and provenance.

    Image paths in the failures become pseudonyms of the path as written in the
    manifest (relative to its folder); paths and ids in the reasons are replaced too.
    """
    from .imaging._engine import read_manifest_for_extraction, to_long

    folder.mkdir(parents=True, exist_ok=True)
    man = read_manifest_for_extraction(manifest, allow_outside_root=allow_outside_root)
    root = Path(manifest).parent

    def rel(p: str) -> str:
        try:
            return Path(p).relative_to(root).as_posix()
        except ValueError:
            return str(p)

    paths = {p: pz([rel(p)])[0] for p in pd.unique(pd.concat([man["image_path"], man["mask_path"]]))}
    ids = [str(v) for c in ID_COLUMNS for v in man[c].dropna().unique() if str(v)]
    feats = pz.frame(res.features)
    fails = pz.frame(res.failures)
    if len(fails):
        reasons = []
        for reason in fails["reason"].astype(str):
            for p in sorted(paths, key=len, reverse=True):
                reason = reason.replace(p, paths[p]).replace(rel(p), paths[p])
            reasons.append(pz.scrub_text(reason, ids))
        fails["reason"] = reasons
        fails["image_path"] = [paths.get(p, pz([rel(p)])[0]) for p in fails["image_path"].astype(str)]
    atomic_write(folder / "features.parquet", lambda tmp: to_long(feats).to_parquet(tmp, index=False))
    _atomic_write_csv(folder / "features.failures.csv", fails)
    prov = {**res.provenance, "identifiers": pz.provenance(),
            "store": "a private store outside the run folder (raw ids and image paths are not copied)"}
    atomic_write_text(folder / "features.provenance.json", json.dumps(prov, indent=2, default=str) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _parse_params(items) -> dict:
    """``["penalizer=0.1", "max_depth=2"]`` -> ``{"penalizer": 0.1, "max_depth": 2}`` (JSON values, else text)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FitUsageError(f"--param {item!r}: expected KEY=VALUE, e.g. penalizer=0.1")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def fit_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk fit`` from parsed arguments; returns the exit code (0).

    A newly created id key file is announced on stderr (its path is never written to RUN).
    """
    pz = _pseudonymiser(None, getattr(args, "id_key_file", None), getattr(args, "raw_ids", False),
                        Path(args.out))
    if pz.created:
        print(f"radiorisk fit: created the id key {pz.key_path} (fingerprint {pz.fingerprint}); keep it "
              "private and backed up: it links the pseudonyms in RUN back to the ids", file=sys.stderr)
    run = run_fit(
        args.data, args.out, model=args.model, blocks=args.blocks, horizon=args.horizon,
        repeats=args.repeats, folds=args.folds, seed=args.seed, n_jobs=args.n_jobs,
        features=args.features, radiomics_params=args.radiomics_params, measure=args.measure_plaque,
        mace=args.mace.split(",") if args.mace else None, competing=args.competing,
        search=not args.no_search, search_iter=args.search_iter, search_budget=args.search_budget,
        n_boot=args.n_boot, params=_parse_params(args.param), overwrite=args.overwrite, argv=sys.argv,
        id_key=pz, radiomics_cache=getattr(args, "radiomics_cache", None),
        allow_outside_root=getattr(args, "allow_outside_root", False),
    )
    if not getattr(args, "quiet", False):
        print(run.summary())
    return 0


def add_fit_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``fit`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "fit", help="cross-validate a risk model, build the modality ladder, refit the final model",
        description="Read and validate DIR, assemble one row per patient (MACE outcome, modality "
                    "blocks), run repeated stratified K-fold cross-validation (nested random search "
                    "for the xgb models), climb the modality ladder and refit on all data. Writes "
                    "RUN/oof_predictions.csv, RUN/ladder.csv, RUN/model/ and RUN/provenance.json.",
    )
    a.add_argument("--data", type=Path, required=True, metavar="DIR", help="cohort folder")
    a.add_argument("--model", required=True, choices=_MODELS)
    a.add_argument("--blocks", required=True, metavar="B1,B2",
                   help="modality blocks from clinical,ccta,radiomics,pet")
    a.add_argument("--horizon", type=float, default=DEFAULT_HORIZON_DAYS, metavar="DAYS",
                   help=f"prediction horizon in days (default {DEFAULT_HORIZON_DAYS:g})")
    a.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to write")
    a.add_argument("--repeats", type=int, default=5, help="repeats of K-fold (default 5)")
    a.add_argument("--folds", type=int, default=5, help="folds (default 5)")
    a.add_argument("--seed", type=int, default=0, help="seed of folds, models and bootstrap (default 0)")
    a.add_argument("--n-jobs", type=int, default=1, metavar="N",
                   help="parallel fold tasks; results do not depend on it (default 1)")
    a.add_argument("--features", type=Path, default=None, metavar="FEATURES.parquet",
                   help="radiomics table from `radiorisk extract` (default: extract from DIR's manifest "
                        "when the radiomics block is requested)")
    a.add_argument("--radiomics-params", default="ccta-plaque", metavar="PRESET_OR_YAML",
                   help="radiomics preset for that extraction (default ccta-plaque)")
    a.add_argument("--measure-plaque", action="store_true",
                   help="add image-measured plaque (from the manifest's masks) to the ccta block")
    a.add_argument("--mace", default=None, metavar="C1,C2",
                   help="MACE components (default mi,cardiac_death,ua_hosp,revasc_unplanned)")
    a.add_argument("--competing", choices=("censor", "competing"), default="censor",
                   help="non-cardiac death: censoring (default) or a competing event")
    a.add_argument("--no-search", action="store_true", help="no hyperparameter search (xgb models)")
    a.add_argument("--search-iter", type=int, default=8, metavar="N",
                   help="random-search candidates (default 8)")
    a.add_argument("--search-budget", type=float, default=None, metavar="SECONDS",
                   help="time cap of the search per outer fold (default: none, so results do not "
                        "depend on machine speed; a cap that stops a search makes them depend on it)")
    a.add_argument("--n-boot", type=int, default=500, metavar="B",
                   help="bootstrap resamples for the ladder CIs (default 500)")
    a.add_argument("--param", action="append", default=None, metavar="KEY=VALUE",
                   help="fixed model parameter (repeatable), e.g. penalizer=0.1 for coxph, "
                        "n_estimators=200 for xgb")
    a.add_argument("--overwrite", action="store_true", help="replace the files of an existing RUN")
    ids = a.add_mutually_exclusive_group()
    ids.add_argument("--id-key-file", type=Path, default=None, metavar="PATH",
                     help="key of the id pseudonyms, outside RUN (default: $RADIORISK_ID_KEY, else "
                          "~/.config/radiorisk/id_key, created once; see docs/privacy.md)")
    ids.add_argument("--raw-ids", action="store_true",
                     help="write raw patient/scan/lesion ids (private outputs only)")
    a.add_argument("--radiomics-cache", type=Path, default=None, metavar="DIR",
                   help="private, resumable radiomics store outside RUN (it records raw ids and image "
                        "paths; default: a temporary store)")
    a.add_argument("--allow-outside-root", action="store_true",
                   help="accept manifest image/mask paths that lead outside the cohort folder")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=fit_command)
    return a
