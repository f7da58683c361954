"""Fine-tuning: a tiny real run on the embedded default, the cache, interruption, bad input."""
import hashlib
import os

import numpy as np
import pytest
import torch

from helpers import cache, finetune as F, models, tasks
from helpers.checks import ParameterError

TINY = dict(model="minilm", task="mr", epochs=4.0, learning_rate=2e-4, batch_size=16, max_length=32,
            train_size=48, eval_size=32, checkpoints=2, evals_per_epoch=1, seed=0)


def _mean_loss(model, tok, df):
    model.eval()
    with torch.no_grad():
        batch = tok(df.text.tolist(), truncation=True, max_length=32, padding=True, return_tensors="pt")
        return float(model(**batch, labels=torch.tensor(df.label.values)).loss)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISOBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        run = F.finetune(**TINY)
        yield run, os.environ["ISOBOOK_CACHE"]


def test_tiny_finetune_lowers_the_training_loss(tiny_run):
    run, _ = tiny_run
    cfg = F.FinetuneConfig(**TINY)
    _, _, df = F.validate(cfg)
    train = F.subsample(tasks.split(df, "train"), cfg.train_size, cfg.seed)
    tok = models.load_tokenizer("minilm")
    torch.manual_seed(cfg.seed)
    before = _mean_loss(models.load_classifier("minilm", 2), tok, train)
    after = _mean_loss(run.classifier(), tok, train)
    assert after < before - 0.05, (before, after)
    log = run.log.dropna(subset=["loss"])
    assert log.loss.iloc[-1] < log.loss.iloc[0]


def test_final_validation_is_the_trained_models_score_on_the_validation_sample(tiny_run):
    """metrics.json's validation score is read from the trainer's evaluation at the last step, not evaluated a
    second time: it must be the score of the saved model on the run's validation sample."""
    run, _ = tiny_run
    cfg = F.FinetuneConfig(**TINY)
    _, _, df = F.validate(cfg)
    val = F.subsample(tasks.split(df, "validation"), cfg.eval_size, cfg.seed)
    model, tok = run.classifier(), models.load_tokenizer("minilm")
    model.eval()
    with torch.no_grad():
        logits = model(**tok(val.text.tolist(), truncation=True, max_length=32, padding=True, return_tensors="pt")).logits
    assert run.metrics["validation"]["accuracy"] == pytest.approx(float(np.mean(logits.argmax(-1).numpy() == val.label.values)))
    last = run.log[run.log.step == run.total_steps].dropna(subset=["eval_accuracy"])
    assert len(last) == 1 and last.eval_accuracy.iloc[0] == run.metrics["validation"]["accuracy"]


def test_artifact_layout(tiny_run):
    run, _ = tiny_run
    assert cache.is_done(run.path)
    assert (run.model_dir / "model.safetensors").is_file() and not list(run.model_dir.glob("*.bin"))
    assert (run.model_dir / "tokenizer_config.json").is_file()
    assert [s for s, _ in run.checkpoints] == run.metrics["checkpoint_steps"] and len(run.checkpoints) == 2
    assert 0 < run.checkpoints[0][0] < run.checkpoints[1][0] < run.total_steps
    assert set(run.metrics["test"]) == {"accuracy"} and 0 <= run.metrics["test"]["accuracy"] <= 1
    curves = F.training_curves(run)
    assert {"train loss", "validation accuracy"} <= set(curves.series)


def _digest(path):
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_second_call_hits_the_cache(tiny_run, monkeypatch):
    run, cache_dir = tiny_run
    monkeypatch.setenv("ISOBOOK_CACHE", cache_dir)
    import transformers

    monkeypatch.setattr(transformers.Trainer, "train", lambda *a, **k: pytest.fail("retrained"))
    again = F.finetune(**TINY)
    assert again.path == run.path and _digest(again.model_dir) == _digest(run.model_dir)


def test_interrupted_run_leaves_nothing_marked_done(tmp_cache, monkeypatch):
    from transformers import TrainerCallback

    class Boom(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:
                raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(F, "_trainer_callback", lambda steps, out, meter=None: Boom())
    cfg = {**TINY, "epochs": 1.0}
    with pytest.raises(KeyboardInterrupt):
        F.finetune(**cfg)
    final = F.run_dir(F.FinetuneConfig(**cfg))
    assert not final.exists() and not cache.is_done(final)
    assert not list(final.parent.glob(".tmp-*")), "temporary directory left behind"
    # a hard kill leaves a stale temporary directory: the next call removes it and restarts cleanly
    stale = final.parent / f".tmp-{final.name}-killed"
    (stale / "model").mkdir(parents=True)
    monkeypatch.undo()
    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_cache))
    run = F.finetune(**cfg)
    assert cache.is_done(run.path) and not stale.exists()


