"""Isotropy-enhancement methods as scikit-learn transformers (book/methods.md).

Every method follows scikit-learn's estimator contract: ``__init__`` stores settings only; :meth:`fit`
validates the data and the settings and sets fitted attributes ending in ``_``; :meth:`transform` raises
``NotFittedError`` before ``fit`` and refuses data of another dimension.  So a method sits in a
``Pipeline`` and is swept with ``set_params``::

    from helpers.transforms import AllButTheTop
    abtt = AllButTheTop(n_components=8).fit(train_tokens)
    test_processed = abtt.transform(test_tokens)

=====================  ==================================================================  ===============
class                  what it does                                                         source
=====================  ==================================================================  ===============
``ZeroMean``           subtract the mean of the fit data                                    R&P 2021 "ZM"
``ClusterZeroMean``    k-means; subtract the mean of the nearest fitted cluster             R&P 2021 local
``AllButTheTop``       subtract the mean, remove the top-D principal directions             Mu & Viswanath
``ClusterBased``       per cluster: subtract its mean, remove its own top principal dirs    R&P 2021 (ACL)
``Whitening``          (x - mean) U diag(1/sqrt(s)), first ``n_components`` columns         Su et al. 2021
``SoftZCA``            (x - mean) U diag(1/sqrt(s + epsilon)) U^T                           ZCA, regularised
``RandomPartitionZeroMean``  control: centre random groups of given sizes                   this book
=====================  ==================================================================  ===============

``ZeroMean``, ``AllButTheTop``, ``Whitening`` and ``SoftZCA`` need only the first two moments of the fit data,
so their ``fit`` also takes a :class:`helpers.geometry.Moments` accumulator fed chunk by chunk (a million
tokens x 768 dims in well under 1 GB).  Fitted statistics are float64; ``transform`` returns float32 for
float32 input (float64 otherwise).  Bad input (NaN/inf, empty or 1-D arrays, another dimension at transform
time, settings out of range) raises ``ValueError`` naming the parameter and its valid range before any work.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .checks import ParameterError
from .geometry import Moments

__all__ = ["ZeroMean", "ClusterZeroMean", "AllButTheTop", "ClusterBased", "Whitening", "SoftZCA",
           "RandomPartitionZeroMean", "Identity", "METHODS", "PAPER_METHODS", "make", "default_components",
           "nearest_centroid"]


# ----------------------------------------------------------------------------- validation
def _check_data(X, name: str = "X", min_rows: int = 1) -> np.ndarray:
    """A finite 2-D float array with at least ``min_rows`` rows (float32 kept, everything else float64)."""
    if isinstance(X, Moments):
        raise ParameterError(f"{name} is a Moments accumulator; this step needs the data itself")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ParameterError(f"{name} must be a 2-D array (n_samples, n_features); got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ParameterError(f"{name} must be numeric; got dtype {X.dtype}")
    if X.shape[0] < min_rows or X.shape[1] < 1:
        raise ParameterError(f"{name} has shape {X.shape}; it needs at least {min_rows} row(s) and 1 feature")
    if X.dtype != np.float32:
        X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise ParameterError(f"{name} contains NaN or infinite values; every entry must be finite")
    return X


def _moments_of(X, min_rows: int = 2) -> Moments:
    if isinstance(X, Moments):
        if X.n < min_rows:
            raise ParameterError(f"X (Moments) holds {X.n} row(s); fitting needs at least {min_rows}")
        return X
    X = _check_data(X, min_rows=min_rows)
    return Moments.of(X)


def _check_int(name: str, value, lo: int, hi: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ParameterError(f"{name}={value!r} is out of range; it must be an integer in [{lo}, {hi}]{what}")
    return int(value)


def _top_eigen(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending) and their eigenvectors (columns) of a symmetric matrix that
    NumPy computed (float64; NumPy's LAPACK, so that its BLAS thread pool is the only one in use: see
    :func:`_top_eigen_of_rows`)."""
    s, U = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    return s[::-1][:k], U[:, ::-1][:, :k]


