"""Root pytest configuration (applies to tests/ and to the doctests in radiorisk/).

Every test runs with a fixed pseudonymisation key and a private config folder, so no test
creates or reads a key file in the real home folder (see docs/privacy.md).

Every test also starts with the locale the session started with. SimpleITK's GDCM DICOM writer,
which some fixtures use to build DICOM series (radiorisk itself never writes DICOM through it), leaves
``LC_ALL = "C"`` behind; Python's default text encoding would then be ASCII for every later test.
"""

import locale

import pytest

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
