"""Sweeps over models x tasks x fine-tuning seeds on Dask distributed, beyond one notebook kernel.

    python -m helpers.sweep params/sweeps/NAME.yml [--workers N] [--retries R]
    python -m helpers.sweep params/sweeps/NAME.yml --address tcp://HOST:8786      # an existing cluster
    python -m helpers.sweep params/sweeps/NAME.yml --scheduler-file /shared/scheduler.json

A sweep file::

    description: what this sweep is for
    params: NAME                    # optional: model, tasks, finetune (and n_sentences) from params/NAME.yml
    model: minilm                   # one model or a list
    tasks: [mr, bshift]
    seeds: [0, 1, 2]                # fine-tuning seeds (replicate r samples its sentences with seed r)
    finetune: {}                    # the chapters' `finetune` dict: every run of the sweep uses it
    steps: [finetune, enhancement]  # per (model, task, seed): finetune, extract, enhancement
    enhancement: {}                 # overrides of chapter 05's measurement parameters (its defaults otherwise)
    notebooks: [05_enhancement, 06_claims_ledger]   # then, per model, whole notebooks (papermill runner)
    controls: []                    # control fine-tunings the ledger decides beside the runs (chapter 06's
                                    # `controls`, e.g. [label-shuffled]): built as finetune steps, none by default
    control_tasks: null             # their tasks (some of `tasks`; null: the first task), every seed

Every (model, task, seed) step is one Dask task (extract and enhancement wait for their fine-tuning run);
notebooks wait for every step of their model.  Results land in the artifact cache (``ISOBOOK_CACHE``: a
shared filesystem on a cluster), keyed as when a chapter computes them, so the chapters read them back
instead of recomputing.  A step whose artifacts are done is skipped; a failed step is retried
(``retries``); a step on a worker that dies is rerun elsewhere by the scheduler.  A progress line per
finished step (``[k/N]``, elapsed, estimated remaining), then a summary table
``<cache>/sweeps/<name>.csv`` that chapter 06 reads (its ``sweep`` parameter).

Workers are processes with one Dask thread each; torch and BLAS in each get ``cores // workers`` threads.
On SLURM or PBS, start the cluster with ``dask-jobqueue`` (not a dependency) and pass its scheduler file
(docs/guide.md, "Running beyond one machine").
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, checks, paths
from .progress import duration as _fmt

STEPS = ("finetune", "extract", "enhancement")
KEYS = {"description", "params", "model", "tasks", "seeds", "finetune", "steps", "enhancement", "notebooks", "retries",
        "controls", "control_tasks"}


# ----------------------------------------------------------------------------- the sweep's specification
@dataclass
class Sweep:
    name: str
    models: list[str]
    tasks: list[str]
    seeds: list[int]
    finetune: dict = field(default_factory=dict)
    steps: list[str] = field(default_factory=lambda: ["finetune"])
    enhancement: dict = field(default_factory=dict)
    notebooks: list[str] = field(default_factory=list)
    retries: int = 1
    description: str = ""
    file: str = ""
    controls: list[str] = field(default_factory=list)
    control_tasks: list[str] | None = None

    def configs(self, model: str) -> dict:
        from . import finetune as F

        return F.configs_for(model, self.tasks, self.seeds, self.finetune)

    def control_configs(self, model: str) -> dict:
        """The control fine-tunings of ``model`` that the sweep's ledger decides beside its runs:
        ``{(control, task, seed): FinetuneConfig}`` (``helpers.ledger.control_runs`` on ``control_tasks``)."""
        from .ledger import control_runs, control_task_names

        control_task_names(self.control_tasks, self.tasks)      # checked even when no control is named
        return {(c, t, s): cfg for c in self.controls
                for (t, s), cfg in control_runs(self.configs(model), c, self.control_tasks).items()}

    def measurement(self) -> dict:
        """Chapter 05's measurement parameters (its defaults, overridden by the sweep's ``enhancement``)."""
        from . import run

        declared = {k: ast.literal_eval(v) for k, v in run.notebook_parameters(run.find_notebook("05")).items()}
        names = ("n_sentences", "n_train_sentences", "methods", "n_clusters", "max_fit_tokens", "extract_max_length")
        unknown = sorted(set(self.enhancement) - set(names))
        if unknown:
            raise checks.ParameterError(f"enhancement has unknown key(s) {unknown}; valid keys: {', '.join(names)}")
        return {k: self.enhancement.get(k, declared[k]) for k in names}

    def notebook_params(self, notebook: str, model: str) -> dict:
        """The parameters a notebook of the sweep gets: the sweep itself where the notebook takes a ``sweep``
        parameter (chapters 05 and 06: they read every setting from it), else model, tasks, seeds and
        finetune where it declares them."""
        from . import run

        declared = run.notebook_parameters(run.find_notebook(notebook))
        controls = {"controls": self.controls, "control_tasks": self.control_tasks}
        if "sweep" in declared:
            return {"sweep": self.file, "model": model, **{k: v for k, v in controls.items() if k in declared}}
        offered = {"model": model, "tasks": self.tasks, "seeds": self.seeds, "finetune": self.finetune, **controls}
        return {k: v for k, v in offered.items() if k in declared}


def chapter_settings(sweep, model: str) -> tuple:
    """A chapter's settings taken from a sweep file (chapters 05 and 06, parameter ``sweep``): (model, tasks,
    seeds, finetune, n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens, extract_max_length).
    ``model`` must be one of the sweep's models (its only one is taken when the chapter's default is not)."""
    sw = load(sweep)
    if model not in sw.models:
        if len(sw.models) > 1:
            raise checks.ParameterError(f"model={model!r} is not in sweep {sw.name!r}; choose one of: {', '.join(sw.models)}")
        model = sw.models[0]
    m = sw.measurement()
    return (model, sw.tasks, sw.seeds, sw.finetune, m["n_sentences"], m["n_train_sentences"], m["methods"],
            m["n_clusters"], m["max_fit_tokens"], m["extract_max_length"])


def load(file) -> Sweep:
    """A sweep file, checked (unknown keys, tasks, seeds, fine-tuning settings, steps, notebooks) before any work."""
    file = Path(file)
    if not file.is_file() and (paths.PARAMS / "sweeps" / f"{file}.yml").is_file():
        file = paths.PARAMS / "sweeps" / f"{file}.yml"
    if not file.is_file():
        avail = ", ".join(sorted(p.stem for p in (paths.PARAMS / "sweeps").glob("*.yml")))
        raise checks.ParameterError(f"sweep={str(file)!r}: no such file; sweeps in params/sweeps/: {avail}")
    data = checks.load_yaml(file.read_text()) or {}
    if not isinstance(data, dict):
        raise checks.ParameterError(f"{file.name}: a sweep file is a mapping of {', '.join(sorted(KEYS))}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise checks.ParameterError(f"{file.name}: unknown key(s) {unknown}; allowed: {', '.join(sorted(KEYS))}")
    if data.get("params"):   # a parameter set of the chapters (params/NAME.yml): its shared model, tasks, finetune
        ps = Path(data["params"])
        ps = ps if ps.is_file() else paths.PARAMS / f"{data['params']}.yml"
        if not ps.is_file():
            raise checks.ParameterError(f"params={data['params']!r}: no such parameter set in params/")
        shared = (checks.load_yaml(ps.read_text()) or {}).get("parameters") or {}
        for k in ("model", "tasks", "seeds", "finetune"):
            if k in shared and k not in data:
                data[k] = shared[k]
        if "n_sentences" in shared:
            data["enhancement"] = {"n_sentences": shared["n_sentences"], **(data.get("enhancement") or {})}
    steps = checks.as_list(data.get("steps", ["finetune"]))
    for s in steps:
        checks.choice("steps", s, STEPS)
    sweep = Sweep(name=file.stem, models=checks.as_list(data.get("model", "minilm")),
                  tasks=checks.as_list(data.get("tasks", [])), seeds=checks.as_list(data.get("seeds", [0])),
                  finetune=data.get("finetune") or {}, steps=steps, enhancement=data.get("enhancement") or {},
                  notebooks=[f"{x:02d}" if isinstance(x, int) else str(x) for x in checks.as_list(data.get("notebooks", []))], retries=int(data.get("retries", 1)),
                  description=str(data.get("description", "")).strip(), file=str(file.resolve()),
                  controls=checks.as_list(data.get("controls", [])), control_tasks=data.get("control_tasks"))
    from . import run
    from .ledger import check_controls

    check_controls(sweep.controls)
    run.check_finetune_numbers(sweep.finetune)       # a quoted '1e-4': refused with the fix
    for m in sweep.models:
        sweep.configs(m)                              # tasks, seeds, finetune: checked here
        sweep.control_configs(m)                      # controls and their tasks too
    if "enhancement" in steps:
        sweep.measurement()
    for nb in sweep.notebooks:
        run.find_notebook(nb)
    return sweep


# ----------------------------------------------------------------------------- one step (runs on a worker)
def _marker(step: str, cfg, extra: dict):
    from . import finetune as F, models

    spec = {"step": step, "run": F.run_dir(cfg, models.resolve(cfg.model)).name, "settings": extra,
            "code": cache.code_digest("enhancement" if step != "finetune" else "finetune")}
    return cache.artifact_dir("sweep-steps", f"{step}-{cfg.task}-{cfg.seed}", spec), spec


def is_done(step: str, cfg, extra: dict) -> dict | None:
    """The recorded result of a finished step whose artifacts still exist, else None (also when the run it
    recorded is not the run its marker names: the code changed while the step ran)."""
    import json

    marker, spec = _marker(step, cfg, extra)
    if not cache.is_done(marker):
        return None
    result = json.loads((marker / "result.json").read_text())
    same_run = result.get("run") == spec["run"]
    return result if same_run and all(Path(p).exists() for p in result.get("artifacts", [])) else None


def run_step(step: str, cfg, extra: dict, threads: int, *after) -> dict:
    """Compute one step of one (model, task, seed) into the cache; returns its summary row."""
    import socket

    import torch

    from . import enhancement as EN, extract as E, finetune as F

    torch.set_num_threads(threads)
    os.environ["ISOBOOK_QUIET"] = "1"     # on any cluster: no progress bars from the workers
    os.environ.pop(F.NO_TRAINING, None)   # a sweep step is where runs are built (the book's artifact stage)
    t0 = time.time()
    run = F.finetune(cfg)
    artifacts = [str(run.path)]
    metric = run.metrics["test"].get(_primary(cfg.task))
    if step in ("extract", "enhancement"):      # the extractions chapter 05 measures, then (enhancement) its tables
        ex = E.replicate_extractions(cfg, run, {"train": extra["n_train_sentences"], "test": extra["n_sentences"]},
                                      extra["extract_max_length"])
        artifacts += [str(e.path) for e in ex.values()]
    if step == "enhancement":
        EN.measure({(cfg.task, cfg.seed): cfg}, extra["n_sentences"], extra["n_train_sentences"],
                   EN.check_methods(extra["methods"]), extra["n_clusters"], extra["max_fit_tokens"],
                   extra["extract_max_length"], full_replicate=extra["full_replicate"])
    row = {"step": step, "model": cfg.model, "task": cfg.task, "seed": cfg.seed, "status": "done",
           "seconds": round(time.time() - t0, 1), "worker": f"{socket.gethostname()}:{os.getpid()}",
           "test metric": metric, "run": run.path.name, "artifacts": artifacts}
    marker, spec = _marker(step, cfg, extra)
    if not cache.is_done(marker):
        with cache.building(marker, spec) as tmp:
            cache.write_json_atomic(tmp / "result.json", row)
    return row


def run_notebook(notebook: str, params: dict, set_name: str, *after) -> dict:
    from . import run

    t0 = time.time()
    out = run.execute(notebook, params, set_name=set_name)
    return {"step": f"notebook {Path(out).parent.name}", "model": params.get("model", ""), "task": "", "seed": "",
            "status": "done", "seconds": round(time.time() - t0, 1), "worker": f"{os.getpid()}", "run": "",
            "test metric": None, "artifacts": [str(out)]}


def training_cost(cfg) -> float:
    """A run's relative training cost (epochs x :func:`helpers.models.token_cost`; the runs of a sweep share their
    tasks), to start the longest runs first: a pool's last minutes then run short runs side by side, not one long
    run beside an idle core.  0 where the model's config cannot be read (its runs keep their place)."""
    from . import models

    try:
        return float(cfg.epochs * models.token_cost(cfg.model))
    except Exception:
        return 0.0


