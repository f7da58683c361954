"""Isotropy-enhancement transformers: against straightforward reimplementations, properties, contract, bad input."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from helpers import geometry as G, transforms as T
from helpers.checks import ParameterError


def cloud(n=600, d=12, seed=0, shift=3.0):
    """Anisotropic data with a common offset (like contextual embeddings); ``seed`` draws other points of
    the same distribution."""
    rotation = np.linalg.qr(np.random.default_rng(100 + d).standard_normal((d, d)))[0]
    scales = np.geomspace(5, 0.2, d)
    return np.random.default_rng(seed).standard_normal((n, d)) * scales @ rotation + shift


def clustered(n_per=120, k=4, d=10, seed=1):
    r = np.random.default_rng(seed)
    centres = r.standard_normal((k, d)) * 8
    X = np.vstack([c + r.standard_normal((n_per, d)) * np.geomspace(3, 0.3, d) for c in centres])
    return X


# ----------------------------------------------------------------------------- independent references
def ref_abtt(V, D):
    """Mu & Viswanath Algorithm 1, written out: PCA of the centred vectors, projection of the raw ones."""
    mu = V.mean(0)
    Vt = V - mu
    U = PCA(n_components=D).fit(Vt).components_ if D else np.zeros((0, V.shape[1]))
    return np.array([vt - sum((u @ v) * u for u in U) for v, vt in zip(V, Vt)])


def ref_whitening(X, k=None):
    """Su et al. 2021's compute_kernel_bias / transform_and_normalize (without the normalisation)."""
    mu = X.mean(0, keepdims=True)
    cov = np.cov(X.T)
    u, s, vh = np.linalg.svd(cov)
    W = (u @ np.diag(1 / np.sqrt(s)))[:, :k]
    return (X - mu) @ W


def ref_cluster_based(X, labels, n_pc):
    """The companion's cluster_based loop (per cluster PCA(), then one vector at a time), given its labels."""
    out = np.zeros_like(X)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        Z = X[idx] - X[idx].mean(0)
        pcs = PCA().fit(Z).components_[:n_pc]
        for i, z in zip(idx, Z):
            x = z.copy()
            for u in pcs:
                x = x - (z @ u) * u
            out[i] = x
    return out


# ----------------------------------------------------------------------------- agreement with references
def test_zero_mean_matches_and_is_zero_mean():
    X, Y = cloud(), cloud(seed=5)
    zm = T.ZeroMean().fit(X)
    np.testing.assert_allclose(zm.transform(Y), Y - X.mean(0))
    np.testing.assert_allclose(zm.transform(X).mean(0), 0, atol=1e-12)


@pytest.mark.parametrize("D", [0, 1, 3])
def test_abtt_matches_algorithm_1_and_leaves_no_variance_on_removed_directions(D):
    X = cloud()
    a = T.AllButTheTop(n_components=D).fit(X)
    np.testing.assert_allclose(a.transform(X), ref_abtt(X, D), atol=1e-9)
    out = a.transform(X)
    if D:
        assert np.abs((out @ a.components_.T).std(0)).max() < 1e-9
    assert a.projection_ == "published"


def test_abtt_default_d_is_d_over_100():
    assert T.AllButTheTop().fit(cloud(d=12)).n_components_ == 1
    assert T.default_components(768) == 8 and T.default_components(384) == 4
    assert T.default_components(384, 12) == 6 and T.default_components(768, 12) == 12


@pytest.mark.parametrize("k", [None, 5])
def test_whitening_matches_su_et_al_and_whitens(k):
    X, Y = cloud(), cloud(seed=3)
    w = T.Whitening(n_components=k).fit(X)
    ref = ref_whitening(X, k)
    got = w.transform(X)
    signs = np.sign((got * ref).sum(0))  # eigenvector signs are arbitrary
    np.testing.assert_allclose(got * signs, ref, atol=1e-8)
    np.testing.assert_allclose(np.cov(got.T), np.eye(got.shape[1]), atol=1e-8)
    assert w.transform(Y).shape == (len(Y), k or X.shape[1])


def test_soft_zca_limits():
    X = cloud()
    z0 = T.SoftZCA(epsilon=0).fit(X).transform(X)
    np.testing.assert_allclose(np.cov(z0.T), np.eye(X.shape[1]), atol=1e-8)       # full ZCA whitens
    w = T.Whitening().fit(X)
    assert np.allclose(z0, w.transform(X) @ (w.kernel_ * np.sqrt(w.eigenvalues_)).T, atol=1e-8)  # ZCA = rotated PCA-whitening
    big = 1e8
    zb = T.SoftZCA(epsilon=big).fit(X).transform(X)
    np.testing.assert_allclose(zb * np.sqrt(big), X - X.mean(0), rtol=1e-5, atol=1e-5)  # -> centring


