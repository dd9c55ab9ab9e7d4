"""``radiorisk synth``: argparse around :func:`radiorisk.datasets.write_synthetic_cohort`."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_synth_parser", "synth_command"]


def synth_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk synth`` from parsed arguments; returns the exit code (0)."""
    from ..datasets import write_synthetic_cohort

    out = write_synthetic_cohort(
        args.out,
        n=args.n,
        mode=args.mode,
        images=args.images,
        seed=args.seed,
        second_reader=args.second_reader,
        full_volume=args.full_volume,
        bias=args.bias,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(out.summary())
    return 0


def add_synth_parser(sub) -> None:
    """Register ``radiorisk synth`` on the subparsers ``sub``."""
    s = sub.add_parser("synth", help="write a synthetic cohort (tables, truth and plaque images)")
    s.add_argument("--n", type=int, default=2000, help="number of patients (default 2000)")
    s.add_argument("--mode", choices=["chest-pain", "established-cad"], default="chest-pain")
    s.add_argument("--images", type=int, default=0, metavar="K",
                   help="write CT patches and plaque masks for K lesions (default 0)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.add_argument("--second-reader", action="store_true",
                   help="also write a second reader's mask (perturbed boundary) per lesion image")
    s.add_argument("--full-volume", action="store_true",
                   help="embed the imaged lesions in full-size CCTA-like volumes (>=256x256x200)")
    s.add_argument("--bias", default=None, metavar="JSON_OR_NAME",
                   help="bias injection: a preset name or a JSON object (see README)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing non-empty DIR")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=synth_command)
