"""Riley sample size: properties, the inverse, conversions and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from radiorisk.exceptions import SampleSizeError
from radiorisk.stats._samplesize import (
    SampleSize,
    _risk_interval,
    expected_shrinkage,
    riley_sample_size,
    riley_sample_size_binary,
    riley_sample_size_survival,
)
from radiorisk.stats._samplesize_budget import max_parameters, parameter_budget_table
from radiorisk.stats._samplesize_r2 import (
    cox_snell_from_c,
    cox_snell_from_lr,
    cox_snell_from_nagelkerke,
    max_cox_snell_r2,
)

parameters_st = st.integers(min_value=1, max_value=2000)
r2_st = st.floats(min_value=0.005, max_value=0.3)
prevalence_st = st.floats(min_value=0.05, max_value=0.5)


# --- monotonicity (hypothesis) ---------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(parameters_st, r2_st, prevalence_st)
def test_binary_n_increases_with_parameters(p, r2, prev):
    if r2 >= max_cox_snell_r2("binary", prevalence=prev):
        return
    a = riley_sample_size_binary(p, prev, r2)
    b = riley_sample_size_binary(p + 1, prev, r2)
    for ca, cb in zip(a.criteria, b.criteria, strict=True):
        assert cb.n >= ca.n
    assert b.n >= a.n


@settings(max_examples=200, deadline=None)
@given(parameters_st, r2_st, st.floats(min_value=1e-4, max_value=0.05), prevalence_st)
def test_criterion_1_decreases_with_r2(p, r2, step, prev):
    low = riley_sample_size_binary(p, prev, r2)
    high_r2 = r2 + step
    if high_r2 >= max_cox_snell_r2("binary", prevalence=prev):
        return
    high = riley_sample_size_binary(p, prev, high_r2)
    assert high.criteria[0].n <= low.criteria[0].n
    surv_low = riley_sample_size_survival(p, 0.065, 2, 2.07, r2)
    surv_high = riley_sample_size_survival(p, 0.065, 2, 2.07, high_r2)
    assert surv_high.criteria[0].n <= surv_low.criteria[0].n


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=20, max_value=200_000), r2_st, prevalence_st)
def test_max_parameters_is_the_inverse(n, r2, prev):
    if r2 >= max_cox_snell_r2("binary", prevalence=prev):
        return
    budget = max_parameters(n, n * prev, r2, "binary")
    p = budget.max_parameters
    if p >= 1:
        need = riley_sample_size_binary(p, prev, r2)
        assert max(need.criteria[0].n, need.criteria[1].n) <= n
    more = riley_sample_size_binary(p + 1, prev, r2)
    assert max(more.criteria[0].n, more.criteria[1].n) > n


@settings(max_examples=100, deadline=None)
@given(parameters_st, r2_st, st.floats(min_value=0.01, max_value=0.3),
       st.floats(min_value=0.5, max_value=10.0), st.floats(min_value=0.5, max_value=10.0))
def test_survival_criterion_3_is_the_smallest_n_within_margin(p, r2, rate, timepoint, fu):
    if r2 >= max_cox_snell_r2("survival", rate=rate, mean_follow_up=fu):
        return
    ss = riley_sample_size_survival(p, rate, timepoint, fu, r2)
    n3 = ss.criteria[2].n

    def within(n):
        risk, low, high = _risk_interval(rate, timepoint, n * fu)
        return risk - low <= 0.05 and high - risk <= 0.05

    assert within(n3)
    assert n3 == 1 or not within(n3 - 1)


@settings(max_examples=200, deadline=None)
@given(parameters_st, r2_st)
def test_expected_shrinkage_inverts_criterion_1(p, r2):
    for s in (0.8, 0.9, 0.95):
        if r2 >= s:
            continue
        n = riley_sample_size_binary(p, 0.5, r2, shrinkage=s).criteria[0].n
        assert expected_shrinkage(n, p, r2) >= s - 1e-12
        if n > 1:
            assert expected_shrinkage(n - 1, p, r2) < s


# --- results ---------------------------------------------------------------------------

def test_result_frame_and_repr():
    ss = riley_sample_size_binary(24, 0.174, 0.288)
    assert isinstance(ss, SampleSize)
    frame = ss.to_frame()
    assert list(frame.columns) == ["criterion", "n", "shrinkage", "events", "epp", "binding"]
    assert frame["criterion"].tolist() == ["shrinkage", "r2_optimism", "overall_risk"]
    assert frame["binding"].tolist() == [False, True, False]
    assert repr(ss) == ("SampleSize(binary: n=662, events=115.2, EPP=4.80, binding='r2_optimism'; "
                        "P=24, R2_CS=0.288, shrinkage=0.905)")
    with pytest.raises(AttributeError):
        ss.n = 1  # frozen
    assert "<table" in ss._repr_html_()


def test_binary_interval_and_ties():
    ss = riley_sample_size_binary(5, 0.5, 0.288)
    assert ss.binding == "overall_risk" and ss.n == 385
    assert ss.risk_high - ss.risk <= 0.05 and ss.risk - ss.risk_low <= 0.05
    tie = riley_sample_size_survival(25, 0.065, 2, 2.07, 0.051)
    assert tie.binding == "shrinkage" and sum(tie.to_frame()["binding"]) == 1


def test_parameter_budget_ladder():
    """The modality ladder: 10 clinical, 30 with CCTA, 1,130+ with radiomics."""
    table = parameter_budget_table({"clinical": 10, "+ccta": 30, "+radiomics": 1160},
                                   n=3000, events=300, r2_cs=0.05)
    assert table["supported"].tolist() == [True, False, False]
    assert (table["max_parameters"] == 17).all()
    assert table["expected_shrinkage"].is_monotonic_decreasing
    assert table.loc[2, "expected_shrinkage"] < 0.2
    budget = max_parameters(3000, 300, 0.05)
    assert (budget.by_shrinkage, budget.binding) == (17, "shrinkage")
    assert budget.to_frame()["binding"].tolist() == [True, False]
    assert "max_parameters=17" in repr(budget)
    tiny = max_parameters(50, 5, 0.01)
    assert tiny.max_parameters == 0


# --- R² conversions --------------------------------------------------------------------

@pytest.mark.parametrize(("c", "prev"), [(0.55, 0.3), (0.7, 0.05), (0.89, 0.174), (0.95, 0.5),
                                         (0.99, 0.02)])
def test_c_conversion_equals_adaptive_quadrature(c, prev):
    mu = math.sqrt(2) * stats.norm.ppf(c)

    def log_mix(x):
        return np.logaddexp(math.log(prev) + stats.norm.logpdf(x, mu),
                            math.log1p(-prev) + stats.norm.logpdf(x))

    def term(m):
        value, _ = integrate.quad(
            lambda x: stats.norm.pdf(x, m) * (stats.norm.logpdf(x, m) - log_mix(x)),
            m - 15, m + 15, points=[0.0, mu / 2, mu], limit=500, epsabs=1e-14)
        return value

    info = prev * term(mu) + (1 - prev) * term(0.0)
    assert cox_snell_from_c(c, prev) == pytest.approx(-math.expm1(-2 * info), abs=1e-11)


def test_c_conversion_properties():
    assert cox_snell_from_c(0.5, 0.3) == 0.0
    values = [cox_snell_from_c(c, 0.2) for c in np.linspace(0.55, 0.98, 20)]
    assert np.all(np.diff(values) > 0)
    # the label swap does not change it (pmsampsize gives the prevalence to the N(0, 1) group)
    assert cox_snell_from_c(0.8, 0.174) == pytest.approx(cox_snell_from_c(0.8, 0.826), abs=1e-13)
    assert cox_snell_from_c(0.8, 0.174) < max_cox_snell_r2("binary", prevalence=0.174)


def test_nagelkerke_and_lr_conversions():
    max_r2 = max_cox_snell_r2("survival", rate=0.065, mean_follow_up=2.07)
    assert max_r2 == pytest.approx(1 - math.exp(2 * (0.13455 * math.log(0.13455) - 0.13455)))
    assert cox_snell_from_nagelkerke(0.5, "survival", rate=0.065,
                                     mean_follow_up=2.07) == pytest.approx(0.5 * max_r2)
    assert max_cox_snell_r2("binary", prevalence=0.5) == pytest.approx(0.75)
    assert cox_snell_from_lr(0.0, 100) == 0.0
    apparent = cox_snell_from_lr(120.0, 1000)
    assert apparent == pytest.approx(1 - math.exp(-0.12))
    assert cox_snell_from_lr(120.0, 1000, parameters=10) == pytest.approx(
        (1 + 10 / (1000 * math.log(1 - apparent))) * apparent)


# --- errors name the parameter, the value and the rule -----------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda: riley_sample_size_binary(0, 0.2, 0.1), r"parameters must be a whole number >= 1; got 0"),
    (lambda: riley_sample_size_binary(2.5, 0.2, 0.1), r"parameters must be a whole number >= 1; got 2.5"),
    (lambda: riley_sample_size_binary(True, 0.2, 0.1), r"parameters must be a whole number"),
    (lambda: riley_sample_size_binary(10, 1.2, 0.1), r"prevalence must lie in \(0, 1\); got 1.2"),
    (lambda: riley_sample_size_binary(10, 0.2, float("nan")), r"r2_cs must be finite; got nan"),
    (lambda: riley_sample_size_binary(10, 0.01, 0.2), r"r2_cs = 0.2 must be < the maximum Cox-Snell"),
    (lambda: riley_sample_size_binary(10, 0.5, 0.6, shrinkage=0.5), r"r2_cs = 0.6 must be < shrinkage = 0.5"),
    (lambda: riley_sample_size_binary(10, 0.2, "0.1"), r"r2_cs must be a real number; got '0.1'"),
    (lambda: riley_sample_size_survival(10, -0.1, 2, 2, 0.05), r"rate must be > 0; got -0.1"),
    (lambda: riley_sample_size_survival(10, 0.1, 0, 2, 0.05), r"timepoint must be > 0; got 0"),
    (lambda: riley_sample_size_survival(10, 0.1, 2, 2, 0.05, margin=0), r"margin must lie in \(0, 1\)"),
    (lambda: cox_snell_from_c(0.4, 0.2), r"c_statistic must lie in \[0.5, 1\); got 0.4"),
    (lambda: cox_snell_from_lr(5.0, 100, parameters=10), r"lr_chi2 = 5.0 must exceed parameters = 10"),
    (lambda: max_cox_snell_r2("binary", rate=0.1, mean_follow_up=2), r"rate and mean_follow_up are for"),
    (lambda: max_cox_snell_r2("count", prevalence=0.1), r"outcome must be one of"),
    (lambda: max_parameters(100, 150, 0.1, "binary"), r"events = 150.0 must be < n = 100"),
    (lambda: parameter_budget_table({"radiomics": 0}, 3000, 300, 0.05),
     r"rungs\['radiomics'\] must be a whole number >= 1; got 0"),
    (lambda: riley_sample_size("binary", 10, prevalence=0.2, r2_cs=0.1, c_statistic=0.7),
     r"give exactly one of .*; got \['c_statistic', 'r2_cs'\]"),
    (lambda: riley_sample_size("binary", 10, prevalence=0.2), r"give exactly one of .*; got none"),
    (lambda: riley_sample_size("binary", 10, prevalence=0.2, lr_chi2=50.0), r"lr_chi2 needs lr_n"),
    (lambda: riley_sample_size("survival", 10, rate=0.1, mean_follow_up=2, r2_cs=0.05),
     r"needs timepoint"),
    (lambda: riley_sample_size("binary", 10, prevalence=0.2, timepoint=2, r2_cs=0.05),
     r"timepoint is for outcome='survival'"),
    (lambda: riley_sample_size("ordinal", 10, r2_cs=0.05), r"outcome must be one of"),
])
def test_errors_name_parameter_value_and_rule(call, message):
    with pytest.raises(SampleSizeError, match=message):
        call()


def test_numpy_scalars_are_accepted():
    ss = riley_sample_size_binary(np.int64(24), np.float64(0.174), np.float32(0.288))
    assert ss.criteria[0].n == 623


def test_dispatcher_records_the_r2_source():
    direct = riley_sample_size_binary(24, 0.174, 0.288)
    via = riley_sample_size("binary", 24, prevalence=0.174, r2_cs=0.288)
    assert via.r2_source == "given" and via.to_frame().equals(direct.to_frame())
    nag = riley_sample_size("binary", 24, prevalence=0.174, nagelkerke_r2=0.477446720164)
    assert nag.r2_cs == pytest.approx(0.288, abs=1e-12) and nag.n == 662
    assert nag.r2_source.startswith("from Nagelkerke R² = 0.477447 x max R²_CS 0.6032")
    lr = riley_sample_size("binary", 24, prevalence=0.174, lr_chi2=340.0, lr_n=1000,
                           lr_parameters=12)
    assert lr.r2_cs == pytest.approx(cox_snell_from_lr(340.0, 1000, parameters=12))
    assert "shrunk by the heuristic factor for 12 parameters" in lr.r2_source
    surv = riley_sample_size("survival", 30, rate=0.065, timepoint=2, mean_follow_up=2.07,
                             c_statistic=0.7)
    risk = 1 - math.exp(-0.13)
    assert surv.r2_cs == pytest.approx(cox_snell_from_c(0.7, risk))
    assert "an approximation for a time-to-event outcome" in surv.r2_source
