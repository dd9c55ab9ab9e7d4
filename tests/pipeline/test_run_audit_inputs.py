"""``radiorisk audit`` inputs (issue 13, section 3): stacked out-of-fold files and the default seed."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.exceptions import AuditUsageError, SchemaError
from radiorisk.pipeline import run_audit
from radiorisk.pipeline._audit import DEFAULT_AUDIT_SEED

N_PATIENTS, N_REPEATS = 300, 5
SURV = dict(risk_col="risk", time_col="time", event_col="event", horizon=365, groups=["sex"])


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def _stacked(tmp_path, *, with_repeat=True, ids=True):
    """300 patients x 5 repeats, one row per (patient, repeat), as ``radiorisk fit`` writes them."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.05, 0.5, N_PATIENTS)
    time = rng.integers(20, 800, N_PATIENTS)
    event = rng.binomial(1, 0.4, N_PATIENTS)
    sex = rng.choice(["F", "M"], N_PATIENTS)
    rows = []
    for r in range(N_REPEATS):
        risk = np.clip(base + rng.normal(0, 0.02, N_PATIENTS), 0.01, 0.99).round(4)
        rows.append(pd.DataFrame({"patient_id": [f"PX{i:04d}" for i in range(N_PATIENTS)], "repeat": r,
                                  "risk": risk, "time": time, "event": event, "sex": sex}))
    d = pd.concat(rows, ignore_index=True)
    if not with_repeat:
        d = d.drop(columns="repeat")
    if not ids:
        d = d.drop(columns="patient_id")
    f = tmp_path / "oof.csv"
    d.to_csv(f, index=False)
    return f, d


def test_stacked_file_is_refused_with_how_to_average(tmp_path):
    f, _ = _stacked(tmp_path)
    with pytest.raises(SchemaError) as exc:  # before issue 13: audited as n = 1,500
        run_audit(f, tmp_path / "out", **SURV)
    msg = str(exc.value)
    assert str(f) in msg and "'patient_id'" in msg and "300 id(s)" in msg and "5 repeats" in msg
    assert "id_col='patient_id', average_repeats=True" in msg
    assert "PX0" not in msg  # no identifier value in a message
    assert not (tmp_path / "out" / "metrics.csv").exists()


def test_duplicated_ids_alone_and_repeat_column_alone_are_refused(tmp_path):
    f, _ = _stacked(tmp_path, with_repeat=False)
    with pytest.raises(SchemaError, match=r"300 id\(s\) in column 'patient_id' appear more than once"):
        run_audit(f, tmp_path / "out", **SURV)
    f, _ = _stacked(tmp_path, ids=False)
    with pytest.raises(SchemaError, match=r"column 'repeat' has 5 values.*id_col=COL, average_repeats=True"):
        run_audit(f, tmp_path / "out", **SURV)
    with pytest.raises(AuditUsageError, match="average_repeats=True needs id_col"):
        run_audit(f, tmp_path / "out", average_repeats=True, **SURV)


def test_cli_message_names_the_flags(tmp_path):
    f, _ = _stacked(tmp_path)
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk", "--horizon", "365", "--group", "sex", "--out", str(tmp_path / "o")])
    with pytest.raises(SchemaError, match="--id-col patient_id --average-repeats"):
        args.func(args)


def test_average_repeats_audits_one_row_per_patient(tmp_path, capsys):
    f, d = _stacked(tmp_path)
    per = (d.groupby("patient_id", sort=False)
           .agg(risk=("risk", "mean"), time=("time", "first"), event=("event", "first"), sex=("sex", "first"))
           .reset_index(drop=True))
    g = tmp_path / "per_patient.csv"
    per.to_csv(g, index=False)
    want = pd.read_csv(run_audit(g, tmp_path / "want", figures=False, **SURV))
    msgs: list = []
    got = pd.read_csv(run_audit(f, tmp_path / "got", figures=False, id_col="patient_id", average_repeats=True,
                                messages=msgs, **SURV))
    assert got.loc[0, "n"] == N_PATIENTS
    pd.testing.assert_frame_equal(got, want)
    assert any("averaged 1500 rows to 300 ids" in m for m in msgs)
    page = (tmp_path / "got" / "report.html").read_text(encoding="utf-8")
    assert "averaged 1500 rows to 300 ids" in page
    for out in (tmp_path / "got").rglob("*"):
        if out.is_file() and out.suffix in (".csv", ".html"):
            text = out.read_text(encoding="utf-8")
            assert "PX0" not in text, out  # the id column is never written
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk", "--horizon", "365", "--group", "sex", "--out", str(tmp_path / "cli"),
                   "--id-col", "patient_id", "--average-repeats", "--no-figures"])
    assert args.func(args) == 0
    assert "averaged 1500 rows to 300 ids" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli" / "metrics.csv"), want)


def test_average_repeats_refuses_changing_outcome_with_rows(tmp_path):
    f, d = _stacked(tmp_path)
    d.loc[N_PATIENTS + 2, "event"] = 1 - d.loc[N_PATIENTS + 2, "event"]  # patient 2, repeat 1
    d.loc[2 * N_PATIENTS + 7, "sex"] = "X"
    d.to_csv(f, index=False)
    with pytest.raises(SchemaError) as exc:
        run_audit(f, tmp_path / "out", id_col="patient_id", average_repeats=True, **SURV)
    msg = str(exc.value)
    assert f"row {N_PATIENTS + 3} (line {N_PATIENTS + 4}), column 'event'" in msg
    assert f"row {2 * N_PATIENTS + 8} (line {2 * N_PATIENTS + 9}), column 'sex'" in msg
    assert "PX0" not in msg


def test_default_seed_is_fixed_and_printed(referee_dir, tmp_path, capsys):
    f = referee_dir / "survival_whas500.csv"
    kw = dict(risk_col="risk", time_col="time", event_col="event", horizon=365, groups=["gender"],
              n_boot=5, figures=False)
    a = pd.read_csv(run_audit(f, tmp_path / "a", **kw))
    b = pd.read_csv(run_audit(f, tmp_path / "b", **kw))
    pd.testing.assert_frame_equal(a, b)  # before issue 13: seed None, different CIs
    c = pd.read_csv(run_audit(f, tmp_path / "c", seed=DEFAULT_AUDIT_SEED, **kw))
    pd.testing.assert_frame_equal(a, c)
    for name in ("differences.csv", "fairness.csv", "calibration_tables.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    page = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert f"5 replicates, seed {DEFAULT_AUDIT_SEED}" in page and "seed None" not in page
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk", "--horizon", "365", "--group", "gender", "--n-boot", "5",
                   "--no-figures", "--out", str(tmp_path / "cli")])
    assert args.func(args) == 0
    assert f"bootstrap seed {DEFAULT_AUDIT_SEED}" in capsys.readouterr().out
    sub = argparse.ArgumentParser(prog="radiorisk").add_subparsers()
    assert f"default {DEFAULT_AUDIT_SEED}" in add_audit_parser(sub).format_help()
