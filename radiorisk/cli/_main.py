"""The ``radiorisk`` parser and ``main``.

A thin layer: each subcommand parses its flags and calls one public function.
Errors that radiorisk raises on purpose (:class:`~radiorisk.exceptions.RadioriskError`)
print one clear message and exit with code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from .. import __version__
from ..exceptions import RadioriskError
from ._args import add_allow_outside_root
from ._audit import add_audit_parser
from ._fit import add_fit_parser
from ._patient_report import add_patient_report_parser
from ._predict import add_predict_parser
from ._robustness import add_robustness_parser
from ._samplesize import add_samplesize_parser
from ._synth import add_synth_parser
from ._validate_model import add_validate_model_parser

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_INPUT"]

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran, but something in it failed (e.g. lesions recorded as failures)
EXIT_INPUT = 2  # bad input or usage: nothing, or not everything, could be done


def _cmd_extract(args: argparse.Namespace) -> int:
    from ..imaging import extract_radiomics

    manifest = args.manifest
    if args.allow_outside_root:  # checked and resolved here; extract_radiomics takes the frame as given
        from ..imaging import read_manifest_for_extraction

        manifest = read_manifest_for_extraction(manifest, allow_outside_root=True)
    res = extract_radiomics(
        manifest,
        params=args.params,
        out=args.out,
        jobs=args.jobs,
        scheduler=args.scheduler,
        worker_timeout=args.worker_timeout,
        crop=not args.no_crop,
        progress=not args.quiet,
    )
    print(res.summary())
    if args.jobs > 1 and not args.scheduler:
        print(res.work_summary())
    if not res.ok:
        print(f"{len(res.failures)} lesion(s) failed; see {res.path.with_suffix('')}.failures.csv")
    return EXIT_OK if res.ok else EXIT_FAILED


def _cmd_measure(args: argparse.Namespace) -> int:
    from ..imaging import measure_plaque, patient_plaque_summary

    lesions, failures = measure_plaque(args.manifest, allow_outside_root=args.allow_outside_root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lesions.to_csv(out / "plaque_lesions.csv", index=False, lineterminator="\n")
    failures.to_csv(out / "plaque_failures.csv", index=False, lineterminator="\n")
    patients = patient_plaque_summary(lesions) if len(lesions) else lesions
    patients.to_csv(out / "plaque_patients.csv", lineterminator="\n")
    print(f"measured {len(lesions)} lesion masks ({len(failures)} failed) -> {out}")
    return EXIT_OK if failures.empty else EXIT_FAILED


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..io import validate

    report = validate(args.dir, check_images=not args.no_images,
                      allow_outside_root=args.allow_outside_root)
    print(report.format(max_lines=args.max_lines))
    return EXIT_OK if report.ok else EXIT_INPUT


def _cmd_report(args: argparse.Namespace) -> int:
    from ..pipeline import build_model_report

    out = build_model_report(args.run, args.out, data=args.data, audit=args.audit, n_boot=args.n_boot,
                             seed=args.seed)
    if not args.quiet:
        print(f"wrote the model report {out}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..pipeline import run_demo

    result = run_demo(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    print(result.summary())
    return EXIT_OK if result.ok else EXIT_FAILED


def _add_validate(sub) -> None:
    v = sub.add_parser("validate", help="check a cohort folder; exit 0 when clean, 2 listing every violation")
    v.add_argument("dir", type=Path, metavar="DIR")
    v.add_argument("--no-images", action="store_true", help="skip opening image and mask files")
    v.add_argument("--max-lines", type=int, default=200,
                   help="print at most this many violations (all are counted; default 200)")
    add_allow_outside_root(v, root="the manifest's folder")
    v.set_defaults(func=_cmd_validate)


def _add_extract(sub) -> None:
    e = sub.add_parser("extract", help="extract radiomics for every lesion of a manifest (resumable)")
    e.add_argument("--manifest", type=Path, required=True, metavar="MANIFEST")
    e.add_argument("--params", default="ccta-plaque", metavar="PRESET_OR_YAML",
                   help="preset (ccta-plaque, ibsi) or a pyradiomics YAML file (default ccta-plaque)")
    e.add_argument("--out", type=Path, required=True, metavar="FEATURES.parquet")
    e.add_argument("--jobs", type=int, default=1,
                   help="local processes that extract: this one and N-1 workers (default 1)")
    e.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    e.add_argument("--worker-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="with --scheduler: fail clearly after this long without any worker (default 300)")
    e.add_argument("--no-crop", action="store_true", help="extract on whole images (slow; for checks)")
    e.add_argument("--quiet", action="store_true")
    add_allow_outside_root(e, root="the manifest's folder")
    e.set_defaults(func=_cmd_extract)


def _add_measure(sub) -> None:
    q = sub.add_parser("measure", help="quantitative plaque metrics for every lesion of a manifest")
    q.add_argument("--manifest", type=Path, required=True, metavar="MANIFEST")
    q.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="writes plaque_lesions.csv, plaque_patients.csv, plaque_failures.csv")
    add_allow_outside_root(q, root="the manifest's folder")
    q.set_defaults(func=_cmd_measure)


def _add_report(sub) -> None:
    r = sub.add_parser(
        "report", help="self-contained HTML model report of a `radiorisk fit` RUN (TRIPOD+AI order)",
        description="Read RUN (oof_predictions.csv, ladder.csv, model/, provenance.json), the cohort folder "
                    "and the subgroup audit of the out-of-fold risks (computed when RUN has none), and write "
                    "one HTML file: participants, model, discrimination and ladder, calibration, fairness, "
                    "decision curve, SHAP, limitations and provenance. Figures are embedded; no network.")
    r.add_argument("--run", type=Path, required=True, metavar="RUN", help="run folder of `radiorisk fit`")
    r.add_argument("--out", type=Path, required=True, metavar="REPORT.html", help="HTML file to write")
    r.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="cohort folder (default: the one recorded in RUN/provenance.json)")
    r.add_argument("--audit", type=Path, default=None, metavar="DIR",
                   help="a `radiorisk audit` folder of the run's predictions (default: RUN/audit, else computed)")
    r.add_argument("--n-boot", type=int, default=200, metavar="B",
                   help="bootstrap resamples of the audit computed for the report (default 200)")
    r.add_argument("--seed", type=int, default=None, metavar="S", help="seed (default: the fit's seed)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_cmd_report)


def _add_demo(sub) -> None:
    d = sub.add_parser(
        "demo", help="the multimodal story on a synthetic established-CAD cohort (README: The demo)",
        description="Synthesise an established-CAD cohort with PET and lesion images, extract radiomics, climb "
                    "the ladder clinical -> +ccta -> +pet -> +radiomics with xgb-cox and coxph side by side "
                    "(increments in C with bootstrap CIs), audit the boosted model by sex and ethnicity, and "
                    "write the model report and three patients' reports (HTML, PDF, JSON, DICOM SR).")
    d.add_argument("--out", type=Path, default=Path("demo_output"), metavar="DIR")
    d.add_argument("--quick", action="store_true", help="a small, fast version (for CI)")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (default: a bar per long step on a terminal, one line per "
                        "finished step)")
    d.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``radiorisk`` command (for docs and tests).

    Examples
    --------
    >>> sorted(build_parser()._subparsers._group_actions[0].choices)[:4]
    ['audit', 'demo', 'extract', 'fit']
    """
    p = argparse.ArgumentParser(
        prog="radiorisk",
        description="MACE risk from CCTA plaque, radiomics, clinical data and 18F-NaF PET.",
    )
    p.add_argument("--version", action="version", version=f"radiorisk {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_synth_parser, _add_validate, _add_extract, _add_measure, add_fit_parser, add_predict_parser,
                add_validate_model_parser, add_patient_report_parser, add_audit_parser, _add_report,
                add_samplesize_parser, add_robustness_parser, _add_demo):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 partial failure, 2 bad input).

    Examples
    --------
    >>> import tempfile
    >>> main(["validate", tempfile.mkdtemp(prefix="empty-")])  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    /...empty-...: 3 errors, 0 warnings
    ...
    3 violations in 3 tables (3 errors, 0 warnings)
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RadioriskError as exc:
        print(f"radiorisk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"radiorisk {args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``radiorisk`` command: :func:`main` on ``sys.argv``, then exit with its code.

    The objects left when the command is done are frozen (:func:`gc.freeze`) before the
    interpreter exits: its teardown would otherwise run the cyclic garbage collector over every
    object of pandas, pyarrow, SimpleITK and pyradiomics, 0.07 s of a 3-second ``extract``
    (``benchmarks/bench_extract.py``).  Nothing that matters waits for that collector: the
    outputs are written and closed, and exit handlers (temporary folders, logging, worker pools)
    still run.  Only the command does this: :func:`main` called from Python leaves the
    collector alone.

    Examples
    --------
    >>> import subprocess, sys
    >>> subprocess.run([sys.executable, "-m", "radiorisk.cli", "--version"], capture_output=True,
    ...                text=True).stdout.startswith("radiorisk ")
    True
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
