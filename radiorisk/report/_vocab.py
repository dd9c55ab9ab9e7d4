"""Clinical vocabularies of the reports: feature labels, CAD-RADS, CAC, PET, MACE and model words.

One place for the plain-language words the reports print: the label, kind and
unit of every model feature (:func:`feature_label`), the CAD-RADS 2.0 stenosis
and plaque-burden categories, the CAC (Agatston) categories, the plaque,
high-risk-feature and lesion fields of the patient report, the PET reasons,
the MACE components and the model kinds of the model report.
"""

from __future__ import annotations

from ..schemas import load_schema

__all__ = ["feature_label", "DISCLAIMER", "CAC_CATEGORIES"]

#: The statement every report carries.
DISCLAIMER = ("For research use only. radiorisk is not a medical device; this report must not be "
              "used on its own for diagnosis or treatment decisions.")
#: CAC (Agatston) categories of the report.
CAC_CATEGORIES = ("0", "1-99", "100-399", ">=400")
#: CMA above which coronary 18F-NaF activity is reported as high (Kwiecinski et al., JACC 2020).
_CMA_HIGH = 1.56

# feature -> (plain-language label, kind, (schema table, column) for the unit)
# kinds: num, count, bool, log1p (value = expm1), sex, cad_rads, cad_rads_p
_FEATURES: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "age_years": ("age", "num", ("patients", "age_years")),
    "sex_male": ("sex", "sex", None),
    "diabetes": ("diabetes", "bool", None),
    "smoking_current": ("current smoking", "bool", None),
    "smoking_former": ("former smoking", "bool", None),
    "hypertension": ("high blood pressure (hypertension)", "bool", None),
    "ldl_mmol_l": ("LDL cholesterol", "num", ("patients", "ldl_mmol_l")),
    "hdl_mmol_l": ("HDL cholesterol", "num", ("patients", "hdl_mmol_l")),
    "bmi": ("body-mass index", "num", ("patients", "bmi")),
    "sbp_mmhg": ("systolic blood pressure", "num", ("patients", "sbp_mmhg")),
    "egfr_ml_min_1_73m2": ("kidney function (eGFR)", "num", ("patients", "egfr_ml_min_1_73m2")),
    "family_history": ("family history of premature coronary heart disease", "bool", None),
    "on_statin": ("statin treatment", "bool", None),
    "prior_mi": ("previous heart attack", "bool", None),
    "prior_pci": ("previous coronary stent (PCI)", "bool", None),
    "prior_cabg": ("previous bypass surgery (CABG)", "bool", None),
    "symptom_typical": ("typical angina symptoms", "bool", None),
    "log1p_cac_agatston": ("coronary calcium score (CAC)", "log1p", ("scans", "cac_agatston")),
    "cad_rads": ("CAD-RADS stenosis category", "cad_rads", None),
    "cad_rads_p": ("CAD-RADS plaque burden category", "cad_rads_p", None),
    "hrp_modifier": ("high-risk plaque (CAD-RADS HRP modifier)", "bool", None),
    "sis": ("coronary segments with plaque (segment involvement score)", "count", None),
    "sss": ("segment stenosis score", "count", None),
    "max_stenosis_pct": ("largest narrowing (maximum stenosis)", "num", ("scans", "max_stenosis_pct")),
    "obstructive": ("obstructive narrowing (stenosis of 50 % or more)", "bool", None),
    "log1p_tpv_mm3": ("total plaque volume", "log1p", ("scans", "tpv_mm3")),
    "log1p_cpv_mm3": ("calcified plaque volume", "log1p", ("scans", "cpv_mm3")),
    "log1p_ncpv_mm3": ("non-calcified plaque volume", "log1p", ("scans", "ncpv_mm3")),
    "log1p_lapv_mm3": ("low-attenuation plaque volume", "log1p", ("scans", "lapv_mm3")),
    "log1p_fibrofatty_mm3": ("fibro-fatty plaque volume", "log1p", ("scans", "fibrofatty_mm3")),
    "log1p_fibrous_mm3": ("fibrous plaque volume", "log1p", ("scans", "fibrous_mm3")),
    "tpb_pct": ("total plaque burden", "num", ("scans", "tpb_pct")),
    "ncpb_pct": ("non-calcified plaque burden", "num", ("scans", "ncpb_pct")),
    "lapb_pct": ("low-attenuation plaque burden", "num", ("scans", "lapb_pct")),
    "lapb_gt_4": ("low-attenuation plaque burden above 4 %", "bool", None),
    "n_lesions": ("plaque lesions", "count", None),
    "n_pos_remodelling": ("lesions with positive remodelling", "count", None),
    "n_lap_feature": ("lesions with low-attenuation plaque", "count", None),
    "n_spotty_calc": ("lesions with spotty calcification", "count", None),
    "n_napkin_ring": ("lesions with a napkin-ring sign", "count", None),
    "n_hrp_lesions": ("high-risk plaques (2 or more high-risk features)", "count", None),
    "max_remodelling_index": ("largest remodelling index", "num", ("lesions", "remodelling_index")),
    "fai_rca_hu": ("fat inflammation around the RCA (FAI)", "num", ("scans", "fai_rca_hu")),
    "fai_lad_hu": ("fat inflammation around the LAD (FAI)", "num", ("scans", "fai_lad_hu")),
    "fai_lcx_hu": ("fat inflammation around the LCx (FAI)", "num", ("scans", "fai_lcx_hu")),
    "log1p_cma_patient": ("coronary 18F-NaF activity (CMA)", "log1p", ("pet", "cma_patient")),
    "cma_gt0": ("any coronary 18F-NaF uptake (CMA above 0)", "bool", None),
    "tbr_max_patient": ("highest 18F-NaF target-to-background ratio (TBRmax)", "num",
                        ("pet", "tbr_max_patient")),
    "pet_available": ("18F-NaF PET performed", "bool", None),
}
# image-measured plaque (prefix img_, radiorisk.imaging.patient_plaque_summary)
_IMG_FEATURES: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "available": ("plaque measured on the images", "bool", None),
    "n_lesions": ("measured plaque lesions", "count", None),
    "n_high_risk_lesions": ("high-risk plaque lesions", "count", None),
    "log1p_tpv_mm3": ("total plaque volume", "log1p", ("scans", "tpv_mm3")),
    "log1p_cpv_mm3": ("calcified plaque volume", "log1p", ("scans", "cpv_mm3")),
    "log1p_ncpv_mm3": ("non-calcified plaque volume", "log1p", ("scans", "ncpv_mm3")),
    "log1p_lapv_mm3": ("low-attenuation plaque volume", "log1p", ("scans", "lapv_mm3")),
    "log1p_fibrofatty_mm3": ("fibro-fatty plaque volume", "log1p", ("scans", "fibrofatty_mm3")),
    "log1p_fibrous_mm3": ("fibrous plaque volume", "log1p", ("scans", "fibrous_mm3")),
    "log1p_vessel_volume_mm3": ("vessel volume", "log1p", ("scans", "vessel_volume_mm3")),
    "lap_burden_pct": ("low-attenuation plaque burden", "num", ("scans", "lapb_pct")),
    "total_burden_pct": ("total plaque burden", "num", ("scans", "tpb_pct")),
}
_RADIOMICS_CLASS = {"shape": "plaque shape", "firstorder": "plaque attenuation"}
_RADIOMICS_STAT = {"max": "largest over lesions", "wmean": "volume-weighted mean over lesions",
                   "sum": "sum over lesions"}
