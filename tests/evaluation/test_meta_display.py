"""MetaForestDisplay: the forest plot of an IECV meta-analysis (Display conventions of evaluation)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from radiorisk.evaluation._meta_display import MetaForestDisplay
from radiorisk.stats import random_effects

C = [0.71, 0.62, 0.78, 0.69, 0.74]
SE = [0.021, 0.034, 0.028, 0.019, 0.025]
SITES = [f"site0{i}" for i in range(1, 6)]


def test_rows_diamond_and_prediction_interval_on_the_callers_axes():
    ma = random_effects(C, SE, transform="logit", labels=SITES)
    ax = Figure().subplots()
    d = MetaForestDisplay.from_meta(ma, metric="harrell_c", name="clinical")
    assert d.plot(ax=ax) is d and d.ax_ is ax and d.figure_ is ax.figure
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == SITES + ["REML random effects", "prediction interval"]
    ticks = list(ax.get_yticks())
    assert ticks[-2:] == [1.0, 0.0] and ticks[0] > ticks[len(SITES) - 1]  # sites from the top, pooled below
    diamond = d.diamond_.get_xy()[:, 0]
    assert diamond.min() == pytest.approx(ma.ci_original[0]) and diamond.max() == pytest.approx(ma.ci_original[1])
    pi = d.pi_line_.get_xdata()
    assert tuple(pi) == pytest.approx(ma.pi_original)
    assert "I² =" in ax.get_title() and "harrell_c" in ax.get_title()
    assert d.reference is None


def test_oe_reference_line_and_no_pi_below_three_sites():
    ma = random_effects([0.9, 1.3], [0.1, 0.2], transform="log", labels=["A", "B"])
    ax = Figure().subplots()
    d = MetaForestDisplay.from_meta(ma, metric="oe_ratio_t").plot(ax=ax)
    assert d.reference == 1.0
    assert any(np.allclose(line.get_xdata(), [1.0, 1.0]) for line in ax.lines)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "prediction interval: none (k < 3)"
    assert d.pi_line_ is None


def test_from_meta_refuses_other_objects():
    with pytest.raises(TypeError, match="needs a MetaAnalysis"):
        MetaForestDisplay.from_meta({"pooled": 0.7})
