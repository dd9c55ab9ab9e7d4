"""How well image-measured plaque tracks the generator's truth (numbers quoted in docs/radiomics.md).

Usage:  .venv/bin/python benchmarks/plaque_vs_truth.py [--patients 80] [--seed 21] [--mode established-cad]

Renders every lesion of --patients patients (those with at least one lesion), measures them with
radiorisk.imaging.measure_plaque (DOMAIN.md thresholds), and prints per-lesion Spearman/Pearson
correlations and median measured/true ratios per component, and patient-level agreement (percent
and Cohen's kappa) of the flags TPV >= 238 mm3 and LAP burden > 4 % against the truth.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    po = np.mean(a == b)
    pe = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


def run(patients: int, seed: int, mode: str, workdir: Path) -> dict:
    from radiorisk.datasets import simulate_cohort, write_lesion_images
    from radiorisk.imaging import measure_plaque, patient_plaque_summary

    c = simulate_cohort(max(4 * patients, 400), mode=mode, seed=seed)
    tl = c.truth_lesions
    pids = pd.unique(tl["patient_id"])[:patients]
    chosen = tl.loc[tl["patient_id"].isin(pids), "lesion_id"].tolist()
    man = write_lesion_images(tl, c.scans, workdir, lesion_ids=chosen, seed=seed)
    man.to_csv(workdir / "manifest.csv", index=False)
    les, fails = measure_plaque(workdir / "manifest.csv")
    m = les.merge(tl, on="lesion_id", suffixes=("", "_true"))
    rows = []
    for comp in ("v_total_mm3", "v_calcified_mm3", "v_noncalcified_mm3", "v_lap_mm3", "v_fibrofatty_mm3",
                 "v_fibrous_mm3"):
        x, y = m[comp].to_numpy(float), m[comp + "_true"].to_numpy(float)
        ok = y > 0
        rows.append({"component": comp, "spearman": stats.spearmanr(x, y).statistic,
                     "pearson": stats.pearsonr(x, y).statistic,
                     "median_ratio_measured_to_true": float(np.median(x[ok] / y[ok])) if ok.any() else np.nan})
    lesion_table = pd.DataFrame(rows)
    summ = patient_plaque_summary(les, patient_ids=pids)
    truth = c.truth.set_index("patient_id").loc[pids]
    flags = []
    for name, meas, true in (("TPV >= 238 mm3", summ["tpv_ge_238"], truth["true_tpv_mm3"] >= 238),
                             ("LAP burden > 4 %", summ["lap_burden_gt_4"], truth["true_lapb_pct"] > 4)):
        a, b = meas.to_numpy(bool), true.to_numpy(bool)
        flags.append({"flag": name, "agreement_pct": 100 * float(np.mean(a == b)), "kappa": kappa(a, b),
                      "prevalence_measured_pct": 100 * a.mean(), "prevalence_true_pct": 100 * b.mean()})
    return {"lesions": len(m), "failures": len(fails), "lesion_table": lesion_table,
            "flag_table": pd.DataFrame(flags), "patients": len(pids)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=80)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--mode", default="established-cad")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        r = run(args.patients, args.seed, args.mode, Path(d))
    print(f"{r['patients']} patients, {r['lesions']} lesions measured, {r['failures']} failures "
          f"({args.mode}, seed {args.seed})\n")
    print(r["lesion_table"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print(r["flag_table"].to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
