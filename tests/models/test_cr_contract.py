"""Every competing-risk model kind (make_model(..., competing_risks=True)): the sklearn and bundle contract."""

from __future__ import annotations

import numpy as np
import pytest
from cr_testdata import competing_cohort
from sklearn.base import clone

from radiorisk.models import (
    CR_ESTIMATORS,
    ModelError,
    estimand,
    is_competing,
    load,
    make_model,
    make_y,
)


def _params(name):
    p = {} if name in ("coxph", "fg") else {"n_estimators": 15, "nthread": 1}
    return p | ({"horizon": 900.0} if name == "xgb-binary" else {})


@pytest.fixture(scope="module")
def data():
    return competing_cohort(400, 21, comp_rate=1 / 700)


@pytest.mark.parametrize("name", list(CR_ESTIMATORS))
def test_contract(name, data, tmp_path):
    X, y = data
    est = make_model(name, competing_risks=True, random_state=1, **_params(name))
    assert type(est[-1]) is CR_ESTIMATORS[name] and is_competing(est)
    c = clone(est)
    assert c.get_params()["model__horizon"] == est.get_params()["model__horizon"]
    est.fit(X, y)
    r = est.predict_risk(X)
    assert r.shape == (len(X),) and np.isfinite(r).all() and ((r > 0) & (r < 1)).all()
    assert estimand(est).startswith("cumulative incidence of MACE")
    # the censoring-mode model of the same kind, on the same y (competing events censored), predicts more
    plain = make_model(name, random_state=1, **_params(name)).fit(X, y)
    if name != "fg":
        assert r.mean() < plain.predict_risk(X).mean()
    # the same rows refitted give the same risks (deterministic), and a bundle reloads them exactly
    np.testing.assert_array_equal(clone(est).fit(X, y).predict_risk(X), r)
    got = load(est.save(tmp_path / name))
    assert type(got[-1]) is type(est[-1])
    np.testing.assert_array_equal(got.predict_risk(X), r)
    # a y without event types is refused (fg: then it is the Cox model, stated by its estimand)
    y0 = make_y(y["time"], y["event"])
    if name == "fg":
        assert "without recorded competing events" in estimand(make_model("fg").fit(X, y0))
    else:
        with pytest.raises(ModelError, match="needs the event type"):
            make_model(name, competing_risks=True, **_params(name)).fit(X, y0)
