"""Absolute project paths, derived from this file's location (never from the cwd).

``ISOBOOK_CACHE`` in the environment moves the artifact cache (tests use a temporary one).
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
PARAMS = ROOT / "params"
MODELS = ROOT / "models"          # weights the book made itself (the pre-trained MLM encoder)
DATA = ROOT / "data"
BUILD = ROOT / "_build"
EXECUTED = BUILD / "executed"
HTML = BUILD / "html"


def cache_root() -> Path:
    """Root of the artifact cache: ``$ISOBOOK_CACHE`` or ``data/cache``."""
    return Path(os.environ.get("ISOBOOK_CACHE", DATA / "cache")).resolve()
