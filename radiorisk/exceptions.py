"""Exceptions raised by radiorisk.

Every error names what is wrong (table, file, row, column, value and rule where
they apply) so that a user can fix the input without reading a traceback.
"""

from __future__ import annotations

__all__ = [
    "RadioriskError", "SchemaError", "InputFileError", "ImageError", "ParameterError",
    "NotEstimableError", "HorizonError",
    "ModelError", "SampleSizeError", "BundleError", "BundleIntegrityError", "BundleVersionError", "ExplainError", "IdKeyError", "AuditUsageError", "FitUsageError", "ReportError", "PatientReportError",
]


class RadioriskError(Exception):
    """Base class of all radiorisk errors; the CLI turns these into exit code 2."""


class SchemaError(RadioriskError):
    """A table breaks its schema; ``report`` holds every violation found.

    Parameters
    ----------
    message : str
        A summary naming the problem.
    report : ValidationReport or None
        The full list of violations, when one was collected.
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class InputFileError(RadioriskError):
    """A file cannot be read: missing, empty, wrong delimiter or encoding, corrupt."""


class ImageError(RadioriskError):
    """An image or mask cannot be read, or its geometry does not match."""


class ParameterError(RadioriskError):
    """A radiomics parameter file or preset is unknown, unsafe or invalid."""


class NotEstimableError(RadioriskError, ValueError):
    """A quantity cannot be estimated from these data.

    Raised, for example, for the AUC of a group with one outcome class, for a
    time-dependent metric with no event by the horizon, or for a model fit
    that has no finite maximum (separation).  :func:`radiorisk.evaluation.compute_metrics`
    turns it into an empty estimate, as the ``metrics.csv`` contract asks.
    """


class HorizonError(RadioriskError, ValueError):
    """A prediction horizon is missing, not a number, not finite or not > 0."""


class ModelError(RadioriskError, ValueError):
    """A model cannot be built, fitted or used with these inputs or parameters."""


class SampleSizeError(ModelError):
    """A minimum sample size cannot be computed from these anticipated values (Riley et al.)."""


class BundleError(RadioriskError):
    """A model bundle cannot be written or read (missing, malformed or mismatched)."""


class BundleIntegrityError(BundleError):
    """A bundle file is missing, unlisted, or its SHA-256 differs from the manifest (tampered)."""


class BundleVersionError(BundleError):
    """The bundle's format or format version is not one this radiorisk can read."""


class ExplainError(RadioriskError, ValueError):
    """An explanation cannot be computed with these inputs (the message says why)."""


class IdKeyError(RadioriskError):
    """The pseudonymisation key cannot be read, created or used (names the file or variable and the rule)."""


class AuditUsageError(RadioriskError):
    """The audit flags do not fit together (e.g. ``--time-col`` without ``--event-col``)."""


class FitUsageError(RadioriskError):
    """The ``fit`` flags or inputs do not fit together (names the flag, value and rule)."""


class ReportError(RadioriskError):
    """A report cannot be built: a missing or incomplete RUN, audit or cohort folder (names the file)."""


class PatientReportError(RadioriskError, ValueError):
    """A patient report cannot be built or written with these inputs (the message says why)."""
