"""The model report's TRIPOD+AI checklist: every item once, each pointing at a real section or saying why not."""

from __future__ import annotations

from radiorisk.report import MODEL_REPORT_SECTIONS
from radiorisk.report._tripod import TRIPOD_AI_ITEMS, TRIPOD_COLUMNS, tripod_checklist

TITLES = {title for _, title in MODEL_REPORT_SECTIONS}


def test_items_once_in_checklist_order():
    items = [i for i, _, _ in TRIPOD_AI_ITEMS]
    assert len(items) == len(set(items)) == 52
    assert items[0] == "1" and items[-1] == "27c" and items.index("12a") < items.index("12g") < items.index("13")


def test_each_item_is_addressed_by_a_section_or_says_why_not():
    t = tripod_checklist()
    assert list(t.columns) == list(TRIPOD_COLUMNS)
    for r in t.itertuples():
        assert r.where in TITLES or r.where == "report header" or r.where.startswith("not addressed: "), r
        assert r.how, r
    # the authors' items are never claimed
    for item in ("17", "18a", "18b", "18c", "18d", "19"):
        assert t.set_index("item").loc[item, "where"].startswith("not addressed")


def test_run_dependent_items():
    plain, iecv = tripod_checklist(), tripod_checklist(iecv=True, sample_size=True)
    for item in ("12d", "23b", "10"):
        assert plain.set_index("item").loc[item, "where"].startswith("not addressed")
        assert iecv.set_index("item").loc[item, "where"] in TITLES
