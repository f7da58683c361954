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
