"""Enhancement measurements on a tiny real run: shapes, invariances that must hold, caching, the head path."""
import numpy as np
import pandas as pd
import pytest

from helpers import classifiers as CL, enhancement as EN, extract as E, finetune as F, tasks, transforms as TR
from helpers.checks import ParameterError

KW = dict(task="mr", max_length=48, frequency_corpus="mr")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISOBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        run = F.finetune(model="minilm", task="mr", epochs=1.0, batch_size=16, max_length=32, train_size=32,
                         eval_size=16, checkpoints=0, evals_per_epoch=1)
        ex = {}
        for part, n in (("train", 40), ("test", 24)):
            ex["pre", part] = E.extract("minilm", split=part, n_sentences=n, **KW)
            ex["post", part] = E.extract(run, split=part, n_sentences=n, **KW)
        yield run, ex


def test_sentence_means():
    X = np.arange(12.0).reshape(6, 2)
    np.testing.assert_allclose(EN.sentence_means(X, [0, 0, 1, 1, 1, 2]), [[1, 2], [6, 7], [10, 11]])
    with pytest.raises(ValueError, match="no tokens"):
        EN.sentence_means(X, [0, 0, 2, 2, 2, 2])


def test_layer_isotropy_table_and_control(tiny):
    _, ex = tiny
    t = EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM", "Clustering+ZM", "ABTT"], n_clusters=4,
                          layers=[0, 6])
    assert set(t.method) == {"none", "ZM", "Clustering+ZM", "ABTT", EN.CONTROL}
    assert set(t.metric) == set(EN.ISOTROPY_METRICS + EN.NORMS) and set(t.layer) == {0, 6}
    w = t.pivot_table(index=["layer", "metric"], columns="method", values="value")
    # translation invariance of IsoScore: ZM changes nothing; I(W), which reacts to the mean, does move
    np.testing.assert_allclose(w.xs("IsoScore", level="metric")["ZM"], w.xs("IsoScore", level="metric")["none"], rtol=1e-6)
    assert (abs(w.xs("log10 I(W)", level="metric")["ZM"] - w.xs("log10 I(W)", level="metric")["none"]) > 1e-3).all()
    assert (w.xs("norm of the mean", level="metric")["ZM"] < 0.5 * w.xs("norm of the mean", level="metric")["none"]).all()
    # both-sign I(W) is never above the single-sign one (its min/max range over more directions)
    assert (w.xs("log10 I(W)", level="metric") <= w.xs("log10 I(W) single-sign", level="metric") + 1e-9).all().all()


def test_gaussian_cloud_has_the_tokens_moments_and_no_more():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (300, 5)) + 4, rng.normal(0, 1, (300, 5)) - 4]) * [3, 1, 1, 1, 0.1]
    fit, test = EN.gaussian_cloud(X, 50_000, seed=1)
    assert fit.shape == X.shape and test.shape == (50_000, 5) and test.dtype == np.float32
    np.testing.assert_allclose(test.mean(0), X.mean(0), atol=0.1)
    np.testing.assert_allclose(np.cov(test.T), np.cov(X.T), rtol=0.05, atol=0.05)
    # no clusters: the two modes of X (bimodal along every axis) are gone from the cloud
    from scipy import stats
    assert stats.kurtosis(X[:, 1]) < -1.5 and abs(stats.kurtosis(test[:, 1])) < 0.1
    np.testing.assert_array_equal(EN.gaussian_cloud(X, 10, seed=1)[1], EN.gaussian_cloud(X, 10, seed=1)[1])


def test_scale_free_isotropy_ignores_the_norms():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (2000, 8)) + [2, 0, 0, 0, 0, 0, 0, 0]
    scaled = X * rng.uniform(0.2, 5.0, (2000, 1))          # the same directions, other lengths
    a, b = EN.isotropy_metrics(X), EN.isotropy_metrics(scaled)
    assert a[EN.SCALE_FREE] == pytest.approx(b[EN.SCALE_FREE], abs=1e-9)
    assert abs(a["log10 I(W)"] - b["log10 I(W)"]) > 0.05


def test_tokens_a_method_maps_onto_zero_leave_the_direction_measures_only():
    """Cluster-wise centring of a block of identical vectors (every [CLS] of a layer 0) maps them exactly onto
    zero: they have no direction, so the cosine and scale-free measures are taken on the other rows, while I(W)
    and the norms keep every row; a cloud without such rows is measured as before."""
    from helpers import geometry as G

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 8)) + 3.0, np.tile(rng.normal(size=(1, 8)) * 10 + 40, (60, 1))]).astype(np.float32)
    processed = EN.fit_methods(["Clustering+ZM"], X, seed=0, n_clusters=3)["Clustering+ZM"].transform(X)
    zero = np.linalg.norm(processed, axis=1) == 0
    assert zero.sum() == 60                               # the identical block is its own cluster: centred to zero
    with pytest.raises(ValueError, match="zero-norm"):
        G.unit_rows(processed)
    m = EN.isotropy_metrics(processed)
    kept = EN.isotropy_metrics(processed[~zero])
    assert all(np.isfinite(v) for v in m.values())
    assert m[EN.SCALE_FREE] == pytest.approx(kept[EN.SCALE_FREE]) and m["average cosine"] == pytest.approx(kept["average cosine"])
    assert m["mean norm"] == pytest.approx(kept["mean norm"] * 300 / 360, rel=1e-5)   # the norms keep every row
    assert G.rows_with_direction(X) is X or np.array_equal(G.rows_with_direction(X), X)


