"""Bias injection for the synthetic cohort (DOMAIN.md section 6, "Bias injection options").

A :class:`BiasSpec` lists which groups receive which distortion.  Groups are
named by *selectors* (see :func:`group_mask`): a sex (``"female"``), a coarse
ethnicity group (``"south_asian"`` or the audit spelling ``"SouthAsian"``), a
fine ethnicity (``"south_asian_pakistani"``), a site (``"site03"``), a scanner
vendor (``"GE"``) or detector (``"photon_counting"``), an explicit
``"column=value"`` pair (columns ``sex, ethnicity, ethnicity_group5, site_id,
vendor, detector``), or an intersection joined with ``&``
(``"sex=female&ethnicity_group5=black"``, ``"site02&vendor=Canon"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..exceptions import RadioriskError

__all__ = ["BiasSpec", "group_mask", "BIAS_PRESETS", "effect_modification", "measurement_bias",
           "multiplier_by_group"]

SEXES = ("female", "male")
GROUP5 = ("white", "south_asian", "black", "east_asian", "other")
AUDIT_NAMES = {
    "White": "white",
    "SouthAsian": "south_asian",
    "Black": "black",
    "EastAsian": "east_asian",
    "Other": "other",
}
FINE_ETHNICITIES = (
    "white", "black_african", "black_caribbean", "black_other", "south_asian_indian",
    "south_asian_pakistani", "south_asian_bangladeshi", "east_asian_chinese", "other_asian",
    "hispanic_latino", "mixed", "other",
)
#: Variables a measurement bias may act on, and how (documented in docs/synthetic_cohort.md).
MEASUREMENT_VARIABLES = ("lap", "plaque", "cac", "stenosis", "cma", "ldl", "fai")
#: True (noise-free) features an effect modification may act on.
EFFECT_FEATURES = ("hrp", "lap_burden", "obstructive", "diabetes", "smoking", "cma_gt0",
                   "latent_v", "latent_z")
EVENT_COMPONENTS = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned")
VENDORS = ("Siemens", "GE", "Philips", "Canon")
DETECTORS = ("energy_integrating", "photon_counting")
_SITE_ID = re.compile(r"^site\d+$")


def _as_dict(x: Any, name: str) -> dict:
    if x is None:
        return {}
    if not isinstance(x, Mapping):
        raise RadioriskError(f"BiasSpec.{name} must be a mapping group -> value, got {x!r}")
    return {str(k): float(v) for k, v in x.items()}


def _as_records(x: Any, name: str, keys: tuple[str, ...]) -> tuple[dict, ...]:
    if x is None:
        return ()
    if isinstance(x, Mapping):
        x = [x]
    out = []
    for rec in x:
        if not isinstance(rec, Mapping):
            raise RadioriskError(f"BiasSpec.{name} entries must be mappings, got {rec!r}")
        unknown = set(rec) - set(keys)
        if unknown:
            raise RadioriskError(
                f"BiasSpec.{name}: unknown key(s) {sorted(unknown)}; allowed: {list(keys)}"
            )
        out.append(dict(rec))
    return tuple(out)


@dataclass(frozen=True)
class BiasSpec:
    """Which bias mechanisms to inject, in which groups.

    Every applied mechanism is recorded per patient in ``truth.csv`` (columns
    ``bias_*``), never in the model-facing tables.

    Parameters
    ----------
    baseline_hr : dict, optional
        ``{group: multiplier}``: unmeasured risk, a multiplier of the baseline
        hazard of every cardiac component (MI, cardiac death, UA, unplanned
        revascularisation), e.g. ``{"south_asian": 1.8}``.
    measurement : list of dict, optional
        Group measurement shifts, each ``{"group", "variable", "factor"=1.0,
        "shift"=0.0}``.  ``variable`` is one of ``lap`` (measured LAP volume x
        factor, the rest reclassified as fibro-fatty, as a HU-threshold shift
        would do), ``plaque`` (all measured plaque volumes x factor), ``cac``,
        ``cma``, ``ldl`` (x factor, + shift), ``stenosis`` (+ shift in
        percentage points of diameter stenosis) and ``fai`` (+ shift HU).
    effect_modification : list of dict, optional
        Group-specific effect of a true feature on the MI (and, scaled 0.8,
        cardiac-death) hazard: each ``{"group", "feature", "hr"}`` adds
        ``log(hr) * feature`` to the linear predictor in that group.  Features:
        ``hrp`` (true high-risk plaque, >= 2 features in a lesion),
        ``lap_burden`` (true LAP burden > 4 %), ``obstructive`` (true stenosis
        >= 50 %), ``diabetes``, ``smoking``, ``cma_gt0``, ``latent_v``, ``latent_z``.
    pet_access : dict, optional
        ``{group: factor}`` multiplying the probability that PET is available.
    under_ascertainment : dict, optional
        ``{group: p_missed}``: probability that an event of the components in
        ``under_ascertainment_components`` goes unrecorded.
    under_ascertainment_components : tuple of str
        Default ``("mi", "ua_hosp", "revasc_unplanned")`` (non-fatal events).
    loss_to_followup : dict, optional
        ``{group: multiplier}`` of the loss-to-follow-up hazard (differential
        censoring).
    representation : dict, optional
        ``{group: share}`` of the cohort, for sexes or coarse ethnicity groups
        (e.g. ``{"black": 0.02}``); other groups are rescaled proportionally.
    measurement_noise : dict, optional
        ``{group: multiplier}`` of the SD of plaque-volume measurement noise
        (heteroscedastic measurement).

    Examples
    --------
    >>> b = BiasSpec(baseline_hr={"south_asian": 1.8})
    >>> b.to_dict()["baseline_hr"]
    {'south_asian': 1.8}
    >>> BiasSpec.coerce("south_asian_baseline_hr").baseline_hr
    {'south_asian': 1.8}
    >>> BiasSpec.coerce(None).is_null()
    True
    """

    baseline_hr: dict = field(default_factory=dict)
    measurement: tuple = ()
    effect_modification: tuple = ()
    pet_access: dict = field(default_factory=dict)
    under_ascertainment: dict = field(default_factory=dict)
    under_ascertainment_components: tuple = ("mi", "ua_hosp", "revasc_unplanned")
    loss_to_followup: dict = field(default_factory=dict)
    representation: dict = field(default_factory=dict)
    measurement_noise: dict = field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("baseline_hr", "pet_access", "under_ascertainment", "loss_to_followup",
                     "representation", "measurement_noise"):
            set_(self, name, _as_dict(getattr(self, name), name))
        meas = _as_records(self.measurement, "measurement", ("group", "variable", "factor", "shift"))
        for m in meas:
            if m.get("variable") not in MEASUREMENT_VARIABLES:
                raise RadioriskError(
                    f"BiasSpec.measurement: variable {m.get('variable')!r} is not one of "
                    f"{list(MEASUREMENT_VARIABLES)}"
                )
            if "group" not in m:
                raise RadioriskError(f"BiasSpec.measurement entry {m!r} needs a 'group'")
            m["factor"] = float(m.get("factor", 1.0))
            m["shift"] = float(m.get("shift", 0.0))
        set_(self, "measurement", meas)
        em = _as_records(self.effect_modification, "effect_modification", ("group", "feature", "hr"))
        for m in em:
            if m.get("feature") not in EFFECT_FEATURES:
                raise RadioriskError(
                    f"BiasSpec.effect_modification: feature {m.get('feature')!r} is not one of "
                    f"{list(EFFECT_FEATURES)}"
                )
            if "group" not in m or "hr" not in m or float(m["hr"]) <= 0:
                raise RadioriskError(
                    f"BiasSpec.effect_modification entry {m!r} needs a 'group' and an 'hr' > 0"
                )
            m["hr"] = float(m["hr"])
        set_(self, "effect_modification", em)
        comps = tuple(self.under_ascertainment_components)
        bad = [c for c in comps if c not in EVENT_COMPONENTS]
        if bad:
            raise RadioriskError(
                f"BiasSpec.under_ascertainment_components: unknown {bad}; allowed {list(EVENT_COMPONENTS)}"
            )
        set_(self, "under_ascertainment_components", comps)
        for name, lo, hi in (("baseline_hr", 0, None), ("pet_access", 0, 1),
                             ("under_ascertainment", 0, 1), ("loss_to_followup", 0, None),
                             ("representation", 0, 1), ("measurement_noise", 0, None)):
            for g, v in getattr(self, name).items():
                if not np.isfinite(v) or v < lo or (hi is not None and v > hi):
                    rng_txt = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                    raise RadioriskError(f"BiasSpec.{name}[{g!r}] = {v} is outside {rng_txt}")
        if sum(self.representation.values()) > 1.0 + 1e-9:
            raise RadioriskError("BiasSpec.representation shares must sum to at most 1")

    # ------------------------------------------------------------------ helpers
    def is_null(self) -> bool:
        """True when no mechanism is active."""
        return not (self.baseline_hr or self.measurement or self.effect_modification
                    or self.pet_access or self.under_ascertainment or self.loss_to_followup
                    or self.representation or self.measurement_noise)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (inverse of :meth:`from_dict`)."""
        d = asdict(self)
        d["measurement"] = [dict(m) for m in self.measurement]
        d["effect_modification"] = [dict(m) for m in self.effect_modification]
        d["under_ascertainment_components"] = list(self.under_ascertainment_components)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> BiasSpec:
        """Build from a mapping with the field names as keys (unknown keys are an error)."""
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - allowed
        if unknown:
            raise RadioriskError(
                f"unknown bias option(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        return cls(**dict(d))

    @classmethod
    def coerce(cls, bias: BiasSpec | Mapping | str | None) -> BiasSpec:
        """Accept a BiasSpec, a dict, a preset name (:data:`BIAS_PRESETS`), a JSON string or None."""
        if bias is None:
            return cls()
        if isinstance(bias, BiasSpec):
            return bias
        if isinstance(bias, Mapping):
            return cls.from_dict(bias)
        if isinstance(bias, str):
            s = bias.strip()
            if s in BIAS_PRESETS:
                return cls.from_dict(BIAS_PRESETS[s])
            if s.startswith("{"):
                try:
                    return cls.from_dict(json.loads(s))
                except json.JSONDecodeError as exc:
                    raise RadioriskError(f"bias: invalid JSON ({exc})") from exc
            raise RadioriskError(
                f"bias: {bias!r} is neither a preset ({', '.join(sorted(BIAS_PRESETS))}) nor a JSON object"
            )
        raise RadioriskError(f"bias must be a BiasSpec, dict, preset name or None, got {type(bias)}")


#: Named bias scenarios (also accepted by ``radiorisk synth --bias NAME``).
BIAS_PRESETS: dict[str, dict] = {
    "none": {},
    "south_asian_baseline_hr": {"baseline_hr": {"south_asian": 1.8}},
    "black_lap_shift": {"measurement": [{"group": "black", "variable": "lap", "factor": 0.6}]},
    "female_hrp_effect": {"effect_modification": [{"group": "female", "feature": "hrp", "hr": 2.5}]},
    "black_pet_access": {"pet_access": {"black": 0.4}},
    "south_asian_under_ascertainment": {"under_ascertainment": {"south_asian": 0.4}},
    "black_underrepresented": {"representation": {"black": 0.02}},
    "audit_demo": {
        "baseline_hr": {"south_asian": 1.8},
        "measurement": [{"group": "black", "variable": "lap", "factor": 0.6}],
        "effect_modification": [{"group": "female", "feature": "hrp", "hr": 2.0}],
    },
    # site- and scanner-targeted scenarios (external validation; see docs/synthetic_cohort.md)
    "site03_baseline_hr": {"baseline_hr": {"site_id=site03": 1.8}},
    "ge_lap_shift": {"measurement": [{"group": "vendor=GE", "variable": "lap", "factor": 0.6}]},
    "photon_counting_stenosis_shift": {
        "measurement": [{"group": "detector=photon_counting", "variable": "stenosis", "shift": -8.0}]},
}


def group_mask(selector: str, cols: Mapping[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of the patients a group selector names.

    Parameters
    ----------
    selector : str
        ``"female"``, ``"black"``, ``"SouthAsian"``, ``"south_asian_pakistani"``,
        ``"site03"``, ``"GE"``, ``"photon_counting"``, ``"sex=female"``,
        ``"ethnicity_group5=black"``, ``"vendor=GE"``, or an ``&``-joined intersection.
    cols : mapping
        Arrays ``sex``, ``ethnicity``, ``ethnicity_group5`` and (in a simulated cohort)
        ``site_id``, ``vendor``, ``detector`` (strings), same length.

    Examples
    --------
    >>> import numpy as np
    >>> cols = {"sex": np.array(["female", "male"]), "ethnicity": np.array(["white", "black_african"]),
    ...         "ethnicity_group5": np.array(["white", "black"])}
    >>> group_mask("Black", cols).tolist()
    [False, True]
    >>> group_mask("sex=female&white", cols).tolist()
    [True, False]
    >>> group_mask("GE", dict(cols, vendor=np.array(["GE", "Canon"]))).tolist()
    [True, False]
    """
    n = len(cols["sex"])
    mask = np.ones(n, bool)
    for part in str(selector).split("&"):
        part = part.strip()
        if "=" in part:
            col, val = (s.strip() for s in part.split("=", 1))
            if col not in cols:
                raise RadioriskError(
                    f"bias group {selector!r}: unknown column {col!r}; use one of {sorted(cols)}"
                )
            mask &= np.asarray(cols[col]) == val
            continue
        val = AUDIT_NAMES.get(part, part)
        if val in SEXES:
            mask &= cols["sex"] == val
        elif val in GROUP5:
            mask &= cols["ethnicity_group5"] == val
        elif val in FINE_ETHNICITIES:
            mask &= cols["ethnicity"] == val
        elif _SITE_ID.match(val) or val in VENDORS or val in DETECTORS:
            key = "site_id" if _SITE_ID.match(val) else "vendor" if val in VENDORS else "detector"
            if key not in cols:
                raise RadioriskError(f"bias group {selector!r}: {part!r} needs the column {key!r}")
            mask &= np.asarray(cols[key]) == val
        else:
            raise RadioriskError(
                f"bias group {selector!r}: {part!r} is not a sex, ethnicity group, ethnicity, site "
                f"(siteNN), vendor {list(VENDORS)} or detector {list(DETECTORS)}"
            )
    return mask


def multiplier_by_group(spec: Mapping[str, float], cols: Mapping[str, np.ndarray],
                        default: float = 1.0) -> np.ndarray:
    """Product of per-group multipliers (patients in several named groups get the product)."""
    out = np.full(len(cols["sex"]), default, float)
    for g, v in spec.items():
        out = np.where(group_mask(g, cols), out * v, out)
    return out


def measurement_bias(bias: BiasSpec, cols: Mapping[str, np.ndarray], n: int) -> dict:
    """Per-patient factors and shifts of the measured variables, their labels and noise multipliers.

    Returns arrays ``<var>_factor`` (lap, plaque, cac, cma, ldl), ``<var>_shift``
    (ldl, stenosis, fai), ``label`` (the ``truth.bias_measurement`` text) and
    ``noise_mult``.

    Examples
    --------
    >>> cols = {"sex": np.array(["female", "male"]), "ethnicity": np.array(["white", "black_african"]),
    ...         "ethnicity_group5": np.array(["white", "black"])}
    >>> mb = measurement_bias(BiasSpec.coerce("black_lap_shift"), cols, 2)
    >>> mb["lap_factor"].tolist(), mb["label"].tolist()
    ([1.0, 0.6], ['', 'lap*0.6'])
    """
    out = {k: np.ones(n) for k in ("lap_factor", "plaque_factor", "cac_factor", "cma_factor", "ldl_factor")}
    out.update({k: np.zeros(n) for k in ("ldl_shift", "stenosis_shift", "fai_shift")})
    label = np.full(n, "", dtype=object)
    for m in bias.measurement:
        g = group_mask(m["group"], cols)
        var, f, s = m["variable"], m["factor"], m["shift"]
        if var in ("lap", "plaque", "cac", "cma", "ldl"):
            out[f"{var}_factor"] = np.where(g, out[f"{var}_factor"] * f, out[f"{var}_factor"])
        if var in ("ldl", "stenosis", "fai"):
            out[f"{var}_shift"] = np.where(g, out[f"{var}_shift"] + s, out[f"{var}_shift"])
        txt = var + (f"*{f:g}" if f != 1.0 else "") + (f"{s:+g}" if s != 0.0 else "")
        label = np.where(g, np.where(label == "", txt, label + ";" + txt), label)
    out["label"] = label
    out["noise_mult"] = multiplier_by_group(bias.measurement_noise, cols)
    return out


def effect_modification(bias: BiasSpec, cols: Mapping[str, np.ndarray], feats: Mapping, n: int) -> np.ndarray:
    """The added MI linear predictor: ``log(hr) x feature`` in each named group.

    Examples
    --------
    >>> cols = {"sex": np.array(["female", "male"]), "ethnicity": np.array(["white", "white"]),
    ...         "ethnicity_group5": np.array(["white", "white"])}
    >>> em = effect_modification(BiasSpec.coerce("female_hrp_effect"), cols, {"hrp": np.array([1, 1])}, 2)
    >>> np.exp(em).round(2).tolist()
    [2.5, 1.0]
    """
    em = np.zeros(n)
    for m in bias.effect_modification:
        g = group_mask(m["group"], cols)
        em = em + np.where(g, np.log(m["hr"]) * np.asarray(feats[m["feature"]], float), 0.0)
    return em
