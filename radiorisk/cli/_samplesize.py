"""``radiorisk samplesize``: Riley et al.'s minimum sample size, or the parameters a data set supports.

Two questions, one command (argparse and messages around :mod:`radiorisk.stats`):

- *How many patients do I need?* ``--parameters P`` with the outcome's prevalence
  (binary) or rate, time point and mean follow-up (survival) and the anticipated
  performance: ``riley_sample_size``, one row per criterion.
- *How many parameters can my data support?* ``--n N --events E`` with ``--rungs
  clinical=10,+ccta=30,+radiomics=1160``: ``parameter_budget_table``, one row per rung.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..exceptions import SampleSizeError
from ._messages import FlagWords

__all__ = ["add_samplesize_parser", "samplesize_command"]

#: riley_sample_size's parameters -> the flags that set them (errors are reworded).
_FLAGS = {"parameters": "--parameters", "prevalence": "--prevalence", "rate": "--rate",
          "timepoint": "--timepoint", "mean_follow_up": "--mean-follow-up", "r2_cs": "--r2-cs",
          "c_statistic": "--c-statistic", "nagelkerke_r2": "--nagelkerke", "lr_chi2": "--lr-chi2",
          "lr_n": "--lr-n", "shrinkage": "--shrinkage", "r2_difference": "--r2-difference",
          "margin": "--margin", "events": "--events", "n": "--n"}
_as_flags = FlagWords(_FLAGS, inside=True)


def _parse_rungs(text: str) -> dict[str, int]:
    """``"clinical=10,+ccta=30"`` -> ``{"clinical": 10, "+ccta": 30}``."""
    out = {}
    for item in [s for s in text.split(",") if s.strip()]:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise SampleSizeError(f"--rungs {item!r}: expected NAME=PARAMETERS, e.g. clinical=10,+ccta=30")
        out[name.strip()] = int(value)
    if not out:
        raise SampleSizeError("--rungs: give at least one NAME=PARAMETERS")
    return out


def _r2_kwargs(args) -> dict:
    return {"r2_cs": args.r2_cs, "c_statistic": args.c_statistic, "nagelkerke_r2": args.nagelkerke,
            "lr_chi2": args.lr_chi2, "lr_n": args.lr_n}


def _outcome_kwargs(args) -> dict:
    return {"prevalence": args.prevalence, "rate": args.rate, "timepoint": args.timepoint,
            "mean_follow_up": args.mean_follow_up}


def _run(args):
    from ..stats import anticipated_cox_snell_r2, parameter_budget_table, riley_sample_size

    if args.rungs is not None:
        if args.n is None or args.events is None:
            raise SampleSizeError("--rungs needs --n (patients) and --events (events among them)")
        r2, source = anticipated_cox_snell_r2(args.outcome, **_r2_kwargs(args), **_outcome_kwargs(args))
        table = parameter_budget_table(_parse_rungs(args.rungs), args.n, args.events, r2, args.outcome,
                                       shrinkage=args.shrinkage, r2_difference=args.r2_difference)
        return table, f"anticipated Cox-Snell R² {r2:.4g} ({source})"
    if args.parameters is None:
        raise SampleSizeError("give --parameters P (how many patients are needed) or --rungs with --n and "
                          "--events (how many parameters the data support)")
    res = riley_sample_size(args.outcome, args.parameters, **_outcome_kwargs(args), **_r2_kwargs(args),
                            shrinkage=args.shrinkage, r2_difference=args.r2_difference, margin=args.margin)
    return res.to_frame(), (f"minimum n = {res.n} ({res.binding} criterion binds); "
                            f"R² source: {res.r2_source}")


def samplesize_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk samplesize`` from parsed arguments; returns the exit code (0)."""
    try:
        table, line = _run(args)
    except SampleSizeError as exc:
        raise SampleSizeError(_as_flags(str(exc))) from exc
    print(table.to_string(index=False))
    print(line)
    if args.out is not None:
        from .._files import atomic_write_csv

        atomic_write_csv(Path(args.out), table, float_format="%.10g")
        print(f"wrote {args.out}")
    return 0


def add_samplesize_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``samplesize`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "samplesize", help="minimum sample size of a prediction model (Riley et al.), or parameters supported",
        description="Riley et al. (BMJ 2020; Stat Med 2019) criteria: expected shrinkage >= S, small "
                    "optimism in Nagelkerke's R², precise overall risk. With --parameters: the minimum n. "
                    "With --rungs, --n and --events: how many candidate parameters the data support per rung.")
    a.add_argument("--outcome", choices=("binary", "survival"), default="survival")
    a.add_argument("--parameters", type=int, default=None, metavar="P", help="candidate predictor parameters")
    a.add_argument("--prevalence", type=float, default=None, help="binary: outcome proportion")
    a.add_argument("--rate", type=float, default=None, help="survival: events per unit of time")
    a.add_argument("--timepoint", type=float, default=None, help="survival: the horizon (same unit)")
    a.add_argument("--mean-follow-up", type=float, default=None, help="survival: mean follow-up (same unit)")
    r2 = a.add_mutually_exclusive_group(required=True)
    r2.add_argument("--r2-cs", type=float, default=None, help="anticipated Cox-Snell R²")
    r2.add_argument("--c-statistic", type=float, default=None, help="anticipated C statistic (converted)")
    r2.add_argument("--nagelkerke", type=float, default=None, help="reported Nagelkerke R² (converted)")
    r2.add_argument("--lr-chi2", type=float, default=None, help="reported likelihood-ratio chi-square")
    a.add_argument("--lr-n", type=int, default=None, help="sample size of that LR chi-square")
    a.add_argument("--shrinkage", type=float, default=0.9, help="target expected shrinkage (default 0.9)")
    a.add_argument("--r2-difference", type=float, default=0.05,
                   help="largest optimism in Nagelkerke's R² (default 0.05)")
    a.add_argument("--margin", type=float, default=0.05, help="margin of error of the overall risk (0.05)")
    a.add_argument("--rungs", default=None, metavar="NAME=P,...",
                   help="parameters per rung, e.g. clinical=10,+ccta=30,+radiomics=1160 (with --n, --events)")
    a.add_argument("--n", type=int, default=None, help="patients available (with --rungs)")
    a.add_argument("--events", type=float, default=None, help="events among them (with --rungs)")
    a.add_argument("--out", type=Path, default=None, metavar="F.csv", help="also write the table")
    a.set_defaults(func=samplesize_command)
    return a
