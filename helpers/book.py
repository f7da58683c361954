"""Build the HTML book strictly: artifacts first, then every notebook executed (cached), warnings are errors.

``python -m helpers.book`` works in three stages:

1. **Artifacts.**  Every fine-tuning run the chapters read on their defaults (:func:`artifact_sweeps`: each
   chapter's declared ``model``, ``tasks``, ``seed``/``seeds`` and ``finetune``) is built by the sweep
   machinery (``helpers.sweep``: one worker process per step, done runs skipped, a killed build resumes
   from the runs it finished; ``--address``/``--scheduler-file`` put it on a Dask cluster).  Each run
   prints a progress line every 10% (steps, examples and tokens per second, time left).
2. **Execution.**  Every notebook of the table of contents that the execution cache does not hold is executed,
   two at a time (:func:`execute_chapters`): a cached table is computed on one thread (``cache.TABLE_THREADS``,
   for determinism), so one notebook leaves the second core idle.  A notebook that reads other chapters' tables
   starts once those chapters ended (:data:`AFTER`), so that no two processes compute one table, and not later:
   the ledger runs beside the last short chapters instead of after them.  Each executed notebook is
   stored in the execution cache the way myst-nb stores it, so the build below renders it without executing.
3. **Chapters.**  ``jupyter-book build ROOT -W -n --keep-going --all`` with ``ISOBOOK_NO_TRAINING=1``: the
   chapters only read cached runs, and a chapter that would train (a run the stage missed) fails at once,
   naming the run.  No cell has a time limit (``_config.yml``'s ``timeout: -1``): the chapters compute their
   tables in stage 2 (the longest cell about 11 min on 2 cores here), so a limit would fail a slower machine where
   a faster one passes; a hang is bounded by whoever runs the build (CI's job limit).  A notebook
   that failed in stage 2 is executed here again, and its error is the build's.

It prints the path of the built book.  ``--all`` re-reads every page so that ``-W`` sees warnings of unchanged pages
too; executions are served from the jupyter-cache (``_build/.jupyter_cache``), heavy artifacts from
``data/cache``.

While it builds it says what it is doing: a line per notebook that starts executing, ``[k/N]``, with the
elapsed time and the notebook's time in the last build (an estimate), and a line when it ends.  Times are
kept in ``_build/book-times.json``.  The jupyter-cache knows only the notebooks' code, not ``helpers/``:
when the helpers' source differs from the last build's, the execution cache is cleared so that no page
shows outputs of older code (artifacts in ``data/cache`` carry their own code digests and are reused
where their code is unchanged).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import cache, paths
from .env import environment
from .progress import duration as _fmt

COMMAND = ["build", str(paths.ROOT), "-W", "-n", "--keep-going", "--all"]
JUPYTER_CACHE = paths.BUILD / ".jupyter_cache"
TIMES = paths.BUILD / "book-times.json"
CELL_TIMES = paths.BUILD / "cell-times.json"
"""Seconds of every code cell of every notebook stage 2 executed (``{doc: [{cell, id, seconds, code}]}``; a
notebook the execution cache held keeps the times of the build that executed it): where a build's time goes."""
KERNEL_PEAKS = paths.BUILD / "kernel-peaks.json"
"""Each notebook's kernel peak memory in MiB in the stage 2 that executed it (``{doc: MiB}``, :class:`ChildrenPeak`):
what a build needs of the machine's memory."""
DIGEST = paths.BUILD / "helpers-digest.txt"
# ipykernel's note that a local kernel talks over TCP without CurveZMQ keys: printed once per kernel,
# nothing a reader of the build can act on (the kernel listens on localhost only).
BENIGN = (re.compile(r"Kernel is running over TCP without encryption"),)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXECUTING = re.compile(r"(\S+\.ipynb): Executing notebook using")        # myst-nb's log lines
EXECUTED = re.compile(r"(\S+\.ipynb): Executed notebook in ([\d.]+) seconds")
FAILED = re.compile(r"(\S+\.ipynb): Executing notebook failed")


