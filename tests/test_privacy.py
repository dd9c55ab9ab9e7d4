"""Pseudonymised identifiers (issue 8 §5): the keyed hash, its key, and outputs free of raw ids."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.privacy import (
    ID_COLUMNS,
    KEY_ENV,
    IdKeyError,
    Pseudonymiser,
    default_key_path,
    key_fingerprint,
    load_or_create_key,
    pseudonymise,
)

KEY = "test-key-0123456789abcdef-not-secret"
OTHER = "another-key-0123456789abcdef"


@pytest.fixture
def no_user_key(tmp_path, monkeypatch):
    """No key in the environment; the user's config folder is a temporary one."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "radiorisk" / "id_key"


# ----------------------------------------------------------------------------- the pseudonymiser


def test_pseudonyms_are_deterministic_per_key_and_differ_across_keys():
    ids = ["P000001", "P000002", "P000001", 7, "7"]
    a = pseudonymise(ids, KEY)
    assert all(re.fullmatch(r"pz_[0-9a-f]{16}", x) for x in a)
    assert a[0] == a[2] and a[0] != a[1] and a[3] == a[4]  # ids are hashed as text
    assert list(pseudonymise(ids, KEY)) == list(a)
    assert list(pseudonymise(ids, KEY.encode())) == list(a)  # text keys are their UTF-8 bytes
    b = pseudonymise(ids, OTHER)
    assert not set(a) & set(b)
    # missing and empty ids stay as they are
    m = pseudonymise(pd.Series(["P1", None, np.nan, ""], dtype=object), KEY)
    assert m[1] is None and np.isnan(m[2]) and m[3] == ""
    assert key_fingerprint(KEY) != key_fingerprint(OTHER) and len(key_fingerprint(KEY)) == 8


def test_short_or_missing_keys_are_refused():
    with pytest.raises(IdKeyError, match="at least 16"):
        pseudonymise(["P1"], "short")
    with pytest.raises(IdKeyError, match="needs a key"):
        Pseudonymiser()
    with pytest.raises(IdKeyError, match="RADIORISK_ID_KEY"):
        Pseudonymiser.from_options(environ={KEY_ENV: "tiny"})


