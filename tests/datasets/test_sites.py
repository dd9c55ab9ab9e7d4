"""Multi-site designs of the synthetic cohort (issue 14 section 5): sites, case mix, baseline hazard,
scanners, site- and vendor-targeted bias presets; the default cohort stays byte-identical."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import SCANNERS, SiteSpec, simulate_cohort
from radiorisk.datasets._bias import group_mask
from radiorisk.exceptions import RadioriskError
from radiorisk.stats import kaplan_meier_risk

# SHA-256 of the files `radiorisk synth` wrote at commit 9737cd1, before multi-site designs existed
# (`--n 300 --mode established-cad --seed 5` and `--n 300 --seed 3 --bias audit_demo`).  A change of
# these is a change of the default cohort, which the demo and many tests rely on.
GOLDEN = {
    "ecad": (["--n", "300", "--mode", "established-cad", "--seed", "5"], {
        "lesions.csv": "dd4f5f728cc8328418301b8da4b4cae1e21a473d49f8cbc54a57f8738831414c",
        "outcomes.csv": "fc8168fa2e056fa89df0583139024d65b0517646005e6e6f5586bab16e15c277",
        "patients.csv": "a63dbbd400a23f7c4e211ec915c21ad1050fd22c943b5ea52c0fcf01f96e0a2a",
        "pet.csv": "17fb493609b2cd848a3e78ea097be01537b36602892f536b4e8650a3fc38fd2c",
        "scans.csv": "a9ac727c4833904bd6e7759ac32833ead8fbb52ccbec574841c1064a6697410d",
        "truth.csv": "06705fec4d207a0a426e210d1c463186ec6b447c790cc2d63f72b11cf137824f",
        "truth_lesions.csv": "065292667418d68c97ffa196f40f88814c30f5d4310da6979d5ec2322d36565a"}),
    "bias": (["--n", "300", "--seed", "3", "--bias", "audit_demo"], {
        "lesions.csv": "2db0dd647f7baeee5c5a598ea2d839d15bfde7d41236cc33bbe3ba5913ebc3a5",
        "outcomes.csv": "1e2ee44b0ea7cf27528c461a2b0f3a3611272cddad36ac31a7fbfea75c5e900f",
        "patients.csv": "2e3ad0bf9c29bbd0e7da1687bd10a87f2a5e0fbbab22d686793120a98dacca20",
        "pet.csv": "603d6f2d127cc03718e566e65ba03c87161888beb3540cd349d6424f5ba04e3c",
        "scans.csv": "1740732485e01f4171209b3585ce7433375148380a8c7d91cf85f275d03006b6",
        "truth.csv": "447b67f543a0a095ab014fb249032bd44d758bc196744db1ae2ab31f517de9c1",
        "truth_lesions.csv": "f8995d9844bf4f73a7fb6611e37c2c82a26a3c1b6011188e8a8cfcf9068f052a"}),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_default_cohort_files_are_unchanged(tmp_path, name):
    args, hashes = GOLDEN[name]
    assert main(["synth", *args, "--out", str(tmp_path / name), "--quiet"]) == 0
    got = {f: hashlib.sha256((tmp_path / name / f).read_bytes()).hexdigest() for f in hashes}
    assert got == hashes
    prov = json.loads((tmp_path / name / "provenance.json").read_text())
    assert "sites" not in prov and "external_of" not in prov
    assert "detector" not in pd.read_csv(tmp_path / name / "scans.csv", nrows=1).columns


@pytest.mark.parametrize("k", [1, 5, 12])
def test_sites_option_gives_n_sites(k):
    c = simulate_cohort(1500, seed=4, sites=k)
    ids = [f"site{i:02d}" for i in range(1, k + 1)]
    assert sorted(c.patients["site_id"].unique()) == ids
    assert [r["site_id"] for r in c.sites["sites"]] == ids
    assert set(c.truth.columns) >= {"site_log_hr", "scanner_model"}
    assert set(c.scans["detector"]) <= {"energy_integrating", "photon_counting"}
    # the recorded design is what the patients got
    design = {r["site_id"]: r for r in c.sites["sites"]}
    lhr = c.truth["site_log_hr"].to_numpy()
    want = c.patients["site_id"].map(lambda s: design[s]["log_baseline_hr"]).to_numpy()
    np.testing.assert_allclose(lhr, want, atol=1e-4)


def test_sites_differ_in_case_mix_and_hazard():
    # seed 21, 8 sites, n = 16000: the between-site SD of the mean age follows age_sd = 3
    c = simulate_cohort(16000, seed=21, sites=8)
    age = c.patients.groupby("site_id")["age_years"].mean()
    design = pd.DataFrame(c.sites["sites"]).set_index("site_id")
    assert age.std() > 1.5
    # observed mean age per site tracks the design's shift (corr > 0.9)
    assert np.corrcoef(age, design["age_shift_years"])[0, 1] > 0.9
    assert abs(design["log_baseline_hr"].mean()) < 1e-3 and design["log_baseline_hr"].std() > 0.1
    # the first two sites are the PET sites in chest-pain mode (as site01/site02 of the default cohort)
    pet_site = c.truth["pet_site"].to_numpy()
    assert (pet_site == c.patients["site_id"].isin(["site01", "site02"]).to_numpy()).all()


def test_scanner_mix_and_photon_counting_measurement():
    dev = simulate_cohort(4000, seed=5, sites=8)
    ext = simulate_cohort(4000, seed=5, sites={"n_sites": 8, "scanner_mix": "external"})
    pc = {k: (c.scans["detector"] == "photon_counting").mean() for k, c in (("dev", dev), ("ext", ext))}
    assert pc["dev"] < 0.15 and pc["ext"] > 0.3
    # one scanner model everywhere: the true plaque is the same, the photon-counting reading has less
    # calcified volume (less blooming) and lower noise
    eid = simulate_cohort(3000, seed=6, sites={"n_sites": 4, "scanner_mix": {"siemens_eid_bv40": 1}})
    pcd = simulate_cohort(3000, seed=6, sites={"n_sites": 4, "scanner_mix": {"siemens_pcd_qr40": 1}})
    pd.testing.assert_frame_equal(eid.truth_lesions, pcd.truth_lesions)
    assert set(pcd.scans["kernel"]) == {"Qr40"} and set(eid.scans["kernel"]) == {"Bv40"}
    assert pcd.scans["cpv_mm3"].sum() < 0.95 * eid.scans["cpv_mm3"].sum()
    assert pcd.scans["noise_sd_hu"].median() < eid.scans["noise_sd_hu"].median()
    assert SCANNERS["siemens_pcd_qr40"]["detector"] == "photon_counting"


def test_site_preset_raises_that_sites_km_risk():
    # statistic: Kaplan-Meier MACE risk by day 1826 in site03, seed 14, n = 8000, 8 sites.
    # Hazard x1.8 for site03 only: its KM risk rises by a ratio in (1.4, 2.3); the other sites'
    # outcomes are identical (the bias changes only what it acts on).
    base = simulate_cohort(8000, seed=14, sites=8)
    biased = simulate_cohort(8000, seed=14, sites=8, bias="site03_baseline_hr")
    site = base.patients["site_id"].to_numpy()

    def km(c, mask):
        o = c.outcomes[mask]
        return kaplan_meier_risk(o["mace_time_days"], o["mace_event"].astype(float), horizon=1826).estimate

    s3 = site == "site03"
    ratio = km(biased, s3) / km(base, s3)
    assert 1.4 < ratio < 2.3, ratio
    pd.testing.assert_frame_equal(base.outcomes[~s3], biased.outcomes[~s3])
    assert set(biased.truth.loc[s3, "bias_baseline_hr"]) == {1.8}
    pd.testing.assert_frame_equal(base.scans, biased.scans)


def test_vendor_preset_shifts_that_vendors_measurement():
    base = simulate_cohort(3000, seed=8, sites=8)
    biased = simulate_cohort(3000, seed=8, sites=8, bias="ge_lap_shift")
    ge = (base.scans["vendor"] == "GE").to_numpy()
    assert ge.sum() > 200
    ratio = biased.scans.loc[ge, "lapv_mm3"].sum() / base.scans.loc[ge, "lapv_mm3"].sum()
    assert ratio == pytest.approx(0.6, abs=0.01)
    pd.testing.assert_frame_equal(base.scans[~ge], biased.scans[~ge])
    # the legacy cohort has vendors too: the preset works without --sites
    legacy = simulate_cohort(500, seed=8, bias="ge_lap_shift")
    assert (legacy.truth["bias_lap_factor"] == 0.6).sum() == (legacy.scans["vendor"] == "GE").sum()


def test_detector_preset_shifts_photon_counting_stenosis_only():
    kw = dict(seed=9, sites={"n_sites": 6, "scanner_mix": "external"})
    base = simulate_cohort(2000, **kw)
    biased = simulate_cohort(2000, bias="photon_counting_stenosis_shift", **kw)
    pc = base.lesions["patient_id"].map(base.scans.set_index("patient_id")["detector"]) == "photon_counting"
    assert 0.3 < pc.mean() < 0.7
    d = biased.lesions["diameter_stenosis_pct"] - base.lesions["diameter_stenosis_pct"]
    assert d[pc].median() == pytest.approx(-8.0, abs=0.05)  # clipped at 1 % for a few mild lesions
    assert (d[~pc] == 0).all()


def test_site_and_vendor_selectors_and_errors():
    cols = {"sex": np.array(["female", "male"]), "ethnicity": np.array(["white", "white"]),
            "ethnicity_group5": np.array(["white", "white"]), "site_id": np.array(["site03", "site04"]),
            "vendor": np.array(["GE", "Canon"]), "detector": np.array(["photon_counting", "energy_integrating"])}
    assert group_mask("site03", cols).tolist() == [True, False]
    assert group_mask("site_id=site04&Canon", cols).tolist() == [False, True]
    assert group_mask("photon_counting&female", cols).tolist() == [True, False]
    with pytest.raises(RadioriskError, match="needs the column 'vendor'"):
        group_mask("GE", {k: cols[k] for k in ("sex", "ethnicity", "ethnicity_group5")})
    with pytest.raises(RadioriskError, match="n_sites must be a positive integer"):
        SiteSpec(n_sites=0)
    with pytest.raises(RadioriskError, match="unknown scanner model 'toshiba'"):
        SiteSpec(n_sites=2, scanner_mix={"toshiba": 1})
    with pytest.raises(RadioriskError, match="unknown option"):
        SiteSpec.coerce({"n_sites": 2, "sd": 1})


def test_multisite_is_deterministic_and_valid(tmp_path):
    from radiorisk.io import validate

    a = simulate_cohort(600, seed=3, sites=6, mode="established-cad")
    b = simulate_cohort(600, seed=3, sites=6, mode="established-cad")
    for t in a.tables:
        pd.testing.assert_frame_equal(a.tables[t], b.tables[t])
    assert a.pet["pet_available"].all()  # PET everywhere in established-CAD mode, at every site
    a.write_tables(tmp_path)
    report = validate(tmp_path, check_images=False)
    assert report.ok, report
