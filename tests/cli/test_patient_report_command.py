"""``radiorisk patient-report`` on the command line: files, the summary printed, refusals naming flags and ids."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.pipeline import run_fit
from radiorisk.privacy import Pseudonymiser

KEY = "radiorisk-test-suite-key-0123456789"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    base = tmp_path_factory.mktemp("patient_report_cli")
    write_synthetic_cohort(base / "D", n=300, images=6, mode="established-cad", seed=7, progress=False)
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=["clinical", "ccta"], repeats=1, folds=3,
            n_boot=5, params={"penalizer": 0.1}, id_key=KEY)
    man = pd.read_csv(base / "D" / "manifest.csv", dtype=str)
    return base, list(dict.fromkeys(man["patient_id"]))[:2]


def test_command_writes_the_reports_of_each_patient(fitted, tmp_path, capsys, monkeypatch):
    base, ids = fitted
    monkeypatch.setenv("RADIORISK_ID_KEY", KEY)
    comment = tmp_path / "comment.txt"
    comment.write_text("Reviewed with the imaging team.\n", encoding="utf-8")
    out = tmp_path / "reports"
    argv = ["patient-report", "--model", str(base / "RUN" / "model"), "--data", str(base / "D"),
            "--patient", ids[0], "--patient", ids[1], "--comment-file", str(comment), "--author", "Dr B",
            "--n-boot", "5", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    labels = list(Pseudonymiser(key=KEY)(ids))
    assert printed.startswith("radiorisk patient-report: 2 patient(s)")
    assert all(lab in printed for lab in labels) and not any(i in printed for i in ids)
    for lab in labels:
        doc = json.loads((out / f"{lab}.json").read_text(encoding="utf-8"))
        assert doc["free_text"] == "Reviewed with the imaging team." and doc["provenance"]["author"] == "Dr B"
        assert (out / f"{lab}.html").read_text(encoding="utf-8").count('<div class="lesion-panel"') == len(doc["lesion_images"]) >= 1
        assert "About " in (out / f"{lab}.patient.html").read_text(encoding="utf-8")
    assert main(argv) == 2  # the reports exist
    assert "(use --overwrite)" in capsys.readouterr().err


def test_unknown_patient_exits_2_naming_it(fitted, tmp_path, capsys, monkeypatch):
    base, ids = fitted
    monkeypatch.setenv("RADIORISK_ID_KEY", KEY)
    code = main(["patient-report", "--model", str(base / "RUN" / "model"), "--data", str(base / "D"),
                 "--patient", "P999999", "--patient", ids[0], "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("radiorisk patient-report: error: --patient: 1 patient id(s) not in the cohort")
    assert "'P999999'" in err and ids[0] not in err
