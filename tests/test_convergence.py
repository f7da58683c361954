"""The plateau rule of helpers.convergence on training logs of known shape: rising, flat, at its boundary, too
short to tell; the table and the sentence name the runs still improving."""
import math

import numpy as np
import pandas as pd
import pytest

from helpers import convergence as CV
from helpers.finetune import FinetuneRun


def _log(scores, losses=(0.7, 0.6, 0.5, 0.45), total=400, metric="accuracy"):
    """A Trainer-like log: one evaluation at the end of each of len(scores) equal parts, the loss logged at the
    middle of each of the four quarters."""
    steps = [round(total * (i + 1) / len(scores)) for i in range(len(scores))]
    rows = [{"step": s, f"eval_{metric}": v} for s, v in zip(steps, scores)]
    rows += [{"step": round(total * (q + 0.5) / 4), "loss": v} for q, v in enumerate(losses)]
    return pd.DataFrame(rows).sort_values("step")


def test_a_score_still_climbing_is_improving_and_a_flat_one_is_on_a_plateau():
    rising = CV.plateau(_log([0.5, 0.6, 0.7, 0.8]), 400, "accuracy", 500)
    assert rising["verdict"] == CV.IMPROVING and rising["gain in the last quarter"] == pytest.approx(0.1)
    flat = CV.plateau(_log([0.8, 0.82, 0.83, 0.835]), 400, "accuracy", 500)
    assert flat["verdict"] == CV.ON_PLATEAU and flat["gain in the last quarter"] == pytest.approx(0.005)
    falling = CV.plateau(_log([0.8, 0.84, 0.85, 0.8]), 400, "accuracy", 500)   # overfitting: worse, not better
    assert falling["verdict"] == CV.ON_PLATEAU and falling["gain in the last quarter"] < 0
    # the training loss is reported beside, never deciding: 0.5 in the third quarter, 0.45 in the last
    assert flat["training loss drop in the last quarter"] == pytest.approx(0.1)


@pytest.mark.parametrize("gain, verdict", [(0.039, CV.ON_PLATEAU), (0.041, CV.IMPROVING)])
def test_the_boundary_is_two_binomial_standard_errors_of_the_last_score(gain, verdict):
    """At p = 0.8 on 400 examples the noise is 2 sqrt(0.8 * 0.2 / 400) = 0.04."""
    out = CV.plateau(_log([0.6, 0.7, 0.8 - gain, 0.8]), 400, "accuracy", 400)
    assert out["noise"] == pytest.approx(2 * math.sqrt(0.8 * 0.2 / 400))
    assert out["verdict"] == verdict


def test_a_log_without_an_evaluation_before_the_last_quarter_is_not_measured():
    out = CV.plateau(_log([0.8]), 400, "accuracy", 500)
    assert out["verdict"] == CV.NOT_MEASURED and np.isnan(out["gain in the last quarter"])
    assert CV.plateau(pd.DataFrame({"step": [1], "loss": [0.7]}), 400, "accuracy", 500)["verdict"] == CV.NOT_MEASURED


def test_a_regression_score_uses_its_own_tolerance():
    small = CV.plateau(_log([0.5, 0.6, 0.70, 0.705], metric="pearson"), 400, "pearson", 500, regression=True)
    big = CV.plateau(_log([0.5, 0.6, 0.70, 0.75], metric="pearson"), 400, "pearson", 500, regression=True)
    assert small["noise"] == CV.REGRESSION_TOLERANCE and small["verdict"] == CV.ON_PLATEAU
    assert big["verdict"] == CV.IMPROVING


def test_table_and_sentence_name_the_runs_still_improving(tmp_path):
    def run(task, seed, scores):
        cfg = {"model": "minilm", "task": task, "seed": seed, "eval_size": 500, "split_seed": 0, "glue_dir": None}
        return FinetuneRun(tmp_path, cfg, {"steps": 400}, _log(scores))

    runs = {("mr", 0): run("mr", 0, [0.8, 0.82, 0.83, 0.835]), ("bshift", 0): run("bshift", 0, [0.5, 0.5, 0.6, 0.72])}
    table = CV.convergence_table(runs)
    assert list(table.verdict) == [CV.ON_PLATEAU, CV.IMPROVING] and list(table.model) == ["minilm", "minilm"]
    text = CV.convergence_sentence(table)
    assert text.startswith("1 of 2 runs reached a plateau") and "minilm on bshift, seed 0 (validation gain +0.12" in text
    assert "minilm on mr" not in text.split("Still improving")[1]
    assert "No run's log" in CV.convergence_sentence(table.assign(verdict=CV.NOT_MEASURED))
