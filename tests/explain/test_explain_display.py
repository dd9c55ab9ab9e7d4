"""SHAP displays: the sklearn contract (from_shap / from_estimator / plot(ax=None)) on caller's axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only; the library never selects a backend

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from radiorisk.explain import (  # noqa: E402
    ExplainError,
    ModalityBarDisplay,
    ShapBarDisplay,
    ShapDependenceDisplay,
    ShapSummaryDisplay,
    ShapWaterfallDisplay,
    shap_values,
)

DISPLAYS = [ShapSummaryDisplay, ShapBarDisplay, ShapWaterfallDisplay, ShapDependenceDisplay,
            ModalityBarDisplay]


@pytest.fixture
def pyplot():
    yield plt
    plt.close("all")


@pytest.fixture(scope="module")
def result(fitted, explain_data):
    return shap_values(fitted["xgb-cox"], explain_data.X, blocks=explain_data.blocks)


def _args(cls, res):
    return ("hrp_modifier",) if cls is ShapDependenceDisplay else ()


@pytest.mark.parametrize("cls", DISPLAYS)
def test_from_shap_plots_on_given_axes(pyplot, cls, result):
    fig, ax = pyplot.subplots()
    disp = cls.from_shap(result, *_args(cls, result))
    assert isinstance(disp, cls)
    out = disp.plot(ax=ax)
    assert out is disp and disp.ax_ is ax and disp.figure_ is fig
    assert ax.get_xlabel()


@pytest.mark.parametrize("cls", DISPLAYS)
def test_from_estimator_and_new_axes(pyplot, cls, fitted, explain_data):
    disp = cls.from_estimator(fitted["coxph"], explain_data.X.iloc[:60], *_args(cls, None),
                              blocks=explain_data.blocks)
    disp.plot()
    assert disp.ax_.figure is disp.figure_


@pytest.mark.parametrize("cls", [ShapSummaryDisplay, ShapBarDisplay])
def test_shap_engine_draws_on_callers_axes(pyplot, cls, result):
    fig, (a1, a2) = pyplot.subplots(1, 2)
    disp = cls.from_shap(result, max_display=5).plot(ax=a2, engine="shap")
    assert disp.ax_ is a2 and len(a2.get_yticklabels()) > 0 and not a1.has_data()
    with pytest.raises(ExplainError, match="engine"):
        disp.plot(ax=a1, engine="seaborn")


def test_summary_top_features(result):
    d = ShapSummaryDisplay.from_shap(result, max_display=4)
    assert d.features_ == result.importance()["feature"].head(4).tolist()


def test_waterfall_margin_and_risk(pyplot, result):
    pid = result.index[3]
    d = ShapWaterfallDisplay.from_shap(result, patient=pid, max_display=5)
    assert d.total_ == pytest.approx(result.margin[3], abs=1e-9)
    assert len(d.table_) == 7 and d.table_["feature"].iloc[5].endswith("other features")
    r = ShapWaterfallDisplay.from_shap(result, patient=3, scale="risk").plot()
    assert r.total_ == pytest.approx(float(result.risk()[3]), abs=1e-9)
    assert r.base_ == pytest.approx(float(result.link.risk(result.base_value)), abs=1e-12)
    with pytest.raises(ExplainError, match="scale"):
        ShapWaterfallDisplay.from_shap(result, scale="odds")


def test_dependence_coloured_by_group(pyplot, result, explain_data):
    sex = explain_data.groups["sex"]
    d = ShapDependenceDisplay.from_shap(result, "n_hrp_lesions", color_by=sex).plot(jitter=0.1)
    assert set(d.slopes_) == set(sex.unique()) and set(d.scatter_) == set(sex.unique())
    assert d.ax_.get_legend() is not None
    d2 = ShapDependenceDisplay.from_shap(result, "age_years", color_by="sex_male").plot()
    assert "all" in d2.scatter_
    with pytest.raises(ExplainError, match="unknown feature"):
        ShapDependenceDisplay.from_shap(result, "nope")


def test_modality_bar_patient(pyplot, result):
    d = ModalityBarDisplay.from_shap(result, patient=0).plot()
    row = result.by_block().values.iloc[0]
    assert dict(zip(d.table_["block"], d.table_["value"], strict=True)) == pytest.approx(row.to_dict())


def test_library_does_not_import_pyplot_when_computing():
    import subprocess
    import sys

    code = ("import sys, numpy as np, pandas as pd\n"
            "from radiorisk.explain import ShapResult, ShapBarDisplay\n"
            "x = pd.DataFrame({'a': [1.0, 2.0]})\n"
            "r = ShapResult(values=np.ones((2, 1)), base_value=0.0, data=x, feature_names=('a',), blocks=('ccta',),"
            " scale='log-hazard', model_kind='other', method='given', background='-')\n"
            "ShapBarDisplay.from_shap(r)\n"
            "print('matplotlib' in sys.modules, 'shap' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
