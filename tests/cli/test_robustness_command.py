"""``radiorisk robustness``: the parser, a run through the command function, and flag-worded errors."""

import argparse

import pandas as pd
import pytest

from radiorisk.cli._robustness import add_robustness_parser
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import RadioriskError

PARAMS = "setting:\n  binWidth: 25\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder: [Mean, Median]\n" \
         "  shape: [VoxelVolume]\n  glcm: [Contrast]\n"


def _parser():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    add_robustness_parser(sub)
    return p


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("robcli") / "c"
    write_synthetic_cohort(d, n=60, images=3, second_reader=True, mode="established-cad", seed=5)
    (d.parent / "p.yaml").write_text(PARAMS)
    return d


def test_parser_defaults_and_flags():
    a = _parser().parse_args(["robustness", "--manifest", "m.csv", "--out", "o"])
    assert (a.params, a.jobs, a.seed, a.perturbations, a.threshold, a.reader) == (
        "ccta-plaque", 1, 0, None, 0.75, None)
    with pytest.raises(SystemExit):
        _parser().parse_args(["robustness", "--manifest", "m.csv"])  # --out is required


def test_command_writes_the_tables_and_prints_the_counts(cohort, capsys):
    out = cohort.parent / "out"
    a = _parser().parse_args(["robustness", "--manifest", str(cohort / "manifest.csv"), "--params",
                              str(cohort.parent / "p.yaml"), "--out", str(out), "--perturbations", "noise:1",
                              "rotation:5", "--seed", "3", "--quiet"])
    assert a.func(a) == 0
    text = capsys.readouterr().out
    assert "robustness: 4 features" in text and ">= 0.75 / >= 0.9, by class" in text
    t = pd.read_csv(out / "robustness_icc.csv")
    assert set(t["feature"]) == {"original_firstorder_Mean", "original_firstorder_Median",
                                 "original_shape_VoxelVolume", "original_glcm_Contrast"}
    assert {"icc21", "icc21_low", "icc21_high", "icc31", "reader_icc", "stable"} <= set(t.columns)
    for name in ("perturbed_features.parquet", "robustness_failures.csv", "provenance.json"):
        assert (out / name).exists()


def test_library_errors_name_the_flags(cohort):
    a = _parser().parse_args(["robustness", "--manifest", str(cohort / "manifest.csv"), "--out",
                              str(cohort.parent / "bad"), "--threshold", "2", "--quiet"])
    with pytest.raises(RadioriskError, match="--threshold must lie in"):
        a.func(a)
    a = _parser().parse_args(["robustness", "--manifest", str(cohort / "manifest.csv"), "--out",
                              str(cohort.parent / "bad"), "--reader", "r9", "--quiet"])
    with pytest.raises(RadioriskError, match="--reader='r9' is not in the manifest"):
        a.func(a)
