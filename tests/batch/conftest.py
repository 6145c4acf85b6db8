"""The batch tests' records of what made each output (streamdeblur.batch.records) go to a folder of this
test session's, not the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _output_records_in_a_test_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
