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


def say(text: str) -> None:
    """A progress line on the process's own stderr (``sys.__stderr__``): in a terminal, in ``make book``'s log
    and in ``helpers.run``'s output, never in a notebook's saved outputs (a kernel's ``sys.stderr`` is the
    cell's, its ``__stderr__`` the kernel process's, which the book build and the runner pass through)."""
    import sys

    stream = sys.__stderr__ or sys.stderr
    print(text, file=stream, flush=True)


class Meter:
    """Progress of a run of ``total`` steps: a line every ``every`` percent (10 by default, so a CI log gets
    about ten lines a run), with steps done, items per second (examples, tokens) and the time left at the
    rate since the last line."""

    def __init__(self, label: str, total: int, units: dict[str, float] | None = None, every: float = 10,
                 out=say, clock=None):
        import time

        self.label, self.total, self.units, self.out = label, max(1, int(total)), dict(units or {}), out
        self.clock = clock or time.monotonic
        self.stride = max(1, int(round(self.total * every / 100)))
        self.t0 = self.t_last = self.clock()
        self.last_step = 0

    def start(self, what: str = "") -> None:
        self.t0 = self.t_last = self.clock()
        self.out(f"[{self.label}] {what or 'training'}: {self.total} steps")

    def step(self, done: int) -> str | None:
        """Call after each step with the steps done; returns the line when one is printed."""
        if done % self.stride and done != self.total:
            return None
        now = self.clock()
        rate = (done - self.last_step) / max(1e-9, now - self.t_last)
        rates = " | ".join(f"{rate * per:,.0f} {unit}/s" for unit, per in self.units.items())
        line = (f"[{self.label}] step {done}/{self.total} ({100 * done / self.total:.0f}%)"
                + (f" | {rates}" if rates else "")
                + f" | elapsed {duration(now - self.t0)}, about {duration((self.total - done) / max(rate, 1e-9))} left")
        self.t_last, self.last_step = now, done
        self.out(line)
        return line
