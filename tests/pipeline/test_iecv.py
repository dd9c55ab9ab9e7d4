"""``fit --cv-by``: internal-external cross-validation end to end (folds, iecv.csv, meta-analysis, refusals)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._fit import add_fit_parser
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._iecv import IECV_COLUMNS, cluster_labels, iecv_summary
from radiorisk.stats import random_effects

KW = dict(competing_risks=False, model="coxph", blocks="clinical,ccta", seed=3, n_boot=60, params={"penalizer": 0.3}, raw_ids=True)
_TRANSFORM = {"harrell_c": "logit", "td_auc": "logit", "oe_ratio_t": "log", "ipa": None, "cal_slope_t": None}


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("iecv") / "D"
    write_synthetic_cohort(d, n=500, mode="established-cad", seed=43)
    return d


@pytest.fixture(scope="module")
def loso(cohort_dir, tmp_path_factory):
    return run_fit(cohort_dir, tmp_path_factory.mktemp("run") / "RUN", cv_by="site", **KW)


def test_folds_are_exactly_the_sites_and_every_patient_is_predicted_once(cohort_dir, loso):
    sites = pd.read_csv(cohort_dir / "patients.csv").set_index("patient_id")["site_id"]
    oof = pd.read_csv(loso.files["oof_predictions"])
    assert len(oof) == len(sites) and oof["patient_id"].is_unique and (oof["repeat"] == 0).all()
    assert loso.cv.clusters == tuple(sorted(sites.unique())) and loso.cv.folds == sites.nunique()
    left_out = oof["fold"].map(dict(enumerate(loso.cv.clusters)))
    assert (left_out.to_numpy() == oof["site"].to_numpy()).all()
    assert (left_out.to_numpy() == sites.reindex(oof["patient_id"]).to_numpy()).all()
    prov = json.loads(loso.files["provenance"].read_text())
    assert prov["configuration"]["cv_by"] == "site" and prov["configuration"]["repeats"] == 1
    assert prov["configuration"]["folds"] == sites.nunique()
    note = next(s for s in prov["statements"] if s.startswith("leave-one-site-out"))
    assert f"{sites.nunique()} folds, one per site" in note
    assert not any("grouped by patient" in s for s in prov["statements"])
    assert prov["outputs"]["iecv"] == "iecv.csv"


def test_the_ladder_uses_the_same_folds(loso):
    assert len(loso.ladder.cv) == 2
    for cv in loso.ladder.cv.values():
        assert cv.cv_by == "site" and cv.clusters == loso.cv.clusters
        np.testing.assert_array_equal(cv.oof["fold"], loso.cv.oof["fold"])
    top = loso.ladder.cv[("all", "+ccta")]
    assert top is loso.cv
    lad = pd.read_csv(loso.files["ladder"])
    est = lad[(lad["rung"] == "+ccta") & (lad["metric"] == "harrell_c")]["estimate"].iloc[0]
    from radiorisk.stats import harrell_c

    o = loso.cv.oof
    assert est == pytest.approx(harrell_c(o["time"], o["event"], o["risk"]), abs=1e-9)  # %.10g in the CSV


def test_iecv_csv_rows_and_pooled_equal_random_effects(loso):
    """From the CSV (10 significant digits) to 1e-7; in memory exactly."""
    mem = loso.iecv.to_frame()
    for m in _TRANSFORM:
        use = mem[(mem["metric"] == m) & (mem["row"] == "cluster") & mem["in_meta"]]
        ma = random_effects(use["estimate"], use["se"], transform=_TRANSFORM[m], labels=use["cluster"])
        pooled, pi = (mem[(mem["metric"] == m) & (mem["row"] == r)].iloc[0] for r in ("pooled", "prediction"))
        assert (pooled["estimate"], pooled["ci_low"], pooled["ci_high"]) == (ma.pooled_original, *ma.ci_original)
        assert (pi["ci_low"], pi["ci_high"]) == ma.pi_original and pooled["i2"] == ma.i2
    f = pd.read_csv(loso.files["iecv"], keep_default_na=False, na_values=[""])
    assert tuple(f.columns) == IECV_COLUMNS
    k = len(loso.cv.clusters)
    assert set(f["metric"]) == set(_TRANSFORM)
    for m, rows in f.groupby("metric"):
        assert list(rows["row"]) == ["cluster"] * k + ["pooled", "prediction"]
        assert list(rows["cluster"].iloc[:k]) == list(loso.cv.clusters)
        site = rows[rows["row"] == "cluster"]
        use = site[site["in_meta"]]
        ma = random_effects(use["estimate"], use["se"], transform=_TRANSFORM[m], labels=use["cluster"])
        pooled = rows[rows["row"] == "pooled"].iloc[0]
        pi = rows[rows["row"] == "prediction"].iloc[0]
        assert pooled["estimate"] == pytest.approx(ma.pooled_original, rel=1e-7)
        assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx(ma.ci_original, rel=1e-7)
        assert (pi["ci_low"], pi["ci_high"]) == pytest.approx(ma.pi_original, rel=1e-7)
        assert pooled["tau2"] == pytest.approx(ma.tau2, abs=1e-7) and pooled["i2"] == pytest.approx(ma.i2, abs=1e-4)
        assert pooled["k"] == len(use) and site["n"].sum() == 500
        assert use["weight"].sum() == pytest.approx(100.0)
        assert (site["ci_low"] <= site["estimate"]).all() and (site["estimate"] <= site["ci_high"]).all()


def test_per_site_estimates_are_the_audit_of_the_left_out_site(loso):
    """A site's row is the metric on that site's OOF risks alone."""
    from radiorisk.stats import harrell_c, oe_ratio_t

    f = loso.iecv.to_frame()
    o = loso.cv.oof.assign(site=np.asarray(loso.cv.clusters)[loso.cv.oof["fold"]])
    s = loso.cv.clusters[0]
    d = o[o["site"] == s]
    row = f[(f["cluster"] == s) & (f["metric"] == "harrell_c")].iloc[0]
    assert row["estimate"] == pytest.approx(harrell_c(d["time"], d["event"], d["risk"]), abs=1e-12)
    row = f[(f["cluster"] == s) & (f["metric"] == "oe_ratio_t")].iloc[0]
    assert row["estimate"] == pytest.approx(oe_ratio_t(d["time"], d["event"], d["risk"], horizon=1826),
                                            abs=1e-12)
    assert "leave-one-site-out, pooled over" in loso.summary() and "prediction interval" in loso.summary()


def test_calibration_slope_per_site_is_the_cox_recalibration_of_the_left_out_site(loso):
    """Issue 14 §2: the slope of each site (Wald SE, so pooled even without a bootstrap)."""
    from radiorisk.stats import cox_recalibration

    f = loso.iecv.to_frame()
    o = loso.cv.oof.assign(site=np.asarray(loso.cv.clusters)[loso.cv.oof["fold"]])
    for s in loso.cv.clusters[:3]:
        d = o[o["site"] == s]
        cal = cox_recalibration(d["time"], d["event"], d["risk"], horizon=1826).slope
        row = f[(f["cluster"] == s) & (f["metric"] == "cal_slope_t")].iloc[0]
        assert (row["estimate"], row["se"], row["ci_low"], row["ci_high"]) == pytest.approx(
            (cal.estimate, cal.se, cal.ci_low, cal.ci_high), abs=1e-12)
    s0 = iecv_summary(loso.cv, metrics=["cal_slope_t"], n_boot=0)
    pooled = s0.to_frame().query("row == 'pooled'").iloc[0]
    assert np.isfinite(pooled["estimate"]) and pooled["k"] == len(loso.cv.clusters)
    assert any(n.startswith("cal_slope_t: calibration slope of each site") for n in s0.notes)


def _status(cv, seed=0):
    """A competing-event status consistent with the OOF events: some non-events become status 2."""
    o = cv.oof
    rng = np.random.default_rng(seed)
    st = np.where(o["event"] == 1, 1.0, np.where(rng.random(len(o)) < 0.3, 2.0, 0.0))
    return pd.Series(st, index=o["patient_id"].to_numpy())


def test_competing_risk_versions_per_site(loso):
    """With the status, each site's metrics are the competing-risk metrics of its rows."""
    from radiorisk.stats import c_cr, fine_gray_recalibration, oe_ratio_cr

    status = _status(loso.cv)
    s = iecv_summary(loso.cv, n_boot=20, random_state=0, status=status)
    f = s.to_frame()
    assert s.metrics == ("c_cr", "auc_cr", "ipa_cr", "oe_ratio_cr", "cal_slope_cr")
    o = loso.cv.oof.assign(site=np.asarray(loso.cv.clusters)[loso.cv.oof["fold"]],
                           status=status.reindex(loso.cv.oof["patient_id"]).to_numpy())
    site = loso.cv.clusters[1]
    d = o[o["site"] == site]
    row = f[(f["cluster"] == site) & (f["metric"] == "c_cr")].iloc[0]
    assert row["estimate"] == pytest.approx(c_cr(d["time"], d["status"], d["risk"], horizon=1826), abs=1e-12)
    row = f[(f["cluster"] == site) & (f["metric"] == "oe_ratio_cr")].iloc[0]
    assert row["estimate"] == pytest.approx(oe_ratio_cr(d["time"], d["status"], d["risk"], horizon=1826),
                                            abs=1e-12)
    est = fine_gray_recalibration(d["time"], d["status"], d["risk"], horizon=1826).slope
    row = f[(f["cluster"] == site) & (f["metric"] == "cal_slope_cr")].iloc[0]
    assert (row["estimate"], row["se"]) == pytest.approx((est.estimate, est.se), abs=1e-12)
    assert any(n.startswith("competing risks: every per-cluster metric") for n in s.notes)
    assert set(f.loc[f["row"] == "pooled", "metric"]) == set(s.metrics)
    bad = status.copy()
    bad.iloc[np.flatnonzero(loso.cv.oof["event"].to_numpy() == 1)[0]] = 2.0
    with pytest.raises(ValueError, match="status must be 1 exactly where the cross-validation's event is 1"):
        iecv_summary(loso.cv, n_boot=0, status=bad)
    with pytest.raises(ValueError, match=r"metrics: unknown \['harrell_c'\]"):
        iecv_summary(loso.cv, metrics=["harrell_c"], n_boot=0, status=status)


