"""The HTML model report of a ``radiorisk fit`` run, in the order of TRIPOD+AI.

:func:`collect_model_report` reads a RUN folder (``oof_predictions.csv``,
``ladder.csv``, ``model/``, ``provenance.json``), the cohort folder it was
fitted on and the subgroup audit of its out-of-fold predictions (computed here
when the run has none), and returns a :class:`ModelReport`: nine
:class:`ReportSection` objects of plain-language sentences, tables and PNG
figures.  :func:`build_model_report` writes it as one self-contained HTML file
(atomically).  The report formats results; the statistics come from
:mod:`radiorisk.evaluation`, :mod:`radiorisk.models` and :mod:`radiorisk.explain`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import RadioriskError
from ._html import fmt, render_page

__all__ = ["ReportError", "ReportSection", "ModelReport", "MODEL_REPORT_SECTIONS",
           "collect_model_report", "build_model_report"]

#: ``(id, title)`` of the sections, in TRIPOD+AI order (methods, then results, then discussion).
MODEL_REPORT_SECTIONS = (
    ("participants", "1. Data and participant flow"),
    ("model", "2. Model specification"),
    ("discrimination", "3. Discrimination and the modality ladder"),
    ("calibration", "4. Calibration overall and by group"),
    ("fairness", "5. Fairness across groups"),
    ("decision-curve", "6. Decision curve"),
    ("explanations", "7. Explanations (SHAP)"),
    ("limitations", "8. Limitations detected automatically"),
    ("provenance", "9. Provenance"),
)
_TITLES = dict(MODEL_REPORT_SECTIONS)
_RUN_FILES = ("provenance.json", "oof_predictions.csv", "ladder.csv", "model/manifest.json")
_OOF_NEEDED = ("patient_id", "risk", "time", "event")
_AUDIT_NEEDED = ("metrics.csv", "fairness.csv", "flags.csv", "heterogeneity.csv", "differences.csv")
_GROUP_ATTRS = ("sex", "ethnicity")
_MIN_EVENTS = 10
_BOOT_UNDEF = re.compile(r"bootstrap: \d+ of \d+ replicates undefined")
_NB_THRESHOLDS = (0.025, 0.05, 0.075, 0.10, 0.15, 0.20)
_BLOCK_ORDER = ("clinical", "ccta", "radiomics", "pet")
_DISC = {"harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "time-dependent AUC"}
_MODEL_WORDS = {
    "coxph": "Cox proportional-hazards model (ridge/elastic-net penalised, lifelines)",
    "xgb-cox": "gradient-boosted trees with a Cox partial-likelihood objective (xgboost)",
    "xgb-aft": "gradient-boosted trees with an accelerated-failure-time objective (xgboost)",
    "xgb-binary": "gradient-boosted trees classifying MACE by the horizon, IPCW-weighted (xgboost)",
}


class ReportError(RadioriskError):
    """A report cannot be built: a missing or incomplete RUN, audit or cohort folder (names the file)."""


@dataclass(frozen=True)
class ReportSection:
    """One section of a report.

    Attributes
    ----------
    id : str
        Stable HTML ``id`` (e.g. ``participants``).
    title : str
    sentences : tuple of str
        Plain-language statements beside the numbers.
    tables : tuple of (str, DataFrame)
        Caption and table.
    figures : tuple of (str, bytes)
        Caption and PNG bytes.
    notes : tuple of str
        Method notes in small print.

    Examples
    --------
    >>> s = ReportSection(id="participants", title="Data", sentences=("400 patients.",))
    >>> s.to_frame()
    Empty DataFrame
    Columns: []
    Index: []
    """

    id: str
    title: str
    sentences: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = field(default=(), repr=False)
    figures: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The first table of the section (an empty frame when it has none)."""
        return self.tables[0][1] if self.tables else pd.DataFrame()


@dataclass(frozen=True)
class ModelReport:
    """A model report: title, key findings and the sections in TRIPOD+AI order.

    Attributes
    ----------
    title : str
    subtitle : str
    summary : tuple of str
        Key findings shown at the top.
    sections : tuple of ReportSection
    run : Path
        The RUN folder reported on.

    Examples
    --------
    >>> rep = ModelReport(title="T", subtitle="", summary=(), run=Path("run"),
    ...                   sections=(ReportSection(id="model", title="Model"),))
    >>> rep.section("model").title
    'Model'
    >>> '<section id="model">' in rep.to_html()
    True
    """

    title: str
    subtitle: str
    summary: tuple[str, ...]
    sections: tuple[ReportSection, ...]
    run: Path

    def section(self, id: str) -> ReportSection:
        """The section with this ``id`` (KeyError naming the ids when absent)."""
        for s in self.sections:
            if s.id == id:
                return s
        raise KeyError(f"no section {id!r}; the report has {[s.id for s in self.sections]}")

    def to_html(self) -> str:
        """The self-contained HTML page (figures embedded, no external resource)."""
        return render_page(title=self.title, subtitle=self.subtitle, summary=self.summary,
                           sections=self.sections)

    def _repr_html_(self) -> str:
        from html import escape

        items = "".join(f"<li>{escape(s.title)}</li>" for s in self.sections)
        return f"<div><strong>{escape(self.title)}</strong><ol>{items}</ol></div>"


# ----------------------------------------------------------------------------- formatting
def _pct(x, digits: int = 1) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f} %"


def _ci(est, lo, hi, digits: int = 3) -> str:
    if est is None or not np.isfinite(est):
        return "not estimable"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{fmt(est, digits)} ({fmt(lo, digits)} to {fmt(hi, digits)})"
    return fmt(est, digits)


def _ci_pct(est, lo, hi) -> str:
    if est is None or not np.isfinite(est):
        return "not estimable"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{_pct(est)} (95 % CI {_pct(lo)} to {_pct(hi)})"
    return _pct(est)


def _who(attribute: str, group: str) -> str:
    if attribute == "overall":
        return "all patients"
    if attribute == "sex" and group in ("female", "male"):
        return {"female": "women", "male": "men"}[group]
    return f"patients with {attribute} = {group}"


def _years(days: float) -> str:
    return f"{days / 365.25:.1f} years"


# ----------------------------------------------------------------------------- inputs
@dataclass
class _Context:
    run: Path
    prov: dict
    config: dict
    horizon: float
    oof: pd.DataFrame
    pred: pd.DataFrame
    ladder: pd.DataFrame
    model: object
    manifest: dict
    audit_dir: Path
    audit_source: str
    data_dir: Path | None = None
    cohort: object = None
    data: object = None
    data_notes: list = field(default_factory=list)
    hash_mismatch: list = field(default_factory=list)
    limitations: list = field(default_factory=list)
    seed: int = 0
    n_boot: int = 200
    shap_sample: int = 500
    avail: pd.DataFrame | None = None
    oof_ids: pd.Index | None = None  # the out-of-fold id of each row of data.X (pseudonyms), when known