def start_order(sweep: Sweep) -> list[str]:
    """The sweep's models in the order their runs are submitted: the costliest runs first (:func:`training_cost`),
    the sweep's order among equals."""
    cost = {m: max(map(training_cost, sweep.configs(m).values()), default=0.0) for m in sweep.models}
    return sorted(sweep.models, key=lambda m: -cost[m])


def _primary(task: str) -> str:
    from . import tasks

    return tasks.spec(task).primary_metric


# ----------------------------------------------------------------------------- the driver
def _remaining(kinds, took: dict, workers: int) -> float:
    """Seconds left: every unfinished step at the mean time of the finished steps of its kind (of all finished
    steps when none of its kind has finished), spread over the workers."""
    everything = [x for v in took.values() for x in v]
    mean_all = sum(everything) / len(everything) if everything else 0.0
    return sum(sum(took[k]) / len(took[k]) if took.get(k) else mean_all for k in kinds) / workers


def summary_path(name: str) -> Path:
    return paths.cache_root() / "sweeps" / f"{name}.csv"


def read_summary(name: str):
    """The summary table of a finished sweep (what chapter 06 reads)."""
    import pandas as pd

    p = summary_path(name)
    if not p.is_file():
        raise checks.ParameterError(f"sweep={name!r} has no summary at {p}; run `python -m helpers.sweep "
                                    f"params/sweeps/{name}.yml` first")
    return pd.read_csv(p)


