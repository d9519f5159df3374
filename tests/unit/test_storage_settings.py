"""PERIMETER_DATA_DIR: the embedded stack's data directory setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.core.settings import Settings
from tests.conftest import PEPPER


def test_data_dir_is_read_from_the_environment_and_expanded() -> None:
    settings = Settings.from_env({"PERIMETER_KEY_PEPPER": PEPPER, "PERIMETER_DATA_DIR": "~/perimeter-data"})
    assert settings.data_dir == Path.home() / "perimeter-data"


def test_data_dir_is_unset_by_default() -> None:
    assert Settings.from_env({"PERIMETER_KEY_PEPPER": PEPPER}).data_dir is None


def test_a_relative_data_dir_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"PERIMETER_KEY_PEPPER": PEPPER, "PERIMETER_DATA_DIR": "state"})
    assert settings.data_dir == tmp_path / "state"
