"""Run the Python port of pmsampsize (PyPI ``pmsampsize`` 0.1.0) on the R grid.

Not part of radiorisk: run it in a throwaway Python >= 3.12 environment that has
``pmsampsize==0.1.0`` installed (``python -m venv /tmp/pmss312 &&
/tmp/pmss312/bin/pip install pmsampsize==0.1.0``), from this folder:

    /tmp/pmss312/bin/python make_pmsampsize_python_reference.py

It reads the inputs of ``pmsampsize_*.csv`` (the R reference) and writes
``pmsampsize_python_*.csv`` with the same columns; an exception is recorded in
``error`` as ``TypeName: message``.
"""

import csv
import importlib.metadata
import sys
from pathlib import Path

from pmsampsize.pmsampsize import cstat2rsq, pmsampsize

HERE = Path(__file__).resolve().parent
FIELDS = ["n1", "n2", "n3", "n", "shrinkage2", "final_shrinkage", "r2_cs", "max_r2",
          "nagelkerke", "events", "epp", "int_lci", "int_uci", "int_cuminc"]


def _outputs(res):
    table = res["results_table"]
    rows = [r for r in table if isinstance(r, list)]
    get = res.get
    return {
        "n1": rows[0][1], "n2": rows[1][1], "n3": rows[2][1], "n": res["sample_size"],
        "shrinkage2": repr(float(rows[1][2])), "final_shrinkage": repr(float(res["final_shrinkage"])),
        "r2_cs": repr(float(get("rsquared", get("r2a")))), "max_r2": repr(float(res["max_r2a"])),
        "nagelkerke": repr(float(res["nag_r2"])), "events": repr(float(res["events"])),
        "epp": repr(float(res["EPP"])),
        "int_lci": "" if get("int_lci") is None else repr(float(res["int_lci"])),
        "int_uci": "" if get("int_uci") is None else repr(float(res["int_uci"])),
        "int_cuminc": "" if get("int_cuminc") is None else repr(float(res["int_cuminc"])),
    }


def _num(text):
    value = float(text)
    return int(value) if value.is_integer() else value


def _run(kwargs):
    try:
        return {"error": "", **_outputs(pmsampsize(noprint=True, **kwargs))}
    except Exception as exc:  # recorded, not raised: the point is to compare
        return {"error": f"{type(exc).__name__}: {exc}"}


def _convert(name, inputs, build):
    with open(HERE / f"pmsampsize_{name}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        given = {k: row[k] for k in inputs}
        res = _run(build(given))
        if name == "cstatistic":
            raw = cstat2rsq(_num(given["cstatistic"]), _num(given["prevalence"]), 123456, True)
            res["r2_cs_unrounded"] = repr(float(raw["R2_coxsnell"]))
        out.append({**given, **res})
    cols = list(inputs) + ["error"] + FIELDS + (["r2_cs_unrounded"] if name == "cstatistic" else [])
    with open(HERE / f"pmsampsize_python_{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, restval="")
        writer.writeheader()
        writer.writerows(out)


_convert("binary", ["parameters", "csrsquared", "prevalence"], lambda g: dict(
    type="b", parameters=int(_num(g["parameters"])), csrsquared=_num(g["csrsquared"]),
    prevalence=_num(g["prevalence"])))
_convert("survival", ["parameters", "csrsquared", "rate", "meanfup", "timepoint"], lambda g: dict(
    type="s", parameters=int(_num(g["parameters"])), csrsquared=_num(g["csrsquared"]),
    rate=_num(g["rate"]), meanfup=_num(g["meanfup"]), timepoint=_num(g["timepoint"])))
_convert("cstatistic", ["parameters", "cstatistic", "prevalence"], lambda g: dict(
    type="b", parameters=int(_num(g["parameters"])), cstatistic=_num(g["cstatistic"]),
    prevalence=_num(g["prevalence"])))


def _nag(g):
    common = dict(parameters=int(_num(g["parameters"])), nagrsquared=_num(g["nagrsquared"]))
    if g["type"] == "b":
        return dict(type="b", prevalence=_num(g["prevalence"]), **common)
    return dict(type="s", rate=_num(g["rate"]), meanfup=_num(g["meanfup"]), timepoint=2, **common)


_convert("nagelkerke", ["type", "nagrsquared", "parameters", "prevalence", "rate", "meanfup"], _nag)
with open(HERE / "pmsampsize_python_versions.txt", "w") as f:
    f.write(f"Python {sys.version.split()[0]}\n")
    for pkg in ("pmsampsize", "numpy", "pandas", "scipy", "statsmodels"):
        f.write(f"{pkg} {importlib.metadata.version(pkg)}\n")
