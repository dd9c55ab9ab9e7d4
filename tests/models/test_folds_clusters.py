"""Leave-one-cluster-out folds (internal-external CV): cluster_folds and cross_validate_risk(clusters=)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort
from radiorisk.models._folds import cluster_folds, make_folds
from radiorisk.models._ladder import modality_ladder
from radiorisk.models._validation import cross_validate_risk

KW = dict(blocks="clinical", horizon=1826, random_state=0, params={"penalizer": 0.1})


def test_cluster_folds_one_fold_per_cluster_in_sorted_order():
    lab = np.array(["s2", "s1", "s3", "s1", "s2", "s3", "s3"])
    f, labels = cluster_folds(lab)
    assert f.shape == (1, len(lab)) and labels == ("s1", "s2", "s3")
    for k, name in enumerate(labels):
        assert set(np.flatnonzero(f[0] == k)) == set(np.flatnonzero(lab == name))
    f2, labels2 = cluster_folds(lab[::-1])  # the row order does not change which cluster is fold k
    assert labels2 == labels and np.array_equal(f2[0], f[0][::-1])


@pytest.mark.parametrize("bad, match", [
    (["a", None, "b"], "1 row\\(s\\) have no cluster label"),
    (["a", "", "b"], "no cluster label"),
    (["a", "a", "a"], "one cluster only \\('a'\\)"),
    ([], "no rows"),
])
def test_cluster_folds_refusals(bad, match):
    with pytest.raises(ValueError, match=match):
        cluster_folds(bad)


def test_loso_folds_are_exactly_the_sites(cad_data):
    cv = cross_validate_risk("coxph", cad_data, clusters="site", **KW)
    site = cad_data.groups["site"]
    assert cv.cv_by == "site" and cv.clusters == tuple(sorted(site.unique()))
    assert cv.repeats == 1 and cv.folds == site.nunique()
    oof = cv.oof
    assert len(oof) == cad_data.n and oof["patient_id"].is_unique  # every patient predicted once
    left_out = oof.set_index("patient_id")["fold"].map(dict(enumerate(cv.clusters)))
    pd.testing.assert_series_equal(left_out, site.reindex(left_out.index), check_names=False)
    assert np.isfinite(oof["risk"]).all()
    assert cv.notes[0].startswith(f"leave-one-site-out (internal-external) cross-validation: "
                                  f"{cv.folds} folds, one per site (site01, ")
    assert "grouped by patient" not in cv.notes[0]
    assert "leave-one-site-out" in cv._repr_html_()


def test_loso_same_as_series_and_array_and_independent_of_n_jobs(cad_data):
    a = cross_validate_risk("coxph", cad_data, clusters="site", **KW)
    s = cad_data.groups["site"].rename("site")
    b = cross_validate_risk("coxph", cad_data, clusters=s.iloc[::-1], n_jobs=2, **KW)  # aligned by id
    pd.testing.assert_frame_equal(a.oof, b.oof)
    c = cross_validate_risk("coxph", cad_data, clusters=s.to_numpy(), repeats=1, folds=a.folds, **KW)
    pd.testing.assert_frame_equal(a.oof, c.oof)
    assert c.cv_by == "cluster" and c.notes[0].startswith("leave-one-cluster-out")


def test_loso_a_fold_trains_without_its_cluster(cad_data):
    """The risk of a left-out site comes from a model that never saw that site."""
    cv = cross_validate_risk("coxph", cad_data, clusters="site", **KW)
    from radiorisk.models import make_model
    from radiorisk.models._base import make_y
    from radiorisk.models._folds import task_seed

    k = 2
    test = (cv.oof["fold"] == k).to_numpy()
    X = cad_data.X[list(cv.columns)]
    est = make_model("coxph", horizon=1826, random_state=task_seed(task_seed(0, 0, k), 2), penalizer=0.1)
    est.fit(X[~test], make_y(cad_data.time.to_numpy()[~test], cad_data.event.to_numpy()[~test]))
    np.testing.assert_allclose(cv.oof.loc[test, "risk"], est.predict_risk(X[test], horizon=1826))


def test_loso_refusals(cad_data):
    with pytest.raises(ValueError, match="clusters 'vendor': not a column of data.groups"):
        cross_validate_risk("coxph", cad_data, clusters="vendor", **KW)
    with pytest.raises(ValueError, match="repeats=5: leave-one-site-out cross-validation is one pass"):
        cross_validate_risk("coxph", cad_data, clusters="site", repeats=5, **KW)
    with pytest.raises(ValueError, match="folds=5: leave-one-site-out .* has one fold per site \\(8\\)"):
        cross_validate_risk("coxph", cad_data, clusters="site", folds=5, **KW)
    one = pd.Series("siteA", index=cad_data.X.index, name="site")
    with pytest.raises(ValueError, match="clusters 'site': one cluster only"):
        cross_validate_risk("coxph", cad_data, clusters=one, **KW)
    part = pd.Series("A", index=cad_data.X.index[:-3], name="hospital")
    with pytest.raises(ValueError, match="clusters 'hospital': 3 row\\(s\\) have no cluster label"):
        cross_validate_risk("coxph", cad_data, clusters=part, **KW)
    ev = cad_data.event.to_numpy() > 0
    lab = pd.Series(np.where(ev, "all_events", "none"), index=cad_data.X.index, name="site")
    with pytest.raises(ValueError, match="every event is in site all_events"):
        cross_validate_risk("coxph", cad_data, clusters=lab, **KW)


def test_loso_cluster_without_events_is_noted(cad_data):
    ev = cad_data.event.to_numpy() > 0
    lab = np.where(np.arange(cad_data.n) % 2 == 0, "A", "B")
    quiet = np.flatnonzero(~ev)[:30]
    lab = lab.astype(object)
    lab[quiet] = "C"
    cv = cross_validate_risk("coxph", cad_data, clusters=pd.Series(lab, index=cad_data.X.index,
                                                                   name="site"), **KW)
    assert "site C: no event; its patients are predicted but its discrimination cannot be estimated" \
        in cv.notes
    assert np.isfinite(cv.oof["risk"]).all()


def test_kfold_grouped_note_names_the_grouping(cad_data):
    e = cad_data.event.to_numpy()
    site = cad_data.groups["site"]
    kw = dict(KW, repeats=1, folds=4)
    named = cross_validate_risk("coxph", cad_data, groups=site.rename("site"), **kw)
    assert "grouped by site;" in named.notes[0]
    unnamed = cross_validate_risk("coxph", cad_data, groups=site.to_numpy(), **kw)
    assert "grouped by the given groups;" in unnamed.notes[0]
    default = cross_validate_risk("coxph", cad_data, **kw)
    assert "grouped by patient;" in default.notes[0] and default.cv_by is None and default.clusters == ()
    np.testing.assert_array_equal(named.oof["fold"],
                                  make_folds(e, groups=site.to_numpy(), folds=4, random_state=0)[0])


LADDER = dict(horizon=1826, random_state=0, params={"penalizer": 0.1}, n_boot=0, rungs=("clinical", "ccta"))


def test_ladder_with_clusters_reuses_only_the_same_fold_design(cad_data):
    """A leave-one-site-out CV is reused by a ladder on the same sites, never by a K-fold ladder."""
    loso = cross_validate_risk("coxph", cad_data, clusters="site", **KW)
    # K-fold ladder with the same repeats and number of folds: the LOSO CV is not one of its rungs
    kfold = modality_ladder("coxph", cad_data, repeats=1, folds=loso.folds, reuse=[loso], **LADDER)
    assert all(cv.cv_by is None for cv in kfold.cv.values())
    assert kfold.cv[("all", "clinical")] is not loso
    assert any("averaged over 1 repeat(s)" in n for n in kfold.notes)
    site = cad_data.groups["site"].rename("site")
    lad = modality_ladder("coxph", cad_data, clusters=site, reuse=[loso], **LADDER)
    assert lad.cv[("all", "clinical")] is loso
    top = lad.cv[("all", "+ccta")]
    assert top.cv_by == "site" and top.clusters == loso.clusters
    np.testing.assert_array_equal(top.oof["fold"], loso.oof["fold"])
    assert any("each patient's leave-one-site-out OOF risk;" in n for n in lad.notes)
    assert not any("repeat(s)" in n for n in lad.notes)
    # other labels under the same name: not reused
    other = site.where(site != "site01", "site02")
    assert modality_ladder("coxph", cad_data, clusters=other, reuse=[loso], **LADDER).cv[
        ("all", "clinical")] is not loso


def test_ladder_with_clusters_on_the_pet_available_patients():
    data = assemble_cohort(simulate_cohort(800, mode="chest-pain", seed=12))
    lab = data.groups["site"].to_numpy()  # one label per row: aligned to the PET subset by patient_id
    lad = modality_ladder("coxph", data, horizon=1826, random_state=1, rungs=("clinical", "pet"), n_boot=0,
                          params={"penalizer": 0.5}, clusters=lab)
    pet = data.pet_available.to_numpy(bool)
    assert set(lad.cv) == {("all", "clinical"), ("pet_available", "clinical"), ("pet_available", "+pet")}
    for (pop, _), cv in lad.cv.items():
        ids = data.X.index[pet] if pop == "pet_available" else data.X.index
        site = data.groups["site"].reindex(ids)
        assert cv.cv_by == "cluster" and list(cv.oof["patient_id"]) == list(ids.astype(str))
        left_out = np.asarray(cv.clusters)[cv.oof["fold"].to_numpy()]
        assert (left_out == site.to_numpy()).all()


def test_cv_notebook_view_is_the_one_html_table(cad_data):
    cv = cross_validate_risk("coxph", cad_data, clusters="site", **KW)
    h = cv._repr_html_()
    assert h.startswith('<div class="radiorisk-repr"><strong>CVResult coxph on clinical: leave-one-site-out '
                        f"({cv.folds} folds), horizon 1826 d</strong><ul><li>leave-one-site-out")
    assert "<th>harrell_c</th>" in h and "mean_risk" in h and 'class="dataframe"' not in h
