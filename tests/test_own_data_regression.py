"""A researcher's own regression CSV through chapters 00-06 (tests/own_data.py)."""
from own_data import own_csv_runs_through_chapters_00_to_06


def test_own_regression_csv_runs_through_chapters_00_to_06(tmp_path, tmp_cache, monkeypatch):
    own_csv_runs_through_chapters_00_to_06("regression", tmp_path, monkeypatch)
