"""Multiple imputation by chained equations (MICE) fitted on training rows only.

:class:`ChainedImputation` is the imputation step of a multiply imputed Cox
model (``CoxPHRisk(n_imputations=M)``, built by
:func:`radiorisk.models._impute_model.make_mi_model`):

- *Training rows* (``fit``): M completed copies of the training matrix from
  scikit-learn's :class:`~sklearn.impute.IterativeImputer` (Bayesian ridge
  regressions, ``sample_posterior=True``: every imputed value is a draw from
  the predictive distribution, so the M copies differ as they must for
  Rubin's rules), one imputer per copy with its own seed.  The imputation
  model contains the outcome, as White & Royston (2009, *Stat Med*
  28:1982) recommend for a Cox analysis model: the event indicator and the
  Nelson–Aalen cumulative hazard at each patient's follow-up time, computed
  on the training rows.
- *New rows* (``transform``: held-out folds, new cohorts, ``radiorisk
  predict``): the outcome is unknown, so a second chained-equation model
  *without the outcome* is fitted on the same training rows, one per
  imputation, and applied to the new rows — the approach recommended for
  applying a prediction model to new patients by Hoogland et al. (2020,
  *Stat Med* 39:3591) and Mertens et al. (2020, *Biom J* 62:1353).  Risks are
  then averaged over the M (imputation, model) pairs.  The fitted state of
  these imputers (the Bayesian ridge coefficients and posterior covariances of
  every round) is kept as plain numbers, so a model bundle stores it as JSON.

The draws for new rows are made here from that state (the predictive mean and
SD of scikit-learn's Bayesian ridge, as ``IterativeImputer.transform``
computes them) with a random stream seeded by the imputation's seed and a
digest of the row's own values, so a patient's imputations — and risk — are
the same whether predicted alone or in a cohort, and on every call.

At most :data:`MAX_INCOMPLETE_COLUMNS` incomplete columns are imputed (a
radiomics block, missing for patients without features, is refused with a
clear error: its regressions would make bundles of gigabytes).  Columns
complete in the training rows are not imputed (``skip_complete``);
if they are missing in new rows they get the training mean.  Binary columns
are imputed on the linear scale like the others (values between 0 and 1 can
occur).  Why scikit-learn's IterativeImputer: it is maintained with
scikit-learn (already a dependency; statsmodels' ``MICE`` and miceforest are
not installed), it draws from the posterior predictive distribution, and its
fitted state is small and explicit.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (enables the import below)
from sklearn.impute import IterativeImputer
from threadpoolctl import threadpool_limits

from ._base import ModelError, check_number, step_at

__all__ = ["ChainedImputation", "nelson_aalen_at", "MAX_INCOMPLETE_COLUMNS"]

#: Above this many columns each regression uses the most correlated columns only.
_MAX_NEIGHBOURS = 60
#: Most incomplete columns imputed (each stores its regressions for new rows in the bundle).
MAX_INCOMPLETE_COLUMNS = 50


def nelson_aalen_at(time, event) -> np.ndarray:
    r"""Nelson–Aalen cumulative hazard of the sample at each row's own follow-up time.

    :math:`\hat H(T_i) = \sum_{t_k \le T_i} \sum_{l=0}^{d_k - 1} 1/(n_k - l)`
    over the distinct event times :math:`t_k` with :math:`d_k` events among
    :math:`n_k` at risk — the Nelson–Aalen estimator with the Fleming–Harrington
    (Efron) handling of ties, :math:`d_k / n_k` without ties.  It is the outcome
    summary that White & Royston (2009) put into the imputation model of a Cox
    analysis, and equals R's ``mice::nelsonaalen`` (``basehaz`` of a null
    ``coxph``; tested to 1e-12).

    Parameters
    ----------
    time, event : array-like of shape (n,)

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> nelson_aalen_at([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 0]).tolist()
    [0.25, 0.25, 0.75, 0.75]
    >>> nelson_aalen_at([1.0, 1.0, 2.0], [1, 1, 0]).round(4).tolist()  # 1/3 + 1/2
    [0.8333, 0.8333, 0.8333]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64) > 0
    times = np.unique(t[e])
    d = np.searchsorted(np.sort(t[e]), times, side="right") - np.searchsorted(np.sort(t[e]), times)
    n_risk = t.size - np.searchsorted(np.sort(t), times, side="left")
    inc = np.array([np.sum(1.0 / (n - np.arange(k))) for n, k in zip(n_risk, d, strict=True)])
    return step_at(times, np.cumsum(inc), t)


def _row_seeds(X: np.ndarray, seed: int) -> list[np.random.SeedSequence]:
    """One seed per row from ``seed`` and a digest of the row's values (NaN included)."""
    out = []
    for row in np.ascontiguousarray(X, dtype=np.float64):
        h = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
        out.append(np.random.SeedSequence([int(seed), h & 0xFFFFFFFF, h >> 32]))
    return out


