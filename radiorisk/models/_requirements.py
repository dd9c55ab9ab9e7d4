"""What a fitted model needs from a cohort: its blocks and columns with their training distributions.

A :class:`ModelRequirements` is stored in a model bundle (``requirements.json``,
see :mod:`radiorisk.models._persist`) so that a new cohort can be checked against
the model before it is applied: which columns it must supply (grouped by modality
block), how the training values were distributed, and how far each new patient lies
from them (:meth:`ModelRequirements.ood_scores`).  It holds summaries only, never
patient rows:

- numeric columns: ``n`` (non-missing), the missing share, mean, SD, min, max and
  the 1, 5, 25, 50, 75, 95 and 99 % quantiles (``numpy.quantile``, linear);
- binary columns (every non-missing value 0 or 1) get the same summaries and
  the share of each level; categorical columns only ``n``, the missing share and
  the level shares;
- the horizon (days), the outcome definition (MACE components, handling of
  competing deaths) and the radiomics preset, when the caller knows them.

The out-of-distribution score of one patient (:meth:`ModelRequirements.ood_scores`):
``ood_n_outside`` counts the model inputs whose value lies outside the training
range ``[q01, q99]`` (numeric and binary columns) or is a level never seen in training
(categorical and binary columns); ``ood_share_outside`` divides it by the number of
inputs the patient has a value for (missing values are not counted: the model's
preprocessor imputes them, or xgboost routes them natively); ``ood_max_abs_z`` is the
largest ``|x - mean| / sd`` over the numeric inputs with ``sd > 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from ..exceptions import BundleError

__all__ = ["ModelRequirements", "describe_training", "requirements_from_cohort", "QUANTILES",
           "OOD_COLUMNS", "REQUIREMENTS_VERSION"]

#: Quantile levels recorded for every numeric column (name -> level).
QUANTILES = MappingProxyType({"q01": 0.01, "q05": 0.05, "q25": 0.25, "q50": 0.50, "q75": 0.75,
                              "q95": 0.95, "q99": 0.99})
#: The columns of :meth:`ModelRequirements.ood_scores`.
OOD_COLUMNS = ("ood_n_outside", "ood_share_outside", "ood_max_abs_z")
#: Version of the ``requirements.json`` layout.
REQUIREMENTS_VERSION = 1
_UNKNOWN_BLOCK = "(block not recorded)"


def _num(v) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    v = float(v)
    return v if np.isfinite(v) else None


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _level_shares(values: pd.Series) -> dict:
    counts = values.astype(str).value_counts(sort=False)
    total = int(counts.sum())
    return {str(k): int(v) / total for k, v in sorted(counts.items())} if total else {}


def _describe_column(s: pd.Series) -> dict:
    """The training summary of one column (no patient rows)."""
    n_all = len(s)
    present = s.dropna()
    out = {"kind": "categorical", "n": int(len(present)),
           "missing_share": (n_all - len(present)) / n_all if n_all else None}
    if _is_categorical(s):
        out["levels"] = _level_shares(present)
        return out
    v = present.to_numpy(dtype=float)
    binary = len(v) > 0 and bool(np.isin(v, (0.0, 1.0)).all())
    out["kind"] = "binary" if binary else "numeric"
    if len(v):
        out.update(mean=_num(v.mean()), sd=_num(v.std(ddof=1)) if len(v) > 1 else None,
                   min=_num(v.min()), max=_num(v.max()))
        out.update({k: _num(q) for k, q in zip(QUANTILES, np.quantile(v, list(QUANTILES.values())),
                                                strict=True)})
    if binary:
        out["levels"] = _level_shares(pd.Series(v.astype(int)))
    return out


@dataclass(frozen=True)
class ModelRequirements:
    """The inputs a model needs, with their training distributions (summaries only).

    Attributes
    ----------
    columns : tuple of str
        The model's input columns, in the model's order.
    distributions : Mapping[str, dict]
        Column -> summary (``kind``, ``n``, ``missing_share``, and for numeric and
        binary columns ``mean, sd, min, max, q01 ... q99``; ``levels`` for binary
        and categorical columns).
    blocks : Mapping[str, tuple of str] or None
        Modality block -> its columns among ``columns`` (None: not recorded).
    n_train : int
        Training rows summarised.
    horizon : float or None
        Prediction horizon (days) of the fit.
    mace : tuple of str or None
        MACE components of the outcome.
    competing : str or None
        Handling of deaths outside the MACE definition (``"censor"`` or ``"competing"``).
    radiomics_preset : str or None
        The radiomics preset (or YAML) the ``rad_`` columns were extracted with; None
        when unknown (then a cohort must bring its own radiomics table).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"age": np.arange(100.0), "dm": np.r_[np.zeros(70), np.ones(30)]})
    >>> req = describe_training(X, blocks={"clinical": ["age", "dm"]}, horizon=365.0)
    >>> req.distributions["dm"]["levels"]
    {'0': 0.7, '1': 0.3}
    >>> req.missing_columns(["age"])
    {'clinical': ['dm']}
    """

    columns: tuple[str, ...]
    distributions: Mapping[str, dict] = field(repr=False)
    blocks: Mapping[str, tuple[str, ...]] | None = None
    n_train: int = 0
    horizon: float | None = None
    mace: tuple[str, ...] | None = None
    competing: str | None = None
    radiomics_preset: str | None = None

    def block_of(self, column: str) -> str:
        """The block that holds ``column`` (``"(block not recorded)"`` when the blocks are unknown)."""
        for b, cols in (self.blocks or {}).items():
            if column in cols:
                return b
        return _UNKNOWN_BLOCK

    def missing_columns(self, available) -> dict[str, list[str]]:
        """The model's columns not in ``available``, grouped by block (model order kept)."""
        have = set(available)
        out: dict[str, list[str]] = {}
        for c in self.columns:
            if c not in have:
                out.setdefault(self.block_of(c), []).append(c)
        return out

    def _outside(self, X: pd.DataFrame) -> pd.DataFrame:
        """Boolean frame: the value lies outside the training support (NaN is never outside)."""
        flags = {}
        for c in self.columns:
            d, s = self.distributions[c], X[c]
            if d["kind"] == "categorical":
                known = set(d.get("levels", {}))
                flags[c] = s.notna() & ~s.astype(str).isin(known)
                continue
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            lo, hi = d.get("q01"), d.get("q99")
            out = np.zeros(len(v), dtype=bool) if lo is None else (v < lo) | (v > hi)
            if d["kind"] == "binary":
                seen = np.array([float(k) for k in d.get("levels", {})])
                out |= np.isfinite(v) & ~np.isin(v, seen)
            flags[c] = pd.Series(out & np.isfinite(v), index=X.index)
        return pd.DataFrame(flags, index=X.index, columns=list(self.columns))

    def ood_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """The per-patient out-of-distribution score (definition in the module notes).

        Parameters
        ----------
        X : DataFrame
            Holds every column of :attr:`columns`.

        Returns
        -------
        DataFrame
            Indexed like ``X``: ``ood_n_outside`` (int), ``ood_share_outside`` and
            ``ood_max_abs_z`` (float; NaN when the patient has no value to check).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> X = pd.DataFrame({"age": np.linspace(40, 80, 101)})
        >>> req = describe_training(X)
        >>> new = pd.DataFrame({"age": [60.0, 200.0, np.nan]})
        >>> req.ood_scores(new)["ood_n_outside"].tolist()
        [0, 1, 0]
        """
        X = X[list(self.columns)]
        outside = self._outside(X)
        n_checked = X.notna().sum(axis=1)
        n_out = outside.sum(axis=1).astype(int)
        z = pd.DataFrame(np.nan, index=X.index, columns=list(self.columns))
        for c in self.columns:
            d = self.distributions[c]
            if d["kind"] != "categorical" and d.get("sd"):
                z[c] = (pd.to_numeric(X[c], errors="coerce") - d["mean"]).abs() / d["sd"]
        max_z = z.max(axis=1, skipna=True) if len(self.columns) else pd.Series(np.nan, index=X.index)
        share = (n_out / n_checked.where(n_checked > 0)).astype(float)
        return pd.DataFrame({"ood_n_outside": n_out, "ood_share_outside": share,
                             "ood_max_abs_z": max_z.astype(float)}, index=X.index)

    def outside_counts(self, X: pd.DataFrame) -> dict[str, int]:
        """Column -> number of rows of ``X`` outside the training support (columns with none left out)."""
        counts = self._outside(X[list(self.columns)]).sum(axis=0)
        return {str(c): int(k) for c, k in counts.items() if k}

    def to_frame(self) -> pd.DataFrame:
        """One row per column: block, kind, n, missing share, moments and quantiles."""
        rows = []
        for c in self.columns:
            d = self.distributions[c]
            row = {"column": c, "block": self.block_of(c)}
            row.update({k: v for k, v in d.items() if k != "levels"})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``requirements.json`` of a bundle)."""
        return {
            "requirements_version": REQUIREMENTS_VERSION, "n_train": int(self.n_train),
            "horizon": self.horizon, "outcome": {"mace": None if self.mace is None else list(self.mace),
                                                 "competing": self.competing},
            "radiomics_preset": self.radiomics_preset, "columns": list(self.columns),
            "blocks": None if self.blocks is None else {b: list(c) for b, c in self.blocks.items()},
            "distributions": {c: dict(self.distributions[c]) for c in self.columns},
        }

    @classmethod
    def from_dict(cls, obj: Mapping, *, where: str = "requirements") -> ModelRequirements:
        """Rebuild from :meth:`to_dict` output; a :class:`BundleError` naming ``where`` if malformed."""
        try:
            if obj.get("requirements_version") != REQUIREMENTS_VERSION:
                raise BundleError(f"{where}: requirements_version {obj.get('requirements_version')!r} is "
                                  f"not {REQUIREMENTS_VERSION}")
            columns = tuple(str(c) for c in obj["columns"])
            dist = {c: dict(obj["distributions"][c]) for c in columns}
            blocks = obj.get("blocks")
            outcome = obj.get("outcome") or {}
            horizon = obj.get("horizon")
            return cls(
                columns=columns, distributions=MappingProxyType(dist),
                blocks=None if blocks is None else MappingProxyType(
                    {str(b): tuple(str(c) for c in cols) for b, cols in blocks.items()}),
                n_train=int(obj.get("n_train", 0)), horizon=None if horizon is None else float(horizon),
                mace=None if outcome.get("mace") is None else tuple(outcome["mace"]),
                competing=outcome.get("competing"), radiomics_preset=obj.get("radiomics_preset"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"{where}: malformed requirements ({exc!r})") from exc


def describe_training(X: pd.DataFrame, *, blocks: Mapping[str, Sequence[str]] | None = None,
                      horizon: float | None = None, mace: Sequence[str] | None = None,
                      competing: str | None = None, radiomics_preset: str | None = None
                      ) -> ModelRequirements:
    """Summarise the training matrix of a model into :class:`ModelRequirements`.

    Parameters
    ----------
    X : DataFrame
        The training inputs, columns in the model's order.
    blocks : Mapping[str, sequence of str], optional
        Modality block -> columns; only the columns of ``X`` are kept, blocks
        without any are left out.
    horizon, mace, competing, radiomics_preset : optional
        Recorded as given (see :class:`ModelRequirements`).

    Returns
    -------
    ModelRequirements

    Examples
    --------
    >>> import pandas as pd
    >>> req = describe_training(pd.DataFrame({"sex": ["f", "m", "m", None]}))
    >>> req.distributions["sex"]
    {'kind': 'categorical', 'n': 3, 'missing_share': 0.25, 'levels': {'f': 0.3333333333333333, 'm': 0.6666666666666666}}
    """
    columns = tuple(str(c) for c in X.columns)
    dist = {str(c): _describe_column(X[c]) for c in X.columns}
    kept = None
    if blocks is not None:
        kept = {str(b): tuple(c for c in cols if c in dist) for b, cols in blocks.items()}
        kept = MappingProxyType({b: cols for b, cols in kept.items() if cols})
    return ModelRequirements(
        columns=columns, distributions=MappingProxyType(dist), blocks=kept, n_train=len(X),
        horizon=None if horizon is None else float(horizon),
        mace=None if mace is None else tuple(mace), competing=competing,
        radiomics_preset=radiomics_preset)


def requirements_from_cohort(data, blocks, *, radiomics_preset: str | None = None) -> ModelRequirements:
    """:class:`ModelRequirements` of a model fitted on ``data.X[data.columns(blocks)]``.

    Parameters
    ----------
    data : radiorisk.features.CohortData
        The assembled training cohort (its ``horizon``, ``mace`` and ``competing``
        are recorded).
    blocks : str or sequence of str
        The blocks the model uses.
    radiomics_preset : str, optional
        The preset the ``rad_`` columns were extracted with (``run_fit``'s
        ``radiomics_params`` when it extracted them; unknown for a given features table).

    Returns
    -------
    ModelRequirements

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> data = assemble_cohort(simulate_cohort(80, seed=1), horizon=1826)
    >>> req = requirements_from_cohort(data, "clinical")
    >>> req.columns == tuple(data.columns("clinical")), req.horizon, req.competing
    (True, 1826.0, 'censor')
    """
    if isinstance(blocks, str):
        blocks = [b for b in blocks.split(",") if b]
    cols = data.columns(blocks)
    batch = [c for c in getattr(data, "batch_columns", ()) if c not in cols]  # read by the harmoniser
    return describe_training(data.X[cols + batch], blocks={b: data.blocks[b] for b in blocks}
                             | ({"batch": tuple(batch)} if batch else {}),
                             horizon=data.horizon, mace=data.mace, competing=data.competing,
                             radiomics_preset=radiomics_preset)
