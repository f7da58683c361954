"""Fine-tuning runs as cached artifacts (Hugging Face ``Trainer`` + ``AutoModelForSequenceClassification``).

A run is determined by its :class:`FinetuneConfig` and the source of the code that trains it
(``cache.code_digest("finetune")``: this module, ``models`` and ``tasks``); it is stored under
``<cache>/finetune/<model>-<task>-<key>/``::

    model/                     final weights (safetensors), config, tokenizer
    checkpoints/step-NNNNN/    intermediate weights at fixed fractions of training (1/(c+1), ..., c/(c+1))
    log.csv                    one row per logged step: loss, learning rate, validation metrics
    metrics.json               final validation and test metrics, timings, the config
    DONE.json                  written last: the artifact is complete

Training uses dynamic padding and length-grouped batches (``train_sampling_strategy="group_by_length"``),
so CPU time is not spent on padding.  The run is built in a temporary directory and renamed into place:
a run killed halfway leaves no artifact marked done and restarts cleanly on the next call.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache, checks, models, progress, tasks



@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run.  The defaults are the book's CPU budget (one epoch, batch 16, learning rate 1e-4:
    about 2.2 min per run on 2 cores, test accuracy about 0.85 on MR and 0.70-0.72 on bshift, above the floors
    of :data:`ACCURACY_FLOORS`; two epochs at 5e-5 and batch 32 took twice as long for 0.83 and 0.73).  The
    paper's own setup is a parameter set away (``params/paper-bert-glue.yml``: 3 epochs, 2e-5, batch 32)."""

    model: str = "minilm"
    task: str = "mr"
    epochs: float = 1.0
    learning_rate: float = 1e-4
    batch_size: int = 16
    max_length: int = 64
    train_size: int | None = None      # cap on training examples (seeded, stratified); None = all
    eval_size: int | None = 500        # cap on validation examples used for the training curve
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 0
    checkpoints: int = 3               # intermediate checkpoints at fractions 1/(c+1) ... c/(c+1)
    split_seed: int = 0
    evals_per_epoch: int = 4
    glue_dir: str | None = None        # where GLUE's TSV files are (offline GLUE); a location: the key holds the
                                       # data's content digest instead
    nproc: int = 1                     # processes (GPUs) of one run; above 1 it is launched with torchrun and
                                       # batch_size stays the global batch (batch_size / nproc per device)
    train_labels: str = "true"         # "shuffled": the training labels permuted (seeded by the run's seed), the
                                       # label-shuffled control; validation and test keep their labels
    pooling: str = "cls"               # what the head reads: "cls" (the pooled [CLS] position) or "mean" (the mean
                                       # of the last layer's tokens, how MiniLM was trained): helpers.models.POOLINGS

    def key_spec(self, model_spec: models.ModelSpec, table: pd.DataFrame | None = None) -> dict:
        """The run's identity: its settings, the model's identity, the **content** of its data (a digest of the
        task's loaded table, so two different copies of a task never share a run, and the same data under
        another path or ``glue_dir`` does) and the code's digest.  ``table``: the task's loaded table, when the
        caller has it (else it is loaded here)."""
        d = asdict(self)
        d.pop("glue_dir")
        for name, default in (("train_labels", "true"), ("pooling", "cls")):
            if d[name] == default:          # a default leaves the key as it was before the setting existed
                d.pop(name)
        d["model"] = model_spec.identity
        d["task"] = tasks.key_name(self.task)
        data = tasks.table_digest(table) if table is not None else tasks.data_digest(self.task, self.split_seed, self.glue_dir)
        return {"config": d, "data": data,
                "code": cache.code_digest("finetune")}

    def describe(self) -> str:
        """The budget in words: "1 epoch at learning rate 0.0001, batch size 16, sequences up to 64 tokens, all
        training examples"."""
        return (f"{self.epochs:g} epoch{'' if self.epochs == 1 else 's'} at learning rate {self.learning_rate:g}, "
                f"batch size {self.batch_size}, sequences up to {self.max_length} tokens, "
                f"{'all' if self.train_size is None else f'{self.train_size:,}'} training examples"
                + (", training labels shuffled (the label-shuffled control)" if self.train_labels == "shuffled" else "")
                + (", a head on the mean of the last layer's tokens" if self.pooling == "mean" else ""))

    @property
    def data(self) -> dict:
        """The arguments that locate the run's data (``split_seed``, ``glue_dir``), for ``tasks.load`` and
        ``extract.extract``: every chapter reads the same splits as the run."""
        return {"split_seed": self.split_seed, "glue_dir": self.glue_dir}


