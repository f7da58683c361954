"""Hidden states of every layer for every real token of a fixed, seeded sentence sample.

:func:`extract` runs a model (a registered name, a model directory, a fine-tuning run or one of its
checkpoints) over a sample of sentences from a task split and stores, under
``<cache>/extract/<model>-<task>-<key>/``::

    hidden.npy    float32 array (n_layers + 1, n_tokens, hidden): embeddings output, then each layer
    tokens.csv    one row per token (see :data:`TOKEN_COLUMNS`)
    meta.json     what was extracted, from which model, and how fast

Only real tokens are kept: special tokens ([CLS], [SEP], ...) and padding are dropped.  The sample
depends only on (task, split_seed, split, n_sentences, sample_seed), so the pre-trained and fine-tuned
models see exactly the same sentences, and with the same tokenizer their rows align one to one
(:func:`check_aligned`); the replicates' samples are disjoint blocks of one seeded permutation of the split
(:func:`sample_sentences`).  ``hidden.npy`` is written through a memory map batch by batch, so samples larger
than memory work, and :meth:`Extraction.hidden` memory-maps it back.  Batches are bucketed by length and
run under ``torch.inference_mode``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache, checks, finetune, models, progress, tasks, tokens

TOKEN_COLUMNS = ("sentence", "sentence_id", "position", "token_id", "token", "continuation", "token_type",
                 "frequency", "freq_rank", "freq_bucket", "label")


@dataclass
class Extraction:
    path: Path
    meta: dict

    def hidden(self, layer: int | None = None, mmap: bool = True) -> np.ndarray:
        """All layers (L+1, N, d), or one layer (N, d); memory-mapped read-only by default."""
        arr = np.load(self.path / "hidden.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        if layer is None:
            return arr
        checks.in_range("layer", layer, 0, arr.shape[0] - 1)
        return arr[layer]

    @property
    def tokens(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "tokens.csv", keep_default_na=False, na_values=[],
                           dtype={"token": str, "token_type": str, "freq_bucket": str})

    @property
    def n_layers(self) -> int:
        return int(self.meta["n_layers"])


def _model_source(model) -> tuple[str, dict, str]:
    """(directory or name to load, identity for the cache key, short label) of a model reference."""
    if isinstance(model, finetune.FinetuneRun):
        model = model.model_dir
    p = Path(str(model))
    if p.is_dir() and (p / "config.json").is_file():
        run = next((q for q in p.parents if cache.is_done(q) and (q / "metrics.json").is_file()), None)
        if run is not None:  # a fine-tuning run's final model or one of its checkpoints
            where = str(p.relative_to(run))
            label = run.name if where == "model" else f"{run.name}-{p.name}"
            return str(p), {"dir": f"{run.name}/{where}"}, label
        return str(p), {"weights": models.weights_digest(p)}, p.name
    spec = models.resolve(str(model))
    return spec.name, {"model": spec.identity}, spec.slug


SAMPLE_STRIDE = 1000
"""Sentence sample j of replicate s is drawn with seed s + j * SAMPLE_STRIDE (sample 0: seed s, the one every
chapter's replicate uses): block s of the split's permutation j (:func:`sample_sentences`), so the replicates
share no sentence while their blocks fit."""


def sample_sentences(df: pd.DataFrame, split: str, n_sentences: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``n_sentences`` rows of one split, in a fixed order; column ``sentence_id``
    is the row's index in the task table.

    Samples of the seeds ``j * SAMPLE_STRIDE + b`` (replicate ``b``'s sample ``j``: :func:`replicate_sample_seed`)
    are block ``b`` of one permutation of the split, seeded by ``j``: rows ``b * n .. (b + 1) * n - 1``, so the
    replicates whose blocks fit (``(b + 1) * n_sentences <= len(split)``: :func:`disjoint_blocks` of them) share no
    sentence, and their statistics are independent in their sentences as in their fine-tuning seed.  A seed whose
    block does not fit draws ``n_sentences`` rows at random (seeded by ``seed``), which may share sentences with
    the others (:func:`helpers.ledger.sample_overlap` says how many)."""
    checks.choice("split", split, tasks.SPLITS)
    part = df[df.split == split]
    if not isinstance(n_sentences, int) or isinstance(n_sentences, bool) or n_sentences < 1:
        raise checks.ParameterError(f"n_sentences={n_sentences!r} is not valid; it must be a positive integer")
    if n_sentences > len(part):
        raise checks.ParameterError(
            f"n_sentences={n_sentences} is larger than the {split!r} split ({len(part)} sentences); use <= {len(part)}")
    sample, block = divmod(int(seed), SAMPLE_STRIDE)
    if sample >= 0 and block < disjoint_blocks(len(part), n_sentences):
        order = np.random.default_rng(sample).permutation(part.index.values)
        idx = np.sort(order[block * n_sentences:(block + 1) * n_sentences])
    else:
        idx = np.sort(np.random.default_rng(seed).choice(part.index.values, size=n_sentences, replace=False))
    return df.loc[idx].assign(sentence_id=idx).reset_index(drop=True)


def disjoint_blocks(n_split: int, n_sentences: int) -> int:
    """How many samples of ``n_sentences`` a split of ``n_split`` sentences holds without sharing one: the replicates
    (fine-tuning seeds 0 .. this - 1) whose held-out samples are disjoint (:func:`sample_sentences`)."""
    return int(n_split) // max(1, int(n_sentences))


def extract(model="minilm", task: str = "mr", split: str = "test", n_sentences: int = 400,
            sample_seed: int = 0, max_length: int = 128, split_seed: int = 0, batch_size: int = 64,
            frequency_corpus: str = "mr+imdb", glue_dir=None) -> Extraction:
    """Extract (or load the cached) hidden states and token table; see the module doc."""
    tasks.spec(task)
    checks.choice("split", split, tasks.SPLITS)
    checks.positive("max_length", max_length, integer=True)
    checks.positive("batch_size", batch_size, integer=True)
    checks.choice("frequency_corpus", frequency_corpus, tokens.CORPORA)
    source, ident, label = _model_source(model)
    df = tasks.load(task, split_seed=split_seed, glue_dir=glue_dir)
    sample = sample_sentences(df, split, n_sentences, sample_seed)

    import torch

    progress.configure_libraries()
    kw = {"trust_remote_code": False, "local_files_only": Path(source).is_dir()}
    limit = models.max_length(source)
    if max_length > limit:
        raise checks.ParameterError(f"max_length={max_length} is above the model's limit; it must be <= {limit}")

    spec = {"ident": ident, "task": tasks.key_name(task), "split": split, "n_sentences": n_sentences, "sample_seed": sample_seed,
            "max_length": max_length, "split_seed": split_seed, "frequency_corpus": frequency_corpus,
            "data": tasks.table_digest(df), "code": cache.code_digest("extract")}
    final = cache.artifact_dir("extract", f"{label}-{tasks.slug(task)}", spec)
    if cache.is_done(final):
        return Extraction(final, json.loads((final / "meta.json").read_text()))

    if Path(source).is_dir():
        from transformers import AutoModel, AutoTokenizer

        tok_dir = source if (Path(source) / "tokenizer_config.json").is_file() else _run_tokenizer_dir(source)
        tok = AutoTokenizer.from_pretrained(tok_dir, **kw)
        enc_model = AutoModel.from_pretrained(source, use_safetensors=True, output_hidden_states=True, **kw).eval()
    else:
        tok, enc_model = models.load_tokenizer(source), models.load_encoder(source)
    tokens.configure(tok)
    base = _base_name(source)
    counts = tokens.corpus_counts(base, frequency_corpus)
    ranks = tokens.ranks_from_counts(counts)

    enc = tok(sample.text.tolist(), tasks.second_texts(sample), truncation=True, max_length=max_length, return_special_tokens_mask=True)
    keep = [np.flatnonzero(np.asarray(m) == 0) for m in enc["special_tokens_mask"]]
    n_tok = np.array([len(k) for k in keep])
    offsets = np.concatenate([[0], np.cumsum(n_tok)])
    n_layers = enc_model.config.num_hidden_layers
    hidden_size = enc_model.config.hidden_size

    with cache.building(final, spec) as tmp:
        out = np.lib.format.open_memmap(tmp / "hidden.npy", mode="w+", dtype=np.float32,
                                        shape=(n_layers + 1, int(offsets[-1]), hidden_size))
        cache.reserve(tmp / "hidden.npy")   # a full disk: an error now, not SIGBUS in the loop below
        order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")  # length buckets
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        t0 = time.time()
        device = models.device()
        enc_model.to(device)
        with torch.inference_mode():
            for b in progress.bar(batches, desc=f"extract {task}", unit="batch"):
                feats = [{k: enc[k][i] for k in enc.keys() if k != "special_tokens_mask"} for i in b]
                padded = tok.pad(feats, return_tensors="pt").to(device)
                hs = torch.stack(enc_model(**padded).hidden_states).float().cpu()   # (L+1, B, T, d)
                for j, i in enumerate(b):
                    out[:, offsets[i]:offsets[i + 1]] = hs[:, j, keep[i]].numpy()
        seconds = time.time() - t0
        out.flush()
        del out
        parts = []
        for i, k in enumerate(keep):
            d = tokens.describe(tok, np.asarray(enc["input_ids"][i])[k], counts, ranks)
            d.insert(0, "position", np.arange(len(k)))
            d.insert(0, "sentence_id", int(sample.sentence_id[i]))
            d.insert(0, "sentence", i)
            d["label"] = sample.label[i]
            parts.append(d)
        table = pd.concat(parts, ignore_index=True)[list(TOKEN_COLUMNS)]
        table.to_csv(tmp / "tokens.csv", index=False)
        meta = {**spec, "source": source, "n_layers": n_layers, "hidden_size": hidden_size,
                "n_tokens": int(offsets[-1]), "seconds": round(seconds, 2),
                "tokens_per_second": round(float(offsets[-1]) / max(seconds, 1e-9), 1)}
        cache.write_json_atomic(tmp / "meta.json", meta)
    return Extraction(final, meta)


def _run_tokenizer_dir(source: str) -> str:
    """Checkpoints store weights only; their tokenizer is the run's final ``model/`` directory."""
    p = Path(source)
    for q in p.parents:
        if (q / "model" / "tokenizer_config.json").is_file():
            return str(q / "model")
    raise FileNotFoundError(f"no tokenizer found for {source}")


def _base_name(source: str) -> str:
    """The model whose tokenizer defines token frequency (a fine-tuned run counts like its base model)."""
    p = Path(source)
    for q in [p, *p.parents]:
        m = q / "metrics.json"
        if m.is_file():
            return json.loads(m.read_text())["config"]["model"]
    return source


def check_aligned(a: Extraction, b: Extraction) -> None:
    """Raise unless two extractions hold the same tokens in the same order (rows align one to one)."""
    ta, tb = a.tokens, b.tokens
    if len(ta) != len(tb) or not (ta[["sentence_id", "position", "token_id"]].values
                                  == tb[["sentence_id", "position", "token_id"]].values).all():
        raise ValueError(f"extractions {a.path.name} and {b.path.name} do not hold the same tokens")




def replicate_sample_seed(seed: int, sample: int = 0) -> int:
    """The sampling seed of sentence sample ``sample`` of the replicate with fine-tuning seed ``seed``."""
    if not 0 <= sample < SAMPLE_STRIDE:
        raise checks.ParameterError(f"sample={sample!r} is not valid; it must be in [0, {SAMPLE_STRIDE})")
    return seed + sample * SAMPLE_STRIDE


def on_replicate(encoder, cfg, split: str, n_sentences: int, extract_max_length: int, like=None) -> "Extraction":
    """Hidden states of ``encoder`` (a model name or a fine-tuning run: the pre-trained model, this replicate's
    run or another one) on the sentences of replicate ``cfg.seed``: its sample of ``n_sentences`` from ``split``
    of ``cfg.task`` (seeded by :func:`replicate_sample_seed`, read with the run's data settings).  With ``like``
    (an extraction of the same sentences), checked aligned with it token by token."""
    ex = extract(encoder, task=cfg.task, split=split, n_sentences=n_sentences,
                 sample_seed=replicate_sample_seed(cfg.seed), max_length=extract_max_length, **cfg.data)
    if like is not None:
        check_aligned(like, ex)
    return ex


def configs_by_model(configs: dict) -> dict[str, dict]:
    """``{(model, task, seed): FinetuneConfig}`` (:func:`helpers.finetune.configs_for_models`) as
    ``{model: {(task, seed): FinetuneConfig}}``, the models in the order given: what a one-model table takes."""
    out: dict = {}
    for (m, t, s), cfg in configs.items():
        out.setdefault(m, {})[t, s] = cfg
    return out


def state_pairs(configs: dict, sizes: dict[str, int], sample_seed: int, max_length: int) -> tuple[dict, dict]:
    """The runs of ``{key: FinetuneConfig}`` and, on every split of ``sizes`` (``{split: number of sentences}``), the
    hidden states of the pre-trained model and of the run on the same sentences (sample ``sample_seed`` of the
    run's task, read with its data settings), aligned token by token:
    ``({key: run}, {(key, state, split): Extraction})`` with state pre-trained / fine-tuned."""
    runs, ex = {}, {}
    for key, cfg in configs.items():
        runs[key] = finetune.finetune(cfg)
        for part, n in sizes.items():
            kw = dict(task=cfg.task, split=part, n_sentences=n, sample_seed=sample_seed, max_length=max_length, **cfg.data)
            pre = extract(cfg.model, **kw)
            ex[key, "pre-trained", part], ex[key, "fine-tuned", part] = pre, extract(runs[key], **kw)
            check_aligned(pre, ex[key, "fine-tuned", part])
    return runs, ex


def replicate_extractions(cfg, run, sizes: dict[str, int], extract_max_length: int) -> dict:
    """Hidden states of one replicate (fine-tuning seed s = ``cfg.seed``, sentence samples seeded by s):
    ``{(state, split): Extraction}`` for state in pre-trained / fine-tuned and every split of ``sizes``
    (``{split: number of sentences}``), the two states aligned token by token (:func:`on_replicate`)."""
    ex = {}
    for part, n in sizes.items():
        pre = on_replicate(cfg.model, cfg, part, n, extract_max_length)
        ex["pre-trained", part], ex["fine-tuned", part] = pre, on_replicate(run, cfg, part, n, extract_max_length, like=pre)
    return ex
