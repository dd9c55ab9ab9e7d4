"""Property tests: whatever a table file holds, reading it ends in a clear report or error.

Cells (wrong types, huge values, unicode, markers) and whole files (encodings,
BOMs, invalid UTF-8, NUL bytes, empty, header-only, ragged rows, missing,
extra and duplicated columns, duplicated keys, unbalanced quotes, old Mac line
endings) are mutated in a copy of the small valid cohort.  Then

* :func:`radiorisk.io.validate` returns a report (never raises) whose rows name
  a known rule, and mutations that must be errors are errors with the right rule;
* :func:`radiorisk.io.read_cohort` raises :class:`SchemaError` exactly when the
  report has an error, and otherwise returns typed tables in which no cell that
  holds a value in the file became missing (no silent NaN);
* ``radiorisk validate`` exits 2 listing the rules, or 0 (a subset of cases).

The fast variants run in ``make test``; the ``slow`` ones try many more cases.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fuzz_counter import count, counting_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiorisk.cli import main
from radiorisk.exceptions import SchemaError
from radiorisk.io import RULES, read_cohort, validate
from radiorisk.schemas import load_schema

_counts = counting_fixture(__name__)

TABLES = ("patients", "scans", "lesions", "pet", "outcomes", "manifest")
FILE_TABLES = TABLES + ("truth",)
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]

cell_text = st.one_of(
    st.sampled_from(["", " ", "NA", "nan", "None", "true", "FALSE", "yes", "-1", "0", "1e309",
                     "inf", "-inf", "3.5", "2021-02-30", "P001", "S001", "L001", "2,3", "'x'",
                     "Female", " female", "1" * 30, "é", "\"", "a,b", "9" * 400, "-" + "9" * 25,
                     "18446744073709551616", "1e-320", "0x1A", "1_000", "P００１", "P001\u200b",
                     "\U0001F600", "Ω", "2021-13-01", "1/2/2021", "TRUE ", "١٢٣"]),
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)


def _fresh(template: Path, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz") / "c"
    shutil.copytree(template, d)
    return d


def _rules(report) -> set[str]:
    return set(report.to_frame()["rule"])


def _check_report(report) -> None:
    v = report.to_frame()
    assert report.format()  # formats without error
    assert set(v["severity"]) <= {"error", "warning"}
    assert set(v["rule"]) <= set(RULES)
    assert v["message"].map(lambda m: isinstance(m, str) and len(m) > 5).all()
    assert report.ok == (report.n_errors == 0)


def _no_silent_nan(cohort, folder: Path) -> None:
    """Every cell holding a value in a (UTF-8) CSV is present in the typed table."""
    for table in TABLES:
        path = folder / f"{table}.csv"
        if not path.is_file():
            continue
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
        if not text.strip():
            continue
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
        typed = getattr(cohort, table)
        schema = load_schema(table)
        markers = set(schema.missing_values)
        for c in schema.field_names:
            if c not in raw.columns:
                continue
            present = ~raw[c].str.strip().isin(markers | {""})
            lost = present.to_numpy() & typed[c].isna().to_numpy()
            assert not lost.any(), (table, c, raw.loc[lost, c].tolist()[:3])


def _consistency(d: Path, *, cli: bool = False, check_images: bool = False) -> object:
    report = validate(d, check_images=check_images)
    _check_report(report)
    try:
        cohort = read_cohort(d, check_images=check_images)
    except SchemaError as exc:
        assert not report.ok, "read_cohort raised but validate found no error"
        assert exc.report is not None and exc.report.n_errors == report.n_errors
        assert str(exc)
    else:
        assert report.ok, report.format(max_lines=5)
        _no_silent_nan(cohort, d)
    if cli:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["validate", "--max-lines", "100000", str(d)]
                        + ([] if check_images else ["--no-images"]))
        text = out.getvalue()
        assert code == (0 if report.ok else 2)
        for rule in _rules(report):
            assert f"[{rule}]" in text
    return report


# -- cells ---------------------------------------------------------------------------------

def _cell_case(template, tmp_path_factory, data, *, cli: bool):
    d = _fresh(template, tmp_path_factory)
    for _ in range(data.draw(st.integers(1, 4))):
        table = data.draw(st.sampled_from(TABLES))
        df = pd.read_csv(d / f"{table}.csv", dtype=str, keep_default_na=False)
        column = data.draw(st.sampled_from(load_schema(table).field_names + ["extra"]))
        row = data.draw(st.integers(0, len(df) - 1))
        df.loc[row, column] = data.draw(cell_text)
        df.to_csv(d / f"{table}.csv", index=False)
    _consistency(d, cli=cli, check_images=data.draw(st.booleans()))


@settings(max_examples=15, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_validate_never_raises(_io_valid_template: Path, tmp_path_factory, data):
    count("test_validate_never_raises")
    _cell_case(_io_valid_template, tmp_path_factory, data, cli=False)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_validate_never_raises_many(_io_valid_template: Path, tmp_path_factory, data):
    count("test_validate_never_raises_many")
    _cell_case(_io_valid_template, tmp_path_factory, data, cli=data.draw(st.booleans()))


# -- whole files ---------------------------------------------------------------------------

class Pick:
    """Random choices for :func:`_mutate`: from hypothesis, or from a seeded generator."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def int(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]

    def bytes(self) -> bytes:
        return bytes(self.rng.integers(0, 256, size=self.int(1, 6)).astype(np.uint8).tolist())