TRAIN_LABELS = ("true", "shuffled")
"""The choices of ``FinetuneConfig.train_labels``."""
CONTROLS = {"label-shuffled": {"train_labels": "shuffled"}, "mean-pooling head": {"pooling": "mean"}}
"""Control fine-tunings by name: the settings that turn a run into its control (the same run otherwise).
``label-shuffled``: the same texts with their labels permuted (what running the optimiser does without the task);
``mean-pooling head``: the head reads the mean of the last layer instead of [CLS] (how much of the change is
fine-tuning moving the readout away from the one a mean-pooled sentence encoder was trained for)."""
SHUFFLE_SEED_OFFSET = 7919
"""The permutation of a label-shuffled run is seeded by its seed + this offset (not the seed itself, which also
draws its subsample and initialises its head)."""


def shuffled_labels(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``df`` with its ``label`` column permuted (seeded by ``seed`` + :data:`SHUFFLE_SEED_OFFSET`): the same
    labels in the same proportions, no longer tied to their texts.  Fine-tuning on it is the label-shuffled
    control: everything a real run does (learning rate, epochs, steps, head) but learning the task."""
    rng = np.random.default_rng(seed + SHUFFLE_SEED_OFFSET)
    return df.assign(label=rng.permutation(df.label.to_numpy()))


ACCURACY_FLOORS = {"mr": 0.78, "bshift": 0.65}
"""Test accuracy below which a default run would be too weakly fine-tuned to speak for the paper's claims (the
claims-ledger issue's floors); chapter 01 reports every run against them."""

# The fine-tuning settings a chapter takes whole, as its ``finetune`` parameter (a dict of overrides of the
# defaults above); model, task and seed are the chapters' own parameters.
SETTINGS = tuple(f for f in FinetuneConfig.__dataclass_fields__ if f not in ("model", "task", "seed"))


def check_settings(finetune) -> dict:
    """The ``finetune`` parameter of a chapter, checked: a dict (or None) whose keys are :data:`SETTINGS`."""
    if finetune is None:
        return {}
    if not isinstance(finetune, dict):
        raise checks.ParameterError(f"finetune={finetune!r} is not valid; it must be a dict of fine-tuning settings "
                                    f"(keys: {', '.join(SETTINGS)}), e.g. {{'epochs': 3.0}}")
    unknown = sorted(set(finetune) - set(SETTINGS))
    if unknown:
        raise checks.ParameterError(f"finetune has unknown key(s) {', '.join(map(repr, unknown))}; "
                                    f"valid keys: {', '.join(SETTINGS)}")
    return dict(finetune)


@dataclass
class FinetuneRun:
    path: Path
    config: dict
    metrics: dict
    log: pd.DataFrame = field(repr=False)

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, directory) of every intermediate checkpoint, in training order."""
        d = self.path / "checkpoints"
        return sorted((int(p.name.split("-")[1]), p) for p in d.glob("step-*")) if d.is_dir() else []

    def classifier(self):
        """The fine-tuned sequence classifier (safetensors, eval mode; the mean-pooling class where the run's head
        reads the mean: :func:`helpers.models.classifier_class`)."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_dir, trust_remote_code=False, local_files_only=True)
        return models.classifier_class(config).from_pretrained(
            self.model_dir, config=config, use_safetensors=True, trust_remote_code=False, local_files_only=True).eval()

    @property
    def total_steps(self) -> int:
        return int(self.metrics["steps"])


