"""Geometry of a point cloud of embeddings: isotropy, spread, dimension, rogue dimensions.

Every public function takes an array ``X`` of shape (n_points, dim) (rows are embeddings), validates it
(2-D, finite, enough points; otherwise ``ValueError`` saying what is wrong) and is deterministic given its
``seed``.  Covariance-based metrics also accept a :class:`Moments` accumulator fed chunk by chunk, so a
million tokens x 768 dims are measured in well under 1 GB of RAM.

Conventions: "covariance" is the unbiased sample covariance (``ddof=1``); eigenvalues are sorted in
descending order; logarithms are natural.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "Moments", "SCALE_FREE", "unit_rows", "partition_isotropy", "partition_isotropy_signs", "partition_and_norms", "NORMS", "partition_isotropy_reference", "average_cosine", "cosine_contribution",
    "rogue_dimensions", "isoscore", "isoscore_star", "effective_rank", "participation_ratio", "eee", "vrm",
    "intrinsic_dimension", "alignment", "uniformity", "same_token_pairs", "self_similarity",
    "intra_sentence_similarity", "mev", "anisotropy_baseline", "mev_baseline", "dominant_directions",
    "spectrum", "metric_suite",
]


# ----------------------------------------------------------------------------- validation
def _check(X, min_points: int = 2, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_points, dim); got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numeric; got dtype {X.dtype}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if X.shape[0] < min_points:
        raise ValueError(f"{name} has {X.shape[0]} points; this metric needs at least {min_points}")
    if X.shape[1] < 1:
        raise ValueError(f"{name} has no dimensions")
    return X


def unit_rows(X) -> np.ndarray:
    """The rows of X scaled to unit length (float64); refuses zero rows."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("X has zero-norm rows; cosine-based metrics are undefined for them")
    return X / norms


def rows_with_direction(X) -> np.ndarray:
    """The rows of X that have a direction (norm > 0).  A processing can map a token exactly onto zero (cluster-
    wise centring of a cluster of identical vectors, e.g. every [CLS] of an encoder's layer 0); a direction-based
    measure (cosines, :data:`SCALE_FREE`) leaves such rows out, a measure of the vectors themselves keeps them."""
    X = np.asarray(X)
    keep = np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1) > 0
    return X if keep.all() else X[keep]