_UNIT_TEXT = {"year": "years", "mm3": "mm³", "mm2": "mm²", "kg/m2": "kg/m²",
              "mL/min/1.73m2": "mL/min/1.73 m²", "1/day": "per day"}
_CAD_RADS_LEVELS = ("0", "1", "2", "3", "4A", "4B", "5")  # ordinal 0..6 in the features
_CAD_RADS_TEXT = {
    "0": "no stenosis (0 %)", "1": "minimal stenosis (1-24 %)", "2": "mild stenosis (25-49 %)",
    "3": "moderate stenosis (50-69 %)", "4A": "severe stenosis (70-99 %)",
    "4B": "left main stenosis above 50 % or three-vessel obstructive disease (70 % or more)",
    "5": "total occlusion (100 %)", "N": "non-diagnostic study",
}
_CAD_RADS_P_TEXT = {"P0": "no plaque", "P1": "mild plaque burden", "P2": "moderate plaque burden",
                    "P3": "severe plaque burden", "P4": "extensive plaque burden"}
_BLOCK_TEXT = {"clinical": "clinical factors", "ccta": "CT angiography (plaque)",
               "radiomics": "radiomics (plaque texture)", "pet": "18F-NaF PET", "other": "other"}
_MACE_TEXT = {"mi": "myocardial infarction", "cardiac_death": "cardiac death",
              "ua_hosp": "hospitalisation for unstable angina",
              "revasc_unplanned": "unplanned revascularisation",
              "revasc_planned_early": "planned early revascularisation"}
