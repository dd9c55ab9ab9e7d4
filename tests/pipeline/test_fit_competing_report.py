"""The model report of a competing-risk fit: the estimand sentence, the competing-risk audit and ladder."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pandas as pd

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.models import make_model
from radiorisk.pipeline import collect_model_report, run_fit
from radiorisk.report._model_base import estimand_sentence


def _ctx(columns, competing):
    return SimpleNamespace(pred=pd.DataFrame(columns=columns), horizon=1826.0,
                           model=make_model("coxph", competing_risks=competing))


def test_estimand_sentence_in_either_mode():
    cr = estimand_sentence(_ctx(["risk", "time", "event", "event_type"], True))
    assert cr.startswith("Competing risks: non-cardiac death treated as a competing event; the estimand is the "
                         "cumulative incidence of MACE (Aalen-Johansen-type product of cause-specific Cox")
    assert "by 1826 days" in cr and "Aalen-Johansen observed risk" in cr
    cens = estimand_sentence(_ctx(["risk", "time", "event"], False))
    assert cens.startswith("Non-cardiac death censored: the estimand is 1 - survival from MACE")


def test_report_of_a_competing_risk_run(tmp_path):
    write_synthetic_cohort(tmp_path / "D", n=300, mode="established-cad", seed=5)
    run_fit(tmp_path / "D", tmp_path / "R", model="coxph", blocks="clinical,ccta", repeats=1, folds=3,
            n_boot=10, raw_ids=True, params={"penalizer": 0.1})
    page = collect_model_report(tmp_path / "R", n_boot=0, shap_sample=20).to_html()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Competing risks: non-cardiac death treated as a competing event; the estimand is the cumulative " \
           "incidence of MACE" in text
    assert "truncated C for competing risks (Wolbers)" in text  # the ladder sentences use c_cr
    assert "observed_aj (95 % CI)" in text and "Aalen-Johansen cumulative incidence of MACE" in text
    assert "oe_ratio_cr" in text and "Harrell's C was" not in text
