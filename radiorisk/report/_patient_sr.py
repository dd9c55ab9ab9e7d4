"""The DICOM Structured Report of a patient report: a TID 1500 measurement report (highdicom).

One measurement group per imaged lesion (its plaque volumes by component, burden,
remodelling index and mean attenuation, as measured on its mask) and one patient-level
group holding the risk estimate and its interval as derived measurements (derivation
"calculated", method: the model).  Concepts with a standard code use it (SNOMED CT
*Volume*, UCUM units, DCM *Device*); the others use the private coding scheme
``99RADIORISK`` (declared in the document's coding scheme list by highdicom's rules for
private schemes).

Without :attr:`PatientReportResult.dicom_evidence` (NIfTI input, or any pseudonymised
report) no DICOM header of the source images is copied: the patient is the report's
identifier and the study is identified by a UID derived from the report
(``pydicom.uid.generate_uid`` with the bundle digest, patient and creation time as
entropy).  With it (DICOM input and raw ids), the SR belongs to the source CT's patient
and study and lists the source series as its evidence (the headers of the first study).
"""

from __future__ import annotations

__all__ = ["patient_sr", "SR_SCHEME"]

#: The private coding scheme of the concepts without a standard code.
SR_SCHEME = "99RADIORISK"

_LESION_MEASURES = (("v_total_mm3", "SCT", "118565006", "Volume", "mm3"),
                    ("v_calcified_mm3", SR_SCHEME, "RR-VCALC", "Calcified plaque volume", "mm3"),
                    ("v_noncalcified_mm3", SR_SCHEME, "RR-VNC", "Non-calcified plaque volume", "mm3"),
                    ("v_lap_mm3", SR_SCHEME, "RR-VLAP", "Low-attenuation plaque volume", "mm3"),
                    ("v_fibrofatty_mm3", SR_SCHEME, "RR-VFF", "Fibro-fatty plaque volume", "mm3"),
                    ("v_fibrous_mm3", SR_SCHEME, "RR-VFIB", "Fibrous plaque volume", "mm3"),
                    ("plaque_burden_pct", SR_SCHEME, "RR-PB", "Plaque burden", "%"),
                    ("max_plaque_burden_pct", SR_SCHEME, "RR-MPB", "Maximum plaque burden", "%"),
                    ("remodelling_index", SR_SCHEME, "RR-RI", "Remodelling index", "1"),
                    ("hu_mean", SR_SCHEME, "RR-HUMEAN", "Mean plaque attenuation", "[hnsf'U]"))
_UNITS = {"mm3": "cubic millimeter", "%": "Percent", "1": "no units", "[hnsf'U]": "Hounsfield unit"}


def _uid(*parts) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(prefix=None, entropy_srcs=[str(p) for p in parts])


def _placeholder(res, study_uid: str):
    """A CT-image-shaped dataset carrying only the report's patient and study (highdicom's required evidence)."""
    from pydicom.dataset import Dataset
    from pydicom.uid import CTImageStorage

    ds = Dataset()
    ds.PatientID, ds.PatientName = res.patient, f"{res.patient}^"  # one component: the identifier
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyInstanceUID, ds.StudyID, ds.AccessionNumber = study_uid, "", ""
    ds.StudyDate = (res.report.report_date or "").replace("-", "")
    ds.StudyTime, ds.ReferringPhysicianName = "", ""
    ds.SeriesInstanceUID = _uid(study_uid, "series")
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, _uid(study_uid, "image")
    ds.Modality = "CT"
    return ds


def _measurement(hd, codes_value, scheme, meaning, value, unit, derivation=None):
    from pydicom.sr.coding import Code

    return hd.sr.Measurement(name=hd.sr.CodedConcept(codes_value, scheme, meaning), value=float(value),
                             unit=Code(unit, "UCUM", _UNITS.get(unit, unit)), derivation=derivation)


def patient_sr(res):
    """The TID 1500 Comprehensive 3D SR of a :class:`PatientReportResult`.

    Parameters
    ----------
    res : PatientReportResult

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
        A pydicom Dataset (``save_as`` writes it).

    Examples
    --------
    >>> from radiorisk.report import PatientReport, PatientReportResult, clinician_summary
    >>> r = PatientReport(patient="pz_1", horizon_days=1826.0, outcome="MACE", risk=0.05, ci_low=0.03,
    ...                   ci_high=0.08, ci_level=0.95, low_confidence=False, confidence_reason="", factors=())
    >>> sr = patient_sr(PatientReportResult(report=r, summary=clinician_summary(r)))
    >>> sr.PatientID, sr.Modality, sr.ContentTemplateSequence[0].TemplateIdentifier
    ('pz_1', 'SR', '1500')
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from .. import __version__

    prov = res.provenance or {}
    evidence = list(res.dicom_evidence)
    if evidence:
        first = evidence[0].StudyInstanceUID
        evidence = [ds for ds in evidence if ds.StudyInstanceUID == first]
    study = evidence[0].StudyInstanceUID if evidence else _uid(prov.get("bundle_sha256"), res.patient,
                                                                prov.get("created_utc"), "study")
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_uid(study, "device"), name="radiorisk", model_name=f"radiorisk {__version__}"))
    context = hd.sr.ObservationContext(observer_device_context=device)
    groups = []
    for k, li in enumerate(res.lesion_images):
        meas = [_measurement(hd, code, scheme, meaning, li.measurements[key], unit)
                for key, scheme, code, meaning, unit in _LESION_MEASURES
                if li.measurements.get(key) is not None]
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(study, "lesion", k),
                                                         identifier=li.lesion + (f" ({li.vessel})" if li.vessel else "")),
            finding_type=hd.sr.CodedConcept("RR-PLAQUE", SR_SCHEME, "Coronary atherosclerotic plaque"),
            measurements=meas))
    r = res.report
    calc = codes.DCM.Calculated if hasattr(codes.DCM, "Calculated") else None
    risk = [_measurement(hd, "RR-RISK", SR_SCHEME, f"Risk of MACE by {r.horizon_days:g} days", 100 * r.risk,
                         "%", calc)]
    for key, code, meaning in (("ci_low", "RR-RISKLO", "lower limit"), ("ci_high", "RR-RISKHI", "upper limit")):
        v = getattr(r, key)
        if v is not None:
            level = f"{100 * (r.ci_level or 0.95):g} %"
            risk.append(_measurement(hd, code, SR_SCHEME, f"Risk of MACE, {level} interval {meaning}",
                                     100 * v, "%", calc))
    groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(study, "risk"), identifier="risk estimate"),
        finding_type=hd.sr.CodedConcept("RR-MACE", SR_SCHEME, "Major adverse cardiovascular event risk"),
        method=hd.sr.CodedConcept("RR-MODEL", SR_SCHEME, f"radiorisk {r.model.get('model', 'model')}"),
        measurements=risk))
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=hd.sr.CodedConcept("RR-CCTA", SR_SCHEME, "Coronary CT angiography"),
        imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence or [_placeholder(res, study)], content=report,
        series_instance_uid=_uid(study, res.patient, prov.get("created_utc"), "sr-series"), series_number=1,
        sop_instance_uid=_uid(study, res.patient, prov.get("created_utc"), "sr"), instance_number=1,
        manufacturer="radiorisk", record_evidence=bool(evidence),
        series_description="radiorisk patient report (research use only)")
    if not evidence and "CurrentRequestedProcedureEvidenceSequence" in sr:
        del sr.CurrentRequestedProcedureEvidenceSequence  # the placeholder is no image: reference none
    return sr
