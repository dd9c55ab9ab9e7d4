"""The body of ``radiorisk patient-report``: a model bundle, a cohort folder and patient ids in, reports out.

:func:`run_patient_report` reads the bundle and the cohort as ``radiorisk predict``
does (:func:`radiorisk.pipeline._predict.prepare_cohort`: the same validation, the same
assembled model inputs, the same pseudonyms), then computes, for each patient given,
once:

- the risk by the horizon, its bootstrap interval and the low-confidence flag
  (:func:`radiorisk.explain.risk_intervals`, refitting the bundle's model on the
  training cohort: ``train_data``, default the cohort recorded in ``RUN/provenance.json``);
- the SHAP values against the training cohort as background
  (:func:`radiorisk.explain.shap_values`);
- the structured report (:func:`radiorisk.pipeline.patient_reports`) and its
  three-sentence summary;
- the lesion images (:func:`radiorisk.pipeline._patient_images.lesion_images`);

- the guideline context (:func:`radiorisk.report.guideline_context`, CAD-RADS
  categories derived where not recorded);

into one :class:`radiorisk.report.PatientReportResult`, and writes ``<id>.html``
(clinician view), ``<id>.patient.html`` (plain-language view), their PDFs,
``<id>.json`` (format version 2, ``data_schemas/patient_report.schema.json``), the DICOM
SR ``<id>.sr.dcm`` and ``patient_report.provenance.json``. Ids are pseudonymised unless ``raw_ids``: the
patient is given by its raw id, every output carries only its pseudonym.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .._files import atomic_write, atomic_write_text, sha256_file
from ..exceptions import FitUsageError, PatientReportError
from ..explain import risk_intervals, shap_values
from ..models import is_competing, make_y
from ..report import (
    PatientReportResult,
    clinician_summary,
    complete_cad_rads,
    guideline_context,
    load_guideline,
)
from ._patient import _file_stem, patient_reports
from ._patient_images import Heatmaps, dicom_evidence, heatmap_features, lesion_images
from ._predict import load_bundle, prepare_cohort
from ._provenance import cohort_ids, inside, versions, write_json

__all__ = ["PatientReportRun", "run_patient_report", "PATIENT_REPORT_PROVENANCE", "FORMATS"]

#: The run's provenance file inside ``out_dir``.
PATIENT_REPORT_PROVENANCE = "patient_report.provenance.json"
#: The formats written, and for each the kinds of file (kind -> file name suffix).
FORMATS = {"html": {"clinician": ".html", "patient": ".patient.html"},
           "pdf": {"clinician-pdf": ".pdf", "patient-pdf": ".patient.pdf"},
           "json": {"json": ".json"}, "sr": {"sr": ".sr.dcm"}}
_SUFFIXES = {k: v for kinds in FORMATS.values() for k, v in kinds.items()}


@dataclass(frozen=True)
class PatientReportRun:
    """What :func:`run_patient_report` computed and wrote.

    Attributes
    ----------
    out_dir : Path
    results : tuple of PatientReportResult
        In the order of the patients given.
    files : DataFrame
        ``patient, kind, path`` (kind: ``clinician``, ``patient``, ``clinician-pdf``,
        ``patient-pdf``, ``json``, ``sr``).
    provenance : Path
    notes : tuple of str
    """

    out_dir: Path
    results: tuple = field(repr=False)
    files: pd.DataFrame = field(repr=False)
    provenance: Path
    notes: tuple = ()

    def summary(self) -> str:
        """Text printed at the end of ``radiorisk patient-report``.

        Examples
        --------
        >>> PatientReportRun(out_dir=Path("out"), results=(), files=pd.DataFrame(),
        ...                  provenance=Path("out/p.json")).summary().splitlines()[0]
        'radiorisk patient-report: 0 patient(s)'
        """
        lines = [f"radiorisk patient-report: {len(self.results)} patient(s)"]
        for r in self.results:
            lines.append(f"  {r.patient}: risk {100 * r.report.risk:.1f} %, "
                         f"{len(r.lesion_images)} lesion image(s)")
        lines += [f"  - {n}" for n in self.notes]
        lines += [f"Reports: {self.out_dir}", f"Provenance: {self.provenance}"]
        return "\n".join(lines)


def _check_patients(patients) -> list[str]:
    if isinstance(patients, str):
        patients = [patients]
    ids = [str(p) for p in (patients or [])]
    if not ids:
        raise PatientReportError("patients: give at least one patient id")
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise PatientReportError(f"patients: patient id {dup[0]!r} is given twice")
    return ids


def _comment(comment, comment_file) -> str | None:
    if comment is not None and comment_file is not None:
        raise PatientReportError("give comment or comment_file, not both")
    if comment_file is None:
        return comment
    try:
        return Path(comment_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PatientReportError(f"comment_file {comment_file}: cannot be read as UTF-8 text ({exc})") from exc


def _train_dir(model_dir: Path, train_data) -> Path | None:
    """The training cohort: ``train_data``, else the ``data`` of RUN/provenance.json when that folder exists."""
    if train_data is not None:
        return Path(train_data)
    try:
        prov = json.loads((model_dir.parent / "provenance.json").read_text(encoding="utf-8"))
        data = prov.get("configuration", {}).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    if not data:
        return None
    for cand in (Path(data), model_dir.parent / data):
        if (cand / "patients.csv").exists() or cand.is_dir():
            return cand
    return None


def _training(est, req, model_dir, data_dir, train_dir, out_dir, h, prep, kw, notes):
    """``(X_train, y_train)`` of the bundle's training cohort, or ``(None, None)`` with a note."""
    if train_dir is None:
        notes.append("confidence not assessed: the training cohort is not known (RUN/provenance.json names "
                     "no existing folder); give train_data")
        return None, None
    if Path(train_dir).resolve() == Path(data_dir).resolve():
        return prep.X, _target(est, prep.data)
    train = prepare_cohort(est, req, model_dir, train_dir, out_dir / "training", h, id_key=prep.pz, **kw)
    return train.X, _target(est, train.data)


