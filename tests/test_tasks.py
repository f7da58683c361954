import time

import numpy as np
import pandas as pd
import pytest

from helpers import tasks as T
from helpers.checks import ParameterError

COLUMNS = ["text", "text_pair", "label", "split"]


@pytest.mark.parametrize("name,size", [("mr", 8530), ("imdb", 25000), ("rt", 12808)])
def test_offline_tasks_have_the_schema_and_sizes(name, size):
    df = T.load(name)
    assert list(df.columns) == COLUMNS
    assert len(df) == size
    assert set(df.split) == set(T.SPLITS)
    assert df.label.dtype.kind == "i" and set(df.label) == {0, 1}
    assert df.text_pair.isna().all()
    fr = df.split.value_counts(normalize=True)
    assert abs(fr["train"] - 0.8) < 0.01 and abs(fr["test"] - 0.1) < 0.01


def test_splits_are_deterministic_and_seeded():
    a, b, c = T.load("mr", split_seed=0), T.load("mr", split_seed=0), T.load("mr", split_seed=1)
    assert (a.split == b.split).all()
    assert (a.split != c.split).any()
    for sp in T.SPLITS:  # stratified: balanced labels in every split
        assert abs(a[a.split == sp].label.mean() - 0.5) < 0.01


def test_bigram_shift_swaps_adjacent_words_in_half():
    src = T.load("mr").text
    df = T.bigram_shift(src, seed=0)
    assert abs(df.label.mean() - 0.5) < 0.01
    for _, row in df.head(200).iterrows():
        a, b = src.iloc[row.source_index].split(), row.text.split()
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if row.label:
            assert len(diff) == 2 and diff[1] == diff[0] + 1
            assert a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        else:
            assert diff == []
    assert T.bigram_shift(src, seed=0).equals(df)
    assert len(T.load("bshift")) == len(df)


def test_unknown_task_lists_valid_names():
    with pytest.raises(ParameterError, match="mr, imdb, rt, bshift"):
        T.load("sst3")
    with pytest.raises(ParameterError, match="train, validation, test"):
        T.split(T.load("mr"), "dev")


def test_glue_offline_without_local_files_fails_fast(monkeypatch):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    t0 = time.time()
    with pytest.raises(T.TaskUnavailableError, match="glue_dir"):
        T.load("sst2")
    assert time.time() - t0 < 10


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def glue_dir(tmp_path):
    """A few rows of GLUE's own TSV distribution (same headers and quirks)."""
    g = tmp_path / "glue"
    sst = "sentence\tlabel\n" + "".join(f"a {'fine' if i % 2 else 'bad'} film number {i} \t{i % 2}\n" for i in range(40))
    _write(g / "SST-2/train.tsv", sst)
    _write(g / "SST-2/dev.tsv", "sentence\tlabel\nit 's a charming journey \t1\nboring \t0\n")
    mrpc = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n" + "".join(
        f"{i % 2}\t{i}\t{i + 100}\tHe said \"{i}\" today .\tHe told {i} today .\n" for i in range(30))
    _write(g / "MRPC/train.tsv", mrpc)
    _write(g / "MRPC/dev.tsv", mrpc)
    cola = "".join(f"gj04\t{i % 2}\t\tThe cat sat {i} .\n" for i in range(30))  # no header
    _write(g / "CoLA/train.tsv", cola)
    _write(g / "CoLA/dev.tsv", cola)
    lab = ["entailment", "neutral", "contradiction"]
    mnli = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tgold_label\n" + "".join(
        f"{i}\t1\t1\tfiction\tA man {i} walks .\tA person moves .\t{lab[i % 3]}\n" for i in range(30))
    _write(g / "MNLI/train.tsv", mnli)
    _write(g / "MNLI/dev_matched.tsv", mnli)
    sts = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n" + "".join(
        f"{i}\tmain\tf\t2012\t{i}\tnone\tnone\tA dog {i} runs .\tA dog is running .\t{i % 6}.000\n" for i in range(30))
    _write(g / "STS-B/train.tsv", sts)
    _write(g / "STS-B/dev.tsv", sts)
    return g


def test_glue_from_local_tsv_files(glue_dir):
    sst = T.load("sst2", glue_dir=glue_dir)
    assert list(sst.columns) == COLUMNS and len(sst) == 42
    assert (sst[sst.split == "test"].label.tolist()) == [1, 0]
    assert set(sst.split) == set(T.SPLITS)
    mrpc = T.load("mrpc", glue_dir=glue_dir)
    assert mrpc.text_pair.notna().all() and '"' in mrpc.text.iloc[0]
    cola = T.load("cola", glue_dir=glue_dir)
    assert cola.text.iloc[0].startswith("The cat") and set(cola.label) == {0, 1}
    mnli = T.load("mnli", glue_dir=glue_dir)
    assert sorted(set(mnli.label)) == [0, 1, 2]
    assert mnli.label.iloc[:3].tolist() == [0, 1, 2]
    sts = T.load("stsb", glue_dir=glue_dir)
    assert sts.label.dtype.kind == "f" and sts.label.max() == 5.0


def test_glue_missing_file_names_it(glue_dir):
    with pytest.raises(T.TaskUnavailableError, match="RTE/train.tsv"):
        T.load("rte", glue_dir=glue_dir)


def test_glue_hub_schema_maps_to_ours():
    import datasets

    ds = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"question": [f"q{i}?" for i in range(20)],
                                             "sentence": [f"s{i}." for i in range(20)],
                                             "label": [i % 2 for i in range(20)], "idx": list(range(20))}),
        "validation": datasets.Dataset.from_dict({"question": ["q?"], "sentence": ["s."], "label": [1], "idx": [0]}),
        "test": datasets.Dataset.from_dict({"question": ["q?"], "sentence": ["s."], "label": [-1], "idx": [0]}),
    })
    parts = T.glue_frames_from_datasets("qnli", ds)
    df = T._finish_glue("qnli", parts, split_seed=0)
    assert list(df.columns[:4]) == ["text", "text_pair", "label", "split"]
    assert (df.split == "test").sum() == 1 and df.text_pair.iloc[0] == "s0."


def test_metrics():
    assert T.compute_metrics("mr", [1, 0, 1, 1], [1, 0, 0, 1]) == {"accuracy": 0.75}
    m = T.compute_metrics("cola", [1, 0, 1, 0], [1, 0, 1, 0])
    assert m["mcc"] == pytest.approx(1.0)
    s = T.compute_metrics("stsb", [0.1, 0.5, 0.9], [1.0, 2.0, 4.0])
    assert s["spearman"] == pytest.approx(1.0) and 0.9 < s["pearson"] <= 1.0


def test_a_builtin_task_is_made_once_per_process_and_handed_out_as_copies(monkeypatch):
    calls = []
    bshift = T._LOADERS["bshift"]
    monkeypatch.setitem(T._LOADERS, "bshift", lambda: calls.append(1) or bshift())
    T._builtin_table.cache_clear()
    try:
        a = T.load("bshift")
        a.loc[0, "text"], a.loc[0, "split"] = "changed", "nowhere"
        b = T.load("bshift")
        assert len(calls) == 1
        assert b.text[0] != "changed" and b.split[0] != "nowhere" and b.attrs["task"] == "bshift"
        assert T.table_digest(b) == T.table_digest(T.load("bshift")) != T.table_digest(a)
        assert T.table_digest(T.load("bshift", split_seed=1)) != T.table_digest(b) and len(calls) == 2
    finally:
        T._builtin_table.cache_clear()