_PET_REASON = {"not_offered": "not offered", "declined": "declined by the patient",
               "contraindicated": "contraindicated", "non_diagnostic": "non-diagnostic scan",
               "not_available_at_site": "not provided at the site", "other": "other reason"}

# the patient report: plaque rows, high-risk features, lesion columns, scan columns
_PLAQUE_ROWS = (
    ("total_plaque_volume_mm3", "Total plaque volume", "mm³"),
    ("calcified_plaque_volume_mm3", "Calcified plaque volume", "mm³"),
    ("non_calcified_plaque_volume_mm3", "Non-calcified plaque volume", "mm³"),
    ("low_attenuation_plaque_volume_mm3", "Low-attenuation plaque volume (<30 HU)", "mm³"),
    ("fibro_fatty_plaque_volume_mm3", "Fibro-fatty plaque volume (30-130 HU)", "mm³"),
    ("fibrous_plaque_volume_mm3", "Fibrous plaque volume (131-350 HU)", "mm³"),
    ("total_plaque_burden_pct", "Total plaque burden", "%"),
    ("non_calcified_plaque_burden_pct", "Non-calcified plaque burden", "%"),
    ("low_attenuation_plaque_burden_pct", "Low-attenuation plaque burden", "%"),
    ("lap_burden_gt_4", "Low-attenuation plaque burden above 4 %", None),
    ("max_stenosis_pct", "Largest stenosis", "%"),
    ("segment_involvement_score", "Segment involvement score", None),
    ("n_lesions", "Plaque lesions", None),
    ("n_high_risk_lesions", "High-risk plaques (2 or more features)", None),
)
_HRF_TEXT = {"positive_remodelling": "positive remodelling", "low_attenuation": "low-attenuation plaque",
             "spotty_calcification": "spotty calcification", "napkin_ring": "napkin-ring sign"}
_LESION_COLS = (("vessel", "Vessel"), ("segment", "Segment"), ("diameter_stenosis_pct", "Stenosis %"),
                ("plaque_type", "Type"), ("v_total_mm3", "Volume mm³"), ("v_lap_mm3", "LAP mm³"),
                ("high_risk_features", "High-risk features"))
_HRF_COLS = (("pos_remodelling", "positive_remodelling"), ("lap_feature", "low_attenuation"),
             ("spotty_calc", "spotty_calcification"), ("napkin_ring", "napkin_ring"))
_SCAN_PLAQUE = (("tpv_mm3", "total_plaque_volume_mm3"), ("cpv_mm3", "calcified_plaque_volume_mm3"),
                ("ncpv_mm3", "non_calcified_plaque_volume_mm3"),
                ("lapv_mm3", "low_attenuation_plaque_volume_mm3"),
                ("fibrofatty_mm3", "fibro_fatty_plaque_volume_mm3"),
                ("fibrous_mm3", "fibrous_plaque_volume_mm3"), ("tpb_pct", "total_plaque_burden_pct"),
                ("ncpb_pct", "non_calcified_plaque_burden_pct"),
                ("lapb_pct", "low_attenuation_plaque_burden_pct"))


# the model report: model kinds and discrimination metrics
_MODEL_WORDS = {
    "coxph": "Cox proportional-hazards model (ridge/elastic-net penalised, lifelines)",
    "xgb-cox": "gradient-boosted trees with a Cox partial-likelihood objective (xgboost)",
    "xgb-aft": "gradient-boosted trees with an accelerated-failure-time objective (xgboost)",
    "xgb-binary": "gradient-boosted trees classifying MACE by the horizon, IPCW-weighted (xgboost)",
    "fg": "Fine–Gray model of the subdistribution hazard of MACE, non-cardiac death competing "
          "(radiorisk.stats.fit_fine_gray, equal to cmprsk::crr)",
}
_DISC = {"harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "time-dependent AUC",
         "c_cr": "truncated C, competing risks", "auc_cr": "AUC, competing risks",
         "brier_cr": "Brier score, competing risks"}