def _top_eigen_of_rows(Z: np.ndarray, k: int) -> np.ndarray:
    """The top k eigenvectors (columns) of Z^T Z: the product in Z's precision, upper triangle only (BLAS
    ``syrk``, half the products of ``Z.T @ Z``), then LAPACK's subset solver ``syevr`` in float64 (only the
    top k are computed).  Both from SciPy: NumPy and SciPy wheels each bundle an OpenBLAS with its own
    spinning thread pool, and alternating between the two costs about 3x on 2 cores."""
    d = Z.shape[1]
    syrk = linalg.blas.ssyrk if Z.dtype == np.float32 else linalg.blas.dsyrk
    G = syrk(1.0, np.ascontiguousarray(Z).T, trans=0, lower=0)   # Z.T is Fortran-ordered: no copy
    _, U = linalg.eigh(G.astype(np.float64, copy=False), subset_by_index=[d - k, d - 1], driver="evr",
                       check_finite=False, lower=False)
    return U[:, ::-1]


class _Enhancement(TransformerMixin, BaseEstimator):
    """Shared validation: ``_fit`` gets checked data, ``_transform`` gets checked data of the fitted width."""

    def fit(self, X, y=None):
        self._fit(X)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = _check_data(X)
        if X.shape[1] != self.n_features_in_:
            raise ParameterError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                                 f"{self.n_features_in_}; transform data of the same dimension")
        out = self._transform(X)     # computed in the input's precision (float32 or float64)
        return out.astype(X.dtype, copy=False)

    def _fit(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X):  # pragma: no cover - abstract
        raise NotImplementedError


# ----------------------------------------------------------------------------- global methods
class ZeroMean(_Enhancement):
    """Zero-mean (ZM): x' = x - mu, mu the mean of the fit data (Rajaee & Pilehvar 2021)."""

    def _fit(self, X):
        m = _moments_of(X, min_rows=1)
        self.mean_ = m.mean
        self.n_features_in_ = m.dim

    def _transform(self, X):
        return X - self.mean_.astype(X.dtype)


class AllButTheTop(_Enhancement):
    """All-but-the-top (the "global approach"), Algorithm 1 of Mu & Viswanath (ICLR 2018).

    mu = mean(v); v~ = v - mu; u_1..u_D = top principal directions of v~; and

        v' = v~ - sum_{i<=D} (u_i . v) u_i

    **Which vector enters the projection.**  The published Algorithm 1 projects the *uncentred* v, and so does
    this class (``projection_ = "published"``).  The widely copied gist returns v~ - (v U^T) U too, but many
    reimplementations project v~ instead; the two differ by the constant vector sum_i (u_i . mu) u_i, which
    leaves every variance-based measure (IsoScore, spectra, the removed directions' variance, which is 0 either
    way) unchanged and moves the mean, so I(W) and the average cosine can differ.

    ``n_components`` = D in [0, d-1]; None: max(1, round(d/100)) (Mu & Viswanath's rule of thumb).
    ``random_state`` is accepted for a uniform interface with the clustering methods; the fit is an exact,
    deterministic eigendecomposition, so it has no effect.
    """

    projection_ = "published"

    def __init__(self, n_components=None, random_state=0):
        self.n_components = n_components
        self.random_state = random_state

    def _fit(self, X):
        m = _moments_of(X)
        d = m.dim
        D = default_components(d) if self.n_components is None else _check_int(
            "n_components", self.n_components, 0, d - 1, f" (d = {d}; None for max(1, round(d/100)))")
        self.mean_ = m.mean
        self.explained_variance_, U = _top_eigen(m.covariance, D)
        self.components_ = U.T.copy()
        self.n_components_ = D
        self.n_features_in_ = d

    def _transform(self, X):
        U = self.components_.astype(X.dtype)
        return (X - self.mean_.astype(X.dtype)) - (X @ U.T) @ U


