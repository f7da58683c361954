"""Frozen-feature baseline: a linear model on mean-pooled embeddings of the *pre-trained* encoder.

Sentence vector = mean of one layer's hidden states over the real tokens (attention mask, special
tokens included as the encoder sees them).  Classification: scikit-learn ``LogisticRegression``
(L2, C=1, standardised features); regression: ``Ridge``.  Trained on the same (capped) training
examples as fine-tuning, scored on the test split with the task's metrics, so the reader sees what
fine-tuning bought.  Results are cached as JSON under a key of all inputs.
"""
from __future__ import annotations

import json

import numpy as np

from . import cache, checks, classifiers, finetune, models, progress, tasks


def sentence_embeddings(model, texts, pairs=None, layer: int = -1, max_length: int = 64, batch_size: int = 64,
                        tok=None) -> np.ndarray:
    """Mean-pooled hidden states of ``layer`` for each text (or text pair)."""
    import torch

    tok = tok or models.load_tokenizer(model)
    enc_model = models.load_encoder(model) if isinstance(model, (str, models.ModelSpec)) else model
    n_layers = enc_model.config.num_hidden_layers
    checks.in_range("layer", layer if layer >= 0 else n_layers + 1 + layer, 0, n_layers)
    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), enc_model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in progress.bar(range(0, len(texts), batch_size), desc="embed", unit="batch"):
            b = order[i:i + batch_size]
            batch = tok([texts[j] for j in b], [pairs[j] for j in b] if pairs is not None else None,
                        truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            h = enc_model(**batch).hidden_states[layer]
            m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
            out[b] = ((h * m).sum(1) / m.sum(1)).numpy()
    return out


def frozen_baseline(model: str = "minilm", task: str = "mr", layer: int = -1, train_size: int | None = None,
                    max_length: int = 64, seed: int = 0, split_seed: int = 0, glue_dir=None) -> dict:
    """Test-split metrics of a linear model on frozen mean-pooled features (cached)."""
    spec = models.resolve(model)
    tasks.spec(task)
    df = tasks.load(task, split_seed=split_seed, glue_dir=glue_dir)
    key = {"model": spec.identity, "task": tasks.key_name(task), "layer": layer, "data": tasks.table_digest(df),
           "train_size": train_size, "max_length": max_length, "seed": seed, "split_seed": split_seed, "code": cache.code_digest("baseline")}
    final = cache.artifact_dir("baseline", f"{spec.slug}-{tasks.slug(task)}", key)
    if cache.is_done(final):
        return json.loads((final / "result.json").read_text())
    train = finetune.subsample(tasks.split(df, "train"), train_size, seed)
    test = tasks.split(df, "test")
    tok, enc = models.load_tokenizer(spec), models.load_encoder(spec)
    feats = {}
    for name, d in (("train", train), ("test", test)):
        feats[name] = sentence_embeddings(enc, d.text.tolist(), tasks.second_texts(d), layer, max_length, tok=tok)
    clf = classifiers.sentence_classifier(task, seed).fit(feats["train"], train.label.values)
    result = {"test": tasks.compute_metrics(task, clf.predict(feats["test"]), test.label.values),
              "train_examples": len(train), "layer": layer, "features": "mean-pooled, frozen pre-trained"}
    with cache.building(final, key) as tmp:
        cache.write_json_atomic(tmp / "result.json", result)
    return result