def jupyter_book() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    return exe if os.path.exists(exe) else (shutil.which("jupyter-book") or "jupyter-book")


def toc_notebooks(toc: Path = paths.ROOT / "_toc.yml", root: Path = paths.ROOT) -> list[str]:
    """Document names (``notebooks/02_isotropy``) of the notebooks in the table of contents, in order (``root``:
    the book's sources, where a staged book's are elsewhere: :mod:`helpers.staging`)."""
    def walk(node):
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                if "file" in child and (Path(root) / f"{child['file']}.ipynb").is_file():
                    yield child["file"]
                yield from walk(child)
    tree = yaml.safe_load(toc.read_text())
    first = [tree["root"]] if (Path(root) / f"{tree.get('root')}.ipynb").is_file() else []     # a notebook as root page
    return first + list(walk(tree))


def helpers_digest(root: Path = cache.HELPERS) -> str:
    """Digest of every helper's source (pages can show anything the helpers compute, plots included)."""
    return cache.modules_digest([f.stem for f in root.glob("*.py")], root=root)


def invalidate_if_helpers_changed(say=print, root: Path = cache.HELPERS, cache_dir: Path | None = None) -> bool:
    """Clear the execution cache (``cache_dir``, default :data:`JUPYTER_CACHE`) when ``helpers/`` changed since the
    last build that used it (the digest beside it: :data:`DIGEST` for the book's own); True if cleared."""
    cache_dir = JUPYTER_CACHE if cache_dir is None else Path(cache_dir)
    digest_file = DIGEST if cache_dir == JUPYTER_CACHE else cache_dir.parent / DIGEST.name
    digest, old = helpers_digest(root), (digest_file.read_text().strip() if digest_file.is_file() else None)
    cleared = old is not None and old != digest and cache_dir.exists()
    if cleared:
        say("[book] helpers/ changed since the last build: the execution cache is cleared, every notebook "
            "re-executes (artifacts in data/cache are reused where their code is unchanged)")
        shutil.rmtree(cache_dir)
    digest_file.parent.mkdir(parents=True, exist_ok=True)
    digest_file.write_text(digest + "\n")
    return cleared


class Progress:
    """Reads the build's output line by line: passes it through (without :data:`BENIGN` lines) and adds a
    line per notebook that starts or ends executing."""

    def __init__(self, notebooks: list[str], times: dict[str, float], out=sys.stdout, clock=time.monotonic,
                 root: Path = paths.ROOT):
        self.notebooks, self.times, self.out, self.clock, self.root = notebooks, dict(times), out, clock, Path(root)
        self.t0 = clock()
        self.current = self.started = None   # the notebook executing now
        self.done: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def docname(self, path: str) -> str:
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).with_suffix("").as_posix()
        except ValueError:
            return p.stem

    def feed(self, line: str) -> None:
        plain = ANSI.sub("", line)
        if any(p.search(plain) for p in BENIGN):
            return
        if plain.strip():
            self.out.write(line if line.endswith("\n") else line + "\n")
            self.out.flush()
        if m := EXECUTING.search(plain):
            self.current, self.started = self.docname(m.group(1)), self.clock()
            order = self.notebooks
            k = order.index(self.current) + 1 if self.current in order else "?"
            last = self.times.get(self.current)
            rest = order[order.index(self.current):] if self.current in order else []
            left = sum(self.times[n] for n in rest) if rest and all(n in self.times for n in rest) else None
            self.say(f"[book {k}/{len(order)}] executing {self.current}: elapsed {_fmt(self.clock() - self.t0)}; "
                     + (f"it took {_fmt(last)} in the last build" if last is not None else "no earlier time known")
                     + (f", about {_fmt(left)} left for it and the notebooks after it" if left else ""))
        elif m := EXECUTED.search(plain):
            name, seconds = self.docname(m.group(1)), float(m.group(2))
            self.done[name] = self.times[name] = seconds
            self.say(f"[book] {name} executed in {_fmt(seconds)} (elapsed {_fmt(self.clock() - self.t0)})")
        elif m := FAILED.search(plain):
            self.say(f"[book] {self.docname(m.group(1))} FAILED after {_fmt(self.clock() - (self.started or self.t0))}")


