"""A researcher's own classification CSV through chapters 00-06 (tests/own_data.py)."""
from own_data import own_csv_runs_through_chapters_00_to_06


def test_own_classification_csv_runs_through_chapters_00_to_06(tmp_path, tmp_cache, monkeypatch):
    own_csv_runs_through_chapters_00_to_06("classification", tmp_path, monkeypatch)
