"""End-to-end through the command line: synth -> validate -> extract, and the demo.

These are the "Done when" checks of the foundation and imaging issues, run on a
freshly synthesised cohort with real NIfTI images.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import SimpleITK as sitk

from radiorisk.cli import main

RADIORISK = [sys.executable, "-m", "radiorisk.cli"]


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth") / "D"
    code = main(["synth", "--n", "2000", "--mode", "chest-pain", "--images", "50", "--seed", "1",
                 "--out", str(d), "--quiet"])
    assert code == 0
    return d


@pytest.fixture
def cohort_copy(synth_dir, tmp_path):
    d = tmp_path / "D"
    shutil.copytree(synth_dir, d)
    return d


def test_synth_writes_every_table_and_validates(synth_dir, capsys):
    for name in ("patients", "scans", "lesions", "pet", "outcomes", "manifest", "truth"):
        assert (synth_dir / f"{name}.csv").exists(), name
    man = pd.read_csv(synth_dir / "manifest.csv")
    assert len(man) == 50 and all((synth_dir / p).exists() for p in man["image_path"])
    assert main(["validate", str(synth_dir)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_names_each_of_four_injected_problems(cohort_copy, capsys):
    d = cohort_copy
    patients = pd.read_csv(d / "patients.csv", dtype=str, keep_default_na=False)
    dup = patients.iloc[[3]].copy()
    patients = pd.concat([patients.drop(columns=["smoking"]), dup.drop(columns=["smoking"])])
    patients.to_csv(d / "patients.csv", index=False)  # drops a required column AND duplicates an id
    out = pd.read_csv(d / "outcomes.csv", dtype=str, keep_default_na=False)
    out.loc[5, "fu_days"] = "-12"
    out.to_csv(d / "outcomes.csv", index=False)
    man = pd.read_csv(d / "manifest.csv")
    mask_path = d / man.loc[0, "mask_path"]
    m = sitk.ReadImage(str(mask_path))
    m.SetSpacing((0.7, 0.7, 0.7))
    sitk.WriteImage(m, str(mask_path))

    code = main(["validate", str(d)])
    text = capsys.readouterr().out
    assert code == 2
    assert "smoking" in text and "missing_column" in text
    assert "fu_days" in text and "-12" in text
    assert "geometry_mismatch" in text and "spacing" in text and man.loc[0, "mask_path"].split("/")[-1] in text
    assert "unique" in text and dup["patient_id"].iloc[0] in text


def test_validate_via_the_console_script_exit_codes(cohort_copy):
    ok = subprocess.run([*RADIORISK, "validate", str(cohort_copy)], capture_output=True, text=True, encoding="utf-8")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (cohort_copy / "outcomes.csv").write_text("")
    bad = subprocess.run([*RADIORISK, "validate", str(cohort_copy)], capture_output=True, text=True, encoding="utf-8")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "outcomes.csv" in bad.stdout


def test_synth_refuses_a_non_empty_folder(synth_dir, capsys):
    assert main(["synth", "--n", "10", "--out", str(synth_dir)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_same_seed_gives_byte_identical_tables(tmp_path):
    for name in ("a", "b"):
        assert main(["synth", "--n", "300", "--images", "3", "--seed", "7", "--out", str(tmp_path / name),
                     "--quiet"]) == 0
    for table in ("patients", "scans", "lesions", "pet", "outcomes", "manifest", "truth", "truth_lesions"):
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() == (tmp_path / "b" / f"{table}.csv").read_bytes()


def test_extract_on_synth_images_survives_sigkill(tmp_path):
    d = tmp_path / "D"
    assert main(["synth", "--n", "400", "--images", "40", "--seed", "5", "--out", str(d), "--quiet"]) == 0
    params = tmp_path / "fast.yaml"  # the ccta-plaque set-up with two feature classes, to keep CI fast
    params.write_text(
        "setting: {binWidth: 25, resampledPixelSpacing: [0.5, 0.5, 0.5], interpolator: sitkBSpline,"
        " padDistance: 10, label: 1}\nimageType: {Original: {}, LoG: {sigma: [1.0, 3.0]}}\n"
        "featureClass: {firstorder: , glcm: }\n"
    )
    out = tmp_path / "feat.parquet"
    cmd = [*RADIORISK, "extract", "--manifest", str(d / "manifest.csv"), "--params", str(params),
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = tmp_path / "feat.parquet.parts"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 10 and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(parts.glob("part-*.parquet")))
    assert 0 < n_before < 40, "the kill should land midway"
    assert not out.exists()
    again = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = pd.read_parquet(out)
    fresh_out = tmp_path / "fresh.parquet"
    fresh = subprocess.run([*cmd[:-2], str(fresh_out), "--quiet"], capture_output=True, text=True, encoding="utf-8")
    assert fresh.returncode == 0, fresh.stderr
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(fresh_out))
    wide = pd.read_parquet(tmp_path / "feat.wide.parquet")
    assert len(wide) == 40 and not wide.duplicated(["lesion_id", "reader"]).any()


def test_demo_quick(tmp_path, capsys):
    code = main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--quiet"])
    captured = capsys.readouterr()
    text = captured.out
    assert code == 0, text
    assert captured.err == ""  # --quiet: no progress, and no third-party warning reaches the console
    assert "Results are in" in text
    # the multimodal story: both models, the four rungs in the published order, a verdict on every increment
    ladder = text.split("Modality ladder")[1].split("What each rung added")[0]
    rows = [ln.split()[0] for ln in ladder.splitlines()[3:] if ln.strip()]
    assert rows == ["clinical", "+ccta", "+pet", "+radiomics"] and "xgb-cox" in ladder and "coxph" in ladder
    added = text.split("What each rung added")[1].split("published (Kwiecinski")[0]
    verdicts = [ln for ln in added.splitlines() if " adds " in ln]
    assert len(verdicts) == 6 and all(("the CI excludes 0" in v) or ("the CI includes 0" in v) for v in verdicts)
    summary = pd.read_csv(tmp_path / "demo" / "cohort_summary.csv")
    assert summary.loc[0, "attribute"] == "overall" and summary.loc[0, "n"] == 400
    # the report folder: the model report and three patients' structured reports (pseudonymised)
    report = tmp_path / "demo" / "report" / "model_report.html"
    assert f"The model report is {report.resolve()}" in text
    html = report.read_text(encoding="utf-8")
    for section in ("participants", "model", "discrimination", "calibration", "fairness", "decision-curve",
                    "explanations", "limitations", "provenance"):
        assert f'id="{section}"' in html
    folder = tmp_path / "demo" / "report" / "patients"
    patients = sorted(p for p in folder.glob("*.json") if not p.name.endswith(".provenance.json"))
    assert (folder / "patient_report.provenance.json").is_file()
    assert len(patients) == 3 and all(p.name.startswith("pz_") for p in patients)
    kinds = [p.name.partition(".")[2] for p in folder.glob("pz_*")]
    for kind in ("html", "patient.html", "pdf", "patient.pdf", "json", "sr.dcm"):  # run_patient_report's formats
        assert kinds.count(kind) == 3, kind
    for p in patients:  # each patient is listed in the summary with its files
        assert f"{p.name.split('.')[0]}: html, patient.html, pdf, patient.pdf, json, sr.dcm" in text


def test_measure_command_writes_lesion_and_patient_tables(synth_dir, tmp_path, capsys):
    code = main(["measure", "--manifest", str(synth_dir / "manifest.csv"), "--out", str(tmp_path / "m")])
    assert code == 0, capsys.readouterr().err
    les = pd.read_csv(tmp_path / "m" / "plaque_lesions.csv")
    pat = pd.read_csv(tmp_path / "m" / "plaque_patients.csv")
    assert len(les) == 50 and les["v_total_mm3"].gt(0).all()
    assert pat["tpv_mm3"].sum() == pytest.approx(les["v_total_mm3"].sum())


def test_second_reader_masks_give_feature_iccs(tmp_path):
    from radiorisk.features import feature_icc, robust_features
    from radiorisk.imaging import extract_radiomics

    d = tmp_path / "R"
    assert main(["synth", "--n", "300", "--images", "12", "--second-reader", "--seed", "9", "--out", str(d),
                 "--quiet"]) == 0
    params = {"setting": {"binWidth": 25, "label": 1}, "imageType": {"Original": {}},
              "featureClass": {"shape": ["VoxelVolume", "Sphericity"], "firstorder": ["Mean", "Kurtosis"]}}
    res = extract_radiomics(d / "manifest.csv", params=params)
    assert res.ok and set(res.features["reader"]) == {"reader1", "reader2"}
    icc = feature_icc(res.features).set_index("feature")
    assert icc.loc["original_shape_VoxelVolume", "icc"] > 0.9  # Dice 0.8-0.95 barely moves volumes
    assert "original_shape_VoxelVolume" in robust_features(icc.reset_index(), threshold=0.75)