# ----------------------------------------------------------------------------- streaming moments
@dataclass
class Moments:
    """Streaming first and second moments of rows: n, sum x, sum x x^T (float64).

    Feed chunks with :meth:`update`; memory is O(dim^2) whatever the number of rows.
    """

    dim: int
    n: int = 0
    sum: np.ndarray = field(default=None, repr=False)
    outer: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        self.sum = np.zeros(self.dim) if self.sum is None else self.sum
        self.outer = np.zeros((self.dim, self.dim)) if self.outer is None else self.outer

    @classmethod
    def of(cls, X, chunk: int = 16384) -> "Moments":
        X = _check(X, 1)
        m = cls(X.shape[1])
        for i in range(0, len(X), chunk):
            m.update(X[i:i + chunk])
        return m

    def update(self, chunk) -> "Moments":
        c = _check(chunk, 1, "chunk")
        if c.shape[1] != self.dim:
            raise ValueError(f"chunk has dim {c.shape[1]}, expected {self.dim}")
        c = c.astype(np.float64, copy=False)
        self.n += len(c)
        self.sum += c.sum(0)
        self.outer += c.T @ c
        return self

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def second_moment(self) -> np.ndarray:
        """Uncentred X^T X (what Mu & Viswanath's I(W) diagonalises)."""
        return self.outer

    @property
    def covariance(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError("the covariance needs at least 2 points")
        return (self.outer - np.outer(self.sum, self.sum) / self.n) / (self.n - 1)


def _moments(X) -> Moments:
    return X if isinstance(X, Moments) else Moments.of(X)


def spectrum(X) -> np.ndarray:
    """Eigenvalues of the covariance, descending, clipped at 0 (the PCA variances)."""
    m = _moments(X)
    ev = np.linalg.eigvalsh(m.covariance)[::-1]  # NumPy's LAPACK: see transforms._top_eigen_of_rows
    return np.clip(ev, 0, None)


# ----------------------------------------------------------------------------- I(W)
def _torch_chunks(X, chunk: int):
    import torch

    dtype = np.float64 if np.asarray(X[:1]).dtype == np.float64 else np.float32
    for i in range(0, len(X), chunk):
        c = np.ascontiguousarray(X[i:i + chunk], dtype=dtype)
        if not c.flags.writeable:  # a read-only memory map; torch wants writable memory (it only reads)
            c = c.copy()
        yield torch.from_numpy(c)


@contextmanager
def _flush_denormals():
    import torch

    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


def _gram(X, chunk: int = 16384) -> np.ndarray:
    """X^T X: each chunk's product in the input precision (NumPy recognises c.T @ c and calls the
    symmetric rank-k BLAS kernel, half the work of a general product), summed in float64."""
    dtype = np.float64 if np.asarray(X[:1]).dtype == np.float64 else np.float32
    M = np.zeros((X.shape[1], X.shape[1]))
    for i in range(0, len(X), chunk):
        c = np.asarray(X[i:i + chunk], dtype=dtype)
        M += c.T @ c
    return M


def _direction_logF(X, U, chunk: int = 8192, both_signs: bool = True):
    """log F(u) = logsumexp_i (x_i . u) for every column u of U (and for -u), streamed over row chunks:
    per chunk the column max (min) is subtracted before exp, and chunks are merged with logaddexp.
    Buffers are reused across chunks, and subnormal results of exp are flushed to zero (they are below
    1e-37 of the column's largest term)."""
    import torch

    k = U.shape[1]
    pos = torch.full((k,), -np.inf, dtype=torch.float64)
    neg = pos.clone()
    Ut = Z = B = None
    with _flush_denormals():
        for c in _torch_chunks(X, chunk):
            if Ut is None:
                Ut = torch.from_numpy(np.ascontiguousarray(U, dtype=c.numpy().dtype))
                Z, B = torch.empty((len(c), k), dtype=c.dtype), torch.empty((len(c), k), dtype=c.dtype)
            z, b = Z[:len(c)], B[:len(c)]
            torch.mm(c, Ut, out=z)
            mx = z.amax(0)
            torch.sub(z, mx, out=b)
            pos = torch.logaddexp(pos, mx.double() + b.exp_().sum(0).double().log())
            if both_signs:
                mn = z.amin(0)
                torch.sub(mn, z, out=b)
                neg = torch.logaddexp(neg, -mn.double() + b.exp_().sum(0).double().log())
    return pos.numpy(), (neg.numpy() if both_signs else None)


def partition_isotropy(X, both_signs: bool = True, return_log: bool = False, chunk: int = 8192):
    """Isotropy I(W) of Mu & Viswanath (2018), as used by Rajaee & Pilehvar (2021).

    I(W) = min_u F(u) / max_u F(u),  F(u) = sum_i exp(x_i . u),
    with u over the eigenvectors of X^T X of the *uncentred* X (symmetric solver ``eigh``), and over their
    negatives too when ``both_signs`` (the definition ranges over all unit vectors; ``both_signs=False``
    reproduces the single-sign variant of the authors' code, whose signs are whatever the solver returns).
    Computed in log space (streamed log-sum-exp), so large norms never overflow; with ``return_log`` the
    natural log of I is returned, finite even where I itself underflows to 0.  Works on memory-mapped
    arrays chunk by chunk.
    """
    both, single = partition_isotropy_signs(X, chunk) if both_signs else (None, _log_iw(X, chunk, False)[1])
    log_i = both if both_signs else single
    return log_i if return_log else float(np.exp(log_i))


def _log_iw(X, chunk: int, both_signs: bool, second_moment=None) -> tuple[float | None, float]:
    X = _check(X)
    _, U = np.linalg.eigh(_gram(X) if second_moment is None else second_moment)  # divide and conquer (syevd), NumPy's LAPACK like the product before it
    pos, neg = _direction_logF(X, U, chunk, both_signs)
    single = float(pos.min() - pos.max())
    if not both_signs:
        return None, single
    logF = np.concatenate([pos, neg])
    return float(logF.min() - logF.max()), single


def partition_isotropy_signs(X, chunk: int = 8192, second_moment=None) -> tuple[float, float]:
    """(log I(W) over +-u, log I(W) over u with the solver's signs) from one eigendecomposition and one pass:
    the definition's value and the authors' single-sign variant (see :func:`partition_isotropy`).
    ``second_moment``: X^T X if already computed (e.g. ``Moments.of(X).second_moment``)."""
    return _log_iw(X, chunk, True, second_moment)


def partition_isotropy_reference(X, both_signs: bool = True, match_dtype: bool = False) -> float:
    """The straightforward implementation (validation and benchmark only), as in the authors' code: the
    general eigen-solver ``np.linalg.eig`` on X^T X, then a Python loop computing sum(exp(X @ u)) for each
    eigenvector u as returned (float64, so float32 X is promoted) and for -u.  ``match_dtype`` casts u to
    X's dtype first (a tuned variant that keeps float32 matrix-vector products)."""
    X = np.asarray(X)
    _, vecs = np.linalg.eig(X.T.astype(np.float64) @ X.astype(np.float64))
    F = []
    for j in range(vecs.shape[1]):
        u = np.real(vecs[:, j])
        u = u.astype(X.dtype) if match_dtype else u
        for v in ((u, -u) if both_signs else (u,)):
            F.append(float(np.sum(np.exp(X @ v))))
    return min(F) / max(F)


# ----------------------------------------------------------------------------- cosine
def average_cosine(X, n_pairs: int | None = None, seed: int = 0) -> float:
    """Mean cosine similarity over distinct pairs of rows (Ethayarajh 2019's anisotropy).

    Exact when ``n_pairs`` is None, in O(N d): with unit rows u_i and s = sum_i u_i,
    sum_{i != j} u_i . u_j = |s|^2 - N.  Otherwise the mean over ``n_pairs`` seeded random pairs i != j.
    """
    U = unit_rows(_check(X))
    N = len(U)
    if n_pairs is None:
        s = U.sum(0)
        return float((s @ s - N) / (N * (N - 1)))
    i, j = _pairs(N, n_pairs, seed)
    return float(np.einsum("ij,ij->i", U[i], U[j]).mean())


def _pairs(N: int, n_pairs: int, seed: int):
    rng = np.random.default_rng(seed)
    i = rng.integers(0, N, n_pairs)
    j = (i + rng.integers(1, N, n_pairs)) % N  # j != i, uniform over the others
    return i, j


def cosine_contribution(X, n_pairs: int | None = None, seed: int = 0) -> np.ndarray:
    """Per-dimension contribution to the average cosine (Timkey & van Schijndel 2021):
    CC_k = E_{i != j}[u_ik u_jk] over unit rows; sum_k CC_k = average cosine.  Exact (O(N d)) by default:
    CC_k = (s_k^2 - sum_i u_ik^2) / (N (N - 1)), s = sum_i u_i."""
    U = unit_rows(_check(X))
    N = len(U)
    if n_pairs is None:
        s = U.sum(0)
        return (s * s - (U * U).sum(0)) / (N * (N - 1))
    i, j = _pairs(N, n_pairs, seed)
    return (U[i] * U[j]).mean(0)


def rogue_dimensions(X, factor: float = 10.0) -> np.ndarray:
    """Dimensions whose share of the total |cosine contribution| exceeds ``factor`` / dim (10x their
    fair share), ordered by contribution."""
    return _rogue_from_contribution(cosine_contribution(X), factor)


def _rogue_from_contribution(cc: np.ndarray, factor: float) -> np.ndarray:
    cc = np.abs(cc)
    share = cc / cc.sum() if cc.sum() > 0 else cc
    idx = np.flatnonzero(share > factor / len(cc))
    return idx[np.argsort(-share[idx])]


# ----------------------------------------------------------------------------- spread
def _isoscore_from_variances(var: np.ndarray) -> float:
    n = len(var)
    if n < 2:
        raise ValueError("IsoScore needs at least 2 dimensions")
    norm = np.linalg.norm(var)
    if norm == 0:
        return 0.0
    v = np.sqrt(n) * var / norm
    delta = np.linalg.norm(v - 1) / np.sqrt(2 * (n - np.sqrt(n)))
    return float(((n - delta**2 * (n - np.sqrt(n))) ** 2 - n) / (n * (n - 1)))


def isoscore(X) -> float:
    """IsoScore (Rudman et al. 2022): from the variances along the principal directions Sigma_D,
    normalised to sqrt(n) Sigma_D / |Sigma_D|, the isotropy defect
    delta = |Sigma_hat - 1| / sqrt(2 (n - sqrt n)) and iota = ((n - delta^2 (n - sqrt n))^2 - n) / (n (n - 1)).
    In [0, 1]; mean-agnostic, rotation- and scale-invariant.  ``X`` is (points, dims)."""
    return _isoscore_from_variances(spectrum(X))


def isoscore_star(X, zeta: float = 0.1, prior=None) -> float:
    """IsoScore* (Rudman & Eickhoff 2024): IsoScore of the shrinkage covariance
    C_zeta = (1 - zeta) cov(X) + zeta C0 (C0 = identity scaled to the mean variance unless ``prior`` is
    given), stable for mini-batches and for fewer points than dimensions."""
    if not 0 <= zeta <= 1:
        raise ValueError(f"zeta must be in [0, 1]; got {zeta}")
    m = _moments(X)
    C = m.covariance
    C0 = np.eye(m.dim) * np.trace(C) / m.dim if prior is None else np.asarray(prior)
    ev = np.linalg.eigvalsh((1 - zeta) * C + zeta * C0)
    return _isoscore_from_variances(np.clip(ev, 0, None))


def effective_rank(X, kind: str = "singular") -> float:
    """Effective rank (Roy & Vetterli 2007): exp of the entropy of p_k = s_k / sum s, with s the singular
    values of the centred X (``kind="singular"``, the original) or the covariance eigenvalues
    (``kind="variance"``).  In [1, dim]."""
    if kind not in ("singular", "variance"):
        raise ValueError(f"kind must be 'singular' or 'variance'; got {kind!r}")
    ev = spectrum(X)
    s = np.sqrt(ev) if kind == "singular" else ev
    if s.sum() == 0:
        return 1.0
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def participation_ratio(X) -> float:
    """Participation ratio PR = (sum lambda)^2 / sum lambda^2 of the covariance eigenvalues; in [1, dim]."""
    ev = spectrum(X)
    return float(ev.sum() ** 2 / (ev**2).sum()) if ev.any() else 1.0


def eee(X) -> float:
    """Eigenvalue Early Enrichment (Marbut et al. 2023): area between the cumulative eigenvalue curve
    S_k = sum_{j<=k} lambda_j and the even-spread line R_k = k S_n / n over k = 0..n (trapezoid rule),
    divided by the area under R (S_n n / 2).  0 = variance spread evenly, 1 = all in one direction.
    (Marbut's code sums over k = 0..n-1; the difference is O(1/n).)"""
    ev = spectrum(X)
    n = len(ev)
    if ev.sum() == 0:
        return 0.0
    S = np.concatenate([[0.0], np.cumsum(ev)])
    R = np.arange(n + 1) * S[-1] / n
    return float(np.trapezoid(S - R) / (S[-1] * n / 2))


def vrm(X) -> float:
    """Vasicek Ratio MSE (Marbut et al. 2023): PCA-transform X, scale it so its total variance equals that
    of a standard normal sample of the same shape (= dim), estimate each component's differential entropy
    H_j (Vasicek), r_j = exp(H_j) / sqrt(2 pi e), VRM = mean_j (1 - r_j)^2.  0 = Gaussian-like and even."""
    from scipy.stats import differential_entropy

    X = np.asarray(_check(X, 4), dtype=np.float64)
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    Z = Xc @ Vt.T
    total = Z.var(0, ddof=1).sum()
    if total == 0:
        raise ValueError("X has zero variance")
    Z *= np.sqrt(X.shape[1] / total)
    H = differential_entropy(Z, axis=0, method="vasicek")
    r = np.exp(H) / np.sqrt(2 * np.pi * np.e)
    r = np.concatenate([r, np.zeros(X.shape[1] - len(r))])  # dims beyond rank carry no spread
    return float(np.mean((1 - r) ** 2))


# ----------------------------------------------------------------------------- intrinsic dimension
def intrinsic_dimension(X, method: str = "twonn", k: int = 20, discard: float = 0.1, max_points: int | None = 5000,
                        seed: int = 0) -> float:
    """Intrinsic dimension of the point cloud.

    ``twonn`` (Facco et al. 2017): mu_i = r2/r1 (2nd and 1st nearest-neighbour distances, duplicates
    removed), F(mu) = 1 - mu^-d; d is the least-squares slope through the origin of -log(1 - F_emp(mu))
    against log mu after discarding the largest ``discard`` fraction of mu.
    ``mle`` (Levina & Bickel 2004, MacKay-Ghahramani averaging): per point
    m_k(x) = [(1/(k-1)) sum_{j<k} log(T_k/T_j)]^-1; returns 1 / mean(1/m_k).
    At most ``max_points`` rows are used (a seeded subsample).
    """
    from sklearn.neighbors import NearestNeighbors

    if method not in ("twonn", "mle"):
        raise ValueError(f"method must be 'twonn' or 'mle'; got {method!r}")
    X = np.unique(np.asarray(_check(X, 3), dtype=np.float64), axis=0)
    if max_points is not None and len(X) > max_points:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_points, replace=False))]
    need = 3 if method == "twonn" else k + 1
    if len(X) < need + 1:
        raise ValueError(f"X has {len(X)} distinct points; {method} needs at least {need + 1}")
    nn = NearestNeighbors(n_neighbors=need if method == "twonn" else k + 1).fit(X)
    dist, _ = nn.kneighbors(X)
    dist = dist[:, 1:]  # drop self
    if method == "twonn":
        mu = np.sort(dist[:, 1] / dist[:, 0])
        n = len(mu)
        F = np.arange(1, n + 1) / n
        keep = slice(0, int(np.floor(n * (1 - discard))))
        x, y = np.log(mu[keep]), -np.log(1 - F[keep])
        return float((x @ y) / (x @ x))
    T = dist[:, :k]
    m_inv = np.log(T[:, -1:] / T[:, :-1]).sum(1) / (k - 1)
    return float(1 / m_inv.mean())


