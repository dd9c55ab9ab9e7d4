"""The model, audit and external-validation pages at 1,280 px in headless Chromium: no horizontal overflow.

A probe script (the page's own Content-Security-Policy widened to let it run) writes the document's
``scrollWidth`` and how many images decoded into attributes of ``<html>``; ``--dump-dom`` reads them
back. Skipped when Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

_PROBE = ("<script>window.addEventListener('load',function(){var d=document.documentElement,im=document.images,"
          "ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}"
          "d.setAttribute('data-w',String(d.scrollWidth));d.setAttribute('data-n',String(im.length));"
          "d.setAttribute('data-ok',String(ok));});</script>")
WIDTH = 1280


def _probe(page: str, tmp_path, name: str) -> dict:
    exe = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if exe is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    page = re.sub(r"(Content-Security-Policy\" content=\"[^\"]*)", r"\1; script-src 'unsafe-inline'", page)
    f = tmp_path / f"{name}.html"
    f.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    cmd = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WIDTH},2000",
           "--virtual-time-budget=5000", "--dump-dom", f.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    tag = re.search(r"<html\b[^>]*>", res.stdout)
    assert tag, res.stdout[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def _check(attrs: dict) -> None:
    assert int(attrs["data-w"]) <= WIDTH, f"the page is {attrs['data-w']} px wide"
    assert int(attrs["data-ok"]) == int(attrs["data-n"]), attrs


def test_model_report_fits(model_report_html, tmp_path):
    _check(_probe(model_report_html, tmp_path, "model"))


def test_audit_report_fits(tmp_path):
    from radiorisk.evaluation import SubgroupAudit
    from radiorisk.pipeline import write_audit_outputs

    rng = np.random.default_rng(0)
    n = 1500
    risk = rng.uniform(0.02, 0.5, n)
    t = rng.exponential(-1826 / np.log1p(-risk))
    groups = {"sex": rng.choice(["female", "male"], n), "ethnicity": rng.choice(["white", "black", "south_asian"], n),
              "site": rng.choice([f"site{i:02d}" for i in range(1, 9)], n)}
    audit = SubgroupAudit(risk, time=np.minimum(t, 3000), event=(t <= 3000).astype(int), horizon=1826,
                          groups=groups, n_boot=20)
    paths = write_audit_outputs(audit, tmp_path, figures=True)
    _check(_probe(paths["report.html"].read_text(encoding="utf-8"), tmp_path, "audit"))


def test_external_validation_report_fits(model_report_run, tmp_path):
    from radiorisk.pipeline import validate_model

    data, run = model_report_run
    ev = validate_model(run / "model", data, tmp_path / "val", n_boot=0)
    _check(_probe((ev.out / "report.html").read_text(encoding="utf-8"), tmp_path, "external"))


def test_the_probe_sees_an_overflow(tmp_path):
    page = ("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "</head><body><div style=\"width:3000px\">wide</div></body></html>")
    assert int(_probe(page, tmp_path, "wide")["data-w"]) > WIDTH