def test_vendor_is_read_from_the_first_scan(cohort_dir, tmp_path):
    from radiorisk.features import assemble_cohort
    from radiorisk.io import read_cohort

    c = read_cohort(cohort_dir)
    data = assemble_cohort(c)
    vendor, note = cluster_labels(c, data, "vendor")
    scans = c.scans.sort_values(["patient_id", "scan_date", "scan_id"])
    first = scans.drop_duplicates("patient_id").set_index("patient_id")["vendor"].astype(str)
    assert (vendor == first.reindex(vendor.index)).all() and "first scan" in note
    run = run_fit(cohort_dir, tmp_path / "V", cv_by="vendor", **{**KW, "n_boot": 20})
    assert run.cv.clusters == tuple(sorted(vendor.unique()))
    assert any("scan-level column" in n for n in run.notes)


def test_refusals(cohort_dir, tmp_path):
    with pytest.raises(FitUsageError, match="cv_by 'hospital': not a column of the cohort's groups"):
        run_fit(cohort_dir, tmp_path / "r1", cv_by="hospital", **KW)
    with pytest.raises(FitUsageError, match="cv_by 'patient_id': an identifier"):
        run_fit(cohort_dir, tmp_path / "r2", cv_by="patient_id", **KW)
    with pytest.raises(FitUsageError, match="cv_by 'cohort': one cluster only"):
        run_fit(cohort_dir, tmp_path / "r3", cv_by="cohort", **KW)
    with pytest.raises(FitUsageError, match="repeats must be 1 or unset with cv_by"):
        run_fit(cohort_dir, tmp_path / "r4", cv_by="site", repeats=5, **KW)
    with pytest.raises(FitUsageError, match="folds must be unset with cv_by"):
        run_fit(cohort_dir, tmp_path / "r5", cv_by="site", folds=8, **KW)
    p = argparse.ArgumentParser(prog="radiorisk")
    add_fit_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["fit", "--censor-competing", "--data", str(cohort_dir), "--model", "coxph", "--blocks", "clinical",
                         "--out", str(tmp_path / "r6"), "--cv-by", "site", "--repeats", "3", "--quiet"])
    with pytest.raises(FitUsageError, match="^--repeats must be 1 or unset with --cv-by"):
        args.func(args)
    args = p.parse_args(["fit", "--censor-competing", "--data", str(cohort_dir), "--model", "coxph", "--blocks", "clinical",
                         "--out", str(tmp_path / "r7"), "--cv-by", "nope", "--quiet"])
    with pytest.raises(FitUsageError, match="^--cv-by 'nope'"):
        args.func(args)


