"""A batched Efron Cox Newton-Raphson over bootstrap replicates (the rcs calibration family).

It repeats the steps of :func:`radiorisk.stats.fit_cox` (start at 0, step-halving,
relative log-likelihood change 1e-10) for a block of replicate weights at once.
"""

from __future__ import annotations

import numpy as np


def _cube_pos(a: np.ndarray) -> np.ndarray:
    """max(a, 0) ** 3 by multiplication (``**`` on arrays calls pow, ~10x slower)."""
    np.maximum(a, 0.0, out=a)
    out = a * a
    out *= a
    return out


def _rev_cumsum(a: np.ndarray) -> np.ndarray:
    return np.cumsum(a[::-1], axis=0)[::-1]


def _risk_sums0(plan, wr, W):
    S0 = _rev_cumsum(plan.P_seg @ wr)
    D0 = plan.P_death @ wr[plan.death_rows]
    d = plan.P_death @ W[plan.death_rows]
    return S0, D0, d


def _efron_hazard(S0, D0, d, sel):
    dmax = int(d.max()) if d.size else 0
    H = np.zeros(S0.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for ll in range(dmax):
            a = ll / np.where(d > 0, d, 1.0)
            term = np.where(d > ll, 1.0 / (S0 - a * D0), 0.0)
            H += term[sel].sum(axis=0)
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


def _batched_cox(plan, x1: np.ndarray, x2: np.ndarray, W: np.ndarray, tol: float = 1e-10,
                 max_iter: int = 100, start=None, compiled: bool = True):
    """Efron Cox fits of (x1, x2[:, b]) with case weights W[:, b], all replicates at once.

    Repeats :func:`fit_cox`'s iterations: start at 0, Newton steps with step
    halving until the relative change of the log-likelihood is <= ``tol``;
    with integer weights this is the fit on the copied rows.
    Returns (beta (2 x B), converged (B,)).
    """
    n, B = W.shape
    beta = np.zeros((2, B)) if start is None else np.repeat(np.asarray(start, float)[:, None], B, axis=1)
    done = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    dr = plan.death_rows
    Pd, Ps = plan.P_death, plan.P_seg
    x1c = x1[:, None]
    x1sq = (x1 * x1)[:, None]
    Wd_all = W[dr]
    d_all = Pd @ Wd_all
    ties_all = _EfronTies(d_all)
    x1d = x1[dr][:, None]

    kernel = None
    if compiled:
        from ..stats._cox_kernel import EfronKernel

        kernel = EfronKernel(plan.seg_start, plan.dr_start, dr, x1, x2, W)

    def evaluate(cols, b, derivs):
        if kernel is not None:
            return kernel(cols, b, derivs)
        full = len(cols) == B
        Wc = W if full else W[:, cols]
        X2 = x2 if full else x2[:, cols]
        nb = len(cols)
        eta = X2 * b[1][None, :]
        eta += x1c * b[0][None, :]
        m = eta.max(axis=0)
        eta_d = eta[dr]
        eta -= m
        np.exp(eta, out=eta)
        eta *= Wc  # eta now holds w * exp(eta - m)
        wr = eta
        Wd = Wd_all if full else Wd_all[:, cols]
        d = d_all if full else d_all[:, cols]
        ties = ties_all if full else _EfronTies(d)
        ll = (Wd * eta_d).sum(axis=0) - d.sum(axis=0) * m
        if not derivs:
            S0 = _rev_cumsum(Ps @ wr)
            D0 = Pd @ wr[dr]
            with np.errstate(divide="ignore", invalid="ignore"):
                den = np.where(ties.has, S0, 1.0)
                ll -= np.log(den).sum(axis=0)
                if len(ties.k):
                    dd = S0[ties.k, ties.b] - ties.a * D0[ties.k, ties.b]
                    ll -= np.bincount(ties.b, weights=np.log(dd), minlength=nb)
            return ll, None, None
        F = np.empty((n, 6, nb))
        F[:, 0] = wr
        np.multiply(wr, x1c, out=F[:, 1])
        np.multiply(wr, X2, out=F[:, 2])
        np.multiply(wr, x1sq, out=F[:, 3])
        np.multiply(F[:, 2], x1c, out=F[:, 4])
        np.multiply(F[:, 2], X2, out=F[:, 5])
        S = _rev_cumsum(Ps @ F.reshape(n, 6 * nb)).reshape(-1, 6, nb)
        D = (Pd @ F[dr].reshape(len(dr), 6 * nb)).reshape(-1, 6, nb)
        X2d = X2[dr]
        g0 = (Wd * x1d).sum(axis=0)
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
                Sk = S[kk, :, bb]  # t x 6
                Dk = D[kk, :, bb]
                num = Sk - a[:, None] * Dk
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

    cols = np.arange(B)
    ll, grad, info = evaluate(cols, beta, True)
    for _ in range(max_iter):
        act = np.flatnonzero(~done & ~failed)
        if len(act) == 0:
            break
        a_, b_, c_ = info[0, act], info[1, act], info[2, act]
        det = a_ * c_ - b_ * b_
        bad = ~(np.isfinite(det) & (det != 0))
        failed[act[bad]] = True
        act, a_, b_, c_, det = act[~bad], a_[~bad], b_[~bad], c_[~bad], det[~bad]
        if len(act) == 0:
            break
        g0, g1 = grad[0, act], grad[1, act]
        step = np.vstack([(c_ * g0 - b_ * g1) / det, (a_ * g1 - b_ * g0) / det])
        ll_old = ll[act]
        new = beta[:, act] + step
        # log-likelihood and derivatives at the new point (fit_cox computes the same values
        # in two calls); step halving where the log-likelihood fell
        ll_new, g_new, i_new = evaluate(act, new, True)
        halved = np.zeros(len(act), dtype=bool)
        for _h in range(40):
            need = ~(ll_new >= ll_old - 1e-12 * np.abs(ll_old))
            if not need.any():
                break
            halved |= need
            step[:, need] /= 2.0
            new[:, need] = beta[:, act[need]] + step[:, need]
            ll_sub, _, _ = evaluate(act[need], new[:, need], False)
            ll_new[need] = ll_sub
        beta[:, act] = new
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rel = np.where(ll_new != 0, np.abs(1.0 - ll_old / ll_new), np.abs(ll_old - ll_new))
            # Newton decrement at the new point: the log-likelihood still to gain is about
            # g' I^-1 g / 2; below the stopping rule's tolerance the next step would stop,
            # so take it without evaluating there (one evaluation fewer per fit)
            a2, b2, c2 = i_new
            det2 = a2 * c2 - b2 * b2
            nstep = np.vstack([(c2 * g_new[0] - b2 * g_new[1]) / det2, (a2 * g_new[1] - b2 * g_new[0]) / det2])
            dec = 0.5 * (g_new[0] * nstep[0] + g_new[1] * nstep[1])
        conv = rel <= tol
        last = (~conv & ~halved & np.isfinite(dec) & (dec >= 0) & (dec <= tol * np.abs(ll_new))
                & np.all(np.isfinite(nstep), axis=0))
        if last.any():
            beta[:, act[last]] += nstep[:, last]
            conv |= last
        done[act[conv]] = True
        ll[act], grad[:, act], info[:, act] = ll_new, g_new, i_new
        upd = act[~conv & halved]  # derivatives at the halved points
        if len(upd):
            ll_a, g_a, i_a = evaluate(upd, beta[:, upd], True)
            ll[upd], grad[:, upd], info[:, upd] = ll_a, g_a, i_a
    ok = done & ~failed & np.all(np.isfinite(beta), axis=0)
    return beta, ok
