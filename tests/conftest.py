import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ISOBOOK_QUIET", "1")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "book: builds the HTML book (slow)")


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private, empty artifact cache for tests that create artifacts."""
    d = tmp_path / "cache"
    monkeypatch.setenv("ISOBOOK_CACHE", str(d))
    return d
