"""Random-effects meta-analysis of per-cluster performance (internal–external validation).

:func:`random_effects` pools one performance measure estimated in k clusters
(sites, vendors, ...) by the random-effects model and returns a
:class:`MetaAnalysis`: the pooled estimate with its confidence interval, the
between-cluster variance :math:`\\tau^2` (REML, Paule–Mandel or
DerSimonian–Laird) with its Q-profile interval, Cochran's Q, :math:`I^2`,
:math:`H^2` and the prediction interval for a new cluster of Riley, Higgins &
Deeks (2011, *BMJ* 342:d549): :math:`\\hat\\mu \\pm t_{k-2}\\sqrt{\\hat\\tau^2 +
SE(\\hat\\mu)^2}`. Following Debray et al. (2017, *BMJ* 356:i6460), C-statistics
are pooled on the logit scale and O/E ratios on the log scale (``transform``),
with delta-method standard errors, and the results are back-transformed for display.

Why not a library: statsmodels (``combine_effects``) and PyMARE are not
dependencies of radiorisk, and the whole model is about 200 lines of numpy and
scipy. Writing it here lets it behave exactly as R's ``metafor::rma.uni``
(3.8-1), the reference implementation that the tests compare with to 1e-8
(``tests/reference/meta``): the same starting value, Fisher-scoring steps and
stopping rule for REML (``threshold`` 1e-5), the same root finder and tolerance
for Paule–Mandel and the Q-profile interval (``uniroot``, ``eps**0.25``),
:math:`\\tau^2` truncated at 0, metafor's :math:`I^2 = \\hat\\tau^2 / (\\hat\\tau^2 +
\\tilde v)` with the "typical" within-study variance :math:`\\tilde v`, and its
Hartung–Knapp–Sidik–Jonkman interval (``test = "knha"``). ``tol`` tightens the
iterations when wanted (metafor's ``control = list(threshold =, tol =)``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from ..exceptions import NotEstimableError
from ._common import html_table
from ._linalg import sqrt_variance
from ._meta_tau2 import Tau2, dl_tau2, pm_tau2, q_statistic, qprofile_ci, reml_tau2

__all__ = ["MetaAnalysis", "random_effects"]

METHODS = ("REML", "PM", "DL")
TRANSFORMS = (None, "logit", "log")
SE_SCALES = ("estimate", "transformed")
_DESCRIPTION = {
    "REML": "restricted maximum likelihood (Fisher scoring, as metafor::rma.uni)",
    "PM": "Paule-Mandel (root of the generalised Q = k - 1, as metafor::rma.uni)",
    "DL": "DerSimonian-Laird",
}


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class MetaAnalysis:
    """A random-effects meta-analysis of one measure over k studies (sites).

    All estimates are on the analysis scale (logit C, log O/E, or the input scale
    without a transform); the ``*_original`` attributes are back-transformed to the
    scale of the inputs (C, O/E), where intervals are not symmetric.

    Attributes
    ----------
    pooled, se : float
        The pooled estimate :math:`\\hat\\mu` and its standard error (HKSJ-scaled when ``knha``).
    ci : tuple of float
        Confidence interval of :math:`\\mu` (normal, or t with k - 1 df when ``knha``).
    pi : tuple of float
        Prediction interval for a new study (Riley et al. 2011: t with k - 2 df,
        :math:`\\sqrt{\\tau^2 + SE^2}` with ``se``, HKSJ-scaled when ``knha``); NaN when k < 3.
    tau2, tau : float
        Between-study variance and its square root.
    tau2_ci : tuple of float
        Q-profile confidence interval of :math:`\\tau^2`.
    i2, h2 : float
        :math:`I^2` in percent and :math:`H^2`, from :math:`\\hat\\tau^2` as metafor.
    q, q_df, q_p : float, int, float
        Cochran's Q (fixed-effect weights), its degrees of freedom k - 1 and p-value.
    z, p : float
        Test statistic and p-value of :math:`\\mu = 0` (normal, or t with k - 1 df when ``knha``).
    k : int
        Number of studies.
    method : str
        ``"REML"``, ``"PM"`` or ``"DL"``.
    knha : bool
        Whether the Hartung–Knapp–Sidik–Jonkman CI was used.
    level : float
        Confidence level of ``ci``, ``pi`` and ``tau2_ci``.
    transform : str or None
        ``"logit"``, ``"log"`` or None.
    labels : tuple of str
        Study labels.
    yi, sei : ndarray
        Study estimates and standard errors on the analysis scale.
    weights : ndarray
        Random-effects weights in percent (sum 100).
    pooled_original : float
        ``pooled`` back-transformed (the median of the new-site distribution, not its mean).
    ci_original, pi_original : tuple of float
        ``ci`` and ``pi`` back-transformed.
    iterations : int
        Fisher-scoring iterations (REML) or root-finder iterations (PM); 0 for DL.
    notes : tuple of str
        Everything the reader should know: k < 3, tau² at the boundary 0, resets.
    """

    pooled: float
    se: float
    ci: tuple
    pi: tuple
    tau2: float
    tau: float
    tau2_ci: tuple
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    z: float
    p: float
    k: int
    method: str
    knha: bool
    level: float
    transform: str | None
    labels: tuple
    yi: np.ndarray
    sei: np.ndarray
    weights: np.ndarray
    pooled_original: float
    ci_original: tuple
    pi_original: tuple
    iterations: int = 0
    notes: tuple = field(default_factory=tuple)

    def back(self, x):
        """Back-transform values from the analysis scale to the scale of the inputs.

        Parameters
        ----------
        x : float or array-like

        Returns
        -------
        ndarray
            ``expit(x)`` for ``"logit"``, ``exp(x)`` for ``"log"``, ``x`` otherwise.

        Examples
        --------
        >>> ma = random_effects([0.9, 1.1, 1.3], [0.1, 0.1, 0.2], transform="log")
        >>> float(ma.back(0.0))
        1.0
        """
        return _back(self.transform, np.asarray(x, dtype=np.float64))

    def to_frame(self) -> pd.DataFrame:
        """One row per study, then the pooled estimate and the prediction interval (a forest plot's rows).

        Returns
        -------
        DataFrame
            Columns ``row`` (``"study"``, ``"pooled"``, ``"prediction"``), ``label``,
            ``estimate``, ``se``, ``ci_low``, ``ci_high`` (analysis scale; study
            intervals are normal at ``level``), ``weight`` (percent) and
            ``estimate_original``, ``ci_low_original``, ``ci_high_original``
            (back-transformed; equal to the former without a transform). The
            prediction row holds the pooled estimate with the prediction interval.

        Examples
        --------
        >>> ma = random_effects([0.2, 0.5, 0.3], [0.1, 0.1, 0.15], labels=["A", "B", "C"])
        >>> ma.to_frame()[["row", "label"]].values.tolist()
        [['study', 'A'], ['study', 'B'], ['study', 'C'], ['pooled', 'REML random effects'], ['prediction', 'prediction interval']]
        """
        zc = float(sps.norm.isf((1.0 - self.level) / 2))
        lo, hi = self.yi - zc * self.sei, self.yi + zc * self.sei
        est = np.concatenate([self.yi, [self.pooled, self.pooled]])
        low = np.concatenate([lo, [self.ci[0], self.pi[0]]])
        high = np.concatenate([hi, [self.ci[1], self.pi[1]]])
        kind = ["study"] * self.k + ["pooled", "prediction"]
        name = f"{self.method} random effects" + (" (HKSJ)" if self.knha else "")
        return pd.DataFrame({
            "row": kind,
            "label": list(self.labels) + [name, "prediction interval"],
            "estimate": est,
            "se": np.concatenate([self.sei, [self.se, np.nan]]),
            "ci_low": low,
            "ci_high": high,
            "weight": np.concatenate([self.weights, [100.0, np.nan]]),
            "estimate_original": self.back(est),
            "ci_low_original": self.back(low),
            "ci_high_original": self.back(high),
        })

    def _summary(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "method": self.method + (" + HKSJ" if self.knha else ""), "k": self.k,
            "pooled": self.pooled_original, "ci_low": self.ci_original[0],
            "ci_high": self.ci_original[1], "pi_low": self.pi_original[0],
            "pi_high": self.pi_original[1], "tau2": self.tau2, "i2": self.i2,
            "q": self.q, "q_p": self.q_p}])

    def __repr__(self) -> str:
        scale = f", back-transformed from {self.transform}" if self.transform else ""
        lo, hi = self.pi_original
        pi = "no PI (k < 3)" if np.isnan(lo) else f"PI [{lo:.4g}, {hi:.4g}]"
        return (f"MetaAnalysis({self.method}{'+HKSJ' if self.knha else ''}, k={self.k}: "
                f"pooled {self.pooled_original:.4g} [{self.ci_original[0]:.4g}, "
                f"{self.ci_original[1]:.4g}], {pi}{scale}; tau2={self.tau2:.4g}, "
                f"I2={self.i2:.1f}%, Q={self.q:.4g} (p={self.q_p:.3g}))")

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return html_table(self._summary()) + notes


def _back(transform, x: np.ndarray) -> np.ndarray:
    if transform == "logit":
        return special.expit(x)
    if transform == "log":
        with np.errstate(over="ignore"):
            return np.exp(x)
    return x


def _as_vector(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        a = a.reshape(-1)
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must be finite; found {float(a[i])!r} at position {i}")
    return a


def _check_options(method, transform, se_scale, level, tol) -> str:
    m = str(method).upper()
    if m not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be None, 'logit' or 'log'; got {transform!r}")
    if se_scale not in SE_SCALES:
        raise ValueError(f"se_scale must be 'estimate' or 'transformed'; got {se_scale!r}")
    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    if tol is not None and not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0 or None; got {tol!r}")
    return m


def _check_inputs(estimates, se, labels, transform, se_scale):
    if labels is None and isinstance(estimates, pd.Series):
        labels = list(estimates.index)
    y = _as_vector(estimates, "estimates")
    s = _as_vector(se, "se")
    if len(y) != len(s):
        raise ValueError(f"estimates and se must have the same length; got {len(y)} and {len(s)}")
    if len(y) < 2:
        raise NotEstimableError(f"a random-effects meta-analysis needs k >= 2 studies; got k = {len(y)}")
    bad = s <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"se must be > 0; found {float(s[i])!r} at position {i}")
    if labels is None:
        labels = tuple(f"study {i + 1}" for i in range(len(y)))
    else:
        labels = tuple(str(lab) for lab in labels)
        if len(labels) != len(y):
            raise ValueError(f"labels must have one entry per study; got {len(labels)} for k = {len(y)}")
    yi, sei = _to_analysis_scale(y, s, transform, se_scale)
    return yi, sei, labels


def _to_analysis_scale(y, s, transform, se_scale):
    if transform == "logit":
        bad = (y <= 0) | (y >= 1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"estimates must lie in (0, 1) for transform='logit' (a C-statistic); "
                             f"found {float(y[i])!r} at position {i}")
        yi = special.logit(y)
        return yi, (s / (y * (1.0 - y)) if se_scale == "estimate" else s)
    if transform == "log":
        bad = y <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"estimates must be > 0 for transform='log' (an O/E ratio); "
                             f"found {float(y[i])!r} at position {i}")
        return np.log(y), (s / y if se_scale == "estimate" else s)
    return y, s


def _estimate_tau2(method: str, yi, vi, tol) -> Tau2:
    if method == "REML":
        return reml_tau2(yi, vi, tol=tol)
    if method == "PM":
        return pm_tau2(yi, vi, tol=tol)
    return dl_tau2(yi, vi)


def _heterogeneity(yi, vi, tau2: float) -> tuple[float, float, float, float]:
    """Cochran's Q, its p-value, and metafor's I² (percent) and H²."""
    k = len(yi)
    w = 1.0 / vi
    q = max(0.0, q_statistic(0.0, yi - np.mean(yi), vi))
    tr_p = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    vt = (k - 1) / tr_p  # the "typical" within-study variance
    return q, float(sps.chi2.sf(q, k - 1)), 100.0 * tau2 / (vt + tau2), tau2 / vt + 1.0


def _pooled(yi, vi, tau2: float, knha: bool, notes: list) -> tuple[float, float, np.ndarray]:
    """Pooled estimate, its SE (HKSJ-scaled when asked) and the weights."""
    k = len(yi)
    w = 1.0 / (vi + tau2)
    mu = float(np.sum(w * yi) / np.sum(w))
    var = 1.0 / float(np.sum(w))
    if knha:
        rss = float(np.sum(w * (yi - mu) ** 2))
        s2w = 0.0 if rss <= np.finfo(np.float64).eps else rss / (k - 1)
        if s2w == 0.0:
            notes.append("HKSJ: the weighted residual sum of squares is 0, so the CI has width 0 "
                         "(as metafor)")
        var *= s2w
    return mu, float(sqrt_variance(var)), w


def _prediction_interval(mu, se, tau2, k, level, notes: list) -> tuple[float, float]:
    if k < 3:
        notes.append(f"k = {k} < 3: no prediction interval (it needs a t with k - 2 df)")
        return (np.nan, np.nan)
    half = float(sps.t.isf((1.0 - level) / 2, k - 2)) * float(sqrt_variance(tau2 + se ** 2))
    return (mu - half, mu + half)


def random_effects(estimates, se, *, method: str = "REML", transform: str | None = None,
                   level: float = 0.95, knha: bool = False, labels=None,
                   se_scale: str = "estimate", tol: float | None = None) -> MetaAnalysis:
    """Pool per-study (per-site) estimates with the random-effects model.

    Parameters
    ----------
    estimates : array-like of shape (k,)
        One estimate per study: a C-statistic (``transform="logit"``), an O/E ratio
        (``transform="log"``) or any measure on an additive scale (None).
    se : array-like of shape (k,)
        Their standard errors, finite and > 0, on the scale of ``estimates``
        (delta method to the analysis scale: SE/(C(1-C)), SE/(O/E)); with
        ``se_scale="transformed"`` they are already on the logit or log scale.
    method : {"REML", "PM", "DL"}
        Estimator of :math:`\\tau^2`: restricted maximum likelihood, Paule–Mandel,
        DerSimonian–Laird.
    transform : {None, "logit", "log"}
        Scale of the analysis; results are back-transformed in the ``*_original``
        attributes.
    level : float
        Level of the confidence and prediction intervals, in (0, 1).
    knha : bool
        Hartung–Knapp–Sidik–Jonkman CI (metafor's ``test = "knha"``): the SE scaled
        by the weighted residual variance and a t with k - 1 df.
    labels : sequence of str, optional
        Study names (default: the index of a pandas Series ``estimates``, else
        ``"study 1"``, ...).
    se_scale : {"estimate", "transformed"}
        The scale of ``se``.
    tol : float, optional
        Convergence tolerance of REML (default 1e-5) or of the PM and Q-profile
        root finders (default ``eps**0.25``), metafor's defaults.

    Returns
    -------
    MetaAnalysis

    Raises
    ------
    ValueError
        For non-finite inputs, se <= 0, different lengths, k < 2, C outside (0, 1)
        with ``"logit"``, O/E <= 0 with ``"log"``, or an unknown option.
    NotEstimableError
        When REML does not converge or the PM equation has no root below its
        search limit.

    Examples
    --------
    Eight sites' C-statistics, pooled on the logit scale:

    >>> c = [0.71, 0.62, 0.78, 0.69, 0.74, 0.66, 0.73, 0.70]
    >>> se = [0.021, 0.034, 0.028, 0.019, 0.025, 0.041, 0.030, 0.023]
    >>> ma = random_effects(c, se, transform="logit")
    >>> round(ma.pooled_original, 4), [round(x, 4) for x in ma.pi_original]
    (0.7054, [0.6064, 0.7882])
    >>> round(ma.tau2, 5), round(ma.i2, 1)
    (0.02694, 63.1)
    >>> ma.to_frame()["row"].tolist()[-2:]
    ['pooled', 'prediction']
    """
    m = _check_options(method, transform, se_scale, level, tol)
    yi, sei, labels = _check_inputs(estimates, se, labels, transform, se_scale)
    return _analyse(yi, sei, labels, method=m, transform=transform, level=float(level),
                    knha=bool(knha), tol=tol)


def _original(transform, x: float) -> float:
    return float(_back(transform, np.float64(x)))


def _analyse(yi, sei, labels, *, method, transform, level, knha, tol) -> MetaAnalysis:
    """The model on checked inputs on the analysis scale."""
    vi = sei ** 2
    k = len(yi)
    est = _estimate_tau2(method, yi, vi, tol)
    tau2 = est.tau2
    notes = [est.note] if est.note else []
    if tau2 == 0.0:
        notes.append("tau2 is at the boundary 0: the random-effects estimate equals the "
                     "fixed-effect one")
    q, q_p, i2, h2 = _heterogeneity(yi, vi, tau2)
    mu, se_mu, w = _pooled(yi, vi, tau2, knha, notes)
    crit = float(sps.t.isf((1 - level) / 2, k - 1) if knha else sps.norm.isf((1 - level) / 2))
    ci = (mu - crit * se_mu, mu + crit * se_mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = float(np.divide(mu, se_mu))
    p = float(2 * (sps.t.sf(abs(zval), k - 1) if knha else sps.norm.sf(abs(zval))))
    pi = _prediction_interval(mu, se_mu, tau2, k, level, notes)
    tci = qprofile_ci(yi, vi, tau2, level=level, tol=tol)
    if tci.note:
        notes.append(tci.note)
    return MetaAnalysis(
        pooled=mu, se=se_mu, ci=ci, pi=pi, tau2=tau2, tau=float(sqrt_variance(tau2)),
        tau2_ci=(tci.low, tci.high), i2=i2, h2=h2, q=q, q_df=k - 1, q_p=q_p, z=zval, p=p,
        k=k, method=method, knha=knha, level=level, transform=transform, labels=labels,
        yi=_frozen(yi), sei=_frozen(sei), weights=_frozen(100.0 * w / np.sum(w)),
        pooled_original=_original(transform, mu),
        ci_original=(_original(transform, ci[0]), _original(transform, ci[1])),
        pi_original=(_original(transform, pi[0]), _original(transform, pi[1])),
        iterations=est.iterations, notes=tuple(notes))
