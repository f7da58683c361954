"""Token types and corpus token frequency under a model's own tokenizer.

Token type (first rule that matches wins):
    ``subword``      a WordPiece continuation (``##...``) or a SentencePiece/BPE non-initial piece
    ``punctuation``  every character is punctuation (Python's ``string.punctuation`` or Unicode P*/S*)
    ``number``       digits, optionally with , . separators
    ``stopword``     scikit-learn's ``ENGLISH_STOP_WORDS`` (318 words, Glasgow IR group list) less the 12
                     negation cues of :data:`NEGATIONS`, which carry polarity in sentiment data and count as
                     ``other`` (the list would otherwise put "not", "no", "never" with "the" and "of")
    ``other``        everything else (content-word pieces)

Frequency: the count of each vocabulary id over a corpus tokenized without special tokens.
Buckets are by frequency rank (rank 0 = most frequent id): ``top100`` (ranks 0-99),
``100-1k``, ``1k-10k``, ``rare`` (rank >= 10,000 or never seen).
"""
from __future__ import annotations

import re
import string
import unicodedata

import numpy as np

from . import cache, models
from .checks import ParameterError

TOKEN_TYPES = ("subword", "punctuation", "number", "stopword", "other")
FREQ_BUCKETS = ("top100", "100-1k", "1k-10k", "rare")
FREQ_EDGES = (100, 1_000, 10_000)
CORPORA = {"mr": ("mr",), "mr+imdb": ("mr", "imdb"), "imdb": ("imdb",), "rt": ("rt",)}

_NUMBER = re.compile(r"^\d+([.,]\d+)*$")


NEGATIONS = frozenset({"cannot", "neither", "never", "no", "nobody", "none", "noone", "nor", "not", "nothing",
                       "nowhere", "without"})
"""Negation cues of scikit-learn's stop-word list, kept out of the ``stopword`` type (they are content here)."""


def _stop_words() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) - NEGATIONS


_STOP = _stop_words()


def is_punctuation(s: str) -> bool:
    return bool(s) and all(c in string.punctuation or unicodedata.category(c)[0] in "PS" for c in s)


def token_type(token: str, continuation: bool) -> str:
    """Type of one token string (see module doc); ``continuation``: a non-initial word piece."""
    if continuation:
        return "subword"
    t = token.lstrip("Ġ▁")  # byte-level BPE / SentencePiece word-start markers
    if is_punctuation(t):
        return "punctuation"
    if _NUMBER.match(t):
        return "number"
    if t.lower() in _STOP:
        return "stopword"
    return "other"


def is_continuation(token: str, tokenizer=None) -> bool:
    """WordPiece ``##x`` pieces; for BPE/SentencePiece vocabularies a piece without a word-start marker."""
    if token.startswith("##"):
        return True
    vocab_style = getattr(tokenizer, "_isobook_style", None) if tokenizer is not None else None
    if vocab_style == "marker":
        return not token.startswith(("Ġ", "▁")) and not is_punctuation(token)
    return False


def configure(tokenizer) -> None:
    """Record whether the tokenizer marks word starts (BPE/SentencePiece) or continuations (WordPiece)."""
    vocab = tokenizer.get_vocab()
    n_hash = sum(1 for t in vocab if t.startswith("##"))
    n_mark = sum(1 for t in vocab if t.startswith(("Ġ", "▁")))
    tokenizer._isobook_style = "wordpiece" if n_hash >= n_mark else "marker"


def frequency_bucket(ranks: np.ndarray, edges=FREQ_EDGES) -> np.ndarray:
    """Bucket label per rank (see module doc)."""
    idx = np.searchsorted(np.asarray(edges), np.asarray(ranks), side="right")
    return np.asarray(FREQ_BUCKETS, dtype=object)[idx]


def corpus_counts(model: str, corpus: str = "mr+imdb") -> np.ndarray:
    """Count of every vocabulary id over the corpus texts (cached as ``.npy``; no pickle)."""
    if corpus not in CORPORA:
        raise ParameterError(f"corpus={corpus!r} is not valid; choose one of: {', '.join(CORPORA)}")
    from . import tasks

    spec = models.resolve(model)
    tok = models.load_tokenizer(spec)
    vocab_key = cache.key_of(sorted(tok.get_vocab().items()))
    # counts depend on the tokenizer alone (vocabulary, class, casing), not on the weights: checkpoints of one
    # pre-training run, and a model and its fine-tuned runs, share one table
    key = {"vocab": vocab_key, "tokenizer": type(tok).__name__, "lower": bool(getattr(tok, "do_lower_case", False)),
           "corpus": corpus, "code": cache.code_digest("tokens")}
    out = cache.artifact_dir("frequency", f"{spec.slug}-{corpus}", key)
    if not cache.is_done(out):
        counts = sum(count_tokens(tok, tasks.load(t).text.tolist()) for t in CORPORA[corpus])
        with cache.building(out, key) as tmp:
            np.save(tmp / "counts.npy", counts)
    return np.load(out / "counts.npy", allow_pickle=False)


def count_tokens(tok, texts, chunk: int = 2000) -> np.ndarray:
    """Occurrences of every vocabulary id in ``texts`` (no special tokens, no truncation)."""
    counts = np.zeros(len(tok), dtype=np.int64)
    for i in range(0, len(texts), chunk):
        ids = tok(list(texts[i:i + chunk]), add_special_tokens=False, truncation=False)["input_ids"]
        flat = np.fromiter((j for s in ids for j in s), dtype=np.int64)
        counts += np.bincount(flat, minlength=len(tok))[: len(tok)]
    return counts


def describe(tok, ids, counts: np.ndarray, ranks: np.ndarray):
    """Token table columns for a sequence of ids: token, continuation, token_type, frequency, freq_rank, freq_bucket."""
    import pandas as pd

    ids = np.asarray(ids, dtype=np.int64)
    toks = tok.convert_ids_to_tokens(ids.tolist())
    cont = [is_continuation(t, tok) for t in toks]
    return pd.DataFrame({"token_id": ids, "token": toks, "continuation": cont,
                         "token_type": [token_type(t, c) for t, c in zip(toks, cont)],
                         "frequency": counts[ids], "freq_rank": ranks[ids],
                         "freq_bucket": frequency_bucket(ranks[ids])})


def ranks_from_counts(counts: np.ndarray) -> np.ndarray:
    """Rank of every id (0 = most frequent; ties broken by id, stable); unseen ids rank last."""
    order = np.lexsort((np.arange(len(counts)), -counts))
    ranks = np.empty(len(counts), dtype=np.int64)
    ranks[order] = np.arange(len(counts))
    return ranks
