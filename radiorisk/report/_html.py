"""HTML of the reports: the jinja2 templates, the one table helper and number formatting.

Every page comes from a template file in ``radiorisk/report/templates/``
(autoescaped; the one stylesheet ``report.css`` is included by both reports).
The model report page makes no network request: figures are ``data:`` URIs,
styles and the one small script (``report.js``) are inline, and a
Content-Security-Policy forbids anything else.  The script records JavaScript
errors and how many images decoded into attributes of ``<html>``
(``data-errors``, ``data-images-loaded``, ``data-images-total``), which a
headless browser check can read back.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from functools import cache

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

__all__ = ["render", "render_page", "table_html", "fmt"]


def _escape(value) -> Markup:
    """Escape a template value as :func:`html.escape` does (``&quot;``, ``&#x27;``); Markup passes."""
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(html.escape(str(value), quote=True))


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("radiorisk.report", "templates"),
                              autoescape=True, finalize=_escape, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def render(template: str, **context) -> str:
    """Render one template of ``radiorisk/report/templates`` (autoescaped).

    Examples
    --------
    >>> render("model_repr.html.j2", title="a<b", sections=[])
    '<div><strong>a&lt;b</strong><ol></ol></div>'
    """
    return _env().get_template(template).render(**context)


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


def table_html(frame: pd.DataFrame, *, caption: str = "", max_rows: int = 300, header: bool = True,
               row_header: bool = False, css_class: str | None = None, align: bool = True,
               cell_class: Callable[[str, object], str | None] | None = None,
               row_class: Callable[[dict], str | None] | None = None,
               empty: str | None = "(none)", more_text: str = "{n} more row(s) not shown.") -> Markup:
    """An escaped HTML table of ``frame``: the one table helper of the reports.

    Parameters
    ----------
    frame : DataFrame
        Cells are written with :func:`fmt` (4 significant digits; strings as they are).
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
    rows, head, more = [], [], 0
    if frame is not None and len(frame):
        f = frame.head(max_rows)
        left = {c: "l" if align and (not pd.api.types.is_numeric_dtype(f[c])
                                     or pd.api.types.is_bool_dtype(f[c])) else None for c in f.columns}
        head = [{"text": str(c), "cls": left[c]} for c in f.columns] if header else []
        for rec in f.itertuples(index=False):
            cells = []
            for k, (c, v) in enumerate(zip(f.columns, rec, strict=True)):
                th = row_header and k == 0
                cls = None if th else (cell_class(c, v) if cell_class is not None else left[c])
                cells.append({"tag": "th" if th else "td", "cls": cls, "text": fmt(v, 4)})
            rcls = row_class(dict(zip(f.columns, rec, strict=True))) if row_class is not None else None
            rows.append({"cls": rcls, "cells": cells})
        more = len(frame) - len(f)
    table = {"rows": rows, "header": head, "caption": caption, "css_class": css_class,
             "more": more_text.format(n=more) if more else "", "empty": empty}
    return Markup(render("table.html.j2", table=table))


def _section_view(sec) -> dict:
    return {"id": sec.id, "title": sec.title, "sentences": sec.sentences, "notes": sec.notes,
            "tables": [table_html(frame, caption=cap) for cap, frame in sec.tables],
            "figures": [(cap, base64.b64encode(data).decode("ascii")) for cap, data in sec.figures]}


def render_page(*, title: str, subtitle: str, summary, sections) -> str:
    """The whole model report page (``model_report.html.j2``).

    Parameters
    ----------
    title, subtitle : str
    summary : sequence of str
        Key sentences shown above the table of contents.
    sections : sequence of ReportSection
        Each with ``id, title, sentences, tables, figures, notes``.

    Returns
    -------
    str
        HTML5 text.

    Examples
    --------
    >>> from radiorisk.report import ReportSection
    >>> page = render_page(title="T", subtitle="s", summary=["ok"],
    ...                    sections=[ReportSection(id="a", title="A", sentences=("hello",))])
    >>> '<section id="a">' in page and "https://" not in page
    True
    """
    return render("model_report.html.j2", title=title, subtitle=subtitle, summary=list(summary),
                  sections=[_section_view(s) for s in sections]) + "\n"
