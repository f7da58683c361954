"""Benchmark: ``helpers.transforms.ClusterBased`` against the companion paper's per-vector implementation.

Rajaee & Pilehvar's published ``cluster_based(representations, n_cluster, n_pc)`` (ACL 2021) clusters with
``scipy.cluster.vq.kmeans2(minit='points')``, fits a full ``sklearn.decomposition.PCA()`` per cluster and
then loops over vectors in Python, removing one principal direction at a time.  This script times, on
100k x 768 float32 clustered, anisotropic data (27 clusters, 12 directions):

1. ours: ``ClusterBased(27, 12).fit(X).transform(X)`` (scikit-learn k-means, top eigenvectors only, one loop
   over clusters);
2. the reference in the companion's style, *with its own clustering* (kmeans2 + per-cluster PCA + per-vector
   loop), end to end;
3. the same reference loop given *our* cluster labels, to check that both compute the same output
   (max |difference| printed; clusterings from two k-means implementations differ, the method does not).

Prints both times and the speed-up ratio (a ratio, not an assertion).

    python benchmarks/cluster_based_speed.py [--n 100000] [--dim 768] [--clusters 27] [--pcs 12]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("ISOBOOK_QUIET", "1")

import numpy as np


def synthetic(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    centres = r.standard_normal((k, d)).astype(np.float32) * 2
    scales = np.geomspace(1.0, 0.02, d).astype(np.float32)
    Q = np.linalg.qr(r.standard_normal((d, d)))[0].astype(np.float32)
    X = (r.standard_normal((n, d), dtype=np.float32) * scales) @ Q
    return X + centres[r.integers(0, k, n)]


def companion_style(X, labels, n_pc):
    """Per-cluster mean and PCA(), then a Python loop over vectors and directions (the published style)."""
    from sklearn.decomposition import PCA

    out = np.zeros(X.shape, dtype=np.float64)
    for c in range(labels.max() + 1):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 0:
            continue
        mean = np.zeros(X.shape[1])
        for i in idx:                       # per-vector sums, as published
            mean = mean + X[i]
        mean = mean / len(idx)
        Z = np.array([X[i] - mean for i in idx])
        comps = PCA().fit(Z).components_
        for row, i in enumerate(idx):
            z = Z[row]
            removed = np.zeros(X.shape[1])
            for j in range(min(n_pc, len(comps))):
                removed = removed + np.dot(z, comps[j]) * comps[j]
            out[i] = z - removed
    return out


def companion_end_to_end(X, k, n_pc, seed=0):
    from scipy.cluster.vq import kmeans2

    _, labels = kmeans2(X, k, minit="points", seed=seed)
    return companion_style(X, labels, n_pc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--clusters", type=int, default=27)
    ap.add_argument("--pcs", type=int, default=12)
    args = ap.parse_args()
    from helpers.transforms import ClusterBased

    X = synthetic(args.n, args.dim, args.clusters)
    ClusterBased(args.clusters, args.pcs).fit(X[:2000]).transform(X[:2000])  # warm-up (thread pools)

    t0 = time.perf_counter()
    cb = ClusterBased(n_clusters=args.clusters, n_components=args.pcs, random_state=0).fit(X)
    ours = cb.transform(X)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    companion_end_to_end(X, args.clusters, args.pcs)
    t_ref = time.perf_counter() - t0

    same = companion_style(X, cb.predict(X), args.pcs)
    diff = float(np.abs(ours.astype(np.float64) - same).max())
    print(f"ClusterBased on {args.n} x {args.dim} float32, {args.clusters} clusters, {args.pcs} directions")
    print(f"  helpers.transforms.ClusterBased fit+transform : {t_ours:7.2f} s")
    print(f"  companion style (kmeans2 + PCA() + loop)       : {t_ref:7.2f} s   speed-up {t_ref / t_ours:.1f}x")
    print(f"  same labels, max |ours - companion loop|       : {diff:.2e}  (float32 output)")


if __name__ == "__main__":
    main()
