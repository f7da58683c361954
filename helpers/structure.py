"""Local structure of a token-embedding space: clusters, linear probes, 2-D maps, self-similarity by group.

Protocols (the paper's exact ones are not retrievable; these are the project's stated choices):

* **Clusters**: k-means (scikit-learn, ``n_init=4``, seeded) on the raw embeddings of a layer; agreement of
  the clusters with a token label (a regression task's sentence score as its quintile) by the adjusted Rand index and normalised mutual information; how well a
  label separates the space by the silhouette score of the label itself (Euclidean, seeded subsample).
* **Probes**: logistic regression on standardised embeddings, trained and tested on a seeded split *by
  sentence* (no sentence on both sides), reporting held-out accuracy and the majority-class accuracy.
* **Maps**: PCA and t-SNE (seeded) of a seeded token sample.
* **Claim C2** (:func:`structure_measures`, :func:`c2_table`, decided by :func:`helpers.claims.c2_named_structures`):
  the two structures of the claim, token type (stop
  words without negation cues, :data:`helpers.tokens.NEGATIONS`) and frequency bucket *within content words*
  (type ``other``, so that frequency is not stop-wordness again), at the last layer on held-out tokens:
  the ARI of k-means clusters with the labels and its **noise floor** (the same space clustered with another
  k-means seed), NMI and silhouette; a probe whose train and test tokens share **no word type**, so it cannot
  memorise token identity; and the **selectivity** of a sentence-split probe, its accuracy minus that of the
  same probe on a control task (Hewitt & Liang 2019: every word type gets a random label drawn from the labels'
  distribution over types, so only memorising identities can solve it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import ParameterError

LABELS = ("token_type", "freq_bucket", "label")


def _check_k(k: int, n: int, dim: int | None = None) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ParameterError(f"k={k!r} is not valid; it must be an integer >= 1")
    if k > n:
        raise ParameterError(f"k={k} is larger than the number of points ({n})")
    if dim is not None and k > dim:
        raise ParameterError(f"k={k} is above the dimension; it must be <= {dim}")


def label_column(tokens: pd.DataFrame, name: str) -> np.ndarray:
    """A label column of a token table, with a clear error for unknown names."""
    if name not in tokens.columns or name in ("sentence", "position", "token_id"):
        raise ParameterError(f"label={name!r} is not a label column; choose one of: {', '.join(LABELS)}")
    values = tokens[name].to_numpy()
    if name == "label" and values.dtype.kind == "f" and len(np.unique(values)) > 10:
        # a regression task's score: its quintile, so that clusters and probes can be compared with it
        values = pd.qcut(values, 5, labels=False, duplicates="drop").astype(int)
    return values


def subsample(n: int, max_n: int | None, seed: int) -> np.ndarray:
    """Sorted seeded row indices (all rows when ``max_n`` is None or >= n)."""
    if max_n is None or max_n >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_n, replace=False))


def kmeans(X, k: int = 27, seed: int = 0) -> np.ndarray:
    """Cluster ids of k-means (seeded; ``n_init=4``)."""
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float32)
    _check_k(k, len(X))
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(X)


def cluster_agreement(X, labels: dict, k: int = 27, seed: int = 0, silhouette_n: int = 3000) -> pd.DataFrame:
    """ARI and NMI between k-means clusters and each label, and the silhouette of each label."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    X = np.asarray(X, dtype=np.float32)
    clusters = kmeans(X, k, seed)
    rows = []
    idx = subsample(len(X), silhouette_n, seed)
    for name, y in labels.items():
        y = np.asarray(y)
        sil = silhouette_score(X[idx], y[idx]) if len(np.unique(y[idx])) > 1 else np.nan
        rows.append({"label": name, "ARI": adjusted_rand_score(y, clusters),
                     "NMI": normalized_mutual_info_score(y, clusters), "silhouette": float(sil)})
    return pd.DataFrame(rows)


