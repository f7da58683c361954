import numpy as np
import pandas as pd
import pytest

from helpers import layerwise as LW


def _frame():
    rows = []
    for seed, noise in ((0, 0.0), (1, 0.1), (2, -0.1)):
        for state, iw, cos in (("pre-trained", -2.0, 0.05), ("fine-tuned", -4.0, 0.02)):
            rows += [{"task": "mr", "state": state, "layer": 6, "metric": "log10 I(W)", "value": iw + noise, "seed": seed},
                     {"task": "mr", "state": state, "layer": 6, "metric": "average cosine", "value": cos, "seed": seed}]
    return pd.DataFrame(rows)


def test_summarize_gives_mean_and_t_interval():
    s = LW.summarize(_frame())
    r = s[(s.state == "pre-trained") & (s.metric == "log10 I(W)")].iloc[0]
    assert r["mean"] == pytest.approx(-2.0) and r.n == 3
    from helpers import intervals

    assert (r.low, r.high) == pytest.approx(intervals.level_interval([-2.0, -1.9, -2.1], "log10 I(W)")[1:3])
    assert r.high < 0                                         # log10 I(W) <= 0: the interval stays in range
    plain = LW.summarize(_frame()[lambda d: d.metric == "log10 I(W)"].assign(metric="other"))
    q = plain[plain.state == "pre-trained"].iloc[0]
    assert q.high - q["mean"] == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)   # unbounded: plain t
    one = LW.summarize(_frame()[lambda d: d.seed == 0])
    assert one.low.isna().all() and one.high.isna().all()


def test_summarize_averages_samples_within_a_replicate():
    """Three sentence samples of one fine-tuning seed are one replicate, not three: n counts seeds, and the
    interval is that of the per-seed means."""
    f = _frame()
    crossed = pd.concat([f.assign(sample=j, value=f.value + d) for j, d in enumerate((-0.5, 0.0, 0.5))])
    s = LW.summarize(crossed).set_index(["state", "metric"])
    ref = LW.summarize(f).set_index(["state", "metric"])
    assert (s.n == 3).all() and np.allclose(s["mean"], ref["mean"]) and np.allclose(s.low, ref.low, equal_nan=True)
    with pytest.raises(ValueError, match="'replicate'"):
        LW.summarize(f, replicate="replicate")


def test_isotropy_verdicts_use_each_metrics_direction():
    v = LW.isotropy_verdicts(LW.summarize(_frame())).set_index("metric")
    assert not v.loc["log10 I(W)", "more_isotropic"]        # I(W) fell: less isotropic
    assert v.loc["average cosine", "more_isotropic"]         # cosine fell: more isotropic


def test_an_interval_of_I_W_stays_in_its_range():
    """I(W) in [0, 1]: three seeds near 0 with a wide spread give a plain t-interval below 0, not a bounded one."""
    from helpers import intervals

    v = [0.0001, 0.0006, 0.00002]
    assert intervals.t_interval(v)[1] < 0
    m, lo, hi, _ = intervals.level_interval(v, "I(W)")
    assert 0 <= lo < m < hi <= 1


def test_two_pretrained_models_side_by_side_on_the_same_sentences(tmp_cache):
    """Chapter 00's comparison of the two objectives: every layer of each model on the same sentences, a relative
    depth from 0 to 1 whatever the model's depth, and the at-a-glance table in the order the models were given,
    whose numbers are those of the per-layer table (last layer; mean of the transformer layers)."""
    from helpers import extract as E

    kw = dict(task="mr", split="test", n_sentences=12, sample_seed=3, max_length=32, frequency_corpus="mr")
    ex = {m: E.extract(m, **kw) for m in ("mlm", "minilm")}
    assert ex["mlm"].tokens.sentence_id.unique().tolist() == ex["minilm"].tokens.sentence_id.unique().tolist()
    geo = LW.model_geometry(ex, seed=3)
    layers = geo.groupby("model").layer.max()
    assert layers["mlm"] == 4 and layers["minilm"] == 6
    assert geo.groupby("model").depth.agg(["min", "max"]).values.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    glance = LW.geometry_at_a_glance(geo)
    assert list(glance.model.cat.categories) == ["mlm", "minilm"]
    assert set(glance.metric) == set(LW.GEOMETRY_AT_A_GLANCE) and len(glance) == 2 * len(LW.GEOMETRY_AT_A_GLANCE)
    cos = geo[(geo.model == "minilm") & (geo.metric == "average cosine")].set_index("layer").value
    row = glance[(glance.model == "minilm") & (glance.metric == "average cosine")].iloc[0]
    assert row["last layer"] == cos[6] and row["mean of layers 1..L"] == pytest.approx(cos.loc[1:6].mean())
    assert cos[6] != geo[(geo.model == "mlm") & (geo.metric == "average cosine") & (geo.layer == 4)].value.iloc[0]


