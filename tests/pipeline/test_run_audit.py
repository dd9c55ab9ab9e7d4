"""``radiorisk audit``: the CLI path, input errors, missing groups and the bootstrap."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.evaluation import (
    NotEstimableError,
    auc_delong,
    compute_metrics,
    write_metrics_csv,
)
from radiorisk.exceptions import AuditUsageError, InputFileError, RadioriskError, SchemaError
from radiorisk.pipeline import read_predictions, run_audit


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


CLI_CASES = {
    "binary_synth": (["--outcome-col", "y", "--risk-col", "p", "--group", "sex", "--group", "ethnicity"], 72),
    "survival_synth": (["--time-col", "time", "--event-col", "event", "--risk-col", "risk", "--horizon", "60",
                        "--group", "sex", "--group", "ethnicity"], 80),
    "survival_whas500": (["--time-col", "time", "--event-col", "event", "--risk-col", "risk",
                          "--horizon", "365", "--group", "gender"], 30),
}


@pytest.mark.parametrize("stem", sorted(CLI_CASES))
def test_cli_writes_matching_metrics_csv(stem, referee_dir, compare_metrics, tmp_path, capsys):
    flags, n_rows = CLI_CASES[stem]
    args = _parse(["audit", "--predictions", str(referee_dir / f"{stem}.csv"), *flags,
                   "--out", str(tmp_path / "out"), "--quiet"])
    assert args.func(args) == 0
    out = tmp_path / "out" / "metrics.csv"
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "attribute,group,metric,estimate,ci_low,ci_high,n,events"
    code = compare_metrics.main([str(out), str(referee_dir / f"{stem}.metrics.csv"), "--strict-counts"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.strip().splitlines()[-1] == f"metrics agree: {n_rows} of {n_rows}"
    if stem == "survival_whas500":  # labels as written: "0"/"1", never "0.0"
        assert set(pd.read_csv(out, dtype=str)["group"]) == {"all", "0", "1"}


def _write(tmp_path, text, name="pred.csv"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_all_violations_named_at_once(tmp_path):
    f = _write(tmp_path, "time,event,risk,sex\n10,1,0.2,F\n0,1,abc,M\n5,2,1.5,F\n-3,,0.1,\n")
    with pytest.raises(SchemaError) as exc:
        read_predictions(f, risk_col="risk", time_col="time", event_col="event", groups=["sex"])
    msg = str(exc.value)
    assert "6 invalid value(s)" in msg
    assert "row 4 (line 5), column 'time': value '-3' is not > 0" in msg
    assert "row 2 (line 3), column 'time': value '0' is not > 0" in msg
    assert "row 2 (line 3), column 'risk': value 'abc' is not a finite number" in msg
    assert "row 3 (line 4), column 'risk': value '1.5' is outside [0, 1]" in msg
    assert "row 3 (line 4), column 'event': value '2' is not 0 or 1" in msg
    assert "row 4 (line 5), column 'event': value '' is not a finite number" in msg
    assert str(f) in msg


def test_missing_columns_and_bad_files(tmp_path):
    f = _write(tmp_path, "y,p\n1,0.2\n")
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'sex'"):
        read_predictions(f, risk_col="p", outcome_col="y", groups=["sex"])
    with pytest.raises(InputFileError, match="no such file"):
        read_predictions(tmp_path / "nope.csv", risk_col="p", outcome_col="y")
    with pytest.raises(InputFileError, match="empty"):
        read_predictions(_write(tmp_path, "", "empty.csv"), risk_col="p", outcome_col="y")
    with pytest.raises(InputFileError, match="comma-separated"):
        read_predictions(_write(tmp_path, "y;p\n1;0.2\n", "semi.csv"), risk_col="p", outcome_col="y")
    with pytest.raises(SchemaError, match="is not 0 or 1"):
        read_predictions(_write(tmp_path, "y,p\n3,0.2\n", "y.csv"), risk_col="p", outcome_col="y")


def test_usage_errors(tmp_path):
    f = _write(tmp_path, "y,p\n1,0.2\n")
    with pytest.raises(AuditUsageError, match="event_col"):
        run_audit(f, tmp_path, risk_col="p", time_col="y")
    with pytest.raises(AuditUsageError, match="not be combined"):
        run_audit(f, tmp_path, risk_col="p", outcome_col="y", time_col="t")
    assert issubclass(AuditUsageError, RadioriskError)


def test_single_class_group_gives_empty_estimates(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 0.6, 200)
    y = rng.binomial(1, p)
    grp = np.where(np.arange(200) < 20, "tiny", "big")
    y[:20] = 0
    d = pd.DataFrame({"y": y, "p": p, "g": grp})
    m = compute_metrics(d, risk_col="p", outcome_col="y", groups=["g"])
    tiny = m[m["group"] == "tiny"].set_index("metric")
    assert np.isnan(tiny.loc["auc", "estimate"]) and np.isnan(tiny.loc["cal_slope", "estimate"])
    assert tiny.loc["brier", "estimate"] == pytest.approx(np.mean(p[:20] ** 2))
    path = write_metrics_csv(m, tmp_path / "metrics.csv")
    line = [x for x in path.read_text().splitlines() if x.startswith("g,tiny,auc,")][0]
    assert line == "g,tiny,auc,,,,20,0"
    with pytest.raises(NotEstimableError, match="single class"):
        auc_delong(y[:20], p[:20])


def test_survival_group_without_event_by_t0():
    d = pd.DataFrame({"time": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] * 2, "event": [1, 0] * 10,
                      "risk": np.linspace(0.05, 0.5, 20), "g": ["a"] * 10 + ["b"] * 10})
    d.loc[d["g"] == "b", "time"] += 100
    m = compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=50, groups=["g"])
    b = m[m["group"] == "b"].set_index("metric")
    assert b["events"].iloc[0] == 0
    for k in ("uno_c", "td_auc", "ipa", "ici_t", "emax_t"):
        assert np.isnan(b.loc[k, "estimate"]), k
    assert not np.isnan(b.loc["harrell_c", "estimate"])


def test_bootstrap_cis_reproducible(referee_dir, tmp_path):
    d = pd.read_csv(referee_dir / "survival_whas500.csv", dtype={"gender": str})
    kw = dict(risk_col="risk", time_col="time", event_col="event", horizon=365, groups=["gender"])
    a = compute_metrics(d, n_boot=20, random_state=7, **kw)
    b = compute_metrics(d, n_boot=20, random_state=7, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a["ci_low"].notna().all() and (a["ci_low"] <= a["ci_high"]).all()
    plain = compute_metrics(d, **kw)
    np.testing.assert_array_equal(a["estimate"], plain["estimate"])
    out = run_audit(referee_dir / "survival_whas500.csv", tmp_path, n_boot=5, seed=1, **kw)
    assert pd.read_csv(out)["ci_low"].notna().all()