class Whitening(_Enhancement):
    """Whitening of Su et al. (2021, "Whitening sentence representations for better semantics and faster
    retrieval"): x' = (x - mu) W with kernel W = U diag(1/sqrt(s)) from the SVD  cov = U diag(s) U^T of the
    fit data's covariance, keeping the first ``n_components`` columns.  The whitened fit data has identity
    covariance (ddof = 1).

    ``n_components`` in [1, rank]; None keeps every direction of positive variance: the numerical rank r
    (eigenvalues above 1e-10 of the largest).  Outputs of a LayerNorm satisfy one linear constraint, so their
    covariance has rank at most d - 1 and full whitening "of all d columns", as often written, would divide by
    a zero eigenvalue; here r columns are kept (``n_components_``) and asking for more raises.
    """

    def __init__(self, n_components=None):
        self.n_components = n_components

    def _fit(self, X):
        m = _moments_of(X)
        d = m.dim
        if self.n_components is not None:
            _check_int("n_components", self.n_components, 1, d, f" (d = {d}; None for every direction of positive variance)")
        cov = m.covariance
        s_all, U_all = _top_eigen(cov, d)      # one decomposition: the rank, then the kept directions
        s_all = np.clip(s_all, 0, None)
        rank = int((s_all > max(s_all[0], 1e-300) * 1e-10).sum())
        k = rank if self.n_components is None else int(self.n_components)
        if k > rank or rank == 0:
            raise ParameterError(
                f"n_components={k}: the fit data's covariance has only {rank} direction(s) with positive variance "
                f"(fewer rows than dimensions, collinear data, or LayerNorm outputs); use n_components <= {rank}, "
                f"None, or SoftZCA")
        s, U = s_all[:k], U_all[:, :k]
        self.mean_ = m.mean
        self.eigenvalues_ = s
        self.kernel_ = U / np.sqrt(s)
        self.n_components_ = k
        self.n_features_in_ = d

    def _transform(self, X):
        return (X - self.mean_.astype(X.dtype)) @ self.kernel_.astype(X.dtype)


class SoftZCA(_Enhancement):
    """Regularised ZCA whitening: x' = (x - mu) U diag(1/sqrt(s + epsilon)) U^T (cov = U diag(s) U^T).

    epsilon -> 0 is full ZCA whitening (identity covariance, orientation kept); a large epsilon shrinks
    toward centring (scaled by 1/sqrt(epsilon)).  ``epsilon`` >= 0 is absolute, in the units of the
    covariance's eigenvalues.
    """

    def __init__(self, epsilon=1e-2):
        self.epsilon = epsilon

    def _fit(self, X):
        eps = self.epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not np.isfinite(eps) or eps < 0:
            raise ParameterError(f"epsilon={eps!r} is out of range; it must be a finite number >= 0")
        m = _moments_of(X)
        s, U = np.linalg.eigh(m.covariance)
        s = np.clip(s, 0, None)
        if eps == 0 and s.min() <= s.max() * 1e-10:
            raise ParameterError("epsilon=0 needs a full-rank covariance; the fit data's covariance is singular, "
                                 "use epsilon > 0")
        self.mean_ = m.mean
        self.eigenvalues_ = s[::-1]
        self.kernel_ = (U / np.sqrt(s + eps)) @ U.T
        self.n_features_in_ = m.dim

    def _transform(self, X):
        return (X - self.mean_.astype(X.dtype)) @ self.kernel_.astype(X.dtype)


