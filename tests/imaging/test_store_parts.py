"""The store's parts: the column-by-column Arrow writer reads back as pandas' own conversion does.

``_store.arrow_table`` replaced ``pa.Table.from_pandas`` for the parts (30 ms a part against 5 ms,
no 200 kB pandas metadata); the consolidated tables are built from parts read back, so a part must
read back to the very frame the ``from_pandas`` part gave, and an old store's parts (written with
``from_pandas``) must read alike; the rows the writer hands back (the engine's consolidation uses
them instead of reading its own parts again) must be the rows read from the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiorisk.imaging._engine import _write_parquet_file
from radiorisk.imaging._split import assemble_part
from radiorisk.imaging._store import FAILURE_COLUMNS, _write_frame, read_part, to_long, write_part


def _write_part_with_from_pandas(path: Path, part: dict) -> None:
    """The part writer before 2026-12-04: pandas' conversion, pandas metadata, default Parquet options."""
    feats, fails = part["features"].assign(_kind="features"), part["failures"].assign(_kind="failure")
    table = pd.concat([feats, fails], ignore_index=True, sort=False)
    for col in ("lesion_id", "reader"):
        table[col] = table[col].astype(str)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)


values = st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64),
                   st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308]))


@st.composite
def parts(draw):
    """Rows and failures of one image as the workers return them (any mix, any order)."""
    n_features = draw(st.integers(1, 6))
    names = [f"original_firstorder_F{k}" for k in range(n_features)]
    results = []
    for index in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            row = {"lesion_id": f"L{index}", "reader": draw(st.sampled_from(["reader1", "r2"])),
                   "n_voxels": draw(st.integers(1, 10**6))}
            row |= {n: draw(values) for n in names}
            results.append((index, "row", row))
        else:
            results.append((index, "failure", {
                "lesion_id": f"L{index}", "reader": "reader1", "image_path": "/x/img.nii.gz",
                "stage": draw(st.sampled_from(["read_image", "mask", "features"])),
                "reason": draw(st.text(max_size=12))}))
    return assemble_part(draw(st.permutations(results)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts())
def test_a_part_reads_back_as_the_from_pandas_part_did(part):
    with tempfile.TemporaryDirectory() as d:
        store = Path(d)
        entry = write_part(store / "new.parquet", part, write_table=_write_parquet_file, fingerprint="f",
                           image_path="/x/img.nii.gz")
        _write_part_with_from_pandas(store / "old.parquet", part)
        new, old = read_part(store, entry["file"]), read_part(store, "old.parquet")
    pd.testing.assert_frame_equal(new, old, check_exact=True)  # values, NaN, dtypes, columns, index
    # the rows the writer hands back are the rows read from the file
    pd.testing.assert_frame_equal(entry["_rows"], new, check_exact=True)
    assert list(entry["_rows"].dtypes.astype(str)) == list(new.dtypes.astype(str))
    assert list(new.dtypes.astype(str)) == list(old.dtypes.astype(str))
    assert entry["rows"] == len(new)


def test_a_part_keeps_its_fingerprint_and_no_pandas_metadata(tmp_path):
    part = assemble_part([(0, "row", {"lesion_id": "L0", "reader": "r", "n_voxels": 7, "f": np.nan}),
                          (1, "failure", dict(zip(FAILURE_COLUMNS, ["L1", "r", "img", "mask", "absent"],
                                                  strict=True)))])
    write_part(tmp_path / "p.parquet", part, write_table=_write_parquet_file, fingerprint="abc", image_path="img")
    meta = pq.read_schema(tmp_path / "p.parquet").metadata
    assert b"pandas" not in meta and b'"fingerprint": "abc"' in meta[b"radiorisk"]
    got = read_part(tmp_path, "p.parquet")
    assert got["_kind"].tolist() == ["features", "failure"] and got["n_voxels"].dtype == np.float64
    assert np.isnan(got.loc[0, "f"]) and got.loc[1, "stage"] == "mask" and got.loc[0, "stage"] is None


@st.composite
def long_frames(draw):
    """Long feature tables as to_long makes them (identifiers, feature names, any float values)."""
    n = draw(st.integers(0, 40))
    text = st.one_of(st.text(max_size=8), st.sampled_from(["P1", "S000002", "L0001", "reader1", "é"]))
    frame = pd.DataFrame({c: [draw(text) for _ in range(n)] for c in ("patient_id", "scan_id", "lesion_id", "reader")})
    frame["feature"] = [draw(st.sampled_from(["original_firstorder_Mean", "wavelet-LLH_glcm_Idm", "x"]))
                        for _ in range(n)]
    frame["value"] = np.array([draw(values) for _ in range(n)], dtype=float)
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_frames())
def test_the_long_table_is_written_byte_for_byte_as_to_parquet_writes_it(frame):
    """_write_frame converts in one thread instead of pandas' pool: the same file, byte for byte."""
    with tempfile.TemporaryDirectory() as d:
        a, b = Path(d) / "a.parquet", Path(d) / "b.parquet"
        frame.to_parquet(a, index=False)
        _write_frame(frame, b)
        assert a.read_bytes() == b.read_bytes()


def test_to_long_keeps_melts_order_and_dtypes():
    wide = pd.DataFrame({"patient_id": ["P1", "P2"], "scan_id": ["S1", "S2"], "lesion_id": ["L1", "L2"],
                         "reader": ["r", "r"], "n_voxels": [3, 4], "f_b": [1.0, np.nan], "f_a": [2.5, -0.0]})
    melt = wide.melt(id_vars=["patient_id", "scan_id", "lesion_id", "reader"], value_vars=["f_b", "f_a"],
                     var_name="feature", value_name="value")
    pd.testing.assert_frame_equal(to_long(wide), melt, check_exact=True)
    wide["f_i"] = [1, 2]  # not a table of float features: melt's own result
    melt = wide.melt(id_vars=["patient_id", "scan_id", "lesion_id", "reader"], value_vars=["f_b", "f_a", "f_i"],
                     var_name="feature", value_name="value")
    pd.testing.assert_frame_equal(to_long(wide), melt, check_exact=True)
