"""Helpers for the isotropy-after-fine-tuning book.

Layers, each module with one job:
``paths`` / ``cache`` / ``checks`` / ``progress`` / ``intervals`` (infrastructure, every printed interval) ->
``tasks`` / ``models`` (data and weights) -> ``tokens`` (token types and corpus frequency) -> ``classifiers``
(the linear read-outs) -> ``finetune`` / ``extract`` / ``baseline`` (cached artifacts; ``budget``: a model's
fine-tuning budget chosen on validation) -> ``geometry`` / ``transforms`` (metrics, enhancement methods) ->
``layerwise`` / ``structure`` / ``directions`` / ``enhancement`` (measurements) -> ``claims`` (verdicts) ->
``ledger`` -> ``plots`` (figures).  ``run`` executes notebooks with papermill, ``book`` builds the book,
``staging`` the whole book on a parameter set (a staged copy with the set's values injected).

Every notebook imports the package the same way::

    import helpers as H
"""
from __future__ import annotations

import os as _os

# Quiet, offline-friendly defaults for every process that imports the helpers
# (notebook kernels included).  Users can still override them in the environment.
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
_os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from . import paths, checks  # noqa: E402,F401  (cache is lazy: `python -m helpers.cache` runs it as a script)

__version__ = "0.1.0"


def __getattr__(name):  # lazy submodules: importing torch costs seconds
    import importlib

    if name in {"tasks", "models", "tokens", "finetune", "extract", "baseline", "geometry", "layerwise",
                "structure", "directions", "transforms", "enhancement", "claims", "plots", "run", "progress", "book",
                "env", "intervals", "classifiers", "budget", "words"}:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(name)