def test_c1_is_decided_per_model_from_chapter_02s_table():
    """``ledger.c1_by_model``: one C1 verdict per model from the same table, samples of a seed averaged first
    (two samples per seed here: n stays the number of seeds), in the table's model order; a model whose I(W) falls
    (both raw and on unit rows) supports C1, one whose I(W) rises everywhere contradicts it."""
    from helpers import claims as C, geometry as G, ledger as LG

    r = np.random.default_rng(0)
    rows = []
    for model, change in (("mlm", -1.0), ("minilm", +1.0)):
        for task in ("mr", "bshift"):
            for seed in (0, 1, 2):
                for sample in (0, 1):
                    for layer in range(0, 5):
                        for metric in ("log10 I(W)", G.SCALE_FREE):
                            for state, shift in (("pre-trained", 0.0), ("fine-tuned", change)):
                                rows.append({"model": model, "task": task, "seed": seed, "sample_seed": 10 * seed + sample,
                                             "layer": layer, "metric": metric, "state": state,
                                             "value": -3.0 + shift + r.normal(0, 0.05)})
    verdicts = LG.c1_by_model(pd.DataFrame(rows))
    assert list(verdicts) == ["mlm", "minilm"]
    assert verdicts["mlm"].verdict == C.SUPPORTED and verdicts["minilm"].verdict == C.CONTRADICTED
    assert verdicts["mlm"].n == 3 and verdicts["mlm"].estimate == pytest.approx(-1.0, abs=0.05)


def test_counts_shares_and_spreads_keep_their_intervals_in_range():
    """A count of directions in [0, d], a share in [0, 1], a participation ratio in [1, d]: three seeds with a wide
    spread would put a plain interval outside (a count of 0 on a log scale spanned thirty decades)."""
    from helpers import intervals

    for v, metric, dims, lo_min, hi_max in (([0, 0, 2], "dominant: rogue", 384, 0, 384),
                                          ([40, 137, 380], "pcs_90", 384, 0, 384),
                                          ([0.2, 0.5, 0.95], "variance share above 10x mean", None, 0, 1),
                                          ([1.2, 30.0, 64.0], "participation ratio", 256, 1, 256)):
        m, lo, hi, n = intervals.level_interval(v, metric, dims=dims)
        assert lo_min <= lo <= m <= hi <= hi_max and n == 3, (metric, lo, hi)
    plain = intervals.t_interval([40, 137, 380])
    assert plain[2] > 384 or plain[1] < 0           # what the bounds prevent
    m, lo, hi, _ = intervals.level_interval([0, 0, 2], "dominant: rogue")
    assert lo >= 0 and hi < 100                      # no 1e9 upper bound from a log of 0


def test_summarize_reads_each_models_dimension_once(monkeypatch):
    """summarize bounds counts of directions by the model's hidden size, read from its config once per model, not
    once per cell (the isotropy chapter's table has about 1,400 cells)."""
    from types import SimpleNamespace

    from helpers import layerwise as LW, models

    calls = []
    monkeypatch.setattr(models, "model_config", lambda m: calls.append(m) or SimpleNamespace(hidden_size=8))
    LW._dims.cache_clear()
    try:
        df = pd.DataFrame([{"model": m, "task": "mr", "state": st, "layer": layer, "metric": "dominant: pcs_90",
                            "seed": s, "value": float(s + layer)}
                           for m in ("a", "b") for st in ("pre-trained", "fine-tuned") for layer in range(3)
                           for s in range(3)])
        out = LW.summarize(df, by=("model", "task", "state", "layer", "metric"))
        assert len(out) == 12 and sorted(calls) == ["a", "b"]
        assert (out.high <= 8).all()
    finally:
        LW._dims.cache_clear()