def test_cluster_without_events_is_noted_and_left_out_of_the_c_pooling(loso):
    """A site without events: predicted, its C undefined and out of the pooling, with notes."""
    cv = loso.cv
    o = cv.oof.copy()
    quiet = o.index[(o["fold"] == 0)]
    o.loc[quiet, "event"] = 0
    from dataclasses import replace

    s = iecv_summary(replace(cv, oof=o), n_boot=30, random_state=0)
    f = s.to_frame()
    c = f[(f["metric"] == "harrell_c") & (f["row"] == "cluster")]
    first = c[c["cluster"] == cv.clusters[0]].iloc[0]
    assert not first["in_meta"] and np.isnan(first["estimate"]) and first["flag"]
    assert f"harrell_c: site {cv.clusters[0]} left out of the meta-analysis (estimate undefined)" in s.notes
    assert f[(f["metric"] == "harrell_c") & (f["row"] == "pooled")]["k"].iloc[0] == len(cv.clusters) - 1
    with pytest.raises(ValueError, match="needs a leave-one-cluster-out CVResult"):
        iecv_summary(replace(cv, cv_by=None))


def test_no_bootstrap_no_pooling(loso):
    s = iecv_summary(loso.cv, metrics=["harrell_c"], n_boot=0)
    f = s.to_frame()
    assert f["row"].tolist()[-2:] == ["pooled", "prediction"] and f["estimate"].iloc[-1] != f["estimate"].iloc[-1]
    assert any("no meta-analysis" in n for n in s.notes)


