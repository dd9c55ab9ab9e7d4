"""The model report's objects: :class:`ModelReport`, :class:`ReportSection`, :class:`ReportError`.

Also the section ids and titles (:data:`MODEL_REPORT_SECTIONS`) and the
number-to-words helpers the section builders share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._html import fmt
from ..exceptions import ReportError
from ._html import render, render_page

__all__ = ["ReportError", "ReportSection", "ModelReport", "MODEL_REPORT_SECTIONS"]

#: ``(id, title)`` of the sections, in TRIPOD+AI order (methods, then results, then discussion).
MODEL_REPORT_SECTIONS = (
    ("participants", "1. Data and participant flow"),
    ("model", "2. Model specification"),
    ("discrimination", "3. Discrimination and the modality ladder"),
    ("calibration", "4. Calibration overall and by group"),
    ("fairness", "5. Fairness across groups"),
    ("decision-curve", "6. Decision curve"),
    ("explanations", "7. Explanations (SHAP)"),
    ("limitations", "8. Limitations detected automatically"),
    ("provenance", "9. Provenance"),
    ("tripod", "10. TRIPOD+AI checklist"),
)
_TITLES = dict(MODEL_REPORT_SECTIONS)


@dataclass(frozen=True)
class ReportSection:
    """One section of a report.

    Attributes
    ----------
    id : str
        Stable HTML ``id`` (e.g. ``participants``).
    title : str
    sentences : tuple of str
        Plain-language statements beside the numbers.
    tables : tuple of (str, DataFrame)
        Caption and table.
    figures : tuple of (str, bytes)
        Caption and PNG bytes.
    notes : tuple of str
        Method notes in small print.

    Examples
    --------
    >>> s = ReportSection(id="participants", title="Data", sentences=("400 patients.",))
    >>> s.to_frame()
    Empty DataFrame
    Columns: []
    Index: []
    """

    id: str
    title: str
    sentences: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = field(default=(), repr=False)
    figures: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The first table of the section (an empty frame when it has none)."""
        return self.tables[0][1] if self.tables else pd.DataFrame()


@dataclass(frozen=True)
class ModelReport:
    """A model report: title, key findings and the sections in TRIPOD+AI order.

    Attributes
    ----------
    title : str
    subtitle : str
    summary : tuple of str
        Key findings shown at the top.
    sections : tuple of ReportSection
    run : Path
        The RUN folder reported on.

    Examples
    --------
    >>> rep = ModelReport(title="T", subtitle="", summary=(), run=Path("run"),
    ...                   sections=(ReportSection(id="model", title="Model"),))
    >>> rep.section("model").title
    'Model'
    >>> '<section id="model">' in rep.to_html()
    True
    """

    title: str
    subtitle: str
    summary: tuple[str, ...]
    sections: tuple[ReportSection, ...]
    run: Path

    def section(self, id: str) -> ReportSection:
        """The section with this ``id`` (KeyError naming the ids when absent)."""
        for s in self.sections:
            if s.id == id:
                return s
        raise KeyError(f"no section {id!r}; the report has {[s.id for s in self.sections]}")

    def to_html(self) -> str:
        """The self-contained HTML page (figures embedded, no external resource)."""
        return render_page(title=self.title, subtitle=self.subtitle, summary=self.summary,
                           sections=self.sections)


    def _repr_html_(self) -> str:
        return render("model_repr.html.j2", title=self.title, sections=self.sections)


# ----------------------------------------------------------------------------- formatting
def _competing(ctx) -> bool:
    """Whether the run's out-of-fold risks are cumulative incidences under competing risks (``event_type``)."""
    return "event_type" in ctx.pred.columns


def estimand_sentence(ctx) -> str:
    """The model report's sentence on how non-cardiac death was handled and what the risks estimate.

    ``ctx`` needs ``pred`` (the per-patient OOF table; ``event_type`` marks a competing-risk run),
    ``model`` (the fitted pipeline) and ``horizon``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from sklearn.pipeline import Pipeline
    >>> from radiorisk.models import CoxPHRisk
    >>> ctx = SimpleNamespace(pred=pd.DataFrame(columns=["risk", "time", "event"]), horizon=1826.0,
    ...                       model=Pipeline([("model", CoxPHRisk())]))
    >>> estimand_sentence(ctx)[:60]
    'Non-cardiac death censored: the estimand is 1 - survival fro'
    """
    final = ctx.model.steps[-1][1]
    if _competing(ctx):
        words = getattr(final, "estimand_", "cumulative incidence of MACE")
        return (f"Competing risks: non-cardiac death treated as a competing event; the estimand is the {words}, "
                f"by {ctx.horizon:g} days. Discrimination and calibration use the competing-risk estimands "
                "(c_cr, auc_cr, brier_cr, oe_ratio_cr, ici_cr; Aalen-Johansen observed risk).")
    return ("Non-cardiac death censored: the estimand is 1 - survival from MACE with competing deaths treated "
            "as censoring (cause-specific; the risk in a world without competing death, which exceeds the "
            "cumulative incidence when competing deaths occur); the metrics censor them too.")


def _pct(x, digits: int = 1) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f} %"


def _ci(est, lo, hi, digits: int = 3) -> str:
    if est is None or not np.isfinite(est):
        return "not estimable"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{fmt(est, digits)} ({fmt(lo, digits)} to {fmt(hi, digits)})"
    return fmt(est, digits)


def _ci_pct(est, lo, hi) -> str:
    if est is None or not np.isfinite(est):
        return "not estimable"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{_pct(est)} (95 % CI {_pct(lo)} to {_pct(hi)})"
    return _pct(est)


def _who(attribute: str, group: str) -> str:
    if attribute == "overall":
        return "all patients"
    if attribute == "sex" and group in ("female", "male"):
        return {"female": "women", "male": "men"}[group]
    return f"patients with {attribute} = {group}"


def _years(days: float) -> str:
    return f"{days / 365.25:.1f} years"