def validate(cfg: FinetuneConfig) -> tuple[models.ModelSpec, tasks.TaskSpec, pd.DataFrame]:
    """Check every parameter before any training; returns the model spec, task spec and task table."""
    tspec = tasks.spec(cfg.task)
    checks.positive("epochs", cfg.epochs)
    checks.positive("learning_rate", cfg.learning_rate)
    checks.positive("batch_size", cfg.batch_size, integer=True)
    checks.positive("max_length", cfg.max_length, integer=True)
    checks.positive("evals_per_epoch", cfg.evals_per_epoch, integer=True)
    checks.positive("nproc", cfg.nproc, integer=True)
    if cfg.batch_size % cfg.nproc:
        raise checks.ParameterError(f"batch_size={cfg.batch_size} is not valid with nproc={cfg.nproc}; batch_size is "
                                    f"the global batch and must be a multiple of nproc")
    if not (isinstance(cfg.checkpoints, int) and cfg.checkpoints >= 0):
        raise checks.ParameterError(f"checkpoints={cfg.checkpoints!r} is not valid; it must be an integer >= 0")
    if not 0 <= cfg.warmup_ratio < 1:
        raise checks.ParameterError(f"warmup_ratio={cfg.warmup_ratio!r} is not valid; it must be in [0, 1)")
    checks.choice("train_labels", cfg.train_labels, TRAIN_LABELS)
    if cfg.weight_decay < 0:
        raise checks.ParameterError(f"weight_decay={cfg.weight_decay!r} is not valid; it must be >= 0")
    mspec = models.resolve(cfg.model)
    models.check_pooling(mspec, cfg.pooling)
    limit = models.max_length(mspec)
    if cfg.max_length > limit:
        raise checks.ParameterError(f"max_length={cfg.max_length} is above the limit of model {cfg.model!r}; it must be <= {limit}")
    df = tasks.load(cfg.task, split_seed=cfg.split_seed, glue_dir=cfg.glue_dir)
    n_train = int((df.split == "train").sum())
    need = 2 if tspec.regression else tspec.num_labels
    if cfg.train_size is not None:
        if not isinstance(cfg.train_size, int) or cfg.train_size < need:
            raise checks.ParameterError(
                f"train_size={cfg.train_size!r} is too small; it must be an integer >= {need} "
                f"(the number of classes of task {cfg.task!r}) or None for all {n_train}")
        if cfg.train_size > n_train:
            raise checks.ParameterError(f"train_size={cfg.train_size} is larger than the train split of {cfg.task!r} ({n_train}); use <= {n_train} or None")
    if cfg.eval_size is not None and (not isinstance(cfg.eval_size, int) or cfg.eval_size < need):
        raise checks.ParameterError(f"eval_size={cfg.eval_size!r} is not valid; it must be an integer >= {need} or None")
    return mspec, tspec, df


def data_settings(finetune) -> dict:
    """``split_seed`` and ``glue_dir`` of a chapter's ``finetune`` parameter (for chapters that read the
    tasks' splits without fine-tuning)."""
    return FinetuneConfig(**check_settings(finetune)).data


def configs_for(model: str, tasks_, seeds, finetune: dict | None = None) -> dict[tuple[str, int], FinetuneConfig]:
    """Validated configurations ``{(task, seed): FinetuneConfig}`` for every task and fine-tuning seed, all
    checked before any training.  Settings: :class:`FinetuneConfig`'s defaults, then the budget the model
    ships (:func:`helpers.models.finetune_defaults`, chosen on validation by :mod:`helpers.budget`), then
    ``finetune``.  The one place where a chapter's ``model``, ``tasks``, ``seeds`` (or
    ``[seed]``) and ``finetune`` parameters become runs: every chapter given the same values resolves the
    same runs (errors name the chapters' parameters)."""
    settings = check_settings(finetune)
    names, seed_list = checks.as_list(tasks_), checks.as_list(seeds)
    if not names:
        raise checks.ParameterError(f"tasks={tasks_!r} is not valid; name at least one of: {', '.join(tasks.TASKS)} "
                                    f"(or a file of labelled sentences, or hf:NAME)")
    if (not seed_list or not all(isinstance(x, int) and not isinstance(x, bool) for x in seed_list)
            or len(set(seed_list)) < len(seed_list)):
        raise checks.ParameterError(f"seeds={seeds!r} is not valid; it must be a non-empty list of distinct integers")
    defaults = models.finetune_defaults(models.resolve(model))     # a budget the model ships, else the book's
    out = {(t, s): FinetuneConfig(model=model, task=t, seed=s, **{**defaults, **settings}) for t in names for s in seed_list}
    for cfg in out.values():
        validate(cfg)
    return out


