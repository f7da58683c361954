"""Extraction: alignment of pre-trained and fine-tuned tokens, correctness, token columns, bad input."""
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import extract as E, finetune as F, models, tasks, tokens
from helpers.checks import ParameterError

N = 12
KW = dict(task="mr", split="test", n_sentences=N, max_length=48, frequency_corpus="mr")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISOBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        run = F.finetune(model="minilm", task="mr", epochs=1.0, batch_size=16, max_length=32, train_size=32,
                         eval_size=16, checkpoints=1, evals_per_epoch=1)
        pre = E.extract("minilm", **KW)
        post = E.extract(run, **KW)
        ckpt = E.extract(run.checkpoints[0][1], **KW)
        yield pre, post, ckpt, run


def test_pre_and_post_align_one_to_one(pair):
    pre, post, ckpt, _ = pair
    E.check_aligned(pre, post)
    E.check_aligned(pre, ckpt)
    assert pre.path != post.path != ckpt.path
    hp, hq = pre.hidden(), post.hidden()
    assert hp.shape == hq.shape == (7, len(pre.tokens), 384)
    assert isinstance(hp, np.memmap) and hp.dtype == np.float32
    assert not np.allclose(hp[-1], hq[-1]), "fine-tuning changed nothing"
    assert np.allclose(hp[0][:, :5], hq[0][:, :5], atol=1.0)  # embeddings move little in one epoch


def test_no_special_or_padding_tokens(pair):
    pre = pair[0]
    tok = models.load_tokenizer("minilm")
    t = pre.tokens
    assert not set(t.token_id) & set(tok.all_special_ids)
    df = tasks.load("mr")
    sample = E.sample_sentences(df, "test", N, 0)
    n = [len(x) for x in tok(sample.text.tolist(), add_special_tokens=False, truncation=True, max_length=46)["input_ids"]]
    assert t.groupby("sentence").size().tolist() == n
    assert (t.groupby("sentence").position.max() + 1).tolist() == n
    assert t.label.tolist() == sample.label.repeat(n).tolist()


def test_hidden_states_match_a_direct_forward_pass(pair):
    pre = pair[0]
    tok, enc = models.load_tokenizer("minilm"), models.load_encoder("minilm")
    text = tasks.load("mr").loc[pre.tokens.sentence_id.iloc[0], "text"]
    with torch.inference_mode():
        hs = enc(**tok([text], truncation=True, max_length=48, return_tensors="pt")).hidden_states
    rows = np.flatnonzero(pre.tokens.sentence.values == 0)
    for layer in (0, 3, 6):
        ref = hs[layer][0, 1:-1].numpy()  # drop [CLS] and [SEP]
        np.testing.assert_allclose(pre.hidden(layer)[rows], ref, atol=2e-4)


def test_sample_is_deterministic_and_seeded():
    df = tasks.load("mr")
    a, b, c = (E.sample_sentences(df, "test", 50, s) for s in (0, 0, 1))
    assert a.sentence_id.tolist() == b.sentence_id.tolist() != c.sentence_id.tolist()
    assert (df.loc[a.sentence_id, "split"] == "test").all()


def test_replicates_samples_share_no_sentence_while_their_blocks_fit():
    """Replicate s reads block s of one seeded permutation of the split: seeds 0 .. N // n - 1 are disjoint (and
    their union is that many blocks' worth of distinct sentences); a seed past the last whole block draws at random,
    and sample j of a replicate is a block of another permutation."""
    df = tasks.load("mr")
    n_test = int((df.split == "test").sum())
    n = n_test // 3
    assert E.disjoint_blocks(n_test, n) == 3
    samples = [set(E.sample_sentences(df, "test", n, E.replicate_sample_seed(s)).sentence_id) for s in range(4)]
    assert all(len(x) == n for x in samples)
    assert not (samples[0] & samples[1]) and not (samples[0] & samples[2]) and not (samples[1] & samples[2])
    assert samples[3] & (samples[0] | samples[1] | samples[2])              # seed 3's block does not fit: a draw
    second = set(E.sample_sentences(df, "test", n, E.replicate_sample_seed(0, 1)).sentence_id)
    assert second != samples[0] and second != samples[1]                    # another permutation, not a shifted block
    bigger = [set(E.sample_sentences(df, "test", n + 1, s).sentence_id) for s in range(3)]
    assert bigger[0] & bigger[2] or bigger[1] & bigger[2]                   # n > N / 3: the third shares sentences


