"""Dominant (elongated) directions: spectra, removal of the top-k principal directions, and what they encode.

Removal (fitted on training tokens only, applied to held-out tokens)::

    x' = x - sum_{i<k} ((x - mu) . u_i) u_i

with mu and u_1..u_k the mean and the top principal directions of the training tokens.  The mean itself is
kept, so k = 0 is the identity and the effect measured is that of the directions alone (all-but-the-top,
Mu & Viswanath 2018, would also subtract the mean).

Effects measured (book/methods.md):
(a) the fine-tuned model's own task score when the directions, fitted on last-layer training tokens, are
    projected out of the last hidden states that feed its classification head;
(b) fresh linear probes (sentence label, token type) trained on the processed training tokens;
(c) what the directions encode: probes on the k coordinates of the removed subspace alone;
(d) claim C4 (:func:`knowledge_table`): the sentence-label probe after removing the top-k directions against
    removing k random directions (the control), with directions and probe fitted on validation-split tokens
    that neither model was trained on, for the pre-trained and the fine-tuned model alike, on the test split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import checks, progress
from .checks import ParameterError


def check_ks(ks, dim: int) -> list[int]:
    ks = [int(k) for k in checks.as_list(ks)] if not isinstance(ks, int) else [ks]
    for k in ks:
        if k < 0 or k > dim:
            raise ParameterError(f"k={k} is out of range; every k must be in [0, {dim}] (the dimension)")
    return ks


@dataclass
class PCRemoval:
    """Top principal directions of training rows, and their removal from other rows."""

    mean: np.ndarray
    components: np.ndarray  # (k_max, dim), rows = directions, by decreasing variance
    explained: np.ndarray   # explained-variance ratio of each component

    @classmethod
    def fit(cls, X, k_max: int) -> "PCRemoval":
        X = np.asarray(X, dtype=np.float64)
        check_ks([k_max], X.shape[1])
        mu = X.mean(0)
        cov = np.cov(X - mu, rowvar=False)
        ev, vec = np.linalg.eigh(cov)
        order = np.argsort(ev)[::-1]
        ev, vec = ev[order], vec[:, order]
        return cls(mu, vec[:, :k_max].T.copy(), ev[:k_max] / ev.sum())

    def remove(self, X, k: int) -> np.ndarray:
        """x - sum_{i<k} ((x - mu) . u_i) u_i."""
        if not 0 <= k <= len(self.components):
            raise ParameterError(f"k={k} is out of range; this removal was fitted with k_max={len(self.components)}")
        X = np.asarray(X, dtype=np.float64)
        U = self.components[:k]
        return X - ((X - self.mean) @ U.T) @ U

    def coordinates(self, X, k: int) -> np.ndarray:
        """Coordinates (x - mu) . u_i, i < k: the removed subspace."""
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.components[:k].T

    def as_torch(self, k: int):
        """A function removing the top-k directions from a (..., dim) torch tensor (for the model's head)."""
        import torch

        U = torch.tensor(self.components[:k], dtype=torch.float32)
        mu = torch.tensor(self.mean, dtype=torch.float32)

        def f(h):
            return h - ((h - mu) @ U.T) @ U

        return f


def head_scores(run, transforms: dict, texts, labels, task: str, max_length: int = 64, batch_size: int = 64,
                pairs=None, desc: str = "head") -> pd.DataFrame:
    """The fine-tuned model's task metrics when each function of ``transforms`` (name -> f(h) on a
    (..., dim) torch tensor) is applied to its last hidden states (every position, before the pooler and
    classifier); the encoder runs once.  ``pairs`` are the second texts of pair tasks.
    Columns: condition, metric, value."""
    import torch
    from transformers import AutoTokenizer

    from . import models, tasks

    model = run.classifier()
    base = getattr(model, model.base_model_prefix)
    tok = AutoTokenizer.from_pretrained(run.model_dir, local_files_only=True, trust_remote_code=False)
    rows = []
    order = np.argsort([len(t) for t in texts])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    mean_head = getattr(model.config, "classifier_pooling", "cls") == "mean"
    with torch.inference_mode():
        last, masks = {}, {}
        for b in batches:
            enc = tok([texts[i] for i in b], [pairs[i] for i in b] if pairs is not None else None,
                      truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            last[tuple(b)], masks[tuple(b)] = base(**enc).last_hidden_state, enc["attention_mask"]
        regression = tasks.spec(task).regression
        for name, f in progress.bar(list(transforms.items()), desc=desc, unit="condition"):
            preds = np.empty(len(texts), dtype=np.float64 if regression else np.int64)
            for b, h in last.items():
                h2 = f(h)
                if mean_head:  # the mean-pooling head (helpers.models.mean_pooling_classifier)
                    logits = model.classifier(model.dropout(models.mean_pooled(h2, masks[b])))
                elif getattr(base, "pooler", None) is not None:  # BERT: pooler on [CLS], then the classifier
                    logits = model.classifier(model.dropout(base.pooler(h2)))
                else:  # RoBERTa/MPNet-style heads read the sequence themselves
                    logits = model.classifier(h2)
                preds[list(b)] = (logits.squeeze(-1) if regression else logits.argmax(-1)).numpy()
            for m, v in tasks.compute_metrics(task, preds, labels).items():
                rows.append({"condition": name, "metric": m, "value": v})
    return pd.DataFrame(rows)


def head_score_with_removal(run, removal: PCRemoval, ks, texts, labels, task: str, max_length: int = 64,
                            batch_size: int = 64, pairs=None) -> pd.DataFrame:
    """(a) The fine-tuned model's task metric when the top-k directions are projected out of its last hidden
    states (:func:`head_scores`).  Columns: k, metric, value."""
    t = head_scores(run, {k: removal.as_torch(k) for k in ks}, texts, labels, task, max_length, batch_size, pairs,
                    desc="head")
    return t.rename(columns={"condition": "k"})


def removal_probes(train_X, train_tokens: pd.DataFrame, test_X, test_tokens: pd.DataFrame, ks, labels=("label", "token_type"),
                   seed: int = 0, max_train: int | None = 8000) -> pd.DataFrame:
    """(b) probes on the processed tokens and (c) probes on the removed subspace alone, for each k.

    Removal fitted on the training tokens only.  Columns: k, label, features, accuracy, majority."""
    from . import structure

    ks = check_ks(ks, train_X.shape[1])
    idx = structure.subsample(len(train_X), max_train, seed)
    Xtr, ttr = np.asarray(train_X)[idx], train_tokens.iloc[idx]
    Xte = np.asarray(test_X)
    rem = PCRemoval.fit(Xtr, max(ks) if ks else 0)
    n_tr = len(Xtr)
    rows = []
    for k in progress.bar(ks, desc="probes", unit="k"):
        feats = {"after removal": (rem.remove(Xtr, k), rem.remove(Xte, k))}
        if k > 0:
            feats["removed subspace only"] = (rem.coordinates(Xtr, k), rem.coordinates(Xte, k))
        for name in labels:
            ytr = structure.label_column(ttr, name)
            yte = structure.label_column(test_tokens, name)
            y = np.concatenate([ytr, yte])
            tr, te = np.arange(n_tr), np.arange(n_tr, n_tr + len(yte))
            for fname, (a, b) in feats.items():
                p = structure.probe(np.vstack([a, b]), y, train=tr, test=te, seed=seed)
                rows.append({"k": k, "label": name, "features": fname, "accuracy": p["accuracy"], "majority": p["majority"]})
    return pd.DataFrame(rows)


C4_KS = (1, 2, 5, 10)
"""Numbers of directions removed in the C4 sweep (the verdict's own k is ``claims.C4_K``)."""


def random_directions(dim: int, k: int, seed: int) -> np.ndarray:
    """k orthonormal directions (rows) drawn uniformly at random (QR of a seeded Gaussian matrix); the first j
    rows of one draw are the j directions of every smaller k."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, k)))
    return (q * np.sign(np.diag(r))).T.copy()


def removal_control_probes(fit_X, fit_tokens: pd.DataFrame, test_X, test_tokens: pd.DataFrame, ks=C4_KS,
                           label: str = "label", seed: int = 0, max_train: int | None = 8000) -> pd.DataFrame:
    """Accuracy of a ``label`` probe after projecting out the top-k principal directions of the fit rows
    ("top") or k random orthonormal directions ("random", the control), both about the fit rows' mean; k = 0
    is the unprocessed baseline.  Directions and probe are fitted on the fit rows, accuracy is measured on
    the test rows.  Columns: k, removed, accuracy, majority."""
    from . import structure

    ks = sorted({0, *check_ks(ks, np.asarray(fit_X).shape[1])})
    idx = structure.subsample(len(fit_X), max_train, seed)
    Xf, yf = np.asarray(fit_X, dtype=np.float64)[idx], structure.label_column(fit_tokens.iloc[idx], label)
    Xt, yt = np.asarray(test_X, dtype=np.float64), structure.label_column(test_tokens, label)
    top = PCRemoval.fit(Xf, max(ks))
    rnd = PCRemoval(top.mean, random_directions(Xf.shape[1], max(ks), seed), np.full(max(ks), np.nan))
    y = np.concatenate([yf, yt])
    tr, te = np.arange(len(yf)), np.arange(len(yf), len(y))
    rows = []
    for k in ks:
        for name, rem in (("top", top), ("random", rnd)) if k else (("none", top),):
            p = structure.probe(np.vstack([rem.remove(Xf, k), rem.remove(Xt, k)]), y, train=tr, test=te, seed=seed)
            rows.append({"k": k, "removed": name, "accuracy": p["accuracy"], "majority": p["majority"]})
    return pd.DataFrame(rows)


CROSS_TASK = "fine-tuned on another task"
"""The state of C4's cross-task control: the encoder fine-tuned on another task of the run (same seed), measured
on this task's sentences and labels."""


def knowledge_table(configs: dict, n_sentences: int = 400, n_fit_sentences: int = 400, extract_max_length: int = 128,
                    ks=C4_KS, layer: int = -1) -> pd.DataFrame:
    """Claim C4's measurements for fine-tuning configurations ``{(task, seed): FinetuneConfig}``: per replicate
    (run s, validation and test samples seeded by s) and state, :func:`removal_control_probes` of the sentence
    label at ``layer`` (-1: the last), fitted on validation-split tokens, measured on test-split tokens.  With two
    or more tasks, also state :data:`CROSS_TASK`: the run of the next task (same seed) on this task's sentences,
    so that "fine-tuning put *this* task in the top direction" is told apart from "any fine-tuning puts some
    label there".  Columns: task, replicate, state, k, removed, accuracy, majority.  Cached per replicate."""
    from . import cache, finetune as F
    from .extract import on_replicate, replicate_extractions

    task_order = list(dict.fromkeys(t for t, _ in configs))
    frames = []
    for (t, s), cfg in configs.items():
        ex = replicate_extractions(cfg, F.finetune(cfg), {"validation": n_fit_sentences, "test": n_sentences},
                                   extract_max_length)
        others = [u for u in task_order[task_order.index(t) + 1:] + task_order[:task_order.index(t)] if (u, s) in configs]
        if others:
            run_u = F.finetune(configs[others[0], s])
            for part, n in (("validation", n_fit_sentences), ("test", n_sentences)):
                ex[CROSS_TASK, part] = on_replicate(run_u, cfg, part, n, extract_max_length, like=ex["fine-tuned", part])
        for state in ("pre-trained", "fine-tuned", *([CROSS_TASK] if others else [])):
            fit, test = ex[state, "validation"], ex[state, "test"]
            li = layer if layer >= 0 else fit.n_layers + 1 + layer
            spec = {"fit": fit.path.name, "test": test.path.name, "ks": list(ks), "layer": li, "seed": s,
                    "code": cache.code_digest("directions")}
            frames.append(cache.cached_table(
                "knowledge", test.path.name, spec,
                lambda: removal_control_probes(fit.hidden(li), fit.tokens, test.hidden(li), test.tokens, ks, seed=s)
            ).assign(task=t, replicate=s, state=state))
    return pd.concat(frames, ignore_index=True)


def spectrum_table(X, top: int = 50) -> pd.DataFrame:
    """Explained-variance ratio of the top principal directions (columns: component, ratio)."""
    from . import geometry

    ev = geometry.spectrum(X)
    r = ev / ev.sum()
    return pd.DataFrame({"component": np.arange(1, min(top, len(r)) + 1), "ratio": r[:top]})
