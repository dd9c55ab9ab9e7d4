"""Shared pytest fixtures.

Sections are owned by different modules' authors; add yours in a new section.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

# =============================================================================
# radiorisk.io — a small valid cohort folder (owner: io)
# =============================================================================
#
# 6 patients (P001-P006), one scan each, 5 lesions, PET for P001 only, outcomes
# covering every event type, a manifest of 3 lesion images (two lesions share an
# image) and tiny NIfTI image/mask pairs.  Mask labels: 1 lumen, 2 fibrous,
# 3 fibro-fatty, 4 LAP, 5 calcium, 6 fat, 7 normal wall.

IO_SPACING = (0.5, 0.5, 0.6)
IO_ORIGIN = (10.0, -20.0, 30.0)
IO_SHAPE_ZYX = (8, 16, 16)


def _io_patients():
    import pandas as pd

    ids = [f"P00{i}" for i in range(1, 7)]
    return pd.DataFrame({
        "patient_id": ids,
        "site_id": ["S1", "S1", "S2", "S2", "S3", "S3"],
        "cohort": ["chest-pain"] * 6,
        "age_years": [54.0, 61.5, 70.0, 45.0, 66.0, 58.0],
        "sex": ["female", "male", "male", "female", "unknown", "male"],
        "ethnicity": ["white", "south_asian_indian", "black_african", "east_asian_chinese",
                      "unknown", "mixed"],
        "ethnicity_group5": ["white", "south_asian", "black", "east_asian", "unknown", "other"],
        "ethnicity_scheme": ["ons"] * 6,
        "height_cm": [165.0, 178.0, 172.0, 158.0, None, 181.0],
        "weight_kg": [70.0, 88.0, 91.0, 55.0, None, 79.0],
        "bmi": [25.7, 27.8, 30.8, 22.0, None, 24.1],
        "sbp_mmhg": [130, 145, 160, 118, 135, 128],
        "dbp_mmhg": [80, 90, 95, 72, 85, 82],
        "hypertension": ["true", "true", "TRUE", "false", "no", "False"],
        "on_antihypertensive": ["true", "true", "true", "false", "", "false"],
        "diabetes": ["none", "type2", "type2", "none", "type1", "none"],
        "smoking": ["never", "current", "former", "never", "current", "former"],
        "cigs_per_day": ["", "20", "", "", "5", ""],
        "hyperlipidaemia": ["false", "true", "true", "false", "true", "false"],
        "on_statin": ["false", "true", "true", "false", "true", "false"],
        "family_history_premature_chd": ["false", "true", "false", "false", "false", "true"],
        "ldl_mmol_l": [3.1, 4.2, 2.5, 2.9, 3.3, 3.0],
        "hdl_mmol_l": [1.4, 1.0, 1.1, 1.7, 1.2, 1.3],
        "total_chol_mmol_l": [5.2, 6.4, 4.5, 4.9, 5.5, 5.1],
        "egfr_ml_min_1_73m2": [90.0, 75.0, 58.0, 102.0, 80.0, 95.0],
        "prior_mi": ["false"] * 6,
        "prior_pci": ["false"] * 6,
        "prior_cabg": ["false"] * 6,
        "symptom_class": ["typical_angina", "atypical_angina", "non_anginal", "asymptomatic",
                          "typical_angina", ""],
        "deprivation_quintile": [1, 2, 3, 4, 5, 3],
    })


def _io_scans():
    import pandas as pd

    tpv = [60.0, 30.0, 12.0, 0.0, 20.0, 0.0]
    cpv = [20.0, 10.0, 2.0, 0.0, 5.0, 0.0]
    lapv = [5.0, 2.0, 1.0, 0.0, 1.0, 0.0]
    ff = [15.0, 8.0, 4.0, 0.0, 6.0, 0.0]
    fib = [20.0, 10.0, 5.0, 0.0, 8.0, 0.0]
    vv = [600.0, 500.0, 400.0, 300.0, 450.0, 350.0]
    return pd.DataFrame({
        "scan_id": [f"S00{i}" for i in range(1, 7)],
        "patient_id": [f"P00{i}" for i in range(1, 7)],
        "scan_date": ["2021-03-01", "2021-04-12", "2021-05-20", "2021-06-02", "2021-07-15", ""],
        "vendor": ["Siemens", "GE", "Philips", "Canon", "Siemens", "GE"],
        "kvp": [100, 120, 100, 80, 120, 100],
        "slice_thickness_mm": [0.6, 0.625, 0.6, 0.5, 0.75, 0.6],
        "pixel_spacing_mm": [0.4, 0.45, 0.4, 0.35, 0.5, 0.4],
        "kernel": ["Bv36"] * 6,
        "lumen_hu_mean": [420.0, 380.0, 450.0, 500.0, 390.0, 410.0],
        "noise_sd_hu": [25.0, 30.0, 28.0, 22.0, 35.0, 27.0],
        "quality": ["diagnostic"] * 6,
        "cac_agatston": [150.0, 80.0, 10.0, 0.0, 40.0, 0.0],
        "cac_volume_mm3": [120.0, 70.0, 9.0, 0.0, 35.0, 0.0],
        "cad_rads": ["3", "2", "1", "0", "4A", "0"],
        "cad_rads_p": ["P2", "P1", "P1", "P0", "P1", "P0"],
        "hrp_modifier": ["true", "false", "false", "false", "false", "false"],
        "sis": [3, 2, 1, 0, 1, 0],
        "sss": [6, 3, 1, 0, 4, 0],
        "max_stenosis_pct": [60.0, 35.0, 15.0, 0.0, 72.0, 0.0],
        "tpv_mm3": tpv,
        "cpv_mm3": cpv,
        "ncpv_mm3": [t - c for t, c in zip(tpv, cpv, strict=True)],
        "lapv_mm3": lapv,
        "fibrofatty_mm3": ff,
        "fibrous_mm3": fib,
        "vessel_volume_mm3": vv,
        "tpb_pct": [100 * t / v for t, v in zip(tpv, vv, strict=True)],
        "cpb_pct": [100 * t / v for t, v in zip(cpv, vv, strict=True)],
        "ncpb_pct": [100 * (t - c) / v for t, c, v in zip(tpv, cpv, vv, strict=True)],
        "lapb_pct": [100 * t / v for t, v in zip(lapv, vv, strict=True)],
        "fai_rca_hu": [-80.0, -75.0, -85.0, -90.0, -70.0, -88.0],
        "fai_lad_hu": [-82.0, -77.0, -86.0, -91.0, -72.0, -89.0],
        "fai_lcx_hu": [-81.0, -76.0, -84.0, -92.0, -71.0, -87.0],
        "software": ["autoplaque"] * 6,
        "software_version": ["3.0"] * 6,
        "lap_threshold_hu": [30.0] * 6,
        "calc_threshold_hu": ["350", "350", "scan_specific", "350", "350", "350"],
    })


def _io_lesions():
    import pandas as pd

    # (lesion, scan, patient, vessel, calcified, fibrous, fibro-fatty, lap)
    rows = [
        ("L001", "S001", "P001", "LAD", 12.0, 12.0, 9.0, 3.0),
        ("L002", "S001", "P001", "RCA", 8.0, 8.0, 6.0, 2.0),
        ("L003", "S002", "P002", "LCX", 10.0, 10.0, 8.0, 2.0),
        ("L004", "S003", "P003", "LAD", 2.0, 5.0, 4.0, 1.0),
        ("L005", "S005", "P005", "OM1", 5.0, 8.0, 6.0, 1.0),
    ]
    out = []
    for i, (lid, sid, pid, vessel, calc, fib, ff, lap) in enumerate(rows):
        nc = fib + ff + lap
        out.append({
            "lesion_id": lid, "scan_id": sid, "patient_id": pid, "vessel": vessel,
            "segment_start": 6 + i % 3, "segment_end": 7 + i % 3, "length_mm": 12.5 + i,
            "ref_diameter_mm": 3.2, "mla_mm2": 3.5, "diameter_stenosis_pct": 40.0 + i,
            "area_stenosis_pct": 62.0 + i, "stenosis_grade_visual": "2",
            "plaque_type": "partially_calcified", "v_total_mm3": calc + nc,
            "v_calcified_mm3": calc, "v_noncalcified_mm3": nc, "v_fibrous_mm3": fib,
            "v_fibrofatty_mm3": ff, "v_lap_mm3": lap, "vessel_volume_mm3": 150.0,
            "max_plaque_burden_pct": 55.0, "remodelling_index": 1.15,
            "pos_remodelling": "true", "lap_feature": "false", "spotty_calc": "true",
            "napkin_ring": "false", "hrp_count": 2, "hu_mean": 120.0, "hu_sd": 80.0,
            "hu_min": -20.0,
            "tbr_max": 1.6 if pid == "P001" else None, "suv_max": 1.9 if pid == "P001" else None,
        })
    return pd.DataFrame(out)


def _io_pet():
    import pandas as pd

    return pd.DataFrame({
        "patient_id": ["P001", "P002", "P003", "P004", "P005"],
        "pet_available": ["true", "false", "false", "false", "false"],
        "missing_reason": ["", "declined", "not_offered", "contraindicated", "not_available_at_site"],
        "tracer": ["18F-NaF", "", "", "", ""],
        "injected_mbq": [250.0, None, None, None, None],
        "uptake_min": [60.0, None, None, None, None],
        "motion_corrected": ["true", "", "", "", ""],
        "blood_pool_suv_mean": [1.1, None, None, None, None],
        "blood_pool_suv_sd": [0.2, None, None, None, None],
        "cma_patient": [1.5, None, None, None, None],
        "cma_gt0": ["true", "", "", "", ""],
        "cma_lad": [1.0, None, None, None, None],
        "cma_lcx": [0.0, None, None, None, None],
        "cma_rca": [0.5, None, None, None, None],
        "tbr_max_patient": [1.6, None, None, None, None],
    })


def _io_outcomes():
    import pandas as pd

    comps = ["mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early",
             "noncardiac_death"]
    # patient: (fu_days, censor_reason, {component: time})
    spec = {
        "P001": (1500.0, "administrative", {"mi": 300.0}),
        "P002": (1826.0, "administrative", {}),
        "P003": (500.0, "death_noncardiac", {"noncardiac_death": 500.0}),
        "P004": (900.0, "death_cardiac", {"ua_hosp": 200.0, "cardiac_death": 900.0}),
        "P005": (1200.0, "lost", {"revasc_planned_early": 30.0}),
        "P006": (1000.0, "withdrawn", {"revasc_unplanned": 400.0}),
    }
    mace_comps = ["mi", "cardiac_death", "ua_hosp", "revasc_unplanned"]
    rows = []
    for pid, (fu, reason, events) in spec.items():
        r = {"patient_id": pid, "fu_days": fu, "censor_reason": reason}
        for c in comps:
            r[c] = "true" if c in events else "false"
            r[f"{c}_time_days"] = events.get(c)
        r["mi_type"] = 1 if "mi" in events else None
        mace = [events[c] for c in mace_comps if c in events]
        r["mace_event"] = "true" if mace else "false"
        r["mace_time_days"] = min(mace) if mace else fu
        r["mace_definition"] = "+".join(mace_comps)
        rows.append(r)
    cols = ["patient_id", "fu_days", "censor_reason", "mi", "mi_time_days", "mi_type"]
    for c in comps[1:]:
        cols += [c, f"{c}_time_days"]
    cols += ["mace_event", "mace_time_days", "mace_definition"]
    return pd.DataFrame(rows)[cols]


def _io_truth():
    import pandas as pd

    return pd.DataFrame({
        "patient_id": [f"P00{i}" for i in range(1, 7)],
        "latent_a": [0.1, 0.5, 0.9, -0.3, 0.2, -1.0],
        "latent_v": [0.0, 0.2, 0.4, -0.1, 0.3, -0.5],
        "latent_z": [1.0, 0.0, -0.2, 0.1, 0.5, 0.0],
        "lp_mi": [-4.0, -3.5, -3.0, -5.0, -4.2, -5.5],
        "hazard_extra": [0.01, 0.02, 0.03, 0.0, 0.01, 0.0],  # extra column: allowed in truth
    })


def io_write_mask_pair(folder: Path, stem: str, *, labels=(1, 2, 3, 4, 5, 6, 7)) -> tuple[str, str]:
    """Write a tiny CT patch and label mask; returns their paths relative to ``folder.parent``."""
    import numpy as np
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(stem)) % 2**32)
    ct = rng.integers(-200, 600, size=IO_SHAPE_ZYX).astype(np.int16)
    mask = np.zeros(IO_SHAPE_ZYX, np.uint8)
    for i, lab in enumerate(labels):
        mask[1 + i % 6, 2:10, 2 + i:4 + i] = lab
    paths = []
    for arr, name in ((ct, f"{stem}_ct.nii.gz"), (mask, f"{stem}_mask.nii.gz")):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(IO_SPACING)
        img.SetOrigin(IO_ORIGIN)
        sitk.WriteImage(img, str(folder / name), True)
        paths.append(f"{folder.name}/{name}")
    return paths[0], paths[1]


def io_build_valid_cohort(root: Path) -> Path:
    """Write the valid test cohort (CSV tables + images) into ``root``; returns ``root``."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    img1, mask1 = io_write_mask_pair(root / "images", "S001")
    img2, mask2 = io_write_mask_pair(root / "images", "S002")
    manifest = pd.DataFrame({
        "lesion_id": ["L001", "L002", "L003", "L001"],
        "scan_id": ["S001", "S001", "S002", "S001"],
        "patient_id": ["P001", "P001", "P002", "P001"],
        "image_path": [img1, img1, img2, img1],
        "mask_path": [mask1, mask1, mask2, mask1],
        "label": ["2,3,4,5", "2,3,4,5", "2, 3, 4, 5", "4"],
        "reader": ["reader1", "", "reader1", "reader2"],
    })
    tables = {
        "patients": _io_patients(), "scans": _io_scans(), "lesions": _io_lesions(),
        "pet": _io_pet(), "outcomes": _io_outcomes(), "manifest": manifest, "truth": _io_truth(),
    }
    for name, df in tables.items():
        df.to_csv(root / f"{name}.csv", index=False)
    (root / "truth_lesions.csv").write_text("lesion_id,anything\nL001,1\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def _io_valid_template(tmp_path_factory) -> Path:
    return io_build_valid_cohort(tmp_path_factory.mktemp("io_template") / "cohort")


@pytest.fixture
def valid_cohort(_io_valid_template, tmp_path) -> Path:
    """A fresh copy of the small valid cohort folder (safe to mutate)."""
    dst = tmp_path / "cohort"
    shutil.copytree(_io_valid_template, dst)
    return dst

# ============================ end of radiorisk.io ============================


# The referee's inputs and R's outputs live in the repository (tests/reference/README.md).
REFEREE_DIR = Path(__file__).resolve().parent / "reference" / "referee"


@pytest.fixture(scope="session")
def referee_dir() -> Path:
    """The referee folder: metric inputs with R's outputs (tests/reference/referee)."""
    assert (REFEREE_DIR / "README.md").is_file(), f"referee fixtures missing from {REFEREE_DIR}"
    return REFEREE_DIR


@pytest.fixture(scope="session")
def compare_metrics(referee_dir):
    """The referee's ``compare_metrics.py``, imported from tests/reference/referee."""
    spec = importlib.util.spec_from_file_location("referee_compare_metrics",
                                                  referee_dir / "compare_metrics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
