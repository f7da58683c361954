"""A researcher's own labelled sentences through chapters 00-06 with one parameter (`tasks`): a generated CSV
of a classification task and one of a regression task, on small budgets.  Not collected itself: each kind has
its own test file (test_own_data_classification.py, test_own_data_regression.py), so that pytest-xdist's
``--dist loadfile`` runs the two (about 5 min each) on two workers."""
import numpy as np
import pandas as pd

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


def own_csv_runs_through_chapters_00_to_06(kind, tmp_path, monkeypatch):
    """Chapters 00-06 on the CSV; for the classification task chapter 02 measures and the ledger (06) decides
    every claim on the book's MLM encoder too (chapters 03-05 decide C2-C7 on both;
    ``more_models=["mlm"]``: fine-tuned on the same task and seeds,
    measured on the same sentences), and the ledger compares the two objectives (the difference of the headline
    effects, paired by replicate, Holm-adjusted)."""
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    f = _own_file(tmp_path / f"own-{kind}.csv", kind == "regression")
    for nb in CHAPTERS:
        declared = run.notebook_parameters(run.find_notebook(nb))
        more = ([] if kind != "classification" else ["mlm"] if nb in ("02", "03", "04", "05") else
                ["minilm"] if nb == "06" else [])      # the ledger leads with the MLM encoder, MiniLM beside it
        params = {k: v for k, v in {**SMALL, "tasks": [str(f)], "more_models": more}.items() if k in declared}
        out = run.execute(nb, params, set_name=f"own-{kind}", timeout=900)
        assert out.is_file()
        if nb == "02" and more:   # both objectives side by side: a C1 verdict and a line per model
            text = out.read_text()
            assert "*On minilm:*" in text and "*On mlm:*" in text and "**mlm, " in text
        if nb == "03" and more:   # C2 per model
            text = out.read_text()
            assert text.count("*On mlm:*") == 1 and "*On minilm:*" in text
        if nb == "04" and more:   # C3 and C4 per model
            text = out.read_text()
            assert text.count("*On mlm:*") == 2 and "**mlm, " in text
        if nb == "05" and more:   # C5-C7 per model, the costliest method of each model's head
            text = out.read_text()
            assert text.count("*On mlm:*") == 3 and "mlm's fine-tuned head loses the most" in text
        if nb == "06":            # the default label-shuffled control, run on the user's task and seeds
            text = out.read_text()
            assert f"label-shuffled fine-tuning on own-{kind} (control)" in text
            assert f"**label-shuffled** (on own-{kind}): " in text
    if kind == "classification":
        text = out.read_text()
        assert "mlm - minilm [95% interval]" in text and "verdict: minilm" in text
        assert "label-shuffled on own-classification: mlm" in text     # the control of each objective
        assert "get the same decisive verdict (both supported or both contradicted) on mlm and minilm" in text   # glued

