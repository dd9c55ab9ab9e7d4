"""``radiorisk synth --sites N`` and ``--external-of DIR``: both cohorts validate; errors name flags."""

from __future__ import annotations

import json

import pandas as pd

from radiorisk.cli import main


def test_sites_and_external_of_then_validate(tmp_path, capsys):
    dev, ext = tmp_path / "dev", tmp_path / "ext"
    assert main(["synth", "--n", "400", "--sites", "4", "--seed", "7", "--out", str(dev), "--quiet"]) == 0
    assert main(["synth", "--external-of", str(dev), "--n", "300", "--out", str(ext)]) == 0
    out = capsys.readouterr().out
    assert "4 sites (site05-site08), scanner mix external; external cohort of dev" in out
    assert sorted(pd.read_csv(dev / "patients.csv")["site_id"].unique()) == ["site01", "site02", "site03", "site04"]
    assert sorted(pd.read_csv(ext / "patients.csv")["site_id"].unique()) == ["site05", "site06", "site07", "site08"]
    assert json.loads((ext / "provenance.json").read_text())["n"] == 300
    for folder in (dev, ext):
        assert main(["validate", str(folder)]) == 0
        assert "is valid" in capsys.readouterr().out


def test_site_hazard_sd_and_scanner_mix_flags(tmp_path):
    out = tmp_path / "c"
    assert main(["synth", "--n", "300", "--sites", "3", "--first-site", "21", "--site-hazard-sd", "0",
                 "--scanner-mix", '{"canon_eid_fc03": 1}', "--out", str(out), "--quiet"]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert [r["site_id"] for r in prov["sites"]["sites"]] == ["site21", "site22", "site23"]
    assert {r["log_baseline_hr"] for r in prov["sites"]["sites"]} == {0.0}
    assert set(pd.read_csv(out / "scans.csv")["vendor"]) == {"Canon"}


def test_errors_name_flags(tmp_path, capsys):
    assert main(["synth", "--n", "50", "--scanner-mix", "external", "--out", str(tmp_path / "a")]) == 2
    assert "--scanner-mix need --sites N" in capsys.readouterr().err
    assert main(["synth", "--n", "100", "--sites", "2", "--seed", "3", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    assert main(["synth", "--external-of", str(tmp_path / "d"), "--seed", "3", "--out", str(tmp_path / "e")]) == 2
    assert "--external-of: seed 3 is the reference cohort's seed" in capsys.readouterr().err
    assert main(["synth", "--n", "50", "--sites", "0", "--out", str(tmp_path / "f")]) == 2
    assert "--sites must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()
