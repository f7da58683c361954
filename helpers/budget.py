"""A model's fine-tuning budget, chosen on the validation split (never on test), and shipped beside its weights.

The book's default budget (:class:`~helpers.finetune.FinetuneConfig`: one epoch at learning rate 1e-4) was set
for MiniLM.  A small encoder pre-trained from scratch on 25M tokens needs another: Turc et al. (2019, "Well-Read
Students Learn Better", the BERT miniatures) choose each small BERT's learning rate from {3e-4, 1e-4, 5e-5, 3e-5}
per task, and the smallest models take the largest.  The book measures its own grid on one task and picks, for
each model that ships a budget, the setting with the highest **mean validation** metric over the fine-tuning
seeds (ties: the smaller budget, fewer epochs first, then the lower learning rate).  The test split is read only
after the choice, and reported beside it.

``python -m helpers.budget [MODEL]`` (default ``mlm``) runs the grid (cached fine-tuning runs, resumable) and
writes ``finetune-budget.csv`` (one row per setting and seed: validation and test metric, seconds) and
``finetune-budget.json`` (the grid, the seeds, the task, the criterion, the chosen setting) into the model's
directory.  :func:`~helpers.finetune.configs_for` reads the chosen setting (:func:`helpers.models.finetune_defaults`)
as that model's defaults; a chapter's ``finetune`` dict still overrides any of them.
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pandas as pd

from . import cache, finetune as F, models, tasks

GRID = {"learning_rate": (1e-4, 3e-4), "epochs": (1.0, 2.0)}
SEEDS = (0, 1, 2)
TASK = "mr"
FILES = ("finetune-budget.csv", models.BUDGET_FILE)
CRITERION = "highest mean validation metric over the seeds; ties: fewer epochs, then the lower learning rate"


def settings(grid: dict = GRID) -> list[dict]:
    """Every combination of the grid's values, in the order of the tie-break (smallest budget first)."""
    keys = sorted(grid, key=lambda k: (k != "epochs", k))
    return [dict(zip(keys, values)) for values in itertools.product(*(sorted(grid[k]) for k in keys))]


def grid_table(model: str, task: str = TASK, seeds=SEEDS, grid: dict = GRID, base: dict | None = None,
               say=print) -> pd.DataFrame:
    """One row per setting and seed: the run's validation and test primary metric and its training seconds.
    ``base``: further fine-tuning settings shared by every run (tests use tiny runs)."""
    metric = tasks.spec(task).primary_metric
    rows = []
    for setting in settings(grid):
        for seed in seeds:
            cfg = F.FinetuneConfig(**{**(base or {}), "model": model, "task": task, "seed": seed, "checkpoints": 0,
                                      **setting})
            run = F.finetune(cfg)
            rows.append({**setting, "seed": seed, "validation": run.metrics["validation"][metric],
                         "test": run.metrics["test"][metric], "train_seconds": run.metrics["train_seconds"]})
            say(f"[budget {model} {task}] {setting} seed {seed}: validation {rows[-1]['validation']:.3f}")
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, grid: dict = GRID) -> dict:
    """The setting with the highest mean validation metric (:data:`CRITERION`); the test column is not read."""
    keys = list(settings(grid)[0])
    means = table.groupby(keys, sort=False).validation.mean()
    best, chosen = None, None
    for setting in settings(grid):                  # smallest budget first: a tie keeps the earlier one
        v = means.get(tuple(setting[k] for k in keys))
        if v is not None and (best is None or v > best):
            best, chosen = v, setting
    if chosen is None:
        raise ValueError("the budget table holds none of the grid's settings")
    return chosen


def write(directory, table: pd.DataFrame, task: str = TASK, grid: dict = GRID, frozen_features: float | None = None) -> dict:
    """Write the table and the record (the chosen setting; ``frozen_features``: the test metric of the same
    model's frozen-feature classifier, the floor a fine-tuned model must beat) into ``directory``; returns the
    record."""
    directory = Path(directory)
    record = {"task": task, "grid": {k: list(v) for k, v in grid.items()},
              "seeds": sorted(int(s) for s in table.seed.unique()), "criterion": CRITERION,
              "chosen": choose(table, grid), "frozen_features": frozen_features, "code": cache.code_digest("budget")}
    tmp = directory / f".{FILES[0]}.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(directory / FILES[0])
    cache.write_json_atomic(directory / FILES[1], record)
    return record


def read(directory) -> tuple[pd.DataFrame, dict]:
    """The shipped table and record."""
    directory = Path(directory)
    return pd.read_csv(directory / FILES[0]), json.loads((directory / FILES[1]).read_text())


def main(argv=None) -> None:
    model = (argv if argv is not None else sys.argv[1:]) or ["mlm"]
    spec = models.resolve(model[0])
    if not spec.local:
        raise SystemExit(f"model={model[0]!r}: a budget is shipped beside local weights only")
    from . import baseline

    metric = tasks.spec(TASK).primary_metric
    frozen = baseline.frozen_baseline(model[0], TASK)["test"][metric]
    record = write(spec.location, grid_table(model[0]), frozen_features=frozen)
    print(f"[budget] {model[0]}: chosen {record['chosen']} ({CRITERION}); written to {spec.location}")


if __name__ == "__main__":
    main()
