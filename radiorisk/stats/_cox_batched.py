"""The batched form of the Cox fitter: Efron fits of two covariates for a block of case weights.

:func:`fit_cox_batched` repeats the steps of :func:`~radiorisk.stats.fit_cox` (start at 0
or at ``start``, Newton steps with the same step-halving acceptance and the same relative
log-likelihood stopping rule, :func:`_cox._accept_step` and :func:`_cox._relative_change`)
for many weight vectors at once: the bootstrap's rcs-Cox calibration fits, one per
replicate, where the weights are the replicate's resampling counts (with integer weights a
fit is the fit on the copied rows). The log-likelihood, score and information come from the
compiled kernel :mod:`._cox_kernel` or from the NumPy evaluation below (same formulas;
only the order of the floating-point sums differs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._cox import _accept_step, _relative_change

__all__ = ["CoxRiskSets", "efron_cumulative_hazard_batched", "fit_cox_batched"]


def _csr(rows, cols, shape, vals=None) -> sp.csr_matrix:
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    v = np.ones(len(rows)) if vals is None else np.asarray(vals, dtype=np.float64)
    return sp.csr_matrix((v, (rows, cols)), shape=shape)


@dataclass(frozen=True)
class CoxRiskSets:
    """The event-time structure of rows sorted by time, shared by every weight vector's fit.

    Attributes
    ----------
    event_times : ndarray of shape (K,)
        The distinct event times.
    P_seg : sparse matrix of shape (K, n)
        Row i in segment k when event time k is the last event time at or before its time
        (the risk set of event time k is the rows of the segments k, k+1, ...).
    P_death : sparse matrix of shape (K, n_deaths)
        The deaths at each event time.
    death_rows : ndarray of int64
        Rows with an event, in time order.
    seg_start, dr_start : ndarray of shape (K + 1,)
        The same as contiguous ranges (rows, positions in ``death_rows``): the compiled
        kernel's view.

    Examples
    --------
    >>> rs = CoxRiskSets.from_sorted(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 0.0]))
    >>> rs.event_times.tolist(), rs.seg_start.tolist()
    ([1.0, 2.0], [0, 1, 4])
    """

    event_times: np.ndarray
    P_seg: sp.csr_matrix
    P_death: sp.csr_matrix
    death_rows: np.ndarray
    seg_start: np.ndarray
    dr_start: np.ndarray

    @classmethod
    def from_sorted(cls, time, event) -> CoxRiskSets:
        """Build from times sorted ascending (``event`` 0/1 in the same order)."""
        ts = np.asarray(time, dtype=np.float64)
        ev = np.asarray(event, dtype=np.float64) == 1
        n = len(ts)
        et = np.unique(ts[ev])
        K = len(et)
        seg = np.searchsorted(et, ts, side="right") - 1  # -1: before the first event time
        keep = seg >= 0
        evr = np.flatnonzero(ev)
        death_k = np.searchsorted(et, ts[evr])
        return cls(event_times=et, P_seg=_csr(seg[keep], np.flatnonzero(keep), (K, n)),
                   P_death=_csr(death_k, np.arange(len(evr)), (K, len(evr))), death_rows=evr,
                   seg_start=np.searchsorted(seg, np.arange(K + 1), side="left"),
                   dr_start=np.searchsorted(death_k, np.arange(K + 1), side="left"))


def _rev_cumsum(a: np.ndarray) -> np.ndarray:
    return np.cumsum(a[::-1], axis=0)[::-1]


def efron_cumulative_hazard_batched(risk_sets: CoxRiskSets, W, relative_hazard, at) -> np.ndarray:
    r"""Efron baseline cumulative hazard per column of weights, summed over the event times ``at``.

    Parameters
    ----------
    risk_sets : CoxRiskSets
    W : ndarray of shape (n, B)
        Case weights, one column per fit.
    relative_hazard : ndarray of shape (n, B)
        :math:`e^{\eta_i}` (any common scale: the hazard is for :math:`\eta = 0` on it).
    at : ndarray of bool, shape (K,)
        The event times to sum (e.g. ``risk_sets.event_times <= t0``).

    Returns
    -------
    ndarray of shape (B,)
        :math:`\sum_{k \in at} \sum_{l < d_k} 1 / (S_{0k} - \frac{l}{d_k} D_{0k})` with the
        weighted risk-set and death sums :math:`S_{0k}`, :math:`D_{0k}` and the weighted
        deaths :math:`d_k` (``fit_cox``'s ``hazard_efron``).

    Examples
    --------
    >>> rs = CoxRiskSets.from_sorted(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0]))
    >>> efron_cumulative_hazard_batched(rs, np.ones((3, 1)), np.ones((3, 1)), np.array([True, True])).tolist()
    [0.8333333333333333]
    """
    wr = W * relative_hazard
    S0 = _rev_cumsum(risk_sets.P_seg @ wr)
    D0 = risk_sets.P_death @ wr[risk_sets.death_rows]
    d = risk_sets.P_death @ W[risk_sets.death_rows]
    dmax = int(d.max()) if d.size else 0
    H = np.zeros(S0.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for ll in range(dmax):
            a = ll / np.where(d > 0, d, 1.0)
            term = np.where(d > ll, 1.0 / (S0 - a * D0), 0.0)
            H += term[at].sum(axis=0)
    return H


class _EfronTies:
    """Index of the Efron terms l = 1 .. d_k - 1 (d_k >= 2) of every (event time, replicate)."""

    def __init__(self, d: np.ndarray):
        self.d = d
        self.has = d > 0
        k, b = np.nonzero(d >= 2)
        reps = (d[k, b] - 1).astype(np.int64)
        self.k = np.repeat(k, reps)
        self.b = np.repeat(b, reps)
        start = np.cumsum(reps) - reps
        ll = np.arange(reps.sum()) - np.repeat(start, reps) + 1
        self.a = ll / d[self.k, self.b]
        self.B = d.shape[1]


class _NumpyEfron:
    """The NumPy evaluation: (ll, grad (2 x b), info (3 x b)) at ``beta`` for replicates ``cols``."""

    def __init__(self, rs: CoxRiskSets, x1, x2, W):
        self.dr, self.Pd, self.Ps = rs.death_rows, rs.P_death, rs.P_seg
        self.W, self.x2 = W, x2
        self.x1c = x1[:, None]
        self.x1sq = (x1 * x1)[:, None]
        self.Wd_all = W[self.dr]
        self.d_all = self.Pd @ self.Wd_all
        self.ties_all = _EfronTies(self.d_all)
        self.x1d = x1[self.dr][:, None]

    def __call__(self, cols, b, derivs):
        full = len(cols) == self.W.shape[1]
        Wc = self.W if full else self.W[:, cols]
        X2 = self.x2 if full else self.x2[:, cols]
        eta = X2 * b[1][None, :]
        eta += self.x1c * b[0][None, :]
        m = eta.max(axis=0)
        eta_d = eta[self.dr]
        eta -= m
        np.exp(eta, out=eta)
        eta *= Wc  # eta now holds w * exp(eta - m)
        Wd = self.Wd_all if full else self.Wd_all[:, cols]
        d = self.d_all if full else self.d_all[:, cols]
        ties = self.ties_all if full else _EfronTies(d)
        ll = (Wd * eta_d).sum(axis=0) - d.sum(axis=0) * m
        if not derivs:
            return self._loglik(eta, ll, ties, len(cols)), None, None
        return self._derivatives(eta, ll, ties, X2, Wd, len(cols))

    def _loglik(self, wr, ll, ties, nb):
        S0 = _rev_cumsum(self.Ps @ wr)
        D0 = self.Pd @ wr[self.dr]
        with np.errstate(divide="ignore", invalid="ignore"):
            den = np.where(ties.has, S0, 1.0)
            ll -= np.log(den).sum(axis=0)
            if len(ties.k):
                dd = S0[ties.k, ties.b] - ties.a * D0[ties.k, ties.b]
                ll -= np.bincount(ties.b, weights=np.log(dd), minlength=nb)
        return ll

    def _derivatives(self, wr, ll, ties, X2, Wd, nb):
        n, dr = wr.shape[0], self.dr
        F = np.empty((n, 6, nb))
        F[:, 0] = wr
        np.multiply(wr, self.x1c, out=F[:, 1])
        np.multiply(wr, X2, out=F[:, 2])
        np.multiply(wr, self.x1sq, out=F[:, 3])
        np.multiply(F[:, 2], self.x1c, out=F[:, 4])
        np.multiply(F[:, 2], X2, out=F[:, 5])
        S = _rev_cumsum(self.Ps @ F.reshape(n, 6 * nb)).reshape(-1, 6, nb)
        D = (self.Pd @ F[dr].reshape(len(dr), 6 * nb)).reshape(-1, 6, nb)
        X2d = X2[dr]
        g0 = (Wd * self.x1d).sum(axis=0)
        g1 = (Wd * X2d).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            has = ties.has
            den = np.where(has, S[:, 0], 1.0)
            ll -= np.log(den).sum(axis=0)
            m1 = np.where(has, S[:, 1] / den, 0.0)
            m2 = np.where(has, S[:, 2] / den, 0.0)
            g0 -= m1.sum(axis=0)
            g1 -= m2.sum(axis=0)
            i00 = (np.where(has, S[:, 3] / den, 0.0) - m1 * m1).sum(axis=0)
            i01 = (np.where(has, S[:, 4] / den, 0.0) - m1 * m2).sum(axis=0)
            i11 = (np.where(has, S[:, 5] / den, 0.0) - m2 * m2).sum(axis=0)
            if len(ties.k):
                kk, bb, a = ties.k, ties.b, ties.a
                num = S[kk, :, bb] - a[:, None] * D[kk, :, bb]  # t x 6
                dn = num[:, 0]
                ll -= np.bincount(bb, weights=np.log(dn), minlength=nb)
                u1 = num[:, 1] / dn
                u2 = num[:, 2] / dn
                g0 -= np.bincount(bb, weights=u1, minlength=nb)
                g1 -= np.bincount(bb, weights=u2, minlength=nb)
                i00 += np.bincount(bb, weights=num[:, 3] / dn - u1 * u1, minlength=nb)
                i01 += np.bincount(bb, weights=num[:, 4] / dn - u1 * u2, minlength=nb)
                i11 += np.bincount(bb, weights=num[:, 5] / dn - u2 * u2, minlength=nb)
        return ll, np.vstack([g0, g1]), np.vstack([i00, i01, i11])


def _evaluator(rs: CoxRiskSets, x1, x2, W, compiled: bool):
    if compiled:
        from ._cox_kernel import EfronKernel

        return EfronKernel(rs.seg_start, rs.dr_start, rs.death_rows, x1, x2, W)
    return _NumpyEfron(rs, x1, x2, W)


def _newton_steps(info, grad):
    """Newton steps of the 2 x 2 systems (``info`` rows i00, i01, i11)."""
    a_, b_, c_ = info
    det = a_ * c_ - b_ * b_
    g0, g1 = grad
    return np.vstack([(c_ * g0 - b_ * g1) / det, (a_ * g1 - b_ * g0) / det]), det


class _Batch:
    """The state of the fits: estimates, log-likelihoods and derivatives, done / failed."""

    def __init__(self, evaluate, beta):
        B = beta.shape[1]
        self.evaluate, self.beta = evaluate, beta
        self.done = np.zeros(B, dtype=bool)
        self.failed = np.zeros(B, dtype=bool)
        self.ll, self.grad, self.info = evaluate(np.arange(B), beta, True)

    def active(self) -> np.ndarray:
        """Fits still iterating, with a solvable Newton system (the others are marked failed)."""
        act = np.flatnonzero(~self.done & ~self.failed)
        info = self.info[:, act]
        det = info[0] * info[2] - info[1] * info[1]
        bad = ~(np.isfinite(det) & (det != 0))
        self.failed[act[bad]] = True
        return act[~bad]

    def halve(self, act, step, new, ll_old):
        """Evaluate at ``new``; halve the steps where the log-likelihood fell (fit_cox's rule)."""
        ll_new, g_new, i_new = self.evaluate(act, new, True)
        halved = np.zeros(len(act), dtype=bool)
        for _h in range(40):
            need = ~_accept_step(ll_new, ll_old)
            if not need.any():
                break
            halved |= need
            step[:, need] /= 2.0
            new[:, need] = self.beta[:, act[need]] + step[:, need]
            ll_sub, _, _ = self.evaluate(act[need], new[:, need], False)
            ll_new[need] = ll_sub
        return ll_new, g_new, i_new, halved

    def iterate(self, tol: float) -> bool:
        """One Newton step of every active fit; False when none is left."""
        act = self.active()
        if len(act) == 0:
            return False
        step, _ = _newton_steps(self.info[:, act], self.grad[:, act])
        ll_old = self.ll[act]
        new = self.beta[:, act] + step
        # log-likelihood and derivatives at the new point (fit_cox computes the same values
        # in two calls); step halving where the log-likelihood fell
        ll_new, g_new, i_new, halved = self.halve(act, step, new, ll_old)
        self.beta[:, act] = new
        conv = self._converged(act, ll_old, ll_new, g_new, i_new, halved, tol)
        self.done[act[conv]] = True
        self.ll[act], self.grad[:, act], self.info[:, act] = ll_new, g_new, i_new
        upd = act[~conv & halved]  # derivatives at the halved points
        if len(upd):
            ll_a, g_a, i_a = self.evaluate(upd, self.beta[:, upd], True)
            self.ll[upd], self.grad[:, upd], self.info[:, upd] = ll_a, g_a, i_a
        return True

    def _converged(self, act, ll_old, ll_new, g_new, i_new, halved, tol):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rel = _relative_change(ll_old, ll_new)
            # Newton decrement at the new point: the log-likelihood still to gain is about
            # g' I^-1 g / 2; below the stopping rule's tolerance the next step would stop,
            # so take it without evaluating there (one evaluation fewer per fit)
            nstep, _ = _newton_steps(i_new, g_new)
            dec = 0.5 * (g_new[0] * nstep[0] + g_new[1] * nstep[1])
        conv = rel <= tol
        last = (~conv & ~halved & np.isfinite(dec) & (dec >= 0) & (dec <= tol * np.abs(ll_new))
                & np.all(np.isfinite(nstep), axis=0))
        if last.any():
            self.beta[:, act[last]] += nstep[:, last]
            conv |= last
        return conv


def fit_cox_batched(risk_sets: CoxRiskSets, x1, x2, W, *, tol: float = 1e-10, max_iter: int = 100,
                    start=None, compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""Efron Cox fits of :math:`(x_1, x_2^{(b)})` with case weights :math:`W_{\cdot b}`, all at once.

    Parameters
    ----------
    risk_sets : CoxRiskSets
        The rows' event-time structure (rows sorted by time).
    x1 : ndarray of shape (n,)
        The covariate shared by every fit.
    x2 : ndarray of shape (n, B)
        The second covariate of each fit.
    W : ndarray of shape (n, B)
        Case weights (e.g. bootstrap counts).
    tol, max_iter : float, int
        :func:`~radiorisk.stats.fit_cox`'s stopping rule: relative log-likelihood change.
    start : array-like of shape (2,), optional
        Start of every fit (default 0, as ``fit_cox``).
    compiled : bool
        Evaluate with the numba kernel (default) or with NumPy.

    Returns
    -------
    beta : ndarray of shape (2, B)
    converged : ndarray of bool, shape (B,)

    Notes
    -----
    The same Newton-Raphson as :func:`~radiorisk.stats.fit_cox` (same acceptance of a step,
    same stopping rule), plus one shortcut: when the Newton decrement at a new point is
    below the tolerance the next step is taken without evaluating there. With integer
    weights a fit equals ``fit_cox`` on the copied rows to the stopping rule (about 1e-9;
    ``tests/stats/test_cox_batched.py``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.sort(rng.exponential(1.0, 60)); e = np.ones(60)
    >>> x1 = rng.normal(size=60); x2 = rng.normal(size=(60, 2))
    >>> beta, ok = fit_cox_batched(CoxRiskSets.from_sorted(t, e), x1, x2, np.ones((60, 2)), compiled=False)
    >>> beta.shape, ok.tolist()
    ((2, 2), [True, True])
    """
    B = W.shape[1]
    beta = np.zeros((2, B)) if start is None else np.repeat(np.asarray(start, float)[:, None], B, axis=1)
    state = _Batch(_evaluator(risk_sets, x1, x2, W, compiled), beta)
    for _ in range(max_iter):
        if not state.iterate(tol):
            break
    ok = state.done & ~state.failed & np.all(np.isfinite(state.beta), axis=0)
    return state.beta, ok
