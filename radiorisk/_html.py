"""The one HTML table of radiorisk: report pages and notebook views (``_repr_html_``) alike.

Cross-cutting (it imports no radiorisk layer), so that a result object of any layer can
show itself in a notebook with the same escaped table the reports use. The table comes
from the template ``radiorisk/_templates/table.html.j2`` (jinja2, autoescaped); numbers
are written by :func:`fmt`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from markupsafe import Markup

if TYPE_CHECKING:
    import jinja2

__all__ = ["fmt", "table_html", "repr_html", "escape_value"]


def escape_value(value) -> Markup:
    """Escape a template value as :func:`html.escape` does (``&quot;``, ``&#x27;``); Markup passes.

    The ``finalize`` of every radiorisk jinja2 environment.

    Examples
    --------
    >>> str(escape_value("<a 'b'>"))
    '&lt;a &#x27;b&#x27;&gt;'
    """
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(html.escape(str(value), quote=True))


@cache
def _env() -> jinja2.Environment:
    import jinja2  # here: the modules that import this one (io, every result's _repr_html_) start faster

    return jinja2.Environment(loader=jinja2.PackageLoader("radiorisk", "_templates"), autoescape=True,
                              finalize=escape_value, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def fmt(v, digits: int = 3) -> str:
    """A number for a table or a sentence: ``digits`` significant digits, ``—`` when missing.

    Parameters
    ----------
    v : object
    digits : int

    Returns
    -------
    str

    Examples
    --------
    >>> fmt(0.123456), fmt(float("nan")), fmt(12), fmt("a")
    ('0.123', '—', '12', 'a')
    """
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "—" if not np.isfinite(v) else f"{float(v):.{digits}g}"
    if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return "—"
    return str(v)


def _left_columns(f: pd.DataFrame, align: bool) -> dict:
    return {c: "l" if align and (not pd.api.types.is_numeric_dtype(f[c])
                                 or pd.api.types.is_bool_dtype(f[c])) else None for c in f.columns}


def table_html(frame: pd.DataFrame, *, caption: str = "", max_rows: int = 300, header: bool = True,
               row_header: bool = False, css_class: str | None = None, align: bool = True,
               cell_class: Callable[[str, object], str | None] | None = None,
               row_class: Callable[[dict], str | None] | None = None,
               empty: str | None = "(none)", more_text: str = "{n} more row(s) not shown.",
               digits: int = 4, index: bool = False, header_if_empty: bool = False) -> Markup:
    """An escaped HTML table of ``frame``: the one table helper of radiorisk.

    Parameters
    ----------
    frame : DataFrame
        Cells are written with :func:`fmt` (``digits`` significant digits; strings as they are).
    caption : str
    max_rows : int
        Longer frames are cut with a note.
    header : bool
        Write the column names as a header row.
    row_header : bool
        Write the first column as row headers (``<th>``), e.g. for key-value tables.
    css_class : str, optional
        The ``class`` of the ``<table>``.
    align : bool
        Mark text columns ``class="l"`` (left-aligned; numbers are right-aligned).
    cell_class : callable, optional
        ``cell_class(column, value)`` gives the ``class`` of a body cell (default: as ``align``).
    row_class : callable, optional
        ``row_class(row)`` gives the ``class`` of a body row (``row``: ``{column: value}``),
        e.g. to highlight flagged rows.
    empty : str or None
        What an empty frame shows (``None``: nothing).
    more_text : str
        The note under a cut table (``{n}``: the rows not shown).
    digits : int
        Significant digits of floats.
    index : bool
        Show the index as the first column (row headers).
    header_if_empty : bool
        For a frame with columns but no rows, write a table of the header alone (the
        notebook views), instead of ``empty``.

    Returns
    -------
    Markup

    Examples
    --------
    >>> str(table_html(pd.DataFrame({"group": ["a<b"], "n": [3]}), caption="x"))
    '<table><caption>x</caption><thead><tr><th class="l">group</th><th>n</th></tr></thead><tbody><tr><td class="l">a&lt;b</td><td>3</td></tr></tbody></table>'
    >>> str(table_html(pd.DataFrame(), caption="x"))
    '<p class="empty"><strong>x</strong>: (none)</p>'
    """
    if index and frame is not None:
        frame = frame.reset_index()
        row_header = True
    rows, head, more = [], [], 0
    if frame is not None and len(frame):
        f = frame.head(max_rows)
        left = _left_columns(f, align)
        head = [{"text": str(c), "cls": left[c]} for c in f.columns] if header else []
        for rec in f.itertuples(index=False):
            cells = []
            for k, (c, v) in enumerate(zip(f.columns, rec, strict=True)):
                th = row_header and k == 0
                cls = None if th else (cell_class(c, v) if cell_class is not None else left[c])
                cells.append({"tag": "th" if th else "td", "cls": cls, "text": fmt(v, digits)})
            rcls = row_class(dict(zip(f.columns, rec, strict=True))) if row_class is not None else None
            rows.append({"cls": rcls, "cells": cells})
        more = len(frame) - len(f)
    elif header_if_empty and frame is not None and header and len(frame.columns):
        head = [{"text": str(c), "cls": None} for c in frame.columns]
    table = {"rows": rows, "header": head, "caption": caption, "css_class": css_class,
             "more": more_text.format(n=more) if more else "", "empty": empty}
    return Markup(_env().get_template("table.html.j2").render(table=table))


def repr_html(title: str, frame: pd.DataFrame | None = None, lines: Sequence[str] = (), *,
              max_rows: int = 20, digits: int = 4, index: bool = False) -> str:
    """The notebook view (``_repr_html_``) of a result: a title, a few statements and a table.

    Parameters
    ----------
    title : str
    frame : DataFrame, optional
    lines : sequence of str
        Statements shown as a list under the title.
    max_rows : int
    digits : int
    index : bool
        Show the frame's index (e.g. covariate names).

    Returns
    -------
    str

    Examples
    --------
    >>> repr_html("Fit <1>", pd.DataFrame({"x": [1 / 3]}), ["ok"])
    '<div class="radiorisk-repr"><strong>Fit &lt;1&gt;</strong><ul><li>ok</li></ul><table><thead><tr><th>x</th></tr></thead><tbody><tr><td>0.3333</td></tr></tbody></table></div>'
    """
    items = "".join(f"<li>{html.escape(str(s))}</li>" for s in lines)
    body = "" if frame is None else str(table_html(frame, max_rows=max_rows, digits=digits, index=index,
                                                   empty=None, header_if_empty=True))
    return (f'<div class="radiorisk-repr"><strong>{html.escape(title)}</strong>'
            + (f"<ul>{items}</ul>" if items else "") + body + "</div>")
