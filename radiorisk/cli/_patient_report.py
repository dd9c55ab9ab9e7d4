"""``radiorisk patient-report``: argparse and messages around :func:`radiorisk.pipeline.run_patient_report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import (
    BundleError,
    FitUsageError,
    HorizonError,
    InputFileError,
    ModelError,
    PatientReportError,
)
from ._args import add_allow_outside_root, add_bundle_radiomics_args, add_id_args
from ._messages import FlagWords

__all__ = ["add_patient_report_parser", "patient_report_command"]

#: run_patient_report's parameters -> the flags that set them.
_FLAGS = {"model_dir": "--model", "data_dir": "--data", "out_dir": "--out", "patients": "--patient",
          "comment_file": "--comment-file", "guideline": "--guideline", "train_data": "--train-data",
          "horizon": "--horizon",
          "top_k": "--top-k", "n_boot": "--n-boot", "features": "--features",
          "radiomics_cache": "--radiomics-cache", "n_jobs": "--n-jobs", "id_key_file": "--id-key-file",
          "raw_ids": "--raw-ids", "overwrite": "--overwrite", "formats": "--formats"}
_as_flags = FlagWords(_FLAGS, (("(use overwrite)", "(use --overwrite)"), ("(features)", "(--features)"),
            ("(or give features)", "(or give --features)"), ("(or use raw_ids)", "(or use --raw-ids)"),
            ("give train_data", "give --train-data"), ("inside out_dir", "inside --out"),
            ("or id_key_file)", "or --id-key-file)")))
_REWORDED = (PatientReportError, ModelError, FitUsageError, HorizonError, InputFileError, BundleError)


def patient_report_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk patient-report`` from parsed arguments; returns the exit code (0)."""
    # on demand (`radiorisk --help` stays fast); the module until radiorisk.pipeline exports it
    from ..pipeline import console_progress, run_patient_report

    try:
        run = run_patient_report(
            args.model, args.data, args.patient, args.out, comment_file=args.comment_file, author=args.author,
            guideline=args.guideline, train_data=args.train_data, horizon=args.horizon, top_k=args.top_k, n_boot=args.n_boot,
            features=args.features, radiomics_cache=args.radiomics_cache, n_jobs=args.n_jobs,
            id_key_file=args.id_key_file, raw_ids=args.raw_ids, overwrite=args.overwrite, argv=sys.argv,
            allow_outside_root=args.allow_outside_root, random_state=args.seed,
            formats=[f.strip() for f in args.formats.split(",") if f.strip()],
            heatmaps=not args.no_heatmaps, progress=console_progress(args.quiet))
    except _REWORDED as exc:
        raise type(exc)(_as_flags(str(exc))) from exc
    if not args.quiet:
        print(run.summary())
    return 0


def add_patient_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``patient-report`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "patient-report", help="clinician and patient reports of some patients (HTML with figures, JSON)",
        description="Read DIR and the model as `radiorisk predict` does, and write for each --patient: "
                    "ID.html (clinician view: summary, risk with its interval and confidence, contributing "
                    "factors with SHAP waterfalls, plaque findings with lesion images, PET, guideline "
                    "context, comment), ID.patient.html (plain-language view), their PDFs, ID.json and "
                    "ID.sr.dcm (DICOM SR, TID 1500), with "
                    "patient_report.provenance.json. ID is the pseudonym unless --raw-ids. See docs/report.md.",
    )
    a.add_argument("--model", type=Path, required=True, metavar="RUN/model", help="model bundle folder")
    a.add_argument("--data", type=Path, required=True, metavar="DIR", help="cohort folder")
    a.add_argument("--patient", action="append", required=True, metavar="ID",
                   help="patient id as in DIR/patients.csv (repeat for several patients)")
    a.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder of the reports")
    a.add_argument("--comment-file", type=Path, default=None, metavar="FILE",
                   help="UTF-8 text printed as the comment of every report")
    a.add_argument("--author", default=None, metavar="NAME", help="who asked for the reports (provenance)")
    a.add_argument("--guideline", type=Path, default=None, metavar="TABLE.json",
                   help="guideline table of the Guideline context section (default: radiorisk's: CAD-RADS 2.0 "
                        "suggestions, no risk bands; see docs/report.md)")
    a.add_argument("--train-data", type=Path, default=None, metavar="DIR",
                   help="the cohort the model was fitted on (default: the one in RUN/provenance.json), for "
                        "the risk interval and the SHAP background")
    a.add_argument("--horizon", type=float, default=None, metavar="DAYS",
                   help="prediction horizon in days (default: the model's)")
    a.add_argument("--top-k", type=int, default=5, metavar="K", help="contributing factors listed (default 5)")
    a.add_argument("--n-boot", type=int, default=50, metavar="B",
                   help="bootstrap refits of the risk interval (default 50)")
    add_bundle_radiomics_args(a)
    add_id_args(a)
    a.add_argument("--formats", default="html,pdf,json,sr", metavar="F1,F2",
                   help="from html,pdf,json,sr (default all: HTML and PDF of both views, JSON, DICOM SR)")
    a.add_argument("--no-heatmaps", action="store_true",
                   help="no voxel-based heatmap of the most influential radiomic feature on the lesion panels")
    a.add_argument("--overwrite", action="store_true", help="replace existing reports")
    add_allow_outside_root(a)
    a.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the bootstrap and SHAP sampling")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=patient_report_command)
    return a
