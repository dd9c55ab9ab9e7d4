"""``radiorisk predict``: argparse and messages around :func:`radiorisk.pipeline._predict.predict_cohort`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import BundleError, FitUsageError, HorizonError, InputFileError, ModelError
from ._args import add_allow_outside_root, add_bundle_radiomics_args, add_id_args
from ._messages import FlagWords

__all__ = ["add_predict_parser", "predict_command"]

#: predict_cohort's parameters -> the flags that set them (errors are reworded for the command line).
_FLAGS = {"model_dir": "--model", "data_dir": "--data", "out": "--out", "horizon": "--horizon",
          "features": "--features", "radiomics_cache": "--radiomics-cache", "n_jobs": "--n-jobs",
          "id_key_file": "--id-key-file", "raw_ids": "--raw-ids", "overwrite": "--overwrite"}
_as_flags = FlagWords(_FLAGS, (("(use overwrite)", "(use --overwrite)"), ("(features)", "(--features)"),
            ("(or give features)", "(or give --features)"), ("(or use raw_ids)", "(or use --raw-ids)"),
            ("(out ", "(--out "), ("of out ", "of --out "), ("or id_key_file)", "or --id-key-file)")))
#: Errors whose message names predict_cohort's parameters (rebuilt with the flags, same class).
_REWORDED = (ModelError, FitUsageError, HorizonError, InputFileError, BundleError)


def predict_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk predict`` from parsed arguments; returns the exit code (0)."""
    from ..pipeline import predict_cohort  # on demand: `radiorisk --help` stays fast

    try:
        run = predict_cohort(
            args.model, args.data, args.out, horizon=args.horizon, features=args.features,
            radiomics_cache=args.radiomics_cache, n_jobs=args.n_jobs, id_key_file=args.id_key_file,
            raw_ids=args.raw_ids, overwrite=args.overwrite, argv=sys.argv,
            allow_outside_root=args.allow_outside_root)
    except _REWORDED as exc:
        raise type(exc)(_as_flags(str(exc))) from exc
    if not args.quiet:
        print(run.summary())
    return 0


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "predict", help="apply a saved model (RUN/model) to a cohort folder, one risk per patient",
        description="Read and validate DIR, assemble the model's blocks (radiomics from --features or "
                    "extracted with the model's preset), refuse a cohort that lacks a column the model "
                    "needs, and write one row per patient (pseudonymised id, risk by the horizon, time, "
                    "event, sex, ethnicity, site, vendor, out-of-distribution score) with a provenance "
                    "JSON beside it. See docs/predict.md.",
    )
    a.add_argument("--model", type=Path, required=True, metavar="RUN/model", help="model bundle folder")
    a.add_argument("--data", type=Path, required=True, metavar="DIR", help="cohort folder")
    a.add_argument("--out", type=Path, required=True, metavar="PREDICTIONS.csv",
                   help="predictions file to write (PREDICTIONS.provenance.json beside it)")
    a.add_argument("--horizon", type=float, default=None, metavar="DAYS",
                   help="prediction horizon in days (default: the model's)")
    add_bundle_radiomics_args(a)
    add_id_args(a)
    a.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_allow_outside_root(a)
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=predict_command)
    return a