def chapter_defaults(notebooks: list[str] | None = None, root: Path = paths.ROOT) -> list[tuple[str, dict]]:
    """(notebook, the parameters it runs on) of every chapter that fine-tunes: it declares ``model`` (or ``models``;
    ``more_models`` adds models compared beside it), ``tasks``, ``finetune`` and ``seed`` or ``seeds``.  The
    parameters are its declared defaults, with the values a parameter set injected where it has any
    (:func:`helpers.run.effective_parameters`: a staged book's notebooks)."""
    from . import run

    out = []
    for doc in notebooks if notebooks is not None else toc_notebooks(Path(root) / "_toc.yml", root):
        path = Path(doc) if str(doc).endswith(".ipynb") else Path(root) / f"{doc}.ipynb"
        values = run.effective_parameters(path)
        if {"tasks", "finetune"} <= set(values) and ({"model", "models"} & set(values)) and (
                {"seed", "seeds"} & set(values)):
            out.append((doc, values))
    return out


def artifact_sweeps(notebooks: list[str] | None = None, root: Path = paths.ROOT, name: str = "book-artifacts") -> list:
    """The fine-tuning runs of the chapters' defaults as sweeps (``helpers.sweep.Sweep``, steps ``finetune``):
    per (model, tasks, finetune settings) the union of the chapters' seeds, with the control runs of the chapters
    that declare ``controls`` as the sweep's ``controls`` on the union of their ``control_tasks``; models whose tasks,
    settings, seeds and controls agree share one sweep (``models``), so every run of the stage shares the workers
    instead of one model's runs waiting for another's (and control runs for real ones)."""
    from . import checks
    from .ledger import check_controls, control_task_names
    from .sweep import Sweep

    groups: dict[str, dict] = {}
    for doc, v in chapter_defaults(notebooks, root):
        seeds = set(checks.as_list(v.get("seeds"))) | set(checks.as_list(v.get("seed")))
        tasks = checks.as_list(v["tasks"])
        controls = check_controls(v.get("controls"))
        on = control_task_names(v.get("control_tasks"), tasks) if controls else []
        for model in [*checks.as_list(v.get("models", v.get("model"))), *checks.as_list(v.get("more_models"))]:
            key = cache.canonical_json([model, tasks, v["finetune"] or {}])
            g = groups.setdefault(key, {"model": model, "tasks": tasks, "finetune": v["finetune"] or {}, "seeds": set(),
                                        "chapters": [], "controls": [], "control_tasks": []})
            g["seeds"] |= seeds
            g["chapters"].append(Path(doc).stem)
            g["controls"] += [c for c in controls if c not in g["controls"]]
            g["control_tasks"] += [t for t in on if t not in g["control_tasks"]]
    merged: dict[str, dict] = {}    # models with the same tasks, settings, seeds and controls: one sweep, one pool
    for g in groups.values():
        on = [t for t in g["tasks"] if t in g["control_tasks"]]       # in the order of the tasks
        key = cache.canonical_json([g["tasks"], g["finetune"], sorted(g["seeds"]), g["controls"], on])
        m = merged.setdefault(key, {**g, "models": [], "chapters": [], "on": on})
        m["models"].append(g["model"])
        m["chapters"] += [c for c in g["chapters"] if c not in m["chapters"]]
    sweeps = []
    for i, g in enumerate(merged.values()):
        on = g["on"]
        sw = Sweep(name=f"{name}-{i}", models=g["models"], tasks=g["tasks"], seeds=sorted(g["seeds"]),
                   finetune=g["finetune"], steps=["finetune"], retries=1, controls=g["controls"],
                   control_tasks=on or None,
                   description=f"the fine-tuning runs of {', '.join(g['chapters'])}"
                               + (f"; the {', '.join(g['controls'])} control runs on {', '.join(on)}" if g["controls"] else ""))
        for model in g["models"]:
            sw.configs(model)          # every setting checked before any training
            sw.control_configs(model)
        sweeps.append(sw)
    return sweeps


