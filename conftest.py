"""Root pytest configuration (applies to tests/ and to the doctests in radiorisk/).

Every test runs with a fixed pseudonymisation key and a private config folder, so no test
creates or reads a key file in the real home folder (see docs/privacy.md).
"""

import pytest


@pytest.fixture(autouse=True)
def _isolated_id_key(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("RADIORISK_ID_KEY", "radiorisk-test-suite-key-0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
