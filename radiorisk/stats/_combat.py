"""ComBat batch harmonisation (Johnson, Li & Rabinovic 2007), fitted on one sample and applied to others.

The location/scale model of each feature ``g`` for sample ``i`` of batch ``b``::

    y_ig = alpha_g + z_i' beta_g + gamma_bg + sqrt(delta_bg) * eps_ig

``alpha_g`` and ``beta_g`` (the covariates ``z``, preserved) are estimated by least squares with the
batch indicators; the pooled residual variance ``sigma2_g`` uses the divisor ``n`` (as ``sva::ComBat``
and ``neuroCombat``).  The standardised data ``s = (y - alpha - z' beta) / sigma`` give per-batch
location ``gamma_hat`` and scale ``delta_hat`` (variance, divisor ``n_b - 1``); with empirical Bayes
(``eb=True``, the default) they are shrunk towards their across-feature priors (normal for ``gamma``,
inverse gamma for ``delta``, parameters by the method of moments) by the parametric iteration of the
paper, stopped when the largest relative change is <= 1e-4.  The harmonised value is
``(s - gamma*_b) / sqrt(delta*_b) * sigma + alpha + z' beta``.

This is the algorithm of ``neuroCombat.neuroCombat`` 0.2.12 (parametric, no reference batch), in
float64; ``tests/stats/test_combat.py`` checks it against that package.  Applying a fit to new
samples (:func:`combat_apply`) uses each sample's own covariates, so that applying the fit to its
training samples reproduces their harmonised values exactly (``neuroCombatFromTraining`` uses the
training average of the covariate term instead, which shrinks a new sample's covariate effect by
``1/sqrt(delta*)``; see ``docs/harmonisation.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import NotEstimableError

__all__ = ["ComBatFit", "combat_fit", "combat_apply"]

_CONV = 1e-4
_MAX_ITER = 10_000


@dataclass(frozen=True)
class ComBatFit:
    """The estimates of a ComBat fit (arrays of floats; batches as strings).

    Attributes
    ----------
    batches : tuple of str
        The batch levels, sorted.
    n_per_batch : tuple of int
        Training samples per batch.
    grand_mean : ndarray (p,)
        ``alpha``: the sample-weighted mean of the batch intercepts.
    beta : ndarray (q, p)
        Covariate coefficients (``q`` may be 0).
    var_pooled : ndarray (p,)
        ``sigma2``.
    gamma_star, delta_star : ndarray (B, p)
        The (shrunk) batch location and scale.
    eb : bool
        Whether empirical Bayes shrinkage was applied.
    n_iter : tuple of int
        Iterations of the parametric EB solution per batch (0 without EB).
    """

    batches: tuple[str, ...]
    n_per_batch: tuple[int, ...]
    grand_mean: np.ndarray
    beta: np.ndarray
    var_pooled: np.ndarray
    gamma_star: np.ndarray
    delta_star: np.ndarray
    eb: bool
    n_iter: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON (lists of floats)."""
        return {"batches": list(self.batches), "n_per_batch": list(self.n_per_batch),
                "grand_mean": self.grand_mean.tolist(), "beta": self.beta.tolist(),
                "var_pooled": self.var_pooled.tolist(), "gamma_star": self.gamma_star.tolist(),
                "delta_star": self.delta_star.tolist(), "eb": bool(self.eb), "n_iter": list(self.n_iter)}

    @classmethod
    def from_dict(cls, d: dict) -> ComBatFit:
        """Rebuild from :meth:`to_dict`."""
        p = len(d["grand_mean"])
        return cls(batches=tuple(str(b) for b in d["batches"]), n_per_batch=tuple(int(k) for k in d["n_per_batch"]),
                   grand_mean=np.asarray(d["grand_mean"], float),
                   beta=np.asarray(d["beta"], float).reshape(-1, p),
                   var_pooled=np.asarray(d["var_pooled"], float),
                   gamma_star=np.asarray(d["gamma_star"], float).reshape(-1, p),
                   delta_star=np.asarray(d["delta_star"], float).reshape(-1, p),
                   eb=bool(d["eb"]), n_iter=tuple(int(k) for k in d.get("n_iter", ())))