def build_artifacts(workers: int | None = None, address: str | None = None, scheduler_file: str | None = None,
                    notebooks: list[str] | None = None, say=print, root: Path = paths.ROOT,
                    name: str = "book-artifacts") -> bool:
    """Stage 1: build every run of :func:`artifact_sweeps` (skipping those already cached); True if all
    succeeded.  ``workers`` local processes (default: one per core, at most one per run: a run trains on
    :data:`helpers.finetune.TRAIN_THREADS` thread on a CPU), or a Dask cluster when asked."""
    from . import sweep as SW

    t0 = time.time()
    sweeps = artifact_sweeps(notebooks, root, name)
    n = sum(len(sw.configs(m)) + len(sw.control_configs(m)) for sw in sweeps for m in sw.models)
    if workers is None:
        workers = max(1, min(cache.cores(), n))
    say(f"[book artifacts] {n} fine-tuning run(s) that the chapters read: "
        + "; ".join(f"{' and '.join(sw.models)} on {', '.join(sw.tasks)}, seeds {sw.seeds} ({sw.description})" for sw in sweeps)
        + f"; {cache.free_space(paths.cache_root())} free on the cache's disk (a cold default build writes about 20 GiB)")
    ok = True
    client = None
    if address or scheduler_file:
        from distributed import Client

        client = Client(address=address, scheduler_file=scheduler_file)
    try:
        for sw in sweeps:
            table = SW.run(sw, client=client, workers=workers, threads=None if client is None else 1, say=say)
            ok &= not table.status.astype(str).str.startswith("failed").any()
    finally:
        if client is not None:
            client.close()
    say(f"[book artifacts] {'done' if ok else 'FAILED'} in {_fmt(time.time() - t0)}; "
        f"{cache.free_space(paths.cache_root())} free on the cache's disk (the chapters' extractions come next)")
    return ok


EXECUTE_WORKERS = 2
"""Notebooks executed at once in stage 2 (each computes its tables on one thread)."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""Thread pools of a stage-2 kernel (torch reads OMP_NUM_THREADS): one, as two notebooks share two cores.  Measured
on 2 cores: two kernels of two threads each oversubscribe the cores (a notebook 1.5-1.8x slower beside another;
stage 2 in 22 min 22 s); one thread each, 18 min 49 s (same machine, same cold caches); the cores themselves
scale (one-thread matmul 44 GFLOP/s alone and beside another)."""
COLD_ORDER = ("notebooks/03_local_structure", "notebooks/05_enhancement", "notebooks/04_elongated_directions",
              "notebooks/08_geometry_during_pretraining", "notebooks/02_isotropy", "notebooks/01_finetuning",
              "notebooks/07_during_finetuning", "notebooks/00_models_and_data")
"""Longest first, as measured cold (one process at a time: 03 7.8 min, 05 5.3, 04 4.3, 08 3.7, 02 3.4, 01 1.8,
07 1.1, 00 0.5): the order of stage 2 when the last build's times (``_build/book-times.json``) are unknown."""
EVERY_OTHER = "every other notebook"
AFTER = {"notebooks/06_claims_ledger": ("notebooks/03_local_structure", "notebooks/04_elongated_directions",
                                        "notebooks/05_enhancement"),
         "notebooks/findings": ("notebooks/06_claims_ledger",),
         "notebooks/status": EVERY_OTHER}
"""What a notebook of stage 2 waits for: the ledger reads the tables of chapters 03-05; the findings page those and
the control runs' tables, which the ledger computes; the build status page the seconds of every cell executed
before it (:data:`CELL_TIMES`)."""


KERNEL_DIED = "the kernel died"
"""How stage 2 reports a notebook whose kernel process ended mid-run (the system killed it, out of memory say, or it
crashed): not a cell's error, so the notebook is executed once more with no other notebook beside it."""