def _chain(sub: np.ndarray, subm: np.ndarray, seq: list[dict], z: np.ndarray) -> np.ndarray:
    """Run the rounds of ``seq`` on ``sub`` (initially mean-filled; ``subm`` its NaN mask).

    Step ``k`` sets the missing entries of its feature to the Bayesian ridge
    predictive mean plus ``z[:, k]`` predictive SDs (``z`` standard normal draws).
    """
    sub = sub.copy()
    for k, step in enumerate(seq):
        j, nb = step["feature"], step["neighbours"]
        need = subm[:, j]
        if not need.any():
            continue
        A = sub[need][:, nb]
        mu = A @ step["coef"] + step["intercept"]
        C = A - step["offset"]
        var = np.einsum("ij,jk,ik->i", C, step["sigma"], C) + 1.0 / step["alpha"]
        sub[need, j] = mu + np.sqrt(np.maximum(var, 0.0)) * z[need, k]
    return sub


def _imputer(seed: int, max_iter: int, p: int) -> IterativeImputer:
    return IterativeImputer(sample_posterior=True, max_iter=max_iter, random_state=seed,
                            skip_complete=True, tol=1e-3,
                            n_nearest_features=None if p <= _MAX_NEIGHBOURS else _MAX_NEIGHBOURS)


def _state_of(imp: IterativeImputer) -> dict:
    """The numbers ``transform`` needs: initial means and every round's Bayesian ridge."""
    seq = []
    for tr in imp.imputation_sequence_:
        est = tr.estimator
        seq.append({"feature": int(tr.feat_idx), "neighbours": np.asarray(tr.neighbor_feat_idx, dtype=int),
                    "coef": np.asarray(est.coef_, dtype=np.float64), "intercept": float(est.intercept_),
                    "offset": np.asarray(est.X_offset_, dtype=np.float64),
                    "sigma": np.asarray(est.sigma_, dtype=np.float64), "alpha": float(est.alpha_)})
    return {"means": np.asarray(imp.initial_imputer_.statistics_, dtype=np.float64), "sequence": seq}


def _state_arrays(st: dict, p: int) -> dict:
    """A stored imputer state with numpy arrays (shapes checked against ``p`` columns)."""
    means = np.asarray(st["means"], dtype=np.float64)
    if means.shape != (p,):
        raise ModelError(f"imputation state: {means.size} means for {p} columns")
    seq = []
    for step in st["sequence"]:
        nb = np.asarray(step["neighbours"], dtype=int)
        coef, offset = np.asarray(step["coef"], dtype=np.float64), np.asarray(step["offset"], dtype=np.float64)
        sigma = np.asarray(step["sigma"], dtype=np.float64)
        k = nb.size
        if not (0 <= int(step["feature"]) < p and coef.shape == offset.shape == (k,)
                and sigma.shape == (k, k) and (k == 0 or (nb.min() >= 0 and nb.max() < p))):
            raise ModelError("imputation state: a regression step has inconsistent shapes")
        seq.append({"feature": int(step["feature"]), "neighbours": nb, "coef": coef,
                    "intercept": float(step["intercept"]), "offset": offset, "sigma": sigma,
                    "alpha": float(step["alpha"])})
    return {"means": means, "sequence": seq}


