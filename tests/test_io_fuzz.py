"""Property test: whatever a cell holds, validate() reports, never raises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiorisk.io import validate
from radiorisk.schemas import load_schema

TABLES = ("patients", "scans", "lesions", "pet", "outcomes", "manifest")

cell_text = st.one_of(
    st.sampled_from(["", " ", "NA", "nan", "None", "true", "FALSE", "yes", "-1", "0", "1e309",
                     "inf", "-inf", "3.5", "2021-02-30", "P001", "S001", "L001", "2,3", "'x'",
                     "Female", " female", "1" * 30, "é", "\"", "a,b"]),
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_validate_never_raises(_io_valid_template: Path, tmp_path_factory, data):
    d = tmp_path_factory.mktemp("fuzz") / "c"
    shutil.copytree(_io_valid_template, d)
    for _ in range(data.draw(st.integers(1, 4))):
        table = data.draw(st.sampled_from(TABLES))
        df = pd.read_csv(d / f"{table}.csv", dtype=str, keep_default_na=False)
        column = data.draw(st.sampled_from(load_schema(table).field_names + ["extra"]))
        row = data.draw(st.integers(0, len(df) - 1))
        df.loc[row, column] = data.draw(cell_text)
        df.to_csv(d / f"{table}.csv", index=False)
    report = validate(d, check_images=data.draw(st.booleans()))
    assert report.format()  # formats without error
    assert set(report.to_frame()["severity"]) <= {"error", "warning"}
