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
