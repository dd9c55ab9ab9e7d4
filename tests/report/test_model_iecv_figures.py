"""The model report's IECV forest plots: drawn from iecv.csv's rows, only when the run pooled them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from radiorisk.report._model_methods import _forest_table, _iecv_figures


def _rows(metric, est, pooled=0.7):
    k = len(est)
    return pd.DataFrame({
        "metric": metric, "row": ["cluster"] * k + ["pooled", "prediction"],
        "cluster": [f"site{i:02d}" for i in range(1, k + 1)] + ["pooled", "prediction interval"],
        "estimate": [*est, pooled, pooled], "ci_low": [e - 0.1 for e in est] + [pooled - 0.05, pooled - 0.1],
        "ci_high": [e + 0.1 for e in est] + [pooled + 0.05, pooled + 0.1],
        "in_meta": [True] * (k - 1) + [False, True, True], "weight": [100 / (k - 1)] * (k - 1) + [np.nan] * 3,
        "k": [np.nan] * k + [k - 1, k - 1], "tau2": [np.nan] * k + [0.01, 0.01], "i2": [np.nan] * k + [20.0, 20.0]})


def test_forest_table_keeps_the_numbers_of_iecv_csv():
    rows = _rows("harrell_c", [0.72, 0.66, 0.75, 0.70])
    table, summary = _forest_table(rows)
    assert table["row"].tolist() == ["study"] * 3 + ["pooled", "prediction"]  # site04 was not pooled
    assert table["label"].tolist()[:3] == ["site01", "site02", "site03"]
    np.testing.assert_array_equal(table["estimate_original"].to_numpy()[:3], [0.72, 0.66, 0.75])
    assert table["ci_low_original"].iloc[-1] == rows["ci_low"].iloc[-1]
    assert summary == "k = 3, tau² = 0.01, I² = 20 %"


def test_one_figure_per_pooled_metric_and_none_without_pooling():
    frame = pd.concat([_rows("harrell_c", [0.72, 0.66, 0.75, 0.70]),
                       _rows("oe_ratio_t", [1.1, 0.9, 1.0, 1.2], pooled=1.02),
                       _rows("td_auc", [0.7, 0.7, 0.7, 0.7])], ignore_index=True)
    figs = _iecv_figures(SimpleNamespace(iecv=frame, config={"cv_by": "site"}))
    assert [cap.split(" ")[0] for cap, _ in figs] == ["harrell_c", "oe_ratio_t"]
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for _, png in figs)
    unpooled = frame.assign(estimate=np.where(frame["row"] == "pooled", np.nan, frame["estimate"]))
    assert _iecv_figures(SimpleNamespace(iecv=unpooled, config={"cv_by": "site"})) == []
    assert _iecv_figures(SimpleNamespace(iecv=None, config={})) == []