SUMMARY_COLUMNS = ["step", "model", "task", "seed", "status", "seconds", "test metric", "run", "worker"]


def write_summary(name: str, rows: list[dict]):
    """The summary table (one row per step: status, seconds, the run and its test metric), written atomically."""
    import pandas as pd

    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out = summary_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
    return table


def local_cluster(workers: int):
    """A LocalCluster of ``workers`` processes with one Dask thread each; torch and BLAS in each worker get
    ``cores // workers`` threads (:func:`helpers.cache.cores`; set before the worker starts, so BLAS pools are
    sized once)."""
    import dask
    from distributed import LocalCluster

    threads = max(1, cache.cores() // workers)
    env = {**{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
           "ISOBOOK_QUIET": "1", "TQDM_DISABLE": "1"}   # the sweep's own [k/N] lines, not N interleaved bars
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env, "distributed.worker.daemon": False}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=40), threads


def run(sweep: Sweep, client=None, workers: int = 2, threads: int | None = None, say=print):
    """Run a sweep on ``client`` (None: a LocalCluster of ``workers`` processes); returns the summary table."""
    from distributed import Client, as_completed

    own = client is None
    cluster = None
    if own:
        cluster, threads = local_cluster(workers)
        client = Client(cluster)
    threads = threads or 1
    try:
        measurement = sweep.measurement() if {"extract", "enhancement"} & set(sweep.steps) else {}
        rows, futures = [], {}
        order = start_order(sweep)
        for model in order:
            priority = len(order) - order.index(model)    # dask runs queued steps by priority, not by submission
            configs = sweep.configs(model)
            model_futures = []
            for (t, s), cfg in configs.items():
                previous = None   # the steps of one (model, task, seed) run in order: they share artifacts
                for step in sweep.steps:
                    extra = {} if step == "finetune" else {**measurement, "full_replicate": min(sweep.seeds)}
                    done = is_done(step, cfg, extra)
                    if done is not None:
                        rows.append({**done, "status": "skipped (done)", "seconds": 0.0})
                        continue
                    f = client.submit(run_step, step, cfg, extra, threads, *([previous] if previous else []),
                                      key=f"{step}-{model}-{t}-{s}-{cache.key_of([sweep.name, extra], 6)}",
                                      retries=sweep.retries, pure=False, priority=priority)
                    futures[f] = (step, model, t, s)
                    model_futures.append(f)
                    previous = f
            for (c, t, s), cfg in sweep.control_configs(model).items():   # the ledger's control runs: trained only
                done = is_done("finetune", cfg, {})
                if done is not None:
                    rows.append({**done, "status": "skipped (done)", "seconds": 0.0})
                    continue
                f = client.submit(run_step, "finetune", cfg, {}, threads,
                                  key=f"finetune-{model}-{t}-{s}-{c}-{cache.key_of([sweep.name], 6)}",
                                  retries=sweep.retries, pure=False, priority=priority)
                futures[f] = ("finetune", model, t, s)
                model_futures.append(f)
            for nb in sweep.notebooks:
                f = client.submit(run_notebook, nb, sweep.notebook_params(nb, model), f"sweep-{sweep.name}",
                                  *model_futures, key=f"notebook-{nb}-{model}-{sweep.name}", retries=sweep.retries, pure=False)
                futures[f] = (f"notebook {nb}", model, "", "")
        n, t0 = len(futures), time.time()
        write_summary(sweep.name, rows)
        say(f"[sweep {sweep.name}] {n} step(s) to run, {len(rows)} already done; "
            f"{len(client.scheduler_info()['workers'])} worker(s)")
        failed, n_workers = 0, max(1, len(client.scheduler_info()["workers"]))
        pending = {f: futures[f][0].split()[0] for f in futures}       # step kind of every unfinished step
        took: dict[str, list[float]] = {}
        for k, f in enumerate(as_completed(list(futures)), 1):
            step, model, t, s = futures[f]
            try:
                row = f.result()
                status = f"done in {_fmt(row['seconds'])}"
            except Exception as e:  # a step that failed after its retries: recorded, the sweep goes on
                failed += 1
                row = {"step": step, "model": model, "task": t, "seed": s, "status": f"failed: {type(e).__name__}: {e}",
                       "seconds": None}
                status = row["status"][:200]
            rows.append(row)
            write_summary(sweep.name, rows)      # after every step: notebooks of the sweep read it as it grows
            took.setdefault(pending.pop(f), []).append(row.get("seconds") or 0.0)
            el = time.time() - t0
            say(f"[{k}/{n}] {step} {model} {t} {s}: {status} | elapsed {_fmt(el)}, about "
                f"{_fmt(_remaining(pending.values(), took, n_workers))} left")
        table, out = write_summary(sweep.name, rows), summary_path(sweep.name)
        say(f"[sweep {sweep.name}] {n - failed}/{n} step(s) done, {failed} failed, in {_fmt(time.time() - t0)}; "
            f"summary: {out}")
        return table
    finally:
        if own:
            client.close()
            cluster.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="a sweep file (params/sweeps/NAME.yml) or its NAME")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    ap.add_argument("--address", help="scheduler address of an existing cluster, e.g. tcp://host:8786")
    ap.add_argument("--scheduler-file", help="scheduler file of an existing cluster (dask-jobqueue, dask scheduler)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per step on an existing cluster (default 1; local: cores // workers)")
    ap.add_argument("--retries", type=int, default=None, help="retries of a failed step (default: the file's, else 1)")
    a = ap.parse_args(argv)
    try:
        sweep = load(a.file)
        if a.retries is not None:
            sweep.retries = a.retries
        checks.positive("workers", a.workers, integer=True)
    except checks.ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from distributed import Client

    if a.address or a.scheduler_file:
        with Client(address=a.address, scheduler_file=a.scheduler_file) as client:
            table = run(sweep, client=client, threads=a.threads or 1)
    else:
        table = run(sweep, workers=a.workers)
    return 0 if not table.status.astype(str).str.startswith("failed").any() else 1


if __name__ == "__main__":
    sys.exit(main())
