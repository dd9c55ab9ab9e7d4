"""Self-contained HTML of a report: sections with sentences, tables and embedded PNG figures.

The page makes no network request: figures are ``data:`` URIs, styles and the
one small script are inline, and a Content-Security-Policy forbids anything
else.  The script records JavaScript errors and how many images decoded into
attributes of ``<html>`` (``data-errors``, ``data-images-loaded``,
``data-images-total``), which a headless browser check can read back.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

__all__ = ["render_page", "table_html", "fmt"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin-top:1.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em 0}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
figure{margin:.8em 0}figcaption{font-size:.85em;color:#555}
img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}ul.say li{margin:.25em 0}
nav ol{columns:2;font-size:.95em}.warn{background:#fff3cd;padding:.5em 1em;border-left:4px solid #e0a800}
"""

# Records errors (including failed resource loads, captured) and decoded images on <html>.
_SCRIPT = """
(function(){var d=document.documentElement,errs=[];
function note(m){errs.push(String(m));d.setAttribute('data-errors',errs.join(' | '));
d.setAttribute('data-errors-count',String(errs.length));}
d.setAttribute('data-errors-count','0');
window.addEventListener('error',function(e){note(e.message||('failed to load '+
((e.target&&(e.target.src||e.target.href))||'a resource')));},true);
window.addEventListener('load',function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}
d.setAttribute('data-images-total',String(im.length));d.setAttribute('data-images-loaded',String(ok));
d.setAttribute('data-ready','1');});})();
"""

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")


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


def table_html(frame: pd.DataFrame, *, caption: str = "", max_rows: int = 300) -> str:
    """An escaped HTML table of ``frame`` (text columns left-aligned).

    Parameters
    ----------
    frame : DataFrame
    caption : str
    max_rows : int
        Longer frames are cut with a note.

    Returns
    -------
    str

    Examples
    --------
    >>> table_html(pd.DataFrame({"group": ["a<b"], "n": [3]}), caption="x")
    '<table><caption>x</caption><tr><th class="l">group</th><th>n</th></tr><tr><td class="l">a&lt;b</td><td>3</td></tr></table>'
    """
    if frame is None or len(frame) == 0:
        head = f"<strong>{html.escape(caption)}</strong>: " if caption else ""
        return f"<p class=\"empty\">{head}(none)</p>"
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    f = frame.head(max_rows)
    left = {c: not pd.api.types.is_numeric_dtype(f[c]) or pd.api.types.is_bool_dtype(f[c]) for c in f.columns}
    head = "".join(f"<th class=\"l\">{html.escape(str(c))}</th>" if left[c] else f"<th>{html.escape(str(c))}</th>"
                   for c in f.columns)
    rows = []
    for rec in f.itertuples(index=False):
        cells = []
        for c, v in zip(f.columns, rec, strict=True):
            cls = " class=\"l\"" if left[c] else ""
            cells.append(f"<td{cls}>{html.escape(fmt(v, 4))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p class=\"note\">{len(frame) - max_rows} more row(s) not shown.</p>"
            if len(frame) > max_rows else "")
    return f"<table>{cap}<tr>{head}</tr>{''.join(rows)}</table>{more}"


def _figure_html(caption: str, data: bytes) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    cap = html.escape(caption)
    return (f"<figure><img alt=\"{cap}\" src=\"data:image/png;base64,{b64}\">"
            f"<figcaption>{cap}</figcaption></figure>")


def _section_html(sec) -> str:
    parts = [f"<section id=\"{html.escape(sec.id)}\">", f"<h2>{html.escape(sec.title)}</h2>"]
    if sec.sentences:
        parts.append("<ul class=\"say\">" + "".join(f"<li>{html.escape(s)}</li>" for s in sec.sentences)
                     + "</ul>")
    for cap, frame in sec.tables:
        parts.append(table_html(frame, caption=cap))
    for cap, data in sec.figures:
        parts.append(_figure_html(cap, data))
    for n in sec.notes:
        parts.append(f"<p class=\"note\">{html.escape(n)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_page(*, title: str, subtitle: str, summary, sections) -> str:
    """The whole report page.

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
    toc = "".join(f"<li><a href=\"#{html.escape(s.id)}\">{html.escape(s.title)}</a></li>" for s in sections)
    body = "\n".join(_section_html(s) for s in sections)
    summ = "".join(f"<li>{html.escape(s)}</li>" for s in summary)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style><script>{_SCRIPT}</script></head>\n"
        f"<body><header><h1>{html.escape(title)}</h1><p class=\"note\">{html.escape(subtitle)}</p>"
        f"<ul class=\"say\">{summ}</ul></header>\n"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>\n{body}\n</body></html>\n"
    )
