"""MLM pre-training (helpers.pretrain) and the shipped model (helpers.mlm, models/mlm): kill and resume, the
corpus without measured sentences, masking, the tokenizer, and that the shipped weights follow from the code."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import mlm, models, paths, pretrain as P

TINY = dict(vocab_size=1000, hidden_size=32, layers=1, heads=2, intermediate_size=64, seq_length=32, batch_size=8,
            steps=16, warmup_steps=2, eval_every=4, eval_sequences=16, save_every=2, corpus=("rt",))


def _state_step(cache_dir: Path) -> int:
    states = list((cache_dir / "pretrain").glob("*.work/state/state.json"))
    return json.loads(states[0].read_text())["step"] if states else 0


def test_killed_run_resumes_and_continues_the_same_loss_trace(tmp_path, monkeypatch):
    """A run SIGKILLed mid-training resumes from its last state; its loss trace equals an uninterrupted run's."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    monkeypatch.setenv("ISOBOOK_CACHE", str(whole))
    ref = P.pretrain(**TINY, say=lambda s: None)
    (killed / "pretrain").mkdir(parents=True)
    vocab = P.vocabulary_file(P.PretrainConfig(**TINY))       # the same vocabulary (a trained one is keyed by content)
    (killed / "pretrain" / vocab.name).write_bytes(vocab.read_bytes())
    slow = ("import time\nfrom helpers import pretrain as P\n_f = P.masked_loss\n"     # slowed, to be killed mid-way
            "def slow(*a):\n    time.sleep(0.4)\n    return _f(*a)\nP.masked_loss = slow\n"
            f"P.pretrain(**{TINY!r}, say=lambda s: None)\n")
    env = {**os.environ, "ISOBOOK_CACHE": str(killed)}
    proc = subprocess.Popen([sys.executable, "-c", slow], env=env, cwd=paths.ROOT)
    deadline = time.time() + 240
    while _state_step(killed) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at = _state_step(killed)
    assert 6 <= at < TINY["steps"], f"the run was to be killed mid-training (state at step {at})"
    monkeypatch.setenv("ISOBOOK_CACHE", str(killed))
    said = []
    resumed = P.pretrain(**TINY, say=said.append)
    assert any(f"resuming at step {at}/" in s for s in said)
    assert resumed.path.name == ref.path.name
    np.testing.assert_allclose(resumed.log.loss.values, ref.log.loss.values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(resumed.log.heldout_loss.dropna().values, ref.log.heldout_loss.dropna().values, atol=1e-6)
    assert not [p for p in (killed / "pretrain").glob("*.work") if p.is_dir()]   # the work directory is gone once published
    assert [f for f, _ in resumed.checkpoints] == [0.0, 0.1, 0.3, 0.6, 1.0]   # 0.01 and 0.03 round to step 0 here


def test_corpus_holds_no_measured_sentence():
    docs, stats = P.corpus_documents(("rt",))
    measured = P.measured_sentences()
    assert stats["rt"]["dropped_equal_to_mr"] > 8000           # MR is a subset of the critic snippets
    assert not {P.normalise(d) for d in docs} & measured
    assert stats["rt"]["kept"] == len(docs) > 5000


def test_masking_is_seeded_and_follows_bert():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, size=(64, 128))
    ids[:, 0], ids[:, -1] = 2, 3
    a = P.mask_batch(ids, 0.15, 1000, 5, 0, 7)
    b = P.mask_batch(ids, 0.15, 1000, 5, 0, 7)
    c = P.mask_batch(ids, 0.15, 1000, 5, 0, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[1], c[1])
    inputs, pos, targets = a
    flat = inputs.reshape(-1)
    assert abs(len(pos) / (64 * 126) - 0.15) < 0.01
    assert not np.isin(pos, np.flatnonzero((ids < 5).reshape(-1))).any()        # never [CLS] / [SEP]
    assert np.array_equal(targets, ids.reshape(-1)[pos])
    share_mask = (flat[pos] == P.MASK_ID).mean()
    share_kept = (flat[pos] == targets).mean()
    assert abs(share_mask - 0.8) < 0.03 and abs(share_kept - 0.1) < 0.03