def _false_support_rate(sample, n_split=854, n_seeds=3, draws=1000):
    """How often a cell is decided *supported* (its 95% t-interval over the replicates above 0) when nothing
    changed: each draw, a test split of ``n_split`` sentences from their population (per-sentence values N(0, 1):
    the population's mean, 0, is the truth), each replicate's statistic the mean over its ``sample(split, seed)``."""
    from helpers import verdicts as V
    from helpers.intervals import t_interval

    rng = np.random.default_rng(20211107)
    supported = 0
    for _ in range(draws):
        split = pd.DataFrame({"split": "test", "value": rng.normal(size=n_split)})
        means = [split.value.loc[sample(split, s)].mean() for s in range(n_seeds)]
        _, low, high, n = t_interval(means)
        supported += V.decide(low, high, n) == V.SUPPORTED
    return supported / draws


def test_replicates_samples_keep_the_false_support_rate_at_nominal():
    """At the null with the book's sizes (3 replicates of 280 of 854 test sentences), the disjoint samples give at
    most the nominal 2.5% false supports (+ 3 Monte Carlo standard errors): the replicates' statistics are
    independent draws of the sentences' population.  Independent draws of 400 (47% shared between two replicates)
    do not: their sentences' error is shared, the interval too narrow (about 7%)."""
    bound = 0.025 + 3 * np.sqrt(0.025 * 0.975 / 1000)
    disjoint = _false_support_rate(lambda split, s: E.sample_sentences(split, "test", 280, E.replicate_sample_seed(s)).sentence_id)
    overlapping = _false_support_rate(lambda split, s: np.random.default_rng(s).choice(len(split), 400, replace=False))
    assert disjoint <= bound < overlapping, (disjoint, bound, overlapping)


def test_token_columns_on_hand_made_sentences():
    tok = models.load_tokenizer("minilm")
    tokens.configure(tok)
    texts = ["The cat sat , the cat ran .", "42 unbelievably odd cats not never !"]
    counts = tokens.count_tokens(tok, texts)
    ranks = tokens.ranks_from_counts(counts)
    ids = tok(texts[0] + " " + texts[1], add_special_tokens=False)["input_ids"]
    d = tokens.describe(tok, ids, counts, ranks).set_index("token")
    assert d.loc["the", "token_type"].tolist() == ["stopword", "stopword"]
    assert d.loc["the", "frequency"].tolist() == [2, 2] and d.loc["cat", "frequency"].tolist() == [2, 2]
    assert d.loc[",", "token_type"] == "punctuation" and d.loc["!", "token_type"] == "punctuation"
    assert d.loc["42", "token_type"] == "number"
    # negation cues are not stop words here (they carry polarity); sklearn's list holds them
    assert d.loc["not", "token_type"] == "other" and d.loc["never", "token_type"] == "other"
    assert {"not", "never", "no"} <= tokens.NEGATIONS
    assert d.loc["odd", "token_type"] == "other" and not d.loc["odd", "continuation"]
    pieces = [t for t in d.index if t.startswith("##")]
    assert pieces and all(d.loc[p, "token_type"] == "subword" and d.loc[p, "continuation"] for p in pieces)
    assert set(d.freq_bucket) == {"top100"}  # a tiny corpus: every seen id ranks below 100
    assert tokens.frequency_bucket(np.array([0, 99, 100, 999, 1000, 9999, 10000])).tolist() == \
        ["top100", "top100", "100-1k", "100-1k", "1k-10k", "1k-10k", "rare"]
    # ranks: most frequent first, ties broken by id
    assert ranks[np.argmax(counts)] == 0


