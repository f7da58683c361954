"""Property suite for helpers.geometry, in the spirit of IsoScore's testing suite."""
import numpy as np
import pytest
from scipy.stats import ortho_group

from helpers import geometry as G

RNG = np.random.default_rng(0)
GAUSS = RNG.standard_normal((4000, 32))
LINE = np.outer(RNG.standard_normal(2000), RNG.standard_normal(32)) + 1e-6 * RNG.standard_normal((2000, 32))
ROT = ortho_group.rvs(32, random_state=1)


def aniso(n=3000, d=32, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)) * np.geomspace(3, 0.1, d)


# ---------------------------------------------------------------- input validation
@pytest.mark.parametrize("fn", [G.partition_isotropy, G.average_cosine, G.isoscore, G.effective_rank,
                                G.participation_ratio, G.eee, G.vrm, G.intrinsic_dimension, G.cosine_contribution])
@pytest.mark.parametrize("bad,match", [(np.ones(5), "2-D"), (np.ones((1, 4)), "at least"),
                                       (np.array([[1.0, np.nan], [1, 2]]), "NaN"),
                                       (np.array([["a", "b"], ["c", "d"]]), "numeric")])
def test_bad_input_raises_valueerror(fn, bad, match):
    with pytest.raises(ValueError, match=match):
        fn(bad)


# ---------------------------------------------------------------- I(W)
def test_partition_isotropy_gaussian_near_one_line_near_zero():
    assert G.partition_isotropy(GAUSS / 10) > 0.9
    assert G.partition_isotropy(LINE) < 1e-3


def test_partition_isotropy_matches_reference_and_log_space_survives_large_norms():
    X = aniso() + 0.3
    assert np.log(G.partition_isotropy(X)) == pytest.approx(np.log(G.partition_isotropy_reference(X)), abs=1e-6)
    assert G.partition_isotropy(X, both_signs=False) >= G.partition_isotropy(X)
    big = X * 1000  # exp(x . u) overflows float64 here
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(np.exp(big @ np.linalg.eigh(big.T @ big)[1][:, -1])))
    log_i = G.partition_isotropy(big, return_log=True)
    assert np.isfinite(log_i) and log_i < -100
    assert G.partition_isotropy(big) == 0.0  # underflows, but the log above is finite


def test_partition_isotropy_is_not_mean_agnostic():
    X = GAUSS / 10
    assert G.partition_isotropy(X + 0.5) < 0.5 * G.partition_isotropy(X)


def test_partition_isotropy_rotation_invariant():
    X = aniso()
    assert G.partition_isotropy(X @ ROT, return_log=True) == pytest.approx(G.partition_isotropy(X, return_log=True), rel=1e-6)


# ---------------------------------------------------------------- cosine
def test_average_cosine_exact_and_sampled_agree():
    X = aniso() + 0.5
    exact = G.average_cosine(X)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G_ = U @ U.T
    brute = (G_.sum() - np.trace(G_)) / (len(X) * (len(X) - 1))
    assert exact == pytest.approx(brute, abs=1e-10)
    assert G.average_cosine(X, n_pairs=200_000, seed=3) == pytest.approx(exact, abs=0.01)
    assert abs(G.average_cosine(GAUSS)) < 0.01 and G.average_cosine(np.abs(LINE)) > 0.99


def test_cosine_contribution_sums_to_average_cosine_and_finds_a_rogue_dimension():
    X = RNG.standard_normal((3000, 32))
    X[:, 7] += 8.0  # a planted rogue dimension
    cc = G.cosine_contribution(X)
    assert cc.sum() == pytest.approx(G.average_cosine(X), abs=1e-10)
    assert np.argmax(cc) == 7
    assert G.rogue_dimensions(X).tolist() == [7]
    assert G.cosine_contribution(X, n_pairs=100_000).sum() == pytest.approx(cc.sum(), abs=0.02)


# ---------------------------------------------------------------- spread
def test_isoscore_gaussian_line_mean_and_invariances():
    assert G.isoscore(GAUSS) > 0.95
    assert G.isoscore(LINE) < 0.01
    X = aniso()
    s = G.isoscore(X)
    assert G.isoscore(X + 100.0) == pytest.approx(s, abs=1e-9)       # mean-agnostic
    assert G.isoscore(X @ ROT) == pytest.approx(s, abs=1e-9)         # rotation invariant
    assert G.isoscore(X * 7.5) == pytest.approx(s, abs=1e-9)         # scale invariant


def test_isoscore_counts_dimensions_used():
    """iota (n - 1) + 1 = k for data spread evenly over k of n dimensions (IsoScore's defining property)."""
    n, k = 32, 8
    X = np.zeros((5000, n))
    X[:, :k] = RNG.standard_normal((5000, k))
    assert G.isoscore(X) * (n - 1) + 1 == pytest.approx(k, rel=0.05)