def configs_for_models(models_, tasks_, seeds, finetune: dict | None = None) -> dict[tuple[str, str, int], FinetuneConfig]:
    """:func:`configs_for` for several models with one ``finetune`` dict: ``{(model, task, seed): config}``, every
    model resolved and every setting checked before any training (a chapter that compares models)."""
    names = [m for m in checks.as_list(models_) if m]
    if not names or len(set(names)) < len(names):
        raise checks.ParameterError(f"models={models_!r} is not valid; name one or more distinct models "
                                    f"(registered: {', '.join(models.REGISTERED)}, a local directory, or a hub id)")
    return {(m, t, s): cfg for m in names for (t, s), cfg in configs_for(m, tasks_, seeds, finetune).items()}


def budget_sentence(models_, configs: dict, finetune: dict | None = None) -> str:
    """Each model's budget in words (one bullet per model), saying which settings came from a budget the model
    ships (chosen on validation by :mod:`helpers.budget`) rather than the book's defaults or ``finetune``."""
    lines = []
    for m in checks.as_list(models_):
        cfg = next(c for (name, _, _), c in configs.items() if name == m)
        shipped = {k: v for k, v in models.finetune_defaults(models.resolve(m)).items() if k not in (finetune or {})}
        note = (f" ({', '.join(sorted(shipped))} chosen on the validation split for this model: "
                f"`{models.BUDGET_FILE}` beside its weights)" if shipped else "")
        lines.append(f"- **{m}**: {cfg.describe()}{note}.")
    return "\n".join(lines)


def configs_by_task(model: str, tasks_, seed: int, finetune: dict | None = None) -> dict[str, FinetuneConfig]:
    """:func:`configs_for` with one fine-tuning seed, keyed by task (chapters with a ``seed`` parameter)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise checks.ParameterError(f"seed={seed!r} is not valid; it must be an integer")
    return {t: cfg for (t, _), cfg in configs_for(model, tasks_, [seed], finetune).items()}


def subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """A seeded subsample of ``n`` rows, stratified by label for classification (None: all rows)."""
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    strat = df.label if df.label.dtype.kind in "iub" else None
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(df, train_size=n, random_state=seed, stratify=strat)
    return keep.sort_index().reset_index(drop=True)


def _encode(tok, df: pd.DataFrame, max_length: int, regression: bool):
    import datasets

    enc = tok(df.text.tolist(), tasks.second_texts(df), truncation=True, max_length=max_length)
    cols = {k: enc[k] for k in enc.keys()}
    cols["labels"] = df.label.astype("float32" if regression else "int64").tolist()
    cols["length"] = [len(x) for x in enc["input_ids"]]
    return datasets.Dataset.from_dict(cols)


def _metrics(logged: dict, prefix: str, names) -> dict:
    """The task's metrics among the trainer's ``{prefix}_{name}`` entries, by name."""
    return {k[len(prefix) + 1:]: v for k, v in logged.items() if k.startswith(prefix + "_") and k[len(prefix) + 1:] in names}


def _trainer_callback(checkpoint_steps: set[int], out: Path, meter: progress.Meter | None = None):
    from transformers import TrainerCallback

    class Checkpoints(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            if meter is not None and state.is_world_process_zero:
                meter.start()

        def on_step_end(self, args, state, control, model=None, **kw):
            if state.global_step in checkpoint_steps and state.is_world_process_zero:
                model.save_pretrained(out / f"step-{state.global_step:05d}")
            if meter is not None and state.is_world_process_zero:
                meter.step(state.global_step)

    return Checkpoints()


def load(path: Path) -> FinetuneRun:
    path = Path(path)
    if not cache.is_done(path):
        raise FileNotFoundError(f"{path} is not a finished fine-tuning run")
    metrics = json.loads((path / "metrics.json").read_text())
    return FinetuneRun(path, metrics["config"], metrics, pd.read_csv(path / "log.csv"))


def run_dir(cfg: FinetuneConfig, mspec: models.ModelSpec | None = None, table: pd.DataFrame | None = None) -> Path:
    mspec = mspec or models.resolve(cfg.model)
    return cache.artifact_dir("finetune", f"{mspec.slug}-{tasks.slug(cfg.task)}", cfg.key_spec(mspec, table))


def finetune(cfg: FinetuneConfig | None = None, **overrides) -> FinetuneRun:
    """Fine-tune (or load the cached run) and return it; see the module doc for the artifact."""
    cfg = FinetuneConfig(**{**asdict(cfg or FinetuneConfig()), **overrides})
    mspec, tspec, df = validate(cfg)
    final = run_dir(cfg, mspec, df)
    if cache.is_done(final):
        return load(final)
    refuse_training_if_prebuilt(f"fine-tuning run {final.name}")
    if cfg.nproc > 1 and _world_size() == 1:
        _launch(cfg)                      # torchrun: every rank trains, rank 0 writes the artifact
        return load(final)
    _train(cfg, mspec, tspec, df, final)
    return load(final)


NO_TRAINING = "ISOBOOK_NO_TRAINING"
"""Set by ``make book`` while the chapters execute: their runs were built in the artifact stage before, so a
chapter that would train has asked for a run the stage did not build (a bug, not a slow machine)."""


def refuse_training_if_prebuilt(what: str) -> None:
    import os

    if os.environ.get(NO_TRAINING, "0") == "1":
        raise RuntimeError(f"{what} is not in the cache, but {NO_TRAINING}=1: the book's artifact stage "
                           f"(helpers.book.artifact_sweeps) should have built it before the chapters executed. "
                           f"Add the chapter's runs to the stage, or unset {NO_TRAINING} to train here.")


def _world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def _launch(cfg: FinetuneConfig) -> None:
    """``torchrun --standalone --nproc_per_node=N -m helpers.finetune CONFIG``, waited for.  On a CPU-only
    machine each process gets cores // N threads (the gloo backend; a test runs 2 processes this way)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // cfg.nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={cfg.nproc}",
           "-m", "helpers.finetune", json.dumps(asdict(cfg))]
    res = subprocess.run(cmd, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"torchrun with nproc={cfg.nproc} failed (rc={res.returncode}):\n{(res.stdout + res.stderr)[-4000:]}")