@pytest.mark.parametrize("kw,match", [
    (dict(n_sentences=10**6), "n_sentences=1000000 is larger than the 'test' split"),
    (dict(n_sentences=0), "n_sentences"),
    (dict(split="dev"), "split='dev'"),
    (dict(task="sst3"), "task='sst3'"),
    (dict(max_length=4096), "max_length=4096.*<= 512"),
    (dict(model="not-a-model/a/b"), "model="),
])
def test_bad_input_stops_before_extraction(kw, match, tmp_cache):
    with pytest.raises(ParameterError, match=match):
        E.extract(**{"model": "minilm", **KW, **kw})
    assert not (tmp_cache / "extract").exists()


def test_layer_out_of_range(pair):
    with pytest.raises(ParameterError, match=r"layer=7 is out of range.*\[0, 6\]"):
        pair[0].hidden(7)


def test_layer_structure_on_an_extraction_and_its_bad_parameters(pair):
    from helpers import structure as S

    pre = pair[0]
    with pytest.raises(ParameterError, match=r"layer=9 is out of range"):
        S.layer_structure(pre, layers=[9])
    with pytest.raises(ParameterError, match="k="):
        S.layer_structure(pre, k=0)
    t = S.layer_structure(pre, k=3, layers=[0, 6])
    assert set(t.layer) == {0, 6} and set(t.label) == set(S.LABELS)
    acc = t[(t.measure == "probe accuracy") & (t.label == "token_type") & (t.layer == 0)].value.iloc[0]
    assert 0.5 < acc <= 1.0  # token type is linearly readable from the embedding layer


_EXTRACT_IN_A_PROCESS = r"""
import hashlib, json, sys, torch
from helpers import extract as E
e = E.extract("minilm", **json.loads(sys.argv[1]))
print(json.dumps({"threads": torch.get_num_threads(), "digest": hashlib.sha256(e.hidden().tobytes()).hexdigest()}))
"""


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="needs two cores for a two-thread process")
def test_an_extraction_is_the_same_bytes_whatever_the_thread_count_of_its_process(tmp_path):
    """Hidden states of processes started with 1 and 2 threads (OMP/MKL/OpenBLAS and torch's pool) are
    byte-identical: an extraction does not depend on the machine's core count.  (The book's stage 2, nbval and the
    unit tests extract on one thread; a reader's ``python -m helpers.run`` uses every core.)"""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = {}
    for threads in (1, 2):
        env = {**os.environ, "ISOBOOK_CACHE": str(tmp_path / f"cache-{threads}"),
               **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
        res = subprocess.run([sys.executable, "-c", _EXTRACT_IN_A_PROCESS, json.dumps({**KW, "n_sentences": 64})],
                             env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        assert res.returncode == 0, res.stderr[-3000:]
        out[threads] = json.loads(res.stdout.strip().splitlines()[-1])
    assert (out[1]["threads"], out[2]["threads"]) == (1, 2)      # the processes really differ
    assert out[1]["digest"] == out[2]["digest"]


def test_configs_by_model_splits_every_run_in_the_order_given():
    """A chapter's runs of several models ({(model, task, seed): config}) as one {(task, seed): config} per model:
    what the one-model tables (chapter 05's, C2's, C4's) take; nothing lost, the models in the chapter's order."""
    both = F.configs_for_models(["mlm", "minilm"], ["mr"], [0, 1])
    split = E.configs_by_model(both)
    assert list(split) == ["mlm", "minilm"]
    for m in split:
        assert split[m] == F.configs_for(m, ["mr"], [0, 1])
    assert sum(len(c) for c in split.values()) == len(both)