class ChainedImputation:
    """M chained-equation imputations learnt on training rows (see the module notes).

    Parameters
    ----------
    n_imputations : int
        M >= 2.
    max_iter : int, default 5
        Rounds of the chained equations (mice's default ``maxit``).
    random_state : int, default 0
        Seed; imputation ``m`` uses ``random_state + 7919 * m`` (training) and
        ``+ 1`` of that (new rows).
    delta : float, default 0.0
        MNAR sensitivity: added to every imputed value of the ``delta_columns``
        (training and new rows), in the units of the matrix (standard
        deviations of the observed values for the standardised columns of a
        radiorisk Cox pipeline).
    delta_columns : sequence of int, optional
        Column positions shifted by ``delta`` (default: every column).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); X[rng.random(200) < 0.3, 2] = np.nan
    >>> t, e = rng.exponential(500, 200) + 1, rng.random(200) < 0.5
    >>> imp = ChainedImputation(3).fit(X, t, e)
    >>> [bool(np.isnan(c).any()) for c in imp.completed_]
    [False, False, False]
    >>> new = imp.transform(X[:5])
    >>> len(new), bool(np.array_equal(new[0], imp.transform(X[:5])[0]))
    (3, True)
    """

    def __init__(self, n_imputations: int, *, max_iter: int = 5, random_state: int = 0,
                 delta: float = 0.0, delta_columns=None):
        check_number("n_imputations", n_imputations, low=2, integer=True)
        check_number("impute_max_iter", max_iter, low=1, integer=True)
        check_number("random_state", random_state, integer=True)
        check_number("impute_delta", delta)
        self.n_imputations, self.max_iter = int(n_imputations), int(max_iter)
        self.random_state, self.delta = int(random_state), float(delta)
        self.delta_columns = None if delta_columns is None else [int(j) for j in delta_columns]

    def _seed(self, m: int, new_rows: bool) -> int:
        return (self.random_state + 7919 * m + int(new_rows)) % (2**32)

    def _shift(self, Xc: np.ndarray, miss: np.ndarray) -> np.ndarray:
        if self.delta == 0.0:
            return Xc
        cols = np.zeros(Xc.shape[1], dtype=bool)
        cols[self.delta_columns if self.delta_columns is not None else slice(None)] = True
        return Xc + self.delta * (miss & cols[None, :])

    def fit(self, X, time, event) -> ChainedImputation:
        """Impute the training rows M times (with the outcome) and learn the outcome-free imputers.

        Sets ``completed_`` (list of M arrays like ``X``, NaN filled) and the
        new-row state ``states_``.
        """
        X = np.asarray(X, dtype=np.float64)
        p = X.shape[1]
        miss = np.isnan(X)
        if miss.all(axis=0).any():
            j = int(np.argmax(miss.all(axis=0)))
            raise ModelError(f"column {j} is missing in every training row: it cannot be imputed")
        n_inc = int(miss.any(axis=0).sum())
        if n_inc > MAX_INCOMPLETE_COLUMNS:
            raise ModelError(
                f"multiple imputation of {n_inc} incomplete columns is not supported (at most "
                f"{MAX_INCOMPLETE_COLUMNS}: each keeps its chained regressions for new patients); "
                "high-dimensional blocks such as radiomics need impute='median' or fewer columns")
        self.n_features_ = p
        outcome = np.column_stack([np.asarray(event, dtype=np.float64), nelson_aalen_at(time, event)])
        self.completed_, self.states_ = [], []
        with threadpool_limits(1):  # small regressions: BLAS threads only contend (10x slower on 2 cores)
            self._fit_all(X, miss, outcome)
        return self

    def _fit_all(self, X, miss, outcome) -> None:
        p = X.shape[1]
        for m in range(self.n_imputations):
            if not miss.any():
                self.completed_.append(X.copy())
                self.states_.append({"means": X.mean(axis=0), "sequence": []})
                continue
            with_y = _imputer(self._seed(m, False), self.max_iter, p + 2)
            Xc = with_y.fit_transform(np.column_stack([X, outcome]))[:, :p]
            self.completed_.append(self._shift(Xc, miss))
            no_y = _imputer(self._seed(m, True), self.max_iter, p).fit(X)
            self.states_.append(_state_of(no_y))

    def transform(self, X) -> list[np.ndarray]:
        """M completed copies of new rows ``X`` (outcome-free imputation models; deterministic)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ModelError(f"X must have {self.n_features_} columns; got shape {X.shape}")
        miss = np.isnan(X)
        rows = np.flatnonzero(miss.any(axis=1))
        out = []
        for m, st in enumerate(self.states_):
            Xc = np.where(miss, st["means"][None, :], X)
            seq = st["sequence"]
            if rows.size and seq:
                z = np.array([np.random.default_rng(s).standard_normal(len(seq))
                              for s in _row_seeds(X[rows], self._seed(m, True))])
                Xc[rows] = _chain(Xc[rows], miss[rows], seq, z)
            out.append(self._shift(Xc, miss))
        return out

    def with_delta(self, delta: float, delta_columns=None) -> ChainedImputation:
        """A copy that shifts the imputed values of new rows by ``delta`` (the fitted imputers are shared).

        The MNAR sensitivity analysis of a model fitted under MAR: the same fits,
        new patients' imputations shifted (see
        :func:`radiorisk.models._impute_sensitivity.delta_sensitivity`).
        """
        check_number("delta", delta)
        out = object.__new__(ChainedImputation)
        out.__dict__.update(self.__dict__)
        out.delta = float(delta)
        out.delta_columns = None if delta_columns is None else [int(j) for j in delta_columns]
        return out

    # -- persistence ----------------------------------------------------------------------
    def to_state(self) -> dict:
        """The state of the new-row imputers (numbers and arrays; training copies are not stored)."""
        return {"n_imputations": self.n_imputations, "max_iter": self.max_iter,
                "random_state": self.random_state, "delta": self.delta,
                "delta_columns": self.delta_columns, "n_features": self.n_features_,
                "states": self.states_}

    @classmethod
    def from_state(cls, st: dict) -> ChainedImputation:
        """Rebuild a fitted imputation from :meth:`to_state` (checks the shapes)."""
        obj = cls(st["n_imputations"], max_iter=st["max_iter"], random_state=st["random_state"],
                  delta=st["delta"], delta_columns=st["delta_columns"])
        obj.n_features_ = int(st["n_features"])
        if len(st["states"]) != obj.n_imputations:
            raise ModelError(f"imputation state: {len(st['states'])} imputers for "
                             f"n_imputations={obj.n_imputations}")
        obj.states_ = [_state_arrays(s, obj.n_features_) for s in st["states"]]
        return obj
