"""The manifest of an extraction or measurement, checked like ``radiorisk validate`` checks it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputFileError, SchemaError
from ..io import Collector, RawTable, check_paths, check_table, read_raw
from ..schemas import load_schema

__all__ = ["read_manifest_for_extraction"]

#: the manifest columns an extraction cannot do without; the schema's other required columns are optional here
_NEEDED = ("lesion_id", "image_path", "mask_path", "label")


def _manifest_schema():
    base = load_schema("manifest")
    return dataclasses.replace(base, fields=tuple(
        f if f.name in _NEEDED or not f.required else dataclasses.replace(f, required=False)
        for f in base.fields))


def _as_file_text(df: pd.DataFrame) -> pd.DataFrame:
    """An in-memory manifest with its values as the text a file would hold."""
    df = df.copy()
    if "labels" in df.columns and "label" not in df.columns:  # our own output, passed back in
        df["label"] = [",".join(str(int(x)) for x in v) if isinstance(v, (tuple, list)) else v
                       for v in df["labels"]]
        df = df.drop(columns=["labels"])
    for c in df.columns:  # in-memory values (Path, int, float labels) as the text a file would hold
        if df[c].dtype == object or not pd.api.types.is_string_dtype(df[c].dtype):
            df[c] = [v if isinstance(v, str) or v is None or (isinstance(v, float) and v != v)
                     else str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer()
                     else str(v) for v in df[c]]
    return df


def _read_file(path: Path, schema, col: Collector) -> RawTable:
    if not path.is_file():
        raise InputFileError(f"manifest {path} does not exist" if not path.exists()
                             else f"manifest {path} is not a file")
    raw = read_raw(path, schema, col)
    if raw.frame is None:
        raise InputFileError(f"manifest {path} cannot be read: "
                             + "; ".join(col.frame()["message"].astype(str)))
    return raw


def _check_labels(typed: pd.DataFrame, col: Collector) -> None:
    if "label" not in typed:
        return
    for pos, v in enumerate(typed["label"].tolist()):  # label 0 is the background: never a lesion
        if isinstance(v, str) and any(x.strip() and int(x) == 0 for x in v.split(",")
                                      if x.strip().isdigit()):
            col.add("manifest", "minimum", f"label {v!r} includes 0, the background; lesion "
                    "labels are 1 or more", row=pos + 1, column="label", value=v)


def _extraction_rows(typed: pd.DataFrame, base_dir: Path) -> pd.DataFrame:
    def absolute(p) -> str:
        q = Path(str(p).strip())
        return str(q if q.is_absolute() else (base_dir / q))

    def ids(c):
        return typed[c].fillna("").astype(str) if c in typed else ""

    out = pd.DataFrame(
        {
            "patient_id": ids("patient_id"),
            "scan_id": ids("scan_id"),
            "lesion_id": typed["lesion_id"].astype(str),
            "reader": typed["reader"].astype(str),
            "image_path": typed["image_path"].map(absolute),
            "mask_path": typed["mask_path"].map(absolute),
        }
    )
    out["labels"] = [tuple(int(x) for x in str(v).split(",")) for v in typed["label"]]
    return out.reset_index(drop=True)


def read_manifest_for_extraction(manifest, *, allow_outside_root: bool = False, root=None) -> pd.DataFrame:
    """Manifest rows with absolute image and mask paths and a ``reader`` column.

    The manifest is checked like ``radiorisk validate`` checks it (file
    encoding and format, required columns and cells, label lists, reader
    names, duplicated ``(lesion_id, reader)``), and every problem is reported
    at once with its row, column, value and rule.  Image and mask paths must
    stay inside the data root, the manifest's folder: a path that leads outside
    it (``../``, an absolute path elsewhere, or a symbolic link to elsewhere)
    is refused unless ``allow_outside_root``.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        A manifest CSV/Parquet (paths relative to its folder) or a DataFrame
        with absolute paths (or paths relative to ``root``, default the working
        directory).  A DataFrame returned by this function is accepted as is.
    allow_outside_root : bool, default False
        Accept image/mask paths that lead outside the data root.
    root : str or Path, optional
        The data root of a DataFrame manifest.  Without it an in-memory
        manifest's paths are taken as given (the caller built them) and not
        confined; with it they are confined to ``root`` like a file's.

    Returns
    -------
    DataFrame
        ``patient_id, scan_id, lesion_id, reader, image_path, mask_path, labels``
        (labels: tuple of int; empty ids when the manifest has none).

    Raises
    ------
    InputFileError
        The manifest file is missing, empty, has no rows, or is not UTF-8
        comma-separated CSV / valid Parquet.
    SchemaError
        Cells or paths break a rule; ``exc.report`` lists every violation
        (rules ``missing_column``, ``required``, ``pattern``, ``unique``,
        ``minimum``, ``path_outside_root``, ...).
    """
    schema = _manifest_schema()
    col = Collector()
    if isinstance(manifest, pd.DataFrame):
        src = "manifest (DataFrame)"
        data_root = Path(root) if root is not None else None
        base_dir = data_root if data_root is not None else Path.cwd()
        col.files["manifest"] = src
        raw = RawTable("manifest", None, _as_file_text(manifest).reset_index(drop=True))
    else:
        path = Path(manifest)
        raw = _read_file(path, schema, col)
        src = str(path)
        data_root = base_dir = path.parent
    typed, _, _ = check_table(raw, schema, col, allow_extra_columns=True)
    _check_labels(typed, col)
    if data_root is not None and len(typed):
        check_paths(typed, base=data_root, col=col, allow_outside_root=allow_outside_root)
    if col.n_errors:
        report = col.report(src, {"manifest": len(typed)}, images_checked=False)
        raise SchemaError(f"{src} is not a valid manifest:\n{report.format(max_lines=20)}", report)
    if len(typed) == 0:
        raise InputFileError(f"{src} has no rows: nothing to extract or measure")
    return _extraction_rows(typed, base_dir)
