"""Your own data as a task: files of labelled sentences (CSV, TSV, JSON Lines, Parquet) and hub datasets
(hf:NAME, online), checked before any heavy work with errors that name the file and the column."""
import json

import numpy as np
import pandas as pd
import pytest

from helpers import extract as E, finetune as F, models, tasks as T
from helpers.checks import ParameterError


def _sentences(n, seed=0):
    rng = np.random.default_rng(seed)
    good, bad = ["fine", "great", "lovely", "moving"], ["dull", "awful", "boring", "flat"]
    rows = []
    for i in range(n):
        y = i % 2
        w = (good if y else bad)[rng.integers(4)]
        rows.append({"text": f"the film number {i} was {w} and long", "label": y})
    return pd.DataFrame(rows)


@pytest.fixture
def csv_task(tmp_path):
    p = tmp_path / "mine.csv"
    _sentences(200).to_csv(p, index=False)
    return p


def test_classification_csv_is_a_task_like_mr(csv_task):
    s = T.spec(str(csv_task))
    assert s.num_labels == 2 and not s.regression and s.metrics == ("accuracy",) and "mine.csv" in s.description
    df = T.load(str(csv_task))
    assert list(df.columns) == ["text", "text_pair", "label", "split"]
    assert df.split.value_counts().to_dict() == {"train": 160, "validation": 20, "test": 20}
    assert df.label.dtype.kind == "i" and T.slug(str(csv_task)) == "mine" and T.key_name(str(csv_task)) == "file"


def test_regression_jsonl_pair_tsv_split_and_parquet(tmp_path):
    d = _sentences(120)
    reg = tmp_path / "scores.jsonl"
    reg.write_text("\n".join(json.dumps({"text": t, "text_pair": "a second sentence", "label": 0.5 + 0.01 * i})
                             for i, t in enumerate(d.text)))
    s = T.spec(str(reg))
    assert s.regression and s.num_labels == 1 and s.pair and s.primary_metric == "pearson"
    assert T.load(str(reg)).label.dtype.kind == "f"
    tsv = tmp_path / "given.tsv"
    d.assign(split=["train"] * 80 + ["validation"] * 20 + ["test"] * 20, label=d.label + 1).to_csv(tsv, sep="\t", index=False)
    df = T.load(str(tsv))
    assert (df.split.values[:80] == "train").all() and set(df.label) == {0, 1}     # labels 1, 2 re-indexed to 0, 1
    assert T.spec(str(tsv)).label_names == ("1", "2")
    pq, same = tmp_path / "mine.parquet", tmp_path / "same.csv"
    d.to_parquet(pq)
    d.to_csv(same, index=False)
    assert T.table_digest(T.load(str(pq))) == T.table_digest(T.load(str(same)))   # one table, two formats


@pytest.mark.parametrize("write, column, says", [
    (None, None, "no such file"),
    (lambda p: p.write_bytes(b"\x00\x01 not parquet"), None, "cannot be read as Parquet"),
    (lambda p: _sentences(50).rename(columns={"text": "sentence"}).to_parquet(p), None, "missing column(s) text"),
    (lambda p: _sentences(50).assign(text=[""] + ["x"] * 49).to_parquet(p), "'text'", "empty in 1 row"),
    (lambda p: _sentences(50).assign(label=[np.nan] + [1.0] * 49).to_parquet(p), "'label'", "missing or non-numeric"),
    (lambda p: _sentences(50).assign(label=["good"] * 50).to_parquet(p), "'label'", "non-numeric"),
    (lambda p: _sentences(50).assign(label=1).to_parquet(p), "'label'", "one class only"),
    (lambda p: _sentences(50).assign(split="train").to_parquet(p), "'split'", "no row for validation, test"),
    (lambda p: _sentences(50).assign(split="dev").to_parquet(p), "'split'", "value(s) ['dev']"),
    (lambda p: _sentences(4).to_parquet(p), None, "split has no rows"),
])
def test_bad_files_are_refused_naming_file_and_column(tmp_path, tmp_cache, write, column, says):
    p = tmp_path / "bad.parquet"
    if write:
        write(p)
    with pytest.raises(ParameterError) as e:
        F.configs_for("minilm", [str(p)], [0])                 # where a chapter checks its parameters
    msg = str(e.value)
    assert str(p) in msg and says in msg and (column is None or f"column {column}" in msg), msg
    assert not tmp_cache.exists()                              # nothing was built


def test_a_sample_larger_than_the_file_is_refused(csv_task):
    with pytest.raises(ParameterError, match=r"n_sentences=400 is larger than the 'test' split \(20 sentences\)"):
        E.sample_sentences(T.load(str(csv_task)), "test", 400, 0)


def test_file_runs_are_keyed_by_content_not_path(tmp_path, csv_task):
    spec = models.resolve("minilm")
    moved = tmp_path / "elsewhere" / "mine.csv"
    moved.parent.mkdir()
    moved.write_bytes(csv_task.read_bytes())
    relabelled = tmp_path / "relabelled" / "mine.csv"
    relabelled.parent.mkdir()
    _sentences(200).assign(label=lambda d: 1 - d.label).to_csv(relabelled, index=False)
    run = lambda p: F.run_dir(F.FinetuneConfig(task=str(p)), spec)
    assert run(csv_task) == run(moved) and run(csv_task) != run(relabelled)


def test_own_csv_fine_tunes_and_extracts(csv_task, tmp_cache):
    cfg = dict(task=str(csv_task), epochs=1.0, batch_size=16, max_length=24, train_size=32, eval_size=16, checkpoints=0)
    r = F.finetune(**cfg)
    assert 0 <= r.metrics["test"]["accuracy"] <= 1 and r.path.name.startswith("minilm-mine-")
    ex = E.extract(r, task=str(csv_task), n_sentences=8, max_length=24)
    assert ex.meta["n_tokens"] > 8


def test_hub_task_fails_offline_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    T._hub_spec.cache_clear()
    with pytest.raises(T.TaskUnavailableError, match=r"hf:someone/reviews.*offline.*local file"):
        T.spec("hf:someone/reviews")
    with pytest.raises(ParameterError, match="hf:NAME or hf:NAME:CONFIG"):
        T._hub_name("hf:")


def test_hub_columns_are_guessed_from_glue_style_schemas():
    import datasets

    ds = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"sentence1": ["a", "b", "c", "d"] * 5, "sentence2": ["x"] * 20, "label": [0, 1] * 10}),
        "test": datasets.Dataset.from_dict({"sentence1": ["e", "f"], "sentence2": ["y", "z"], "label": [-1, -1]}),
        "validation": datasets.Dataset.from_dict({"sentence1": ["g", "h"], "sentence2": ["y", "z"], "label": [0, 1]})})
    parts = T.hub_frames_from_datasets("hf:x", ds)
    assert "test" not in parts                                  # hidden labels: the validation split is our test
    assert dict(zip(parts["_columns"].role, parts["_columns"].column)) == {"text": "sentence1", "text_pair": "sentence2", "label": "label"}
    df = T.finish_hub("hf:x", {k: v for k, v in parts.items() if not k.startswith("_")}, 0)
    assert (df.split == "test").sum() == 2 and set(df.split) == {"train", "validation", "test"}
