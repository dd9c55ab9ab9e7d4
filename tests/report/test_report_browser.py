"""The model report rendered by a real headless Chromium: sections, decoded images, no console errors.

The report carries a tiny inline script that writes, on ``load``, how many
``<img>`` decoded (``naturalWidth > 0``) and every JavaScript or resource error
into attributes of ``<html>``; ``chromium --dump-dom`` exposes them.  Console
messages (including Content-Security-Policy refusals) are read from Chromium's
log on stderr.  Skipped when Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from radiorisk.report import MODEL_REPORT_SECTIONS

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")


def _chromium() -> str:
    for c in _CANDIDATES:
        path = shutil.which(c)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


def _render(path, tmp_path) -> tuple[str, str]:
    """``--dump-dom`` of the file after load (virtual time), and Chromium's stderr log."""
    cmd = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--disable-extensions", "--disable-background-networking", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
           path.resolve().as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace",
                             timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within 120 s")
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, res.stderr


def _html_attrs(dom: str) -> dict:
    tag = re.search(r"<html\b[^>]*>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def _console(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def test_report_renders_in_chromium(model_report_cli, tmp_path):
    assert model_report_cli["code"] == 0, model_report_cli["stderr"]
    dom, log = _render(model_report_cli["out"], tmp_path)
    attrs = _html_attrs(dom)
    assert attrs.get("data-ready") == "1", "the load event did not fire"
    total = int(attrs["data-images-total"])
    assert total >= 10
    assert int(attrs["data-images-loaded"]) == total, "some <img> did not decode (naturalWidth == 0)"
    assert attrs.get("data-errors-count") == "0", attrs.get("data-errors")
    assert _console(log) == []
    ids = re.findall(r'<section id="([^"]+)"', dom)
    assert ids == [sid for sid, _ in MODEL_REPORT_SECTIONS]


def test_harness_detects_broken_images_and_errors(tmp_path):
    """The same checks fail on a page with a missing image and a script error (no silent pass)."""
    from radiorisk.report import ModelReport, ReportSection

    page = ModelReport(title="t", subtitle="", summary=(), run=None,
                       sections=(ReportSection(id="a", title="A"),)).to_html()
    page = page.replace("</body>", '<img alt="x" src="data:image/png;base64,AAAA"><script>nope();</script></body>')
    f = tmp_path / "broken.html"
    f.write_text(page, encoding="utf-8")
    dom, log = _render(f, tmp_path)
    attrs = _html_attrs(dom)
    assert attrs["data-images-total"] == "1" and attrs["data-images-loaded"] == "0"
    assert int(attrs["data-errors-count"]) >= 1 and "nope" in attrs["data-errors"]
    assert any("nope" in ln for ln in _console(log))
