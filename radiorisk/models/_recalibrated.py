"""A model bundle recalibrated on a new cohort: the original model, then a cloglog map at one horizon.

An external validation that finds the model miscalibrated updates it (``radiorisk validate-model``,
:func:`radiorisk.pipeline.update_risks`): recalibration in the large or of intercept and slope,
:math:`r' = 1 - \\exp\\{-\\exp(a + b \\log(-\\log(1 - r)))\\}`
(:func:`radiorisk.stats.cloglog_recalibrated`). The updated model is the same fitted pipeline with a
:class:`ModelRecalibration` attached (``RiskPipeline.recalibration_``), saved as a new bundle whose
``recalibration.json`` (listed and hashed in the manifest like every file) records the map, the
horizon it was fitted for, the method and the bundle it derives from (path and SHA-256 of the
original manifest, which pins every original file). The recalibrated model predicts at that horizon
only: the map was fitted for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from ..exceptions import BundleError

__all__ = ["ModelRecalibration", "RECALIBRATION_FILE"]

#: The file of a recalibrated bundle that holds the map.
RECALIBRATION_FILE = "recalibration.json"
_METHODS = ("intercept", "intercept_slope")


@dataclass(frozen=True)
class ModelRecalibration:
    """The recalibration map of an updated model.

    Attributes
    ----------
    intercept, slope : float
        :math:`a` and :math:`b` of the cloglog map.
    horizon : float
        Days: the horizon the map was fitted for (the only one the model then predicts at).
    method : {"intercept", "intercept_slope"}
        Recalibration in the large, or of intercept and slope.
    derived_from : dict
        ``path`` and ``bundle_sha256`` of the original bundle, and what the map was fitted on
        (``fitted_on``: cohort folder, patients, events).

    Examples
    --------
    >>> rc = ModelRecalibration(0.3, 1.0, 1826.0, "intercept", {"bundle_sha256": "ab" * 32})
    >>> ModelRecalibration.from_dict(rc.to_dict()) == rc
    True
    """

    intercept: float
    slope: float
    horizon: float
    method: str
    derived_from: Mapping = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in _METHODS:
            raise BundleError(f"recalibration method must be one of {list(_METHODS)}; got {self.method!r}")
        for name in ("intercept", "slope", "horizon"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf")):
                raise BundleError(f"recalibration {name} must be a finite number; got {v!r}")
        if self.horizon <= 0:
            raise BundleError(f"recalibration horizon must be > 0; got {self.horizon!r}")

    def to_dict(self) -> dict:
        """The JSON of ``recalibration.json``."""
        return {"format": "radiorisk-recalibration", "version": 1, **asdict(self),
                "derived_from": dict(self.derived_from)}

    @classmethod
    def from_dict(cls, obj: Mapping, *, where: str = RECALIBRATION_FILE) -> ModelRecalibration:
        """Read ``recalibration.json``; a malformed file is a :class:`BundleError` naming it."""
        if not isinstance(obj, Mapping) or obj.get("format") != "radiorisk-recalibration" \
                or obj.get("version") != 1:
            raise BundleError(f"{where}: not a radiorisk recalibration (format version 1)")
        try:
            return cls(intercept=float(obj["intercept"]), slope=float(obj["slope"]),
                       horizon=float(obj["horizon"]), method=str(obj["method"]),
                       derived_from=dict(obj.get("derived_from") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed recalibration ({exc!r})") from exc
