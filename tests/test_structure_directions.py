"""Structure and dominant-direction helpers on synthetic data with known answers."""
import numpy as np
import pandas as pd
import pytest

from helpers import directions as D, structure as S
from helpers.checks import ParameterError

R = np.random.default_rng(0)


def planted_clusters(n=900, d=16, k=3):
    centers = R.standard_normal((k, d)) * 6
    y = np.repeat(np.arange(k), n // k)
    return centers[y] + R.standard_normal((len(y), d)), y


def test_planted_clusters_are_recovered():
    X, y = planted_clusters()
    t = S.cluster_agreement(X, {"truth": y, "noise": R.integers(0, 3, len(y))}, k=3).set_index("label")
    assert t.loc["truth", "ARI"] > 0.99 and t.loc["truth", "NMI"] > 0.98 and t.loc["truth", "silhouette"] > 0.5
    assert abs(t.loc["noise", "ARI"]) < 0.02
    assert (S.kmeans(X, 3, seed=1) == S.kmeans(X, 3, seed=1)).all()


def test_probe_splits_by_sentence_and_reads_a_linear_label():
    X = R.standard_normal((1200, 8))
    y = (X[:, 0] > 0).astype(int)
    groups = np.repeat(np.arange(120), 10)
    tr, te = S.sentence_split(groups, seed=0)
    assert not set(groups[tr]) & set(groups[te])
    assert S.probe(X, y, groups)["accuracy"] > 0.95
    noise = R.integers(0, 2, 1200)
    assert abs(S.probe(X, noise, groups)["accuracy"] - 0.5) < 0.08


def test_planted_direction_is_found_removed_and_carries_the_label():
    n, d = 2000, 20
    y = R.integers(0, 2, n)
    u = np.linalg.qr(R.standard_normal((d, 1)))[0][:, 0]
    X = R.standard_normal((n, d)) + np.outer((2 * y - 1) * 8.0, u)   # the label lives on one elongated direction
    rem = D.PCRemoval.fit(X[:1500], 3)
    assert abs(rem.components[0] @ u) > 0.99                          # found
    Xr = rem.remove(X[1500:], 1)
    assert np.var((Xr - rem.mean) @ u) < 0.05 * np.var((X[1500:] - rem.mean) @ u)  # removed
    np.testing.assert_allclose(rem.remove(X, 0), X)                    # k = 0 is the identity
    tokens = pd.DataFrame({"label": y, "token_type": np.where(y == 1, "a", "b")})
    res = D.removal_probes(X[:1500], tokens.iloc[:1500], X[1500:], tokens.iloc[1500:], [0, 1], labels=["label"])
    acc = res.set_index(["k", "features"]).accuracy
    assert acc[(0, "after removal")] > 0.95
    assert abs(acc[(1, "after removal")] - 0.5) < 0.08                 # probe on the removed direction: chance
    assert acc[(1, "removed subspace only")] > 0.95                    # the direction alone carries the label


def test_torch_removal_matches_numpy():
    import torch

    X = R.standard_normal((300, 12)) + 3
    rem = D.PCRemoval.fit(X, 4)
    np.testing.assert_allclose(rem.as_torch(4)(torch.tensor(X, dtype=torch.float32)).numpy(), rem.remove(X, 4), atol=1e-4)


def test_maps_are_seeded():
    X, _ = planted_clusters(300)
    a, b = S.maps_2d(X, "tsne", seed=0), S.maps_2d(X, "tsne", seed=0)
    np.testing.assert_allclose(a, b)
    assert S.maps_2d(X, "pca").shape == (300, 2)


@pytest.mark.parametrize("call,match", [
    (lambda X: S.kmeans(X, 0), "k=0"),
    (lambda X: S.kmeans(X, 10**6), "larger than the number of points"),
    (lambda X: D.PCRemoval.fit(X, 17), r"k=17 is out of range.*\[0, 16\]"),
    (lambda X: D.check_ks([0, 5, 99], 16), "k=99"),
    (lambda X: S.label_column(pd.DataFrame({"a": [1]}), "colour"), "label='colour'.*token_type"),
    (lambda X: S.maps_2d(X, "umap3d"), "pca, tsne"),
])
def test_bad_parameters_are_named(call, match):
    X, _ = planted_clusters(90)
    with pytest.raises(ParameterError, match=match):
        call(X)


def test_random_directions_are_orthonormal_and_nested():
    from helpers import directions as D

    V = D.random_directions(20, 5, seed=3)
    np.testing.assert_allclose(V @ V.T, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(D.random_directions(20, 5, seed=3), V)
    assert not np.allclose(D.random_directions(20, 5, seed=4), V)


def test_removal_control_probes_see_a_label_that_lives_in_the_top_direction():
    """The label is carried by the largest-variance direction: removing it costs accuracy, removing a random
    direction does not."""
    import pandas as pd

    from helpers import directions as D

    r = np.random.default_rng(0)
    def sample(n):
        y = r.integers(0, 2, n)
        X = r.standard_normal((n, 12))
        X[:, 0] = (2 * y - 1) * 6 + r.standard_normal(n)            # the top direction is the label
        return X, pd.DataFrame({"label": y})
    (Xf, tf), (Xt, tt) = sample(600), sample(400)
    out = D.removal_control_probes(Xf, tf, Xt, tt, ks=[1, 2], seed=0).set_index(["k", "removed"]).accuracy
    assert out[0, "none"] > 0.95 and out[1, "random"] > 0.9 and out[1, "top"] < 0.65


def test_type_split_and_control_task():
    ids = np.repeat(np.arange(50), 8)
    tr, te = S.type_split(ids, seed=0)
    assert not set(ids[tr]) & set(ids[te]) and len(tr) + len(te) == len(ids)
    y = np.where(np.arange(50) < 10, "a", "b")[ids]
    c = S.control_task(ids, y, seed=0)
    per_type = pd.Series(c).groupby(ids).nunique()
    assert (per_type == 1).all()                              # one control label per word type
    assert (pd.Series(c).groupby(ids).first().value_counts().to_dict() == {"b": 40, "a": 10})  # same distribution
    assert not (c == y).all() and (S.control_task(ids, y, seed=0) == c).all()


def structure_tokens(n_types=60, per_type=12, n_sent=120, seed=0):
    r = np.random.default_rng(seed)
    ids = r.permutation(np.repeat(np.arange(n_types), per_type))
    types = np.array(["stopword", "other", "punctuation"])[np.arange(n_types) % 3]
    buckets = np.array(["top100", "100-1k", "1k-10k"])[(np.arange(n_types) // 3) % 3]
    return pd.DataFrame({"token_id": ids, "token_type": types[ids], "freq_bucket": buckets[ids],
                         "sentence": np.arange(len(ids)) % n_sent})


def test_structure_measures_see_a_planted_structure_and_its_loss():
    """Token type planted as well-separated regions: high ARI, near-perfect held-out-type probe; the same tokens
    at random positions: ARI near 0, probe near its majority, selectivity near 0."""
    t = structure_tokens()
    r = np.random.default_rng(1)
    centers = r.standard_normal((3, 16)) * 8
    code = pd.factorize(t.token_type)[0]
    X = centers[code] + r.standard_normal((len(t), 16))
    X[:, 0] += np.where(t.freq_bucket == "top100", 6, 0)        # frequency too, within content words
    good = S.structure_measures(X, t, k=3, seed=0).set_index(["structure", "measure"]).value
    bad = S.structure_measures(r.standard_normal(X.shape), t, k=3, seed=0).set_index(["structure", "measure"]).value
    tt = "token type"
    assert good[tt, "ARI"] > 0.9 and abs(good[tt, "ARI"] - good[tt, "ARI, other k-means seed"]) < 0.05
    assert good[tt, "held-out-type probe accuracy"] > 0.95 and abs(bad[tt, "ARI"]) < 0.05
    assert bad[tt, "held-out-type probe accuracy"] < good[tt, "held-out-type probe majority"] + 0.15
    assert good["frequency (content words)", "held-out-type probe accuracy"] > \
        bad["frequency (content words)", "held-out-type probe accuracy"] + 0.2
    assert abs(bad[tt, "selectivity"]) < 0.15 and good[tt, "selectivity"] > 0.3
    assert set(good.index.get_level_values("structure")) == set(S.STRUCTURES)


def test_linear_cka_equals_the_hsic_formula_and_its_invariances():
    """Linear CKA against Kornblith et al.'s (2019) HSIC form, tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)) with
    K = A A^T, L = B B^T, H the centring matrix; 1 under rotation and isotropic scaling, below 1 otherwise."""
    from helpers import structure as S

    rng = np.random.default_rng(3)
    A = rng.normal(size=(60, 7))
    B = A @ rng.normal(size=(7, 5)) + 0.5 * rng.normal(size=(60, 5))
    H = np.eye(60) - 1 / 60
    K, L = A @ A.T, B @ B.T
    hsic = lambda X, Y: np.trace(X @ H @ Y @ H)
    assert S.linear_cka(A, B) == pytest.approx(hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L)), rel=1e-10)
    Q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    assert S.linear_cka(A, 3.0 * A @ Q + 2.0) == pytest.approx(1.0, abs=1e-12)
    assert S.linear_cka(A, rng.normal(size=(60, 7))) < 0.5


def test_knn_overlap_equals_a_brute_force_neighbour_search():
    """10-NN overlap against scikit-learn's exact cosine neighbours (itself excluded), row by row; 1 for a
    rotated and rescaled copy, near k/n for unrelated spaces."""
    from sklearn.neighbors import NearestNeighbors

    from helpers import structure as S

    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    B = 0.6 * A + B                                           # related, not the same

    def neighbours(X, k=10):
        idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(X).kneighbors(X)[1]
        return [set(r[r != i][:k]) for i, r in enumerate(idx)]

    expected = np.mean([len(a & b) / 10 for a, b in zip(neighbours(A), neighbours(B))])
    assert S.knn_overlap(A, B, k=10) == pytest.approx(expected, abs=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert S.knn_overlap(A, 5.0 * A @ Q, k=10) == 1.0
    assert S.knn_overlap(A, rng.normal(size=(200, 8)), k=10) < 0.15