#: The ladder rows that are not on the discrimination scale (left out of the ladder figure).
_NOT_DISC = frozenset({"brier_cr"})


def _unit(src: tuple[str, str] | None) -> str | None:
    if src is None:
        return None
    try:
        u = load_schema(src[0]).field(src[1]).unit
    except KeyError:
        return None
    return _UNIT_TEXT.get(u, u) if u else None


def _spec(feature: str) -> tuple[str, str, str | None]:
    """``(label, kind, unit)`` of a model feature."""
    if feature in _FEATURES:
        label, kind, src = _FEATURES[feature]
        return label, kind, _unit(src)
    if feature.endswith("_missing") and len(feature) > 8:
        return f"{_spec(feature[:-8])[0]} not available", "bool", None
    if feature.startswith("img_"):
        rest = feature[4:]
        if rest in _IMG_FEATURES:
            label, kind, src = _IMG_FEATURES[rest]
        elif rest in _FEATURES:
            label, kind, src = _FEATURES[rest]
        else:
            label, kind, src = rest.replace("_", " "), "num", None
        return f"image-measured {label}", kind, _unit(src)
    if feature.startswith("rad_"):
        rest = feature[4:]
        if rest == "available":
            return "radiomics extracted", "bool", None
        if rest == "has_plaque":
            return "plaque present (radiomics)", "bool", None
        if rest == "n_lesions":
            return "plaque lesions (radiomics)", "count", None
        name, _, stat = rest.rpartition("__")
        if not name:
            name, stat = rest, ""
        parts = name.split("_")
        cls = parts[1] if len(parts) >= 3 else ""
        what = _RADIOMICS_CLASS.get(cls, "plaque texture")
        extra = f", {_RADIOMICS_STAT[stat]}" if stat in _RADIOMICS_STAT else ""
        return f"{what} (radiomics: {name}{extra})", "num", None
    if feature.startswith("log1p_"):
        return feature[6:].replace("_", " "), "log1p", None
    return feature.replace("_", " "), "num", None


def feature_label(feature: str) -> str:
    """The plain-language label of a model feature, as written in patient reports.

    Parameters
    ----------
    feature : str
        A column of ``CohortData.X`` (clinical, ``ccta``, ``img_*``, ``rad_*``,
        ``pet``) or a missing-value indicator ``<column>_missing``.

    Returns
    -------
    str

    Examples
    --------
    >>> feature_label("log1p_lapv_mm3")
    'low-attenuation plaque volume'
    >>> feature_label("rad_original_glcm_Contrast__max")
    'plaque texture (radiomics: original_glcm_Contrast, largest over lesions)'
    >>> feature_label("log1p_cma_patient_missing")
    'coronary 18F-NaF activity (CMA) not available'
    """
    return _spec(str(feature))[0]


#: Plain-language names of the audit metrics (the audit report's sentences and figure titles).
_METRIC_WORDS = {
    "harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "time-dependent AUC",
    "brier_t": "Brier score", "ipa": "IPA", "oe_ratio_t": "observed/expected ratio",
    "ici_t": "ICI", "e50_t": "E50", "e90_t": "E90", "emax_t": "Emax", "auc": "AUC",
    "brier": "Brier score", "cal_intercept": "calibration intercept", "cal_slope": "calibration slope",
    "ici": "ICI", "e50": "E50", "e90": "E90", "emax": "Emax", "oe_ratio": "observed/expected ratio",
    "c_cr": "concordance for competing risks (Wolbers)", "auc_cr": "time-dependent AUC (cause 1)",
    "brier_cr": "Brier score (cause 1)", "ipa_cr": "IPA (cause 1)",
    "oe_ratio_cr": "observed/expected ratio (Aalen–Johansen)", "ici_cr": "ICI (Fine–Gray)",
    "e50_cr": "E50 (Fine–Gray)", "e90_cr": "E90 (Fine–Gray)", "emax_cr": "Emax (Fine–Gray)",
    "cal_slope_t": "calibration slope (Cox recalibration)", "cal_intercept_t": "calibration-in-the-large (Cox)",
    "cal_slope_cr": "calibration slope (Fine–Gray recalibration)",
}
