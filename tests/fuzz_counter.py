"""Counts the cases the fuzz tests try, and prints the counts when a test module ends.

Usage in a test module::

    from fuzz_counter import count, counting_fixture
    _counts = counting_fixture(__name__)   # module-scoped, autouse

    def test_x(...):
        count("test_x")                     # once per generated case

The counts are written through pytest's terminal reporter (so they show with or
without ``-s``), e.g. ``[fuzz] test_fuzz_tables: test_validate_never_raises=25 cases``.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter

import pytest

COUNTS: Counter = Counter()


def count(test: str, n: int = 1) -> None:
    """Record ``n`` tried cases for ``test``."""
    COUNTS[test] += n


def _emit(request, module: str, before: Counter) -> None:
    tried = {k: v - before.get(k, 0) for k, v in COUNTS.items() if v - before.get(k, 0)}
    if not tried:
        return
    line = f"[fuzz] {module.rsplit('.', 1)[-1]}: " + ", ".join(
        f"{k}={v} cases" for k, v in sorted(tried.items())) + f" (total {sum(tried.values())})"
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    if tr is not None:
        ctx = cap.global_and_fixture_disabled() if cap is not None else contextlib.nullcontext()
        with ctx:
            tr.write_line("")
            tr.write_line(line)
    else:  # pragma: no cover - without the terminal plugin
        sys.__stdout__.write(line + "\n")


def counting_fixture(module: str):
    """A module-scoped autouse fixture that prints the module's case counts at its end."""

    @pytest.fixture(scope="module", autouse=True)
    def _fuzz_counts(request):
        before = Counter(COUNTS)
        yield
        _emit(request, module, before)

    return _fuzz_counts