def _target(est, data):
    """The outcome the bootstrap refits of ``est`` are fitted on: with each patient's event type
    (0 censored, 1 MACE, 2 competing death) when ``est`` is a competing-risk model, as ``fit`` did."""
    if is_competing(est) and data.event_type is not None:
        return make_y(data.time.to_numpy(float), data.event.to_numpy(bool),
                      event_type=data.event_type.reindex(data.X.index).to_numpy(int))
    return data.y


def _check_formats(formats) -> tuple[str, ...]:
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise PatientReportError(f"formats must be a non-empty subset of {tuple(FORMATS)}; got {formats!r}")
    return tuple(dict.fromkeys(formats))


def _check_out(out_dir: Path, stems, overwrite: bool, formats) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise PatientReportError(f"out_dir {out_dir}: exists and is not a folder")
    sufs = [suf for f in formats for suf in FORMATS[f].values()]
    names = [PATIENT_REPORT_PROVENANCE] + [s + suf for s in stems for suf in sufs]
    there = [n for n in names if (out_dir / n).exists()]
    if there and not overwrite:
        raise PatientReportError(f"out_dir {out_dir}: {there[0]} exists (use overwrite)")


def run_patient_report(model_dir, data_dir, patients, out_dir, *, comment=None, comment_file=None,
                       author: str | None = None, guideline=None, train_data=None, horizon: float | None = None,
                       top_k: int = 5, n_boot: int = 50, features=None, radiomics_cache=None, n_jobs: int = 1,
                       id_key=None, id_key_file=None, raw_ids: bool = False, overwrite: bool = False,
                       argv=None, allow_outside_root: bool = False, random_state: int = 0,
                       report_date: str | None = None,
                       formats=("html", "pdf", "json", "sr"), heatmaps: bool = True,
                       progress=None) -> PatientReportRun:
    """Clinician and patient reports of some patients of a cohort folder, with a model bundle.

    Parameters
    ----------
    model_dir : path-like
        The model bundle (``RUN/model`` of ``radiorisk fit``).
    data_dir : path-like
        Cohort folder holding the patients.
    patients : str or sequence of str
        Raw patient ids of the cohort (as in its ``patients.csv``).
    out_dir : path-like
        Folder of the reports (created).
    comment, comment_file : str or path-like, optional
        Free text printed in every report (the text, or a UTF-8 file holding it).
    author : str, optional
        Who wrote the comment / asked for the reports (in the provenance).
    guideline : path-like or Mapping, optional
        The guideline table of the *Guideline context* section
        (:func:`radiorisk.report.load_guideline`; default radiorisk's, which names
        no risk bands).
    train_data : path-like, optional
        The cohort the model was fitted on, for the bootstrap interval and the SHAP
        background (default: the ``data`` of ``RUN/provenance.json``; without it
        the confidence is not assessed and the background is the cohort itself).
    horizon : float, optional
        Days (default: the model's).
    top_k : int, default 5
        Contributing factors per report.
    n_boot : int, default 50
        Bootstrap refits of the interval.
    features, radiomics_cache, id_key, id_key_file, raw_ids, allow_outside_root
        As in :func:`radiorisk.pipeline.predict_cohort`.
    n_jobs : int, default 1
        Worker processes: the radiomics extraction of new images (as in ``predict_cohort``) and
        the bootstrap refits of the interval (:func:`radiorisk.explain.risk_intervals`; the same
        intervals for any ``n_jobs``).
    overwrite : bool
        Replace existing reports.
    argv : list of str, optional
        The command line (pseudonymised in the provenance).
    random_state : int, default 0
    report_date : str, optional
        ISO date printed (default: today, UTC).
    formats : sequence of {"html", "pdf", "json", "sr"}
        ``html``: ``<id>.html`` (clinician) and ``<id>.patient.html``; ``pdf``: the same
        views as ``<id>.pdf`` and ``<id>.patient.pdf`` (weasyprint); ``json``:
        ``<id>.json``; ``sr``: ``<id>.sr.dcm``, the DICOM Structured Report (TID 1500).
    heatmaps : bool, default True
        When the model uses radiomics and the bundle records their preset: on each imaged lesion,
        the voxel-based map (:func:`radiorisk.imaging.voxel_feature_maps`) of the radiomic feature
        that moved the patient's prediction most (largest absolute SHAP value, shape features
        excepted), overlaid on the lesion panel and written as NIfTI into ``out_dir/heatmaps/``.
    progress : callable, optional
        ``progress(step, done, total)`` as the bootstrap refits of the interval finish (step
        ``"bootstrap refits"``, most of the time) and as each patient's files are written
        (``"patient reports"``); :class:`radiorisk.pipeline.ConsoleProgress` renders it.

    Returns
    -------
    PatientReportRun

    Raises
    ------
    PatientReportError
        A patient id not in the cohort (named), a repeated id, an existing output.
    ModelError, BundleError
        As :func:`radiorisk.pipeline.predict_cohort`.

    Examples
    --------
    >>> run_patient_report("RUN/model", "cohort", [], "out")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.PatientReportError: patients: give at least one patient id
    >>> run = run_patient_report("RUN/model", "cohort", ["P000036"], "reports")  # doctest: +SKIP
    """
    ids = _check_patients(patients)
    formats = _check_formats(formats)
    text = _comment(comment, comment_file)
    table = load_guideline(guideline)
    model_dir, data_dir, out_dir = Path(model_dir), Path(data_dir), Path(out_dir)
    est, req, h = load_bundle(model_dir, horizon)
    kw = {"features": features, "radiomics_cache": radiomics_cache, "n_jobs": n_jobs,
          "allow_outside_root": allow_outside_root}
    prep = prepare_cohort(est, req, model_dir, data_dir, out_dir / "patient_report", h, id_key=id_key,
                          id_key_file=id_key_file, raw_ids=raw_ids, **kw)
    pz = prep.pz
    if pz.key_path is not None and inside(pz.key_path, out_dir):
        raise FitUsageError(f"the id key file {pz.key_path} lies inside out_dir {out_dir}; the key must stay "
                            "outside the outputs")
    unknown = [i for i in ids if i not in prep.X.index]
    if unknown:
        raise PatientReportError(f"patients: {len(unknown)} patient id(s) not in the cohort {data_dir}: "
                                 f"{', '.join(map(repr, unknown))}")
    labels = dict(zip(ids, pz(ids), strict=True))
    stems = [_file_stem(labels[i]) for i in ids]
    _check_out(out_dir, stems, overwrite, formats)
    notes = list(prep.notes)
    X_train, y_train = _training(est, req, model_dir, data_dir, _train_dir(model_dir, train_data), out_dir,
                                 h, prep, kw, notes)
    Xs = prep.X.loc[ids]
    blocks = prep.data.blocks
    with warnings.catch_warnings():  # bootstrap refits of a penalised Cox may not converge fully
        warnings.simplefilter("ignore")
        u = None if X_train is None else risk_intervals(
            est, Xs, X_train=X_train, y_train=y_train, n_boot=n_boot, horizon=h, blocks=blocks,
            random_state=random_state, progress=progress, n_jobs=n_jobs)
    shap = shap_values(est, Xs, blocks=blocks, random_state=random_state,
                       background=prep.X if X_train is None else X_train)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    about = {"command": "radiorisk patient-report", "model_bundle": str(model_dir),
             "bundle_sha256": sha256_file(model_dir / "manifest.json"), "author": author or "not stated",
             "created_utc": created}
    every_id = [] if pz.raw else cohort_ids(prep.cohort)
    scrub = (lambda s: s) if pz.raw else (lambda s: pz.scrub_text(s, every_id))
    reports = patient_reports(est, prep.data, ids, horizon=h, intervals=u, shap=shap,
                              free_text=None if text is None else scrub(text), top_k=top_k,
                              tables=prep.cohort, blocks=blocks, pseudonyms=None if pz.raw else labels,
                              provenance=about, report_date=report_date, random_state=random_state)
    hm = _heatmaps(heatmaps, req, shap, ids, out_dir, dict(zip(ids, stems, strict=True)), notes)
    images, inotes = lesion_images(prep.cohort, ids, pseudonymised=not pz.raw,
                                   allow_outside_root=allow_outside_root, heatmaps=hm)
    evidence = (dicom_evidence(prep.cohort, ids, allow_outside_root=allow_outside_root) if pz.raw
                else dict.fromkeys(ids, ()))  # DICOM headers carry identities: raw-id outputs only
    results = [_result(rep, shap.subset([k]), labels[pid], images[pid], inotes[pid], h, about, table,
                       evidence[pid])
               for k, (pid, rep) in enumerate(zip(ids, reports, strict=True))]
    notes = [scrub(n) for n in notes]
    files = _write(results, stems, out_dir, formats, progress)
    if hm is not None and hm.folder.is_dir():
        maps = sorted(p for p in hm.folder.glob("*.nii.gz") if any(p.name.startswith(t + ".") for t in stems))
        files = pd.concat([files, pd.DataFrame({"patient": [p.name.split(".", 1)[0] for p in maps],
                                                "kind": "heatmap", "path": [str(p) for p in maps]})],
                          ignore_index=True)
    prov = {**about, "argv": None if argv is None else [scrub(str(a)) for a in argv], "versions": versions(),
            "horizon_days": h, "n_boot": n_boot if u is not None else None,
            "guideline": {"name": table["name"], "version": table["version"],
                          "file": str(guideline) if isinstance(guideline, str | Path) else None},
            "train_data": None if X_train is None else "given" if train_data is not None else "RUN/provenance.json",
            "inputs_sha256": {k: {"path": str(p), "sha256": sha256_file(p)} for k, p in sorted(prep.inputs.items())},
            "identifiers": pz.provenance(), "statements": notes,
            "outputs": [Path(p).name for p in files["path"]]}
    write_json(out_dir / PATIENT_REPORT_PROVENANCE, prov)
    return PatientReportRun(out_dir=out_dir, results=tuple(results), files=files,
                            provenance=out_dir / PATIENT_REPORT_PROVENANCE, notes=tuple(notes))