def _multisite(seed: int, hazard_ratio_site: float, n: int = 4000, k: int = 8):
    """Exponential survival with one covariate, k sites of equal size; site00's baseline hazard scaled."""
    from types import MappingProxyType

    from radiorisk.features import CohortData

    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i:05d}" for i in range(n)], name="patient_id")
    site = np.array([f"site{i % k:02d}" for i in range(n)])
    x = rng.normal(size=n)
    rate = 0.12 / 365.25 * np.exp(0.7 * x) * np.where(site == "site00", hazard_ratio_site, 1.0)
    t_event = rng.exponential(1 / rate)
    cens = rng.uniform(1500, 3000, n)
    time = np.minimum(t_event, cens)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n)}, index=ids)
    return CohortData(X=X, time=pd.Series(time, index=ids), event=pd.Series((t_event <= cens).astype(int), index=ids),
                      blocks=MappingProxyType({"clinical": ("x", "noise"), "ccta": (), "radiomics": (), "pet": ()}),
                      groups=pd.DataFrame({"sex": "F", "ethnicity": "x", "site": site}, index=ids),
                      pet_available=pd.Series(False, index=ids))


def _oe(seed, hr):
    from radiorisk.models import cross_validate_risk

    cv = cross_validate_risk("coxph", _multisite(seed, hr), blocks="clinical", horizon=1826, random_state=0,
                             clusters="site")
    s = iecv_summary(cv, metrics=["harrell_c", "oe_ratio_t"], n_boot=200, random_state=1)
    f = s.to_frame()
    return f[f["metric"] == "oe_ratio_t"].set_index("cluster"), f[f["metric"] == "harrell_c"].set_index("cluster")


