"""Manifest image/mask paths may not leave the data root (the manifest's folder) unless allowed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.exceptions import InputFileError, SchemaError
from radiorisk.imaging import extract_radiomics, measure_plaque, read_manifest_for_extraction
from radiorisk.io import read_cohort, validate

PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None}, "setting": {"binWidth": 25}}


def _set_path(cohort: Path, row: int, column: str, value: str) -> None:
    m = pd.read_csv(cohort / "manifest.csv", dtype=str, keep_default_na=False)
    m.loc[row, column] = value
    m.to_csv(cohort / "manifest.csv", index=False)


@pytest.fixture
def outside(tmp_path: Path, valid_cohort: Path) -> Path:
    """A folder beside the cohort holding a copy of one image and mask."""
    o = tmp_path / "elsewhere"
    o.mkdir()
    for f in ("S002_ct.nii.gz", "S002_mask.nii.gz"):
        shutil.copyfile(valid_cohort / "images" / f, o / f)
    return o


def _escapes(valid_cohort: Path, outside: Path) -> dict[str, str]:
    link = valid_cohort / "images" / "link_ct.nii.gz"
    link.symlink_to(outside / "S002_ct.nii.gz")
    linkdir = valid_cohort / "linkdir"
    linkdir.symlink_to(outside, target_is_directory=True)
    return {
        "dotdot": "../elsewhere/S002_ct.nii.gz",
        "deep_dotdot": "images/../../elsewhere/S002_ct.nii.gz",
        "etc_passwd": "../../../../../../etc/passwd",
        "absolute": str(outside / "S002_ct.nii.gz"),
        "symlink_file": "images/link_ct.nii.gz",
        "symlink_dir": "linkdir/S002_ct.nii.gz",
    }


@pytest.mark.parametrize("case", ["dotdot", "deep_dotdot", "etc_passwd", "absolute", "symlink_file", "symlink_dir"])
def test_validate_refuses_paths_outside_the_root(case, valid_cohort: Path, outside: Path, capsys):
    value = _escapes(valid_cohort, outside)[case]
    _set_path(valid_cohort, 2, "image_path", value)
    for check_images in (False, True):
        report = validate(valid_cohort, check_images=check_images)
        v = report.to_frame()
        hit = v[v["rule"] == "path_outside_root"]
        assert not report.ok and len(hit) == 1, report.format()
        assert hit[["row", "column", "value"]].values.tolist() == [[3, "image_path", value]]
        assert "outside the data folder" in hit["message"].iloc[0]
        assert "--allow-outside-root" in hit["message"].iloc[0]
    with pytest.raises(SchemaError, match="path_outside_root"):
        read_cohort(valid_cohort)
    assert main(["validate", "--no-images", str(valid_cohort)]) == 2
    assert "[path_outside_root]" in capsys.readouterr().out
    # explicitly allowed: a warning only (passwd is not an image, so only the image check may fail)
    report = validate(valid_cohort, check_images=False, allow_outside_root=True)
    assert report.ok and set(report.to_frame()["rule"]) == {"path_outside_cohort"}
    read_cohort(valid_cohort, allow_outside_root=True)
    assert main(["validate", "--no-images", "--allow-outside-root", str(valid_cohort)]) == 0
    if case != "etc_passwd":
        assert validate(valid_cohort, allow_outside_root=True).ok
        assert main(["validate", "--allow-outside-root", str(valid_cohort)]) == 0


def test_paths_that_stay_inside_are_fine(valid_cohort: Path):
    _set_path(valid_cohort, 2, "image_path", "images/../images/./S002_ct.nii.gz")
    _set_path(valid_cohort, 2, "mask_path", str(valid_cohort / "images" / "S002_mask.nii.gz"))
    inner = valid_cohort / "images" / "inner_link.nii.gz"
    inner.symlink_to(valid_cohort / "images" / "S001_ct.nii.gz")
    _set_path(valid_cohort, 0, "image_path", "images/inner_link.nii.gz")
    report = validate(valid_cohort)
    assert report.ok and not len(report.to_frame()), report.format()
    man = read_manifest_for_extraction(valid_cohort / "manifest.csv")
    assert len(man) == 4


def test_extraction_and_measure_refuse_outside_paths(valid_cohort: Path, outside: Path, tmp_path: Path,
                                                     capsys):
    _set_path(valid_cohort, 2, "image_path", "../elsewhere/S002_ct.nii.gz")
    _set_path(valid_cohort, 2, "mask_path", str(outside / "S002_mask.nii.gz"))
    manifest = valid_cohort / "manifest.csv"
    with pytest.raises(SchemaError, match="path_outside_root") as info:
        read_manifest_for_extraction(manifest)
    v = info.value.report.to_frame()
    assert sorted(v["column"]) == ["image_path", "mask_path"] and set(v["row"]) == {3}
    with pytest.raises(SchemaError, match="leads outside the data folder"):
        measure_plaque(manifest)
    with pytest.raises(SchemaError, match="leads outside the data folder"):
        extract_radiomics(manifest, params=PARAMS)
    # CLI: exit 2 with the message, nothing written
    out = tmp_path / "plaque"
    assert main(["measure", "--manifest", str(manifest), "--out", str(out)]) == 2
    assert "path_outside_root" in capsys.readouterr().err and not out.exists()
    pfile = tmp_path / "p.json"
    pfile.write_text(__import__("json").dumps(PARAMS))
    feats = tmp_path / "f.parquet"
    assert main(["extract", "--manifest", str(manifest), "--params", str(pfile), "--out", str(feats),
                 "--quiet"]) == 2
    assert "path_outside_root" in capsys.readouterr().err and not feats.exists()
    # explicitly allowed
    man = read_manifest_for_extraction(manifest, allow_outside_root=True)
    assert man.loc[2, "image_path"] == str(valid_cohort / "../elsewhere/S002_ct.nii.gz")
    les, fails = measure_plaque(manifest, allow_outside_root=True)
    assert len(les) == 4 and fails.empty
    assert main(["measure", "--manifest", str(manifest), "--out", str(out), "--allow-outside-root"]) == 0
    assert main(["extract", "--manifest", str(manifest), "--params", str(pfile), "--out", str(feats),
                 "--quiet", "--allow-outside-root"]) == 0
    assert len(pd.read_parquet(tmp_path / "f.wide.parquet")) == 4


def test_dataframe_manifests(valid_cohort: Path, outside: Path):
    m = pd.read_csv(valid_cohort / "manifest.csv", dtype=str, keep_default_na=False)
    m.loc[2, "image_path"] = str(outside / "S002_ct.nii.gz")
    # built in code: paths used as given unless a root is named
    assert len(read_manifest_for_extraction(m.assign(image_path=[
        str(valid_cohort / p) if not os.path.isabs(p) else p for p in m["image_path"]],
        mask_path=[str(valid_cohort / p) for p in m["mask_path"]]))) == 4
    with pytest.raises(SchemaError, match="path_outside_root"):
        read_manifest_for_extraction(m, root=valid_cohort)
    out = read_manifest_for_extraction(m, root=valid_cohort, allow_outside_root=True)
    assert out.loc[0, "image_path"] == str(valid_cohort / m.loc[0, "image_path"])
    # the function's own output is accepted back (the CLI passes it to extract_radiomics)
    again = read_manifest_for_extraction(out)
    pd.testing.assert_frame_equal(again, out)


def test_bad_manifest_files_are_clear_errors(tmp_path: Path):
    p = tmp_path / "manifest.csv"
    with pytest.raises(InputFileError, match="does not exist"):
        read_manifest_for_extraction(p)
    p.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_manifest_for_extraction(p)
    p.write_bytes("lesion_id,image_path,mask_path,label\nLé,a.nii,b.nii,2\n".encode("latin-1"))
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_manifest_for_extraction(p)
    p.write_text("lesion_id,image_path,mask_path,label\n")
    with pytest.raises(InputFileError, match="no rows"):
        read_manifest_for_extraction(p)
    p.write_text("lesion_id,image_path,mask_path,label,reader\nL1,a.nii,b.nii,two,r1\nL1,a.nii,,0,r1\n"
                 "L2,a.nii,b.nii,2,bad reader\n")
    with pytest.raises(SchemaError) as info:
        read_manifest_for_extraction(p)
    v = info.value.report.to_frame()
    got = set(zip(v["row"].astype(int), v["column"], v["rule"], strict=True))
    assert {(1, "label", "pattern"), (2, "mask_path", "required"), (2, "label", "minimum"),
            (2, "lesion_id,reader", "unique"), (3, "reader", "pattern")} <= got
    assert "row 2, column 'label'" in str(info.value)


def test_fit_style_synthetic_manifest_still_works(tmp_path: Path):
    """`radiorisk fit` reads the cohort and extracts from cohort.files['manifest'] (relative paths)."""
    from radiorisk.datasets import write_synthetic_cohort

    d = tmp_path / "c"
    write_synthetic_cohort(d, n=40, images=2, seed=5)
    cohort = read_cohort(d)
    man = read_manifest_for_extraction(cohort.files["manifest"])
    assert len(man) >= 2 and man["image_path"].map(lambda p: p.startswith(str(d))).all()
    les, fails = measure_plaque(cohort.files["manifest"])
    assert len(les) == len(man) and fails.empty


@pytest.mark.filterwarnings("ignore::lifelines.exceptions.ConvergenceWarning")
def test_fit_refuses_outside_paths_unless_allowed(tmp_path, capsys):
    """`radiorisk fit` on a cohort whose manifest leads outside its folder: exit 2 naming the rule;
    with --allow-outside-root it reads and fits (extraction takes the same checked manifest)."""
    import shutil

    import pandas as pd

    from radiorisk.cli import main

    c = tmp_path / "c"
    assert main(["synth", "--n", "200", "--images", "4", "--seed", "3", "--out", str(c), "--quiet"]) == 0
    shutil.move(str(c / "images"), str(tmp_path / "images"))
    m = pd.read_csv(c / "manifest.csv", dtype=str, keep_default_na=False)
    for col in ("image_path", "mask_path"):
        m[col] = "../" + m[col]
    m.to_csv(c / "manifest.csv", index=False)
    args = ["fit", "--censor-competing", "--data", str(c), "--model", "coxph", "--blocks", "clinical,ccta", "--horizon", "1826",
            "--repeats", "1", "--folds", "3", "--param", "penalizer=0.5", "--out", str(tmp_path / "run"),
            "--quiet"]
    assert main(args) == 2
    assert "path_outside_root" in capsys.readouterr().err
    assert main(args + ["--allow-outside-root"]) == 0
    assert (tmp_path / "run" / "provenance.json").is_file()