def _read_run(run: Path):
    if not run.is_dir():
        raise ReportError(f"--run {run}: no such folder (expected a RUN folder written by `radiorisk fit`)")
    missing = [f for f in _RUN_FILES if not (run / f).is_file()]
    if missing:
        raise ReportError(
            f"--run {run}: incomplete RUN folder; missing {', '.join(missing)} (written by `radiorisk fit`; "
            "provenance.json is written last, so without it the fit did not finish)")
    try:
        prov = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{run / 'provenance.json'}: not valid JSON ({exc})") from exc
    if not isinstance(prov, dict) or not isinstance(prov.get("configuration"), dict):
        raise ReportError(f"{run / 'provenance.json'}: no 'configuration' object; is this a "
                          "`radiorisk fit` RUN folder?")
    try:
        oof = pd.read_csv(run / "oof_predictions.csv",
                          dtype={"patient_id": str, "sex": str, "ethnicity": str, "site": str})
        ladder = pd.read_csv(run / "ladder.csv")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportError(f"--run {run}: cannot read oof_predictions.csv or ladder.csv ({exc})") from exc
    miss = [c for c in _OOF_NEEDED if c not in oof.columns]
    if miss:
        raise ReportError(f"{run / 'oof_predictions.csv'}: missing column(s) {miss}")
    for c in ("rung", "metric", "estimate", "ci_low", "ci_high"):
        if c not in ladder.columns:
            raise ReportError(f"{run / 'ladder.csv'}: missing column {c!r}")
    return prov, oof, ladder


def _per_patient(oof: pd.DataFrame) -> pd.DataFrame:
    agg = {"risk": ("risk", "mean"), "time": ("time", "first"), "event": ("event", "first")}
    for g in ("sex", "ethnicity", "site"):
        if g in oof.columns:
            agg[g] = (g, "first")
    pred = oof.groupby("patient_id", sort=False).agg(**agg)
    pred["n_repeats"] = oof.groupby("patient_id", sort=False).size()
    return pred


def _attrs(pred: pd.DataFrame) -> list[str]:
    return [a for a in _GROUP_ATTRS if a in pred.columns and pred[a].notna().any()]


def _run_audit(ctx_pred: pd.DataFrame, out: Path, *, horizon: float, n_boot: int, seed: int) -> None:
    from ..cli_audit import run_audit

    attrs = _attrs(ctx_pred)
    f = out / "predictions.csv"
    ctx_pred[["risk", "time", "event", *attrs]].to_csv(f, index=False, lineterminator="\n",
                                                       float_format="%.10g")
    # A risk band whose Kaplan-Meier survival reaches 0 makes kaplan_meier_risk multiply 0 by
    # inf (a numpy RuntimeWarning; the SE is reported as NaN).  Silence only that, locally.
    with np.errstate(invalid="ignore"):
        run_audit(f, out, risk_col="risk", time_col="time", event_col="event", horizon=horizon,
                  groups=attrs, n_boot=n_boot, seed=seed, top_k=10)


def _read_audit(audit: Path) -> dict:
    miss = [f for f in _AUDIT_NEEDED if not (audit / f).is_file()]
    if miss:
        raise ReportError(f"--audit {audit}: missing {', '.join(miss)} (write it with `radiorisk audit`)")
    out = {}
    for f in _AUDIT_NEEDED + ("calibration_tables.csv",):
        p = audit / f
        out[f] = pd.read_csv(p, dtype={"group": str, "attribute": str}) if p.is_file() else pd.DataFrame()
    figs = {}
    if (audit / "figures").is_dir():
        for p in sorted((audit / "figures").glob("*.png")):
            figs[p.name] = p.read_bytes()
    out["figures"] = figs
    return out


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_cohort(ctx: _Context, data, explicit: bool) -> None:
    """Read and assemble the cohort as ``radiorisk fit`` did (radiomics and plaque included)."""
    from ..features._assemble import DEFAULT_MACE, assemble_cohort
    from ..io import read_cohort

    if data is None:
        if explicit:
            return
        ctx.data_notes.append("no cohort folder is recorded in provenance.json; participant details come "
                              "from the out-of-fold predictions only (pass --data DIR)")
        return
    d = Path(data)
    if not d.is_dir():
        if explicit:
            raise ReportError(f"--data {d}: no such folder")
        ctx.data_notes.append(f"the cohort folder recorded in provenance.json ({d}) is not available; "
                              "missingness and SHAP are left out (pass --data DIR)")
        return
    ctx.data_dir = d
    cohort = read_cohort(d)
    cfg = ctx.config
    recorded = ctx.prov.get("inputs_sha256") or {}
    for name, p in cohort.files.items():
        if p is None or name not in recorded:
            continue
        if _sha256(Path(p)) != recorded[name].get("sha256"):
            ctx.hash_mismatch.append(Path(p).name)
    radiomics = None
    blocks = list(cfg.get("blocks") or [])
    if "radiomics" in blocks:
        cand = [Path(cfg["features"])] if cfg.get("features") else []
        cand.append(ctx.run / "radiomics" / "features.parquet")
        for p in cand:
            if p.is_file():
                radiomics = pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
                radiomics = _link_back_radiomics(ctx, cohort, radiomics)
                break
        else:
            ctx.data_notes.append("the radiomics table of the fit is not available "
                                  f"({', '.join(map(str, cand))}); radiomics columns are missing here")
    plaque = None
    if cfg.get("measure_plaque") and len(cohort.manifest):
        from ..imaging import measure_plaque

        plaque, _ = measure_plaque(cohort.files["manifest"])
    ctx.cohort = cohort
    ctx.data = assemble_cohort(cohort, plaque=plaque, radiomics=radiomics,
                               mace=tuple(cfg.get("mace") or DEFAULT_MACE),
                               competing=cfg.get("competing", "censor"), horizon=ctx.horizon)
    ctx.oof_ids = _oof_ids(ctx)


def _link_back_radiomics(ctx: _Context, cohort, radiomics: pd.DataFrame) -> pd.DataFrame | None:
    """The run's radiomics table with the cohort's ids (a pseudonymised run stores pseudonyms)."""
    if "patient_id" not in radiomics.columns:
        return radiomics
    raw = cohort.patients["patient_id"].astype(str)
    if radiomics["patient_id"].astype(str).isin(set(raw)).mean() > 0.5:
        return radiomics
    from ..privacy import Pseudonymiser, cohort_ids

    pz = Pseudonymiser.matching(ctx.prov.get("identifiers"))
    if pz is None:
        ctx.data_notes.append("the run's radiomics table carries pseudonymised ids and no id key matching "
                              "the run's fingerprint is available (RADIORISK_ID_KEY or the user's key file); "
                              "radiomics columns are missing here")
        return None
    return pz.link_back(radiomics, cohort_ids(cohort))


def _oof_ids(ctx: _Context) -> pd.Index | None:
    """The ids of ``oof_predictions.csv`` for the cohort's patients: raw, or the fit's pseudonyms.

    Pseudonyms are recomputed with the user's id key (``$RADIORISK_ID_KEY`` or the user's key
    file; never created here) when its fingerprint matches the one in ``provenance.json``.
    """
    raw = ctx.data.X.index
    ours = set(ctx.pred.index)
    if raw.isin(list(ours)).mean() > 0.5:
        return raw
    ident = ctx.prov.get("identifiers") or {}
    if not isinstance(ident, dict) or ident.get("identifiers") != "pseudonymised":
        ctx.data_notes.append("the ids of oof_predictions.csv do not match the cohort's; per-patient "
                              "checks (extrapolation) are left out")
        return None
    from ..privacy import Pseudonymiser

    try:  # the user's key when its fingerprint matches; never created here
        pz = Pseudonymiser.matching(ident)
    except RadioriskError:  # an unreadable key file: the check is left out, with the note below
        pz = None
    if pz is not None:
        ids = pd.Index(pz(raw.to_numpy(dtype=object)))
        if ids.isin(list(ours)).mean() > 0.5:
            return ids
    ctx.data_notes.append("patient ids in the RUN are pseudonymised and the id key of the fit (fingerprint "
                          f"{ident.get('key_fingerprint')}) is not available here; per-patient checks "
                          "(extrapolation) are left out")
    return None