def ready(pending) -> list[str]:
    """The notebooks of ``pending`` (not yet ended: waiting or executing) whose :data:`AFTER` are none of them."""
    pending = list(pending)
    out = []
    for doc in pending:
        after = AFTER.get(doc, ())
        others = [d for d in pending if d != doc]
        if not (any(AFTER.get(d) != EVERY_OTHER for d in others) if after == EVERY_OTHER else set(after) & set(others)):
            out.append(doc)
    return out


def chapter_env() -> dict:
    """The environment the chapters execute in: offline, quiet, never training (a missing run fails at once)."""
    from .finetune import NO_TRAINING

    return {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "ISOBOOK_QUIET": "1", "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1", NO_TRAINING: "1"}


def _execution_settings() -> dict:
    execute = yaml.safe_load((paths.ROOT / "_config.yml").read_text()).get("execute", {})
    return {"timeout": int(execute.get("timeout", -1)), "allow_errors": bool(execute.get("allow_errors", False))}


def cell_seconds(nb) -> list[dict]:
    """Per code cell of an executed notebook (nbclient's ``record_timing`` stamps, which this removes from the
    cells): its index, id, seconds from the kernel receiving it to its reply, and its first code line."""
    from datetime import datetime

    rows = []
    for i, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).pop("execution", None) if cell.cell_type == "code" else None
        if not stamps or "iopub.execute_input" not in stamps or "shell.execute_reply" not in stamps:
            continue
        start, end = (datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
        rows.append({"cell": i, "id": cell.get("id", ""), "seconds": round((end - start).total_seconds(), 3),
                     "code": first[:100]})
    return rows


class ChildrenPeak:
    """The largest peak resident memory (``VmHWM``, the kernel's own high-water mark) among this process's child
    processes, read from ``/proc`` every ``every`` seconds while the block runs (a kernel's mark is read until it
    ends); ``peak_mib`` is 0 where ``/proc`` is absent."""

    def __init__(self, every: float = 0.5):
        self.every, self.peak_mib = every, 0.0

    def _read(self) -> None:
        me = str(os.getpid())
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                self.peak_mib = max(self.peak_mib, int(fields["VmHWM"].split()[0]) / 1024)

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _execute_one(doc: str, root: Path) -> tuple[str, str | None, float, str | None, list[dict], float]:
    """Execute one notebook as myst-nb's cache mode does (its folder as the working directory, the book's
    timeout): (doc, the executed notebook as JSON or None, seconds, the error's traceback or None, the seconds
    of each code cell: :func:`cell_seconds`, the kernel's peak memory in MiB: :class:`ChildrenPeak`)."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution
    from nbclient.exceptions import DeadKernelError

    path = Path(root) / f"{doc}.ipynb"
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    try:
        with ChildrenPeak() as memory:
            res = single_nb_execution(nb, cwd=str(path.parent), meta_override=True, record_timing=True,
                                      **_execution_settings())
    except DeadKernelError as err:      # the kernel's process ended: killed (out of memory?) or crashed
        return doc, None, time.time() - t0, f"{KERNEL_DIED}: {err!r}", cell_seconds(nb), memory.peak_mib
    cells, peak = cell_seconds(res.nb), memory.peak_mib
    if res.err is not None:
        return doc, None, res.time, res.exc_string, cells, peak
    return doc, nbformat.writes(res.nb), res.time, None, cells, peak


def book_root(start: Path | None = None) -> Path:
    """The sources of the book a notebook belongs to: the nearest folder at or above ``start`` (default: the working
    directory, a notebook's own folder when it executes) that holds a ``_toc.yml`` (the default book's root, or a
    staged book's: :mod:`helpers.staging`); the default book's root where none does."""
    here = Path.cwd() if start is None else Path(start)
    for folder in [here, *here.resolve().parents]:
        if (folder / "_toc.yml").is_file():
            return folder.resolve()
    return paths.ROOT


def records(root: Path = paths.ROOT) -> dict[str, Path]:
    """Where the build of the book in ``root`` keeps its records (:data:`TIMES`, :data:`CELL_TIMES`,
    :data:`KERNEL_PEAKS`; ``build``: the last strict build's return code and log, :func:`last_build`): ``_build/`` of
    the default book, ``<root>/_build/`` of a staged one."""
    folder = paths.BUILD if Path(root).resolve() == paths.ROOT.resolve() else Path(root) / "_build"
    return {"times": folder / TIMES.name, "cells": folder / CELL_TIMES.name, "peaks": folder / KERNEL_PEAKS.name,
            "build": folder / "last-build.json"}


def _record(path: Path) -> dict:
    """A build record (:data:`TIMES`, :data:`CELL_TIMES`, :data:`KERNEL_PEAKS`) as written, or ``{}`` where none is."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def kernel_peaks(path: Path | None = None, root: Path = paths.ROOT) -> "pd.DataFrame":
    """Each notebook's kernel peak memory in the last stage 2 that executed it (:data:`KERNEL_PEAKS` of the book in
    ``root``), largest first: columns notebook, peak MiB."""
    import pandas as pd

    recorded = _record(records(root)["peaks"] if path is None else path)
    return (pd.DataFrame(list(recorded.items()), columns=["notebook", "peak MiB"])
            .sort_values("peak MiB", ascending=False, kind="stable").reset_index(drop=True))


def slowest_cells(n: int = 15, path: Path | None = None, root: Path = paths.ROOT) -> "pd.DataFrame":
    """The ``n`` slowest code cells of the last build's stage 2 (:data:`CELL_TIMES` of the book in ``root``), slowest
    first, with each notebook's total: where the build's time went."""
    import pandas as pd

    recorded = _record(records(root)["cells"] if path is None else path)
    rows = [{"notebook": doc, **c} for doc, cells in recorded.items() for c in cells]
    if not rows:
        return pd.DataFrame(columns=["notebook", "cell", "seconds", "share of the notebook", "code"])
    d = pd.DataFrame(rows)
    d["share of the notebook"] = d.seconds / d.groupby("notebook").seconds.transform("sum")
    return (d.sort_values("seconds", ascending=False).head(n)
            [["notebook", "cell", "seconds", "share of the notebook", "code"]].reset_index(drop=True))


def execute_chapters(workers: int = 2, notebooks: list[str] | None = None, say=print, root: Path = paths.ROOT,
                     cache_dir: Path = JUPYTER_CACHE) -> bool:
    """Stage 2: execute, ``workers`` at a time, every notebook (default: the table of contents) whose code the
    execution cache (``_build/.jupyter_cache``) does not hold, longest first (times of the last build) among those
    whose :data:`AFTER` ended (:func:`ready`); store each in the cache as myst-nb would.  A notebook whose kernel
    died beside another (:data:`KERNEL_DIED`) is executed once more with none beside it.  True when every one
    succeeded (a failure is reported with its kernel's peak memory; the strict build executes that notebook again
    and fails with its error)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    own = Path(cache_dir) in (JUPYTER_CACHE, Path(root) / "_build" / ".jupyter_cache")   # a book's own stage 2
    rec = records(root)      # keeps the records its status page reads; a test's private cache keeps none
    invalidate_if_helpers_changed(say, cache_dir=cache_dir)     # the book's cache, a staged book's, a test's
    docs = toc_notebooks(Path(root) / "_toc.yml", root) if notebooks is None else list(notebooks)
    jc = get_cache(str(cache_dir))

    def cached(doc):
        try:
            jc.match_cache_notebook(nbformat.read(Path(root) / f"{doc}.ipynb", as_version=4))
            return True
        except KeyError:
            return False

    todo = [d for d in docs if not cached(d)]
    times = _record(rec["times"])
    cell_times, peaks = (_record(rec["cells"]), _record(rec["peaks"])) if own else ({}, {})
    rank = {d: i for i, d in enumerate(COLD_ORDER)}
    pending = sorted(todo, key=lambda d: (-times.get(d, 0.0), rank.get(d, len(rank))))   # longest first
    say(f"[book execute] {len(todo)} of {len(docs)} notebook(s) to execute, {workers} at a time"
        + (f"; {len(docs) - len(todo)} held by the execution cache" if len(todo) < len(docs) else ""))
    ok, t0 = True, time.time()
    with environment({**chapter_env(), **ONE_THREAD}):
        # spawned, not forked: the caller (pytest, a notebook) may hold torch's thread pools, which a fork can hang
        # (no max_tasks_per_child: it can deadlock the pool on Python 3.11, cpython issue 115634)
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn")) as pool:
            running: dict = {}
            alone: set = set()      # notebooks whose kernel died beside another: executed again with none beside
            company: dict = {}      # the notebooks that ran beside each one
            while pending:
                startable = ready(pending)
                waiting_alone = [d for d in startable if d in alone and d not in running.values()]
                for d in waiting_alone[:1] or startable:
                    if len(running) >= max(1, workers) or d in running.values():
                        continue
                    if running and (d in alone or alone & set(running.values())):
                        continue
                    company[d] = set(running.values())
                    for other in running.values():
                        company[other].add(d)
                    running[pool.submit(_execute_one, d, root)] = d
                if not running:
                    raise RuntimeError(f"stage 2: nothing can start among {pending} (a cycle in book.AFTER)")
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.remove(running.pop(fut))
                    doc, text, seconds, err, cells, peak = fut.result()
                    times[doc], cell_times[doc], peaks[doc] = seconds, cells, round(peak, 1)
                    if own:      # the build status page (executed last) reads them
                        cache.write_json_atomic(rec["cells"], cell_times)
                        cache.write_json_atomic(rec["peaks"], peaks)
                    if err is not None and err.startswith(KERNEL_DIED) and company[doc] and doc not in alone:
                        alone.add(doc)
                        pending.insert(0, doc)
                        say(f"[book execute] {doc}: {KERNEL_DIED} after {_fmt(seconds)} (peak {peak:,.0f} MiB; "
                            f"beside {', '.join(sorted(company[doc]))}); executing it again with no other notebook "
                            "beside it")
                        continue
                    if err is not None:
                        ok = False
                        say(f"[book execute] {doc} FAILED after {_fmt(seconds)} (kernel peak {peak:,.0f} MiB; "
                            "the build below shows the error):\n"
                            + err[-3000:])
                        continue
                    jc.cache_notebook_bundle(CacheBundleIn(nbformat.reads(text, as_version=4),
                                                           str(Path(root) / f"{doc}.ipynb"),
                                                           data={"execution_seconds": seconds}),
                                             check_validity=False, overwrite=True)
                    say(f"[book execute] {doc} executed in {_fmt(seconds)}, kernel peak {peak:,.0f} MiB "
                        f"(elapsed {_fmt(time.time() - t0)})")
    if todo and own:
        cache.write_json_atomic(rec["times"], times)
    say(f"[book execute] {'done' if ok else 'done with failures'} in {_fmt(time.time() - t0)}")
    return ok


def build(capture: bool = False, artifacts: bool = True, root: Path = paths.ROOT, name: str = "book-artifacts",
          **stage) -> subprocess.CompletedProcess:
    """Stage 1 (unless ``artifacts=False``), then the strict book build with ``ISOBOOK_NO_TRAINING=1``, of the book
    whose sources are in ``root`` (a staged book's: :mod:`helpers.staging`; its HTML in ``root/_build/html``)."""
    root = Path(root)
    own = root == paths.ROOT
    jc = JUPYTER_CACHE if own else root / "_build" / ".jupyter_cache"    # where myst-nb looks, for that root
    if artifacts and not build_artifacts(root=root, name=name, **stage):
        return subprocess.CompletedProcess(["helpers.book", "artifacts"], 1, "", "the artifact stage failed")
    invalidate_if_helpers_changed(cache_dir=jc)
    if artifacts:
        execute_chapters(workers=EXECUTE_WORKERS, root=root, cache_dir=jc)
    env = {**os.environ, **chapter_env()}
    command = [jupyter_book(), *COMMAND] if own else [jupyter_book(), "build", str(root), *COMMAND[2:]]
    if capture:
        return subprocess.run(command, cwd=root, env=env, text=True, capture_output=True)
    times = _record(records(root)["times"])
    progress = Progress(toc_notebooks(root / "_toc.yml", root), times, root=root)
    proc = subprocess.Popen(command, cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
    log = []
    for line in proc.stdout:
        progress.feed(line)
        log.append(line)
    rc = proc.wait()
    if progress.done:
        cache.write_json_atomic(records(root)["times"], progress.times)
    cache.write_json_atomic(records(root)["build"], {"returncode": rc, "args": list(proc.args), "log": "".join(log),
                                                     "helpers": helpers_digest()})
    return subprocess.CompletedProcess(proc.args, rc)


def last_build(root: Path = paths.ROOT) -> subprocess.CompletedProcess | None:
    """The last strict build of the book in ``root`` as :func:`build` ran it (its return code and its log as
    stdout), if it was made by the helpers as they are now; None otherwise.  The browser checks read a build made a
    moment before by the same ``make test`` instead of building again."""
    rec = _record(records(root)["build"])
    if not rec or rec.get("helpers") != helpers_digest():
        return None
    return subprocess.CompletedProcess(rec["args"], rec["returncode"], rec["log"], "")


def add_stage_arguments(ap) -> None:
    """The options of the runs' stage (stage 1), shared by ``python -m helpers.book`` and ``helpers.staging``."""
    ap.add_argument("--workers", type=int, default=None,
                    help="local worker processes of stage 1 (default: one per core, at most one per run)")
    ap.add_argument("--address", help="stage 1 on an existing Dask cluster (scheduler address)")
    ap.add_argument("--scheduler-file", help="stage 1 on an existing Dask cluster (scheduler file)")


def stage_settings(a) -> dict:
    """The parsed options of :func:`add_stage_arguments`, as :func:`build_artifacts` takes them."""
    return dict(workers=a.workers, address=a.address, scheduler_file=a.scheduler_file)


def report(res: subprocess.CompletedProcess, html: Path, seconds: float, what: str = "Book") -> int:
    """Say where the built book is (or that its build failed, and where the reports are); the return code."""
    if res.returncode == 0:
        print(f"\n{what} built in {_fmt(seconds)}: {html / 'index.html'}")
    else:
        print(f"\n{what} build FAILED (rc={res.returncode}); see {html / 'reports'}", file=sys.stderr)
    return res.returncode


def check_reference(root: Path = paths.ROOT, name: str | None = None, say=print, since: float | None = None) -> dict | None:
    """Compare the built book in ``root`` with its committed reference ledger (:func:`helpers.reference.check`;
    ``name``: the default book's, or a staged book's set) and print the result: the last lines of a build's log.
    ``since``: the build's start (the ledger its status page computed is read, not computed again).
    A mismatch never fails the reader's build (``make reproduce`` does); None if the check could not run."""
    from . import reference

    try:
        with environment(chapter_env()):      # the check reads what the build made; it never trains
            result = reference.check(root, name, since=since)
    except Exception as err:                  # the build's result stands; say why there is no comparison
        say(f"[reference] the reference ledger could not be checked: {err!r}")
        return None
    reference.say(result)
    return result


def main(argv=None) -> int:
    """``python -m helpers.book [--artifacts-only] [--workers N] [--address A | --scheduler-file F]``"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts-only", action="store_true", help="stage 1 only: build the chapters' runs")
    add_stage_arguments(ap)
    a = ap.parse_args(argv)
    t0 = time.time()
    if a.artifacts_only:
        return 0 if build_artifacts(**stage_settings(a)) else 1
    rc = report(build(**stage_settings(a)), paths.HTML, time.time() - t0)
    if rc == 0:
        check_reference(paths.ROOT, since=t0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