# ----------------------------------------------------------------------------- clustering methods
def nearest_centroid(X, centroids: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean, in the data's precision: float32 data, float32
    products) of every row; ties go to the lower index.  Fitting and transforming use this same function, so
    the assignment of a row never depends on which of the two computed it."""
    dtype = np.float32 if np.asarray(X[:1]).dtype == np.float32 else np.float64
    C = np.asarray(centroids, dtype=dtype)
    c2 = (C * C).sum(1)
    out = np.empty(len(X), dtype=np.int64)
    for i in range(0, len(X), chunk):
        x = np.asarray(X[i:i + chunk], dtype=dtype)
        out[i:i + chunk] = np.argmin(c2[None, :] - 2.0 * (x @ C.T), axis=1)
    return out


class _Clustered(_Enhancement):
    """k-means on the fit data (scikit-learn Lloyd, ``n_init=1``, seeded k-means++ on at most 10k rows), on a
    seeded subsample of ``kmeans_rows`` rows when there are more (None: all rows); every vector, fitted
    or new, belongs to its nearest fitted centroid.  Cluster statistics are those of the fit rows assigned
    that way, so every fitted cluster is exactly zero-mean after the transform.  A cluster left empty (k-means
    on duplicated points can leave one) keeps its centroid as mean and removes no direction: no crash."""

    def _check_clusters(self, X) -> np.ndarray:
        X = _check_data(X, min_rows=1)
        n = len(X)
        _check_int("n_clusters", self.n_clusters, 1, n, f" (the number of fit rows is {n})")
        if self.kmeans_rows is not None:
            _check_int("kmeans_rows", self.kmeans_rows, self.n_clusters, 2**62, " (at least n_clusters), or None for all rows")
        return X

    def _cluster(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Fit k-means, set the cluster statistics; returns (row indices grouped by cluster, block boundaries)."""
        k, n = self.n_clusters, len(X)
        rng = np.random.default_rng(self.random_state)
        # Lloyd on at most `kmeans_rows` rows, seeded by k-means++ on at most 10k of them; then every row
        # (all of them, below) is assigned to its nearest centroid and the statistics use all rows
        rows = X if self.kmeans_rows is None or n <= self.kmeans_rows else X[np.sort(rng.choice(n, self.kmeans_rows, replace=False))]
        seed_rows = np.sort(rng.choice(len(rows), min(len(rows), 10_000), replace=False))
        self.centroids_ = _kmeans(np.asarray(rows), seed_rows, k, self.random_state)
        order, bounds = _groups(nearest_centroid(X, self.centroids_), k)
        self.cluster_sizes_ = np.diff(bounds)
        self.cluster_means_ = self.centroids_.copy()
        for c, idx in _blocks(order, bounds):   # one cluster's rows at a time: no copy of all of X
            self.cluster_means_[c] = X[idx].mean(0, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        return order, bounds

    def predict(self, X) -> np.ndarray:
        """The fitted cluster of every row (nearest centroid)."""
        check_is_fitted(self, "centroids_")
        return nearest_centroid(_check_data(X), self.centroids_)


class ClusterZeroMean(_Clustered):
    """Clustering + zero-mean (the companion paper's "local" view): x' = x - mean of x's cluster."""

    def __init__(self, n_clusters=27, random_state=0, kmeans_rows=50_000):
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.kmeans_rows = kmeans_rows

    def _fit(self, X):
        self._cluster(self._check_clusters(X))

    def _transform(self, X):
        return X - self.cluster_means_.astype(X.dtype)[nearest_centroid(X, self.centroids_)]


class ClusterBased(_Clustered):
    """The cluster-based method of Rajaee & Pilehvar (ACL 2021), their ``cluster_based(X, n_cluster, n_pc)``:
    per cluster c, x~ = x - mu_c, then x' = x~ - sum_{j<n_pc} (x~ . u_cj) u_cj with u_cj the top principal
    directions of the cluster's zero-mean members.  New vectors use their nearest fitted centroid.

    Vectorised: one loop over clusters, none over vectors, and only the top ``n_components`` eigenvectors of
    each cluster's covariance are computed.  A cluster of m members has at most m - 1 directions of nonzero
    variance; it removes min(n_components, m - 1).  ``n_components`` in [0, d-1]: the companion's 12 was
    chosen for d = 768; :func:`default_components` scales it with the hidden size (12 * d / 768, 6 for 384).
    Clustering differs from the companion's ``scipy.cluster.vq.kmeans2(minit='points')``, whose empty clusters
    crash its code (see the class doc of the clustering base).
    """

    def __init__(self, n_clusters=27, n_components=12, random_state=0, kmeans_rows=50_000):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.random_state = random_state
        self.kmeans_rows = kmeans_rows

    def _fit(self, X):
        X = self._check_clusters(X)
        d = X.shape[1]
        k = _check_int("n_components", self.n_components, 0, d - 1, f" (d = {d})")
        order, bounds = self._cluster(X)
        self.components_ = np.zeros((self.n_clusters, k, d))  # zero rows remove nothing
        for c, idx in _blocks(order, bounds):
            kc = min(k, len(idx) - 1)
            if kc <= 0:
                continue
            Z = X[idx]
            Z -= self.cluster_means_[c].astype(X.dtype)
            U = _top_eigen_of_rows(Z, kc)
            self.components_[c, :kc] = U.T

    def _transform(self, X):
        out = np.empty_like(X)
        for c, idx in _blocks(*_groups(nearest_centroid(X, self.centroids_), self.n_clusters)):
            U = self.components_[c].astype(X.dtype)
            Z = X[idx]               # one cluster's rows (a copy), processed in place, written back once
            Z -= self.cluster_means_[c].astype(X.dtype)
            Z -= (Z @ U.T) @ U
            out[idx] = Z
        return out


_KMEANS_MEMO: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_KMEANS_LOCK = threading.Lock()


def _kmeans(rows: np.ndarray, seed_rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Centroids (float64) of scikit-learn's Lloyd k-means (``n_init=1``) on ``rows``, initialised by seeded
    k-means++ on ``rows[seed_rows]``.  Deterministic, so the last few results are remembered in memory under a
    digest of the rows' bytes: ClusterZeroMean and ClusterBased with the same seed on the same data (and a
    sweep over ClusterBased's n_components) cluster once."""
    import warnings

    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.exceptions import ConvergenceWarning

    rows = np.ascontiguousarray(rows)
    key = (hashlib.blake2b(rows.data, digest_size=16).hexdigest(), rows.shape, rows.dtype.str,
           hashlib.blake2b(np.ascontiguousarray(seed_rows).data, digest_size=16).hexdigest(), int(k), seed)
    with _KMEANS_LOCK:
        if key in _KMEANS_MEMO:
            _KMEANS_MEMO.move_to_end(key)
            return _KMEANS_MEMO[key].copy()
    with warnings.catch_warnings():  # duplicate points: fewer distinct clusters than asked, handled by the caller
        warnings.simplefilter("ignore", ConvergenceWarning)
        init, _ = kmeans_plusplus(rows[seed_rows], k, random_state=seed)
        centroids = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(rows).cluster_centers_
    centroids = centroids.astype(np.float64)
    with _KMEANS_LOCK:
        _KMEANS_MEMO[key] = centroids.copy()
        while len(_KMEANS_MEMO) > 8:
            _KMEANS_MEMO.popitem(last=False)
    return centroids


def _groups(labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices sorted by label, and the boundaries of each label's block (k + 1 offsets)."""
    order = np.argsort(labels, kind="stable")
    return order, np.searchsorted(labels[order], np.arange(k + 1))


def _blocks(order: np.ndarray, bounds: np.ndarray):
    """(label, row indices) of every non-empty label, from :func:`_groups`."""
    for c in range(len(bounds) - 1):
        if bounds[c + 1] > bounds[c]:
            yield c, order[bounds[c]:bounds[c + 1]]


class RandomPartitionZeroMean(_Enhancement):
    """Control for cluster centring: the fit rows are split at random into groups of the given sizes and
    each group's mean is recorded; every transformed vector is assigned to a random group (probability
    proportional to its size, drawn from ``random_state`` afresh at each call) and that group's mean is
    subtracted.  Any per-group centring changes I(W); clustering matters only beyond this control.
    ``sizes``: group sizes (None: ``n_groups`` near-equal groups).
    """

    def __init__(self, sizes=None, n_groups=27, random_state=0):
        self.sizes = sizes
        self.n_groups = n_groups
        self.random_state = random_state

    def _fit(self, X):
        X = _check_data(X, min_rows=1)
        n = len(X)
        if self.sizes is None:
            g = _check_int("n_groups", self.n_groups, 1, n, f" (the number of fit rows is {n})")
            sizes = np.full(g, n // g) + (np.arange(g) < n % g)
        else:
            sizes = np.asarray(self.sizes)
            if sizes.ndim != 1 or len(sizes) == 0 or (sizes < 0).any() or sizes.sum() <= 0:
                raise ParameterError(f"sizes={self.sizes!r} is not valid; it must be non-negative group sizes")
        sizes = np.round(sizes / sizes.sum() * n).astype(int)
        sizes[np.argmax(sizes)] += n - sizes.sum()
        labels = np.random.default_rng(self.random_state).permutation(np.repeat(np.arange(len(sizes)), sizes))
        sums = np.zeros((len(sizes), X.shape[1]))
        np.add.at(sums, labels, np.asarray(X, dtype=np.float64))
        self.group_sizes_ = sizes
        self.group_means_ = sums / np.maximum(sizes, 1)[:, None]
        self.n_features_in_ = X.shape[1]

    def _transform(self, X):
        p = self.group_sizes_ / self.group_sizes_.sum()
        labels = np.random.default_rng(self.random_state).choice(len(p), size=len(X), p=p)
        return X - self.group_means_.astype(X.dtype)[labels]


# ----------------------------------------------------------------------------- registry
def default_components(d: int, per_768: int | None = None) -> int:
    """Mu & Viswanath's D = max(1, round(d/100)); with ``per_768`` a count chosen for d = 768, scaled to d."""
    if per_768 is None:
        return max(1, int(round(d / 100)))
    return max(1, int(round(per_768 * d / 768)))


# The paper's four methods, then the whitening family (names as the book prints them).
METHODS = ("none", "ZM", "Clustering+ZM", "ABTT", "Cluster-based", "Whitening", "Soft ZCA")
PAPER_METHODS = ("ZM", "Clustering+ZM", "ABTT", "Cluster-based")


class Identity(_Enhancement):
    """The baseline: no processing (a transformer, so that every condition goes through one code path)."""

    def _fit(self, X):
        self.n_features_in_ = _moments_of(X, min_rows=1).dim

    def _transform(self, X):
        return X.copy()


def make(method: str, d: int, n_clusters: int = 27, random_state: int = 0, epsilon: float = 1e-2) -> _Enhancement:
    """An unfitted transformer for one of :data:`METHODS` at hidden size ``d``, with the book's settings:
    ABTT D = max(1, round(d/100)), cluster-based n_components = 12 * d / 768."""
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not valid; choose one of: {', '.join(METHODS)}")
    return {
        "none": lambda: Identity(),
        "ZM": lambda: ZeroMean(),
        "Clustering+ZM": lambda: ClusterZeroMean(n_clusters=n_clusters, random_state=random_state),
        "ABTT": lambda: AllButTheTop(random_state=random_state),
        "Cluster-based": lambda: ClusterBased(n_clusters=n_clusters, n_components=default_components(d, 12),
                                              random_state=random_state),
        "Whitening": lambda: Whitening(),
        "Soft ZCA": lambda: SoftZCA(epsilon=epsilon),
    }[method]()
