"""Build the HTML book strictly: artifacts first, then every notebook executed (cached), warnings are errors.

``python -m helpers.book`` works in two stages:

1. **Artifacts.**  Every fine-tuning run the chapters read on their defaults (:func:`artifact_sweeps`: each
   chapter's declared ``model``, ``tasks``, ``seed``/``seeds`` and ``finetune``) is built by the sweep
   machinery (``helpers.sweep``: one worker process per step, done runs skipped, a killed build resumes
   from the runs it finished; ``--address``/``--scheduler-file`` put it on a Dask cluster).  Each run
   prints a progress line every 10% (steps, examples and tokens per second, time left).
2. **Chapters.**  ``jupyter-book build ROOT -W -n --keep-going --all`` with ``ISOBOOK_NO_TRAINING=1``: the
   chapters only read cached runs, so the notebook timeout guards against hangs, never against a slow
   machine, and a chapter that would train (a run the stage missed) fails at once, naming the run.

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
from .progress import duration as _fmt

COMMAND = ["build", str(paths.ROOT), "-W", "-n", "--keep-going", "--all"]
JUPYTER_CACHE = paths.BUILD / ".jupyter_cache"
TIMES = paths.BUILD / "book-times.json"
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


def toc_notebooks(toc: Path = paths.ROOT / "_toc.yml") -> list[str]:
    """Document names (``notebooks/02_isotropy``) of the notebooks in the table of contents, in order."""
    def walk(node):
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                if "file" in child and (paths.ROOT / f"{child['file']}.ipynb").is_file():
                    yield child["file"]
                yield from walk(child)
    return list(walk(yaml.safe_load(toc.read_text())))


def helpers_digest(root: Path = cache.HELPERS) -> str:
    """Digest of every helper's source (pages can show anything the helpers compute, plots included)."""
    return cache.modules_digest([f.stem for f in root.glob("*.py")], root=root)


def invalidate_if_helpers_changed(say=print, root: Path = cache.HELPERS) -> bool:
    """Clear the execution cache when ``helpers/`` changed since the last build; True if cleared."""
    digest, old = helpers_digest(root), (DIGEST.read_text().strip() if DIGEST.is_file() else None)
    cleared = old is not None and old != digest and JUPYTER_CACHE.exists()
    if cleared:
        say("[book] helpers/ changed since the last build: the execution cache is cleared, every notebook "
            "re-executes (artifacts in data/cache are reused where their code is unchanged)")
        shutil.rmtree(JUPYTER_CACHE)
    DIGEST.parent.mkdir(parents=True, exist_ok=True)
    DIGEST.write_text(digest + "\n")
    return cleared


class Progress:
    """Reads the build's output line by line: passes it through (without :data:`BENIGN` lines) and adds a
    line per notebook that starts or ends executing."""

    def __init__(self, notebooks: list[str], times: dict[str, float], out=sys.stdout, clock=time.monotonic):
        self.notebooks, self.times, self.out, self.clock = notebooks, dict(times), out, clock
        self.t0 = clock()
        self.current = self.started = None   # the notebook executing now
        self.done: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @staticmethod
    def docname(path: str) -> str:
        p = Path(path)
        try:
            return p.resolve().relative_to(paths.ROOT).with_suffix("").as_posix()
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


def chapter_defaults(notebooks: list[str] | None = None) -> list[tuple[str, dict]]:
    """(notebook, declared defaults) of every chapter that fine-tunes: it declares ``model`` (or ``models``;
    ``more_models`` adds models compared beside it), ``tasks``, ``finetune`` and ``seed`` or ``seeds``."""
    import ast

    from . import run

    out = []
    for doc in notebooks if notebooks is not None else toc_notebooks():
        path = Path(doc) if str(doc).endswith(".ipynb") else paths.ROOT / f"{doc}.ipynb"
        declared = run.notebook_parameters(path)
        values = {k: ast.literal_eval(v) for k, v in declared.items()}
        if {"tasks", "finetune"} <= set(values) and ({"model", "models"} & set(values)) and (
                {"seed", "seeds"} & set(values)):
            out.append((doc, values))
    return out


