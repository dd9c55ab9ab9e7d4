"""Decision curves and NRI equal the independent R implementation (tests/reference/decision/)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import (
    category_free_nri,
    net_benefit_curve,
    net_reclassification,
    risk_categories,
    threshold_grid,
)

REF = Path(__file__).resolve().parents[1] / "reference"
R = json.loads((REF / "decision" / "decision_reference.json").read_text(encoding="utf-8"))
KINDS = {"survival": ("survival_synth.csv", "event"), "competing": ("competing_synth.csv", "status")}
TOL = 1e-8


def _data(kind):
    f, ev = KINDS[kind]
    d = pd.read_csv(REF / "referee" / f)
    d["risk_new"] = pd.read_csv(REF / "decision" / f"{kind}_new_risk.csv")["risk_new"]
    return d, ev


def _cases():
    for kind in KINDS:
        for attr, groups in R[kind].items():
            for g in groups:
                yield kind, attr, g


def _subset(kind, attr, g):
    d, ev = _data(kind)
    sub = d if attr == "overall" else d[d[attr].astype(str) == g]
    kw = dict(time=sub["time"].to_numpy(float), event=sub[ev].to_numpy(float), horizon=R["t0"],
              competing_risks=kind == "competing")
    return sub, kw


def test_threshold_grid_is_the_r_grid():
    assert np.array_equal(threshold_grid(0.05, 0.30, 0.01), np.array(R["thresholds"]))


@pytest.mark.parametrize("kind,attr,group", list(_cases()))
def test_net_benefit_equals_r(kind, attr, group):
    sub, kw = _subset(kind, attr, group)
    ref = R[kind][attr][group]["decision"]
    nb = net_benefit_curve(sub["risk"].to_numpy(), thresholds=R["thresholds"], **kw)
    np.testing.assert_allclose(nb.model, ref["model"], rtol=0, atol=TOL)
    np.testing.assert_allclose(nb.treat_all, ref["treat_all"], rtol=0, atol=TOL)
    np.testing.assert_allclose(nb.treated, ref["treated"], rtol=0, atol=TOL)


@pytest.mark.parametrize("kind,attr,group", list(_cases()))
@pytest.mark.parametrize("which", ["nri_continuous", "nri_categorical"])
def test_nri_components_equal_r(kind, attr, group, which):
    sub, kw = _subset(kind, attr, group)
    ref = R[kind][attr][group][which]
    cuts = R["cuts"] if which == "nri_categorical" else None
    x = net_reclassification(sub["risk"].to_numpy(), sub["risk_new"].to_numpy(), cuts=cuts, **kw)
    for field in ("events", "nonevents", "nri", "p_up", "p_down"):
        assert abs(getattr(x, field) - ref[field]) <= TOL, field


def test_competing_nri_differs_from_the_censoring_nri():
    """Competing events are not censored: the AJ-based components are not the KM-based ones."""
    sub, kw = _subset("competing", "overall", "all")
    ro, rn = sub["risk"].to_numpy(), sub["risk_new"].to_numpy()
    aj = net_reclassification(ro, rn, **kw)
    km = net_reclassification(ro, rn, **{**kw, "competing_risks": False, "event": (kw["event"] == 1) * 1.0})
    assert abs(aj.events - km.events) > 1e-3


def test_weighted_columns_equal_copied_rows():
    """Bootstrap weights (one column per replicate) give the function on the resampled rows."""
    sub, kw = _subset("competing", "sex", "M")
    r, rn = sub["risk"].to_numpy(), sub["risk_new"].to_numpy()
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(r), (2, len(r)))
    W = np.stack([np.bincount(i, minlength=len(r)) for i in idx], axis=1).astype(float)
    nb = net_benefit_curve(r, thresholds=[0.1, 0.2], weights=W, **kw)
    nri = net_reclassification(r, rn, cuts=[0.1, 0.2], weights=W, **kw)
    for b, i in enumerate(idx):
        kb = {**kw, "time": kw["time"][i], "event": kw["event"][i]}
        one = net_benefit_curve(r[i], thresholds=[0.1, 0.2], **kb)
        np.testing.assert_allclose(nb.model[:, b], one.model, atol=1e-12)
        assert abs(nri.events[b] - net_reclassification(r[i], rn[i], cuts=[0.1, 0.2], **kb).events) < 1e-12


def test_binary_net_benefit_and_nri_by_hand():
    y = np.array([1.0, 0, 1, 0, 0])
    p = np.array([0.6, 0.4, 0.2, 0.1, 0.3])
    nb = net_benefit_curve(p, thresholds=[0.25], y=y)
    # treated: 0.6 (event), 0.4, 0.3 (non-events): 1/5 - 2/5 * 1/3
    assert nb.model[0] == pytest.approx(1 / 5 - 2 / 15)
    new = np.array([0.7, 0.2, 0.3, 0.1, 0.35])
    x = net_reclassification(p, new, y=y)
    # events: 2 up of 2 -> 1; non-events: up 1 (0.3->0.35), down 1 (0.4->0.2), same 1 -> 0
    assert (x.events, x.nonevents) == (pytest.approx(1.0), pytest.approx(0.0))


def test_category_free_nri_is_the_kernel():
    sub, kw = _subset("survival", "overall", "all")
    a = category_free_nri(kw["time"], kw["event"], sub["risk"], sub["risk_new"], horizon=R["t0"])
    assert a.events == pytest.approx(R["survival"]["overall"]["all"]["nri_continuous"]["events"], abs=TOL)


def test_risk_categories_cut_point_goes_up():
    assert risk_categories([0.1, 0.0999, 0.2], [0.1, 0.2]).tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        risk_categories([0.1], [1.5])


@pytest.mark.parametrize("competing", [False, True])
def test_all_thresholds_at_once_equal_each_treated_subset(competing):
    """The one-pass counts per risk category give the observed risk of each treated subset."""
    from radiorisk.stats import observed_risk_at

    rng = np.random.default_rng(5)
    n = 300
    t = rng.integers(1, 40, n).astype(float)
    e = rng.choice([0.0, 1.0, 2.0] if competing else [0.0, 1.0], n)
    r = np.round(rng.uniform(0, 0.6, n), 2)
    th = np.array([0.3, 0.05, 0.2, 0.55, 0.59, 0.2000001])  # unsorted, ties with risks, nobody above 0.59
    W = rng.integers(0, 3, (n, 4)).astype(float)
    nb = net_benefit_curve(r, thresholds=th, time=t, event=e, horizon=25, competing_risks=competing, weights=W)
    for j, pt in enumerate(th):
        m = r >= pt
        q = (W * m[:, None]).sum(0) / W.sum(0)
        f = observed_risk_at(t, e, 25, W * m[:, None], competing_risks=competing)
        want = np.where(q > 0, q * f - q * (1 - f) * pt / (1 - pt), 0.0)
        np.testing.assert_allclose(nb.model[j], want, atol=1e-12)