def test_cluster_zero_mean_every_fitted_cluster_is_zero_mean_and_new_rows_use_nearest_centroid():
    X, Y = clustered(), clustered(seed=7)
    czm = T.ClusterZeroMean(n_clusters=4, random_state=0).fit(X)
    out = czm.transform(X)
    labels = czm.predict(X)
    for c in range(4):
        np.testing.assert_allclose(out[labels == c].mean(0), 0, atol=1e-9)
    ly = czm.predict(Y)
    d2 = ((Y[:, None, :] - czm.centroids_[None]) ** 2).sum(-1)
    assert (ly == d2.argmin(1)).all()
    np.testing.assert_allclose(czm.transform(Y), Y - czm.cluster_means_[ly])


def test_cluster_based_matches_the_companion_loop():
    X = clustered(n_per=80, k=3, d=8)
    cb = T.ClusterBased(n_clusters=3, n_components=2, random_state=0).fit(X)
    ref = ref_cluster_based(X, cb.predict(X), n_pc=2)
    np.testing.assert_allclose(cb.transform(X), ref, atol=1e-9)
    # no variance left along each cluster's removed directions
    out, lab = cb.transform(X), cb.predict(X)
    for c in range(3):
        assert np.abs(out[lab == c] @ cb.components_[c].T).max() < 1e-9


def test_clusters_with_duplicate_points_do_not_crash():
    """k-means asked for more clusters than distinct points leaves clusters empty (the companion code crashes)."""
    X = np.repeat(np.eye(3) * 5, 10, axis=0)
    for est in (T.ClusterZeroMean(n_clusters=5), T.ClusterBased(n_clusters=5, n_components=2)):
        out = est.fit(X).transform(X)
        assert np.isfinite(out).all() and (est.cluster_sizes_ == 0).any()
        np.testing.assert_allclose(out, 0, atol=1e-12)


def test_random_partition_control_is_seeded_and_keeps_sizes():
    X = cloud()
    sizes = [300, 200, 100]
    rp = T.RandomPartitionZeroMean(sizes=sizes, random_state=3).fit(X)
    assert list(rp.group_sizes_) == sizes
    np.testing.assert_allclose(rp.transform(X), rp.transform(X))
    np.testing.assert_allclose((rp.group_sizes_[:, None] * rp.group_means_).sum(0) / len(X), X.mean(0))


# ----------------------------------------------------------------------------- streaming and dtypes
@pytest.mark.parametrize("est", [T.ZeroMean(), T.AllButTheTop(n_components=2), T.Whitening(n_components=4), T.SoftZCA(0.1)])
def test_fit_from_streamed_moments_equals_fit_from_data(est):
    X, Y = cloud(), cloud(seed=9)
    m = G.Moments(X.shape[1])
    for i in range(0, len(X), 97):
        m.update(X[i:i + 97])
    a, b = clone(est).fit(X).transform(Y), clone(est).fit(m).transform(Y)
    signs = np.sign((a * b).sum(0)) if isinstance(est, T.Whitening) else 1
    np.testing.assert_allclose(a, b * signs, atol=1e-8)


def test_float32_in_float32_out():
    X = cloud().astype(np.float32)
    for m in T.METHODS:
        out = T.make(m, X.shape[1], n_clusters=3).fit(X).transform(X)
        assert out.dtype == np.float32 and out.shape[0] == len(X), m


# ----------------------------------------------------------------------------- scikit-learn contract
@pytest.mark.parametrize("method", T.METHODS)
def test_estimator_contract(method):
    X = cloud()
    est = T.make(method, X.shape[1], n_clusters=3)
    if method != "none":
        with pytest.raises(NotFittedError):
            est.transform(X)
    params = est.get_params()
    assert clone(est).get_params() == params
    assert not [a for a in vars(est) if a.endswith("_")]          # __init__ stores settings only
    est.fit(X)
    assert est.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :5])


def test_pipeline_and_set_params_sweep():
    X, Y = cloud(), cloud(seed=2)
    pipe = make_pipeline(T.ZeroMean(), T.AllButTheTop(n_components=1))
    out = {D: pipe.set_params(allbutthetop__n_components=D).fit(X).transform(Y) for D in (0, 2)}
    np.testing.assert_allclose(out[0], Y - X.mean(0), atol=1e-9)   # D = 0 after ZM: centring alone
    assert not np.allclose(out[0], out[2])