def test_isoscore_star_shrinks_towards_isotropy_and_handles_few_points():
    X = aniso()
    assert G.isoscore_star(X, 0.0) == pytest.approx(G.isoscore(X), abs=1e-9)
    assert G.isoscore_star(X, 1.0) == pytest.approx(1.0)
    assert G.isoscore(X) < G.isoscore_star(X, 0.5) < 1
    few = GAUSS[:10]  # fewer points than dimensions: IsoScore collapses, IsoScore* stays sensible
    assert G.isoscore_star(few, 0.5) > G.isoscore(few)
    with pytest.raises(ValueError, match="zeta"):
        G.isoscore_star(X, 1.5)


@pytest.mark.parametrize("k", [1, 4, 12])
def test_effective_rank_and_participation_ratio_of_a_k_dim_subspace(k):
    basis = np.linalg.qr(RNG.standard_normal((64, k)))[0]
    X = RNG.standard_normal((4000, k)) @ basis.T
    assert G.effective_rank(X, "variance") == pytest.approx(k, rel=0.05)
    assert G.effective_rank(X) == pytest.approx(k, rel=0.05)
    assert G.participation_ratio(X) == pytest.approx(k, rel=0.08)


def test_eee_and_vrm_extremes():
    assert G.eee(GAUSS) < 0.1 and G.eee(LINE) > 0.95  # finite-sample eigenvalue spread keeps EEE above 0
    assert G.vrm(GAUSS) < 0.01
    assert G.vrm(aniso()) > G.vrm(GAUSS) * 3
    assert G.eee(GAUSS @ ROT + 5) == pytest.approx(G.eee(GAUSS), abs=1e-9)


# ---------------------------------------------------------------- intrinsic dimension
@pytest.mark.parametrize("d", [2, 5, 10])
def test_twonn_and_mle_recover_manifold_dimension(d):
    basis = np.linalg.qr(RNG.standard_normal((40, d)))[0]
    X = RNG.uniform(size=(3000, d)) @ basis.T
    assert G.intrinsic_dimension(X, "twonn") == pytest.approx(d, rel=0.15)
    assert G.intrinsic_dimension(X, "mle") == pytest.approx(d, rel=0.2)


def test_twonn_on_a_curved_manifold():
    t = RNG.uniform(0, 2 * np.pi, (3000, 2))
    torus = np.c_[np.cos(t[:, 0]), np.sin(t[:, 0]), np.cos(t[:, 1]), np.sin(t[:, 1])]
    assert G.intrinsic_dimension(torus) == pytest.approx(2, rel=0.15)


# ---------------------------------------------------------------- Wang & Isola, Ethayarajh
def test_alignment_and_uniformity():
    X = GAUSS
    assert G.alignment(X, X) == 0
    assert G.alignment(X, -X) == pytest.approx(4.0)
    assert G.alignment(X * 100, X * 100 + 1e-9) < 1e-12   # normalised: scale does not matter
    # an isotropic cloud is more uniform (lower) than a clustered one; exact and sampled agree
    assert G.uniformity(GAUSS) < G.uniformity(np.abs(LINE) + 0.01)
    assert G.uniformity(GAUSS[:800], n_pairs=None) == pytest.approx(G.uniformity(GAUSS[:800], n_pairs=200_000), abs=0.02)


def test_ethayarajh_measures():
    # token 0: tight cluster; token 1: spread; so SelfSim(0) > SelfSim(1)
    a = RNG.standard_normal(32)
    X = np.r_[a + 0.05 * RNG.standard_normal((20, 32)), RNG.standard_normal((20, 32))]
    ids = np.r_[np.zeros(20, int), np.ones(20, int)]
    ss = G.self_similarity(X, ids)
    assert ss[0] > 0.99 and abs(ss[1]) < 0.2
    mv = G.mev(X, ids)
    assert mv[0] > 0.95 and mv[1] < 0.3
    assert abs(G.anisotropy_baseline(X, ids)) < 0.3
    sents = np.repeat(np.arange(8), 5)
    intra = G.intra_sentence_similarity(X, sents)
    assert set(intra) == set(range(8)) and intra[0] > 0.99
    assert 0 < G.mev_baseline(GAUSS) < 0.3


def test_same_token_pairs_are_same_token_distinct_rows():
    ids = np.array([1, 2, 1, 3, 2, 1])
    i, j = G.same_token_pairs(ids, 100)
    assert (ids[i] == ids[j]).all() and (i != j).all()
    with pytest.raises(ValueError, match="twice"):
        G.same_token_pairs(np.arange(5))