def artifact_sweeps(notebooks: list[str] | None = None) -> list:
    """The fine-tuning runs of the chapters' defaults as sweeps (``helpers.sweep.Sweep``, steps ``finetune``):
    one per (model, tasks, finetune settings), over the union of the chapters' seeds."""
    from . import checks
    from .sweep import Sweep

    groups: dict[str, dict] = {}
    for doc, v in chapter_defaults(notebooks):
        seeds = set(checks.as_list(v.get("seeds"))) | set(checks.as_list(v.get("seed")))
        for model in [*checks.as_list(v.get("models", v.get("model"))), *checks.as_list(v.get("more_models"))]:
            key = cache.canonical_json([model, checks.as_list(v["tasks"]), v["finetune"] or {}])
            g = groups.setdefault(key, {"model": model, "tasks": checks.as_list(v["tasks"]),
                                        "finetune": v["finetune"] or {}, "seeds": set(), "chapters": []})
            g["seeds"] |= seeds
            g["chapters"].append(Path(doc).stem)
    sweeps = []
    for i, g in enumerate(groups.values()):
        sw = Sweep(name=f"book-artifacts-{i}", models=[g["model"]], tasks=g["tasks"], seeds=sorted(g["seeds"]),
                   finetune=g["finetune"], steps=["finetune"], retries=1,
                   description=f"the fine-tuning runs of {', '.join(g['chapters'])}")
        sw.configs(g["model"])      # every setting checked before any training
        sweeps.append(sw)
    return sweeps


def build_artifacts(workers: int = 1, address: str | None = None, scheduler_file: str | None = None,
                    notebooks: list[str] | None = None, say=print) -> bool:
    """Stage 1: build every run of :func:`artifact_sweeps` (skipping those already cached); True if all
    succeeded.  One local worker by default (a run uses every core); more, or a cluster, when asked."""
    from . import sweep as SW

    t0 = time.time()
    sweeps = artifact_sweeps(notebooks)
    n = sum(len(sw.configs(sw.models[0])) for sw in sweeps)
    say(f"[book artifacts] {n} fine-tuning run(s) that the chapters read: "
        + "; ".join(f"{sw.models[0]} on {', '.join(sw.tasks)}, seeds {sw.seeds} ({sw.description})" for sw in sweeps))
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
    say(f"[book artifacts] {'done' if ok else 'FAILED'} in {_fmt(time.time() - t0)}")
    return ok


def build(capture: bool = False, artifacts: bool = True, **stage) -> subprocess.CompletedProcess:
    """Stage 1 (unless ``artifacts=False``), then the strict book build with ``ISOBOOK_NO_TRAINING=1``."""
    from .finetune import NO_TRAINING

    if artifacts and not build_artifacts(**stage):
        return subprocess.CompletedProcess(["helpers.book", "artifacts"], 1, "", "the artifact stage failed")
    invalidate_if_helpers_changed()
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "ISOBOOK_QUIET": "1", "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1", NO_TRAINING: "1"}
    if capture:
        return subprocess.run([jupyter_book(), *COMMAND], cwd=paths.ROOT, env=env, text=True, capture_output=True)
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    progress = Progress(toc_notebooks(), times)
    proc = subprocess.Popen([jupyter_book(), *COMMAND], cwd=paths.ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
    for line in proc.stdout:
        progress.feed(line)
    rc = proc.wait()
    if progress.done:
        cache.write_json_atomic(TIMES, progress.times)
    return subprocess.CompletedProcess(proc.args, rc)


def main(argv=None) -> int:
    """``python -m helpers.book [--artifacts-only] [--workers N] [--address A | --scheduler-file F]``"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts-only", action="store_true", help="stage 1 only: build the chapters' runs")
    ap.add_argument("--workers", type=int, default=1, help="local worker processes of stage 1 (default 1)")
    ap.add_argument("--address", help="stage 1 on an existing Dask cluster (scheduler address)")
    ap.add_argument("--scheduler-file", help="stage 1 on an existing Dask cluster (scheduler file)")
    a = ap.parse_args(argv)
    stage = dict(workers=a.workers, address=a.address, scheduler_file=a.scheduler_file)
    t0 = time.time()
    if a.artifacts_only:
        return 0 if build_artifacts(**stage) else 1
    res = build(**stage)
    index = paths.HTML / "index.html"
    if res.returncode == 0:
        print(f"\nBook built in {_fmt(time.time() - t0)}: {index}")
    else:
        print(f"\nBook build FAILED (rc={res.returncode}); see {paths.HTML / 'reports'}", file=sys.stderr)
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