def test_isotropy_rises_on_anisotropic_data():
    X, Y = cloud(n=2000), cloud(n=2000, seed=4)
    base = G.partition_isotropy(Y)
    for m in ("ZM", "ABTT", "Whitening"):
        assert G.partition_isotropy(T.make(m, X.shape[1]).fit(X).transform(Y)) > base, m


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad,match", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "finite"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "finite"),
    (np.zeros((0, 3)), "shape"),
    (np.ones(5), "2-D"),
])
@pytest.mark.parametrize("method", T.METHODS)
def test_bad_data_is_refused(method, bad, match):
    with pytest.raises(ValueError, match=match):
        T.make(method, 2, n_clusters=1).fit(bad)


@pytest.mark.parametrize("est,param", [
    (T.ClusterZeroMean(n_clusters=1000), "n_clusters"),
    (T.ClusterBased(n_clusters=0), "n_clusters"),
    (T.ClusterBased(n_clusters=2, n_components=12), "n_components"),
    (T.AllButTheTop(n_components=12), "n_components"),
    (T.AllButTheTop(n_components=-1), "n_components"),
    (T.Whitening(n_components=13), "n_components"),
    (T.Whitening(n_components=2.5), "n_components"),
    (T.Whitening(n_components=0), "n_components"),
    (T.SoftZCA(epsilon=-1e-3), "epsilon"),
    (T.RandomPartitionZeroMean(sizes=[-1, 3]), "sizes"),
])
def test_bad_settings_name_the_parameter_and_range(est, param):
    with pytest.raises(ValueError, match=param) as e:
        est.fit(cloud(n=100))
    assert "[" in str(e.value) or "must" in str(e.value)


def test_singular_covariance_is_explained():
    X = cloud(n=5, d=12)           # 5 rows: rank 4
    with pytest.raises(ValueError, match="n_components <= 4"):
        T.Whitening(n_components=6).fit(X)
    w = T.Whitening().fit(X)        # None: every direction of positive variance
    assert w.n_components_ == 4
    np.testing.assert_allclose(np.cov(w.transform(X).T), np.eye(4), atol=1e-6)
    assert np.isfinite(T.SoftZCA(epsilon=1e-3).fit(X).transform(X)).all()


def test_layernorm_outputs_are_whitened_on_their_rank():
    """LayerNorm outputs obey one linear constraint: covariance rank d - 1, so 'all d' cannot be whitened."""
    import torch

    Z = torch.nn.functional.layer_norm(torch.tensor(cloud(n=400, d=12)), (12,)).numpy()
    w = T.Whitening().fit(Z)
    assert w.n_components_ == 11
    with pytest.raises(ValueError, match="n_components <= 11"):
        T.Whitening(n_components=12).fit(Z)


def test_clustering_methods_need_the_data_not_moments():
    with pytest.raises(ValueError, match="Moments"):
        T.ClusterZeroMean(n_clusters=2).fit(G.Moments.of(cloud()))


def test_unknown_method_lists_the_choices():
    with pytest.raises(ParameterError, match="ZM"):
        T.make("PCA", 10)


def test_kmeans_on_a_subsample_still_uses_every_row_for_the_statistics():
    X = clustered(n_per=300, k=4)
    full = T.ClusterZeroMean(n_clusters=4, kmeans_rows=None).fit(X)
    sub = T.ClusterZeroMean(n_clusters=4, kmeans_rows=200).fit(X)
    assert sub.cluster_sizes_.sum() == len(X)                      # every row assigned
    out, lab = sub.transform(X), sub.predict(X)
    for c in range(4):
        np.testing.assert_allclose(out[lab == c].mean(0), 0, atol=1e-9)
    # well-separated clusters: the same partition either way
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(full.predict(X), lab) == 1.0
    with pytest.raises(ValueError, match="kmeans_rows"):
        T.ClusterBased(n_clusters=5, kmeans_rows=3).fit(X)


def test_remembered_clustering_is_the_clustering_computed_afresh():
    """The in-memory k-means memo only saves work: a cleared memo gives identical centroids, the two
    clustering methods share one clustering, and a fitted model never aliases the remembered array."""
    X = clustered(n_per=100, k=5, d=12, seed=3)
    T._KMEANS_MEMO.clear()
    a = T.ClusterZeroMean(5, random_state=1).fit(X)
    b = T.ClusterBased(5, 2, random_state=1).fit(X)
    np.testing.assert_array_equal(a.centroids_, b.centroids_)
    a.centroids_[:] = 0                                   # must not reach the memo or b
    T._KMEANS_MEMO.clear()
    c = T.ClusterBased(5, 2, random_state=1).fit(X)
    np.testing.assert_array_equal(b.centroids_, c.centroids_)
    assert np.abs(c.centroids_).sum() > 0
    d = T.ClusterBased(5, 2, random_state=2).fit(X)       # another seed is another clustering
    assert not np.array_equal(c.centroids_, d.centroids_)
