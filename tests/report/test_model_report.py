"""The HTML model report (`radiorisk report`): sections, embedded figures, no network, clear errors."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
from html.parser import HTMLParser

import pytest

from radiorisk.cli import main
from radiorisk.pipeline import build_model_report
from radiorisk.report import MODEL_REPORT_SECTIONS, ModelReport, ReportError

SECTION_IDS = [sid for sid, _ in MODEL_REPORT_SECTIONS]


class _Collect(HTMLParser):
    """Section ids in order, every img src, every src/href attribute, and the text of each section."""

    def __init__(self):
        super().__init__()
        self.sections, self.imgs, self.links, self.text = [], [], [], {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._current = a.get("id")
            self.sections.append(self._current)
            self.text[self._current] = []
        if tag == "img":
            self.imgs.append((a.get("src") or "", self._current))
        for k in ("src", "href", "action", "data", "poster"):
            if k in a:
                self.links.append((tag, k, a[k]))

    def handle_endtag(self, tag):
        if tag == "section":
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.text[self._current].append(data)


@pytest.fixture(scope="module")
def parsed(model_report_html):
    p = _Collect()
    p.feed(model_report_html)
    p.text = {k: " ".join(v) for k, v in p.text.items()}
    return p


def _run_cli(argv):
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(argv)
    return code, so.getvalue(), se.getvalue()


def test_cli_writes_the_report(model_report_cli):
    assert model_report_cli["code"] == 0, model_report_cli["stderr"]
    out = model_report_cli["out"]
    assert out.is_file() and out.stat().st_size > 10_000
    assert "wrote the model report" in model_report_cli["stdout"]
    # atomic write: no temporary file left beside the report
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    # the RUN folder is not modified (the audit is computed in a temporary folder)
    assert not (model_report_cli["run"] / "audit").exists()


def test_every_section_present_in_tripod_order(parsed):
    assert parsed.sections == SECTION_IDS
    assert SECTION_IDS == ["participants", "model", "discrimination", "calibration", "fairness",
                           "decision-curve", "explanations", "limitations", "provenance", "tripod"]


def test_images_are_embedded_pngs(parsed):
    assert len(parsed.imgs) >= 10
    where = {sec for _, sec in parsed.imgs}
    assert {"participants", "discrimination", "calibration", "decision-curve", "explanations"} <= where
    for src, _ in parsed.imgs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_external_resources(model_report_html, parsed):
    for tag, attr, value in parsed.links:
        v = value.strip().lower()
        assert not v.startswith(("http:", "https:", "//", "ftp:")), (tag, attr, value)
        assert v.startswith(("data:", "#")), (tag, attr, value)
    low = model_report_html.lower()
    assert "http://" not in low and "https://" not in low
    assert "<link" not in low and "@import" not in low and "url(" not in low
    assert "<iframe" not in low and "<object" not in low and "<embed" not in low
    assert "default-src 'none'" in model_report_html  # the CSP forbids network loads


def test_plain_language_and_numbers(parsed):
    t = parsed.text
    assert "400 patients were analysed" in t["participants"]
    assert "PET availability" in t["participants"] and "pet_available_pct" in t["participants"]
    assert "coxph" in t["model"] and "3-fold cross-validation" in t["model"] and "1826 days" in t["model"]
    assert "censor" in t["model"]
    assert "Harrell's C" in t["discrimination"] and "+ccta" in t["discrimination"]
    assert "+pet" in t["discrimination"]  # the PET rung of the ladder (PET-available population)
    assert re.search(r"Among women \(\d+ patients, \d+ MACE by the horizon\) the model predicted "
                     r"\d+\.\d % on average and \d+\.\d %", t["calibration"])
    for k in ("O/E", "ICI", "E50", "E90"):
        assert k in t["calibration"]
    assert "true-positive" in t["fairness"] and "equal_opportunity_difference" in t["fairness"]
    assert "net benefit" in t["decision-curve"]
    assert "most influential features" in t["explanations"] and "by modality" in t["explanations"].lower()
    assert "small group" in t["limitations"] and "extrapolation" in t["limitations"]
    assert "sha256" in t["provenance"].lower() and "seed" in t["provenance"]


def test_no_patient_identifiers(model_report_html):
    text = re.sub(r'src="data:[^"]*"', "", model_report_html)
    assert not re.search(r"\bP\d{6}\b", text)


def test_api_with_a_given_audit(model_report_run, tmp_path, monkeypatch):
    """Python API with --audit and --data; without the id key, per-patient joins are left out, stated."""
    import json

    import numpy as np
    import pandas as pd

    from radiorisk.pipeline import run_audit

    data, run = model_report_run
    oof = pd.read_csv(run / "oof_predictions.csv")
    pred = oof.groupby("patient_id").agg(risk=("risk", "mean"), time=("time", "first"),
                                         event=("event", "first"), sex=("sex", "first"))
    pred.to_csv(tmp_path / "p.csv", index=False)
    with np.errstate(invalid="ignore"):  # a KM risk band reaching 0 (see radiorisk.report._model)
        run_audit(tmp_path / "p.csv", tmp_path / "audit", risk_col="risk", time_col="time",
                  event_col="event", groups=["sex"], n_boot=0, figures=False)
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    monkeypatch.delenv("RADIORISK_ID_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-key-here"))
    out = build_model_report(copy, tmp_path / "r.html", data=data, audit=tmp_path / "audit", seed=1,
                             shap_sample=100)
    html = out.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    assert "the audit in" in html and "SHAP values of the final model on 100 patients" in html
    # figures the audit did not draw are drawn by the report (overall calibration, decision curve)
    assert html.count("data:image/png;base64,") >= 6
    ident = json.loads((run / "provenance.json").read_text()).get("identifiers") or {}
    if isinstance(ident, dict) and ident.get("identifiers") == "pseudonymised":
        assert "is not available here; per-patient checks (extrapolation) are left out" in html
    assert "pet_available_pct" in html  # availability by group needs no id join


def test_model_report_object():
    from radiorisk.report import ReportSection

    rep = ModelReport(title="t", subtitle="", summary=("s",), run=None,
                      sections=(ReportSection(id="model", title="Model", sentences=("<b>x</b>",)),))
    html = rep.to_html()
    assert "&lt;b&gt;x&lt;/b&gt;" in html  # text is escaped
    with pytest.raises(KeyError, match="model"):
        rep.section("nope")


def test_missing_provenance_exit_2(model_report_run, tmp_path):
    _, run = model_report_run
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    (bad / "provenance.json").unlink()
    code, out, err = _run_cli(["report", "--run", str(bad), "--out", str(tmp_path / "r.html")])
    assert code == 2
    assert "provenance.json" in err and "incomplete RUN folder" in err
    assert "Traceback" not in err and not (tmp_path / "r.html").exists()


def test_missing_files_all_named(model_report_run, tmp_path):
    _, run = model_report_run
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    (bad / "ladder.csv").unlink()
    shutil.rmtree(bad / "model")
    with pytest.raises(ReportError, match=r"ladder\.csv, model/manifest\.json"):
        build_model_report(bad, tmp_path / "r.html")


@pytest.mark.parametrize("case", ["no-run", "out-is-dir", "bad-audit", "bad-data", "bad-json"])
def test_clear_errors(model_report_run, tmp_path, case):
    _, run = model_report_run
    out = tmp_path / "r.html"
    argv = ["report", "--run", str(run), "--out", str(out)]
    expect = {"no-run": "no such folder", "out-is-dir": "is a folder", "bad-audit": "metrics.csv",
              "bad-data": "--data", "bad-json": "not valid JSON"}[case]
    if case == "no-run":
        argv[2] = str(tmp_path / "nope")
    elif case == "out-is-dir":
        out.mkdir()
    elif case == "bad-audit":
        (tmp_path / "audit").mkdir()
        argv += ["--audit", str(tmp_path / "audit")]
    elif case == "bad-data":
        argv += ["--data", str(tmp_path / "no-data")]
        expect = f"data {tmp_path / 'no-data'}: no such folder"
    elif case == "bad-json":
        bad = tmp_path / "run"
        shutil.copytree(run, bad)
        (bad / "provenance.json").write_text("{not json", encoding="utf-8")
        argv[2] = str(bad)
    code, _, err = _run_cli(argv)
    assert code == 2, err
    assert expect in err and "Traceback" not in err


def test_model_section_states_the_sample_size_budget(model_report_html):
    """Riley's criteria per rung (issue 16): this small RUN's clinical C is below 0.5, so the report
    says why there is no table instead of inventing one."""
    assert "Sample size (Riley et al.): not computed: c_statistic must lie in [0.5, 1)" in model_report_html


def test_sample_size_budget_matches_the_stats():
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from radiorisk.pipeline._model_report_stats import _sample_size
    from radiorisk.stats import anticipated_cox_snell_r2, parameter_budget_table

    rng = np.random.default_rng(0)
    t, e = rng.uniform(100, 2000, 500), (rng.uniform(size=500) < 0.12).astype(float)
    ladder = pd.DataFrame({"population": ["all"] * 3 + ["pet_available"], "rung": ["clinical", "+ccta", "+radiomics", "+pet"],
                           "blocks": ["clinical", "clinical,ccta", "clinical,ccta,radiomics", "clinical,ccta,pet"],
                           "metric": "harrell_c", "estimate": [0.7, 0.74, 0.75, 0.8]})
    cols = {"clinical": list("abcdefghij"), "ccta": [f"c{k}" for k in range(20)],
            "radiomics": [f"r{k}" for k in range(1130)], "pet": ["cma"]}
    ctx = SimpleNamespace(ladder=ladder, prov={"cohort": {"columns": cols}}, horizon=1826.0,
                          pred=pd.DataFrame({"time": t, "event": e}))
    table, note = _sample_size(ctx)
    r2, source = anticipated_cox_snell_r2("survival", c_statistic=0.7, rate=e.sum() / t.sum(), timepoint=1826.0,
                                          mean_follow_up=float(t.mean()))
    expect = parameter_budget_table({"clinical": 10, "+ccta": 30, "+radiomics": 1160}, 500, float(e.sum()), r2,
                                    "survival")
    pd.testing.assert_frame_equal(table, expect)
    assert table["supported"].tolist()[-1] is False and source in note