# ---------------------------------------------------------------- dominant directions, streaming
def test_dominant_direction_counts():
    X = GAUSS.copy()
    X[:, :3] *= 20  # three planted elongated directions
    d = G.dominant_directions(X)
    assert d["above_10x_mean"] == 3 and d["pcs_50"] <= 3 and d["above_uniform"] >= 3
    assert d["pcs_90"] >= d["pcs_50"]
    assert G.dominant_directions(GAUSS)["above_10x_mean"] == 0


def test_streamed_moments_equal_in_memory_results():
    X = aniso(5000)
    m = G.Moments(X.shape[1])
    for i in range(0, len(X), 333):
        m.update(X[i:i + 333])
    assert m.n == len(X)
    np.testing.assert_allclose(m.covariance, np.cov(X, rowvar=False), atol=1e-10)
    for f in (G.isoscore, G.effective_rank, G.participation_ratio, G.eee):
        assert f(m) == pytest.approx(f(X), abs=1e-10)
    with pytest.raises(ValueError, match="dim"):
        m.update(np.ones((3, 5)))


def test_streaming_memory_is_bounded():
    """200k x 256 float32 (205 MB if materialised) measured with chunks of 8k rows."""
    import tracemalloc

    tracemalloc.start()
    m = G.Moments(256)
    r = np.random.default_rng(0)
    for _ in range(25):
        m.update(r.standard_normal((8000, 256), dtype=np.float32))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert m.n == 200_000 and peak < 60e6
    assert G.isoscore(m) > 0.95


def test_metric_suite_runs_on_a_layer():
    X = aniso(600) + 0.2
    ids = RNG.integers(0, 40, 600)
    sents = np.repeat(np.arange(60), 10)
    out = G.metric_suite(X, ids, sents)
    assert 0 < out["I(W)"] <= 1 and 0 <= out["IsoScore"] <= 1 and np.isfinite(list(out.values())).all()


# ---------------------------------------------------------------- reference packages (pinned in requirements.txt)
def test_agrees_with_the_isoscore_package_and_its_orientation():
    import torch
    from IsoScore import IsoScore as ref  # isoscore==2.0.1: input (n_samples, dims), torch-based

    X = aniso()
    assert float(ref.IsoScore(X)) == pytest.approx(G.isoscore(X), abs=1e-6)
    # orientation: a line scores ~0 and a Gaussian ~1 as (samples, dims); transposed they would not
    assert float(ref.IsoScore(LINE)) < 0.01 and float(ref.IsoScore(GAUSS)) > 0.95
    star = ref.istar().IsoScore_star(X, torch.eye(32, dtype=torch.float64), 0.3)
    assert float(star) == pytest.approx(G.isoscore_star(X, 0.3, prior=np.eye(32)), abs=1e-6)


@pytest.mark.parametrize("d", [2, 6])
def test_agrees_with_scikit_dimension(d):
    import skdim  # scikit-dimension==0.5.0: input (n_samples, dims)

    basis = np.linalg.qr(RNG.standard_normal((30, d)))[0]
    X = RNG.uniform(size=(2000, d)) @ basis.T
    assert skdim.id.TwoNN().fit(X).dimension_ == pytest.approx(G.intrinsic_dimension(X, "twonn"), rel=1e-6)
    assert skdim.id.MLE(K=20).fit(X).dimension_ == pytest.approx(G.intrinsic_dimension(X, "mle", k=20), rel=1e-6)


def test_partition_isotropy_signs_is_both_conventions_in_one_pass():
    X = np.random.default_rng(3).standard_normal((500, 8)) + 0.5
    both, single = G.partition_isotropy_signs(X)
    assert both == pytest.approx(G.partition_isotropy(X, return_log=True))
    assert single == pytest.approx(G.partition_isotropy(X, both_signs=False, return_log=True))
    assert both <= single


def test_one_exploding_direction_counts_as_one_against_the_median():
    """Three directions at 40x the bulk are dominant against both references; when a fourth explodes to 2000x, the
    mean eigenvalue rises past the three, so the count against the mean *falls* (not monotone), while the count
    against the median rises by one."""
    rng = np.random.default_rng(0)
    scale = np.ones(50)
    scale[:3] = 40 ** 0.5
    before = G.dominant_directions(rng.normal(size=(20_000, 50)) * scale)
    scale[3] = 2000 ** 0.5
    after = G.dominant_directions(rng.normal(size=(20_000, 50)) * scale)
    assert before["above_10x_median"] == 3 and after["above_10x_median"] == 4
    assert after["above_10x_mean"] < before["above_10x_mean"]
    assert G.dominant_directions(rng.normal(size=(20_000, 50)) * scale * 7.0)["above_10x_median"] == 4   # scale-free