def _heatmaps(wanted: bool, req, shap, ids, out_dir: Path, stems: dict, notes: list) -> Heatmaps | None:
    """What :func:`lesion_images` maps: each patient's most influential radiomic feature, with the bundle's preset."""
    if not wanted or not any(b == "radiomics" for b in shap.blocks):
        return None
    preset = None if req is None else req.radiomics_preset
    if preset is None:
        notes.append("no voxel-based heatmaps: the bundle records no radiomics preset (its radiomics came "
                     "from a features table)")
        return None
    features = heatmap_features(shap, ids)
    if features:
        notes.append(f"voxel-based heatmaps (pyradiomics, preset {preset!r}, kernel radius 1, the lesion and "
                     "2 voxels around it) of each patient's most influential radiomic feature: "
                     + ", ".join(sorted(set(features.values()))) + "; NIfTI in heatmaps/")
    return Heatmaps(features=features, params=preset, folder=out_dir / "heatmaps", stems=stems)


def _result(rep, one, label: str, images, notes, h: float, about: dict, table, evidence) -> PatientReportResult:
    """One patient's result: CAD-RADS completed, SHAP indexed by the printed identifier, guideline context."""
    rep = complete_cad_rads(rep)
    one = replace(one, data=one.data.set_axis(pd.Index([label])))
    return PatientReportResult(report=rep, summary=clinician_summary(rep), lesion_images=images, image_notes=notes,
                               shap=one, horizon_days=h, provenance=about, guideline=guideline_context(rep, table),
                               dicom_evidence=evidence)


def _content(res, kind: str):
    """``(bytes or text, is_text)`` of one file of a report."""
    if kind == "json":
        return res.to_json() + "\n", True
    if kind == "sr":
        buf = io.BytesIO()
        res.to_sr().save_as(buf, enforce_file_format=True)
        return buf.getvalue(), False
    if kind.endswith("-pdf"):
        return res.to_pdf(kind[: -len("-pdf")]), False
    return res.to_html(kind), True


def _write(results, stems, out_dir: Path, formats, progress=None) -> pd.DataFrame:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    if progress is not None:
        progress("patient reports", 0, len(results))
    for k, (res, stem) in enumerate(zip(results, stems, strict=True)):
        for f in formats:
            for kind, suffix in FORMATS[f].items():
                path = out_dir / (stem + suffix)
                data, is_text = _content(res, kind)
                if is_text:
                    atomic_write_text(path, data)
                else:
                    atomic_write(path, lambda tmp, data=data: Path(tmp).write_bytes(data))
                rows.append({"patient": res.patient, "kind": kind, "path": str(path)})
        if progress is not None:
            progress("patient reports", k + 1, len(results))
    return pd.DataFrame(rows, columns=["patient", "kind", "path"])