# ----------------------------------------------------------------------------- sections
def _reverse_km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Median potential follow-up: Kaplan-Meier of the censoring times (events censor it)."""
    order = np.lexsort((event, time))  # at tied times censorings (event 0) count first, as in survfit
    t, c = time[order], 1 - event[order]
    ut = np.unique(t)
    s, n_at = 1.0, len(t)
    for u in ut:
        sel = t == u
        d = int(c[sel].sum())
        if n_at > 0 and d:
            s *= 1 - d / n_at
        if s <= 0.5:
            return float(u)
        n_at -= int(sel.sum())
    return float("nan")


def _block_available(data, block: str) -> pd.Series:
    if block == "pet":
        return data.pet_available.astype(bool)
    cols = list(data.blocks.get(block, ()))
    if not cols:
        return pd.Series(False, index=data.X.index)
    return data.X[cols].notna().any(axis=1)


def _participants(ctx: _Context) -> ReportSection:
    from ._figures import availability_figure

    pred, h = ctx.pred, ctx.horizon
    t, e = pred["time"].to_numpy(float), pred["event"].to_numpy(int)
    by_h = (e == 1) & (t <= h)
    cens = (e == 0) & (t < h)
    n = len(pred)
    rows = []
    if ctx.cohort is not None:
        rows.append(("patients in the cohort folder", len(ctx.cohort.patients)))
        rows.append(("patients with an assembled outcome and features", ctx.data.n))
    rows += [("patients analysed (out-of-fold predictions)", n),
             ("MACE during follow-up", int(e.sum())),
             (f"MACE by the horizon ({h:g} days)", int(by_h.sum())),
             ("censored before the horizon without MACE", int(cens.sum())),
             ("followed to the horizon without MACE", int(n - by_h.sum() - cens.sum()))]
    flow = pd.DataFrame(rows, columns=["step", "patients"])
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    rkm = _reverse_km_median(t, e)
    say = [f"{n} patients were analysed; {int(e.sum())} had a MACE during follow-up and "
           f"{int(by_h.sum())} ({_pct(by_h.mean())}) by the horizon of {h:g} days ({_years(h)}).",
           f"{int(cens.sum())} patients ({_pct(cens.mean())}) were censored before the horizon without an event.",
           f"Median observed follow-up was {med:.0f} days (IQR {q1:.0f} to {q3:.0f}); the median potential "
           f"follow-up (reverse Kaplan-Meier) was {fmt(rkm, 4)} days."]
    if ctx.cohort is not None and len(ctx.cohort.patients) != n:
        say.append(f"{len(ctx.cohort.patients) - n} patient(s) of the cohort folder have no out-of-fold "
                   "prediction (left out when the fit assembled the cohort).")
    tables = [("Participant flow", flow)]
    figures = []
    grp_rows = []
    attrs = [a for a in ("sex", "ethnicity", "site") if a in pred.columns]
    blocks_shown, avail = [], None
    if ctx.data is not None:
        used = set(ctx.config.get("blocks") or [])
        blocks_shown = [b for b in _BLOCK_ORDER if b in used or b == "pet"]
        avail = pd.DataFrame({b: _block_available(ctx.data, b) for b in blocks_shown})
        avail = avail.join(ctx.data.groups.reindex(avail.index))
    for attr in ["overall", *attrs]:
        labels = pd.Series("all", index=pred.index) if attr == "overall" else pred[attr].fillna("unknown")
        for g, idx in labels.groupby(labels, sort=True).groups.items():
            sel = pred.index.isin(idx)
            r = {"attribute": attr, "group": str(g), "n": int(sel.sum()),
                 "share_pct": 100 * sel.mean(), "mace_by_horizon": int(by_h[sel].sum()),
                 "median_followup_days": float(np.median(t[sel]))}
            if avail is not None:
                if attr == "overall":
                    a = avail
                elif attr in avail.columns:
                    a = avail[avail[attr].astype(object).where(avail[attr].notna(), "unknown") == g]
                else:
                    a = avail.iloc[:0]
                for b in blocks_shown:
                    r[f"{b}_available_pct"] = 100 * float(a[b].mean()) if len(a) else np.nan
            grp_rows.append(r)
    groups = pd.DataFrame(grp_rows)
    ctx.avail = groups
    tables.append(("Patients, events, follow-up and modality availability by group", groups))
    if ctx.data is not None:
        used = list(ctx.config.get("blocks") or [])
        miss_rows = []
        for b in _BLOCK_ORDER:
            cols = list(ctx.data.blocks.get(b, ()))
            if not cols and b not in used:
                continue
            X = ctx.data.X[cols] if cols else pd.DataFrame(index=ctx.data.X.index)
            av = _block_available(ctx.data, b)
            miss_rows.append({
                "block": b, "in_model": "yes" if b in used else "no", "columns": len(cols),
                "patients_available": int(av.sum()), "available_pct": 100 * float(av.mean()),
                "patients_with_any_missing_pct": 100 * float(X.isna().any(axis=1).mean()) if cols else 100.0,
                "missing_cells_pct": 100 * float(X.isna().to_numpy().mean()) if cols else 100.0})
        miss = pd.DataFrame(miss_rows)
        tables.insert(1, ("Missing data by modality block", miss))
        for _, r in miss.iterrows():
            if r["available_pct"] < 100:
                say.append(f"The {r['block']} block was available for {r['patients_available']} of "
                           f"{ctx.data.n} "
                           f"patients ({r['available_pct']:.1f} %)"
                           + ("" if r["in_model"] == "yes" else "; it is not part of this model") + ".")
        pet = groups[groups["attribute"] == "sex"] if "pet_available_pct" in groups else pd.DataFrame()
        if len(pet) >= 2:
            say.append("PET availability: " + ", ".join(
                f"{r['pet_available_pct']:.1f} % of {_who('sex', r['group'])}" for _, r in pet.iterrows()) + ".")
        show = groups[groups["attribute"].isin(["overall", "sex", "ethnicity"])]
        cols = [c for c in show.columns if c.endswith("_available_pct") and show[c].min() < 100]
        if cols:
            figures.append(("Modality availability by group (% of patients)",
                            availability_figure(show[["attribute", "group", *cols]])))
    notes = list(ctx.data_notes)
    notes.append("Follow-up is the time from the index CCTA to the first MACE component or the end of "
                 "follow-up; groups come from the out-of-fold predictions (missing labels: 'unknown').")
    return ReportSection(id="participants", title=_TITLES["participants"], sentences=tuple(say),
                         tables=tuple(tables), figures=tuple(figures), notes=tuple(notes))


def _names(est) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    return [] if names is None else [str(c) for c in names]


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))


def _model_spec(ctx: _Context) -> ReportSection:
    cfg, prov, model = ctx.config, ctx.prov, ctx.model
    name = cfg.get("model", ctx.manifest.get("model", "?"))
    final = model.steps[-1][1]
    cols_by_block = (prov.get("cohort") or {}).get("columns") or {}
    used_cols = _names(final)
    search = cfg.get("search")
    spec = [
        ("model", f"{name}: {_MODEL_WORDS.get(name, name)}"),
        ("final estimator", type(final).__name__),
        ("modality blocks", ", ".join(cfg.get("blocks") or [])),
        ("input columns", "; ".join(f"{b}: {len(c)}" for b, c in cols_by_block.items())
         or str(len(ctx.manifest.get("feature_names_in") or []))),
        ("columns reaching the final estimator", str(len(used_cols))),
        ("outcome", "MACE = first of " + " + ".join(cfg.get("mace") or []) + "; time in days from the index CCTA"),
        ("prediction horizon", f"{ctx.horizon:g} days ({_years(ctx.horizon)})"),
        ("deaths outside MACE", "censored at death" if cfg.get("competing", "censor") == "censor"
         else "competing event"),
        ("validation", f"{cfg.get('repeats')} x {cfg.get('folds')}-fold cross-validation, stratified on the "
                       f"event and grouped by patient; seed {prov.get('seed')}; out-of-fold risk by the horizon"),
        ("hyper-parameter search", "none (fixed parameters)" if not search else
         f"nested random search, {search.get('n_iter')} candidates, budget {search.get('budget_seconds')} s per fold"),
        ("fixed parameters", _params_text(cfg.get("params") or {}) or "(defaults)"),
        ("ladder bootstrap", f"{cfg.get('n_boot')} resamples, percentile 95 % CIs"),
        ("final model", "refitted on all patients with the same pipeline"),
    ]
    spec_t = pd.DataFrame(spec, columns=["item", "value"])
    steps = []
    for sname, step in model.steps:
        if isinstance(step, str):
            steps.append({"step": sname, "class": step, "parameters": ""})
            continue
        try:
            params = step.get_params(deep=False)
        except Exception:  # noqa: BLE001 - a step without get_params is shown without them
            params = {}
        steps.append({"step": sname, "class": type(step).__name__, "parameters": _params_text(params)})
    steps_t = pd.DataFrame(steps)
    extra = {k: v for k, v in (prov.get("final_model") or {}).items() if k != "columns"}
    say = [f"The model is a {_MODEL_WORDS.get(name, name)} predicting the probability of MACE by "
           f"{ctx.horizon:g} days from the {', '.join(cfg.get('blocks') or [])} block(s).",
           f"Performance was estimated by {cfg.get('repeats')} x {cfg.get('folds')}-fold cross-validation; "
           "every patient's risk comes from a model that did not see that patient.",
           f"Preprocessing (imputation, scaling, selection) was fitted inside each training fold; "
           f"{len(used_cols)} columns reach the final estimator."]
    if extra:
        say.append("Final model search result: " + _params_text(extra) + ".")
    tables = [("Specification", spec_t), ("Pipeline steps and their parameters", steps_t)]
    if used_cols:
        blocks_of = {c: b for b, cs in cols_by_block.items() for c in cs}
        bl = pd.Series([blocks_of.get(c.removesuffix("_missing"), "other") for c in used_cols])
        tables.append(("Columns of the final estimator by block", pd.DataFrame(
            [{"block": b, "columns": int((bl == b).sum()),
              "names": ", ".join(c for c, x in zip(used_cols, bl, strict=True) if x == b)}
             for b in dict.fromkeys(bl)])))
    notes = tuple(prov.get("statements") or ())
    return ReportSection(id="model", title=_TITLES["model"], sentences=tuple(say), tables=tuple(tables),
                         notes=notes)


def _discrimination(ctx: _Context, audit: dict) -> ReportSection:
    from ._figures import ladder_figure

    lad = ctx.ladder.copy()
    lad["population"] = lad["population"].astype(str) if "population" in lad else "all"
    rows, say = [], []
    for popn, pl in lad.groupby("population", sort=False):
        rungs = list(dict.fromkeys(pl["rung"]))
        where = "" if popn == "all" else f" (population {popn})"
        for r in rungs:
            t = pl[pl["rung"] == r].set_index("metric")
            row = {"population": popn, "rung": r, "blocks": str(t["blocks"].iloc[0]) if "blocks" in t else r}
            for m, label in _DISC.items():
                if m in t.index:
                    row[label + " (95 % CI)"] = _ci(t.loc[m, "estimate"], t.loc[m, "ci_low"], t.loc[m, "ci_high"])
            for c in ("n", "events_by_horizon"):
                if c in t:
                    row[c] = int(t[c].iloc[0])
            rows.append(row)
        first = pl[(pl["rung"] == rungs[0]) & (pl["metric"] == "harrell_c")]
        if len(first):
            f = first.iloc[0]
            say.append(f"With {rungs[0]} data alone{where}, Harrell's C was "
                       f"{_ci(f['estimate'], f['ci_low'], f['ci_high'])} (0.5 is chance, 1 perfect ranking).")
        for r in rungs[1:]:
            d = pl[(pl["rung"] == r) & (pl["metric"] == "delta_harrell_c")]
            if len(d):
                d = d.iloc[0]
                excl = bool(np.isfinite(d["ci_low"]) and (d["ci_low"] > 0 or d["ci_high"] < 0))
                say.append(f"Adding {r.lstrip('+')}{where} changed Harrell's C by {d['estimate']:+.3f} (95 % CI "
                           f"{d['ci_low']:+.3f} to {d['ci_high']:+.3f}): "
                           + ("a difference beyond chance." if excl else "the CI includes 0, no clear gain."))
    rung_t = pd.DataFrame(rows)
    inc = lad[~lad["metric"].isin(list(_DISC))].copy()
    inc_t = pd.DataFrame({
        "population": inc["population"], "rung": inc["rung"], "reference": inc.get("reference", ""),
        "metric": inc["metric"],
        "estimate (95 % CI)": [_ci(a, b, c) for a, b, c in zip(inc["estimate"], inc["ci_low"], inc["ci_high"],
                                                                strict=True)],
        "p_value": inc.get("p_value", np.nan)})
    m = audit["metrics.csv"]
    ov = m[m["attribute"] == "overall"] if len(m) else m
    if len(ov):
        ov_t = pd.DataFrame({"metric": ov["metric"], "estimate (95 % CI)": [
            _ci(a, b, c) for a, b, c in zip(ov["estimate"], ov["ci_low"], ov["ci_high"], strict=True)],
            "n": ov["n"], "events": ov["events"]})
        hc = ov[ov["metric"] == "harrell_c"]
        if len(hc):
            say.append(f"The final model's out-of-fold risks (averaged over repeats) reach Harrell's C "
                       f"{_ci(*hc[['estimate', 'ci_low', 'ci_high']].iloc[0])} in the audit.")
    else:
        ov_t = pd.DataFrame()
    tables = [("Modality ladder: discrimination of each rung", rung_t),
              ("Modality ladder: increments over the previous rung (paired bootstrap)", inc_t),
              ("All metrics of the out-of-fold risks (audit, overall)", ov_t)]
    figs = [("Discrimination of each rung of the modality ladder (95 % CI)", ladder_figure(ctx.ladder))]
    methods = sorted(set(lad.get("method", pd.Series(dtype=str)).dropna()))
    return ReportSection(id="discrimination", title=_TITLES["discrimination"], sentences=tuple(say),
                         tables=tuple(tables), figures=tuple(figs), notes=tuple(methods))


def _observed(pred: pd.DataFrame, sel, h: float):
    from ..evaluation import NotEstimableError, kaplan_meier_risk

    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            est = kaplan_meier_risk(pred["time"].to_numpy(float)[sel], pred["event"].to_numpy(float)[sel],
                                    horizon=h)
        return est.estimate, est.ci_low, est.ci_high
    except NotEstimableError:
        return np.nan, np.nan, np.nan


def _calibration(ctx: _Context, audit: dict) -> ReportSection:
    pred, h = ctx.pred, ctx.horizon
    m = audit["metrics.csv"]
    attrs = ["overall", *_attrs(pred)]
    rows, say = [], []
    for attr in attrs:
        labels = pd.Series("all", index=pred.index) if attr == "overall" else pred[attr]
        for g in sorted(labels.dropna().unique()):
            sel = (labels == g).to_numpy()
            mm = m[(m["attribute"] == attr) & (m["group"].astype(str) == str(g))].set_index("metric")
            obs, lo, hi = _observed(pred, sel, h)
            mp = float(pred["risk"].to_numpy()[sel].mean())
            row = {"attribute": attr, "group": str(g), "n": int(sel.sum()),
                   "events_by_horizon": int(((pred["event"] == 1) & (pred["time"] <= h)).to_numpy()[sel].sum()),
                   "mean_predicted": _pct(mp), "observed_km (95 % CI)": _ci_pct(obs, lo, hi)}
            for k, lab in (("oe_ratio_t", "O/E"), ("ici_t", "ICI"), ("e50_t", "E50"), ("e90_t", "E90")):
                if k in mm.index:
                    r = mm.loc[k]
                    row[f"{lab} (95 % CI)"] = _ci(r["estimate"], r["ci_low"], r["ci_high"])
            rows.append(row)
            oe = mm.loc["oe_ratio_t"] if "oe_ratio_t" in mm.index else None
            s = (f"Among {_who(attr, str(g))} ({row['n']} patients, {row['events_by_horizon']} MACE by the "
                 f"horizon) the model predicted {_pct(mp)} on average and {_ci_pct(obs, lo, hi)} was observed "
                 f"by {_years(h)}")
            if oe is not None and np.isfinite(oe["estimate"]):
                s += f"; O/E {_ci(oe['estimate'], oe['ci_low'], oe['ci_high'])}"
                if np.isfinite(oe["ci_low"]) and (oe["ci_low"] > 1 or oe["ci_high"] < 1):
                    lean = "under-predicts" if oe["estimate"] > 1 else "over-predicts"
                    s += f": the model {lean} risk here (the CI excludes 1)"
                    ctx.limitations.append(("miscalibration", f"{_who(attr, str(g))}: O/E "
                                            f"{_ci(oe['estimate'], oe['ci_low'], oe['ci_high'])} excludes 1"))
            say.append(s + ".")
    table = pd.DataFrame(rows)
    figs = []
    f = audit["figures"]
    for name, cap in [("calibration_overall.png", "Calibration at the horizon, all patients"),
                      *[(f"calibration_{a}.png", f"Calibration by {a}") for a in _attrs(pred)],
                      ("forest_oe_ratio_t.png", "Observed/expected ratio by group (95 % CI)")]:
        if name in f:
            figs.append((cap, f[name]))
    if not figs:
        figs.append(("Calibration at the horizon, all patients", _draw_calibration(pred, h)))
    notes = ("Observed risk: Kaplan-Meier 1 - S(t) at the horizon. O/E: observed over mean predicted risk. "
             "ICI, E50, E90: mean, median and 90th percentile of |observed - predicted| along a flexible "
             "(restricted cubic spline, Cox) calibration curve. CIs: " + ctx.audit_source + ".",)
    return ReportSection(id="calibration", title=_TITLES["calibration"], sentences=tuple(say),
                         tables=(("Calibration overall and by group", table),), figures=tuple(figs), notes=notes)


def _draw_calibration(pred, h) -> bytes:
    from ..evaluation import CalibrationDisplay
    from ._figures import png

    return png(lambda ax: CalibrationDisplay.from_predictions(
        pred["risk"].to_numpy(float), time=pred["time"].to_numpy(float),
        event=pred["event"].to_numpy(float), horizon=h).plot(ax=ax))


def _fairness(ctx: _Context, audit: dict) -> ReportSection:
    fair, het, diff, flags = (audit["fairness.csv"], audit["heterogeneity.csv"], audit["differences.csv"],
                              audit["flags.csv"])
    say, tables = [], []
    if len(fair):
        rule = str(fair["threshold"].iloc[0])
        per = fair[fair["metric"].isin(["positive_rate", "tpr", "fpr", "ppv"])].copy()
        per["value"] = [_ci(a, b, c) for a, b, c in zip(per["estimate"], per["ci_low"], per["ci_high"], strict=True)]
        wide = per.pivot_table(index=["attribute", "group"], columns="metric", values="value",
                               aggfunc="first", sort=False).reset_index()
        wide.columns.name = None
        tables.append((f"Decision rule '{rule}': rates by group (estimate, 95 % CI)", wide))
        gaps = fair[~fair["metric"].isin(["positive_rate", "tpr", "fpr", "ppv"])].copy()
        if len(gaps):
            gaps_t = pd.DataFrame({"attribute": gaps["attribute"], "metric": gaps["metric"],
                                   "gap (95 % CI)": [_ci(a, b, c) for a, b, c in
                                                     zip(gaps["estimate"], gaps["ci_low"], gaps["ci_high"],
                                                         strict=True)],
                                   "flag": gaps.get("flag", False)})
            tables.append(("Fairness gaps between groups (max - min)", gaps_t))
            for _, g in gaps[gaps["metric"] == "equal_opportunity_difference"].iterrows():
                say.append(f"With the rule '{rule}', the share of future MACE patients flagged (true-positive "
                           f"rate) differs by up to {_ci(g['estimate'], g['ci_low'], g['ci_high'])} between "
                           f"{g['attribute']} groups.")
        tpr = per[(per["metric"] == "tpr") & (per["attribute"].isin(_attrs(ctx.pred)))]
        for attr, t in tpr.groupby("attribute", sort=False):
            parts = ", ".join(f"{_pct(v)} of {_who(attr, str(g))}" for g, v in zip(t["group"], t["estimate"],
                                                                                    strict=True))
            say.append(f"Among patients who had a MACE by the horizon, the rule flagged {parts}.")
    if len(diff):
        d = diff[(diff["contrast"] == "difference") & ((diff["ci_low"] > 0) | (diff["ci_high"] < 0))]
        d = d[d["metric"].isin(["harrell_c", "oe_ratio_t", "ici_t", "td_auc"])]
        tables.append(("Groups whose metric differs from the overall value (95 % CI excludes 0)",
                       pd.DataFrame({"attribute": d["attribute"], "group": d["group"], "metric": d["metric"],
                                     "difference (95 % CI)": [_ci(a, b, c) for a, b, c in
                                                              zip(d["estimate"], d["ci_low"], d["ci_high"],
                                                                  strict=True)]})))
        if len(d):
            say.append(f"{len(d)} group metric(s) differ from the overall value beyond chance (table below).")
        else:
            say.append("No group's discrimination or calibration differs from the overall value beyond chance.")
    if len(het):
        tables.append(("Heterogeneity across groups (Cochran's Q)", het))
        for _, r in het.iterrows():
            if np.isfinite(r["p_value"]) and r["p_value"] < 0.05:
                say.append(f"{r['metric']} differs across {r['attribute']} groups (Cochran's Q = {r['q']:.1f}, "
                           f"p = {r['p_value']:.3g}).")
    summ = _flag_summary(flags)
    tables.append(("Groups flagged by the audit", summ))
    say.append(f"{len(summ)} group(s) carry an audit flag (few events, undefined metric, unknown label or "
               "unstable bootstrap); see the table.")
    figs = [(cap, audit["figures"][n]) for n, cap in
            [("forest_harrell_c.png", "Harrell's C by group (95 % CI)")] if n in audit["figures"]]
    return ReportSection(id="fairness", title=_TITLES["fairness"], sentences=tuple(say), tables=tuple(tables),
                         figures=tuple(figs),
                         notes=("Rates at the rule are censoring-aware (Kaplan-Meier among flagged and "
                                "unflagged patients); gaps are max - min across groups with paired bootstrap CIs.",))


def _flag_summary(flags: pd.DataFrame, *, drop_few_events: bool = False) -> pd.DataFrame:
    if flags is None or len(flags) == 0:
        return pd.DataFrame(columns=["attribute", "group", "metrics_flagged", "reasons"])
    out = []
    for (a, g), t in flags.groupby(["attribute", "group"], sort=False):
        reasons = list(dict.fromkeys(_BOOT_UNDEF.sub("some bootstrap replicates undefined", p.strip())
                                     for r in t["reason"].fillna("") for p in str(r).split(";") if p.strip()))
        if drop_few_events:  # listed as "small group" already
            reasons = [r for r in reasons if not r.startswith("fewer than")]
            if not reasons:
                continue
        out.append({"attribute": a, "group": str(g), "metrics_flagged": len(t),
                    "reasons": "; ".join(reasons[:3]) + (" ..." if len(reasons) > 3 else "")})
    return pd.DataFrame(out)


def _decision(ctx: _Context, audit: dict) -> ReportSection:
    from ..evaluation import survival_net_benefit

    pred, h = ctx.pred, ctx.horizon
    with np.errstate(invalid="ignore", divide="ignore"):
        nb = survival_net_benefit(pred["time"].to_numpy(float), pred["event"].to_numpy(float),
                                  pred["risk"].to_numpy(float), horizon=h, thresholds=list(_NB_THRESHOLDS))
    n = len(pred)
    t = pd.DataFrame({"threshold": [_pct(x) for x in nb["threshold"]],
                      "net_benefit_model": nb["model"], "net_benefit_treat_all": nb["treat_all"],
                      "treated_pct": 100 * nb["n_treated"] / n,
                      "net_true_positives_per_100": 100 * nb["model"]})
    say = []
    for _, r in nb.iterrows():
        if r["threshold"] not in (0.05, 0.10, 0.20):
            continue
        s = (f"At a {_pct(r['threshold'], 0)} risk threshold the model would treat {100 * r['n_treated'] / n:.0f} % "
             f"of patients; its net benefit of {r['model']:.4f} equals {100 * r['model']:.1f} patients with MACE "
             f"per 100 correctly treated with no unnecessary treatment (treating everyone: "
             f"{100 * r['treat_all']:.1f})")
        if r["model"] <= max(r["treat_all"], 0):
            s += "; the model adds nothing over the simpler strategy here"
        say.append(s + ".")
    f = audit["figures"].get("decision_curve.png")
    if f is None:
        from ..evaluation import DecisionCurveDisplay
        from ._figures import png

        f = png(lambda ax: DecisionCurveDisplay.from_predictions(
            pred["risk"].to_numpy(float), time=pred["time"].to_numpy(float),
            event=pred["event"].to_numpy(float), horizon=h).plot(ax=ax))
    return ReportSection(id="decision-curve", title=_TITLES["decision-curve"], sentences=tuple(say),
                         tables=(("Net benefit at selected thresholds (out-of-fold risks)", t),),
                         figures=(("Decision curve at the horizon: model, treat all, treat none", f),),
                         notes=("Net benefit = true positives/n - false positives/n x pt/(1 - pt), with "
                                "Kaplan-Meier risks among the treated (Vickers et al. 2008).",))


def _explanations(ctx: _Context) -> ReportSection:
    from ..explain import (
        ExplainError,
        ModalityBarDisplay,
        ShapBarDisplay,
        ShapSummaryDisplay,
        shap_by_subgroup,
        shap_values,
    )
    from ._figures import png, shap_subgroup_figure

    sid, title = "explanations", _TITLES["explanations"]
    if ctx.data is None:
        return ReportSection(id=sid, title=title, sentences=(
            "SHAP values were not computed: the cohort folder is not available (pass --data DIR).",))
    cols = list(ctx.manifest.get("feature_names_in") or [])
    missing = [c for c in cols if c not in ctx.data.X.columns]
    if missing:
        ctx.limitations.append(("explanations", f"SHAP not computed: {len(missing)} model input column(s) "
                                f"are absent from the cohort (e.g. {missing[0]})"))
        return ReportSection(id=sid, title=title, sentences=(
            f"SHAP values were not computed: {len(missing)} input column(s) of the model are not in the "
            f"assembled cohort (first: {missing[0]}).",))
    X = ctx.data.X[cols]
    rng = np.random.default_rng(ctx.seed)
    k = min(ctx.shap_sample, len(X))
    Xs = X.iloc[np.sort(rng.choice(len(X), size=k, replace=False))] if k < len(X) else X
    try:
        res = shap_values(ctx.model, Xs, blocks=ctx.data.blocks, random_state=ctx.seed)
    except ExplainError as exc:
        return ReportSection(id=sid, title=title, sentences=(f"SHAP values could not be computed: {exc}",))
    imp = res.importance()
    mod = res.by_block().to_frame()
    say = [f"SHAP values of the final model on {res.n} patients ({'a random sample' if k < len(X) else 'all'} "
           f"of the cohort), on the {res.scale} scale ({res.method} method).",
           "The most influential features were " + ", ".join(
               f"{r.feature} ({r.block})" for r in imp.head(3).itertuples()) + "."]
    if len(mod):
        say.append("Share of the summed mean |SHAP| by modality: " + ", ".join(
            f"{r.block} {100 * r.share:.0f} %" for r in mod.itertuples() if np.isfinite(r.share)) + ".")
    figs = [("Global importance: mean |SHAP| of the top features", png(
                lambda ax: ShapBarDisplay.from_shap(res).plot(ax=ax), size=(6.4, 4.8))),
            ("Beeswarm: SHAP value of each patient, coloured by the feature value", png(
                lambda ax: ShapSummaryDisplay.from_shap(res).plot(ax=ax), size=(6.8, 5.2))),
            ("Contribution by modality block (mean |sum of SHAP| per block)", png(
                lambda ax: ModalityBarDisplay.from_shap(res).plot(ax=ax), size=(6.4, 3.0)))]
    tables = [("Top features by mean |SHAP|", imp.head(15).round({"mean_abs": 4, "mean": 4})),
              ("SHAP by modality block", mod.round({"mean_abs": 4, "mean": 4, "share": 3}))]
    notes = list(res.notes)
    attrs = [a for a in _GROUP_ATTRS if a in ctx.data.groups.columns]
    top = list(imp["feature"].head(8))
    for a in attrs:
        g = ctx.data.groups.loc[Xs.index, [a]]
        try:
            sub = shap_by_subgroup(res, g, n_boot=max(20, min(ctx.n_boot, 200)), n_perm=199,
                                   random_state=ctx.seed)
        except ExplainError as exc:
            notes.append(f"SHAP by {a}: not computed ({exc})")
            continue
        figs.append((f"Mean |SHAP| of the top features by {a} (95 % bootstrap CI)",
                     shap_subgroup_figure(sub.by_group, attribute=a, features=top, scale=res.scale)))
        fl = sub.flagged
        tables.append((f"Features whose importance or effect differs between {a} groups "
                       f"(permutation test, {sub.adjust} adjusted, alpha {sub.alpha:g})", fl))
        if len(fl):
            say.append(f"By {a}: " + ", ".join(f"{r.feature} ({r.statistic})" for r in fl.head(5).itertuples())
                       + " differ between groups beyond chance.")
        else:
            say.append(f"By {a}: no feature's SHAP importance or effect differs between groups beyond chance.")
        notes.extend(sub.notes)
    notes.append("SHAP explains the model, not causation; a feature can matter because it stands in for another.")
    return ReportSection(id=sid, title=title, sentences=tuple(say), tables=tuple(tables), figures=tuple(figs),
                         notes=tuple(dict.fromkeys(notes)))


def _extrapolation(ctx: _Context) -> pd.DataFrame | None:
    """Share of patients with an input outside the range of their training folds (first CV repeat)."""
    if ctx.data is None or ctx.oof_ids is None or "fold" not in ctx.oof.columns:
        return None
    final = ctx.model.steps[-1][1]
    cols = [c for c in _names(final) if c in ctx.data.X.columns]
    if not cols:
        cols = [c for c in (ctx.manifest.get("feature_names_in") or []) if c in ctx.data.X.columns]
    if not cols:
        return None
    rep = ctx.oof
    if "repeat" in rep.columns:
        rep = rep[rep["repeat"] == rep["repeat"].min()]
    Xall = ctx.data.X[cols].set_axis(ctx.oof_ids, axis=0)
    rep = rep[rep["patient_id"].isin(Xall.index)]
    X = Xall.loc[rep["patient_id"]].to_numpy(float)
    fold = rep["fold"].to_numpy()
    out = np.zeros(len(rep), dtype=bool)
    nan = np.isnan(X)
    for f in np.unique(fold):
        te = fold == f
        lo = np.where(nan[~te], np.inf, X[~te]).min(axis=0, initial=np.inf)  # NaN never counts
        hi = np.where(nan[~te], -np.inf, X[~te]).max(axis=0, initial=-np.inf)
        out[te] = ((X[te] < lo) | (X[te] > hi)).any(axis=1)
    return pd.DataFrame({"patient_id": rep["patient_id"].to_numpy(), "extrapolated": out}).set_index("patient_id")


def _limitations(ctx: _Context, audit: dict) -> ReportSection:
    from scipy.stats import chi2_contingency

    items = list(ctx.limitations)
    m = audit["metrics.csv"]
    ev_h = int(((ctx.pred["event"] == 1) & (ctx.pred["time"] <= ctx.horizon)).sum())
    if ev_h < 100:
        items.append(("few events", f"only {ev_h} MACE by the horizon: performance estimates are imprecise "
                                    "(fewer than 100 events)"))
    if len(m):
        ev = m.drop_duplicates(["attribute", "group"])
        small = ev[(ev["attribute"] != "overall") & (ev["events"] < _MIN_EVENTS)]
        for _, r in small.iterrows():
            items.append(("small group", f"{r['attribute']} = {r['group']}: {int(r['events'])} MACE by the "
                                         f"horizon (< {_MIN_EVENTS}) among {int(r['n'])} patients; its "
                                         "estimates are unreliable"))
    av = ctx.avail
    if av is not None:
        for col in [c for c in av.columns if c.endswith("_available_pct")]:
            block = col[: -len("_available_pct")]
            for attr in ("sex", "ethnicity", "site"):
                t = av[av["attribute"] == attr]
                if len(t) < 2 or t[col].max() - t[col].min() < 5:
                    continue
                k = np.round(t[col].to_numpy() * t["n"].to_numpy() / 100).astype(int)
                tab = np.vstack([k, t["n"].to_numpy() - k])
                if (tab.sum(axis=1) == 0).any():
                    continue
                p = float(chi2_contingency(tab)[1])
                if p < 0.05:
                    lo, hi = t.loc[t[col].idxmin()], t.loc[t[col].idxmax()]
                    used = block in (ctx.config.get("blocks") or [])
                    items.append(("unequal availability",
                                  f"{block} availability differs across {attr} groups: {lo[col]:.1f} % "
                                  f"({lo['group']}) to {hi[col]:.1f} % ({hi['group']}), chi-square p = {p:.2g}"
                                  + ("" if used else f" ({block} is not in this model)")))
    ex = _extrapolation(ctx)
    ex_rows = []
    if ex is not None:
        share = float(ex["extrapolated"].mean())
        by = []
        for a in _attrs(ctx.pred):
            lab = ctx.pred[a].reindex(ex.index)
            for g, v in ex["extrapolated"].groupby(lab, sort=True):
                ex_rows.append({"attribute": a, "group": str(g), "n": len(v), "extrapolated_pct": 100 * v.mean()})
                by.append(f"{g} {100 * v.mean():.1f} %")
        ex_rows.insert(0, {"attribute": "overall", "group": "all", "n": len(ex), "extrapolated_pct": 100 * share})
        items.append(("extrapolation", f"{100 * share:.1f} % of patients had at least one model input outside "
                                       "the range of their training folds in cross-validation (their risks are "
                                       "extrapolations)" + (f"; by group: {', '.join(by)}" if by else "")))
    flags = _flag_summary(audit["flags.csv"], drop_few_events=True)
    for _, r in flags.iterrows():
        items.append(("audit flag", f"{r['attribute']} = {r['group']}: {r['reasons']}"))
    if ctx.hash_mismatch:
        items.append(("data changed", "the cohort folder differs from the one the model was fitted on "
                                      f"(SHA-256 mismatch: {', '.join(ctx.hash_mismatch)})"))
    for n in ctx.data_notes:
        items.append(("missing input", n))
    table = pd.DataFrame(items, columns=["kind", "detail"])
    kinds = table["kind"].value_counts()
    say = [f"{len(table)} limitation(s) were detected automatically: "
           + ", ".join(f"{v} x {k}" for k, v in kinds.items()) + "." if len(table)
           else "No limitation was detected automatically."]
    say += [f"{k}: {d}." for k, d in items[:12]]
    if len(items) > 12:
        say.append(f"... and {len(items) - 12} more in the table.")
    tables = [("Limitations detected automatically", table)]
    if ex_rows:
        tables.append(("Extrapolation in cross-validation by group", pd.DataFrame(ex_rows)))
    return ReportSection(id="limitations", title=_TITLES["limitations"], sentences=tuple(say),
                         tables=tuple(tables),
                         notes=("Automatic checks do not replace a statistician's review: they cover small "
                                f"groups (< {_MIN_EVENTS} events), unequal modality availability (chi-square, "
                                "range >= 5 points), extrapolation beyond the training range, audit flags, "
                                "miscalibrated groups and inputs that changed since the fit.",))


def _provenance(ctx: _Context, settings: dict) -> ReportSection:
    prov = ctx.prov
    vers = pd.DataFrame([(k, str(v)) for k, v in (prov.get("versions") or {}).items()],
                        columns=["package", "version"])
    cfg = pd.DataFrame([(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in ctx.config.items()],
                       columns=["setting", "value"])
    inputs = pd.DataFrame([(k, v.get("path", ""), v.get("sha256", "")) for k, v in
                           (prov.get("inputs_sha256") or {}).items()], columns=["input", "path", "sha256"])
    tim = pd.DataFrame(list((prov.get("timings_seconds") or {}).items()), columns=["step", "seconds"])
    ident = prov.get("identifiers")
    if isinstance(ident, dict):
        settings = {**settings, "identifiers in RUN": f"{ident.get('identifiers')} ({ident.get('method', '')}; "
                                                      f"key fingerprint {ident.get('key_fingerprint')})"}
    rep = pd.DataFrame([(k, str(v)) for k, v in settings.items()], columns=["report setting", "value"])
    bundle = pd.DataFrame([(k, str(v)) for k, v in (ctx.manifest.get("versions") or {}).items()],
                          columns=["package", "version in the model bundle"])
    say = [f"Fitted with radiorisk {(prov.get('versions') or {}).get('radiorisk', '?')} on "
           f"{prov.get('created_utc', '?')} (UTC); seed {prov.get('seed')}.",
           f"Command: {' '.join(prov['argv']) if prov.get('argv') else prov.get('command', 'radiorisk fit')}.",
           f"{len(inputs)} input file(s) are identified by their SHA-256 below"
           + (f"; {len(ctx.hash_mismatch)} differ now." if ctx.hash_mismatch else "; all match the cohort read here."
              if ctx.data_dir is not None else ".")]
    return ReportSection(id="provenance", title=_TITLES["provenance"], sentences=tuple(say),
                         tables=(("Software versions at fit time", vers), ("Configuration of the fit", cfg),
                                 ("Input data (SHA-256)", inputs), ("Model bundle", bundle),
                                 ("Timings of the fit (seconds)", tim), ("This report", rep)))


# ----------------------------------------------------------------------------- public
def collect_model_report(run, *, data=None, audit=None, n_boot: int = 200, seed: int | None = None,
                         shap_sample: int = 500) -> ModelReport:
    """Gather everything the model report shows (computes the audit and SHAP when needed).

    Parameters
    ----------
    run : path-like
        A RUN folder of ``radiorisk fit``.
    data : path-like, optional
        The cohort folder (default: the one recorded in ``provenance.json``).
    audit : path-like, optional
        A ``radiorisk audit`` folder of the run's out-of-fold predictions
        (default: ``RUN/audit`` when present, else the audit is computed here,
        by sex and ethnicity, with ``n_boot`` resamples, into a temporary folder).
    n_boot : int, default 200
        Bootstrap resamples of that audit and of the SHAP-by-subgroup CIs.
    seed : int, optional
        Seed of the audit bootstrap and the SHAP sample (default: the fit's seed).
    shap_sample : int, default 500
        SHAP values are computed on at most this many patients (a random sample).

    Returns
    -------
    ModelReport

    Raises
    ------
    ReportError
        The RUN (or ``audit``, ``data``) folder is missing or incomplete; the message names the file.

    Examples
    --------
    >>> collect_model_report("no/such/run")
    Traceback (most recent call last):
    ...
    radiorisk.report._model.ReportError: --run no/such/run: no such folder (expected a RUN folder written by `radiorisk fit`)
    """
    from ..models import load

    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ReportError(f"--n-boot must be an integer >= 0; got {n_boot!r}")
    if isinstance(shap_sample, bool) or not isinstance(shap_sample, int | np.integer) or shap_sample < 1:
        raise ReportError(f"shap_sample must be an integer >= 1; got {shap_sample!r}")
    run = Path(run)
    prov, oof, ladder = _read_run(run)
    if data is not None and not Path(data).is_dir():
        raise ReportError(f"--data {data}: no such folder")
    if audit is not None and not Path(audit).is_dir():
        raise ReportError(f"--audit {audit}: no such folder")
    cfg = prov["configuration"]
    horizon = float(cfg.get("horizon_days", 1826.0))
    seed = int(prov.get("seed", 0) if seed is None else seed)
    model = load(run / "model")
    manifest = json.loads((run / "model" / "manifest.json").read_text(encoding="utf-8"))
    pred = _per_patient(oof)
    with tempfile.TemporaryDirectory(prefix="radiorisk-report-") as tmp:
        if audit is not None:
            audit_dir = Path(audit)
            if not audit_dir.is_dir():
                raise ReportError(f"--audit {audit_dir}: no such folder")
            source = f"the audit in {audit_dir}"
        elif (run / "audit" / "metrics.csv").is_file():
            audit_dir, source = run / "audit", f"the audit in {run / 'audit'}"
        else:
            audit_dir = Path(tmp)
            _run_audit(pred, audit_dir, horizon=horizon, n_boot=int(n_boot), seed=seed)
            source = (f"audit computed for this report ({n_boot} percentile bootstrap resamples, seed {seed})"
                      if n_boot else "audit computed for this report (analytic CIs where defined)")
        aud = _read_audit(audit_dir)
    ctx = _Context(run=run, prov=prov, config=cfg, horizon=horizon, oof=oof, pred=pred, ladder=ladder,
                   model=model, manifest=manifest, audit_dir=audit_dir, audit_source=source, seed=seed,
                   n_boot=int(n_boot), shap_sample=int(shap_sample))
    _load_cohort(ctx, data if data is not None else cfg.get("data"), explicit=data is not None)
    sections = [_participants(ctx), _model_spec(ctx), _discrimination(ctx, aud), _calibration(ctx, aud),
                _fairness(ctx, aud), _decision(ctx, aud), _explanations(ctx)]
    sections.append(_limitations(ctx, aud))
    settings = {"RUN": run, "cohort folder": ctx.data_dir or "(not available)", "audit": source,
                "seed": seed, "SHAP sample": shap_sample,
                "created": _dt.datetime.now().strftime("%Y-%m-%d %H:%M")}
    sections.append(_provenance(ctx, settings))
    summary = _summary(ctx, aud, sections)
    from .. import __version__

    return ModelReport(
        title=f"Model report: {cfg.get('model')} on {'+'.join(cfg.get('blocks') or [])}",
        subtitle=f"radiorisk {__version__} · RUN {run.name} · horizon {horizon:g} days · structured after "
                 "TRIPOD+AI · research use only, not a medical device.",
        summary=summary, sections=tuple(sections), run=run)


def _summary(ctx: _Context, aud: dict, sections) -> tuple[str, ...]:
    m = aud["metrics.csv"]
    ov = m[m["attribute"] == "overall"].set_index("metric") if len(m) else pd.DataFrame()
    ev = int(((ctx.pred["event"] == 1) & (ctx.pred["time"] <= ctx.horizon)).sum())
    out = [f"{len(ctx.pred)} patients, {ev} MACE by {ctx.horizon:g} days."]
    if "harrell_c" in ov.index:
        r = ov.loc["harrell_c"]
        out.append(f"Out-of-fold Harrell's C {_ci(r['estimate'], r['ci_low'], r['ci_high'])}.")
    if "oe_ratio_t" in ov.index:
        r = ov.loc["oe_ratio_t"]
        out.append(f"Observed/expected risk {_ci(r['estimate'], r['ci_low'], r['ci_high'])} (1 = calibrated).")
    lim = next(s for s in sections if s.id == "limitations")
    out.append(f"{len(lim.to_frame())} automatically detected limitation(s); see section 8.")
    return tuple(out)


def build_model_report(run, out, *, data=None, audit=None, n_boot: int = 200, seed: int | None = None,
                       shap_sample: int = 500) -> Path:
    """Write the self-contained HTML model report of a RUN folder (atomically); returns its path.

    Sections, in TRIPOD+AI order, each with a stable ``id``: ``participants``,
    ``model``, ``discrimination``, ``calibration``, ``fairness``,
    ``decision-curve``, ``explanations``, ``limitations``, ``provenance``
    (:data:`MODEL_REPORT_SECTIONS`).  Figures are embedded PNGs; the page
    loads nothing from the network.

    Parameters
    ----------
    run : path-like
        A RUN folder of ``radiorisk fit``.
    out : path-like
        The HTML file to write (its folder is created if needed).
    data, audit, n_boot, seed, shap_sample
        See :func:`collect_model_report`.

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        Missing or incomplete inputs (the message names the file), or ``out`` is a folder.

    Examples
    --------
    >>> build_model_report("no/such/run", "report.html")
    Traceback (most recent call last):
    ...
    radiorisk.report._model.ReportError: --run no/such/run: no such folder (expected a RUN folder written by `radiorisk fit`)
    >>> build_model_report("demo_output/run", "model_report.html")  # doctest: +SKIP
    PosixPath('model_report.html')
    """
    out = Path(out)
    if out.is_dir():
        raise ReportError(f"--out {out}: is a folder; give the HTML file to write, e.g. {out / 'report.html'}")
    report = collect_model_report(run, data=data, audit=audit, n_boot=n_boot, seed=seed,
                                  shap_sample=shap_sample)
    page = report.to_html()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise ReportError(f"--out {out}: cannot write the report ({exc})") from exc
    return out
