"""Display classes: the sklearn contract (from_predictions / from_estimator / plot(ax=None))."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only; the library never selects a backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from radiorisk.evaluation import (  # noqa: E402
    CalibrationDisplay,
    DecisionCurveDisplay,
    SubgroupAudit,
    SubgroupForestDisplay,
)

DISPLAYS = [CalibrationDisplay, SubgroupForestDisplay, DecisionCurveDisplay]


@pytest.fixture
def pyplot():
    yield plt
    plt.close("all")


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.05, 0.5, n)
    tt = rng.exponential(-5 / np.log1p(-risk))
    return dict(risk=risk, time=np.minimum(tt, 8.0), event=(tt <= 8.0).astype(float),
                y=rng.binomial(1, risk), sex=rng.choice(["F", "M"], n))


class _Model:
    """A stand-in estimator with the radiorisk interface."""

    def predict_risk(self, X, horizon):
        return np.asarray(X)[:, 0]


def _kwargs(cls, d, kind):
    kw = {"time": d["time"], "event": d["event"], "horizon": 5.0} if kind == "survival" else {"y": d["y"]}
    if cls is SubgroupForestDisplay:
        kw.update(metric="oe_ratio_t" if kind == "survival" else "oe_ratio", groups={"sex": d["sex"]},
                  n_boot=20, random_state=0)
    elif cls is CalibrationDisplay:
        kw.update(groups=d["sex"], n_bins=5)
    else:
        kw.update(groups=d["sex"])
    return kw


@pytest.mark.parametrize("kind", ["survival", "binary"])
@pytest.mark.parametrize("cls", DISPLAYS)
def test_from_predictions_and_plot(pyplot, cls, kind):
    d = _data()
    disp = cls.from_predictions(d["risk"], **_kwargs(cls, d, kind))
    assert isinstance(disp, cls) and len(disp.table_) > 0
    assert not hasattr(disp, "ax_")  # computing does not plot
    out = disp.plot()
    assert out is disp
    assert disp.ax_.figure is disp.figure_ and disp.line_ is not None
    fig, ax = pyplot.subplots()
    disp.plot(ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig


@pytest.mark.parametrize("cls", DISPLAYS)
def test_from_estimator(pyplot, cls):
    d = _data()
    X = d["risk"][:, None]
    disp = cls.from_estimator(_Model(), X, **_kwargs(cls, d, "survival"))
    ref = cls.from_predictions(d["risk"], **_kwargs(cls, d, "survival"))
    assert disp.name == "_Model"
    np.testing.assert_allclose(disp.table_.select_dtypes("number").to_numpy(float),
                               ref.table_.select_dtypes("number").to_numpy(float), equal_nan=True)
    disp.plot()


@pytest.mark.parametrize("cls", DISPLAYS)
def test_estimator_without_predict_risk(cls):
    d = _data(50)
    with pytest.raises(TypeError, match="predict_risk"):
        cls.from_estimator(object(), d["risk"][:, None], **_kwargs(cls, d, "survival"))


def test_calibration_display_groups_and_bands(pyplot):
    d = _data()
    disp = CalibrationDisplay.from_predictions(d["risk"], time=d["time"], event=d["event"], horizon=5.0,
                                               groups=d["sex"], n_bins=4)
    assert set(disp.table_["group"]) == {"F", "M"}
    assert {"ci_low", "ci_high", "observed", "mean_predicted"} <= set(disp.table_.columns)
    disp.plot(ci=True, band=True)
    assert set(disp.line_) == {"F", "M"}


def test_forest_from_audit_marks_flags(pyplot):
    d = _data()
    e = d["event"].copy()
    e[d["sex"] == "F"] = 0  # no events among F: undefined metrics, flagged
    a = SubgroupAudit(d["risk"], time=d["time"], event=e, horizon=5.0, groups={"sex": d["sex"]},
                      metrics=["harrell_c"], n_boot=10, random_state=0)
    disp = SubgroupForestDisplay.from_audit(a, "harrell_c").plot()
    assert disp.table_["flag"].any()
    assert "flagged" in disp.ax_.get_title()
    with pytest.raises(ValueError, match="not in the audit"):
        SubgroupForestDisplay.from_audit(a, "auc")