def type_split(token_ids, test_size: float = 0.25, seed: int = 0):
    """(train rows, test rows) with every word type (token id) on one side only: a probe trained on one side
    cannot score on the other by remembering the identity of a token."""
    return sentence_split(token_ids, test_size, seed)


def control_task(token_ids, y, seed: int = 0) -> np.ndarray:
    """Hewitt & Liang's (2019) control labels: each word type gets one label drawn at random from the empirical
    distribution of ``y`` over types; a probe can only solve it by memorising which type has which label."""
    token_ids, y = np.asarray(token_ids), np.asarray(y)
    types, first = np.unique(token_ids, return_index=True)
    labels = np.random.default_rng(seed).permutation(y[first])   # the labels' distribution over types
    return labels[np.searchsorted(types, token_ids)]


def sentence_split(groups, test_size: float = 0.25, seed: int = 0):
    """(train rows, test rows) with every group (sentence) on one side only."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(groups)
    tr, te = next(GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed).split(groups, groups=groups))
    return tr, te


class ProbeDidNotConverge(RuntimeError):
    """A probe's solver stopped at its iteration limit: its accuracy is not that of the fitted model."""


def probe(X, y, groups=None, seed: int = 0, test_size: float = 0.25, train=None, test=None,
          C: float = 1.0, max_iter: int = 5000) -> dict:
    """Held-out accuracy of a linear probe (logistic regression on standardised features, float64).

    Rows are split by ``groups`` (sentences) unless explicit ``train``/``test`` row indices are given.
    Returns accuracy, majority-class accuracy and the number of train/test rows.  A solver that does not
    converge within ``max_iter`` iterations raises :class:`ProbeDidNotConverge` (no verdict rests on an
    unfinished fit)."""
    from .classifiers import linear_probe

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if train is None:
        if groups is None:
            raise ParameterError("probe needs `groups` (sentence ids) or explicit train/test rows")
        train, test = sentence_split(groups, test_size, seed)
    if len(np.unique(y[train])) < 2:
        raise ValueError("the probe's training rows hold a single class")
    from threadpoolctl import threadpool_limits

    clf = linear_probe(C, max_iter, seed)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with threadpool_limits(1), warnings.catch_warnings():   # one BLAS thread: 4-6x faster here (NumPy's and
        warnings.simplefilter("error", ConvergenceWarning)   # SciPy's pools alternate in lbfgs), same sums anywhere
        try:
            clf.fit(X[train], y[train])
        except ConvergenceWarning:
            raise ProbeDidNotConverge(f"the linear probe (lbfgs, C={C}) did not converge in max_iter={max_iter} "
                                      f"iterations on {len(train)} rows x {X.shape[1]} features") from None
        predicted = clf.predict(X[test])
    values, counts = np.unique(y[train], return_counts=True)
    majority = values[np.argmax(counts)]
    return {"accuracy": float((predicted == y[test]).mean()),
            "majority": float((y[test] == majority).mean()), "n_train": int(len(train)), "n_test": int(len(test))}


