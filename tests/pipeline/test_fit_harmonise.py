"""``fit --harmonise vendor,kernel``: the bundle keeps the harmoniser, predict applies it, an unseen scanner is refused."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kruskal

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError, ModelError
from radiorisk.models import ComBatHarmoniser, load, load_requirements
from radiorisk.pipeline import predict_cohort, run_fit

KEY = "radiorisk-test-suite-key-0123456789"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("harmonise")
    write_synthetic_cohort(base / "D", n=300, mode="established-cad", seed=43, sites=4)
    les = pd.read_csv(base / "D" / "lesions.csv")
    scans = pd.read_csv(base / "D" / "scans.csv").set_index("scan_id")
    vendor = scans.loc[les["scan_id"], "vendor"].to_numpy()
    shift = pd.Series(vendor).map({"Siemens": 0.0, "GE": 200.0, "Philips": -150.0, "Canon": 100.0}).fillna(0).to_numpy()
    rng = np.random.default_rng(1)
    pd.DataFrame({"patient_id": les["patient_id"], "scan_id": les["scan_id"], "lesion_id": les["lesion_id"],
                  "reader": "reader1", "n_voxels": rng.integers(50, 500, len(les)),
                  "original_firstorder_Mean": les["hu_mean"] + shift + rng.normal(0, 5, len(les)),
                  "original_glcm_Contrast": rng.gamma(2.0, 1.0, len(les)) * (1 + shift / 400),
                  "original_ngtdm_Busyness": rng.gamma(1.0, 1.0, len(les))}).to_parquet(base / "f.parquet")
    return base


def _between_share(values: pd.Series, batch: pd.Series) -> float:
    """Between-batch share of the variance (eta squared)."""
    grand = values.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for _, g in values.groupby(batch))
    return float(between / ((values - grand) ** 2).sum())


def _fit(base, out, **kw):
    return run_fit(base / "D", base / out, competing_risks=False, model="coxph", blocks="clinical,radiomics", features=base / "f.parquet",
                   repeats=1, folds=3, n_boot=0, params={"penalizer": 0.5}, id_key=KEY, **kw)


@pytest.fixture(scope="module")
def run(inputs):
    return _fit(inputs, "RUN", harmonise="vendor,kernel", harmonise_covariates="age_years,sex_male")


def test_batches_differ_before_and_not_after(inputs, run):
    """The cohort's radiomic columns by scanner batch: Kruskal-Wallis before and after the final harmoniser."""
    from radiorisk.features import add_batch_columns, assemble_cohort
    from radiorisk.io import read_cohort

    cohort = read_cohort(inputs / "D")
    data = add_batch_columns(assemble_cohort(cohort, radiomics=pd.read_parquet(inputs / "f.parquet")), cohort,
                             "vendor,kernel")
    h = load(run.files["model"]).named_steps["harmonise"]
    X = data.X[list(h.feature_names_in_)]
    Xt = h.transform(X)
    lab = X["batch:vendor"] + "/" + X["batch:kernel"]
    col = "rad_original_firstorder_Mean__max"
    ok = X[col].notna() & (X["rad_has_plaque"] == 1)  # the no-plaque zeros are not harmonised
    assert Xt.loc[X["rad_has_plaque"] == 0, col].eq(0).all()
    groups = lambda F: [F.loc[ok & (lab == b), col] for b in sorted(lab.unique())]  # noqa: E731
    p_before, p_after = kruskal(*groups(X)).pvalue, kruskal(*groups(Xt)).pvalue
    eta_before, eta_after = _between_share(X.loc[ok, col], lab[ok]), _between_share(Xt.loc[ok, col], lab[ok])
    print(f"{col} by vendor/kernel: Kruskal-Wallis p {p_before:.2g} -> {p_after:.2g}, "
          f"between-batch variance share {eta_before:.3f} -> {eta_after:.4f}")
    assert p_before < 1e-6 and eta_before > 0.1
    assert eta_after < 0.2 * eta_before  # what remains is the batches' differences in age and sex, preserved
    plain = ComBatHarmoniser(batch=["vendor", "kernel"]).fit(X).transform(X)  # no covariates preserved
    eta_plain = _between_share(plain.loc[ok, col], lab[ok])
    print(f"  without covariates: between-batch variance share {eta_plain:.4f}")
    assert eta_plain < 0.01


