"""HTML of the reports: the jinja2 page templates (tables and numbers: :mod:`radiorisk._html`).

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
from functools import cache

import jinja2

from .._html import escape_value, table_html

__all__ = ["render", "render_page"]


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("radiorisk.report", "templates"),
                              autoescape=True, finalize=escape_value, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def render(template: str, **context) -> str:
    """Render one template of ``radiorisk/report/templates`` (autoescaped).

    Examples
    --------
    >>> render("model_repr.html.j2", title="a<b", sections=[])
    '<div><strong>a&lt;b</strong><ol></ol></div>'
    """
    return _env().get_template(template).render(**context)


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