# ----------------------------------------------------------------------------- Wang & Isola
def alignment(X, Y, alpha: float = 2.0) -> float:
    """Alignment (Wang & Isola 2020): E ||f(x) - f(y)||^alpha over positive pairs (row i of X with row i
    of Y), on L2-normalised vectors (lower = better aligned)."""
    X, Y = unit_rows(_check(X, 1)), unit_rows(_check(Y, 1, "Y"))
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape; got {X.shape} and {Y.shape}")
    return float((np.linalg.norm(X - Y, axis=1) ** alpha).mean())


def uniformity(X, t: float = 2.0, n_pairs: int | None = 100_000, seed: int = 0) -> float:
    """Uniformity (Wang & Isola 2020): log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of
    L2-normalised rows (lower = more uniform).  Exact over all pairs when ``n_pairs`` is None."""
    U = unit_rows(_check(X))
    N = len(U)
    if n_pairs is None:
        G = U @ U.T
        d2 = np.clip(2 - 2 * G[np.triu_indices(N, 1)], 0, None)
    else:
        i, j = _pairs(N, n_pairs, seed)
        d2 = np.clip(2 - 2 * np.einsum("ij,ij->i", U[i], U[j]), 0, None)
    return float(logsumexp(-t * d2) - np.log(len(d2)))


