"""The deterministic CSV writer of the synthetic tables (byte-identical for the same data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["write_csv"]


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Deterministic CSV: header unquoted, ``\\n`` line ends, empty missing values,
    booleans ``true``/``false``, floats in shortest round-trip form (no ``-0``).

    Uses pyarrow's writer (about 10x faster than pandas); falls back to pandas
    when a string value would need quoting.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> write_csv(pd.DataFrame({"a": [-0.0, 1.5], "b": [True, False]}), p)
    >>> p.read_text()
    'a,b\\n0,true\\n1.5,false\\n'
    """
    clean = {}
    for col in df.columns:
        s = df[col]
        if s.dtype.kind == "f":
            v = s.to_numpy()
            s = pd.Series(np.where(v == 0, 0.0, v), index=s.index)
        clean[col] = s
    clean = pd.DataFrame(clean)
    try:
        table = pa.Table.from_pandas(clean, preserve_index=False)
        with open(path, "wb") as fh:
            fh.write((",".join(map(str, df.columns)) + "\n").encode())
            pacsv.write_csv(table, fh, write_options=pacsv.WriteOptions(
                include_header=False, quoting_style="none"))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        out = clean.copy()
        for col in out.columns:
            if out[col].dtype == bool or str(out[col].dtype) == "boolean":
                out[col] = out[col].map({True: "true", False: "false"}).astype(object)
        out.to_csv(path, index=False, lineterminator="\n", na_rep="")
