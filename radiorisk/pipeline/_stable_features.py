"""``fit --stable-features ICC --robustness DIR``: keep only the radiomic features that survive perturbation.

The table is ``DIR/robustness_icc.csv`` of ``radiorisk robustness`` (one row per pyradiomics feature:
``icc21`` across perturbations, ``reader_icc`` across readers when a second reader exists). A feature is
kept when its ICC(2,1) across perturbations reaches the threshold and, where the table has a reader
ICC, that reaches it too. The model's radiomics columns are the patient-level aggregates of the
lesion features (``rad_<feature>__max``, ``__wmean``, ``__sum``); a column is kept when its feature is;
the block's own indicators (``rad_available``, ``rad_n_lesions``, ``rad_has_plaque``) always are. The
selection enters the model as its ``ICCFilter`` step (``make_model(icc_keep=..., radiomics=...)``), so
every rung, fold and the final model use the same columns, and it is decided without the outcome.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..exceptions import FitUsageError

__all__ = ["stable_feature_params", "stable_model_params", "feature_of_column"]

_AGGREGATES = ("__max", "__wmean", "__sum")


def feature_of_column(column: str) -> str | None:
    """The pyradiomics feature of a model radiomics column (None for the block's indicators).

    Examples
    --------
    >>> feature_of_column("rad_original_glcm_Contrast__wmean"), feature_of_column("rad_available")
    ('original_glcm_Contrast', None)
    """
    if not column.startswith("rad_"):
        return None
    name = column[len("rad_"):]
    for agg in _AGGREGATES:
        if name.endswith(agg):
            return name[: -len(agg)]
    return None


def _read_table(robustness) -> tuple[pd.DataFrame, Path]:
    path = Path(robustness)
    path = path / "robustness_icc.csv" if path.is_dir() else path
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise FitUsageError(f"robustness {path}: cannot read the ICC table of radiorisk robustness ({exc})") from exc
    missing = [c for c in ("feature", "icc21") if c not in table.columns]
    if missing:
        raise FitUsageError(f"robustness {path}: not a robustness_icc.csv (no column {missing[0]!r})")
    return table, path


def stable_feature_params(radiomics_columns, robustness, threshold: float, params: dict | None
                          ) -> tuple[dict, str]:
    """The model parameters that keep the stable features, and the statement saying what was kept.

    Parameters
    ----------
    radiomics_columns : sequence of str
        The radiomics block's columns of the assembled cohort.
    robustness : path-like
        ``robustness_icc.csv`` or the folder of ``radiorisk robustness`` that holds it.
    threshold : float
        In (0, 1]: the ICC(2,1) (and reader ICC) a feature must reach.
    params : dict or None
        The fit's fixed model parameters (``icc_keep`` / ``radiomics`` must not be among them).

    Returns
    -------
    dict, str
        ``params`` with ``icc_keep`` and ``radiomics``; the statement for the run's notes.

    Raises
    ------
    FitUsageError
        An unreadable table, a threshold outside (0, 1], or parameters that already select.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"feature": ["original_glcm_Contrast", "original_ngtdm_Busyness"], "icc21": [0.9, 0.4],
    ...               "reader_icc": [0.8, 0.9]}).to_csv(d + "/robustness_icc.csv", index=False)
    >>> cols = ["rad_available", "rad_original_glcm_Contrast__max", "rad_original_ngtdm_Busyness__max"]
    >>> p, note = stable_feature_params(cols, d, 0.75, None)
    >>> p["icc_keep"]
    ['rad_available', 'rad_original_glcm_Contrast__max']
    """
    if not 0 < float(threshold) <= 1:
        raise FitUsageError(f"stable_features must be an ICC in (0, 1]; got {threshold!r}")
    params = dict(params or {})
    clash = [k for k in ("icc_keep", "radiomics") if k in params]
    if clash:
        raise FitUsageError(f"stable_features: params already set {clash[0]!r}; give one or the other")
    table, path = _read_table(robustness)
    icc = table.set_index("feature")
    perturb_ok = icc["icc21"].astype(float) >= float(threshold)
    reader = icc["reader_icc"].astype(float) if "reader_icc" in icc else pd.Series(float("nan"), index=icc.index)
    reader_ok = reader.isna() | (reader >= float(threshold))
    stable = set(icc.index[perturb_ok & reader_ok])
    cols = list(radiomics_columns)
    feats = {c: feature_of_column(c) for c in cols}
    keep = [c for c in cols if feats[c] is None or feats[c] in stable]
    named = {f for f in feats.values() if f is not None}
    absent = sorted(named - set(icc.index))
    n_pert = len(named & set(icc.index[~perturb_ok]))
    n_reader = len(named & set(icc.index[perturb_ok & ~reader_ok]))
    note = (f"stable features (stable_features={float(threshold):g}, {path}): {len(named & stable)} of {len(named)} "
            f"radiomic features kept ({len([c for c in keep if feats[c]])} of "
            f"{len([c for c in cols if feats[c]])} model columns); dropped: {n_pert} for ICC(2,1) across "
            f"perturbations < {float(threshold):g}, {n_reader} for the reader ICC, {len(absent)} absent from the "
            "table (not kept)")
    params.update(icc_keep=keep, radiomics=cols)
    return params, note


def stable_model_params(data, blocks, stable_features, robustness, params) -> tuple[dict | None, str | None]:
    """``run_fit``'s model parameters with the stable-feature filter, and its note (``params``, None without it).

    Examples
    --------
    >>> stable_model_params(None, ["clinical"], None, None, {"penalizer": 0.1})
    ({'penalizer': 0.1}, None)
    """
    if stable_features is None and robustness is None:
        return params, None
    if stable_features is None or robustness is None:
        raise FitUsageError("stable_features and robustness go together: the ICC threshold and the "
                            "radiorisk robustness folder (or its robustness_icc.csv)")
    if "radiomics" not in blocks:
        raise FitUsageError("stable_features: the radiomics block is not among the blocks")
    return stable_feature_params(data.columns("radiomics"), robustness, stable_features, params)