def same_token_pairs(token_ids, max_pairs: int = 20_000, seed: int = 0):
    """Seeded pairs (i, j), i != j, of rows holding the same token id (positive pairs for alignment)."""
    token_ids = np.asarray(token_ids)
    rng = np.random.default_rng(seed)
    order = np.argsort(token_ids, kind="stable")
    _, starts, counts = np.unique(token_ids[order], return_index=True, return_counts=True)
    groups = [order[s:s + c] for s, c in zip(starts, counts) if c >= 2]
    if not groups:
        raise ValueError("no token id occurs twice; alignment needs repeated tokens")
    sizes = np.array([len(g) for g in groups], dtype=float)
    pick = rng.choice(len(groups), size=max_pairs, p=sizes / sizes.sum())
    i = np.empty(max_pairs, dtype=int)
    j = np.empty(max_pairs, dtype=int)
    for n, gi in enumerate(pick):
        a, b = rng.choice(groups[gi], 2, replace=False)
        i[n], j[n] = a, b
    return i, j


# ----------------------------------------------------------------------------- Ethayarajh (2019)
def _groups(ids, min_count: int, max_items: int | None, seed: int):
    ids = np.asarray(ids)
    rng = np.random.default_rng(seed)
    order = np.argsort(ids, kind="stable")
    vals, starts, counts = np.unique(ids[order], return_index=True, return_counts=True)
    for v, s, c in zip(vals, starts, counts):
        if c >= min_count:
            g = order[s:s + c]
            if max_items is not None and c > max_items:
                g = np.sort(rng.choice(g, max_items, replace=False))
            yield v, g


