"""Synthetic CT plaque images (radiorisk.datasets._images, _shapes and its pieces, _volume).

The fixture is 30 lesions from ``make_example_tables`` plus 8 hand-made extremes
(tiny, huge, pure calcified, vulnerable napkin ring, strong positive and
negative remodelling, the smallest and largest reference diameters).  Accuracy
bounds are justified next to each test; achieved values are printed with -s.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi
from scipy.stats import spearmanr

from radiorisk.datasets._images import (
    LABELS,
    Z_SPACING_MM,
    lesion_rng,
    make_example_tables,
    perturb_plaque_mask,
    render_lesion_patch,
    write_fullsize_volumes,
    write_lesion_images,
)
from radiorisk.exceptions import SchemaError
from radiorisk.imaging import plaque_metrics

SEED = 11
PLAQUE = (2, 3, 4, 5)


def _extremes(scan_ids) -> pd.DataFrame:
    base = dict(patient_id="PX", vessel="LAD", segment=6, pos_remodelling=False, latent_v=0.0, latent_z=0.0,
                spotty_calc=False, napkin_ring=False)
    rows = [
        # tiny, short, thin vessel
        dict(lesion_id="X_tiny", length_mm=4.0, ref_diameter_mm=1.5, remodelling_index=1.0, plaque_burden=0.2,
             v_total_mm3=3.0, v_calcified_mm3=0.0, v_fibrous_mm3=2.0, v_fibrofatty_mm3=1.0, v_lap_mm3=0.0),
        # huge, long, large vessel
        dict(lesion_id="X_huge", length_mm=40.0, ref_diameter_mm=4.5, remodelling_index=1.3, plaque_burden=0.7,
             v_total_mm3=300.0, v_calcified_mm3=60.0, v_fibrous_mm3=120.0, v_fibrofatty_mm3=80.0, v_lap_mm3=40.0),
        # stable, heavily calcified
        dict(lesion_id="X_calc", length_mm=15.0, ref_diameter_mm=3.5, remodelling_index=0.95, plaque_burden=0.5,
             v_total_mm3=80.0, v_calcified_mm3=64.0, v_fibrous_mm3=14.0, v_fibrofatty_mm3=2.0, v_lap_mm3=0.0,
             latent_v=-1.5),
        # vulnerable napkin ring with spotty calcium
        dict(lesion_id="X_napkin", length_mm=14.0, ref_diameter_mm=3.8, remodelling_index=1.4, plaque_burden=0.65,
             v_total_mm3=110.0, v_calcified_mm3=3.0, v_fibrous_mm3=37.0, v_fibrofatty_mm3=30.0, v_lap_mm3=40.0,
             napkin_ring=True, spotty_calc=True, pos_remodelling=True, latent_v=2.5, latent_z=2.5),
        # strong positive remodelling
        dict(lesion_id="X_posri", length_mm=10.0, ref_diameter_mm=3.0, remodelling_index=1.6, plaque_burden=0.6,
             v_total_mm3=60.0, v_calcified_mm3=5.0, v_fibrous_mm3=25.0, v_fibrofatty_mm3=20.0, v_lap_mm3=10.0,
             pos_remodelling=True, latent_v=1.0),
        # negative remodelling
        dict(lesion_id="X_negri", length_mm=12.0, ref_diameter_mm=3.2, remodelling_index=0.7, plaque_burden=0.4,
             v_total_mm3=25.0, v_calcified_mm3=10.0, v_fibrous_mm3=10.0, v_fibrofatty_mm3=5.0, v_lap_mm3=0.0),
        # smallest reference, moderate plaque
        dict(lesion_id="X_small", length_mm=8.0, ref_diameter_mm=1.5, remodelling_index=1.1, plaque_burden=0.5,
             v_total_mm3=8.0, v_calcified_mm3=2.0, v_fibrous_mm3=4.0, v_fibrofatty_mm3=2.0, v_lap_mm3=0.0,
             spotty_calc=True),
        # large vessel, non-calcified vulnerable, no napkin
        dict(lesion_id="X_ncp", length_mm=20.0, ref_diameter_mm=4.5, remodelling_index=1.2, plaque_burden=0.55,
             v_total_mm3=150.0, v_calcified_mm3=0.0, v_fibrous_mm3=60.0, v_fibrofatty_mm3=50.0, v_lap_mm3=40.0,
             latent_v=1.8, latent_z=1.5),
    ]
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["scan_id"] = [scan_ids[i % len(scan_ids)] for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def tables():
    truth, scans = make_example_tables(30, seed=SEED)
    truth = pd.concat([truth, _extremes(list(scans.scan_id))], ignore_index=True)
    return truth, scans


@pytest.fixture(scope="module")
def rendered(tables):
    truth, scans = tables
    sc = scans.set_index("scan_id", drop=False)
    out = {}
    for _, les in truth.iterrows():
        scan = sc.loc[les["scan_id"]]
        img, msk, info = render_lesion_patch(les, scan, rng=lesion_rng(SEED, les["lesion_id"]), return_arrays=True)
        out[les["lesion_id"]] = (img, msk, info)
    return out


@pytest.fixture(scope="module")
def measured(tables, rendered):
    truth, _ = tables
    rows = []
    for _, les in truth.iterrows():
        _, _, info = rendered[les["lesion_id"]]
        m = plaque_metrics(info["image_array"], info["mask_array"], info["spacing_mm"][::-1])
        rows.append({"lesion_id": les["lesion_id"], **m})
    return truth.merge(pd.DataFrame(rows), on="lesion_id", suffixes=("", "_img"))


# ---------------------------------------------------------------------------------------
def test_labels_contract():
    assert LABELS == {1: "lumen", 2: "fibrous", 3: "fibro_fatty", 4: "lap", 5: "calcium",
                      6: "pericoronary_fat", 7: "vessel_wall"}


def test_geometry(tables, rendered):
    truth, scans = tables
    for lid, (img, msk, info) in rendered.items():
        sx, sy, sz = img.GetSpacing()
        assert 0.4 <= sx <= 0.5 and sx == sy and sz == Z_SPACING_MM
        assert img.GetSize() == msk.GetSize() and img.GetSpacing() == msk.GetSpacing()
        assert img.GetOrigin() == msk.GetOrigin() and img.GetDirection() == msk.GetDirection()
        assert img.GetPixelID() == sitk.sitkInt16 and msk.GetPixelID() == sitk.sitkUInt8
        m = info["mask_array"]
        assert set(np.unique(m).tolist()) <= set(LABELS)
        vessel = np.isin(m, (1, 2, 3, 4, 5, 7))
        # >= 3 mm of fat between the vessel and the patch edge, in every slice
        yy, xx = np.nonzero(vessel.any(axis=0))
        n = m.shape[1]
        margin_vox = min(yy.min(), xx.min(), n - 1 - yy.max(), n - 1 - xx.max())
        assert margin_vox * sx >= 3.0, lid
        # plaque-free reference vessel >= 2 mm at both ends, vessel present in every slice
        assert vessel.any(axis=(1, 2)).all()
        pz = np.flatnonzero(np.isin(m, PLAQUE).any(axis=(1, 2)))
        assert pz.min() * sz >= 2.0 and (m.shape[0] - 1 - pz.max()) * sz >= 2.0, lid
        # patch length = lesion length + 2 x 4 mm
        les = truth.set_index("lesion_id").loc[lid]
        assert abs(m.shape[0] * sz - (les["length_mm"] + 8.0)) <= sz


def test_mask_volumes_match_truth(tables, rendered):
    """The mask is the rendered truth: total within half a voxel, components within one voxel.

    Counts are chosen exactly (voxel count = round(volume / voxel volume), components by
    largest remainder), so the only error is rounding.
    """
    truth, _ = tables
    worst = 0.0
    for _, les in truth.iterrows():
        _, _, info = rendered[les["lesion_id"]]
        vox = float(np.prod(info["spacing_mm"]))
        assert abs(info["v_total_mm3"] - les["v_total_mm3"]) <= 0.5 * vox + 1e-9
        for c in ("v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3", "v_lap_mm3"):
            assert abs(info[c] - les[c]) <= 1.0 * vox + 1e-9, (les["lesion_id"], c)
        worst = max(worst, abs(info["v_total_mm3"] - les["v_total_mm3"]) / les["v_total_mm3"])
    print(f"\nmask total volume: worst relative error {worst:.4f}")


def test_burden_and_remodelling_track_truth(tables, rendered, measured):
    """Max plaque burden within 0.08 (voxelised small vessels) unless the vessel had to widen;
    remodelling index from the mask (imaging definition) within 0.15 and Spearman >= 0.9."""
    truth, _ = tables
    pb_err, ri_pairs = [], []
    for _, les in truth.iterrows():
        info = rendered[les["lesion_id"]][2]
        widened = info["remodelling_index_rendered"] > info["remodelling_index_target"] + 1e-9
        if not widened:
            pb_err.append(abs(info["max_plaque_burden"] - les["plaque_burden"]))
        ri_pairs.append((info["remodelling_index_rendered"], info["remodelling_index"]))
    ri = np.array(ri_pairs)
    print(f"\nburden abs error: median {np.median(pb_err):.3f} max {np.max(pb_err):.3f}; "
          f"RI abs error median {np.median(abs(ri[:, 0] - ri[:, 1])):.3f} max {np.max(abs(ri[:, 0] - ri[:, 1])):.3f}")
    assert np.max(pb_err) <= 0.08
    assert np.max(np.abs(ri[:, 0] - ri[:, 1])) <= 0.15
    assert spearmanr(ri[:, 0], ri[:, 1])[0] >= 0.9
    # the imaging module measures the same remodelling index from the files' mask
    np.testing.assert_allclose(measured["remodelling_index_img"], ri[:, 1], rtol=1e-9)


def test_median_hu_per_label(rendered):
    """Pooled median HU per label in its expected range (blur pulls thin structures towards
    their neighbours, so plaque components get generous upper/lower bounds)."""
    pooled = {k: [] for k in LABELS}
    for _, _, info in rendered.values():
        a, m = info["image_array"], info["mask_array"]
        for k in LABELS:
            pooled[k].append(a[m == k])
    med = {LABELS[k]: float(np.median(np.concatenate(v))) for k, v in pooled.items()}
    print("\npooled median HU:", {k: round(v) for k, v in med.items()})
    assert 300 <= med["lumen"] <= 500
    assert 130 <= med["fibrous"] <= 300
    assert 30 <= med["fibro_fatty"] <= 180
    assert med["lap"] < 80
    assert med["calcium"] > 350
    assert -110 <= med["pericoronary_fat"] <= -60
    assert 30 <= med["vessel_wall"] <= 250
    # per lesion: lumen and fat always in range
    for lid, (_, _, info) in rendered.items():
        a, m = info["image_array"], info["mask_array"]
        assert 150 <= np.median(a[m == 1]) <= 550, lid
        assert -130 <= np.median(a[m == 6]) <= -50, lid


def test_low_attenuation_core_in_vulnerable_plaque(tables, rendered):
    """Vulnerable plaques (LAP >= 20 mm3, visible at 0.45 mm with a 0.6-1 mm PSF) show a <30 HU
    core in the image; stable calcified ones (LAP share < 5 %, calcium share > 50 %) show little."""
    truth, _ = tables
    vul, stable = [], []
    for _, les in truth.iterrows():
        info = rendered[les["lesion_id"]][2]
        a, m = info["image_array"], info["mask_array"]
        frac = float((a[np.isin(m, PLAQUE)] < 30).mean())
        if les["v_lap_mm3"] >= 20:
            vul.append(frac)
        elif les["v_lap_mm3"] < 0.05 * les["v_total_mm3"] and les["v_calcified_mm3"] > 0.5 * les["v_total_mm3"]:
            stable.append(frac)
    print(f"\n<30 HU share: vulnerable {np.round(vul, 2)}; stable calcified {np.round(stable, 3)}")
    assert len(vul) >= 4 and len(stable) >= 3
    assert min(vul) >= 0.08 and np.median(vul) >= 0.15
    assert max(stable) <= 0.05


def test_napkin_ring_has_bright_rim(rendered):
    """Napkin ring: the core's interior is < 30 HU and the plaque shell around it is bright
    (>= 100 HU), brighter than around a comparable core without the sign."""
    def core_and_shell(info):
        a, m = info["image_array"], info["mask_array"]
        core = m == 4
        shell = ndi.binary_dilation(core, iterations=2) & ~core & np.isin(m, (2, 3))
        return np.median(a[ndi.binary_erosion(core)]), np.median(a[shell])

    info = rendered["X_napkin"][2]
    assert info["napkin_rim_boost_hu"] > 0
    core, shell = core_and_shell(info)
    _, shell_plain = core_and_shell(rendered["X_ncp"][2])
    assert core < 30 and shell >= 100 and shell > shell_plain


def test_spotty_calcium_components_small(tables, rendered):
    """Spotty lesions: every calcium component of the mask < 3 mm (largest bounding-box extent,
    26-connected, the imaging definition) when the plaque leaves room (calcium <= 15 mm3 and
    <= 35 % of the plaque); non-spotty calcium of >= 10 mm3 forms a larger component."""
    truth, _ = tables
    n_checked = 0
    for _, les in truth.iterrows():
        info = rendered[les["lesion_id"]][2]
        m = info["mask_array"]
        if les["v_calcified_mm3"] <= 0:
            continue
        ext = _extents(m == 5, info["spacing_mm"][::-1])
        if les["spotty_calc"] and les["v_calcified_mm3"] <= 15 and les["v_calcified_mm3"] <= 0.35 * les["v_total_mm3"]:
            assert ext.max() < 3.0, (les["lesion_id"], ext)
            n_checked += 1
        if not les["spotty_calc"] and les["v_calcified_mm3"] >= 10:
            assert ext.max() >= 3.0, (les["lesion_id"], ext)
    assert n_checked >= 4


def _extents(binary, spacing_zyx):
    lab, n = ndi.label(binary, structure=np.ones((3, 3, 3), bool))
    ext = [[s.stop - s.start for s in sl] for sl in ndi.find_objects(lab)]
    return (np.asarray(ext, float) * np.asarray(spacing_zyx)).max(axis=1)


def test_threshold_volumes_correlate_with_truth(measured):
    """Image-measured volumes (imaging.plaque_metrics, fixed thresholds) track the truth:
    Spearman total (mask) >= 0.99, calcified (> 350 HU) >= 0.85, LAP (< 30 HU) >= 0.6."""
    rho = {c: spearmanr(measured[c], measured[f"{c}_img"])[0]
           for c in ("v_total_mm3", "v_calcified_mm3", "v_lap_mm3", "v_fibrofatty_mm3", "v_fibrous_mm3")}
    print("\nSpearman truth vs image:", {k: round(v, 3) for k, v in rho.items()})
    assert rho["v_total_mm3"] >= 0.99
    assert rho["v_calcified_mm3"] >= 0.85
    assert rho["v_lap_mm3"] >= 0.6


def test_fat_attenuation_follows_latent_z(tables, rendered):
    """Peri-coronary fat within 3 mm of the vessel is denser when latent Z is high (FAI)."""
    truth, _ = tables
    zs, fai = [], []
    for _, les in truth.iterrows():
        info = rendered[les["lesion_id"]][2]
        a, m = info["image_array"], info["mask_array"]
        vessel = np.isin(m, (1, 2, 3, 4, 5, 7))
        near = ndi.binary_dilation(vessel, iterations=int(3.0 / info["spacing_mm"][0])) & (m == 6)
        zs.append(les["latent_z"])
        fai.append(float(a[near & (a > -190) & (a < -30)].mean()))
    assert spearmanr(zs, fai)[0] >= 0.4


def test_deterministic_per_lesion(tables, rendered, tmp_path):
    truth, scans = tables
    les = truth.iloc[3]
    scan = scans.set_index("scan_id", drop=False).loc[les["scan_id"]]
    _, _, info = render_lesion_patch(les, scan, rng=lesion_rng(SEED, les["lesion_id"]), return_arrays=True)
    ref = rendered[les["lesion_id"]][2]
    np.testing.assert_array_equal(info["image_array"], ref["image_array"])
    np.testing.assert_array_equal(info["mask_array"], ref["mask_array"])
    # order and K do not matter
    ids = list(truth.lesion_id[:5])
    write_lesion_images(truth, scans, tmp_path / "a", lesion_ids=ids[:2], seed=SEED)
    write_lesion_images(truth, scans, tmp_path / "b", lesion_ids=ids[::-1], seed=SEED)
    for lid in ids[:2]:
        for kind in ("ct", "mask"):
            a = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "a" / "images" / f"{lid}_{kind}.nii.gz")))
            b = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "b" / "images" / f"{lid}_{kind}.nii.gz")))
            np.testing.assert_array_equal(a, b)
    # another seed gives another image
    _, _, other = render_lesion_patch(les, scan, rng=lesion_rng(SEED + 1, les["lesion_id"]), return_arrays=True)
    assert not np.array_equal(other["image_array"], ref["image_array"])


def test_write_lesion_images_manifest(tables, tmp_path):
    truth, scans = tables
    ids = ["X_napkin", "X_tiny", truth.lesion_id[0]]
    man = write_lesion_images(truth, scans, tmp_path, lesion_ids=ids, seed=SEED, second_reader=True)
    assert list(man.columns) == ["lesion_id", "scan_id", "patient_id", "image_path", "mask_path", "label", "reader"]
    assert list(man.lesion_id) == [i for i in ids for _ in range(2)]
    assert list(man.reader) == ["reader1", "reader2"] * 3
    assert (man.label == "2,3,4,5").all()
    assert man.image_path.iloc[0] == "images/X_napkin_ct.nii.gz"
    for _, row in man.iterrows():
        assert "\\" not in row.image_path and not os.path.isabs(row.mask_path)
        img = sitk.ReadImage(str(tmp_path / row.image_path))
        msk = sitk.ReadImage(str(tmp_path / row.mask_path))
        assert img.GetSize() == msk.GetSize() and np.allclose(img.GetSpacing(), msk.GetSpacing())
        m = sitk.GetArrayFromImage(msk)
        assert set(int(v) for v in row.label.split(",")) & set(np.unique(m).tolist())
        les = truth.set_index("lesion_id").loc[row.lesion_id]
        assert row.scan_id == les.scan_id and row.patient_id == les.patient_id
    leftovers = [p for p in Path(tmp_path, "images").iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_second_reader_dice(rendered):
    dice = []
    for lid, (_, _, info) in rendered.items():
        m = info["mask_array"]
        m2 = perturb_plaque_mask(m, rng=lesion_rng(SEED, lid, stream=1), spacing_zyx=info["spacing_mm"][::-1])
        a, b = np.isin(m, PLAQUE), np.isin(m2, PLAQUE)
        dice.append(2 * (a & b).sum() / (a.sum() + b.sum()))
        assert set(np.unique(m2).tolist()) <= set(LABELS)
        assert 0.9 <= b.sum() / a.sum() <= 1.1
    dice = np.array(dice)
    print(f"\nreader2 Dice: min {dice.min():.3f} median {np.median(dice):.3f} max {dice.max():.3f}")
    assert dice.min() >= 0.78 and dice.max() <= 0.97
    assert 0.8 <= np.median(dice) <= 0.95


def test_fullsize_volume(tables, rendered, tmp_path):
    truth, scans = tables
    sid = truth.scan_id.iloc[0]
    ids = list(truth.lesion_id[truth.scan_id == sid])
    man = write_fullsize_volumes(truth, scans, tmp_path, lesion_ids=ids, seed=SEED)
    assert list(man.lesion_id) == ids and list(man.label) == [str(k) for k in range(1, len(ids) + 1)]
    assert (man.image_path == f"images/{sid}_ccta.nii.gz").all()
    img = sitk.ReadImage(str(tmp_path / man.image_path.iloc[0]))
    msk = sitk.ReadImage(str(tmp_path / man.mask_path.iloc[0]))
    sx, sy, sz = img.GetSize()
    assert sx >= 256 and sy >= 256 and sz >= 200 and img.GetSize() == msk.GetSize()
    sp = img.GetSpacing()
    assert 0.4 <= sp[0] <= 0.5 and 0.5 <= sp[2] <= 0.625
    a, m = sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(msk)
    assert a.min() <= -900 and (a < -700).mean() > 0.05        # air and lungs present
    for k, lid in enumerate(ids, start=1):
        info = rendered[lid][2]
        # the embedded block is exactly the lesion patch
        zz, yy, xx = np.nonzero(m == k)
        assert zz.size == np.isin(info["mask_array"], PLAQUE).sum()
        pz, py, px = np.nonzero(np.isin(info["mask_array"], PLAQUE))
        off = (zz.min() - pz.min(), yy.min() - py.min(), xx.min() - px.min())
        nz, ny, nx = info["image_array"].shape
        block = a[off[0]:off[0] + nz, off[1]:off[1] + ny, off[2]:off[2] + nx]
        np.testing.assert_array_equal(block, info["image_array"])


def test_radiomics_smoke(rendered):
    radiomics = pytest.importorskip("radiomics")
    import logging

    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    img, msk, info = rendered["X_napkin"]
    roi = sitk.GetImageFromArray(np.isin(info["mask_array"], PLAQUE).astype(np.uint8))
    roi.CopyInformation(msk)
    ex = featureextractor.RadiomicsFeatureExtractor(binWidth=25, resampledPixelSpacing=[0.5, 0.5, 0.5],
                                                    additionalInfo=False)
    ex.disableAllFeatures()
    ex.enableFeatureClassByName("firstorder")
    ex.enableFeatureClassByName("shape")
    feats = {k: float(v) for k, v in ex.execute(img, roi).items()}
    assert len(feats) > 30 and all(np.isfinite(v) for v in feats.values())
    assert abs(feats["original_shape_VoxelVolume"] - info["v_total_mm3"]) / info["v_total_mm3"] < 0.25
    assert radiomics.__name__ == "radiomics"


def test_validation_errors_name_everything(tables, tmp_path):
    truth, scans = tables
    with pytest.raises(SchemaError, match=r"v_lap_mm3.*|lumen_hu_mean") as exc:
        write_lesion_images(truth.drop(columns=["v_lap_mm3"]), scans.drop(columns=["lumen_hu_mean"]),
                            tmp_path, seed=0)
    assert "v_lap_mm3" in str(exc.value) and "lumen_hu_mean" in str(exc.value)
    bad = truth.copy()
    bad.loc[0, "v_total_mm3"] = -1.0
    with pytest.raises(SchemaError) as exc:
        write_lesion_images(bad, scans, tmp_path, lesion_ids=[bad.lesion_id[0], "nope"], seed=0)
    msg = str(exc.value)
    assert "nope" in msg and "v_total_mm3" in msg and bad.lesion_id[0] in msg


@pytest.mark.slow
def test_correlations_large_fixture():
    """200 lesions: correlations stable, every spotty-feasible lesion spotty."""
    truth, scans = make_example_tables(200, seed=5)
    sc = scans.set_index("scan_id", drop=False)
    rows = []
    for _, les in truth.iterrows():
        _, _, info = render_lesion_patch(les, sc.loc[les.scan_id], rng=lesion_rng(5, les.lesion_id),
                                         return_arrays=True)
        m = plaque_metrics(info["image_array"], info["mask_array"], info["spacing_mm"][::-1])
        rows.append(m)
    got = pd.DataFrame(rows)
    for c, lo in (("v_calcified_mm3", 0.85), ("v_lap_mm3", 0.6)):
        r = spearmanr(truth[c], got[c])[0]
        print(c, round(r, 3))
        assert r >= lo
