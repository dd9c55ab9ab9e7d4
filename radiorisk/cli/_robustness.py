"""``radiorisk robustness``: argparse and messages around :func:`radiorisk.pipeline._robustness.run_robustness`.

Per lesion, MIRP-style perturbations (noise at the image's own level, rotations,
sub-voxel translations, one-voxel dilation/erosion, supervoxel contour
randomisation), every feature extracted under each, and per-feature ICC(2,1) and
ICC(3,1) with 95 % CIs across perturbations, merged with the reader ICC when the
manifest has a second reader.  Resumable (``--out`` keeps one file per lesion)
and parallel (``--jobs``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..exceptions import RadioriskError
from ._args import add_allow_outside_root
from ._messages import FlagWords

__all__ = ["add_robustness_parser", "robustness_command"]

#: run_robustness's parameters -> the flags that set them (errors are reworded).
_FLAGS = {"threshold": "--threshold", "reader": "--reader", "perturbations": "--perturbations",
          "jobs": "--jobs", "seed": "--seed"}
_as_flags = FlagWords(_FLAGS, (("re-running resumes", "re-running with the same --out resumes"),), inside=True)


def robustness_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk robustness`` from parsed arguments; returns the exit code (0, or 1 when perturbations failed)."""
    # on demand (`radiorisk --help` stays fast); the module until radiorisk.pipeline exports it
    from ..pipeline import run_robustness

    manifest = args.manifest
    try:
        if args.allow_outside_root:
            from ..imaging import read_manifest_for_extraction

            manifest = read_manifest_for_extraction(manifest, allow_outside_root=True)
        res = run_robustness(manifest, params=args.params, out=args.out, jobs=args.jobs,
                             perturbations=args.perturbations, seed=args.seed, reader=args.reader,
                             threshold=args.threshold, progress=not args.quiet)
    except RadioriskError as exc:
        raise type(exc)(_as_flags(str(exc))) from exc
    print(res.summary())
    t = res.icc
    by_class = t.groupby("feature_class").agg(features=("feature", "size"),
                                              icc_075=("icc21", lambda s: int((s >= 0.75).sum())),
                                              icc_090=("icc21", lambda s: int((s >= 0.9).sum())),
                                              stable=("stable", "sum"))
    print("features with ICC(2,1) across perturbations >= 0.75 / >= 0.9, by class:")
    print(by_class.to_string())
    if len(res.failures):
        print(f"{len(res.failures)} perturbation(s) failed; see {Path(args.out) / 'robustness_failures.csv'}")
        return 1
    return 0


def add_robustness_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``robustness`` subcommand to ``subparsers`` (from ``add_subparsers``).

    Examples
    --------
    >>> p = argparse.ArgumentParser(); sub = p.add_subparsers()
    >>> _ = add_robustness_parser(sub)
    >>> a = p.parse_args(["robustness", "--manifest", "m.csv", "--out", "o", "--perturbations", "noise:1", "volume"])
    >>> a.perturbations, a.seed, a.jobs, a.params
    (['noise:1', 'volume'], 0, 1, 'ccta-plaque')
    """
    a = subparsers.add_parser(
        "robustness", help="feature stability under image and contour perturbations (ICC per feature)",
        description="MIRP-style perturbations per lesion (Zwanenburg et al., Sci Rep 2019): noise at the "
                    "image's own level, rotations about the slice axis, sub-voxel translations, one-voxel "
                    "dilation/erosion, supervoxel contour randomisation; ICC(2,1) and ICC(3,1) with 95 % CIs "
                    "per feature across perturbations (lesions = subjects, perturbations = raters), and the "
                    "reader ICC when the manifest has a second reader. Writes DIR/robustness_icc.csv, "
                    "DIR/perturbed_features.parquet, DIR/robustness_failures.csv, DIR/provenance.json; a rerun "
                    "with the same DIR skips the lesions already done.")
    a.add_argument("--manifest", type=Path, required=True, metavar="MANIFEST")
    a.add_argument("--params", default="ccta-plaque", metavar="PRESET_OR_YAML",
                   help="preset (ccta-plaque, ibsi) or a pyradiomics YAML file (default ccta-plaque)")
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    a.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    a.add_argument("--perturbations", nargs="+", default=None, metavar="FAMILY[:V,...]",
                   help="families and their values (default: noise:2 rotation:-10,-5,5,10 translation:0.25,0.5 "
                        "volume:-1,1 contour:3; noise and contour take a number of realisations)")
    a.add_argument("--seed", type=int, default=0, help="seed of the noise and contour draws (default 0)")
    a.add_argument("--reader", default=None, help="the reader whose masks are perturbed (default the first)")
    a.add_argument("--threshold", type=float, default=0.75,
                   help="ICC(2,1) at which a feature is flagged stable (default 0.75)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    add_allow_outside_root(a, root="the manifest's folder")
    a.set_defaults(func=robustness_command)
    return a