def self_similarity(X, token_ids, min_count: int = 5, max_occurrences: int = 200, seed: int = 0) -> dict:
    """SelfSim(w) = mean cosine between distinct occurrences of token w (Ethayarajh 2019), for every token
    id with at least ``min_count`` occurrences (at most ``max_occurrences`` sampled).  Returns {id: value}."""
    X = _check(X)
    if len(token_ids) != len(X):
        raise ValueError("token_ids must have one entry per row of X")
    return {int(v): average_cosine(X[g]) for v, g in _groups(token_ids, min_count, max_occurrences, seed)}


def intra_sentence_similarity(X, sentence_ids) -> dict:
    """IntraSim(s) = mean_i cos(s_bar, f(s, i)), s_bar the mean of the sentence's token vectors
    (Ethayarajh 2019).  Returns {sentence id: value} for sentences of 2+ tokens."""
    U = unit_rows(_check(X))
    out = {}
    for v, g in _groups(sentence_ids, 2, None, 0):
        m = np.asarray(X[g], dtype=np.float64).mean(0)
        out[int(v)] = float((U[g] @ (m / np.linalg.norm(m))).mean())
    return out


def mev(X, token_ids, min_count: int = 5, max_occurrences: int = 200, seed: int = 0) -> dict:
    """MEV(w) = sigma_1^2 / sum_i sigma_i^2 of the (uncentred) occurrence matrix of token w: the share of
    variance explained by its first principal direction (Ethayarajh 2019).  Returns {id: value}."""
    X = _check(X)
    out = {}
    for v, g in _groups(token_ids, min_count, max_occurrences, seed):
        s = np.linalg.svd(np.asarray(X[g], dtype=np.float64), compute_uv=False)
        out[int(v)] = float(s[0] ** 2 / (s**2).sum())
    return out


