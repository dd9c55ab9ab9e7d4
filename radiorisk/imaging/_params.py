"""Radiomics parameter presets and user YAML files (safe loading, validated by pyradiomics)."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from radiomics import featureextractor

from ..exceptions import ParameterError

__all__ = ["RadiomicsParams", "load_params", "PRESETS"]

#: Presets shipped with radiorisk (``radiorisk/imaging/presets/<name>.yaml``).
PRESETS = ("ccta-plaque", "ibsi", "ibsi-compliant")


@dataclass(frozen=True)
class RadiomicsParams:
    """A validated pyradiomics parameter set.

    Attributes
    ----------
    name : str
        Preset name, or the YAML file's path.
    params : dict
        The parameters as pyradiomics takes them (``setting``, ``imageType``, ``featureClass``).
    sha256 : str
        Hash of the canonical JSON of ``params`` and ``options`` (recorded in provenance).
    options : dict
        radiorisk's own options from the file's ``radiorisk:`` section, e.g.
        ``ibsi_axis_correction: true`` (rescale Major/Minor/LeastAxisLength by
        sqrt(N/(N-1)), the sample covariance IBSI uses; pyradiomics uses 1/N).
    """

    name: str
    params: dict = field(repr=False)
    sha256: str
    options: dict = field(default_factory=dict)

    @property
    def settings(self) -> dict:
        """The ``setting`` section."""
        return dict(self.params.get("setting") or {})

    def extractor(self):
        """A new ``radiomics.featureextractor.RadiomicsFeatureExtractor`` for these parameters."""
        return featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(self.params))


#: radiorisk options allowed in a parameter file's ``radiorisk:`` section.
OPTIONS = {"ibsi_axis_correction": bool}


def _canonical_hash(params: dict, options: dict | None = None) -> str:
    doc = {"params": params, "options": options or {}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def load_params(spec) -> RadiomicsParams:
    """Load a preset by name, a YAML file, or a mapping, and validate it.

    YAML is read with ``yaml.safe_load`` (no code execution); pyradiomics then
    checks the parameters against its own schema.

    Parameters
    ----------
    spec : str, Path or dict
        ``"ccta-plaque"``, ``"ibsi"``, a path to a YAML file, or a parameter mapping.

    Returns
    -------
    RadiomicsParams

    Raises
    ------
    ParameterError
        Unknown preset, missing or unsafe YAML, or parameters pyradiomics rejects.

    Examples
    --------
    >>> p = load_params("ccta-plaque")
    >>> p.settings["binWidth"], p.settings["resampledPixelSpacing"]
    (25, [0.5, 0.5, 0.5])
    >>> sorted(p.params["imageType"])
    ['LoG', 'Original', 'Wavelet']
    """
    if isinstance(spec, dict):
        name, params = "<dict>", copy.deepcopy(spec)
    else:
        name, params = _read_spec(spec)
    if not isinstance(params, dict):
        raise ParameterError(f"radiomics parameters {name}: expected a mapping with setting/imageType/featureClass")
    options = _split_options(name, params)
    # Diagnostics hashing is off unless the file asks for it explicitly.
    params.setdefault("setting", {})
    if params["setting"] is None:
        params["setting"] = {}
    params["setting"].setdefault("additionalInfo", False)
    _check_with_pyradiomics(name, params)
    return RadiomicsParams(name=name, params=params, sha256=_canonical_hash(params, options), options=options)


def _read_spec(spec) -> tuple[str, object]:
    """The name and the parsed (safe) YAML of a preset name or a parameter file."""
    text_spec = str(spec)
    if text_spec in PRESETS:
        name = text_spec
        text = (resources.files("radiorisk.imaging") / "presets" / f"{text_spec}.yaml").read_text()
    else:
        path = Path(text_spec)
        if not path.exists():
            raise ParameterError(
                f"radiomics parameters {text_spec!r}: no such preset ({', '.join(PRESETS)}) or file"
            )
        name, text = str(path), path.read_text(encoding="utf-8")
    try:
        return name, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"radiomics parameters {name}: not valid (safe) YAML: {exc}") from None


def _split_options(name: str, params: dict) -> dict:
    """Check the top-level keys, and remove and return the checked ``radiorisk:`` options."""
    unknown = set(params) - {"setting", "imageType", "featureClass", "voxelSetting", "radiorisk"}
    if unknown:
        raise ParameterError(
            f"radiomics parameters {name}: unknown top-level key(s) {sorted(unknown)}; "
            "allowed: setting, imageType, featureClass, voxelSetting, radiorisk"
        )
    options = params.pop("radiorisk", None) or {}
    if not isinstance(options, dict):
        raise ParameterError(f"radiomics parameters {name}: the radiorisk section must be a mapping")
    for key, value in options.items():
        if key not in OPTIONS:
            raise ParameterError(
                f"radiomics parameters {name}: unknown radiorisk option {key!r}; allowed: {', '.join(OPTIONS)}"
            )
        if not isinstance(value, OPTIONS[key]):
            raise ParameterError(
                f"radiomics parameters {name}: radiorisk option {key} must be {OPTIONS[key].__name__}, got {value!r}"
            )
    return options


def _check_with_pyradiomics(name: str, params: dict) -> None:
    """ParameterError with pyradiomics' message when it rejects ``params`` (its logging kept quiet)."""
    quiet = [logging.getLogger(n) for n in ("radiomics", "pykwalify", "pykwalify.core", "pykwalify.rule")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.CRITICAL)
        featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(params))
    except Exception as exc:  # pykwalify.errors.SchemaError, ValueError, KeyError
        msg = " ".join(str(exc).split())[:400]
        raise ParameterError(f"radiomics parameters {name}: rejected by pyradiomics: {msg}") from None
    finally:
        for lg, lvl in zip(quiet, levels, strict=False):
            lg.setLevel(lvl)
