"""lifelines' convergence warnings never reach the console: they are the fit's notes (issue 16 §3)."""

from __future__ import annotations

import warnings

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models import make_model, make_y


def test_a_rare_column_gives_a_note_not_a_warning():
    d = assemble_cohort(simulate_cohort(600, mode="chest-pain", seed=3))
    cols = list(d.blocks["clinical"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail the fit
        m = make_model("coxph", horizon=1826.0).fit(d.X[cols], make_y(d.time, d.event))
    notes = m.steps[-1][1].convergence_notes_
    assert notes and "prior_cabg" in notes[0] and "\n" not in notes[0]
    clean = make_model("coxph", horizon=1826.0, penalizer=0.1).fit(d.X[["age_years", "sex_male"]],
                                                                     make_y(d.time, d.event))
    assert clean.steps[-1][1].convergence_notes_ == []