def anisotropy_baseline(X, token_ids, n_pairs: int = 20_000, seed: int = 0) -> float:
    """Ethayarajh's baseline for SelfSim and IntraSim: mean cosine between random pairs of
    representations of *different* tokens."""
    U = unit_rows(_check(X))
    ids = np.asarray(token_ids)
    i, j = _pairs(len(U), n_pairs * 2, seed)
    keep = ids[i] != ids[j]
    i, j = i[keep][:n_pairs], j[keep][:n_pairs]
    return float(np.einsum("ij,ij->i", U[i], U[j]).mean())


def mev_baseline(X, group_size: int = 20, n_groups: int = 200, seed: int = 0) -> float:
    """Ethayarajh's MEV baseline: mean MEV of random sets of ``group_size`` representations."""
    X = _check(X, group_size)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_groups):
        s = np.linalg.svd(np.asarray(X[np.sort(rng.choice(len(X), group_size, replace=False))], dtype=np.float64),
                          compute_uv=False)
        vals.append(s[0] ** 2 / (s**2).sum())
    return float(np.mean(vals))


# ----------------------------------------------------------------------------- dominant directions
def dominant_directions(X, rogue_factor: float = 10.0) -> dict:
    """Counts of dominant (elongated) directions by several criteria (book/methods.md):

    ``above_uniform``  principal directions explaining more than 1/dim of the variance
    ``pcs_50`` / ``pcs_90``  principal directions needed to reach 50% / 90% of the variance
    ``above_10x_median``  covariance eigenvalues above 10x the median eigenvalue: scale-free, and one exploding
    direction adds one (the median does not move with it)
    ``above_10x_mean``  covariance eigenvalues above 10x the mean eigenvalue (the mean rises with an exploding
    direction, so the others can drop out: not monotone)
    ``variance share above 10x mean``  the share of the variance those directions hold
    ``participation ratio``  (sum lambda)^2 / sum lambda^2 (a spread measure, like ``pcs_50``)
    ``rogue``  rogue dimensions (coordinate axes) by :func:`rogue_dimensions` (needs rows, not moments)

    ``above_10x_median``, ``above_10x_mean`` and ``rogue`` count dominant directions directly (they grow when more directions become
    dominant); ``pcs_*``, ``above_uniform`` and the participation ratio measure spread (they fall when variance
    concentrates into a few directions).
    """
    ev = spectrum(X)
    d = len(ev)
    ratio = ev / ev.sum() if ev.sum() > 0 else ev
    cum = np.cumsum(ratio)
    out = {"above_uniform": int((ratio > 1 / d).sum()),
           "pcs_50": int(np.searchsorted(cum, 0.5) + 1),
           "pcs_90": int(np.searchsorted(cum, 0.9) + 1),
           "above_10x_median": int((ev > 10 * np.median(ev)).sum()),
           "above_10x_mean": int((ev > 10 * ev.mean()).sum()),
           "variance share above 10x mean": float(ratio[ev > 10 * ev.mean()].sum()),
           "participation ratio": float(ev.sum() ** 2 / (ev**2).sum()) if ev.any() else 1.0}
    if not isinstance(X, Moments):
        out["rogue"] = int(len(rogue_dimensions(X, rogue_factor)))
    return out


