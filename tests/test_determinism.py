"""Same inputs and seed -> identical outputs, across runs and across ``--jobs`` (issue 8, section 4).

Hashes (SHA-256) rather than tolerances: the radiomics tables, the synthetic
cohort and the cross-validated predictions must be bit-for-bit reproducible.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from radiorisk.cli import main

# the ccta-plaque set-up (resampling, a LoG filter) with two feature classes, kept small for speed
PARAMS_YAML = (
    "setting: {binWidth: 25, resampledPixelSpacing: [0.5, 0.5, 0.5], interpolator: sitkBSpline,"
    " padDistance: 10, label: 1}\nimageType: {Original: {}, LoG: {sigma: [1.0]}}\n"
    "featureClass: {firstorder: , glszm: }\n"
)


def sha_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a table's columns, dtypes and values (floats written with 17 significant digits)."""
    h = hashlib.sha256()
    h.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(df.to_csv(index=False, float_format="%.17g", lineterminator="\n").encode())
    return h.hexdigest()


def canonical_long(long: pd.DataFrame) -> pd.DataFrame:
    return long.sort_values(["patient_id", "scan_id", "lesion_id", "reader", "feature"],
                            kind="stable").reset_index(drop=True)


def sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("det")
    assert main(["synth", "--n", "200", "--images", "10", "--seed", "11", "--out", str(d / "D"), "--quiet"]) == 0
    (d / "p.yaml").write_text(PARAMS_YAML)
    return d


def _extract(synth: Path, out: Path, jobs: int) -> dict:
    code = main(["extract", "--manifest", str(synth / "D" / "manifest.csv"), "--params", str(synth / "p.yaml"),
                 "--out", str(out), "--jobs", str(jobs), "--quiet"])
    assert code == 0
    long = pd.read_parquet(out)
    wide = pd.read_parquet(out.with_name(out.name.replace(".parquet", ".wide.parquet")))
    assert len(wide) == 10 and not wide.isna().any().any()
    return {
        "long_canonical": sha_frame(canonical_long(long)),
        "long_as_written": sha_frame(long),  # row order must not depend on completion order either
        "wide": sha_frame(wide),
        "failures": sha_file(out.with_name(out.name.replace(".parquet", ".failures.csv"))),
        "long_file": sha_file(out),
    }


def test_extraction_hashes_equal_across_runs_and_jobs(synth, tmp_path):
    one = _extract(synth, tmp_path / "a" / "f.parquet", jobs=1)
    again = _extract(synth, tmp_path / "b" / "f.parquet", jobs=1)
    two = _extract(synth, tmp_path / "c" / "f.parquet", jobs=2)
    assert one == again
    assert one == two


def test_synth_same_seed_byte_identical_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert main(["synth", "--n", "150", "--images", "2", "--seed", str(seed), "--out", str(tmp_path / name),
                     "--quiet"]) == 0
    csvs = sorted(p.name for p in (tmp_path / "a").glob("*.csv"))
    assert {"patients.csv", "manifest.csv", "outcomes.csv"} <= set(csvs)
    for name in csvs:
        assert sha_file(tmp_path / "a" / name) == sha_file(tmp_path / "b" / name), name
    for img in sorted((tmp_path / "a" / "images").iterdir()):
        assert sha_file(img) == sha_file(tmp_path / "b" / "images" / img.name), img.name
    assert sha_file(tmp_path / "a" / "patients.csv") != sha_file(tmp_path / "c" / "patients.csv")


def test_fit_coxph_twice_gives_identical_oof_predictions(synth, tmp_path, capsys):
    hashes = []
    for name in ("r1", "r2"):
        code = main(["fit", "--censor-competing", "--data", str(synth / "D"), "--model", "coxph", "--blocks", "clinical,ccta",
                     "--horizon", "1826", "--out", str(tmp_path / name), "--repeats", "1", "--folds", "3",
                     "--seed", "5", "--n-boot", "0", "--param", "penalizer=0.5", "--quiet"])
        assert code == 0, capsys.readouterr().err
        oof = tmp_path / name / "oof_predictions.csv"
        assert len(pd.read_csv(oof)) == 200
        hashes.append((sha_file(oof), sha_file(tmp_path / name / "ladder.csv")))
    assert hashes[0] == hashes[1]
