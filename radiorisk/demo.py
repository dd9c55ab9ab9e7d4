"""The end-to-end demo behind ``radiorisk demo`` and ``make demo``.

It grows with the project.  Today it synthesises a chest-pain cohort with plaque
images and an injected ethnicity bias, validates it, and writes a short summary
of the cohort (participants, events and PET availability by sex and ethnicity).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where it wrote it."""

    out: Path
    ok: bool
    steps: tuple[tuple[str, float], ...]
    cohort_summary: pd.DataFrame = field(compare=False)
    validation: str = ""

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk demo``."""
        lines = ["radiorisk demo", ""]
        lines += [f"  {name:<28s} {secs:7.1f} s" for name, secs in self.steps]
        lines += ["", "Cohort by group (n, MACE events, PET available):", ""]
        lines += ["  " + ln for ln in self.cohort_summary.to_string(index=False).splitlines()]
        lines += ["", f"validation: {self.validation.splitlines()[-1] if self.validation else '-'}"]
        lines += ["", f"Results are in {self.out.resolve()}"]
        return "\n".join(lines)


def cohort_summary(patients: pd.DataFrame, outcomes: pd.DataFrame, pet: pd.DataFrame) -> pd.DataFrame:
    """Participants, MACE events and PET availability overall, by sex and by ethnicity group.

    Parameters
    ----------
    patients, outcomes, pet : DataFrame
        Tables of a cohort folder (see :func:`radiorisk.io.read_cohort`).

    Returns
    -------
    DataFrame
        Columns ``attribute, group, n, events, event_pct, pet_available_pct``.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> c = simulate_cohort(300, seed=2)
    >>> cohort_summary(c.patients, c.outcomes, c.pet).iloc[0]["attribute"]
    'overall'
    """
    df = patients[["patient_id", "sex", "ethnicity_group5"]].merge(
        outcomes[["patient_id", "mace_event"]], on="patient_id", how="left"
    )
    pet_av = pet[["patient_id", "pet_available"]] if len(pet) else pd.DataFrame(
        {"patient_id": [], "pet_available": []}
    )
    df = df.merge(pet_av, on="patient_id", how="left")
    df["pet_available"] = df["pet_available"].fillna(False).astype(bool)
    df["mace_event"] = df["mace_event"].fillna(False).astype(bool)
    rows = []

    def add(attribute: str, group: str, sub: pd.DataFrame) -> None:
        rows.append(
            {
                "attribute": attribute,
                "group": group,
                "n": len(sub),
                "events": int(sub["mace_event"].sum()),
                "event_pct": round(100 * sub["mace_event"].mean(), 1) if len(sub) else float("nan"),
                "pet_available_pct": round(100 * sub["pet_available"].mean(), 1) if len(sub) else float("nan"),
            }
        )

    add("overall", "all", df)
    for attribute, col in (("sex", "sex"), ("ethnicity", "ethnicity_group5")):
        for g, sub in df.groupby(col, sort=True):
            add(attribute, str(g), sub)
    return pd.DataFrame(rows)


def run_demo(out="demo_output", *, quick: bool = False, seed: int = 1, progress: bool = True) -> DemoResult:
    """Run the demo and write its outputs under ``out``.

    Parameters
    ----------
    out : str or Path
        Output folder (created; an existing demo folder is replaced).
    quick : bool
        A small, fast version for CI (400 patients, 20 lesion images).
    seed : int
        Seed of the synthetic cohort.
    progress : bool
        Show progress bars.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import tempfile
    >>> res = run_demo(tempfile.mkdtemp(), quick=True, progress=False)  # doctest: +SKIP
    >>> res.ok  # doctest: +SKIP
    True
    """
    from .datasets import write_synthetic_cohort
    from .io import read_cohort, validate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = []
    n, k = (400, 20) if quick else (2000, 200)

    t0 = time.perf_counter()
    data_dir = out / "data"
    write_synthetic_cohort(
        data_dir, n=n, mode="chest-pain", images=k, seed=seed, bias="south_asian_baseline_hr", overwrite=True,
        progress=progress,
    )
    steps.append((f"synthesise ({n} patients, {k} images)", time.perf_counter() - t0))

    t0 = time.perf_counter()
    report = validate(data_dir)
    steps.append(("validate", time.perf_counter() - t0))
    text = report.format(max_lines=50)
    (out / "validation.txt").write_text(text + "\n", encoding="utf-8")

    cohort = read_cohort(data_dir, validate=False)
    summary = cohort_summary(cohort.patients, cohort.outcomes, cohort.pet)
    summary.to_csv(out / "cohort_summary.csv", index=False, lineterminator="\n")
    (out / "demo.json").write_text(
        json.dumps({"n": n, "images": k, "seed": seed, "valid": bool(report.ok)}, indent=2) + "\n"
    )
    return DemoResult(out=out, ok=bool(report.ok), steps=tuple(steps), cohort_summary=summary, validation=text)
