"""A model's fine-tuning budget chosen on validation: the rule, the record, its use by every chapter, and the
shipped MLM model's budget (the third floor of its issue: fine-tuned, it beats its own frozen features)."""
import json

import pandas as pd
import pytest

from helpers import budget as B, finetune as F, models, paths

GRID = {"learning_rate": (1e-4, 3e-4), "epochs": (1.0, 2.0)}


def _table(validation: dict, test: dict | None = None) -> pd.DataFrame:
    rows = []
    for (lr, ep), vals in validation.items():
        for seed, v in enumerate(vals):
            t = (test or {}).get((lr, ep), vals)[seed]
            rows.append({"epochs": ep, "learning_rate": lr, "seed": seed, "validation": v, "test": t,
                         "train_seconds": 1.0})
    return pd.DataFrame(rows)


def test_settings_run_smallest_budget_first():
    assert B.settings(GRID) == [{"epochs": 1.0, "learning_rate": 1e-4}, {"epochs": 1.0, "learning_rate": 3e-4},
                                {"epochs": 2.0, "learning_rate": 1e-4}, {"epochs": 2.0, "learning_rate": 3e-4}]


def test_choice_reads_validation_only_and_breaks_ties_to_the_smaller_budget():
    val = {(1e-4, 1.0): [0.60, 0.62, 0.64], (3e-4, 1.0): [0.70, 0.70, 0.70],
           (1e-4, 2.0): [0.65, 0.66, 0.67], (3e-4, 2.0): [0.69, 0.70, 0.71]}    # (3e-4, 2.0) ties (3e-4, 1.0)
    test = {**val, (1e-4, 2.0): [0.99, 0.99, 0.99]}                               # test would pick another
    assert B.choose(_table(val, test), GRID) == {"epochs": 1.0, "learning_rate": 3e-4}
    val[(3e-4, 2.0)] = [0.70, 0.71, 0.72]
    assert B.choose(_table(val), GRID) == {"epochs": 2.0, "learning_rate": 3e-4}
    with pytest.raises(ValueError, match="none of the grid"):
        B.choose(_table({(5e-5, 3.0): [0.5]}), GRID)


def _local_model(tmp_path):
    """A local model directory: the shipped MLM's files linked, so it resolves like any user's directory."""
    d = tmp_path / "model"
    d.mkdir()
    for f in (paths.MODELS / "mlm").iterdir():
        if f.is_file() and f.suffix in (".json", ".safetensors") and not f.name.startswith("finetune-budget"):
            (d / f.name).symlink_to(f)
    return d


def test_a_shipped_budget_is_every_chapters_default_and_the_finetune_dict_overrides_it(tmp_path):
    d = _local_model(tmp_path)
    assert models.finetune_defaults(models.resolve(str(d))) == {}
    plain = F.configs_for(str(d), ["mr"], [0])[("mr", 0)]
    assert (plain.learning_rate, plain.epochs) == (F.FinetuneConfig.learning_rate, F.FinetuneConfig.epochs)
    val = {(1e-4, 1.0): [0.6], (3e-4, 1.0): [0.6], (1e-4, 2.0): [0.6], (3e-4, 2.0): [0.8]}
    record = B.write(d, _table(val), frozen_features=0.7)
    assert record["chosen"] == {"epochs": 2.0, "learning_rate": 3e-4}
    table, again = B.read(d)
    assert again["chosen"] == B.choose(table) and again["frozen_features"] == 0.7
    cfg = F.configs_for(str(d), ["mr"], [0, 1])[("mr", 1)]
    assert (cfg.learning_rate, cfg.epochs, cfg.batch_size) == (3e-4, 2.0, F.FinetuneConfig.batch_size)
    mine = F.configs_for(str(d), ["mr"], [0], {"learning_rate": 5e-5})[("mr", 0)]
    assert (mine.learning_rate, mine.epochs) == (5e-5, 2.0)
    both = F.configs_for_models([str(d)], ["mr"], [0], {"learning_rate": 5e-5})
    text = F.budget_sentence([str(d)], both, {"learning_rate": 5e-5})
    assert "2 epochs at learning rate 5e-05" in text and "epochs chosen on the validation split" in text
    assert "learning_rate" not in text


def test_the_shipped_mlm_budget_was_chosen_on_validation_and_beats_frozen_features():
    """The record agrees with its table under the rule; with the chosen budget the MLM model fine-tuned on MR
    beats a classifier on its own frozen features in the mean over the book's 3 seeds and in every seed."""
    d = paths.MODELS / "mlm"
    table, record = B.read(d)
    assert record["chosen"] == B.choose(table, {k: tuple(v) for k, v in record["grid"].items()})
    assert record["seeds"] == [0, 1, 2] and record["task"] == "mr"
    assert models.finetune_defaults(models.resolve("mlm")) == record["chosen"]
    rows = table[(table.learning_rate == record["chosen"]["learning_rate"]) & (table.epochs == record["chosen"]["epochs"])]
    assert len(rows) == 3
    assert rows.test.mean() > record["frozen_features"] and rows.test.min() > record["frozen_features"]
    assert json.loads((d / "finetune-budget.json").read_text())["criterion"] == B.CRITERION