def test_learning_rate_warms_up_then_decays_to_zero():
    cfg = P.PretrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3, schedule="linear")
    lrs = [P.learning_rate(cfg, s) for s in range(100)]
    assert lrs[9] == pytest.approx(1e-3) and lrs[0] == pytest.approx(1e-4)
    assert all(x > y for x, y in zip(lrs[10:], lrs[11:])) and lrs[-1] < 2e-5


def test_warmup_stable_decay_holds_the_rate_until_the_last_fraction():
    cfg = P.PretrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3, schedule="wsd", decay_fraction=0.2)
    lrs = [P.learning_rate(cfg, s) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and all(x == pytest.approx(1e-3) for x in lrs[9:80])
    assert all(x > y for x, y in zip(lrs[80:], lrs[81:])) and lrs[-1] < 1e-4


@pytest.mark.parametrize("positions, cls", [("rotary", "RoFormerForMaskedLM"), ("absolute", "BertForMaskedLM")])
def test_position_encoding_selects_the_architecture(positions, cls):
    cfg = P.PretrainConfig(**{**TINY, "positions": positions})
    model = P.new_model(cfg)
    assert type(model).__name__ == cls
    has_positions = any("position_embeddings" in n for n, _ in model.named_parameters())
    assert has_positions == (positions == "absolute")


def test_baselines_score_the_evaluations_mask_positions():
    """The unigram and bigram-cloze baselines on rows where the answer is fixed: in a corpus that repeats
    'a b c', the cloze reads b from its neighbours; the unigram guess is the most frequent token."""
    cfg = P.PretrainConfig(**{**TINY, "vocab_size": 1000, "seq_length": 32, "eval_sequences": 64})
    body = np.tile([10, 11, 12], 200)[:30]
    rows = np.concatenate([[2], body, [3]])[None].repeat(64, axis=0).astype(np.int32)
    out = P.baselines(rows, rows, cfg)
    assert out["bigram_cloze_true_neighbours"] == 1.0 and out["bigram_cloze"] > 0.8
    assert 0.25 < out["unigram"] < 0.45 and out["mask_positions"] > 100


def test_code_digest_sees_the_recipe_not_its_documentation():
    src = Path(P.__file__).read_text()
    assert P.code_digest(src) == P.code_digest()
    assert P.code_digest(src.replace('"""MLM pre-training from scratch', '"""Pre-training by MLM from scratch')) == P.code_digest()
    assert P.code_digest(src.replace("mask_rate: float = 0.15", "mask_rate: float = 0.2")) != P.code_digest()


@pytest.mark.parametrize("bad, match", [({"mask_rate": 1.5}, "mask_rate"), ({"heads": 3}, "heads"),
                                        ({"corpus": ("wiki",)}, "corpus"), ({"steps": 0}, "steps"),
                                        ({"positions": "alibi"}, "positions"), ({"schedule": "cosine"}, "schedule"),
                                        ({"betas": (0.9, 1.5)}, "betas")])
def test_bad_config_is_refused_before_any_work(bad, match, tmp_cache):
    with pytest.raises(P.checks.ParameterError, match=match):
        P.pretrain(**{**TINY, **bad})
    assert not tmp_cache.exists()


# ----------------------------------------------------------------------------- the shipped model
shipped = pytest.mark.skipif(not (mlm.SHIPPED / "record.json").is_file(), reason="models/mlm is not shipped")


@shipped
def test_shipped_record_matches_the_code_and_its_vocabulary():
    """A changed recipe without new weights fails here (`make pretrain` remakes them)."""
    rec = mlm.record()
    cfg = mlm.config_of(rec)
    assert rec["code"] == P.code_digest(), "helpers/pretrain.py changed since models/mlm was made: run `make pretrain`"
    assert P.vocabulary_file(cfg) == paths.MODELS / rec["vocabulary_file"]
    assert cfg.key_spec()["vocabulary"] == P.vocabulary_digest(cfg)
    assert P.run_dir(cfg).name == rec["artifact"]


@shipped
def test_shipped_weights_follow_from_the_code(tmp_cache):
    """The first steps retrained from the same seed, corpus and vocabulary give the recorded training losses."""
    rec = mlm.record()
    cfg = mlm.config_of(rec)
    assert P.pretrain(cfg, stop_after=P.FIRST_STEPS, say=lambda s: None) is None
    state = json.loads(next((tmp_cache / "pretrain").glob("*.work/state/state.json")).read_text())
    losses = [r["loss"] for r in state["log"]][: P.FIRST_STEPS]
    np.testing.assert_allclose(losses, rec["first_losses"], rtol=0, atol=2e-3)
    assert rec["corpus"]["train_tokens"] == int(np.load(next((tmp_cache / "pretrain").glob("*.work/data/train.npy"))).size)


@shipped
def test_shipped_model_is_an_ordinary_checkpoint_past_the_floor():
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    d = str(mlm.SHIPPED)
    tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    ids = tok("The movie was great.")["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[0] == "[CLS]" and tok.convert_ids_to_tokens(ids)[-1] == "[SEP]"
    assert tok.convert_ids_to_tokens(tok("a", "b")["input_ids"]) == ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    enc = AutoModel.from_pretrained(d, use_safetensors=True, local_files_only=True)
    clf = AutoModelForSequenceClassification.from_pretrained(d, num_labels=2, use_safetensors=True, local_files_only=True)
    assert enc.config.num_hidden_layers == mlm.config_of(mlm.record()).layers and clf.config.hidden_dropout_prob == 0.1
    rec = mlm.record()
    fin, base = rec["final"], rec["baselines"]
    assert fin["heldout_mask_accuracy"] >= 0.30, "below the floor of issue 23"
    assert fin["heldout_mask_accuracy"] > max(base["bigram_cloze"], base["bigram_cloze_true_neighbours"])
    spec = models.resolve("mlm")
    assert spec.identity.startswith("mlm:") and f"{rec['tokens_seen']:,}" in spec.card["training"]
    sizes = sum(f.stat().st_size for f in mlm.SHIPPED.rglob("*") if f.is_file())
    assert sizes < 100e6


@shipped
def test_shipped_model_is_past_the_early_collapse(tmp_cache):
    """Issue 23's second floor: the last layer's average cosine between random token pairs of held-out MR
    sentences is below 0.9 (the early MLM plateau collapses every token towards one direction)."""
    from helpers import extract as E, geometry as G

    ex = E.extract("mlm", task="mr", split="test", n_sentences=100, max_length=64)
    last = ex.hidden(ex.n_layers)
    assert G.average_cosine(np.asarray(last, dtype=np.float64), n_pairs=20_000) < 0.9


def test_lever_table_is_shipped_beside_the_weights_when_they_are():
    if not (mlm.SHIPPED / "record.json").is_file():
        pytest.skip("models/mlm is not shipped")
    from helpers import levers

    curves, rec = levers.shipped(), mlm.levers_record()
    assert curves is not None and set(curves.arm) == set(rec["arms"]) == set(levers.ARMS)
    assert (curves.groupby("arm").step.max() >= rec["steps"]).all() and rec["steps"] >= 3000
    assert rec["code"] == P.code_digest(), "the lever table was made by another recipe code: run `make levers`"


def test_ship_and_the_pretraining_chapters_measurements_on_a_tiny_run(tmp_path, monkeypatch):
    """helpers.mlm on a tiny finished run: shipped (float16 checkpoints, the initialisation regenerated bit for
    bit), then the per-layer trajectory, the facts and the sentences of the pre-training chapter."""
    import torch
    from transformers import AutoModelForMaskedLM

    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path / "cache"))
    run = P.pretrain(**TINY, say=lambda s: None)
    dest = mlm.ship(run, dest=tmp_path / "models" / "mlm")
    assert (dest / "model.safetensors").is_file() and not (dest / "checkpoints" / "frac-0.0000").exists()
    half = AutoModelForMaskedLM.from_pretrained(str(dest / "checkpoints" / "frac-0.3000"), local_files_only=True)
    assert half.base_model.embeddings.word_embeddings.weight.dtype == torch.float16
    init = AutoModelForMaskedLM.from_pretrained(str(mlm.initialisation_dir(dest)), local_files_only=True)
    first = AutoModelForMaskedLM.from_pretrained(str(run.checkpoints[0][1]), local_files_only=True)
    assert all(torch.equal(a, b) for a, b in zip(init.state_dict().values(), first.state_dict().values()))
    assert [f for f, _ in mlm.checkpoint_dirs(dest)] == [0.0, 0.1, 0.3, 0.6, 1.0]
    traj = mlm.trajectory(n_sentences=12, max_length=32, reference=None, dest=dest)
    assert set(traj.metric) == set(mlm.TRAJECTORY_METRICS) and set(traj.layer) == {0, 1}
    assert sorted(traj.fraction.unique()) == [0.0, 0.1, 0.3, 0.6, 1.0]
    table = mlm.checkpoint_table(traj, dest)
    assert list(table.columns[:2]) == ["tokens seen", "held-out [MASK] accuracy"]
    assert table.loc[("mlm", "0.00"), "held-out [MASK] accuracy"] == "not evaluated"
    assert table.loc[("mlm", "1.00"), "held-out [MASK] accuracy"].endswith(f"(step {TINY['steps']})")
    side = mlm.against_reference(traj)
    assert list(side.columns) == ["mlm: last layer", "mlm: mean of layers 1-1"] and set(side.index) == set(mlm.TRAJECTORY_METRICS)
    f = mlm.facts(traj)
    lines = mlm.summary_lines(f)
    assert len(lines) == 4 and all(line.startswith("**") for line in lines)
    curve = mlm.heldout_curve(dest)
    assert curve.heldout_mask_accuracy.between(0, 1).all() and curve.heldout_all_accuracy.between(0, 1).all()
    assert set(run.record["baselines"]) >= {"unigram", "bigram_cloze", "bigram_cloze_true_neighbours"}