def _scratch():
    """A private temporary directory (ranks other than 0 train into it; only rank 0 publishes)."""
    import tempfile
    from contextlib import contextmanager

    @contextmanager
    def scratch():
        d = Path(tempfile.mkdtemp(prefix="isobook-rank-"))
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return scratch()


def _weights_digest(model) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


TRAIN_THREADS = 1
"""Threads of torch's and the BLAS pools while a run trains on a CPU (:func:`helpers.cache.fixed_threads`, restored
after).  Reductions split over threads add in another order, so with the machine's core count a run's weights
would depend on the machine (``tests/test_finetune.py`` shows two processes of 1 and 2 threads training the same
bytes); one thread is the count every machine has.  Throughput is kept by running one run per core
(:func:`helpers.book.build_artifacts`; measured on 2 cores, ``benchmarks/finetune_workers.py``: two one-thread runs
side by side 1.13x the tokens/s of one two-thread run).  On a GPU the CPU pools are left as they are."""


def _train(cfg: FinetuneConfig, mspec, tspec, df, final: Path) -> None:
    """Train one run into ``final`` (in one process, or as one rank of a torchrun launch), on a CPU with
    :data:`TRAIN_THREADS` threads."""
    from contextlib import nullcontext

    with cache.fixed_threads(TRAIN_THREADS) if models.device() == "cpu" else nullcontext():
        _train_here(cfg, mspec, tspec, df, final)


