"""Progress bars for long work: shown in a terminal and in JupyterLab, silent in tests and the built book.

Quiet when ``ISOBOOK_QUIET=1`` or ``TQDM_DISABLE=1`` (``make test`` and ``make book`` set them).
"""
from __future__ import annotations

import os


def quiet() -> bool:
    return any(os.environ.get(v, "0").lower() in {"1", "true", "yes"} for v in ("ISOBOOK_QUIET", "TQDM_DISABLE"))


def bar(iterable=None, **kw):
    """``tqdm.auto`` (widget in JupyterLab, text in a terminal), disabled when quiet."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=quiet(), **kw)


def configure_libraries() -> None:
    """Silence the libraries' own progress bars when quiet (transformers' weight loading, hub downloads)."""
    if quiet():
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except ImportError:
            pass


def duration(seconds: float) -> str:
    """A duration for progress lines: ``44s``, ``3m05s``, ``1h02m``."""
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
