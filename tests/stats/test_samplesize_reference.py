"""Riley sample size against the published worked examples and R/Python ``pmsampsize``.

Reference values: ``tests/reference/samplesize/`` (README there: how they were made,
with which versions, and what differs and why).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from radiorisk.exceptions import SampleSizeError
from radiorisk.stats._samplesize import riley_sample_size_binary, riley_sample_size_survival
from radiorisk.stats._samplesize_budget import max_parameters
from radiorisk.stats._samplesize_r2 import (
    cox_snell_from_c,
    cox_snell_from_nagelkerke,
    max_cox_snell_r2,
)

N2_OFF = 24  # rows of pmsampsize_survival.csv whose n2 moves with pmsampsize's rounding
REF = Path(__file__).resolve().parents[1] / "reference" / "samplesize"


def _read(name: str) -> pd.DataFrame:
    frame = pd.read_csv(REF / name, float_precision="round_trip", dtype={"error": str, "type": str})
    frame["error"] = frame["error"].fillna("")
    return frame


# --- published worked examples -------------------------------------------------------

def test_binary_worked_example_chagas():
    """Riley et al., Stat Med 2019;38:1276 (Part II), section 5.1 and abstract:
    "a new diagnostic model for Chagas disease requires an EPP of at least 4.8"
    (24 parameters, anticipated R²_CS 0.288, prevalence 0.174; the same numbers are
    R pmsampsize's own example and its tests/testthat/test_bin.R "Test 4.1":
    ss = c(623, 662, 221, 662), EPP = c(4.52, 4.8, 1.6, 4.8))."""
    ss = riley_sample_size_binary(24, 0.174, 0.288)
    assert [c.n for c in ss.criteria] == [623, 662, 221]
    assert ss.n == 662 and ss.binding == "r2_optimism"
    assert [round(c.epp, 2) for c in ss.criteria] == [4.52, 4.8, 1.6]
    assert math.ceil(ss.events) == 116 and round(ss.epp, 2) == 4.8
    assert round(ss.max_r2_cs, 3) == 0.603 and round(ss.nagelkerke_r2, 3) == 0.477
    assert round(ss.criteria[1].shrinkage, 3) == 0.905


@pytest.mark.parametrize(("parameters", "n", "events", "risk_high"),
                         [(25, 4286, 577, 0.131), (30, 5143, 692, 0.13)])
def test_survival_worked_example_vte(parameters, n, events, risk_high):
    """Recurrent venous thromboembolism: R²_CS 0.051, 0.065 events per person-year,
    2-year horizon, mean follow-up 2.07 years.  Stat Med 2019 Part II (25
    parameters) abstract: "a new prognostic model for recurrent venous
    thromboembolism requires an EPP of at least 23"; pmsampsize test_surv.R "Test 3.1":
    ss = c(4286, 866, 4286, 4286), EPP 23.07.  BMJ 2020;368:m441 and pmsampsize's
    documented example use 30 parameters: 5143 patients, 692 events, EPP 23.07."""
    ss = riley_sample_size_survival(parameters, 0.065, 2, 2.07, 0.051)
    assert ss.n == n and ss.binding == "shrinkage"
    assert math.ceil(ss.events) == events and round(ss.epp, 2) == 23.07
    if parameters == 25:
        assert ss.criteria[1].n == 866
    # pmsampsize's reported 95 % interval for the 2-year risk at the final n
    assert (round(ss.risk, 3), round(ss.risk_low, 3), round(ss.risk_high, 3)) == (
        0.122, 0.113, risk_high)


def test_pmsampsize_testthat_tables():
    """R pmsampsize 1.1.3 tests/testthat (binary 4.2-4.4, survival 3.2-3.7), verbatim."""
    cases_b = [((0.55, 24, 0.174), [255, 532, 221], 532),
               ((0.288, 36, 0.174), [934, 992, 221], 992),
               ((0.288, 24, 0.25), [623, 590, 289], 623)]
    for (r2, p, prev), ns, n in cases_b:
        ss = riley_sample_size_binary(p, prev, r2)
        assert [c.n for c in ss.criteria] == ns and ss.n == n
    cases_s = [((0.065, 25, 0.065, 2, 2.07), 3335, 860),  # pmsampsize: 859 (its rounding) ((0.051, 50, 0.065, 2, 2.07), 8572, 1731),
               ((0.051, 25, 0.1, 2, 2.07), 4286, 731), ((0.051, 25, 0.065, 4, 2.07), 4286, 866),
               ((0.051, 25, 0.065, 2, 4), 4286, 679), ((0.06, 40, 0.08, 3, 5), 5798, 969)]
    for (r2, p, rate, tp, fu), n, n2 in cases_s:
        ss = riley_sample_size_survival(p, rate, tp, fu, r2)
        assert ss.n == n and ss.criteria[0].n == n and ss.criteria[1].n == n2


# --- R pmsampsize 1.1.3 over a grid ---------------------------------------------------

def test_binary_grid_equals_r():
    ref = _read("pmsampsize_binary.csv")
    assert len(ref) == 175
    for row in ref.itertuples():
        if row.error:
            with pytest.raises(SampleSizeError, match="maximum Cox-Snell"):
                riley_sample_size_binary(row.parameters, row.prevalence, row.csrsquared)
            continue
        ss = riley_sample_size_binary(row.parameters, row.prevalence, row.csrsquared)
        assert [c.n for c in ss.criteria] == [row.n1, row.n2, row.n3], row
        assert ss.n == row.n
        assert ss.max_r2_cs == pytest.approx(row.max_r2, abs=1e-14)
        assert ss.nagelkerke_r2 == pytest.approx(row.nagelkerke, rel=1e-12)
        assert ss.events == pytest.approx(row.events, rel=1e-12)
        assert abs(ss.epp - row.epp) <= 0.005 + 1e-9  # R rounds EPP to 2 decimals
        assert abs(ss.criteria[1].shrinkage - row.shrinkage2) <= 0.0005 + 1e-9


def _pmsampsize_rate(rate: float, mean_follow_up: float) -> float:
    """The rate pmsampsize's max R² effectively uses: the events of 10,000 people, rounded up."""
    return math.ceil(rate * (mean_follow_up * 10000)) / 10000 / mean_follow_up