def test_model_report_states_the_harmonisation(inputs, run):
    out = inputs / "report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", "--run", str(run.out), "--out", str(out), "--n-boot", "20"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "harmonisation" in html and "ComBat harmonisation (empirical Bayes) of " in html
    assert "by vendor/kernel" in html


def test_fit_harmonise_bundle_predict_and_refusal(inputs, run):
    note = next(n for n in run.notes if n.startswith("ComBat harmonisation"))
    assert "radiomic feature columns by vendor/kernel" in note and "covariates preserved: age_years, sex_male" in note
    prov = json.loads((run.out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["harmonise"] == {"batch": ["vendor", "kernel"], "covariates": ["age_years", "sex_male"]}
    est = load(run.files["model"])
    h = est.named_steps["harmonise"]
    assert h.columns_ and all(c.startswith("rad_") and "__" in c for c in h.columns_)
    req = load_requirements(run.files["model"])
    assert req.blocks["batch"] == ("batch:vendor", "batch:kernel")
    assert req.distributions["batch:vendor"]["kind"] == "categorical"
    # a cohort from the scanners seen in training: predicted, and the harmonisation stated
    pred = predict_cohort(run.files["model"], inputs / "D", inputs / "p.csv", features=inputs / "f.parquet",
                          id_key=KEY)
    assert len(pred.predictions) == 300 and pred.predictions["risk"].between(0, 1).all()
    assert any(n.startswith("the model's harmonisation, applied to this cohort: ComBat harmonisation (empirical "
                            "Bayes) of ") for n in pred.notes)
    # the same patients from a scanner never seen: refused, naming the batch and those seen
    other = inputs / "D2"
    shutil.copytree(inputs / "D", other)
    scans = pd.read_csv(other / "scans.csv")
    with_plaque = pd.read_parquet(inputs / "f.parquet")["scan_id"].iloc[0]  # no-plaque rows are not harmonised
    scans.loc[scans["scan_id"] == with_plaque, ["vendor", "kernel"]] = ["United", "UB40"]
    scans.to_csv(other / "scans.csv", index=False)
    with pytest.raises(ModelError, match=r"batch vendor/kernel = 'United/UB40' .* was not seen in training; "
                                         r"batches seen: '"):
        predict_cohort(run.files["model"], other, inputs / "p2.csv", features=inputs / "f.parquet", id_key=KEY)


def test_harmonise_usage_errors(inputs):
    with pytest.raises(FitUsageError, match="the radiomics block is not among the blocks"):
        run_fit(inputs / "D", inputs / "R1", competing_risks=False, model="coxph", blocks="clinical", repeats=1, folds=3, n_boot=0,
                id_key=KEY, harmonise="vendor")
    with pytest.raises(FitUsageError, match="table 'scans' has no column 'scanner_room'"):
        _fit(inputs, "R2", harmonise="scanner_room")
    with pytest.raises(FitUsageError, match="harmonise_covariates needs harmonise"):
        _fit(inputs, "R3", harmonise_covariates="age_years")


def test_cli_flag(inputs, capsys):
    code = main(["fit", "--censor-competing", "--data", str(inputs / "D"), "--model", "coxph", "--blocks", "clinical,radiomics",
                 "--features", str(inputs / "f.parquet"), "--out", str(inputs / "RUNCLI"), "--repeats", "1",
                 "--folds", "3", "--n-boot", "0", "--param", "penalizer=0.5", "--harmonise", "vendor",
                 "--id-key-file", str(inputs / "key")])
    assert code == 0
    assert "ComBat harmonisation" in capsys.readouterr().out
    assert load(inputs / "RUNCLI" / "model").named_steps["harmonise"].batch == ["vendor"]


def test_leave_one_vendor_out_cannot_harmonise_by_vendor(inputs):
    with pytest.raises((FitUsageError, ModelError), match=r"batch vendor = '\w+' .* was not seen in training"):
        run_fit(inputs / "D", inputs / "R4", competing_risks=False, model="coxph", blocks="clinical,radiomics",
                features=inputs / "f.parquet", n_boot=0, params={"penalizer": 0.5}, id_key=KEY,
                cv_by="vendor", harmonise="vendor")
