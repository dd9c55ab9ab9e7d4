"""``radiorisk samplesize``: the command prints Riley's criteria and the parameter budget, errors name flags."""

from __future__ import annotations

import pandas as pd

from radiorisk.cli import main


def test_binary_worked_example(capsys, tmp_path):
    # Riley et al. Stat Med 2019 (part II), the Chagas example: 24 parameters, R2_CS 0.288,
    # prevalence 0.174 -> 623 / 662 / 221 per criterion, n = 662 (EPP 4.80)
    code = main(["samplesize", "--outcome", "binary", "--parameters", "24", "--prevalence", "0.174",
                 "--r2-cs", "0.288", "--out", str(tmp_path / "n.csv")])
    out = capsys.readouterr().out
    assert code == 0 and "minimum n = 662 (r2_optimism criterion binds)" in out
    table = pd.read_csv(tmp_path / "n.csv")
    assert table["n"].tolist() == [623, 662, 221]


def test_survival_worked_example(capsys):
    # pmsampsize's documented survival example (BMJ 2020): 30 parameters -> 5143 patients
    assert main(["samplesize", "--parameters", "30", "--rate", "0.065", "--timepoint", "2",
                 "--mean-follow-up", "2.07", "--r2-cs", "0.051"]) == 0
    assert "minimum n = 5143 (shrinkage criterion binds)" in capsys.readouterr().out


def test_parameter_budget_per_rung(capsys):
    assert main(["samplesize", "--rungs", "clinical=10,+ccta=30,+radiomics=1160", "--n", "3000",
                 "--events", "300", "--r2-cs", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines()[1:4]]
    assert [r[0] for r in rows] == ["clinical", "+ccta", "+radiomics"]
    assert [r[3] for r in rows] == ["True", "False", "False"]


def test_errors_name_flags(capsys):
    assert main(["samplesize", "--outcome", "binary", "--parameters", "24", "--prevalence", "1.5",
                 "--r2-cs", "0.288"]) == 2
    assert "--prevalence must lie in (0, 1); got 1.5" in capsys.readouterr().err
    assert main(["samplesize", "--rungs", "clinical=ten", "--n", "100", "--events", "10",
                 "--r2-cs", "0.05"]) == 2
    assert "expected NAME=PARAMETERS" in capsys.readouterr().err
    assert main(["samplesize", "--r2-cs", "0.05"]) == 2
    assert "give --parameters P" in capsys.readouterr().err
