"""Root pytest configuration (applies to tests/ and to the doctests in radiorisk/).

Every test runs with a fixed pseudonymisation key and a private config folder, so no test
creates or reads a key file in the real home folder (see docs/privacy.md).

Every test also starts with the locale the session started with. SimpleITK's GDCM DICOM writer,
which some fixtures use to build DICOM series (radiorisk itself never writes DICOM through it), leaves
``LC_ALL = "C"`` behind; Python's default text encoding would then be ASCII for every later test.

Hypothesis profiles (registered here so that ``--hypothesis-profile`` finds them whatever the
test paths are):

- ``ci`` (``make test``, ``make test-all`` and so ``.ci/run``): derandomised, so every run draws the
  same cases (seeded by each test's own code); no example database, no deadline, and a failure prints
  its ``@reproduce_failure`` blob. Each test's own ``@settings(max_examples=...)`` is its budget.
- ``explore`` (``pytest --hypothesis-profile=explore tests/<file>``, locally): random cases, the
  example database in ``.hypothesis/`` (a failure found once is replayed first next time), and
  ``EXPLORE_FACTOR`` times each test's own ``max_examples``. A case found this way belongs in the
  test as an explicit ``@example``, so that CI checks it for good.

Without ``--hypothesis-profile`` Hypothesis' own default applies (random cases; its ``ci`` profile
when the ``CI`` environment variable is set, replaced here by the one above).
"""

import locale

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "explore", derandomize=False, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])

#: ``explore`` multiplies each test's own ``max_examples`` by this.
EXPLORE_FACTOR = 10

_SESSION_LOCALE = locale.setlocale(locale.LC_ALL)


@pytest.fixture(autouse=True)
def _session_locale():
    if locale.setlocale(locale.LC_ALL) != _SESSION_LOCALE:  # a module fixture that wrote DICOM
        locale.setlocale(locale.LC_ALL, _SESSION_LOCALE)
    yield
    if locale.setlocale(locale.LC_ALL) != _SESSION_LOCALE:
        locale.setlocale(locale.LC_ALL, _SESSION_LOCALE)


@pytest.fixture(autouse=True)
def _isolated_id_key(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("RADIORISK_ID_KEY", "radiorisk-test-suite-key-0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


def pytest_collection_modifyitems(config, items):
    """Under the ``explore`` profile, give each hypothesis test ``EXPLORE_FACTOR`` times its budget.

    Every test names its own ``max_examples`` (the CI budget), and an explicit setting wins over a
    profile, so the factor is applied to the settings Hypothesis keeps on the test function.
    """
    if config.getoption("--hypothesis-profile", None) != "explore":  # (its name changes with
        return                                                           # --hypothesis-verbosity)
    scaled: set[int] = set()
    for item in items:
        fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        own = getattr(fn, "_hypothesis_internal_use_settings", None)  # set by @given / @settings
        if not isinstance(own, settings) or id(fn) in scaled:  # parametrised: one function, many items
            continue
        scaled.add(id(fn))
        fn._hypothesis_internal_use_settings = settings(
            own, max_examples=own.max_examples * EXPLORE_FACTOR)