def _train_here(cfg: FinetuneConfig, mspec, tspec, df, final: Path) -> None:
    import os

    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    set_seed(cfg.seed)
    tok = models.load_tokenizer(mspec)
    train = subsample(tasks.split(df, "train"), cfg.train_size, cfg.seed)
    if cfg.train_labels == "shuffled":
        train = shuffled_labels(train, cfg.seed)
    val = subsample(tasks.split(df, "validation"), cfg.eval_size, cfg.seed)
    test = tasks.split(df, "test")
    ds_train, ds_val, ds_test = (_encode(tok, d, cfg.max_length, tspec.regression) for d in (train, val, test))
    steps_per_epoch = int(np.ceil(len(ds_train) / cfg.batch_size))
    total = int(np.ceil(steps_per_epoch * cfg.epochs))
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    ckpt_steps = {int(round(total * i / (cfg.checkpoints + 1))) for i in range(1, cfg.checkpoints + 1)} - {0, total}

    def metrics_fn(p):
        logits, labels = p.predictions, p.label_ids
        preds = logits.squeeze(-1) if tspec.regression else logits.argmax(-1)
        return tasks.compute_metrics(cfg.task, preds, labels)

    rank = int(os.environ.get("RANK", "0"))
    mean_tokens = float(np.mean(ds_train["length"])) if len(ds_train) else 0.0
    meter = progress.Meter(f"finetune {cfg.model} {cfg.task} seed {cfg.seed}", total,
                           {"examples": cfg.batch_size, "tokens": cfg.batch_size * mean_tokens})
    with (cache.building(final, cfg.key_spec(mspec, df)) if rank == 0 else _scratch()) as tmp:
        model = models.load_classifier(mspec, tspec.num_labels, tspec.regression, cfg.pooling)
        args = TrainingArguments(
            output_dir=str(tmp / "trainer"), num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.batch_size // cfg.nproc, per_device_eval_batch_size=max(64, cfg.batch_size),
            average_tokens_across_devices=False,   # else transformers 5 scales the loss by the world size
            warmup_steps=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed,
            train_sampling_strategy="group_by_length", eval_strategy="steps", eval_steps=eval_every,
            logging_steps=max(1, eval_every // 2), logging_first_step=True, save_strategy="no",
            report_to="none", disable_tqdm=progress.quiet(), optim="adamw_torch_fused", use_cpu=models.device() == "cpu",
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
            dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val,
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=metrics_fn,
                          callbacks=[_trainer_callback(ckpt_steps, tmp / "checkpoints", meter)])
        if progress.quiet():  # no per-step log dicts in tests and in the built book
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        t0 = time.time()
        trainer.train()
        seconds = time.time() - t0
        # the trainer evaluated the validation split at the last step: its log holds the final validation metrics
        last_eval = [e for e in trainer.state.log_history if e.get("step") == total and any(k.startswith("eval_") for k in e)][-1]
        final_metrics = {"validation": _metrics(last_eval, "eval", tspec.metrics),
                         "test": _metrics(trainer.evaluate(ds_test, metric_key_prefix="test"), "test", tspec.metrics)}
        digests = [_weights_digest(trainer.model)]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            digests = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(digests, _weights_digest(trainer.model))
        if rank != 0:
            return
        trainer.model.save_pretrained(str(tmp / "model"))  # safetensors; Trainer.save_model would add a pickle
        tok.save_pretrained(str(tmp / "model"))
        (tmp / "training_args.json").write_text(args.to_json_string())
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        log = pd.DataFrame(trainer.state.log_history)
        log.to_csv(tmp / "log.csv", index=False)
        cache.write_json_atomic(tmp / "metrics.json", {
            **final_metrics, "config": asdict(cfg), "model_location": mspec.location, "steps": total,
            "train_examples": len(ds_train), "train_seconds": round(seconds, 1),
            "checkpoint_steps": sorted(ckpt_steps), "primary_metric": tspec.primary_metric,
            "code": cache.code_digest("finetune"), "torch_threads": torch.get_num_threads(),
            "world_size": args.world_size, "rank_weight_digests": digests})


def training_curves(run: FinetuneRun) -> pd.DataFrame:
    """Long table (step, series, value) of the training loss and the validation metrics."""
    log = run.log
    rows = []
    if "loss" in log:
        d = log.dropna(subset=["loss"])
        rows += [{"step": s, "series": "train loss", "value": v} for s, v in zip(d.step, d.loss)]
    if "eval_loss" in log:
        d = log.dropna(subset=["eval_loss"])
        rows += [{"step": s, "series": "validation loss", "value": v} for s, v in zip(d.step, d.eval_loss)]
    for m in tasks.spec(run.config["task"]).metrics:
        col = f"eval_{m}"
        if col in log:
            d = log.dropna(subset=[col])
            rows += [{"step": s, "series": f"validation {m}", "value": v} for s, v in zip(d.step, d[col])]
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """Entry point of one torchrun process: ``python -m helpers.finetune '<FinetuneConfig as JSON>'``."""
    import sys

    cfg = FinetuneConfig(**json.loads((argv or sys.argv[1:])[0]))
    mspec, tspec, df = validate(cfg)
    _train(cfg, mspec, tspec, df, run_dir(cfg, mspec, df))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
