"""``radiorisk validate-model`` on the command line: exit codes, the summary, errors in flag words."""

from __future__ import annotations

import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.pipeline import run_fit

KEY = "radiorisk-test-suite-key-0123456789"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    base = tmp_path_factory.mktemp("vm")
    write_synthetic_cohort(base / "D", n=250, mode="established-cad", seed=5, sites=4, progress=False)
    write_synthetic_cohort(base / "E", n=250, external_of=base / "D", progress=False)  # new sites and scanners
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=["clinical"], repeats=1, folds=3, n_boot=0,
            params={"penalizer": 0.1}, id_key=KEY)
    return base


def test_runs_and_prints_the_summary(bundle, capsys):
    rc = main(["validate-model", "--model", str(bundle / "RUN" / "model"), "--data", str(bundle / "E"),
               "--out", str(bundle / "OUT"), "--n-boot", "0", "--no-figures", "--development", str(bundle / "D")])
    out = capsys.readouterr().out
    assert rc == 0 and "radiorisk validate-model: 250 patient(s)" in out and "membership C" in out
    assert "updating:" in out and (bundle / "OUT" / "report.html").is_file()
    import pandas as pd

    m = pd.read_csv(bundle / "OUT" / "audit" / "metrics.csv")
    # the scanner's detector (photon-counting or not) is audited, from each patient's index scan
    assert {"site", "vendor", "detector", "sex:ethnicity"} <= set(m["attribute"])
    assert not {"site:vendor", "sex:ethnicity:site"} & set(m["attribute"])
    dev_sites = set(pd.read_csv(bundle / "D" / "patients.csv")["site_id"])
    assert not dev_sites & set(m.loc[m["attribute"] == "site", "group"])


def test_errors_name_the_flags(bundle, capsys):
    rc = main(["validate-model", "--model", str(bundle / "RUN" / "model"), "--data", str(bundle / "E"),
               "--out", str(bundle / "OUT"), "--n-boot", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--out" in err and "(use --overwrite)" in err
    rc = main(["validate-model", "--model", str(bundle / "RUN" / "model"), "--data", str(bundle / "E"),
               "--out", str(bundle / "O2"), "--n-boot", "-1"])
    assert rc == 2 and "--n-boot must be >= 0" in capsys.readouterr().err
    rc = main(["validate-model", "--model", str(bundle / "RUN" / "model"), "--data", str(bundle / "nowhere"),
               "--out", str(bundle / "O3"), "--n-boot", "0"])
    assert rc == 2 and "nowhere" in capsys.readouterr().err