def test_survival_grid_against_r():
    """n1 always equal.  n2 within 2e-4 relative: pmsampsize counts the events of
    10,000 people rounded up for max R²; with that rounding n2 is equal on every row.
    The final n is equal whenever criterion 3 does not bind (pmsampsize does not
    size on criterion 3; it reports max(n1, n2) and the interval there)."""
    ref = _read("pmsampsize_survival.csv")
    assert len(ref) == 648
    n2_off, crit3 = 0, 0
    for row in ref.itertuples():
        args = (row.parameters, row.rate, row.timepoint, row.meanfup, row.csrsquared)
        if row.error:
            with pytest.raises(SampleSizeError, match="maximum Cox-Snell"):
                riley_sample_size_survival(*args)
            continue
        ss = riley_sample_size_survival(*args)
        n1, n2, n3 = (c.n for c in ss.criteria)
        assert n1 == row.n1
        assert abs(n2 - row.n2) <= max(1.0, 2e-4 * row.n2)
        n2_off += n2 != row.n2
        rounded = riley_sample_size_survival(row.parameters, _pmsampsize_rate(row.rate, row.meanfup),
                                             row.timepoint, row.meanfup, row.csrsquared)
        assert rounded.criteria[1].n == row.n2
        assert abs(ss.max_r2_cs - row.max_r2) < 1e-4
        if ss.binding == "overall_risk":
            crit3 += 1
            assert n3 > row.n and ss.risk_high - ss.risk <= 0.05
            continue
        assert ss.n == max(n1, n2)
        assert rounded.n == row.n
        # the reported interval (R rounds to 3 decimals and person-time to 0.1)
        assert abs(ss.risk - row.int_cuminc) <= 0.0005 + 1e-9
        assert abs(ss.risk_low - row.int_lci) <= 0.0005 + 1e-6
        assert abs(ss.risk_high - row.int_uci) <= 0.0005 + 1e-6
    assert (n2_off, crit3) == (N2_OFF, 27)  # counts recorded in the README


