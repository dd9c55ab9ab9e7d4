"""``radiorisk fit``: argparse and messages around :func:`radiorisk.pipeline.run_fit`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..exceptions import FitUsageError
from ..schemas import DEFAULT_HORIZON_DAYS
from ._args import add_allow_outside_root, add_id_args
from ._messages import FlagWords

__all__ = ["add_fit_parser", "fit_command"]

#: The model kinds (radiorisk.models.MODEL_NAMES, which the tests check; spelt out here so that
#: building the parser imports no model code).
_MODEL_CHOICES = ("xgb-binary", "xgb-cox", "xgb-aft", "coxph", "fg")
#: run_fit's parameters -> the flags that set them (errors are reworded for the command line).
_FLAGS = {"model": "--model", "blocks": "--blocks", "horizon": "--horizon", "repeats": "--repeats",
          "folds": "--folds", "n_jobs": "--n-jobs", "n_boot": "--n-boot", "search_budget": "--search-budget",
          "out": "--out", "features": "--features", "measure": "--measure-plaque",
          "id_key_file": "--id-key-file", "raw_ids": "--raw-ids", "radiomics_cache": "--radiomics-cache",
          "overwrite": "--overwrite", "data_dir": "--data", "cv_by": "--cv-by",
          "impute": "--impute", "stable_features": "--stable-features", "robustness": "--robustness",
          "optimism_boot": "--optimism-boot",
          "harmonise_covariates": "--harmonise-covariates", "harmonise": "--harmonise"}
_as_flags = FlagWords(_FLAGS, (("use overwrite)", "use --overwrite)"), ("outside out ", "outside --out "),
            ("inside out ", "inside --out "), ("or use raw_ids)", "or use --raw-ids)"),
            ("no features table", "no --features table"), ("or id_key_file)", "or --id-key-file)"),
            ("(out ", "(--out "), ("with cv_by", "with --cv-by"),
            ("(use impute='median', the default)", "(use --impute median, the default)"),
            ("competing_risks=False", "--censor-competing"), ("competing_risks=True", "--competing-risks")))


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
    from ..pipeline import pseudonymiser  # on demand: `radiorisk --help` stays fast

    if getattr(args, "competing_risks", False) and getattr(args, "censor_competing", False):
        raise FitUsageError("--competing-risks and --censor-competing contradict each other: give one "
                            "(default: competing risks when the cohort records non-cardiac death)")
    try:
        pz = pseudonymiser(None, getattr(args, "id_key_file", None), getattr(args, "raw_ids", False),
                           Path(args.out))
        run = _run(args, pz)
    except FitUsageError as exc:
        raise FitUsageError(_as_flags(str(exc))) from exc
    if not getattr(args, "quiet", False):
        print(run.summary())
    return 0


def _run(args: argparse.Namespace, pz):
    from ..pipeline import console_progress, run_fit

    cr = True if getattr(args, "competing_risks", False) else \
        False if getattr(args, "censor_competing", False) else None
    if pz.created:
        print(f"radiorisk fit: created the id key {pz.key_path} (fingerprint {pz.fingerprint}); keep it "
              "private and backed up: it links the pseudonyms in RUN back to the ids", file=sys.stderr)
    return run_fit(
        args.data, args.out, model=args.model, blocks=args.blocks, horizon=args.horizon,
        repeats=args.repeats, folds=args.folds, seed=args.seed, n_jobs=args.n_jobs,
        features=args.features, radiomics_params=args.radiomics_params, measure=args.measure_plaque,
        mace=args.mace.split(",") if args.mace else None, competing=getattr(args, "competing", None),
        competing_risks=cr,
        search=not args.no_search, search_iter=args.search_iter, search_budget=args.search_budget,
        n_boot=args.n_boot, params=_parse_params(args.param), overwrite=args.overwrite, argv=sys.argv,
        id_key=pz, radiomics_cache=getattr(args, "radiomics_cache", None),
        allow_outside_root=getattr(args, "allow_outside_root", False),
        cv_by=getattr(args, "cv_by", None), impute=getattr(args, "impute", "median"),
        stable_features=getattr(args, "stable_features", None), robustness=getattr(args, "robustness", None),
        optimism_boot=getattr(args, "optimism_boot", 0),
        harmonise=getattr(args, "harmonise", None),
        harmonise_covariates=getattr(args, "harmonise_covariates", None),
        progress=console_progress(getattr(args, "quiet", False)),  # stderr: bars on a terminal, step lines
    )


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
    a.add_argument("--model", required=True, choices=_MODEL_CHOICES)
    a.add_argument("--blocks", required=True, metavar="B1,B2",
                   help="modality blocks from clinical,ccta,radiomics,pet")
    a.add_argument("--horizon", type=float, default=DEFAULT_HORIZON_DAYS, metavar="DAYS",
                   help=f"prediction horizon in days (default {DEFAULT_HORIZON_DAYS:g})")
    a.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to write")
    a.add_argument("--repeats", type=int, default=None,
                   help="repeats of K-fold (default 5; with --cv-by one pass)")
    a.add_argument("--folds", type=int, default=None,
                   help="folds (default 5; with --cv-by one fold per cluster)")
    a.add_argument("--cv-by", default=None, metavar="COL",
                   help="internal-external cross-validation: each fold leaves one cluster out (site, "
                        "vendor, or a column of the patients table; a scans column is read from each "
                        "patient's first scan); writes RUN/iecv.csv with per-cluster performance and "
                        "its random-effects meta-analysis")
    a.add_argument("--impute", default="median", metavar="median|mice:M",
                   help="missing covariates of coxph: median with an availability indicator (default: "
                        "median), or multiple imputation by chained equations with M imputations inside "
                        "each training fold (mice:5), pooled by Rubin's rules; xgb models handle missing "
                        "values natively")
    a.add_argument("--stable-features", type=float, default=None, metavar="ICC",
                   help="keep only radiomic features with ICC(2,1) across perturbations (and reader ICC) >= ICC, "
                        "from --robustness (docs/robustness.md)")
    a.add_argument("--robustness", type=Path, default=None, metavar="DIR",
                   help="a `radiorisk robustness` folder (or its robustness_icc.csv) for --stable-features")
    a.add_argument("--harmonise", default=None, metavar="B1,B2",
                   help="ComBat-harmonise the radiomic features by these scanner batch variables (scans "
                        "columns such as vendor,kernel,detector, or site), fitted inside each training fold; "
                        "predict refuses an unseen batch (docs/harmonisation.md)")
    a.add_argument("--harmonise-covariates", default=None, metavar="C1,C2",
                   help="columns whose effects ComBat preserves, e.g. age_years,sex (with --harmonise)")
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
    a.add_argument("--competing-risks", action="store_true",
                   help="non-cardiac death (and cardiac death outside --mace) is a competing event: the "
                        "model kind's competing-risk version predicts the cumulative incidence of MACE and "
                        "the out-of-fold metrics are the competing-risk ones (c_cr, auc_cr, brier_cr, "
                        "oe_ratio_cr; Aalen-Johansen observed risk). The default when the cohort records "
                        "such a death; xgb-aft has no competing-risk version")
    a.add_argument("--censor-competing", action="store_true",
                   help="censor non-cardiac death instead (today's cause-specific estimand, 1 - survival "
                        "from MACE in a world without competing death); stated in the notes")
    a.add_argument("--competing", choices=("censor", "competing"), default=None,
                   help=argparse.SUPPRESS)  # the older spelling of --censor-competing / --competing-risks
    a.add_argument("--no-search", action="store_true", help="no hyperparameter search (xgb models)")
    a.add_argument("--search-iter", type=int, default=8, metavar="N",
                   help="random-search candidates (default 8)")
    a.add_argument("--search-budget", type=float, default=None, metavar="SECONDS",
                   help="time cap of the search per outer fold (default: none, so results do not "
                        "depend on machine speed; a cap that stops a search makes them depend on it)")
    a.add_argument("--n-boot", type=int, default=500, metavar="B",
                   help="bootstrap resamples for the ladder CIs (default 500)")
    a.add_argument("--optimism-boot", type=int, default=0, metavar="B",
                   help="optimism-corrected bootstrap validation (as rms::validate) with B resamples, each "
                        "refitting the whole pipeline; writes RUN/optimism.csv (default 0: off; B = 200 costs "
                        "about 12 times the 5 x 5 cross-validation)")
    a.add_argument("--param", action="append", default=None, metavar="KEY=VALUE",
                   help="fixed model parameter (repeatable), e.g. penalizer=0.1 for coxph, "
                        "n_estimators=200 for xgb")
    a.add_argument("--overwrite", action="store_true", help="replace the files of an existing RUN")
    add_id_args(a, key_where=", outside RUN", same_as_fit=False)
    a.add_argument("--radiomics-cache", type=Path, default=None, metavar="DIR",
                   help="private, resumable radiomics store outside RUN (it records raw ids and image "
                        "paths; default: a temporary store)")
    add_allow_outside_root(a)
    a.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (default: a bar per long step on a terminal, and one line "
                        "per finished step) and no summary")
    a.set_defaults(func=fit_command)
    return a
