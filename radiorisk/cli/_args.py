"""Flags that several commands share, defined once: identifiers, manifest paths, a bundle's radiomics."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_id_args", "add_allow_outside_root", "add_bundle_radiomics_args"]


def add_id_args(parser: argparse.ArgumentParser, *, key_where: str = "", same_as_fit: bool = True) -> None:
    """``--id-key-file PATH | --raw-ids`` (mutually exclusive): how the outputs name patients.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_id_args(p)
    >>> p.parse_args(["--raw-ids"]).raw_ids
    True
    """
    ids = parser.add_mutually_exclusive_group()
    ids.add_argument("--id-key-file", type=Path, default=None, metavar="PATH",
                     help=f"key of the id pseudonyms{key_where} (default: $RADIORISK_ID_KEY, else "
                          "~/.config/radiorisk/id_key" + ("; the fit's key gives the fit's pseudonyms" if same_as_fit
                                                          else "") + "; see docs/privacy.md)")
    ids.add_argument("--raw-ids", action="store_true",
                     help="write raw patient/scan/lesion ids (private outputs only)")


def add_allow_outside_root(parser: argparse.ArgumentParser, *, root: str = "the cohort folder") -> None:
    """``--allow-outside-root``: accept manifest paths that lead outside ``root``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_allow_outside_root(p)
    >>> p.parse_args([]).allow_outside_root
    False
    """
    parser.add_argument("--allow-outside-root", action="store_true",
                        help=f"accept manifest image/mask paths that lead outside {root}")


def add_bundle_radiomics_args(parser: argparse.ArgumentParser, *, data: str = "DIR") -> None:
    """``--features``, ``--radiomics-cache``, ``--n-jobs`` of a command that applies a bundle to ``data``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_bundle_radiomics_args(p)
    >>> p.parse_args(["--n-jobs", "2"]).n_jobs
    2
    """
    parser.add_argument("--features", type=Path, default=None, metavar="FEATURES.parquet",
                        help=f"radiomics table of {data} from `radiorisk extract` (default: extracted from "
                             f"{data}'s manifest with the model's preset when the model uses radiomics)")
    parser.add_argument("--radiomics-cache", type=Path, default=None, metavar="DIR",
                        help="private, resumable radiomics store (raw ids and image paths; keep it private)")
    parser.add_argument("--n-jobs", type=int, default=1, metavar="N",
                        help="worker processes: radiomics extraction (patient-report: also its bootstrap refits)")