def test_injected_site_hazard_shows_in_its_oe_and_in_the_heterogeneity():
    """Issue 14's criterion: site00's baseline hazard x 1.8 -> its O/E CI above 1, I² for O/E > 0."""
    oe, _ = _oe(5, 1.8)
    assert oe.loc["site00", "ci_low"] > 1.0
    others = oe.drop(index=["site00", "pooled", "prediction interval"])
    assert (others["estimate"] < oe.loc["site00", "estimate"]).all()
    assert oe.loc["pooled", "i2"] > 0 and oe.loc["pooled", "tau2"] > 0


def test_without_a_site_effect_the_prediction_interval_covers_every_site():
    """No site effect: the true O/E (1) is in the prediction interval and every site's CI meets it.

    (A site's point estimate carries its own sampling error, which the interval for a new site's
    true value does not include, so the criterion is read on the sites' CIs.)
    """
    oe, c = _oe(5, 1.0)
    assert oe.loc["prediction interval", "ci_low"] < 1.0 < oe.loc["prediction interval", "ci_high"]
    assert oe.loc["pooled", "ci_low"] < 1.0 < oe.loc["pooled", "ci_high"]
    for t in (oe, c):
        sites = t[t["row"] == "cluster"]
        lo, hi = t.loc["prediction interval", ["ci_low", "ci_high"]]
        assert ((sites["ci_high"] >= lo) & (sites["ci_low"] <= hi)).all()
    assert np.isfinite(oe.loc["pooled", "i2"])
    injected, _ = _oe(5, 1.8)
    assert oe.loc["pooled", "i2"] < injected.loc["pooled", "i2"]


def test_pet_rungs_on_the_pet_available_patients_leave_out_the_same_sites(tmp_path):
    """PET partly missing: the ladder's PET population is cross-validated on the same sites (no refusal)."""
    d = tmp_path / "CP"
    write_synthetic_cohort(d, n=800, mode="chest-pain", seed=12)
    run = run_fit(d, tmp_path / "P", cv_by="site", **{**KW, "blocks": "clinical,pet", "n_boot": 0,
                                                      "params": {"penalizer": 0.5}})
    assert ("pet_available", "+pet") in run.ladder.cv
    sites = pd.read_csv(d / "patients.csv").set_index("patient_id")["site_id"]
    for cv in run.ladder.cv.values():
        assert cv.cv_by == "site"
        left_out = np.asarray(cv.clusters, dtype=object)[cv.oof["fold"].to_numpy()]
        assert (left_out == sites.reindex(cv.oof["patient_id"]).to_numpy()).all()
    assert run.ladder.cv[("all", "clinical")].clusters == run.cv.clusters
    assert any("leave-one-site-out OOF risk" in n for n in run.notes)


def test_model_report_states_the_internal_external_design_and_shows_iecv_csv(loso):
    """The model section names leave-one-site-out CV (not K-fold by patient) and formats iecv.csv."""
    from radiorisk.pipeline import _model_report

    rep = _model_report.collect_model_report(loso.out, n_boot=0, shap_sample=50)
    sec = next(s for s in rep.sections if s.id == "model")
    k = len(loso.cv.clusters)
    spec = dict(sec.tables[0][1].to_numpy().tolist())
    assert spec["validation"].startswith(f"leave-one-site-out (internal-external) cross-validation: {k} folds, "
                                         "one per site; seed 3")
    assert any(f"{k} folds, one per site; every patient's risk comes from a model that did not see that "
               "patient's site." in s for s in sec.sentences)
    assert not any("grouped by patient" in s or "x 1-fold" in s for s in (*sec.sentences, spec["validation"]))
    caption, table = next((c, t) for c, t in sec.tables if c.startswith("Internal-external cross-validation"))
    assert caption.startswith("Internal-external cross-validation: performance in each left-out site")
    f = loso.iecv.to_frame()
    assert len(table) == len(f) and "cv_by" not in table.columns
    assert list(table["cluster"].iloc[:k]) == list(loso.cv.clusters)
