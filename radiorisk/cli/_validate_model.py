"""``radiorisk validate-model``: argparse and messages around :func:`radiorisk.pipeline.validate_model`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import BundleError, FitUsageError, HorizonError, InputFileError, ModelError
from ._args import add_allow_outside_root, add_bundle_radiomics_args, add_id_args
from ._messages import FlagWords

__all__ = ["add_validate_model_parser", "validate_model_command"]

#: validate_model's parameters -> the flags that set them.
_FLAGS = {"model_dir": "--model", "data_dir": "--data", "out": "--out", "development": "--development",
          "horizon": "--horizon", "n_boot": "--n-boot", "features": "--features",
          "development_features": "--development-features", "radiomics_cache": "--radiomics-cache",
          "n_jobs": "--n-jobs", "id_key_file": "--id-key-file", "raw_ids": "--raw-ids",
          "overwrite": "--overwrite", "competing_risks": "--competing-risks"}
_as_flags = FlagWords(_FLAGS, (("(use overwrite)", "(use --overwrite)"), ("(features)", "(--features)"),
            ("(or give features)", "(or give --features)"),
            ("(or give development_features)", "(or give --development-features)"),
            ("(development_features)", "(--development-features)"), ("(or use raw_ids)", "(or use --raw-ids)"),
            ("(out ", "(--out "), ("of out ", "of --out "), ("or id_key_file)", "or --id-key-file)")))
_REWORDED = (ModelError, FitUsageError, HorizonError, InputFileError, BundleError)


def validate_model_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk validate-model`` from parsed arguments; returns the exit code (0)."""
    from ..pipeline import validate_model  # on demand: `radiorisk --help` stays fast

    try:
        ev = validate_model(
            args.model, args.data, args.out, development=args.development, horizon=args.horizon,
            groups=tuple(args.groups.split(",")) if args.groups else (), n_boot=args.n_boot, seed=args.seed,
            calibration_boot=args.calibration_boot, competing_risks=args.competing_risks,
            update=None if args.update == "none" else args.update,
            features=args.features, development_features=args.development_features,
            radiomics_cache=args.radiomics_cache, n_jobs=args.n_jobs, id_key_file=args.id_key_file,
            raw_ids=args.raw_ids, overwrite=args.overwrite, figures=not args.no_figures, argv=sys.argv,
            allow_outside_root=args.allow_outside_root)
    except _REWORDED as exc:
        raise type(exc)(_as_flags(str(exc))) from exc
    if not args.quiet:
        print(ev.summary())
    return 0


def add_validate_model_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``validate-model`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "validate-model", help="external validation of a saved model on a new cohort (audit, case mix, report)",
        description="Predict DIR with the model (every check of `radiorisk predict`), audit the predictions "
                    "overall and by sex, ethnicity, site and vendor, compare the case mix with the "
                    "development cohort (standardised differences, membership model, support, linear "
                    "predictor, model-based C) and write an external-validation report in the TRIPOD+AI "
                    "order. Not the data check `radiorisk validate`. See docs/external_validation.md.",
    )
    a.add_argument("--model", type=Path, required=True, metavar="RUN/model", help="model bundle folder")
    a.add_argument("--data", type=Path, required=True, metavar="DIR", help="validation cohort folder")
    a.add_argument("--out", type=Path, required=True, metavar="OUT", help="output folder (must be empty)")
    a.add_argument("--development", type=Path, default=None, metavar="DEV_DIR",
                   help="the development cohort folder (membership model, development linear predictor "
                        "and performance beside the validation's); default: the bundle's training summaries")
    a.add_argument("--horizon", type=float, default=None, metavar="DAYS",
                   help="horizon in days (default: the model's)")
    a.add_argument("--groups", default="sex,ethnicity,site,vendor,detector", metavar="COLS",
                   help="audit groups, comma-separated: prediction, patient or index-scan columns (default "
                        "sex,ethnicity,site,vendor,detector; those the cohort has)")
    a.add_argument("--n-boot", type=int, default=200, metavar="B", help="bootstrap replicates (default 200)")
    a.add_argument("--seed", type=int, default=None, help="bootstrap seed (default 0)")
    a.add_argument("--calibration-boot", type=int, default=None, metavar="B",
                   help="bootstrap the ICI/E50/E90/Emax family on B replicates only")
    cr = a.add_mutually_exclusive_group()
    cr.add_argument("--competing-risks", dest="competing_risks", action="store_true", default=None,
                    help="competing-risk estimands (needs a model fitted with competing deaths recorded; "
                         "the default for such a model)")
    cr.add_argument("--censor-competing", dest="competing_risks", action="store_false",
                    help="score a competing-risk model's risks with competing deaths censored")
    a.add_argument("--update", default="closed-test",
                   choices=["closed-test", "original", "intercept", "intercept_slope", "refit", "none"],
                   help="model updating on DIR: chosen by a closed test (default), imposed, refit with the "
                        "same pipeline on DIR (OUT/refit/), or none")
    add_bundle_radiomics_args(a)
    a.add_argument("--development-features", type=Path, default=None, metavar="FEATURES.parquet",
                   help="radiomics table of DEV_DIR")
    add_id_args(a)
    a.add_argument("--no-figures", action="store_true", help="no figures in the audit and the report")
    a.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT")
    add_allow_outside_root(a)
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=validate_model_command)
    return a
