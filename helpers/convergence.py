"""Did a fine-tuning run reach a plateau of its validation score?  A rule declared before it is applied, read
from the run's training log.

A run is **on a plateau** at its last step when, over the last quarter of its steps (the window :data:`WINDOW`),
its validation score gained less than the noise of that score: the last evaluation minus the best evaluation at
or before 75% of the steps is below :data:`NOISE_MULTIPLE` binomial standard errors of the last score on the
evaluated examples, sqrt(p (1 - p) / n) (for scores in [0, 1]; a regression score uses
:data:`REGRESSION_TOLERANCE`).  Otherwise it is **still improving**: more steps would likely have changed the
fine-tuned model and the geometry the chapters measure.  The relative drop of the training loss between the
quarter before the window and the window (means of the logged losses) is reported beside it, not deciding: a
training loss that keeps falling while the validation score stays is the fit of the training set going on.  A run
with no evaluation before or inside the window is *not measured*.  The rule reports; it does not stop training
(the book's default budget is fixed, ``helpers.finetune.FinetuneConfig``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import tasks

WINDOW = 0.25
"""The last fraction of the steps the rule looks at."""
NOISE_MULTIPLE = 2.0
"""A validation gain below this many binomial standard errors of the score is noise."""
REGRESSION_TOLERANCE = 0.01
"""For a regression score (not a proportion): a gain below this counts as no gain."""
ON_PLATEAU, IMPROVING, NOT_MEASURED = "on a plateau", "still improving", "not measured"


def plateau(log: pd.DataFrame, total_steps: int, metric: str, n_eval: int, regression: bool = False) -> dict:
    """The rule of this module on one training log (columns step, loss, ``eval_<metric>`` as the Hugging Face
    ``Trainer`` writes them) of a run of ``total_steps`` steps whose validation score is measured on ``n_eval``
    examples.  Returns the last score, its gain over the window, the noise it is compared with, the relative drop
    of the training loss, and the verdict."""
    start = total_steps * (1 - WINDOW)
    col = f"eval_{metric}"
    evals = log.dropna(subset=[col])[["step", col]] if col in log else pd.DataFrame(columns=["step", col])
    evals = evals.drop_duplicates("step", keep="last").sort_values("step")
    before, inside = evals[evals.step <= start], evals[evals.step > start]
    losses = log.dropna(subset=["loss"])[["step", "loss"]] if "loss" in log else pd.DataFrame(columns=["step", "loss"])
    prev_q = losses[(losses.step > total_steps * (1 - 2 * WINDOW)) & (losses.step <= start)].loss
    last_q = losses[losses.step > start].loss
    out = {"last score": np.nan, "gain in the last quarter": np.nan, "noise": np.nan,
           "training loss drop in the last quarter": np.nan, "verdict": NOT_MEASURED}
    if before.empty or inside.empty:
        return out
    last = float(inside[col].iloc[-1])
    gain = last - float(before[col].max())
    noise = (REGRESSION_TOLERANCE if regression or not 0 <= last <= 1 else
             NOISE_MULTIPLE * math.sqrt(max(last * (1 - last), 1e-12) / max(n_eval, 1)))
    drop = ((float(prev_q.mean()) - float(last_q.mean())) / abs(float(prev_q.mean()))
            if len(prev_q) and len(last_q) and float(prev_q.mean()) != 0 else np.nan)
    out.update({"last score": last, "gain in the last quarter": gain, "noise": noise,
                "training loss drop in the last quarter": drop, "verdict": ON_PLATEAU if gain < noise else IMPROVING})
    return out


def run_plateau(run) -> dict:
    """:func:`plateau` of a fine-tuning run (``helpers.finetune.FinetuneRun``), on its task's primary metric and
    the number of validation examples it was evaluated on."""
    spec = tasks.spec(run.config["task"])
    n_eval = run.config.get("eval_size") or 0
    if not n_eval:         # every validation example: read how many from the task's split
        n_eval = len(tasks.split(tasks.load(run.config["task"], split_seed=run.config.get("split_seed", 0),
                                            glue_dir=run.config.get("glue_dir")), "validation"))
    return plateau(run.log, run.total_steps, spec.primary_metric, n_eval, spec.regression)


def convergence_table(runs: dict) -> pd.DataFrame:
    """One row per run of ``{key: FinetuneRun}`` (key: (task, seed) or (model, task, seed)): :func:`run_plateau`
    with the run's model, task and seed."""
    rows = []
    for key, run in runs.items():
        model, task, seed = (key if len(key) == 3 else (run.config["model"], *key))
        rows.append({"model": model, "task": task, "seed": seed, **run_plateau(run)})
    return pd.DataFrame(rows)


def convergence_sentence(table: pd.DataFrame) -> str:
    """How many runs were on a plateau at their last step, naming those still improving."""
    from .words import count, number

    measured = table[table.verdict != NOT_MEASURED]
    if measured.empty:
        return "No run's log has enough evaluations to tell whether it reached a plateau."
    still = measured[measured.verdict == IMPROVING]
    head = (f"{len(measured) - len(still)} of {count(len(measured), 'run')} reached a plateau of the validation score "
            "by the rule of `helpers.convergence` (over the last quarter of the steps it gained less than "
            f"{number(NOISE_MULTIPLE)} standard errors of itself).")
    drops = measured["training loss drop in the last quarter"].dropna()
    if len(drops) and drops.min() > 0:
        head += (f" The training loss still fell by {number(100 * drops.min(), 2)}-{number(100 * drops.max(), 2)}% "
                 "over that quarter (from the mean of the quarter before): the fit of the training set went on.")
    elif len(drops):
        head += (f" The training loss changed by {number(-100 * drops.max(), 2, sign=True)}% to "
                 f"{number(-100 * drops.min(), 2, sign=True)}% over that quarter (from the mean of the quarter before).")
    if still.empty:
        return head
    names = "; ".join(f"{r.model} on {r.task}, seed {r.seed} (validation gain {number(r['gain in the last quarter'], sign=True)}"
                      f" against noise {number(r.noise)})"
                      for _, r in still.iterrows())
    return (head + f" Still improving at the last step: {names}. Their geometry is that of a run this budget "
            "stopped early, not of a converged one.")