def test_layer_isotropy_of_the_cloud(tiny):
    _, ex = tiny
    real = EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM"], layers=[6])
    cloud = EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM"], layers=[6], cloud=True)
    assert set(cloud.method) == {"none", "ZM"} and set(cloud.metric) == {"log10 I(W)"}
    iw = real[real.metric == "log10 I(W)"].set_index("method").value
    assert not np.allclose(cloud.set_index("method").value[iw.index], iw)


def test_tables_are_cached_and_keyed_by_settings(tiny, monkeypatch):
    _, ex = tiny
    a = EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM"], layers=[1])
    monkeypatch.setattr(EN, "isotropy_metrics", lambda X: (_ for _ in ()).throw(AssertionError("recomputed")))
    pd.testing.assert_frame_equal(a, EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM"], layers=[1]))
    with pytest.raises(AssertionError, match="recomputed"):
        EN.layer_isotropy(ex["pre", "train"], ex["pre", "test"], ["ZM"], layers=[2])


def test_task_scores_zm_is_a_no_op_for_the_standardised_classifier(tiny):
    _, ex = tiny
    s = EN.task_scores(ex["post", "train"], ex["post", "test"], "mr", ["ZM", "Clustering+ZM", "Whitening"], n_clusters=3,
                       max_fit_tokens=None).pivot_table(index="metric", columns="method", values="value")
    assert s.loc["accuracy", "ZM"] == s.loc["accuracy", "none"]
    assert 0 <= s.loc["accuracy"].min() and s.loc["accuracy"].max() <= 1


def test_head_without_processing_reproduces_the_model(tiny):
    import torch

    run, ex = tiny
    sample = E.sample_sentences(tasks.load("mr"), "test", 24, 0)
    t = EN.head_without_retraining(run, ex["post", "train"], "mr", sample.text.tolist(), sample.label.values,
                                   ["ZM", "ABTT"], max_length=32).pivot_table(index="metric", columns="method", values="value")
    model, tok = run.classifier(), __import__("transformers").AutoTokenizer.from_pretrained(run.model_dir)
    with torch.inference_mode():
        logits = model(**tok(sample.text.tolist(), truncation=True, max_length=32, padding=True, return_tensors="pt")).logits
    direct = float((logits.argmax(-1).numpy() == sample.label.values).mean())
    assert t.loc["accuracy", "none"] == pytest.approx(direct)
    assert set(t.columns) == {"none", "ZM", "ABTT"}


def test_sweep_uses_set_params_over_the_grid(tiny):
    _, ex = tiny
    grid = {"ABTT": ("n_components", [0, 2]), "Whitening": ("n_components", [4, 64])}
    s = EN.sweep(ex["pre", "train"], ex["pre", "test"], "mr", grid=grid, max_fit_tokens=None)
    assert set(zip(s.method, s.setting)) == {("ABTT", 0), ("ABTT", 2), ("Whitening", 4), ("Whitening", 64)}
    assert "task accuracy" in set(s.metric)
    assert max(EN.default_grid(384)["Whitening"][1]) < 384


def test_bad_methods_are_named():
    with pytest.raises(ParameterError, match="methods"):
        EN.check_methods(["ZM", "PCA"])
    assert EN.check_methods(["ZM"]) == ["none", "ZM"]
    assert set(TR.PAPER_METHODS) <= set(TR.METHODS)


def test_frozen_classifier_under_removal_is_the_heads_counterpart(tiny):
    """k = 0 is the classifier on unprocessed features; removing every direction leaves each test sentence at the
    training mean, so the fixed classifier predicts one class for all of them."""
    _, ex = tiny
    tr, te = ex["pre", "train"], ex["pre", "test"]
    d = tr.hidden(tr.n_layers).shape[1]
    out = EN.frozen_classifier_under_removal(tr, te, "mr", [0, 2, d]).query("metric == 'accuracy'").set_index("k").value
    ytr, yte = EN._sentence_labels(tr), EN._sentence_labels(te)
    direct = EN.classifier_score("mr", EN.sentence_means(tr.hidden(tr.n_layers), tr.tokens.sentence), ytr,
                                 EN.sentence_means(te.hidden(te.n_layers), te.tokens.sentence), yte)["accuracy"]
    assert out[0] == pytest.approx(direct)
    assert out[d] == pytest.approx((yte == 1).mean()) or out[d] == pytest.approx((yte == 0).mean())


def test_flat_features_are_dropped_before_standardising():
    """A switched-off dimension (1e-32 noise, as in all-MiniLM-L6-v2's last layer) is dropped on fit; without the
    drop, 1e-16 of rounding added there at test time would decide every prediction."""
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    X[:, 3] = 1e-32 * rng.standard_normal(200)
    y = (X[:, 0] > 0).astype(int)
    drop = CL.DropFlatFeatures().fit(X)
    assert drop.keep_.tolist() == [True, True, True, False, True]
    assert drop.transform(X).shape == (200, 4)
    with pytest.raises(ValueError, match="expected 5 features"):
        drop.transform(X[:, :4])
    with pytest.raises(NotFittedError):
        CL.DropFlatFeatures().transform(X)
    T = np.zeros((10, 5))
    T[:, 3] = 1e-16 * np.arange(-5, 5)                       # rounding left by a transform, nothing else
    book = CL.sentence_classifier("mr").fit(X, y)
    assert len(set(book.predict(T))) == 1
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    plain = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert len(set(plain.predict(T))) == 2                   # the failure the drop prevents
