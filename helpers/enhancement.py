"""Isotropy enhancement on real extractions (book/methods.md; claims C5-C7).

Protocol (the paper's own is not retrievable; these are the book's stated choices):

* **Fit on train, measure on test.**  Every method of :mod:`helpers.transforms` is fitted on the tokens of
  *training-split* sentences (a seeded subsample of at most ``max_fit_tokens``) and applied to tokens of
  held-out *test-split* sentences of the same model.  No statistic is ever fitted on the sentences it is
  evaluated on.
* **Isotropy** of exactly the processed test tokens: log10 I(W) over +-u (both signs) and with the authors'
  single-sign convention, IsoScore, and the exact average cosine (:data:`ISOTROPY_METRICS`).
* **Task score of frozen features** (C6): a sentence vector is the mean of its processed last-layer token
  vectors (real tokens only); a classifier (features flat on the training sentences dropped, standardised
  features, logistic regression C = 1, lbfgs; Ridge for regression) is **re-fitted for every condition** on the training sentences and scored on the test sentences
  with the task's primary metric.  By construction ZM changes nothing for this classifier (mean pooling
  commutes with a constant shift, which standardisation removes), and ABTT acts on the pooled vector as a
  projection; the clustering methods act per token and are not linear.
* **Zero retraining** (the fine-tuned head): each method, fitted on training tokens of the last layer, is
  applied to every position of the last hidden states that feed the fine-tuned classification head, whose
  test score is read as is.
* **Scale-free co-criterion** (C1, C5, C7): log10 I(W) of the same tokens scaled to unit length
  (:data:`SCALE_FREE`), so that "isotropy rose" cannot mean only "the norms changed".
* **Gaussian-cloud control** (C5, C7; :func:`gaussian_cloud`): every method fitted on, and measured on, samples of
  a Gaussian with the training tokens' mean and covariance: what the methods do to *any* cloud with this spectrum.
* **C7 control**: centring *random* partitions of the fit tokens of the same sizes as the k-means clusters
  (``random partitions``), so that "any per-group centring" is separated from the cluster structure.

Every table is cached under a key of its inputs (extraction artifacts, settings) and of the source of the
modules that compute it (:func:`helpers.cache.code_digest`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from . import cache, checks, geometry, progress, structure, tasks, transforms
from .classifiers import sentence_classifier
from .extract import Extraction

SCALE_FREE = geometry.SCALE_FREE
ISOTROPY_METRICS = ("log10 I(W)", "log10 I(W) single-sign", SCALE_FREE, "IsoScore", "average cosine")
NORMS = geometry.NORMS   # I(W) moves with both (book/methods.md)
CONTROL = "random partitions"


def _spec(**kw) -> dict:
    return {**kw, "code": cache.code_digest("enhancement")}


def isotropy_metrics(X) -> dict[str, float]:
    """The isotropy measures of one point cloud (rows = tokens), and its norms (:data:`NORMS`); the direction-based
    ones (average cosine, the scale-free I(W)) on the rows with a direction
    (:func:`helpers.geometry.rows_with_direction`)."""
    X = np.asarray(X)
    m = geometry.Moments.of(X)          # one pass for X^T X (I(W)), the covariance (IsoScore) and the mean
    iw = geometry.partition_and_norms(X, m)
    return {**{k: iw[k] for k in ("log10 I(W)", "log10 I(W) single-sign", SCALE_FREE)},
            "IsoScore": geometry.isoscore(m), "average cosine": geometry.average_cosine(geometry.rows_with_direction(X)),
            **{k: iw[k] for k in NORMS}}


def cloud_metrics(X) -> dict[str, float]:
    """What the Gaussian-cloud control is read on: log10 I(W) (:func:`helpers.geometry.partition_isotropy`) alone."""
    return {"log10 I(W)": geometry.partition_isotropy(X, return_log=True) / np.log(10)}


def check_methods(methods) -> list[str]:
    methods = checks.as_list(methods)
    for m in methods:
        checks.choice("methods", m, transforms.METHODS)
    if "none" not in methods:
        methods = ["none", *methods]
    return methods


def fit_methods(methods, X_fit, seed: int = 0, n_clusters: int = 27, control: bool = False) -> dict:
    """Fitted transformers by name (the book's settings, :func:`helpers.transforms.make`); with ``control``
    and Clustering+ZM among them, also the random-partition control of the same cluster sizes."""
    d = X_fit.shape[1]
    fitted = {m: transforms.make(m, d, n_clusters=n_clusters, random_state=seed).fit(X_fit) for m in methods}
    if control and "Clustering+ZM" in fitted:
        fitted[CONTROL] = transforms.RandomPartitionZeroMean(
            sizes=fitted["Clustering+ZM"].cluster_sizes_, random_state=seed).fit(X_fit)
    return fitted


def gaussian_cloud(X_fit, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two samples (``len(X_fit)`` and ``n_test`` rows) of the Gaussian N(mean, covariance) of ``X_fit``: a cloud with
    the tokens' mean and spectrum and no other structure (no clusters, no token identity).  The control of C5 and
    C7: what the methods do to any cloud with these two moments.  Seeded (``seed``), float32 like the tokens."""
    m = geometry.Moments.of(X_fit)
    w, V = np.linalg.eigh(m.covariance)
    root = V * np.sqrt(np.clip(w, 0, None))            # covariance = root @ root.T
    rng = np.random.default_rng(seed)

    def draw(n):
        return (m.mean + rng.standard_normal((n, len(w))) @ root.T).astype(np.float32)

    return draw(len(X_fit)), draw(int(n_test))


def _fit_rows(ex: Extraction, max_fit_tokens: int | None, seed: int) -> np.ndarray:
    return structure.subsample(int(ex.meta["n_tokens"]), max_fit_tokens, seed)


def layer_isotropy(train: Extraction, test: Extraction, methods=transforms.METHODS, seed: int = 0,
                   n_clusters: int = 27, max_fit_tokens: int | None = 20_000, layers=None,
                   cloud: bool = False) -> pd.DataFrame:
    """Isotropy of processed test tokens at every layer (columns: layer, method, metric, value), cached.

    Includes the random-partition control whenever Clustering+ZM is among the methods.  With ``cloud`` the fit
    and test tokens of each layer are replaced by :func:`gaussian_cloud` samples of the fit tokens' moments (same
    sizes; seed = ``seed`` and the layer) and only log10 I(W) is measured (:func:`cloud_metrics`): the Gaussian-cloud
    control."""
    methods = check_methods(methods)
    checks.positive("n_clusters", n_clusters, integer=True)
    n_layers = train.n_layers
    layers = list(range(n_layers + 1)) if layers is None else [int(x) for x in checks.as_list(layers)]
    for layer in layers:
        checks.in_range("layer", layer, 0, n_layers)

    def compute():
        rows_fit = _fit_rows(train, max_fit_tokens, seed)
        rows = []
        for layer in progress.bar(layers, desc="isotropy by layer", unit="layer"):
            X_fit = np.asarray(train.hidden(layer))[rows_fit]
            X_test = np.asarray(test.hidden(layer))
            if cloud:
                X_fit, X_test = gaussian_cloud(X_fit, len(X_test), seed=1000 * seed + layer)
            for name, t in fit_methods(methods, X_fit, seed, n_clusters, control=True).items():
                for metric, v in (cloud_metrics if cloud else isotropy_metrics)(t.transform(X_test)).items():
                    rows.append({"layer": layer, "method": name, "metric": metric, "value": float(v)})
        return pd.DataFrame(rows)

    return cache.cached_table("enhancement", f"iso-{test.path.name}", _spec(
        kind="layer_isotropy", train=train.path.name, test=test.path.name, methods=methods, seed=seed,
        n_clusters=n_clusters, max_fit_tokens=max_fit_tokens, layers=layers, cloud=cloud), compute)


def sentence_means(X, sentence) -> np.ndarray:
    """Mean of the rows of each sentence (``sentence`` = 0..S-1 per row), in sentence order."""
    from scipy import sparse

    sentence = np.asarray(sentence)
    n = int(sentence.max()) + 1
    counts = np.bincount(sentence, minlength=n)
    if (counts == 0).any():
        raise ValueError("a sentence has no tokens")
    S = sparse.csr_matrix((1.0 / counts[sentence], (sentence, np.arange(len(sentence)))), shape=(n, len(sentence)))
    return np.asarray(S @ np.asarray(X, dtype=np.float64))


def _sentence_labels(ex: Extraction) -> np.ndarray:
    t = ex.tokens
    return t.groupby("sentence").label.first().sort_index().to_numpy()


def classifier_score(task: str, F_train, y_train, F_test, y_test, seed: int = 0) -> dict[str, float]:
    """Test metrics of a classifier re-fitted on the given sentence features (the C6 protocol)."""
    clf = sentence_classifier(task, seed).fit(F_train, y_train)
    return tasks.compute_metrics(task, clf.predict(F_test), y_test)


def frozen_classifier_under_removal(train: Extraction, test: Extraction, task: str, ks, layer: int = -1,
                                    seed: int = 0) -> pd.DataFrame:
    """The counterpart, for any encoder, of the fine-tuned head under removal (chapter 04): a classifier fitted
    once on the unprocessed mean-pooled training sentences (the C6 classifier), then scored on test sentences
    whose tokens had the top-k principal directions of the training tokens projected out (no retraining, like
    the fine-tuned head).  Columns: k, metric, value.  Cached."""
    from . import directions

    li = _last(train, layer)
    ks = directions.check_ks(ks, train.hidden(li).shape[1])

    def compute():
        Xtr, Xte = np.asarray(train.hidden(li)), np.asarray(test.hidden(li))
        rem = directions.PCRemoval.fit(Xtr, max(ks) if ks else 0)
        clf = sentence_classifier(task, seed).fit(sentence_means(Xtr, train.tokens.sentence), _sentence_labels(train))
        rows = []
        for k in ks:
            m = tasks.compute_metrics(task, clf.predict(sentence_means(rem.remove(Xte, k), test.tokens.sentence)),
                                      _sentence_labels(test))
            rows += [{"k": k, "metric": name, "value": float(v)} for name, v in m.items()]
        return pd.DataFrame(rows)

    return cache.cached_table("enhancement", f"frozen-removal-{test.path.name}", _spec(
        train=train.path.name, test=test.path.name, task=task, ks=list(ks), layer=li, seed=seed), compute)


def _last(ex: Extraction, layer: int) -> int:
    return layer if layer >= 0 else ex.n_layers + 1 + layer


def task_scores(train: Extraction, test: Extraction, task: str, methods=transforms.METHODS, seed: int = 0,
                n_clusters: int = 27, max_fit_tokens: int | None = 20_000, layer: int = -1) -> pd.DataFrame:
    """Test metrics of a classifier re-fitted on mean-pooled processed tokens, per method (columns: method,
    metric, value), cached."""
    methods = check_methods(methods)
    layer = _last(train, layer)
    checks.in_range("layer", layer, 0, train.n_layers)

    def compute():
        X_tr, X_te = np.asarray(train.hidden(layer)), np.asarray(test.hidden(layer))
        s_tr, s_te = train.tokens.sentence.to_numpy(), test.tokens.sentence.to_numpy()
        y_tr, y_te = _sentence_labels(train), _sentence_labels(test)
        fitted = fit_methods(methods, X_tr[_fit_rows(train, max_fit_tokens, seed)], seed, n_clusters)
        rows = []
        for name, t in progress.bar(list(fitted.items()), desc="classifiers", unit="method"):
            scores = classifier_score(task, sentence_means(t.transform(X_tr), s_tr), y_tr,
                                      sentence_means(t.transform(X_te), s_te), y_te, seed)
            rows += [{"method": name, "metric": m, "value": v} for m, v in scores.items()]
        return pd.DataFrame(rows)

    return cache.cached_table("enhancement", f"task-{test.path.name}", _spec(
        kind="task_scores", train=train.path.name, test=test.path.name, task=task, methods=methods, seed=seed,
        n_clusters=n_clusters, max_fit_tokens=max_fit_tokens, layer=layer), compute)


def default_grid(d: int) -> dict[str, tuple[str, list[int]]]:
    """Sweep settings at hidden size d: ABTT's D, the cluster-based method's and whitening's n_components."""
    return {"ABTT": ("n_components", [D for D in (0, 1, 2, 4, 8, 16, 32) if D < d]),
            "Cluster-based": ("n_components", [k for k in (0, 1, 3, 6, 12, 24) if k < d]),
            "Whitening": ("n_components", [k for k in (8, 16, 32, 64, 128, 256) if k < d])}


def sweep(train: Extraction, test: Extraction, task: str, seed: int = 0, n_clusters: int = 27,
          max_fit_tokens: int | None = 20_000, layer: int = -1, grid: dict | None = None) -> pd.DataFrame:
    """Isotropy and task score as a function of one setting per method (columns: method, parameter,
    setting, metric, value), cached.  Uses ``set_params`` on the book's transformer of each method."""
    layer = _last(train, layer)
    checks.in_range("layer", layer, 0, train.n_layers)
    d = int(train.meta["hidden_size"])
    grid = default_grid(d) if grid is None else grid
    for m in grid:
        checks.choice("grid", m, transforms.METHODS)
    if not grid:
        return pd.DataFrame(columns=["method", "parameter", "setting", "metric", "value"])

    def compute():
        X_tr, X_te = np.asarray(train.hidden(layer)), np.asarray(test.hidden(layer))
        s_tr, s_te = train.tokens.sentence.to_numpy(), test.tokens.sentence.to_numpy()
        y_tr, y_te = _sentence_labels(train), _sentence_labels(test)
        X_fit = X_tr[_fit_rows(train, max_fit_tokens, seed)]
        metric = tasks.spec(task).primary_metric
        rows = []
        todo = [(m, p, v) for m, (p, values) in grid.items() for v in values]
        for method, param, value in progress.bar(todo, desc="sweep", unit="setting"):
            t = transforms.make(method, d, n_clusters=n_clusters, random_state=seed).set_params(**{param: value})
            t.fit(X_fit)
            iso = isotropy_metrics(t.transform(X_te))
            score = classifier_score(task, sentence_means(t.transform(X_tr), s_tr), y_tr,
                                     sentence_means(t.transform(X_te), s_te), y_te, seed)[metric]
            for k, v in {**iso, f"task {metric}": score}.items():
                rows.append({"method": method, "parameter": param, "setting": value, "metric": k, "value": float(v)})
        return pd.DataFrame(rows)

    return cache.cached_table("enhancement", f"sweep-{test.path.name}", _spec(
        kind="sweep", train=train.path.name, test=test.path.name, task=task, seed=seed, n_clusters=n_clusters,
        max_fit_tokens=max_fit_tokens, layer=layer, grid=grid), compute)


def as_torch(transformer):
    """f(h) on a (..., d) torch tensor that applies a fitted numpy transformer (for the model's head)."""
    import torch

    def f(h):
        shape = h.shape
        out = transformer.transform(h.reshape(-1, shape[-1]).float().numpy())
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).reshape(*shape[:-1], out.shape[-1])

    return f