def test_nagelkerke_inputs_equal_r():
    """pmsampsize rounds R²_CS = R²_Nag x max R²_CS to 3 decimals; fed that value, the
    sample sizes are equal (binary exactly, survival within the one-patient n2 rule)."""
    ref = _read("pmsampsize_nagelkerke.csv")
    for row in ref.itertuples():
        if row.type == "b":
            r2 = cox_snell_from_nagelkerke(row.nagrsquared, "binary", prevalence=float(row.prevalence))
            assert round(r2, 3) == pytest.approx(row.r2_cs, abs=1e-12)
            ss = riley_sample_size_binary(row.parameters, float(row.prevalence), row.r2_cs)
            assert [c.n for c in ss.criteria] == [row.n1, row.n2, row.n3]
        else:
            r2 = cox_snell_from_nagelkerke(row.nagrsquared, "survival", rate=float(row.rate),
                                           mean_follow_up=float(row.meanfup))
            assert round(r2, 3) == pytest.approx(row.r2_cs, abs=1e-12)
            ss = riley_sample_size_survival(row.parameters, float(row.rate), 2,
                                            float(row.meanfup), row.r2_cs)
            assert ss.criteria[0].n == row.n1 and abs(ss.criteria[1].n - row.n2) <= 1


def test_c_statistic_conversion_against_r_simulation():
    """pmsampsize simulates 1e6 patients with set.seed(123456); the population value
    differs from that one draw by its Monte-Carlo error (README: |diff| < 1e-3)."""
    ref = _read("pmsampsize_cstatistic.csv")
    assert len(ref) == 18
    for row in ref.itertuples():
        ours = cox_snell_from_c(row.cstatistic, row.prevalence)
        assert abs(ours - row.r2_cs_unrounded) < 1e-3, row
        ss = riley_sample_size_binary(row.parameters, row.prevalence, ours)
        assert abs(ss.n - row.n) / row.n < 0.02


def test_python_port_equals_r_where_deterministic():
    """The PyPI port (pmsampsize 0.1.0) gives R's sample sizes on every deterministic
    binary and survival case (so radiorisk agrees with it as with R); it crashes on a
    survival Nagelkerke input (NameError) and its C conversion uses numpy's generator."""
    for name, keys in [("binary", ["n1", "n2", "n3", "n"]), ("survival", ["n1", "n2", "n3", "n"])]:
        r, py = _read(f"pmsampsize_{name}.csv"), _read(f"pmsampsize_python_{name}.csv")
        assert (r["error"] != "").equals(py["error"] != "")
        ok = r["error"] == ""
        assert (r.loc[ok, keys].to_numpy() == py.loc[ok, keys].to_numpy()).all()
    nag = _read("pmsampsize_python_nagelkerke.csv")
    assert set(nag.loc[nag["type"] == "s", "error"]) == {"NameError: name 'exp' is not defined"}
    cstat = _read("pmsampsize_python_cstatistic.csv")
    for row in cstat.itertuples():
        assert abs(cox_snell_from_c(row.cstatistic, row.prevalence) - row.r2_cs_unrounded) < 1.5e-3


def test_inverse_recovers_the_worked_examples():
    assert max_parameters(5143, 5143 * 0.065 * 2.07, 0.051, "survival").max_parameters == 30
    assert max_parameters(4286, 4286 * 0.065 * 2.07, 0.051, "survival").max_parameters == 25
    budget = max_parameters(662, 662 * 0.174, 0.288, "binary")
    assert budget.max_parameters == 24 and budget.binding == "r2_optimism"
    assert max_cox_snell_r2("binary", prevalence=0.174) == pytest.approx(budget.max_r2_cs)
