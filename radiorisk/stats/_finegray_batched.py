"""The Fine-Gray calibration family for a block of case weights (the bootstrap's replicates).

:class:`FineGrayCalibrationBatch` computes :func:`~radiorisk.stats.fine_gray_calibration`
(ICI, E50, E90, Emax at :math:`t_0`) for many weight vectors over one set of rows: with the
bootstrap's integer counts a column's values are those of the copied rows. The rows are
sorted by time once; per replicate the censoring distribution :math:`G_c` (crr's textbook
Kaplan-Meier) comes from weighted counts at the distinct times, the Hmisc knots from
:func:`rcs_knots` of the expanded cloglog risks (or from the caller), and
:func:`_fg_newton` repeats :func:`~._finegray._newton` (start 0, the same step halving and
crr's criterion; the 2 x 2 solve by LU with partial pivoting, as LAPACK's ``gesv``) with the
log-likelihood, score and information of :func:`_fg_terms`, one compiled pass over the
sorted rows per step (numba, releases the GIL). A replicate this does not follow (fewer
than 3 knots, a failed fit, or a drifting one: see ``_MAX_COEF_BATCHED``) is computed by
``fine_gray_calibration`` on the copied rows. Only the order of floating-point sums differs
from the slow path (``tests/stats/test_finegray_batched.py``: equal to 1e-10).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from ._common import NotEstimableError
from ._competing import FLOOR_CRITERION, fine_gray_calibration
from ._km import km_factors
from ._rcs import cloglog, rcs_knots

__all__ = ["FineGrayCalibrationBatch"]

#: A batched fit with more Newton iterations or a larger coefficient than this is drifting
#: towards a likelihood without finite maximum, where the order of floating-point sums
#: decides the values: such a replicate is computed on the copied rows instead.
_MAX_ITER_BATCHED = 40
_MAX_COEF_BATCHED = 20.0


@njit(cache=False, nogil=True, error_model="numpy")
def _fg_terms(x1, x2, w, start, comp_rows, ncb, g_comp, g_k, d, ev_rows, le_t0, b0, b1,
              derivs, C):  # pragma: no cover - compiled
    """ll, U (2), I (3: 00, 01, 11) and Lambda0(t0) of one weighted Fine-Gray problem at (b0, b1).

    The sums of ``_FineGrayProblem.sums`` with case weights ``w`` (rows sorted by time):
    rows with :math:`T \\ge t_k` by a running sum from the last row, competing rows before
    :math:`t_k` by a running sum over the competing rows times :math:`G_c(t_k-)/G_c(T_j-)`;
    the shift ``m`` is the largest linear predictor of a row with positive weight.
    ``C`` (K x 6) is workspace.
    """
    n = len(x1)
    K = len(start)
    m = -np.inf
    for i in range(n):
        if w[i] > 0.0:
            v = b0 * x1[i] + b1 * x2[i]
            if v > m:
                m = v
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    c4 = 0.0
    c5 = 0.0
    q = 0
    for k in range(K):
        while q < ncb[k]:
            i = comp_rows[q]
            wi = w[i]
            if wi != 0.0:
                a1 = x1[i]
                a2 = x2[i]
                wr = wi * np.exp(b0 * a1 + b1 * a2 - m) / g_comp[q]
                c0 += wr
                if derivs:
                    wa1 = wr * a1
                    wa2 = wr * a2
                    c1 += wa1
                    c2 += wa2
                    c3 += wa1 * a1
                    c4 += wa1 * a2
                    c5 += wa2 * a2
            q += 1
        C[k, 0] = c0
        C[k, 1] = c1
        C[k, 2] = c2
        C[k, 3] = c3
        C[k, 4] = c4
        C[k, 5] = c5
    ll = 0.0
    g0 = 0.0
    g1 = 0.0
    for q in range(len(ev_rows)):
        i = ev_rows[q]
        wi = w[i]
        if wi != 0.0:
            ll += wi * (b0 * x1[i] + b1 * x2[i])
            g0 += wi * x1[i]
            g1 += wi * x2[i]
    i00 = 0.0
    i01 = 0.0
    i11 = 0.0
    lam = 0.0
    em = np.exp(m)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    end = n
    for k in range(K - 1, -1, -1):  # rows with T >= t_k, added from the last
        for i in range(start[k], end):
            wi = w[i]
            if wi != 0.0:
                a1 = x1[i]
                a2 = x2[i]
                wr = wi * np.exp(b0 * a1 + b1 * a2 - m)
                s0 += wr
                if derivs:
                    wa1 = wr * a1
                    wa2 = wr * a2
                    s1 += wa1
                    s2 += wa2
                    s3 += wa1 * a1
                    s4 += wa1 * a2
                    s5 += wa2 * a2
        end = start[k]
        dk = d[k]
        if dk == 0.0:
            continue
        gk = g_k[k]
        S0 = s0 + gk * C[k, 0]
        ll -= dk * (np.log(S0) + m)
        if le_t0[k]:
            lam += dk / (S0 * em)
        if derivs:
            u1 = (s1 + gk * C[k, 1]) / S0
            u2 = (s2 + gk * C[k, 2]) / S0
            g0 -= dk * u1
            g1 -= dk * u2
            i00 += dk * ((s3 + gk * C[k, 3]) / S0 - u1 * u1)
            i01 += dk * ((s4 + gk * C[k, 4]) / S0 - u1 * u2)
            i11 += dk * ((s5 + gk * C[k, 5]) / S0 - u2 * u2)
    return ll, g0, g1, i00, i01, i11, lam


@njit(cache=False, nogil=True, error_model="numpy")
def _criterion2(ll, g0, g1, b0, b1):  # pragma: no cover - compiled
    """``_finegray._criterion`` for two coefficients."""
    v = max(abs(g0) * max(abs(b0), 1.0), abs(g1) * max(abs(b1), 1.0))
    return v / max(abs(ll), 1.0)


@njit(cache=False, nogil=True, error_model="numpy")
def _positive_rows(x1, x2, w, start, comp_rows, ncb, g_comp, ev_rows):  # pragma: no cover - compiled
    """The problem restricted to the rows with a non-zero weight (the rows the sums visit).

    :func:`_fg_terms` skips a row of weight 0, so its sums over the restricted rows are the
    same additions in the same order (bit for bit); the passes then run without the
    unpredictable branch of a bootstrap's absent rows (about 37 %).
    """
    n = len(w)
    before = np.empty(n + 1, np.int64)  # non-zero rows before row i
    c = 0
    for i in range(n):
        before[i] = c
        if w[i] != 0.0:
            c += 1
    before[n] = c
    x1c = np.empty(c)
    x2c = np.empty(c)
    wc = np.empty(c)
    for i in range(n):
        if w[i] != 0.0:
            j = before[i]
            x1c[j] = x1[i]
            x2c[j] = x2[i]
            wc[j] = w[i]
    startc = np.empty(len(start), np.int64)
    for k in range(len(start)):
        startc[k] = before[start[k]]
    nq = len(comp_rows)
    kept = np.empty(nq + 1, np.int64)  # non-zero competing rows among the first q
    c = 0
    for q in range(nq):
        kept[q] = c
        if w[comp_rows[q]] != 0.0:
            c += 1
    kept[nq] = c
    compc = np.empty(c, np.int64)
    gc = np.empty(c)
    for q in range(nq):
        if w[comp_rows[q]] != 0.0:
            compc[kept[q]] = before[comp_rows[q]]
            gc[kept[q]] = g_comp[q]
    ncbc = np.empty(len(ncb), np.int64)
    for k in range(len(ncb)):
        ncbc[k] = kept[ncb[k]]
    c = 0
    for q in range(len(ev_rows)):
        if w[ev_rows[q]] != 0.0:
            c += 1
    evc = np.empty(c, np.int64)
    c = 0
    for q in range(len(ev_rows)):
        if w[ev_rows[q]] != 0.0:
            evc[c] = before[ev_rows[q]]
            c += 1
    return x1c, x2c, wc, startc, compc, ncbc, gc, evc


@njit(cache=False, nogil=True, error_model="numpy")
def _fg_newton(x1, x2, w, start, comp_rows, ncb, g_comp, g_k, d, ev_rows, le_t0, gtol, max_iter,
               max_coef, out):  # pragma: no cover - compiled
    """``_finegray._newton`` (from 0, step halving, crr's criterion) on one weighted problem.

    ``out`` receives ``b0, b1, criterion, Lambda0(t0), iterations``. Returns 0, or 1 where ``_newton``
    or ``newton_step`` would raise (non-finite values, a singular information) or a
    coefficient exceeds ``max_coef``: the caller then computes the replicate on the copied rows.
    The passes run over the rows of non-zero weight only (:func:`_positive_rows`: the same sums).
    """
    x1, x2, w, start, comp_rows, ncb, g_comp, ev_rows = _positive_rows(x1, x2, w, start, comp_rows, ncb,
                                                                       g_comp, ev_rows)
    C = np.empty((len(start), 6))
    b0 = 0.0
    b1 = 0.0
    ll, g0, g1, i00, i01, i11, lam = _fg_terms(x1, x2, w, start, comp_rows, ncb, g_comp, g_k, d,
                                               ev_rows, le_t0, b0, b1, True, C)
    if not np.isfinite(ll):
        return 1
    n_iter = 0
    eps8 = 8.0 * np.finfo(np.float64).eps
    while _criterion2(ll, g0, g1, b0, b1) >= gtol and n_iter < max_iter:
        if not (np.isfinite(i00) and np.isfinite(i01) and np.isfinite(i11)
                and np.isfinite(g0) and np.isfinite(g1)):
            return 1
        # the 2 x 2 solve of LAPACK's gesv: LU with partial pivoting
        if abs(i01) > abs(i00):
            p00, p01, p10, p11, r0, r1 = i01, i11, i00, i01, g1, g0
        else:
            p00, p01, p10, p11, r0, r1 = i00, i01, i01, i11, g0, g1
        if p00 == 0.0:
            return 1
        l10 = p10 / p00
        u11 = p11 - l10 * p01
        if u11 == 0.0:
            return 1
        z1 = r1 - l10 * r0
        s1 = z1 / u11
        s0 = (r0 - p01 * s1) / p00
        if not (np.isfinite(s0) and np.isfinite(s1)):
            return 1
        floor = eps8 * max(abs(ll), 1.0)
        accepted = False
        for _h in range(30):
            # the trial point's derivatives too: _newton evaluates them at the accepted point,
            # whose log-likelihood is this same sum (one pass instead of two)
            t_ll, t_g0, t_g1, t_i00, t_i01, t_i11, t_lam = _fg_terms(
                x1, x2, w, start, comp_rows, ncb, g_comp, g_k, d, ev_rows, le_t0, b0 + s0, b1 + s1, True, C)
            ll_new = t_ll if np.isfinite(t_ll) else -np.inf
            if ll_new >= ll - floor:
                accepted = True
                break
            s0 = s0 / 2.0
            s1 = s1 / 2.0
        if not accepted:
            break
        if b0 + s0 == b0 and b1 + s1 == b1:
            break
        n_iter += 1
        b0 = b0 + s0
        b1 = b1 + s1
        if max(abs(b0), abs(b1)) > max_coef:  # drifting: the caller decides on the copied rows
            return 1
        ll, g0, g1, i00, i01, i11, lam = t_ll, t_g0, t_g1, t_i00, t_i01, t_i11, t_lam
        if not np.isfinite(ll):
            return 1
    if not (np.isfinite(b0) and np.isfinite(b1)):
        return 1
    out[0] = b0
    out[1] = b1
    out[2] = _criterion2(ll, g0, g1, b0, b1)
    out[3] = lam
    out[4] = n_iter
    return 0


def _cube_pos(a: np.ndarray) -> np.ndarray:
    np.maximum(a, 0.0, out=a)
    return a * a * a


def _basis_nonlinear(x, K) -> np.ndarray:
    """The nonlinear column of :func:`rcs_basis` for each column of knots ``K`` (3 x B): n x B."""
    k1, k2, k3 = (K[i][None, :] for i in range(3))
    c = x[:, None]
    x2 = _cube_pos(c - k1)
    x2 -= _cube_pos(c - k2) * (k3 - k1) / (k3 - k2)
    x2 += _cube_pos(c - k3) * (k2 - k1) / (k3 - k2)
    return x2 / (k3 - k1) ** 2


def _lerp(a, b, t):
    """numpy's quantile interpolation (``numpy.lib._function_base_impl._lerp``)."""
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def _row_summaries(D: np.ndarray) -> np.ndarray:
    """``np.mean``, ``np.median``, ``np.quantile(., 0.9)`` and ``np.max`` of each row of ``D`` (4 x F).

    The same values as the four NumPy calls (the order statistics and their interpolation
    are NumPy's), from one partition of the rows instead of two; a row holding NaN takes the
    NumPy calls themselves.
    """
    F, m = D.shape
    out = np.empty((4, F))
    if F == 0:
        return out
    out[0] = np.mean(D, axis=1)
    out[3] = np.max(D, axis=1)
    h = (m - 1) * 0.9
    lo = int(np.floor(h))
    hi = min(lo + 1, m - 1)
    part = np.partition(D, sorted({(m - 1) // 2, m // 2, lo, hi}), axis=1)
    out[1] = part[:, m // 2] if m % 2 else (part[:, m // 2 - 1] + part[:, m // 2]) / 2.0
    out[2] = _lerp(part[:, lo], part[:, hi], np.full(F, h - lo))
    nan = np.isnan(out[3])
    if nan.any():
        out[1, nan] = np.median(D[nan], axis=1)
        out[2, nan] = np.quantile(D[nan], 0.9, axis=1)
    return out


def _csr(rows, cols, shape) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)


class FineGrayCalibrationBatch:
    """:func:`~radiorisk.stats.fine_gray_calibration` of one set of rows for many case weights.

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        The rows (status 0 = censored, 1 = the event of interest, 2 = competing), valid as
        for ``fine_gray_calibration`` (time > 0, risk in [0, 1]).
    horizon : float
        :math:`t_0`.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> risk = rng.uniform(0.05, 0.4, 300)
    >>> t1, t2 = rng.exponential(-5 / np.log1p(-risk)), rng.exponential(10.0, 300)
    >>> time = np.minimum.reduce([t1, t2, np.full(300, 8.0)])
    >>> status = np.select([time == t1, time == t2], [1, 2], 0).astype(float)
    >>> batch = FineGrayCalibrationBatch(time, status, risk, horizon=5)
    >>> W = rng.multinomial(300, np.full(300, 1 / 300), size=2).T.astype(float)
    >>> got = batch.evaluate(W)  # ici, e50, e90, emax per replicate
    >>> ii = np.repeat(np.arange(300), W[:, 0].astype(int))
    >>> ref = fine_gray_calibration(time[ii], status[ii], risk[ii], horizon=5)
    >>> bool(abs(got[0, 0] - ref.ici) < 1e-10)
    True
    """

    def __init__(self, time, status, risk, *, horizon: float):
        t = np.asarray(time, dtype=np.float64)
        s = np.asarray(status, dtype=np.float64)
        self.r = np.asarray(risk, dtype=np.float64)
        self.t0 = float(horizon)
        self.n = n = len(t)
        self.order = order = np.argsort(t, kind="stable")
        self.inv_order = np.empty(n, dtype=np.int64)
        self.inv_order[order] = np.arange(n)
        self.t, self.s = t, s
        ts, ss = t[order], s[order]
        self.x1 = np.ascontiguousarray(cloglog(self.r[order]))  # cloglog risk, rows sorted by time
        self.rclip = np.clip(self.r[order], 1e-10, 1.0 - 1e-10)
        ev = ss == 1
        self.cens = (ss == 0).astype(np.float64)
        self.uft = np.unique(ts[ev])
        K = len(self.uft)
        self.start = np.searchsorted(ts, self.uft, side="left").astype(np.int64)
        self.comp_rows = np.flatnonzero((ss != 1) & (ss != 0)).astype(np.int64)
        self.ncb = np.searchsorted(ts[self.comp_rows], self.uft, side="left").astype(np.int64)
        self.ev_rows = np.flatnonzero(ev).astype(np.int64)
        self.le_t0 = self.uft <= self.t0
        self.case_t0 = self.ev_rows[ts[self.ev_rows] <= self.t0]
        uniq, inv = np.unique(ts, return_inverse=True)
        self.A_u = _csr(inv, np.arange(n), (len(uniq), n))  # distinct time x row
        self.u_of_uft = np.searchsorted(uniq, self.uft, side="left")
        self.inv = inv
        self.P_d = _csr(np.searchsorted(self.uft, ts[self.ev_rows]), self.ev_rows, (K, n))
        # the cloglog risks sorted by value (for the expanded sample of the knots)
        self.cll_order = np.argsort(self.x1, kind="stable")
        self.cll_by_value = self.x1[self.cll_order]

    def _censoring(self, Ws):
        """crr's textbook censoring KM :math:`G_c(u-)` at each distinct time, per column."""
        N = self.A_u @ Ws
        c = self.A_u @ (Ws * self.cens[:, None])
        Y = np.cumsum(N[::-1], axis=0)[::-1]
        return np.vstack([np.ones((1, Ws.shape[1])), np.cumprod(km_factors(c, Y), axis=0)])

    def knots(self, W) -> np.ndarray:
        """:func:`rcs_knots` (3 knots) of the cloglog risks repeated by each column of ``W`` (3 x B).

        NaN in a column where ``rcs_knots`` raises or gives fewer than 3 knots.
        """
        W = np.asarray(W, dtype=np.float64)
        out = np.full((3, W.shape[1]), np.nan)
        for b in range(W.shape[1]):
            k = self._own_knots(W[self.order, b].astype(np.int64))
            if k is not None:
                out[:, b] = k
        return out

    def _own_knots(self, wi_sorted):
        try:
            k = rcs_knots(np.repeat(self.cll_by_value, wi_sorted[self.cll_order]), n_knots=3)
        except NotEstimableError:
            return None
        return k if len(k) == 3 else None

    def evaluate(self, W, knots=None, rows=None) -> np.ndarray:
        """``ici, e50, e90, emax`` (4 x B) for case weights ``W`` (n x B, rows in the input order).

        Parameters
        ----------
        W : ndarray of shape (n, B)
            Non-negative integer weights (bootstrap counts).
        knots : ndarray of shape (3, B), optional
            The spline knots of each column when the caller has them (they must be
            ``rcs_knots`` of the repeated cloglog risks); a column of NaN is computed here.
        rows : ndarray of int, shape (B, m), optional
            The copied rows of each column in order (positions in ``time``; the bootstrap's
            resample indices). A replicate the batch does not follow is computed by
            ``fine_gray_calibration`` on exactly these rows (default: each row repeated in
            place), so that a fit that only rounding decides (a likelihood without finite
            maximum) gives the value of the copied rows as given.

        Returns
        -------
        ndarray of shape (4, B)
            NaN where ``fine_gray_calibration`` on the rows repeated by the weights raises
            ``NotEstimableError``.
        """
        W = np.asarray(W, dtype=np.float64)
        B = W.shape[1]
        out = np.full((4, B), np.nan)
        if self.n == 0:
            return out
        Ws = W[self.order]
        has_case = Ws[self.case_t0].sum(axis=0) > 0
        cols = np.flatnonzero(has_case)
        if len(cols) == 0:
            return out
        Ws = Ws[:, cols]
        WiT = np.ascontiguousarray(Ws.T.astype(np.int64))
        K = np.full((3, len(cols)), np.nan) if knots is None else np.array(knots, dtype=np.float64)[:, cols]
        for j in np.flatnonzero(~np.all(np.isfinite(K), axis=0)):
            k = self._own_knots(WiT[j])
            if k is not None:
                K[:, j] = k
        ok = np.all(np.isfinite(K), axis=0)
        exact = (lambda j: self._exact(WiT[j])) if rows is None else \
            (lambda j: self._exact_rows(np.asarray(rows[cols[j]])))
        for j in np.flatnonzero(~ok):  # fewer than 3 knots, or none: the exact function
            out[:, cols[j]] = exact(j)
        if not ok.any():
            return out
        good = np.flatnonzero(ok)
        WT = np.ascontiguousarray(Ws[:, good].T)
        GT = np.ascontiguousarray(self._censoring(Ws[:, good]).T)
        DT = np.ascontiguousarray((self.P_d @ Ws[:, good]).T)
        X2T = np.ascontiguousarray(_basis_nonlinear(self.x1, K[:, good]).T)
        fits = np.full((3, len(good)), np.nan)  # b0, b1, Lambda0(t0) of the batched fits
        for q, j in enumerate(good):
            v = self._fit(WT[q], X2T[q], GT[q], DT[q])
            if v is None:
                out[:, cols[j]] = exact(j)
            else:
                fits[:, q] = v
        done = np.flatnonzero(np.isfinite(fits[0]))
        if len(done):
            out[:, cols[good[done]]] = self._summaries(fits[:, done], X2T[done], WiT[good[done]],
                                                       None if rows is None else np.asarray(rows)[cols[good[done]]])
        return out

    def _fit(self, w, x2, G, d):
        """``(b0, b1, Lambda0(t0))`` of one replicate, or None where the exact function must decide."""
        res = np.empty(5)
        status = _fg_newton(self.x1, x2, w, self.start, self.comp_rows, self.ncb,
                            np.ascontiguousarray(G[self.inv[self.comp_rows]]), np.ascontiguousarray(G[self.u_of_uft]),
                            d, self.ev_rows, self.le_t0, 1e-12, _MAX_ITER_BATCHED + 1, _MAX_COEF_BATCHED, res)
        if (status != 0 or res[2] >= FLOOR_CRITERION or res[4] > _MAX_ITER_BATCHED
                or max(abs(res[0]), abs(res[1])) > _MAX_COEF_BATCHED or not np.isfinite(res[3])):
            return None  # failed or drifting (separation): rounding decides, follow the copied rows
        return res[[0, 1, 3]]

    def _summaries(self, fits, X2T, WiT, rows) -> np.ndarray:
        """ICI, E50, E90, Emax (4 x F) of the observed risks of the fits over the copied rows.

        ``rows`` (F x m, input positions, or None: each row repeated in place) orders the
        copies as the exact function sees them; the summaries are NumPy's mean, median,
        type-7 quantile and max of those rows' absolute errors.
        """
        with np.errstate(all="ignore"):
            obs = -np.expm1(-fits[2][:, None] * np.exp(fits[0][:, None] * self.x1[None, :] + fits[1][:, None] * X2T))
        dd = np.abs(obs - self.rclip[None, :])  # F x n, rows sorted by time
        if rows is None:
            D = [np.repeat(dd[q], WiT[q]) for q in range(len(dd))]
            return np.array([[np.mean(x), np.median(x), np.quantile(x, 0.9), np.max(x)] for x in D]).T
        return _row_summaries(np.take_along_axis(dd, self.inv_order[rows], axis=1))

    def _exact(self, wi) -> np.ndarray:
        """``fine_gray_calibration`` on the rows repeated in place (``wi`` in time order)."""
        return self._exact_rows(np.repeat(self.order, wi))

    def _exact_rows(self, ii) -> np.ndarray:
        """``fine_gray_calibration`` on the rows ``ii`` (the cases the batch does not follow)."""
        try:
            with np.errstate(all="ignore"):
                res = fine_gray_calibration(self.t[ii], self.s[ii], self.r[ii], horizon=self.t0)
        except NotEstimableError:
            return np.full(4, np.nan)
        return np.array([res.ici, res.e50, res.e90, res.emax])