def maps_2d(X, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates by ``pca`` or ``tsne`` (seeded; t-SNE on the top-50 principal components)."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float32)
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE

        Z = PCA(min(50, X.shape[1], len(X)), random_state=seed).fit_transform(X)
        return TSNE(2, init="pca", perplexity=min(30, (len(X) - 1) / 3), random_state=seed).fit_transform(Z)
    raise ParameterError(f"method={method!r} is not valid; choose one of: pca, tsne")


def self_similarity_by(X, tokens: pd.DataFrame, by: str, min_count: int = 5, seed: int = 0) -> pd.DataFrame:
    """Ethayarajh's self-similarity per token id, averaged per group of ``by`` (e.g. freq_bucket), raw and
    minus the layer's anisotropy baseline."""
    from . import geometry as G

    label_column(tokens, by)  # validates the name
    ss = G.self_similarity(X, tokens.token_id.values, min_count=min_count, seed=seed)
    base = G.anisotropy_baseline(X, tokens.token_id.values, seed=seed)
    first = tokens.drop_duplicates("token_id").set_index("token_id")[by] if by != "token_id" else None
    d = pd.DataFrame({"token_id": list(ss), "self_similarity": list(ss.values())})
    d[by] = d.token_id.map(first) if first is not None else d.token_id
    out = d.groupby(by).self_similarity.agg(["mean", "count"]).reset_index()
    out["adjusted"] = out["mean"] - base
    return out




def layer_structure(ex, k: int = 27, seed: int = 0, layers=None) -> pd.DataFrame:
    """Cluster agreement (ARI, NMI, silhouette) and probe accuracy (with majority baseline) for every
    label of :data:`LABELS` at each layer of an extraction; cached.  Columns: layer, label, measure, value."""
    from . import cache, checks, progress

    layers = list(range(ex.n_layers + 1)) if layers is None else [int(x) for x in layers]
    for layer in layers:
        checks.in_range("layer", layer, 0, ex.n_layers)
    _check_k(k, ex.meta["n_tokens"], ex.meta["hidden_size"])

    def compute():
        t = ex.tokens
        labels = {c: label_column(t, c) for c in LABELS}
        rows = []
        for layer in progress.bar(layers, desc="structure", unit="layer"):
            X = np.asarray(ex.hidden(layer))
            for _, r in cluster_agreement(X, labels, k, seed).iterrows():
                rows += [{"layer": layer, "label": r.label, "measure": m, "value": r[m]} for m in ("ARI", "NMI", "silhouette")]
            train, test = sentence_split(t.sentence.values, seed=seed)
            for name, y in labels.items():
                p = probe(X, y, train=train, test=test, seed=seed)
                rows += [{"layer": layer, "label": name, "measure": "probe accuracy", "value": p["accuracy"]},
                         {"layer": layer, "label": name, "measure": "probe majority", "value": p["majority"]}]
        return pd.DataFrame(rows)

    spec = {"extraction": ex.path.name, "k": k, "seed": seed, "layers": layers, "code": cache.code_digest("structure")}
    return cache.cached_table("structure", ex.path.name, spec, compute)


STRUCTURES = ("token type", "frequency (content words)")
"""The structures of claim C2: token type over all tokens; frequency bucket over content words (type ``other``)."""
NOISE_SEED_OFFSET = 1000
"""k-means seed of the noise floor: the replicate's seed + this offset (another initialisation, same space)."""
PROBE_ROWS = 8000
"""At most this many tokens in the training side of a C2 probe (a seeded subsample; the test side is kept)."""


def structure_rows(tokens: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{structure: (rows of the token table, label per row)} for :data:`STRUCTURES`."""
    content = np.flatnonzero(tokens.token_type.to_numpy() == "other")
    return {"token type": (np.arange(len(tokens)), tokens.token_type.to_numpy()),
            "frequency (content words)": (content, tokens.freq_bucket.to_numpy()[content])}


def _probe_on(X, y, train, test, seed: int) -> dict:
    train = train[subsample(len(train), PROBE_ROWS, seed)]
    return probe(X, y, train=train, test=test, seed=seed)


def structure_measures(X, tokens: pd.DataFrame, k: int = 27, seed: int = 0, silhouette_n: int = 3000) -> pd.DataFrame:
    """Every C2 measure of one space (rows aligned with ``tokens``): per structure, ARI and NMI of k-means
    clusters (seed, and seed + :data:`NOISE_SEED_OFFSET` for the noise floor), the label's silhouette, the
    held-out-type probe (accuracy, majority), the sentence-split probe, its control task and their difference
    (selectivity).  Splits depend on the tokens and the seed only, so two aligned spaces get the same ones.
    Columns: structure, measure, value."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    X = np.asarray(X, dtype=np.float32)
    _check_k(k, len(X))
    clusters = {"": kmeans(X, k, seed), ", other k-means seed": kmeans(X, k, seed + NOISE_SEED_OFFSET)}
    out = []
    for name, (rows, y) in structure_rows(tokens).items():
        if len(np.unique(y)) < 2:
            raise ValueError(f"structure {name!r} has a single class among these tokens; sample more sentences")
        Xs, ids, sent = X[rows], tokens.token_id.to_numpy()[rows], tokens.sentence.to_numpy()[rows]
        m = {}
        for tag, c in clusters.items():
            m["ARI" + tag] = adjusted_rand_score(y, c[rows])
            m["NMI" + tag] = normalized_mutual_info_score(y, c[rows])
        sub = subsample(len(rows), silhouette_n, seed)
        m["silhouette"] = float(silhouette_score(Xs[sub], y[sub])) if len(np.unique(y[sub])) > 1 else np.nan
        tr, te = type_split(ids, seed=seed)
        p = _probe_on(Xs, y, tr, te, seed)
        m["held-out-type probe accuracy"], m["held-out-type probe majority"] = p["accuracy"], p["majority"]
        tr, te = sentence_split(sent, seed=seed)
        real = _probe_on(Xs, y, tr, te, seed)["accuracy"]
        control = _probe_on(Xs, control_task(ids, y, seed), tr, te, seed)["accuracy"]
        m.update({"sentence-split probe accuracy": real, "control-task probe accuracy": control,
                  "selectivity": real - control})
        out += [{"structure": name, "measure": k_, "value": float(v)} for k_, v in m.items()]
    return pd.DataFrame(out)


def knn_overlap(A, B, k: int = 10, max_points: int = 4000, seed: int = 0) -> float:
    """Mean share of each point's ``k`` nearest neighbours (cosine, itself excluded) that are the same in two
    spaces of the same rows: 1 = the same local structure, about k/n for unrelated spaces.  A seeded
    subsample of ``max_points`` rows, the same for both."""
    A, B = np.asarray(A), np.asarray(B)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"the two spaces hold different rows ({A.shape[0]} vs {B.shape[0]})")
    rows = subsample(len(A), max_points, seed)
    _check_k(k, len(rows) - 1)

    def neighbours(X):          # float32 cosines (the tokens' own precision): 4x faster than float64 here
        X = np.asarray(X[rows], dtype=np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        S = X @ X.T
        np.fill_diagonal(S, -np.inf)
        return np.argpartition(S, -k, axis=1)[:, -k:]

    na, nb = neighbours(A), neighbours(B)
    return float(np.mean([len(np.intersect1d(a, b, assume_unique=True)) / k for a, b in zip(na, nb)]))


def linear_cka(A, B) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two spaces of the same rows:
    ||A_c^T B_c||_F^2 / (||A_c^T A_c||_F ||B_c^T B_c||_F), in [0, 1]; 1 = the same up to rotation and scale."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    A, B = A - A.mean(0), B - B.mean(0)
    num = np.linalg.norm(A.T @ B) ** 2
    den = np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)
    return float(num / den) if den > 0 else float("nan")


CHANGE_MEASURES = ("10-NN overlap", "linear CKA")


def change_measures(pre, fine, other, layers, seed: int = 0) -> pd.DataFrame:
    """Before-vs-after similarity of the same tokens (pre-trained vs fine-tuned seed s) and its floor (fine-tuned
    seed s vs another fine-tuning seed s', same tokens) at every layer: columns layer, measure, pair, value."""
    rows = []
    for layer in layers:
        P, F, O = (np.asarray(e.hidden(layer)) for e in (pre, fine, other))
        for pair, (a, b) in (("pre-trained vs fine-tuned", (P, F)), ("fine-tuned vs other seed", (F, O))):
            rows += [{"layer": layer, "measure": CHANGE_MEASURES[0], "pair": pair, "value": knn_overlap(a, b, seed=seed)},
                     {"layer": layer, "measure": CHANGE_MEASURES[1], "pair": pair, "value": linear_cka(a, b)}]
    return pd.DataFrame(rows)


def replicate_spaces(configs: dict, task: str, seed: int, n_sentences: int = 400, extract_max_length: int = 128):
    """The three spaces of replicate ``seed`` of ``task`` on its held-out sample (test split, drawn with the
    replicate's seed): the pre-trained model, run ``seed``, and run s' (:func:`other_seed`), aligned token by
    token.  Returns (pre, fine, other, s')."""
    from . import finetune as F
    from .extract import on_replicate, replicate_extractions

    other = other_seed(configs, task, seed)
    cfg = configs[task, seed]
    ex = replicate_extractions(cfg, F.finetune(cfg), {"test": n_sentences}, extract_max_length)
    pre, fine = ex["pre-trained", "test"], ex["fine-tuned", "test"]
    o = on_replicate(F.finetune(configs[task, other]), cfg, "test", n_sentences, extract_max_length, like=fine)
    return pre, fine, o, other


def other_seed(configs: dict, task: str, seed: int) -> int:
    """The floor's second run for replicate ``seed``: the next fine-tuning seed of the same task, cyclically
    (0 -> 1 -> 2 -> 0).  Needs two seeds of the task."""
    seeds = sorted(x for (u, x) in configs if u == task)
    if len(seeds) < 2:
        raise ParameterError(f"C2's seed-to-seed floor needs two fine-tuning seeds of task {task!r}; seeds={seeds}")
    return seeds[(seeds.index(seed) + 1) % len(seeds)]


def change_table(configs: dict, n_sentences: int = 400, extract_max_length: int = 128) -> pd.DataFrame:
    """Generic drift of the space (reported beside claim C2) for ``{(task, seed): FinetuneConfig}``: per replicate
    s, :func:`change_measures` of the pre-trained model, run s and run s' (:func:`replicate_spaces`), all on
    sample s, at every layer.  Columns: task, replicate, layer, measure, pair, value, other_seed.  Cached per
    replicate."""
    from . import cache

    frames = []
    for (t, s) in configs:
        pre, fine, o, other = replicate_spaces(configs, t, s, n_sentences, extract_max_length)
        layers = list(range(pre.n_layers + 1))
        spec = {"pre": pre.path.name, "fine": fine.path.name, "other": o.path.name, "seed": s,
                "code": cache.code_digest("structure")}
        frames.append(cache.cached_table("structure", f"change-{fine.path.name}", spec,
                                         lambda: change_measures(pre, fine, o, layers, s)
                                         ).assign(task=t, replicate=s, other_seed=other))
    return pd.concat(frames, ignore_index=True)


OTHER_SEED = "other seed"
"""The state of :func:`c2_table` measured on run s' (the seed-to-seed floor of claim C2)."""


def c2_table(configs: dict, n_sentences: int = 400, extract_max_length: int = 128, k: int = 27) -> pd.DataFrame:
    """Claim C2's measurements for fine-tuning configurations ``{(task, seed): FinetuneConfig}``: per replicate
    (run s, test-split sample seeded by s, k-means and probe seed s) and state, :func:`structure_measures` of the
    last layer; the states are the pre-trained model, run s ("fine-tuned") and run s' (:data:`OTHER_SEED`, the
    floor: what another fine-tuning seed gives on the same tokens, with the same k-means and probe seeds).
    Columns: task, replicate, state, structure, measure, value, other_seed.  Cached per replicate and state."""
    from . import cache, checks

    checks.positive("k", k, integer=True)
    frames = []
    for (t, s) in configs:
        pre, fine, o, other = replicate_spaces(configs, t, s, n_sentences, extract_max_length)
        for state, e in (("pre-trained", pre), ("fine-tuned", fine), (OTHER_SEED, o)):
            _check_k(k, e.meta["n_tokens"], e.meta["hidden_size"])
            spec = {"extraction": e.path.name, "k": k, "seed": s, "layer": e.n_layers,
                    "code": cache.code_digest("structure")}
            frames.append(cache.cached_table(
                "structure", f"c2-{e.path.name}-seed{s}", spec,
                lambda e=e: structure_measures(e.hidden(e.n_layers), e.tokens, k, s)
            ).assign(task=t, replicate=s, state=state, other_seed=other))
    return pd.concat(frames, ignore_index=True)
