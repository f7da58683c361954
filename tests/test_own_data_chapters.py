"""A researcher's own labelled sentences through chapters 00-06 with one parameter (`tasks`): a generated CSV
of a classification task and one of a regression task, on small budgets."""
import numpy as np
import pandas as pd
import pytest

from helpers import paths, run

CHAPTERS = ["00", "01", "02", "03", "04", "05", "06"]
SMALL = {"seeds": [0, 1, 2], "seed": 0, "more_models": [], "n_sentences": 40, "n_train_sentences": 40,
         "samples_per_seed": 1, "k_clusters": 4, "n_clusters": 4, "map_points": 200, "ks": [0, 1, 2],
         "methods": ["ZM", "Clustering+ZM", "ABTT"], "max_fit_tokens": 3000, "extract_max_length": 32,
         "finetune": {"epochs": 1.0, "batch_size": 16, "max_length": 32, "train_size": 64, "eval_size": 16,
                      "checkpoints": 1, "evals_per_epoch": 1}}


def _own_file(path, regression: bool):
    rng = np.random.default_rng(1)
    good, bad = ["fine", "great", "lovely", "moving", "sharp", "warm"], ["dull", "awful", "boring", "flat", "stale", "cold"]
    filler = ("the a this that film movie story plot cast score scene ending actor script pace tone camera light music "
              "was is felt seemed and but quite very rather so with without over under through about").split()
    rows = []
    for i in range(400):
        y = i % 2
        words = list(rng.choice(filler, rng.integers(4, 12))) + list(rng.choice(good if y else bad, 2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": (y * 3.0 + rng.normal(0, 0.3)) if regression else y})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_own_csv_runs_through_chapters_00_to_06(kind, tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    f = _own_file(tmp_path / f"own-{kind}.csv", kind == "regression")
    for nb in CHAPTERS:
        declared = run.notebook_parameters(run.find_notebook(nb))
        params = {k: v for k, v in {**SMALL, "tasks": [str(f)]}.items() if k in declared}
        out = run.execute(nb, params, set_name=f"own-{kind}", timeout=900)
        assert out.is_file()


def test_the_ledger_decides_every_claim_on_two_objectives_and_compares_them(tmp_path, tmp_cache, monkeypatch):
    """Chapter 06 with ``more_models=["mlm"]`` on a small own CSV: the book's MLM encoder is fine-tuned on the same
    task and seeds, every claim is decided on both models, and the comparison (the difference of the headline
    effects with its Welch interval) is on the page."""
    import nbformat

    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    f = _own_file(tmp_path / "own-two.csv", regression=False)
    declared = run.notebook_parameters(run.find_notebook("06"))
    params = {k: v for k, v in {**SMALL, "tasks": [str(f)], "more_models": ["mlm"]}.items() if k in declared}
    out = run.execute("06", params, set_name="own-two-objectives", timeout=900)
    text = "\n".join(str(o.get("data", {}).get("text/html", "")) + str(o.get("data", {}).get("text/markdown", ""))
                     for c in nbformat.read(out, 4).cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "minilm - mlm [95% Welch interval]" in text and "verdict: mlm" in text
    assert "get the same verdict on minilm and mlm" in out.read_text()      # the glued sentence