def head_without_retraining(run, train: Extraction, task: str, texts, labels, methods=transforms.METHODS,
                            seed: int = 0, n_clusters: int = 27, max_fit_tokens: int | None = 20_000,
                            max_length: int = 64, pairs=None) -> pd.DataFrame:
    """The fine-tuned head's test metrics when each method (fitted on the run's last-layer training tokens)
    processes its input (columns: method, metric, value), cached.  A method that changes the width (whitening
    keeps the rank of the covariance, at most d - 1 after a LayerNorm) cannot feed the head and is left out."""
    from . import directions

    methods = check_methods(methods)
    layer = train.n_layers

    def compute():
        X_fit = np.asarray(train.hidden(layer))[_fit_rows(train, max_fit_tokens, seed)]
        fitted = fit_methods(methods, X_fit, seed, n_clusters)
        keeps_width = {m: tr for m, tr in fitted.items() if tr.transform(X_fit[:2]).shape[1] == X_fit.shape[1]}
        t = directions.head_scores(run, {m: as_torch(tr) for m, tr in keeps_width.items()}, list(texts),
                                   np.asarray(labels), task, max_length=max_length, pairs=pairs, desc="head")
        return t.rename(columns={"condition": "method"})

    return cache.cached_table("enhancement", f"head-{run.path.name}", _spec(
        kind="head", run=run.path.name, train=train.path.name, task=task, methods=methods, seed=seed,
        n_clusters=n_clusters, max_fit_tokens=max_fit_tokens, max_length=max_length,
        texts=cache.key_of(list(texts))), compute)


