"""``radiorisk synth``: argparse around :func:`radiorisk.datasets.write_synthetic_cohort`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..exceptions import RadioriskError
from ._messages import FlagWords

__all__ = ["add_synth_parser", "synth_command"]

#: The parameters of the multi-site design and external cohorts -> their flags (messages reworded).
_as_flags = FlagWords({"external_of": "--external-of", "n_sites": "--sites", "first_site": "--first-site",
                       "hazard_sd": "--site-hazard-sd", "scanner_mix": "--scanner-mix"},
                      (("choose first_site", "choose --first-site"),), inside=True)


def _site_options(args: argparse.Namespace):
    """The ``sites`` argument from --sites / --first-site / --site-hazard-sd / --scanner-mix (None: none given)."""
    fields = {}
    if args.sites is not None:
        fields["n_sites"] = args.sites
    if args.first_site is not None:
        fields["first_site"] = args.first_site
    if args.site_hazard_sd is not None:
        fields["hazard_sd"] = args.site_hazard_sd
    if args.scanner_mix is not None:
        mix = args.scanner_mix.strip()
        fields["scanner_mix"] = json.loads(mix) if mix.startswith("{") else mix
    if not fields:
        return None
    if "n_sites" not in fields and args.external_of is None:
        raise RadioriskError("--first-site, --site-hazard-sd and --scanner-mix need --sites N "
                             "(or --external-of DIR)")
    return fields


def synth_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk synth`` from parsed arguments; returns the exit code (0)."""
    from ..datasets import write_synthetic_cohort

    try:
        sites = _site_options(args)
    except json.JSONDecodeError as exc:
        raise RadioriskError(f"--scanner-mix is not valid JSON ({exc})") from exc
    try:
        out = write_synthetic_cohort(
            args.out, n=args.n, mode=args.mode, images=args.images, seed=args.seed,
            second_reader=args.second_reader, full_volume=args.full_volume, bias=args.bias,
            overwrite=args.overwrite, progress=not args.quiet, sites=sites, external_of=args.external_of)
    except RadioriskError as exc:
        message = _as_flags(str(exc))
        if message != str(exc) and type(exc) is RadioriskError:
            raise RadioriskError(message) from exc
        raise
    if not args.quiet:
        print(out.summary())
    return 0


def add_synth_parser(sub) -> None:
    """Register ``radiorisk synth`` on the subparsers ``sub``."""
    s = sub.add_parser("synth", help="write a synthetic cohort (tables, truth and plaque images)")
    s.add_argument("--n", type=int, default=None,
                   help="number of patients (default 2000; with --external-of, the reference's)")
    s.add_argument("--mode", choices=["chest-pain", "established-cad"], default=None,
                   help="population (default chest-pain; with --external-of, the reference's)")
    s.add_argument("--images", type=int, default=0, metavar="K",
                   help="write CT patches and plaque masks for K lesions (default 0)")
    s.add_argument("--seed", type=int, default=None,
                   help="seed (default 0; with --external-of, one derived from the reference's seed)")
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.add_argument("--second-reader", action="store_true",
                   help="also write a second reader's mask (perturbed boundary) per lesion image")
    s.add_argument("--full-volume", action="store_true",
                   help="embed the imaged lesions in full-size CCTA-like volumes (>=256x256x200)")
    s.add_argument("--bias", default=None, metavar="JSON_OR_NAME",
                   help="bias injection: a preset name or a JSON object (see README)")
    g = s.add_argument_group("multi-site design and external cohorts (docs/synthetic_cohort.md)")
    g.add_argument("--sites", type=int, default=None, metavar="N",
                   help="N sites differing in case mix, baseline hazard and scanners (vendor, kernel, "
                        "energy-integrating or photon-counting detector); default: the historical 8 "
                        "sites with one scanner each")
    g.add_argument("--first-site", type=int, default=None, metavar="K",
                   help="number of the first site id (default 1: site01)")
    g.add_argument("--site-hazard-sd", type=float, default=None, metavar="SD",
                   help="between-site SD of the log baseline hazard (default 0.25)")
    g.add_argument("--scanner-mix", default=None, metavar="NAME_OR_JSON",
                   help="'development' (default), 'external' or a JSON object scanner model -> weight")
    g.add_argument("--external-of", type=Path, default=None, metavar="DIR",
                   help="simulate an external cohort of the synthetic cohort DIR: same mode and generator "
                        "version, new site ids, a different scanner mix and seed")
    s.add_argument("--overwrite", action="store_true", help="replace an existing non-empty DIR")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=synth_command)
