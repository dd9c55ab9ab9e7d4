"""The patient report's two views in a real headless Chromium at 1,280 px: images decode, nothing overflows.

The pages carry no script (their Content-Security-Policy forbids it), so the test adds a
probe to a copy of each page: on ``load`` it writes the number of decoded images and the
page's scroll width into attributes of ``<html>``, which ``chromium --dump-dom`` exposes.
A screenshot of each page is taken too.  Skipped when Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from radiorisk.report import PatientReportResult, clinician_summary

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
_PROBE = ("<script>window.addEventListener('load',function(){var d=document.documentElement,im=document.images,"
          "ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}"
          "d.setAttribute('data-images-total',String(im.length));d.setAttribute('data-images-loaded',String(ok));"
          "d.setAttribute('data-scroll-width',String(d.scrollWidth));d.setAttribute('data-ready','1');});"
          "</script>")


def _chromium() -> str:
    for c in _CANDIDATES:
        path = shutil.which(c)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


def _run(args, tmp_path) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,2000", *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace",
                             timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within 120 s")
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def _probe(page: str, tmp_path, name: str) -> dict:
    page = re.sub(r"(Content-Security-Policy\" content=\"[^\"]*)", r"\1; script-src 'unsafe-inline'", page)
    f = tmp_path / f"{name}.html"
    f.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = _run(["--virtual-time-budget=5000", "--dump-dom", f.as_uri()], tmp_path).stdout
    tag = re.search(r"<html\b[^>]*>", dom)
    assert tag, dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


@pytest.fixture(scope="module")
def result():
    # pytest's default import mode puts this folder on sys.path: the builders of the view tests are shared
    from test_patient_views import _lesion, _report, _shap

    lesions = tuple({"lesion_id": f"lesion {k}", "vessel": "LAD", "segment": "6-7", "diameter_stenosis_pct": 45.0,
                     "plaque_type": "partially_calcified", "v_total_mm3": 123.4, "v_lap_mm3": 12.3,
                     "high_risk_features": ["positive_remodelling", "low_attenuation", "spotty_calcification"]}
                    for k in range(1, 13))
    r = _report(plaque={"low_attenuation_plaque_burden_pct": 5.2, "n_high_risk_lesions": 2,
                        "lesions": list(lesions), "n_lesions": 12}, free_text="x" * 400)
    return PatientReportResult(report=r, summary=clinician_summary(r), lesion_images=(_lesion(), _lesion("lesion 3")),
                               shap=_shap(), horizon_days=1826.0, provenance={"author": "Dr C"})


@pytest.mark.parametrize("view", ["clinician", "patient"])
def test_view_renders_at_1280_px_without_overflow(result, view, tmp_path):
    attrs = _probe(result.to_html(view), tmp_path, view)
    assert attrs.get("data-ready") == "1", "the load event did not fire"
    total = int(attrs["data-images-total"])
    assert total == (4 if view == "clinician" else 0)
    assert int(attrs["data-images-loaded"]) == total, "some <img> did not decode"
    assert int(attrs["data-scroll-width"]) <= 1280, f"the page is {attrs['data-scroll-width']} px wide"
    shot = tmp_path / f"{view}.png"
    _run([f"--screenshot={shot}", (tmp_path / f"{view}.html").as_uri()], tmp_path)
    from PIL import Image

    with Image.open(shot) as im:
        lo, hi = im.convert("L").getextrema()
        assert im.size == (1280, 2000) and hi - lo > 100  # something was drawn


def test_probe_detects_overflow_and_broken_images(result, tmp_path):
    """The same checks fail on a page with an over-wide element and an undecodable image."""
    page = result.to_html("clinician").replace(
        "</body>", '<div style="width:2400px">wide</div><img alt="x" src="data:image/png;base64,AAAA"></body>')
    attrs = _probe(page, tmp_path, "broken")
    assert int(attrs["data-scroll-width"]) > 1280
    assert int(attrs["data-images-loaded"]) == int(attrs["data-images-total"]) - 1
