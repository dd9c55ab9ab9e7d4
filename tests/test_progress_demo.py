"""Progress of the long steps (issue 17 §5) and the demo's ladder summary (issue 16 §4).

The computation layers report through a ``progress(step, done, total)`` callback
and never print; :class:`radiorisk.pipeline.ConsoleProgress` renders it on stderr
(tqdm bars on a terminal only, one summary line per finished step always);
``--quiet`` passes no callback.
"""

import io

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import simulate_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.features import assemble_cohort
from radiorisk.models import cross_validate_risk, modality_ladder
from radiorisk.pipeline import ConsoleProgress
from radiorisk.pipeline._demo import ladder_lines
from radiorisk.pipeline._ladder_order import ladder_blocks


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, step, done, total):
        self.calls.append((step, done, total))


@pytest.fixture(scope="module")
def small_data():
    return assemble_cohort(simulate_cohort(300, mode="established-cad", seed=11))


def test_cv_reports_every_fold_and_results_do_not_depend_on_it(small_data):
    rec = _Recorder()
    kw = dict(blocks="clinical", horizon=1826, repeats=2, folds=3, random_state=0)
    with_p = cross_validate_risk("coxph", small_data, progress=rec, **kw)
    without = cross_validate_risk("coxph", small_data, **kw)
    pd.testing.assert_frame_equal(with_p.oof, without.oof)
    assert [c[1] for c in rec.calls] == list(range(7))  # 0 before, then each of the 2 x 3 tasks
    assert {c[0] for c in rec.calls} == {"cross-validation clinical"} and {c[2] for c in rec.calls} == {6}


def test_ladder_reports_rungs_folds_and_bootstrap(small_data):
    rec = _Recorder()
    lad = modality_ladder("coxph", small_data, horizon=1826, random_state=0, repeats=1, folds=3,
                          rungs=("clinical", "ccta", "pet"), n_boot=20, params={"penalizer": 0.1}, progress=rec)
    steps = {s for s, _, _ in rec.calls}
    assert {"cross-validation clinical", "cross-validation clinical+ccta", "cross-validation clinical+ccta+pet",
            "ladder rungs (all patients)", "ladder bootstrap (all patients)"} <= steps
    boot = [d for s, d, t in rec.calls if s.startswith("ladder bootstrap")]
    assert boot[-1] == 20 and boot == sorted(boot)
    rungs = [(d, t) for s, d, t in rec.calls if s.startswith("ladder rungs")]
    assert rungs[0] == (0, 3) and rungs[-1] == (3, 3)
    plain = modality_ladder("coxph", small_data, horizon=1826, random_state=0, repeats=1, folds=3,
                            rungs=("clinical", "ccta", "pet"), n_boot=20, params={"penalizer": 0.1})
    pd.testing.assert_frame_equal(lad.to_frame(), plain.to_frame())


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_console_progress_bars_only_on_a_terminal():
    lines, tty = io.StringIO(), _Tty()
    for stream in (lines, tty):
        p = ConsoleProgress(stream)
        for i in range(6):
            p("bootstrap", i, 5)
    assert lines.getvalue().count("\n") == 1 and "\r" not in lines.getvalue()
    assert lines.getvalue().startswith("radiorisk: bootstrap: 5/5 in ")
    assert "\r" in tty.getvalue() and "bootstrap" in tty.getvalue()  # tqdm drew (and removed) a bar
    assert tty.getvalue().rstrip().splitlines()[-1].lstrip("\r").startswith("radiorisk: bootstrap: 5/5 in ")


def test_ladder_order_is_a_permutation_of_the_blocks():
    assert ladder_blocks(["clinical", "ccta", "radiomics", "pet"], ["clinical", "ccta", "pet", "radiomics"]) \
        == ["clinical", "ccta", "pet", "radiomics"]
    with pytest.raises(FitUsageError, match="each of the blocks"):
        ladder_blocks(["clinical", "ccta"], "clinical,pet")


def _ladder(deltas):
    rows = [("all", "clinical", "", "harrell_c", 0.6, 0.55, 0.65)]
    for rung, (est, lo, hi) in deltas.items():
        rows += [("all", rung, "x", "harrell_c", 0.7, 0.65, 0.75), ("all", rung, "x", "delta_harrell_c", est, lo, hi)]
    return pd.DataFrame(rows, columns=["population", "rung", "reference", "metric", "estimate", "ci_low", "ci_high"])


def test_summary_says_what_each_rung_added_and_whether_its_ci_excludes_0():
    lad = _ladder({"+ccta": (0.05, 0.01, 0.09), "+pet": (0.08, 0.04, 0.12), "+radiomics": (0.002, -0.01, 0.014)})
    worse = _ladder({"+ccta": (0.05, 0.01, 0.09), "+pet": (0.08, 0.04, 0.12), "+radiomics": (-0.03, -0.05, -0.01)})
    text = "\n".join(ladder_lines({"xgb-cox": lad, "coxph": worse}))
    assert "+pet        adds 0.080 (95 % CI 0.040 to 0.120): the CI excludes 0" in text
    assert "+radiomics  adds 0.002 (95 % CI -0.010 to 0.014): the CI includes 0: no evidence that it adds" in text
    assert "+radiomics  adds -0.030 (95 % CI -0.050 to -0.010): the CI excludes 0" in text  # a loss is stated too
    table = text.split("What each rung added")[0]
    assert all(r in table for r in ("clinical", "+ccta", "+pet", "+radiomics")) and "xgb-cox" in table


def test_fit_shows_progress_unless_quiet(tmp_path, capsys):
    d = tmp_path / "D"
    assert main(["synth", "--n", "300", "--mode", "established-cad", "--seed", "3", "--out", str(d), "--quiet"]) == 0
    capsys.readouterr()
    base = ["fit", "--censor-competing", "--data", str(d), "--model", "coxph", "--blocks", "clinical,ccta", "--repeats", "1", "--folds",
            "3", "--n-boot", "20", "--raw-ids", "--param", "penalizer=0.1"]
    assert main([*base, "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    lines = loud.err.splitlines()
    for step in ("cross-validation clinical+ccta: 3/3 in", "ladder rungs (all patients): 2/2 in",
                 "ladder bootstrap (all patients): 20/20 in", "final model: 1/1 in"):
        assert sum(step in ln for ln in lines) >= 1, (step, loud.err)
    assert "\r" not in loud.err  # stderr is not a terminal here: summary lines only, no bars
    assert "radiorisk:" not in loud.out  # progress never goes to stdout
    assert main([*base, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""
    a = pd.read_csv(tmp_path / "loud" / "ladder.csv")
    b = pd.read_csv(tmp_path / "quiet" / "ladder.csv")
    assert np.allclose(a["estimate"], b["estimate"], equal_nan=True)
