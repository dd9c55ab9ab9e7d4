"""Reading and validating cohort folders.

A cohort folder holds ``patients``, ``scans`` and ``outcomes`` (required) and
``lesions``, ``pet``, ``manifest`` and ``truth`` (optional) as ``TABLE.csv``
(UTF-8, comma-separated) or ``TABLE.parquet``, plus the images the manifest
points to.  The schemas in ``data_schemas/`` (see ``docs/schemas.md``) define
the columns.

- :func:`read_table` reads one file into a typed DataFrame.
- :func:`read_cohort` reads a folder into a :class:`Cohort`.
- :func:`validate` lists every violation in a :class:`ValidationReport`;
  ``radiorisk validate DIR`` prints it and exits 2 when there is an error.

Tolerances used by the cross-checks: plaque components sum to their total
within max(:data:`VOLUME_TOL_ABS_MM3` = 0.5 mm3, :data:`VOLUME_TOL_REL` = 1 %);
vessel CMAs sum to ``cma_patient`` within max(0.05, 1 %); times are compared
with :data:`TIME_TOL_DAYS` = 0.5 day of slack; image/mask geometry must agree
within relative spacing 1e-4, origin 1e-3 mm and direction cosines 1e-4.  At
most :data:`MAX_VIOLATIONS_PER_RULE` = 1000 violations are listed per (table,
column, rule); one extra row counts the rest.

Building blocks for the layers above that read and check files the way
:func:`validate` does (the imaging manifest and image readers):

- :func:`read_raw` reads a table file into a :class:`RawTable` and
  :func:`check_table` types it per its schema, recording problems in a
  :class:`Collector` (which makes the :class:`ValidationReport`);
  :func:`check_paths` flags manifest paths leading outside the data folder.
- :func:`header_problem`, :func:`reader_header_problem` and
  :func:`nifti_truncated` say why an image header or file is unusable (at most
  :data:`MAX_VOXELS` voxels); :func:`sitk_detail` shortens a SimpleITK error.
"""

from .._lazy import lazy_exports
from ..schemas import schema_markdown as _schema_markdown

# each name is imported from its submodule when first used (radiorisk._lazy): the image readers of
# a radiomics worker need _imagecheck, not the table validation (pandas)
_NAMES = {
    "check_table": "_columns",
    "CMA_TOL_ABS": "_crosschecks",
    "CMA_TOL_REL": "_crosschecks",
    "PLANNED_REVASC_MAX_DAYS": "_crosschecks",
    "TIME_TOL_DAYS": "_crosschecks",
    "VOLUME_TOL_ABS_MM3": "_crosschecks",
    "VOLUME_TOL_REL": "_crosschecks",
    "DIRECTION_TOL": "_imagecheck",
    "MAX_VOXELS": "_imagecheck",
    "ORIGIN_TOL_MM": "_imagecheck",
    "SPACING_TOL_REL": "_imagecheck",
    "check_paths": "_imagecheck",
    "header_problem": "_imagecheck",
    "nifti_truncated": "_imagecheck",
    "reader_header_problem": "_imagecheck",
    "sitk_detail": "_imagecheck",
    "RawTable": "_read",
    "read_raw": "_read",
    "MAX_VIOLATIONS_PER_RULE": "_report",
    "RULES": "_report",
    "Collector": "_report",
    "ValidationReport": "_report",
    "validation_rules": "_report",
    "REQUIRED_TABLES": "_validate",
    "Cohort": "_validate",
    "read_cohort": "_validate",
    "read_table": "_validate",
    "validate": "_validate",
}

__all__ = [
    "Cohort",
    "ValidationReport",
    "read_table",
    "read_cohort",
    "validate",
    "validation_rules",
    "schema_docs",
    "RULES",
    "REQUIRED_TABLES",
    "MAX_VIOLATIONS_PER_RULE",
    "VOLUME_TOL_ABS_MM3",
    "VOLUME_TOL_REL",
    "CMA_TOL_ABS",
    "CMA_TOL_REL",
    "TIME_TOL_DAYS",
    "PLANNED_REVASC_MAX_DAYS",
    "SPACING_TOL_REL",
    "ORIGIN_TOL_MM",
    "DIRECTION_TOL",
    "MAX_VOXELS",
    "Collector",
    "RawTable",
    "read_raw",
    "check_table",
    "check_paths",
    "header_problem",
    "reader_header_problem",
    "nifti_truncated",
    "sitk_detail",
]


def schema_docs() -> str:
    """The text of ``docs/schemas.md``: every table schema and the validation rules.

    Regenerate the file with ``python -m radiorisk.io > docs/schemas.md``.

    Examples
    --------
    >>> schema_docs().startswith("# Table schemas")
    True
    """
    from ._crosschecks import (
        CMA_TOL_ABS,
        CMA_TOL_REL,
        PLANNED_REVASC_MAX_DAYS,
        TIME_TOL_DAYS,
        VOLUME_TOL_ABS_MM3,
        VOLUME_TOL_REL,
    )
    from ._imagecheck import DIRECTION_TOL, ORIGIN_TOL_MM, SPACING_TOL_REL
    from ._report import MAX_VIOLATIONS_PER_RULE, RULES

    lines = [_schema_markdown().rstrip("\n"), "", "## Validation rules", "",
             "`radiorisk validate DIR` (`radiorisk.io.validate`) reports every violation with "
             "its table, file, 1-based data row (header excluded), column, value, rule and "
             f"message. At most {MAX_VIOLATIONS_PER_RULE} violations are listed per (table, "
             "column, rule); one further row counts the rest.", "",
             "Tolerances: plaque components sum to their total within "
             f"max({VOLUME_TOL_ABS_MM3:g} mm3, {VOLUME_TOL_REL:.0%} of the total); vessel CMAs "
             f"sum to `cma_patient` within max({CMA_TOL_ABS:g}, {CMA_TOL_REL:.0%}); times are "
             f"compared with {TIME_TOL_DAYS:g} day of slack; planned early revascularisation is "
             f"at most {PLANNED_REVASC_MAX_DAYS} days; image and mask must agree in size "
             f"exactly, spacing within {SPACING_TOL_REL:g} (relative), origin within "
             f"{ORIGIN_TOL_MM:g} mm and direction cosines within {DIRECTION_TOL:g}.", "",
             "| Rule | Severity | Checks |", "|---|---|---|"]
    for rule, (severity, desc) in RULES.items():
        lines.append(f"| `{rule}` | {severity} | {desc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, globals())