def _inputs(Y, batch, covariates):
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y must be a 2-d array (samples x features); got shape {Y.shape}")
    batch = np.asarray(batch).astype(str)
    if batch.shape != (Y.shape[0],):
        raise ValueError(f"batch must have one label per sample ({Y.shape[0]}); got shape {batch.shape}")
    Z = np.zeros((Y.shape[0], 0)) if covariates is None else np.asarray(covariates, dtype=float)
    Z = Z.reshape(Y.shape[0], -1)
    if not (np.isfinite(Y).all() and np.isfinite(Z).all()):
        raise ValueError("Y and covariates must be finite (ComBat is fitted on complete rows)")
    return Y, batch, Z


def _priors(delta_hat: np.ndarray) -> tuple[float, float]:
    """The inverse-gamma prior of one batch's scales (method of moments)."""
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    return (2 * s2 + m ** 2) / s2, (m * s2 + m ** 3) / s2


def _it_sol(s: np.ndarray, g_hat, d_hat, g_bar, t2, a, b) -> tuple[np.ndarray, np.ndarray, int]:
    """The parametric EB solution of one batch (``s``: its samples x features)."""
    n = s.shape[0]
    g_old, d_old = g_hat.copy(), d_hat.copy()
    for it in range(1, _MAX_ITER + 1):
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        sum2 = ((s - g_new) ** 2).sum(axis=0)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.nanmax(np.abs(g_new - g_old) / np.abs(g_old)),
                         np.nanmax(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if change <= _CONV:
            return g_new, d_new, it
    raise NotEstimableError(f"ComBat: the empirical Bayes iteration did not converge in {_MAX_ITER} steps")


def combat_fit(Y, batch, covariates=None, *, eb: bool = True) -> ComBatFit:
    """Fit ComBat on ``Y`` (samples x features) with batch labels and covariates to preserve.

    Parameters
    ----------
    Y : array-like (n, p)
        Finite values.
    batch : array-like (n,)
        Batch labels (compared as strings); at least two batches, at least two samples each.
    covariates : array-like (n, q), optional
        Numeric covariates whose effects are preserved (code categories as indicators).
    eb : bool, default True
        Empirical Bayes shrinkage (needs at least two features; with one, the
        location/scale estimates are used as they are, ``eb=False`` in the result).

    Returns
    -------
    ComBatFit

    Raises
    ------
    NotEstimableError
        Fewer than two batches, a batch with fewer than two samples, a feature with
        zero residual variance, or covariates collinear with the batches.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> batch = np.repeat(["A", "B"], 50)
    >>> Y = rng.normal(size=(100, 3)) + np.where(batch == "A", 0.0, 2.0)[:, None]
    >>> fit = combat_fit(Y, batch)
    >>> H = combat_apply(fit, Y, batch)
    >>> bool(abs(H[batch == "A"].mean() - H[batch == "B"].mean()) < 0.1)
    True
    """
    Y, batch, Z = _inputs(Y, batch, covariates)
    levels, codes, counts = np.unique(batch, return_inverse=True, return_counts=True)
    if len(levels) < 2:
        raise NotEstimableError(f"ComBat needs at least two batches; got {list(levels)}")
    small = [f"{lv!r} ({k})" for lv, k in zip(levels, counts, strict=True) if k < 2]
    if small:
        raise NotEstimableError(f"ComBat needs at least two samples per batch; batch(es) {', '.join(small)}")
    n, p = Y.shape
    n_b = len(levels)
    onehot = np.eye(n_b)[codes]
    design = np.hstack([onehot, Z])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise NotEstimableError("ComBat: the covariates are collinear with the batches (or with each other); "
                                "their effects cannot be separated from the batch effects")
    B_hat = np.linalg.lstsq(design, Y, rcond=None)[0]
    grand_mean = (counts / n) @ B_hat[:n_b]
    var_pooled = ((Y - design @ B_hat) ** 2).mean(axis=0)
    if not (var_pooled > 0).all():
        raise NotEstimableError(f"ComBat: feature(s) {np.flatnonzero(~(var_pooled > 0)).tolist()} have zero "
                                "residual variance")
    beta = B_hat[n_b:]
    s = (Y - grand_mean - Z @ beta) / np.sqrt(var_pooled)
    gamma_hat = np.vstack([s[codes == k].mean(axis=0) for k in range(n_b)])
    delta_hat = np.vstack([s[codes == k].var(axis=0, ddof=1) for k in range(n_b)])
    delta_hat[delta_hat == 0] = 1.0
    eb = bool(eb) and p >= 2
    if not eb:
        return ComBatFit(tuple(map(str, levels)), tuple(map(int, counts)), grand_mean, beta, var_pooled,
                         gamma_hat, delta_hat, eb=False, n_iter=(0,) * n_b)
    gamma_bar, t2 = gamma_hat.mean(axis=1), gamma_hat.var(axis=1, ddof=1)
    g_star, d_star, iters = [], [], []
    for k in range(n_b):
        a, b = _priors(delta_hat[k])
        g, d, it = _it_sol(s[codes == k], gamma_hat[k], delta_hat[k], gamma_bar[k], t2[k], a, b)
        g_star.append(g)
        d_star.append(d)
        iters.append(it)
    return ComBatFit(tuple(map(str, levels)), tuple(map(int, counts)), grand_mean, beta, var_pooled,
                     np.vstack(g_star), np.vstack(d_star), eb=True, n_iter=tuple(iters))


def combat_apply(fit: ComBatFit, Y, batch, covariates=None) -> np.ndarray:
    """Harmonise ``Y`` with a fitted ComBat (batches seen in the fit; NaN stay NaN, element by element).

    Parameters
    ----------
    fit : ComBatFit
    Y : array-like (n, p)
        The fit's features, in its order (NaN allowed).
    batch : array-like (n,)
        Labels among ``fit.batches``.
    covariates : array-like (n, q), optional
        The fit's covariates (finite).

    Returns
    -------
    ndarray (n, p)

    Raises
    ------
    NotEstimableError
        A batch the fit has not seen (named, with the batches it has).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> fit = combat_fit(rng.normal(size=(40, 2)), np.repeat(["A", "B"], 20))
    >>> combat_apply(fit, np.zeros((1, 2)), ["C"])
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.NotEstimableError: ComBat: batch 'C' was not seen in the fit (batches seen: 'A', 'B')
    """
    Y = np.asarray(Y, dtype=float)
    batch = np.asarray(batch).astype(str)
    Z = np.zeros((Y.shape[0], 0)) if covariates is None else np.asarray(covariates, dtype=float)
    Z = Z.reshape(Y.shape[0], -1)
    if Y.ndim != 2 or Y.shape[1] != fit.grand_mean.shape[0] or Z.shape[1] != fit.beta.shape[0]:
        raise ValueError(f"Y must have {fit.grand_mean.shape[0]} features and covariates {fit.beta.shape[0]} "
                         f"columns; got {Y.shape} and {Z.shape}")
    index = {b: k for k, b in enumerate(fit.batches)}
    unseen = [b for b in dict.fromkeys(batch.tolist()) if b not in index]
    if unseen:
        seen = ", ".join(repr(b) for b in fit.batches)
        raise NotEstimableError(f"ComBat: batch {unseen[0]!r} was not seen in the fit (batches seen: {seen})")
    codes = np.array([index[b] for b in batch], dtype=int)
    mean = fit.grand_mean + Z @ fit.beta
    sd = np.sqrt(fit.var_pooled)
    s = (Y - mean) / sd
    s = (s - fit.gamma_star[codes]) / np.sqrt(fit.delta_star[codes])
    return s * sd + mean