def direction_counts(test: Extraction) -> pd.DataFrame:
    """Counts of dominant directions (:func:`helpers.geometry.dominant_directions`) of the unprocessed tokens
    at every layer (columns: layer, criterion, value), cached."""
    def compute():
        rows = []
        for layer in range(test.n_layers + 1):
            for k, v in geometry.dominant_directions(np.asarray(test.hidden(layer))).items():
                rows.append({"layer": layer, "criterion": k, "value": float(v)})
        return pd.DataFrame(rows)

    return cache.cached_table("enhancement", f"dirs-{test.path.name}", _spec(kind="direction_counts",
                                                                              test=test.path.name), compute)


def measure(configs: dict, n_sentences: int = 400, n_train_sentences: int = 400, methods=transforms.METHODS,
            n_clusters: int = 27, max_fit_tokens: int | None = 20_000, extract_max_length: int = 128,
            sweep_grid: dict | None = None, full_replicate: int | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the enhancement chapter for fine-tuning configurations ``{(task, seed): FinetuneConfig}``.

    Replicate = fine-tuning seed s, with its own sentence samples (``sample_seed = s``) and k-means seed s; the
    pre-trained encoder is measured on the same sentences.  Per task and replicate: isotropy of processed test
    tokens (every method at every layer for the first replicate; the paper's methods at every layer and every
    method at the last layer for the others), task scores of re-fitted classifiers, the fine-tuned
    head's score without retraining, (first replicate) the sweeps, the counts of dominant directions of the
    unprocessed tokens at every layer (C3), and the paper's methods on the Gaussian cloud of every transformer
    layer (:func:`gaussian_cloud`: the control of C5 and C7).  Returns tidy tables ``iso``, ``scores``, ``head``,
    ``sweeps``, ``directions``, ``cloud`` (columns task, replicate, state where they apply; scores and head hold
    the task's primary metric only).  Every piece is cached, so a second call, or another chapter's, is cheap."""
    from . import extract as E, finetune as F

    methods = check_methods(methods)
    seeds = sorted({s for _, s in configs})
    full = seeds[0] if full_replicate is None else full_replicate   # the replicate with every layer and the sweeps
    iso, scores, head, sweeps, dirs, cloud = [], [], [], [], [], []
    for (t, s), cfg in configs.items():
        run = F.finetune(cfg)
        ex = E.replicate_extractions(cfg, run, {"train": n_train_sentences, "test": n_sentences}, extract_max_length)
        n_layers = ex["pre-trained", "test"].n_layers
        common = dict(seed=s, n_clusters=n_clusters, max_fit_tokens=max_fit_tokens)
        first = s == full
        for state in ("pre-trained", "fine-tuned"):
            tr, te = ex[state, "train"], ex[state, "test"]
            tag = dict(task=t, replicate=s, state=state)
            iso.append(layer_isotropy(tr, te, methods, layers=None if first else [n_layers], **common).assign(**tag))
            paper = [m for m in methods if m in transforms.PAPER_METHODS]
            if not first and n_layers > 0:           # every layer of every replicate for the claims' layer grid
                iso.append(layer_isotropy(tr, te, paper, layers=list(range(n_layers)), **common).assign(**tag))
            cloud.append(layer_isotropy(tr, te, paper, layers=list(range(1, n_layers + 1)) or [0], cloud=True,
                                        **common).assign(**tag))
            scores.append(task_scores(tr, te, t, methods, **common).assign(**tag))
            dirs.append(direction_counts(te).assign(**tag))
            if first:
                sweeps.append(sweep(tr, te, t, grid=sweep_grid, **common).assign(**tag))
        sample = E.sample_sentences(tasks.load(t, **cfg.data), "test", n_sentences, E.replicate_sample_seed(s))
        head.append(head_without_retraining(run, ex["fine-tuned", "train"], t, sample.text.tolist(), sample.label.values,
                                            methods, max_length=cfg.max_length, pairs=tasks.second_texts(sample),
                                            **common).assign(task=t, replicate=s))
    out = {name: pd.concat(x, ignore_index=True) if x else pd.DataFrame() for name, x in
           (("iso", iso), ("scores", scores), ("head", head), ("sweeps", sweeps), ("directions", dirs),
            ("cloud", cloud))}
    for name in ("scores", "head"):
        d = out[name]
        out[name] = d[[m == tasks.spec(t).primary_metric for m, t in zip(d.metric, d.task)]].reset_index(drop=True)
    return out


def measure_models(configs: dict, *args, **kwargs) -> dict[str, pd.DataFrame]:
    """:func:`measure` for ``{(model, task, seed): FinetuneConfig}`` (:func:`helpers.finetune.configs_for_models`):
    each model's tables as :func:`measure` makes them (the same cached pieces as a chapter of that model alone),
    concatenated with a ``model`` column, the models in the order given."""
    from .extract import configs_by_model

    parts = {m: measure(c, *args, **kwargs) for m, c in configs_by_model(configs).items()}
    names = next(iter(parts.values()))
    return {name: pd.concat([p[name].assign(model=m) for m, p in parts.items()], ignore_index=True) for name in names}


def by_model(tables: dict) -> dict[str, dict[str, pd.DataFrame]]:
    """:func:`measure_models`'s tables split by model, each as :func:`measure` returns it (no ``model`` column),
    ``{model: {name: table}}`` in the tables' order."""
    names = list(dict.fromkeys(tables["iso"].model))
    return {m: {k: (t[t.model == m].drop(columns="model").reset_index(drop=True) if "model" in t else t)
                for k, t in tables.items()} for m in names}

