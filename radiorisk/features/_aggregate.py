"""Lesion-to-patient aggregation of radiomics features.

Per feature and patient: the maximum over lesions (``__max``) and the
volume-weighted mean (``__wmean``, weights = lesion voxel volume); extensive
features (volumes, surface areas, energies) also get their sum (``__sum``).
Every patient of the cohort gets one row.  Patients without plaque are
represented explicitly, never as a row of NaN: ``n_lesions = 0``,
``has_plaque = 0``, sums = 0 (there is no plaque volume), and the per-lesion
statistics (max, weighted mean) = 0; models must be given ``has_plaque`` so
they can tell "no plaque" from a zero-valued feature.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["aggregate_lesions", "EXTENSIVE_SUFFIXES"]

#: Feature-name endings that add up across lesions.
EXTENSIVE_SUFFIXES = ("shape_VoxelVolume", "shape_MeshVolume", "shape_SurfaceArea",
                      "firstorder_Energy", "firstorder_TotalEnergy")
_IDS = ("patient_id", "scan_id", "lesion_id", "reader", "n_voxels")


def aggregate_lesions(
    features: pd.DataFrame,
    *,
    patient_ids=None,
    reader: str | None = "reader1",
    weight_column: str | None = None,
    feature_columns=None,
) -> pd.DataFrame:
    """One row per patient from a wide lesion feature table.

    Parameters
    ----------
    features : DataFrame
        Wide table with ``patient_id`` and feature columns (one row per lesion
        and reader), e.g. :attr:`radiorisk.imaging.ExtractionResult.features`.
    patient_ids : sequence of str, optional
        Every patient of the cohort; those without a lesion row get the
        no-plaque representation.  Default: the patients in ``features``.
    reader : str or None
        Keep only this reader's rows (None keeps all; then each reader's row
        counts as a lesion).
    weight_column : str, optional
        Volume column for the weighted mean; default the first
        ``*shape_VoxelVolume`` column, else ``n_voxels``.
    feature_columns : list of str, optional
        Default: every numeric column except ids.

    Returns
    -------
    DataFrame
        Index ``patient_id``; columns ``n_lesions, has_plaque`` then
        ``<feature>__max``, ``<feature>__wmean`` and, for extensive features,
        ``<feature>__sum``.

    Examples
    --------
    >>> f = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "lesion_id": ["a", "b", "c"],
    ...                   "reader": "reader1", "original_shape_VoxelVolume": [10.0, 30.0, 5.0],
    ...                   "original_firstorder_Mean": [100.0, 20.0, 50.0]})
    >>> agg = aggregate_lesions(f, patient_ids=["P1", "P2", "P3"])
    >>> float(agg.loc["P1", "original_firstorder_Mean__wmean"]), float(agg.loc["P1", "original_shape_VoxelVolume__sum"])
    (40.0, 40.0)
    >>> int(agg.loc["P3", "n_lesions"]), float(agg.loc["P3", "original_firstorder_Mean__max"])
    (0, 0.0)
    """
    df, feature_columns, weight_column, patient_ids = _lesion_rows(
        features, patient_ids=patient_ids, reader=reader, weight_column=weight_column,
        feature_columns=feature_columns)
    out = _per_patient(df, feature_columns, weight_column).reindex(patient_ids)
    return _with_no_plaque_rows(out)


def _lesion_rows(features: pd.DataFrame, *, patient_ids, reader, weight_column, feature_columns):
    """The reader's rows, the feature and weight columns, and every patient id (as str)."""
    df = features
    if reader is not None and "reader" in df.columns:
        df = df[df["reader"] == reader]
    if feature_columns is None:
        feature_columns = [c for c in df.columns if c not in _IDS and pd.api.types.is_numeric_dtype(df[c])]
    feature_columns = list(feature_columns)
    if weight_column is None:
        vol = [c for c in feature_columns if c.endswith("shape_VoxelVolume")]
        weight_column = vol[0] if vol else "n_voxels"
    if weight_column not in df.columns:
        raise ValueError(f"weight column {weight_column!r} is not in the feature table")
    if patient_ids is None:
        patient_ids = pd.unique(df["patient_id"])
    patient_ids = pd.Index(pd.unique(pd.Series(list(patient_ids), dtype=str)), name="patient_id")
    return df, feature_columns, weight_column, patient_ids


def _per_patient(df: pd.DataFrame, feature_columns: list[str], weight_column: str) -> pd.DataFrame:
    """``n_lesions``, ``__max``, ``__wmean`` (and ``__sum`` of extensive features) per patient with lesions."""
    g = df.groupby("patient_id", sort=False)
    w = df[weight_column].to_numpy(float)
    x = df[feature_columns].to_numpy(float)
    wx = pd.DataFrame(x * w[:, None], columns=feature_columns, index=df.index)
    wx["patient_id"] = df["patient_id"].to_numpy()
    wsum = df.assign(_w=w).groupby("patient_id", sort=False)["_w"].sum()
    wmean = wx.groupby("patient_id", sort=False)[feature_columns].sum().div(wsum, axis=0)
    mx = g[feature_columns].max()
    parts = [
        g.size().rename("n_lesions").to_frame(),
        mx.add_suffix("__max"),
        wmean.add_suffix("__wmean"),
    ]
    ext = [c for c in feature_columns if c.endswith(EXTENSIVE_SUFFIXES)]
    if ext:
        parts.append(g[ext].sum().add_suffix("__sum"))
    return pd.concat(parts, axis=1)


def _with_no_plaque_rows(out: pd.DataFrame) -> pd.DataFrame:
    """Patients without a lesion row: ``n_lesions = 0``, ``has_plaque = 0`` and zero values."""
    out["n_lesions"] = out["n_lesions"].fillna(0).astype(int)
    out.insert(1, "has_plaque", (out["n_lesions"] > 0).astype(int))
    value_cols = [c for c in out.columns if c not in ("n_lesions", "has_plaque")]
    out[value_cols] = out[value_cols].fillna(0.0)
    return out.astype({c: float for c in value_cols})