@pytest.mark.parametrize("bad,match", [
    (dict(task="sst3"), "task='sst3'.*mr"),
    (dict(model="no-such-model/x/y"), "model="),
    (dict(learning_rate=0), "learning_rate"),
    (dict(learning_rate=-1e-5), "learning_rate"),
    (dict(epochs=0), "epochs"),
    (dict(max_length=1024), "max_length=1024.*<= 512"),
    (dict(train_size=1), "train_size=1.*>= 2"),
    (dict(train_size=10**6), "train_size"),
    (dict(batch_size=0), "batch_size"),
    (dict(warmup_ratio=1.5), "warmup_ratio"),
    (dict(train_labels="random"), "train_labels='random'.*shuffled"),
    (dict(pooling="max"), "pooling='max'.*mean"),
])
def test_bad_input_stops_before_training(bad, match, tmp_cache, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.Trainer, "__init__", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(ParameterError, match=match):
        F.finetune(**{**TINY, **bad})


def test_subsample_is_seeded_and_stratified():
    df = tasks.split(tasks.load("mr"), "train")
    a, b = F.subsample(df, 100, 0), F.subsample(df, 100, 0)
    assert a.equals(b) and len(a) == 100 and a.label.mean() == 0.5
    assert not a.equals(F.subsample(df, 100, 1))


def test_configs_for_checks_tasks_and_seeds_before_training():
    with pytest.raises(ParameterError, match="tasks"):
        F.configs_for("minilm", [], [0])
    for bad in ([], [0, 0], [0.5], [True]):
        with pytest.raises(ParameterError, match="seeds"):
            F.configs_for("minilm", ["mr"], bad)
    with pytest.raises(ParameterError, match="task"):
        F.configs_for("minilm", ["nope"], [0])
    c = F.configs_for("minilm", "mr", [1, 2], {"epochs": 1.0})
    assert list(c) == [("mr", 1), ("mr", 2)] and c["mr", 2].seed == 2 and c["mr", 1].epochs == 1.0


def test_finetune_settings_are_one_checked_dict():
    for bad in ({"epoch": 2}, {"seed": 1}, {"model": "x"}, [("epochs", 1)]):
        with pytest.raises(ParameterError, match="finetune") as e:
            F.configs_for("minilm", ["mr"], [0], bad)
        assert "epochs" in str(e.value)                     # the valid keys are listed
    with pytest.raises(ParameterError, match="warmup_ratio"):
        F.configs_for("minilm", ["mr"], [0], {"warmup_ratio": 2.0})
    a = F.configs_for("minilm", ["mr"], [0], {"glue_dir": "/somewhere"})["mr", 0]
    b = F.configs_for("minilm", ["mr"], [0], None)["mr", 0]
    assert a.data == {"split_seed": 0, "glue_dir": "/somewhere"}
    m = models.resolve("minilm")
    assert F.run_dir(a, m) == F.run_dir(b, m)               # where the data lives is not part of the run's key
    assert F.run_dir(F.configs_for("minilm", ["mr"], [0], {"split_seed": 1})["mr", 0], m) != F.run_dir(b, m)


def test_label_shuffled_control_is_its_own_run_on_permuted_training_labels():
    """The label-shuffled control: the same labels in the same proportions, no longer tied to their texts, seeded;
    its own key; the default run's key does not mention the setting (adding the control re-keyed nothing but the
    code digest)."""
    df = F.subsample(tasks.split(tasks.load("mr"), "train"), 400, 0)
    a, b = F.shuffled_labels(df, 0), F.shuffled_labels(df, 0)
    assert a.equals(b) and a.text.equals(df.text)                         # seeded; texts untouched
    assert sorted(a.label) == sorted(df.label)                            # the same labels, the same proportions
    assert 0.35 < (a.label == df.label).mean() < 0.65                      # about half moved for a balanced task
    assert not a.label.equals(F.shuffled_labels(df, 1).label)
    m = models.resolve("minilm")
    true = F.configs_for("minilm", ["mr"], [0], {})["mr", 0]
    shuffled = F.configs_for("minilm", ["mr"], [0], F.CONTROLS["label-shuffled"])["mr", 0]
    assert "train_labels" not in true.key_spec(m)["config"]
    assert shuffled.key_spec(m)["config"]["train_labels"] == "shuffled"
    assert F.run_dir(true, m) != F.run_dir(shuffled, m)
    assert "training labels shuffled" in shuffled.describe() and "shuffled" not in true.describe()


def test_mean_pooling_head_trains_reloads_and_reads_the_mean_of_the_tokens(tmp_cache):
    """pooling='mean': its own run (key), a head on the masked mean of the last layer that lowers the training
    loss, reloaded as the same class from the run's config; the padding of a batch does not change a sentence's
    logits; head_scores with the identity reproduces the model's own predictions; AutoModel still loads its
    encoder (the extraction path)."""
    from transformers import AutoModel

    from helpers import directions

    cfg = F.FinetuneConfig(**{**TINY, "pooling": "mean"})
    m = models.resolve("minilm")
    assert cfg.key_spec(m)["config"]["pooling"] == "mean" and "pooling" not in F.FinetuneConfig(**TINY).key_spec(m)["config"]
    run = F.finetune(cfg)
    model = run.classifier()
    assert type(model).__name__ == "MeanPoolingBertForSequenceClassification" and model.config.classifier_pooling == "mean"
    _, _, df = F.validate(cfg)
    train = F.subsample(tasks.split(df, "train"), cfg.train_size, cfg.seed)
    tok = models.load_tokenizer("minilm")
    torch.manual_seed(cfg.seed)
    assert _mean_loss(model, tok, train) < _mean_loss(models.load_classifier("minilm", 2, pooling="mean"), tok, train) - 0.05
    texts = train.text.tolist()[:6]
    with torch.no_grad():
        alone = model(**tok(texts[:1], return_tensors="pt")).logits
        padded = model(**tok(texts, padding=True, return_tensors="pt")).logits[:1]
        own = model(**tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")).logits.argmax(-1)
    assert torch.allclose(alone, padded, atol=1e-5)
    scores = directions.head_scores(run, {"identity": lambda h: h}, texts, own.numpy(), "mr")
    assert scores[scores.metric == "accuracy"].value.item() == 1.0          # the head agrees with itself
    assert AutoModel.from_pretrained(run.model_dir, use_safetensors=True, local_files_only=True) is not None
    with pytest.raises(ParameterError, match="pooling='mean'.*BERT-family"):
        models.check_pooling(models.ModelSpec(name="x", location=str(run.model_dir), local=True), "mean",
                             type("C", (), {"model_type": "roberta"})())


def test_two_process_torchrun_on_cpu_is_one_run_of_the_same_global_batch(tmp_cache):
    """nproc=2 on CPU: torchrun + gloo. Both ranks train one model (world size 2, identical weights at the
    end), and the loss is that of a 1-process run of the same global batch (no world-size scaling: with
    transformers 5's token averaging across devices the logged loss would double)."""
    base = dict(model="minilm", task="mr", epochs=1.0, learning_rate=2e-4, batch_size=16, max_length=32,
                train_size=64, eval_size=16, checkpoints=0, evals_per_epoch=1)
    one, two = F.finetune(**base), F.finetune(**base, nproc=2)
    assert one.metrics["world_size"] == 1 and two.metrics["world_size"] == 2
    digests = two.metrics["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert two.path != one.path and (two.model_dir / "model.safetensors").is_file()
    first = {r: float(run.log.dropna(subset=["loss"]).loss.iloc[0]) for r, run in (("one", one), ("two", two))}
    assert 0.8 < first["two"] / first["one"] < 1.25, first          # ~ln 2 each; a doubled loss fails
    assert one.total_steps == two.total_steps == 4
    with pytest.raises(ParameterError, match="multiple of nproc"):
        F.finetune(**{**base, "batch_size": 15}, nproc=2)


_TRAIN_IN_A_PROCESS = r"""
import json, sys
from helpers import finetune as F
run = F.finetune(**json.loads(sys.argv[1]))
print(json.dumps({"threads": run.metrics["torch_threads"], "digest": run.metrics["rank_weight_digests"][0]}))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to start a process with two threads")
def test_a_run_trains_the_same_bytes_whatever_the_thread_count_of_its_process(tmp_path):
    """Two processes started with 1 and 2 threads (OMP/MKL/OpenBLAS) train the same run: both on
    ``F.TRAIN_THREADS`` thread, to byte-identical weights.  Without the fixed count the two-thread process would
    record two threads (and its reductions would split by thread count)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = {}
    for threads in (1, 2):
        env = {**os.environ, "ISOBOOK_CACHE": str(tmp_path / f"cache-{threads}"),
               **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
        res = subprocess.run([sys.executable, "-c", _TRAIN_IN_A_PROCESS, json.dumps({**TINY, "epochs": 1.0, "checkpoints": 0})],
                             env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        assert res.returncode == 0, res.stderr[-3000:]
        out[threads] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out[1]["threads"] == out[2]["threads"] == F.TRAIN_THREADS
    assert out[1]["digest"] == out[2]["digest"]


def test_training_restores_the_callers_thread_count(tmp_cache):
    """The fixed count holds while a run trains, not after: a notebook that trained keeps its own pools."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run = F.finetune(**{**TINY, "epochs": 1.0, "checkpoints": 0})
        assert run.metrics["torch_threads"] == F.TRAIN_THREADS
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