class HypothesisPick(Pick):
    def __init__(self, data):
        self.data = data

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, seq):
        return self.data.draw(st.sampled_from(list(seq)))

    def bytes(self) -> bytes:
        return self.data.draw(st.binary(min_size=1, max_size=6))


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _mutate(kind: str, text: str, table: str, pick: Pick) -> tuple[bytes, set[str] | None]:
    """Mutated file bytes and the rules of which one must be reported (None: any outcome)."""
    lines = _lines(text)
    cols = lines[0].split(",")
    if kind in ("drop_column", "extra_column", "duplicate_header", "unicode_id", "huge_value"):
        try:  # these edit a parsed table; leave an already unparsable file as it is
            pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, ValueError):
            return text.encode(), None
    n_data = len(lines) - 1
    row = pick.int(1, n_data) if n_data else 0
    if kind == "latin1":
        lines[row] = "Zürich" + lines[row]
        return _join(lines).encode("latin-1"), {"encoding"}
    if kind == "cp1252_quote":
        return (_join(lines[:1]) + "\u201cquoted\u201d," + _join(lines[1:])).encode("cp1252"), {"encoding"}
    if kind == "utf16":
        return text.encode("utf-16"), {"encoding"}
    if kind == "utf16_be_bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be"), {"encoding"}
    if kind == "utf16_no_bom":
        return text.encode("utf-16-le"), {"encoding"}
    if kind == "bom":
        return codecs.BOM_UTF8 + text.encode("utf-8"), set()
    if kind == "invalid_utf8":
        raw = text.encode("utf-8")
        at = pick.int(0, len(raw))
        return raw[:at] + pick.choice([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80"]) + raw[at:], {"encoding"}
    if kind == "random_bytes":
        raw = text.encode("utf-8")
        at = pick.int(0, len(raw))
        return raw[:at] + pick.bytes() + raw[at:], None
    if kind == "nul_byte":
        raw = text.encode("utf-8")
        at = pick.int(len(lines[0]) + 1, max(len(lines[0]) + 1, len(raw) - 1))
        return raw[:at] + b"\x00" + raw[at:], {"encoding"}
    if kind == "empty":
        return b"", {"empty_file"}
    if kind == "blank":
        return b"\n \r\n\t\n", {"empty_file"}
    if kind == "header_only":
        return (lines[0] + "\n").encode(), None
    if kind == "ragged_short":
        if not n_data or len(cols) < 2 or '"' in lines[row]:
            return text.encode(), None
        lines[row] = ",".join(lines[row].split(",")[: pick.int(1, len(cols) - 1)])
        return _join(lines).encode(), {"malformed_csv"}
    if kind == "ragged_long":
        if not n_data:
            return text.encode(), None
        lines[row] = lines[row] + "," + ",".join(["x"] * pick.int(1, 3))
        return _join(lines).encode(), {"malformed_csv"}
    if kind == "drop_column":
        i = pick.int(0, len(cols) - 1)
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        name = df.columns[i]
        must = {"missing_column"} if name in load_schema(table).required else None
        return df.drop(columns=[name]).to_csv(index=False).encode(), must
    if kind == "extra_column":
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        df[pick.choice(["extra", "Patient_ID", "age years", "ü", " "])] = "1"
        return df.to_csv(index=False).encode(), (None if table == "truth" else {"unknown_column", "missing_column"})
    if kind == "duplicate_header":
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        name = df.columns[pick.int(0, len(df.columns) - 1)]
        return (_join([lines[0] + "," + name] + [ln + ",dup" for ln in lines[1:]])).encode(), {"duplicate_column"}
    if kind == "duplicate_key":
        if not n_data or not load_schema(table).primary_key:
            return text.encode(), None
        return _join(lines + [lines[row]]).encode(), {"unique"}
    if kind == "unicode_id":
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        key = df.columns[0]
        if len(df):
            df.loc[row - 1, key] = pick.choice(["P００１", "Pé01", "\U0001F600", "P001\u200b",
                                                                "患者1", "P001 ", "p001"])
        return df.to_csv(index=False).encode("utf-8"), None
    if kind == "huge_value":
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        numeric = [f.name for f in load_schema(table).fields if f.type in ("number", "integer") and f.name in df]
        if not numeric or not len(df):
            return text.encode(), None
        c = pick.choice(numeric)
        v = pick.choice(["9" * 400, "1e309", "-1e309", "18446744073709551616",
                                       "9223372036854775808", "1e308", "-1e308", "1e-400"])
        df.loc[row - 1, c] = v
        return df.to_csv(index=False).encode(), None
    if kind == "unbalanced_quote":
        if not n_data:
            return text.encode(), None
        lines[row] = '"' + lines[row]
        return _join(lines).encode(), None
    if kind == "cr_only":
        return text.replace("\n", "\r").encode(), set()
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode(), set()
    if kind == "semicolon":
        return text.replace(",", ";").encode(), {"delimiter", "missing_column"}
    raise AssertionError(kind)


KINDS = ["latin1", "cp1252_quote", "utf16", "utf16_be_bom", "utf16_no_bom", "bom", "invalid_utf8",
         "random_bytes", "nul_byte", "empty", "blank", "header_only", "ragged_short", "ragged_long",
         "drop_column", "extra_column", "duplicate_header", "duplicate_key", "unicode_id", "huge_value",
         "unbalanced_quote", "cr_only", "crlf", "semicolon"]


def _file_case(template, tmp_path_factory, data, *, cli: bool):
    d = _fresh(template, tmp_path_factory)
    must: dict[str, tuple[list[str], set[str] | None]] = {}
    pick = HypothesisPick(data)
    for _ in range(pick.int(1, 2)):
        table = pick.choice(FILE_TABLES)
        kind = pick.choice(KINDS)
        if table in must:
            continue  # one mutation per table: a second pandas rewrite could repair the first
        path = d / f"{table}.csv"
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        if not text.strip() or "\ufffd" in text or "\r" in text or b"\x00" in raw or raw[:3] == b"\xef\xbb\xbf":
            continue  # already mutated beyond a text transformation
        new, rules = _mutate(kind, text, table, pick)
        path.write_bytes(new)
        must[table] = ([kind], rules)
    report = _consistency(d, cli=cli)
    v = report.to_frame()
    must = {t: kr for t, kr in must.items() if kr[1]}
    for table, (kinds, rules) in must.items():
        got = set(v.loc[v["table"] == table, "rule"])
        assert got & rules, (table, kinds, rules, report.format(max_lines=10))
        assert not report.ok
    if not must:
        return
    # every error names its file; cell-level errors name a row and column
    err = v[v["severity"] == "error"]
    assert err["file"].notna().all()
    cell_rules = {"type", "minimum", "maximum", "enum", "pattern", "required"}
    cells = err[err["rule"].isin(cell_rules) & err["row"].notna()]
    assert cells["column"].notna().all()


@settings(max_examples=25, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_malformed_files_give_clear_reports(_io_valid_template: Path, tmp_path_factory, data):
    count("test_malformed_files_give_clear_reports")
    _file_case(_io_valid_template, tmp_path_factory, data, cli=False)


@settings(max_examples=6, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_cli_validate_on_malformed_files(_io_valid_template: Path, tmp_path_factory, data):
    count("test_cli_validate_on_malformed_files")
    _file_case(_io_valid_template, tmp_path_factory, data, cli=True)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=HEALTH)
@given(data=st.data())
def test_malformed_files_many(_io_valid_template: Path, tmp_path_factory, data):
    count("test_malformed_files_many")
    _file_case(_io_valid_template, tmp_path_factory, data, cli=data.draw(st.booleans()))


@pytest.mark.parametrize("kind", KINDS)
def test_each_file_mutation_once(kind, _io_valid_template: Path, tmp_path_factory):
    """Every mutation kind, deterministically, on patients.csv or manifest.csv (CLI on every third)."""
    i = KINDS.index(kind)
    table = ("patients", "manifest")[i % 2]
    count("test_each_file_mutation_once")
    d = _fresh(_io_valid_template, tmp_path_factory)
    path = d / f"{table}.csv"
    new, rules = _mutate(kind, path.read_text(encoding="utf-8"), table, Pick(i))
    path.write_bytes(new)
    report = _consistency(d, cli=i % 3 == 0)
    if rules:
        assert _rules(report) & rules, (kind, table, report.format(max_lines=10))
    if rules == set():
        assert report.ok, (kind, table, report.format(max_lines=10))
