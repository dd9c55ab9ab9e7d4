"""Scanner batch labels carried next to the features: the input of ComBat harmonisation.

:func:`add_batch_columns` adds one string column ``batch:<name>`` per batch variable to
``CohortData.X`` (from each patient's index scan, the scan the ccta block describes; ``site``
from the patients table) and records them in ``CohortData.batch_columns``.  They are in no
modality block: the model layer passes them with every model's input columns, and the
harmonisation step (:class:`radiorisk.models.ComBatHarmoniser`) consumes and drops them, so no
model uses a batch label as a predictor.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ._blocks import index_scans

__all__ = ["BATCH_PREFIX", "batch_column", "add_batch_columns", "parse_batch"]

#: Prefix of the batch columns of ``X`` (``batch:vendor``).
BATCH_PREFIX = "batch:"
_FROM_PATIENTS = {"site": "site_id"}


def batch_column(name: str) -> str:
    """The ``X`` column that carries batch variable ``name``.

    Examples
    --------
    >>> batch_column("vendor")
    'batch:vendor'
    """
    return BATCH_PREFIX + str(name)


def parse_batch(batch) -> tuple[str, ...]:
    """Batch variable names from ``"vendor,kernel"`` or a sequence (order kept, duplicates dropped).

    Examples
    --------
    >>> parse_batch("vendor, kernel")
    ('vendor', 'kernel')
    """
    if isinstance(batch, str):
        batch = batch.split(",")
    names = tuple(dict.fromkeys(str(b).strip() for b in batch if str(b).strip()))
    if not names:
        raise ValueError("batch: give at least one batch variable, e.g. vendor,kernel")
    return names


def add_batch_columns(data, cohort, batch):
    """``data`` with the batch columns of ``batch`` (strings) in ``X`` and ``batch_columns``.

    Parameters
    ----------
    data : CohortData
        The assembled cohort.
    cohort : Cohort or SyntheticCohort
        Its tables (``scans``; ``patients`` for ``site``).
    batch : str or sequence of str
        Columns of the ``scans`` table (``vendor``, ``kernel``, ``detector``, ...) read from each
        patient's index scan, or ``site`` (the patients' ``site_id``).

    Returns
    -------
    CohortData

    Raises
    ------
    ValueError
        A batch variable that is no column of the table, or a patient without a value
        (table, column and first patient named).

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> c = simulate_cohort(120, seed=1)
    >>> d = add_batch_columns(assemble_cohort(c), c, "vendor,kernel")
    >>> d.batch_columns, d.X["batch:vendor"].iloc[0] in set(c.scans["vendor"])
    (('batch:vendor', 'batch:kernel'), True)
    """
    names = parse_batch(batch)
    scans = index_scans(cohort.scans)
    scans.index = scans.index.astype(str)
    patients = cohort.patients.set_index(cohort.patients["patient_id"].astype(str))
    X = data.X.copy()
    for name in names:
        table, src = ("patients", patients) if name in _FROM_PATIENTS else ("scans", scans)
        col = _FROM_PATIENTS.get(name, name)
        if col not in src.columns:
            raise ValueError(f"batch: table {table!r} has no column {col!r} (batch variable {name!r}); "
                             f"columns: {', '.join(map(str, src.columns))}")
        values = src[col].reindex(X.index)
        missing = values.isna()
        if missing.any():
            raise ValueError(f"batch: table {table!r}, column {col!r}: no value for {int(missing.sum())} "
                             f"patient(s) (first: {X.index[missing.to_numpy()][0]!r}); every patient needs "
                             "its batch to be harmonised")
        X[batch_column(name)] = pd.Series(values.astype(str).to_numpy(dtype=object), index=X.index,
                                          dtype=object)
    return replace(data, X=X, batch_columns=tuple(batch_column(n) for n in names))
