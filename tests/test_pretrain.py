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
            steps=16, eval_every=4, eval_sequences=16, save_every=2, corpus=("rt",))


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
    cfg = P.PretrainConfig(steps=100, warmup_fraction=0.1, learning_rate=1e-3)
    lrs = [P.learning_rate(cfg, s) for s in range(100)]
    assert lrs[9] == pytest.approx(1e-3) and lrs[0] == pytest.approx(1e-4)
    assert all(x > y for x, y in zip(lrs[10:], lrs[11:])) and lrs[-1] < 2e-5


def test_code_digest_sees_the_recipe_not_its_documentation():
    src = Path(P.__file__).read_text()
    assert P.code_digest(src) == P.code_digest()
    assert P.code_digest(src.replace('"""MLM pre-training from scratch', '"""Pre-training by MLM from scratch')) == P.code_digest()
    assert P.code_digest(src.replace("mask_rate: float = 0.15", "mask_rate: float = 0.2")) != P.code_digest()


@pytest.mark.parametrize("bad, match", [({"mask_rate": 1.5}, "mask_rate"), ({"heads": 3}, "heads"),
                                        ({"corpus": ("wiki",)}, "corpus"), ({"steps": 0}, "steps")])
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
    assert enc.config.num_hidden_layers == mlm.config_of(mlm.record())["layers"] and clf.config.hidden_dropout_prob == 0.1
    rec = mlm.record()
    assert rec["final"]["heldout_accuracy"] >= 0.30, "below the floor of issue 16"
    spec = models.resolve("mlm")
    assert spec.identity.startswith("mlm:") and f"{rec['tokens_seen']:,}" in spec.card["training"]
    sizes = sum(f.stat().st_size for f in mlm.SHIPPED.rglob("*") if f.is_file())
    assert sizes < 100e6


def test_ship_and_the_pretraining_chapters_measurements_on_a_tiny_run(tmp_path, monkeypatch):
    """helpers.mlm on a tiny finished run: shipped (float16 checkpoints, the initialisation regenerated bit for
    bit), then the per-layer trajectory, the facts and the sentences of the pre-training chapter."""
    import torch
    from transformers import BertForMaskedLM

    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path / "cache"))
    run = P.pretrain(**TINY, say=lambda s: None)
    dest = mlm.ship(run, dest=tmp_path / "models" / "mlm")
    assert (dest / "model.safetensors").is_file() and not (dest / "checkpoints" / "frac-0.0000").exists()
    half = BertForMaskedLM.from_pretrained(str(dest / "checkpoints" / "frac-0.3000"), local_files_only=True)
    assert half.bert.embeddings.word_embeddings.weight.dtype == torch.float16
    init = BertForMaskedLM.from_pretrained(str(mlm.initialisation_dir(dest)), local_files_only=True)
    first = BertForMaskedLM.from_pretrained(str(run.checkpoints[0][1]), local_files_only=True)
    assert all(torch.equal(a, b) for a, b in zip(init.state_dict().values(), first.state_dict().values()))
    assert [f for f, _ in mlm.checkpoint_dirs(dest)] == [0.0, 0.1, 0.3, 0.6, 1.0]
    traj = mlm.trajectory(n_sentences=12, max_length=32, reference=None, dest=dest)
    assert set(traj.metric) == set(mlm.TRAJECTORY_METRICS) and set(traj.layer) == {0, 1}
    assert sorted(traj.fraction.unique()) == [0.0, 0.1, 0.3, 0.6, 1.0]
    f = mlm.facts(traj)
    lines = mlm.summary_lines(f)
    assert len(lines) == 4 and all(line.startswith("**") for line in lines)
    assert mlm.heldout_curve(dest).heldout_accuracy.between(0, 1).all()