# ----------------------------------------------------------------------------- all at once
SCALE_FREE = "log10 I(W) of unit rows"
"""log10 I(W) of the rows scaled to unit length (:func:`unit_rows`): blind to the vectors' norms, which move raw
I(W) (the co-criterion of claims C1, C5 and C7)."""

NORMS = ("mean norm", "norm of the mean")
"""I(W) moves with both the vectors' lengths and the mean vector (book/methods.md): reported beside it."""


def partition_and_norms(X, moments: "Moments | None" = None) -> dict[str, float]:
    """log10 I(W) over +-u, the authors' single-sign log10 I(W) (:func:`partition_isotropy`), that of the unit
    rows (:data:`SCALE_FREE`; rows of zero length have no direction and are left out of it), and :data:`NORMS`:
    the mean row norm and the norm of the mean row, from one pass of moments (``moments``, if already computed)."""
    X = _check(X)
    m = Moments.of(X) if moments is None else moments
    both, single = partition_isotropy_signs(X, second_moment=m.second_moment)
    ln10 = np.log(10)
    return {"log10 I(W)": both / ln10, "log10 I(W) single-sign": single / ln10,
            SCALE_FREE: partition_isotropy(unit_rows(rows_with_direction(X)), return_log=True) / ln10,
            "mean norm": float(np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1).mean()),
            "norm of the mean": float(np.linalg.norm(m.mean))}


def metric_suite(X, token_ids=None, sentence_ids=None, seed: int = 0, id_points: int = 3000) -> dict:
    """Every scalar metric of this module for one layer (the per-layer rows of the isotropy chapter)."""
    X = _check(X)
    m = Moments.of(X)
    iw = partition_and_norms(X, m)
    cc = np.abs(cosine_contribution(X))
    out = {
        "I(W)": float(10 ** iw["log10 I(W)"]),
        **iw,
        "average cosine": average_cosine(X),
        "IsoScore": isoscore(m),
        "IsoScore* (zeta=0.2)": isoscore_star(m, 0.2),
        "effective rank": effective_rank(m),
        "participation ratio": participation_ratio(m),
        "EEE": eee(m),
        "VRM": vrm(X[np.sort(np.random.default_rng(seed).choice(len(X), min(len(X), 5000), replace=False))]),
        "TwoNN ID": intrinsic_dimension(X, "twonn", max_points=id_points, seed=seed),
        "uniformity": uniformity(X, seed=seed),
        "top-1 cosine share": float(cc.max() / max(cc.sum(), 1e-12)),
    }
    out.update({f"dominant: {k}": v for k, v in dominant_directions(m).items()})
    out["dominant: rogue"] = int(len(_rogue_from_contribution(cc, 10.0)))
    if token_ids is not None:
        i, j = same_token_pairs(token_ids, 5000, seed)
        out["alignment (same token)"] = alignment(X[i], X[j])
        ss = self_similarity(X, token_ids, seed=seed)
        base = anisotropy_baseline(X, token_ids, seed=seed)
        out["self-similarity"] = float(np.mean(list(ss.values()))) if ss else np.nan
        out["self-similarity (adjusted)"] = out["self-similarity"] - base
        mv = mev(X, token_ids, seed=seed)
        out["MEV (adjusted)"] = (float(np.mean(list(mv.values()))) - mev_baseline(X, seed=seed)) if mv else np.nan
    if sentence_ids is not None:
        out["intra-sentence similarity"] = float(np.mean(list(intra_sentence_similarity(X, sentence_ids).values())))
    return out