def test_lever_arms_share_the_recipe_and_differ_in_one_setting(tmp_path, monkeypatch):
    """A lever arm is the recipe with one setting changed, stopped after ``steps``; the chosen recipe's arm is
    read from the main run (never trained by the table), so the table needs it to have run that far."""
    from helpers import levers

    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path / "cache"))
    base = {k: v for k, v in TINY.items()}
    arms = {"chosen": {}, "absolute": {"positions": "absolute"}}
    with pytest.raises(RuntimeError, match="make pretrain"):
        levers.table(steps=8, say=lambda s: None, base=base, arms=arms)
    P.pretrain(**base, say=lambda s: None)
    curves = levers.table(steps=8, say=lambda s: None, base=base, arms=arms)
    assert set(curves.arm) == {"chosen", "absolute"} and curves.step.max() == 8
    assert sorted(curves[curves.arm == "absolute"].step) == [4, 8]
    summ = levers.summary(curves, tokens_per_step=256)
    assert list(summ.index) == ["chosen", "absolute"] and summ.shape == (2, 2)
    assert levers.best_arm(curves)[0] in arms
    assert levers.arm_config(arms["absolute"], base).positions == "absolute"
    dest = levers.write(curves, 8, dest=tmp_path / "mlm", arms=arms)
    assert set(mlm.levers_record(tmp_path / "mlm")["arms"]) == set(arms)
    assert levers.shipped(tmp_path / "mlm").shape == curves.shape and dest.is_file()