def test_key_file_is_created_once_private_and_reused(no_user_key):
    assert default_key_path() == no_user_key
    p = Pseudonymiser.from_options()
    assert p.created and p.source == "user key file" and p.key_path == no_user_key
    assert stat.S_IMODE(no_user_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(no_user_key.parent.stat().st_mode) == 0o700
    text = no_user_key.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", text)
    q = Pseudonymiser.from_options()
    assert not q.created and q.key == p.key and no_user_key.read_text() == text
    assert list(q(["P1"])) == list(p(["P1"]))
    assert not list(no_user_key.parent.glob(".*tmp*"))
    # the key never shows in repr or provenance
    assert text.strip() not in repr(p) + json.dumps(p.provenance())
    assert p.provenance()["key_fingerprint"] == key_fingerprint(text)


def test_key_sources_in_order(no_user_key, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    p = Pseudonymiser.from_options()
    assert p.source == "environment" and p.key == KEY.encode() and not no_user_key.exists()
    f = tmp_path / "elsewhere" / "k"
    q = Pseudonymiser.from_options(key_file=f)  # an explicit file wins, and is created when missing
    assert q.source == "key file" and q.created and q.key != p.key
    assert Pseudonymiser.from_options(key=OTHER).key == OTHER.encode()
    k, created = load_or_create_key(f)
    assert k == q.key and not created
    with pytest.raises(IdKeyError, match="no such file"):
        load_or_create_key(tmp_path / "nope", create=False)


def test_raw_ids_opt_out(no_user_key):
    r = Pseudonymiser.from_options(raw_ids=True)
    assert r.raw and r.key is None and r.fingerprint is None and not no_user_key.exists()
    assert list(r(["P1", "P2"])) == ["P1", "P2"]
    assert r.provenance()["identifiers"].startswith("raw")
    with pytest.raises(IdKeyError, match="raw_ids writes identifiers unchanged"):
        Pseudonymiser.from_options(raw_ids=True, key=KEY)


def test_frames_and_text():
    p = Pseudonymiser(key=KEY)
    df = pd.DataFrame({"patient_id": ["P1", "P2"], "lesion_id": ["L1", "L2"], "age": [50, 60]},
                      index=pd.Index(["S1", "S2"], name="scan_id"))
    q = p.frame(df)
    assert list(q["patient_id"]) == list(pseudonymise(["P1", "P2"], KEY))
    assert list(q.index) == list(pseudonymise(["S1", "S2"], KEY)) and q.index.name == "scan_id"
    assert list(q["age"]) == [50, 60] and list(df["patient_id"]) == ["P1", "P2"]  # a copy
    mi = df.set_index("patient_id", append=True)
    assert set(p.frame(mi).index.get_level_values("patient_id")) == set(q["patient_id"])
    t = p.scrub_text("patient P1 (not P10), lesions L1/L2", ["P1", "L1", "L2"])
    pz1, l1 = pseudonymise(["P1", "L1"], KEY)
    assert t.startswith(f"patient {pz1} (not P10)") and l1 in t and "L1" not in t
    assert p.mapping(["P1", None, "", "P1"]) == {"P1": pz1}


def test_matching_key_and_link_back(no_user_key, tmp_path):
    made = Pseudonymiser(key=KEY)
    ident = made.provenance()
    assert Pseudonymiser.matching(ident, environ={}) is None  # no key available; none is created
    assert not no_user_key.exists()
    assert Pseudonymiser.matching(ident, environ={KEY_ENV: OTHER}) is None
    got = Pseudonymiser.matching(ident, environ={KEY_ENV: KEY})
    assert got.key == made.key and got.source == "environment"
    f = tmp_path / "k"
    f.write_text(KEY + "\n")
    assert Pseudonymiser.matching(ident, key_file=f, environ={KEY_ENV: OTHER}).source == "key file"
    assert Pseudonymiser.matching({"identifiers": "raw (--raw-ids)"}).raw
    shared = made.frame(pd.DataFrame({"patient_id": ["P1", "P2", None], "lesion_id": ["L1", "L2", "L3"]}))
    back = got.link_back(shared, ["P1", "P2", "L1", "L2"])
    assert back["patient_id"].tolist()[:2] == ["P1", "P2"] and back["patient_id"].isna().tolist()[2]
    assert back["lesion_id"].tolist()[:2] == ["L1", "L2"] and back["lesion_id"].iloc[2].startswith("pz_")


# ----------------------------------------------------------------------------- outputs


def raw_id_hits(root: Path, ids, *, exclude=()) -> dict[str, list[str]]:
    """Files under ``root`` (not under ``exclude``) containing any raw id, as bytes or decoded Parquet text."""
    ids = sorted({str(i) for i in ids if str(i)}, key=len, reverse=True)
    pat = re.compile(r"(?<![0-9A-Za-z_])(" + "|".join(map(re.escape, ids)) + r")(?![0-9A-Za-z_])")
    bpat = re.compile(pat.pattern.encode())
    exclude = [Path(e).resolve() for e in exclude]
    hits: dict[str, list[str]] = {}
    for f in sorted(root.rglob("*")):
        if not f.is_file() or any(f.resolve().is_relative_to(e) for e in exclude):
            continue
        found = {m.decode() for m in bpat.findall(f.read_bytes())}
        found |= set(pat.findall(f.relative_to(root).as_posix()))
        if f.suffix == ".parquet":  # compressed pages can hide a string from the byte scan
            t = pd.read_parquet(f)
            text = " ".join(map(str, [*t.columns, *t.index])) + " " + t.astype(str).to_csv(index=False)
            found |= set(pat.findall(text))
        if found:
            hits[f.relative_to(root).as_posix()] = sorted(found)[:5]
    return hits


def cohort_ids(data_dir: Path) -> list[str]:
    ids: set[str] = set()
    for name in ("patients", "scans", "lesions", "pet", "outcomes", "manifest"):
        f = data_dir / f"{name}.csv"
        if f.exists():
            t = pd.read_csv(f, dtype=str)
            for c in ID_COLUMNS:
                if c in t.columns:
                    ids |= set(t[c].dropna())
    return sorted(ids)


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    from radiorisk.datasets import write_synthetic_cohort

    d = tmp_path_factory.mktemp("privacy") / "data"
    write_synthetic_cohort(d, n=150, mode="established-cad", images=3, seed=8)
    return d


def test_fit_and_audit_outputs_carry_no_raw_ids(small_cohort, tmp_path, monkeypatch, no_user_key):
    """Fast variant of the demo scan: fit (radiomics from images, plaque measured) and audit."""
    from radiorisk.pipeline import run_audit, run_fit

    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "out"
    run = run_fit(small_cohort, out / "run", competing_risks=False, model="coxph", blocks="clinical,ccta,radiomics",
                  repeats=1, folds=3, seed=1, n_boot=0, measure=True,
                  params={"penalizer": 2.0, "screen_k": 5})
    assert (out / "run" / "radiomics" / "features.parquet").exists()
    assert not (out / "run" / "radiomics" / "features.parquet.parts").exists()  # the store is private
    # the audit reads an id column but never writes it
    oof = pd.read_csv(run.files["oof_predictions"], dtype={"patient_id": str})
    run_audit(run.files["oof_predictions"], out / "audit", risk_col="risk", time_col="time",
              event_col="event", groups=["sex"], intersections=False, figures=False)
    ids = cohort_ids(small_cohort)
    assert len(ids) > 300
    assert raw_id_hits(out, ids) == {}
    # the key is not in any output either
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    assert not no_user_key.exists()  # the environment's key was used; no key file written
    # the key's holder links back
    pid = pd.read_csv(small_cohort / "patients.csv", dtype=str)["patient_id"]
    back = dict(zip(pseudonymise(pid, KEY), pid, strict=True))
    assert set(oof["patient_id"]) <= set(back) and len(set(oof["patient_id"])) == len(pid)
    prov = json.loads(run.files["provenance"].read_text())
    assert prov["identifiers"]["identifiers"] == "pseudonymised"
    assert prov["identifiers"]["key_fingerprint"] == key_fingerprint(KEY)
    rad = pd.read_parquet(out / "run" / "radiomics" / "features.parquet")
    man = pd.read_csv(small_cohort / "manifest.csv", dtype=str)
    assert set(rad["lesion_id"]) == set(pseudonymise(man["lesion_id"], KEY))
    rprov = json.loads((out / "run" / "radiomics" / "features.provenance.json").read_text())
    assert rprov["identifiers"]["key_fingerprint"] == key_fingerprint(KEY)


def test_fit_raw_ids_opt_out_and_key_placement(small_cohort, tmp_path, monkeypatch, no_user_key):
    from radiorisk.exceptions import FitUsageError
    from radiorisk.pipeline import run_fit

    kw = dict(model="coxph", blocks="clinical", repeats=1, folds=2, seed=1, n_boot=0,
              params={"penalizer": 0.5})
    raw = run_fit(small_cohort, tmp_path / "raw", raw_ids=True, **kw)
    pid = set(pd.read_csv(small_cohort / "patients.csv", dtype=str)["patient_id"])
    oof_raw = pd.read_csv(raw.files["oof_predictions"], dtype={"patient_id": str})
    assert set(oof_raw["patient_id"]) == pid and not no_user_key.exists()
    assert "oof_predictions.csv" in raw_id_hits(tmp_path / "raw", pid)  # the scan does see raw ids
    assert json.loads(raw.files["provenance"].read_text())["identifiers"]["identifiers"].startswith("raw")
    # default: the user's key file, created once, outside the run; results do not depend on the key
    a = run_fit(small_cohort, tmp_path / "a", **kw)
    assert no_user_key.exists() and any("new id key" in n for n in a.notes)
    oof_a = pd.read_csv(a.files["oof_predictions"], dtype={"patient_id": str})
    key = no_user_key.read_text()
    assert list(oof_a["patient_id"]) == list(pseudonymise(oof_raw["patient_id"], key))
    b = run_fit(small_cohort, tmp_path / "b", id_key=OTHER, **kw)
    oof_b = pd.read_csv(b.files["oof_predictions"], dtype={"patient_id": str})
    assert not set(oof_a["patient_id"]) & set(oof_b["patient_id"])
    pd.testing.assert_series_equal(oof_a["risk"], oof_b["risk"])
    assert not any("new id key" in n for n in b.notes)
    # overwriting a --raw-ids run leaves no raw id behind (the engine's store included)
    (tmp_path / "raw" / "radiomics" / "features.parquet.parts").mkdir(parents=True)
    (tmp_path / "raw" / "radiomics" / "features.parquet.parts" / "store.json").write_text(
        json.dumps({"parts": {f"/data/images/{sorted(pid)[0]}_ct.nii.gz": {}}}))
    run_fit(small_cohort, tmp_path / "raw", id_key=KEY, overwrite=True, **kw)
    assert raw_id_hits(tmp_path / "raw", pid) == {}
    with pytest.raises(FitUsageError, match="outside the outputs"):
        run_fit(small_cohort, tmp_path / "c", id_key_file=tmp_path / "c" / "key", **kw)
    with pytest.raises(FitUsageError, match="radiomics_cache"):
        run_fit(small_cohort, tmp_path / "d", radiomics_cache=tmp_path / "d" / "cache", **kw)


def test_radiomics_failures_are_pseudonymised(tmp_path):
    """A failure row's image path and reason name neither the file nor the ids."""
    from types import SimpleNamespace

    from radiorisk.pipeline._fit_radiomics import write_radiomics as _write_radiomics

    d = tmp_path / "data"
    d.mkdir()
    (d / "manifest.csv").write_text(
        "lesion_id,scan_id,patient_id,image_path,mask_path,label,reader\n"
        "L0000001,S000001,P000001,images/L0000001_ct.nii.gz,images/L0000001_mask.nii.gz,2,reader1\n"
        "L0000002,S000002,P000002,images/L0000002_ct.nii.gz,images/L0000002_mask.nii.gz,2,reader1\n")
    img = str(d / "images" / "L0000002_ct.nii.gz")
    res = SimpleNamespace(
        features=pd.DataFrame({"patient_id": ["P000001"], "scan_id": ["S000001"], "lesion_id": ["L0000001"],
                               "reader": ["reader1"], "n_voxels": [10], "original_firstorder_Mean": [1.0]}),
        failures=pd.DataFrame({"lesion_id": ["L0000002"], "reader": ["reader1"], "image_path": [img],
                               "stage": ["read"], "reason": [f"cannot read {img}: lesion L0000002 of P000002"]}),
        provenance={"n_lesions": 2})
    p = Pseudonymiser(key=KEY)
    _write_radiomics(tmp_path / "run" / "radiomics", res, p, d / "manifest.csv")
    assert raw_id_hits(tmp_path / "run", cohort_ids(d)) == {}
    fails = pd.read_csv(tmp_path / "run" / "radiomics" / "features.failures.csv")
    link = pseudonymise(["images/L0000002_ct.nii.gz", "L0000002", "P000002"], KEY)
    assert fails.loc[0, "image_path"] == link[0] and fails.loc[0, "lesion_id"] == link[1]
    assert fails.loc[0, "reason"] == f"cannot read {link[0]}: lesion {link[1]} of {link[2]}"
    long = pd.read_parquet(tmp_path / "run" / "radiomics" / "features.parquet")
    assert set(long["patient_id"]) == {pseudonymise(["P000001"], KEY)[0]}


def test_fit_cli_flags(small_cohort, tmp_path, monkeypatch, no_user_key, capsys):
    import argparse

    from radiorisk.cli._fit import add_fit_parser

    p = argparse.ArgumentParser(prog="radiorisk")
    add_fit_parser(p.add_subparsers(dest="command"))
    keyfile = tmp_path / "private" / "key"
    args = p.parse_args(["fit", "--censor-competing", "--data", str(small_cohort), "--model", "coxph", "--blocks", "clinical",
                         "--out", str(tmp_path / "RUN"), "--repeats", "1", "--folds", "2", "--n-boot", "0",
                         "--param", "penalizer=0.5", "--id-key-file", str(keyfile), "--quiet"])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "created the id key" in err and str(keyfile) in err
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    prov = (tmp_path / "RUN" / "provenance.json").read_text()
    assert str(keyfile) not in prov and keyfile.read_text().strip() not in prov
    with pytest.raises(SystemExit):
        p.parse_args(["fit", "--censor-competing", "--data", "D", "--model", "coxph", "--blocks", "clinical", "--out", "R",
                      "--raw-ids", "--id-key-file", "k"])


def test_audit_refuses_identifier_groups(tmp_path):
    from radiorisk.exceptions import AuditUsageError
    from radiorisk.pipeline import run_audit

    f = tmp_path / "p.csv"
    f.write_text("patient_id,risk,time,event\nP1,0.1,100,1\nP2,0.2,200,0\n")
    with pytest.raises(AuditUsageError, match="identifier is not a group"):
        run_audit(f, tmp_path / "a", risk_col="risk", time_col="time", event_col="event",
                  groups=["patient_id"])


# ----------------------------------------------------------------------------- the demo


def test_demo_outputs_carry_no_raw_ids(tmp_path, monkeypatch, no_user_key):
    """``radiorisk demo --quick``: no file outside the synthetic input folder holds a raw id."""
    from radiorisk.pipeline import run_demo

    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "demo"
    run_demo(out, quick=True, progress=False)
    ids = cohort_ids(out / "data")
    hits = raw_id_hits(out, ids, exclude=[out / "data"])
    assert hits == {}, "files with raw ids (file: first ids found): " + json.dumps(hits, indent=1)
    for f in out.rglob("*"):
        if f.is_file() and not f.is_relative_to(out / "data"):
            assert KEY.encode() not in f.read_bytes(), f
    assert not no_user_key.exists()
