"""Claim verdicts on synthetic tables whose answer is known: a true effect, no effect, a reversed effect."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from helpers import claims as C
from helpers import intervals

R = np.random.default_rng(0)
METHODS = ["ZM", "Clustering+ZM", "ABTT", "Cluster-based"]


def test_t_interval_matches_scipy_and_handles_small_n():
    from scipy import stats

    v = [1.0, 2.0, 4.0, 3.5]
    m, lo, hi, n = C.t_interval(v)
    ref = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert n == 4 and m == pytest.approx(np.mean(v)) and (lo, hi) == pytest.approx(ref)
    m, lo, hi, n = C.t_interval([2.0])
    assert n == 1 and m == 2.0 and np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("lo,hi,n,direction,margin,expected", [
    (0.1, 0.3, 3, +1, 0, C.SUPPORTED), (-0.3, -0.1, 3, +1, 0, C.CONTRADICTED), (-0.1, 0.2, 3, +1, 0, C.INCONCLUSIVE),
    (0.1, 0.3, 2, +1, 0, C.INCONCLUSIVE),                       # too few replicates
    (-0.02, 0.005, 3, -1, 0.01, C.SUPPORTED), (0.02, 0.05, 3, -1, 0.01, C.CONTRADICTED),
    (0.0, 0.02, 3, -1, 0.01, C.INCONCLUSIVE), (np.nan, np.nan, 5, +1, 0, C.INCONCLUSIVE)])
def test_decide(lo, hi, n, direction, margin, expected):
    assert C.decide(lo, hi, n, direction, margin) == expected


def test_a_bound_on_the_threshold_is_inconclusive_not_decided_by_rounding():
    assert C.decide(1e-13, 0.3, 3) == C.INCONCLUSIVE
    assert C.decide(-0.3, -1e-13, 3) == C.INCONCLUSIVE
    assert C.decide(0.01 + 1e-13, 0.05, 3, -1, 0.01) == C.INCONCLUSIVE
    assert C.decide(1e-6, 0.3, 3) == C.SUPPORTED


def test_all_of():
    assert C.all_of([C.SUPPORTED] * 3) == C.SUPPORTED
    assert C.all_of([C.SUPPORTED, C.INCONCLUSIVE]) == C.INCONCLUSIVE
    assert C.all_of([C.SUPPORTED, C.CONTRADICTED]) == C.CONTRADICTED
    assert C.all_of([]) == C.INCONCLUSIVE


def enhancement_table(effect_pt, effect_ft, n=4, noise=0.01, base=-3.0, seed=0):
    """log10 I(W)-like rows: effect added to 'none' per method; replicate noise."""
    R = np.random.default_rng(seed)
    rows = []
    for r in range(n):
        for task in ("a", "b"):
            for state, eff in (("pre-trained", effect_pt), ("fine-tuned", effect_ft)):
                b = base + R.normal(0, 0.2)  # replicate-level variation, shared by the methods (paired)
                rows.append({"replicate": r, "task": task, "state": state, "method": "none", "value": b})
                for m in METHODS:
                    e = eff[m] if isinstance(eff, dict) else eff
                    rows.append({"replicate": r, "task": task, "state": state, "method": m,
                                 "value": b + e + R.normal(0, noise)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("pt,ft,expected", [
    (1.0, 0.5, C.SUPPORTED), (0.0, 0.0, C.INCONCLUSIVE), (1.0, -0.5, C.CONTRADICTED),
    (1.0, {"ZM": 0.5, "Clustering+ZM": 0.5, "ABTT": -0.4, "Cluster-based": 0.5}, C.CONTRADICTED)])
def test_c5_known_answers(pt, ft, expected):
    v = C.c5_enhancement_isotropy(enhancement_table(pt, ft), METHODS)
    assert v.verdict == expected
    assert set(v.detail.method) == set(METHODS) and len(v.detail) == 2 * 2 * 4
    if expected == C.CONTRADICTED:
        assert v.high < 0
    assert "Criterion" in v.markdown() and v.verdict in v.markdown()


def test_c5_with_one_seed_is_inconclusive_and_says_why():
    v = C.c5_enhancement_isotropy(enhancement_table(1.0, 1.0, n=1), METHODS)
    assert v.verdict == C.INCONCLUSIVE and v.n == 1 and "at least 3" in v.markdown()


@pytest.mark.parametrize("pt,ft,expected", [
    (0.05, 0.0, C.SUPPORTED),        # helps pre-trained, flat on fine-tuned: the paper's claim
    (0.05, -0.03, C.SUPPORTED),      # hurts fine-tuned: no improvement either
    (0.05, 0.05, C.CONTRADICTED),    # improves fine-tuned beyond the margin
    (0.0, 0.0, C.INCONCLUSIVE),      # flat everywhere: the contrast with pre-trained is missing (seeded)
    (-0.05, -0.1, C.INCONCLUSIVE),   # hurts both, the fine-tuned more: never helped, so it cannot have stopped helping
    (0.0, -0.05, C.INCONCLUSIVE),    # flat on pre-trained, hurts fine-tuned: the contrast alone is not the claim
])
@pytest.mark.parametrize("n", [3, 4])
def test_c6_known_answers(pt, ft, expected, n):
    v = C.c6_task_effect(enhancement_table(pt, ft, n=n, noise=0.002, base=0.8), METHODS)
    assert v.verdict == expected, v.detail
    if (pt, ft) == (-0.05, -0.1):        # the headline says what keeps it from support: the pre-trained cells
        assert v.statistic.startswith("change of the pre-trained test score") and v.estimate < 0


def test_c6_does_not_count_zero_by_construction_cells():
    """ZM cannot change a standardised linear classifier: its cells are reported, not counted, so a ZM gain
    (impossible on real data) cannot contradict and ZM's zeros cannot support."""
    d = enhancement_table(0.05, {"ZM": 0.05, "Clustering+ZM": 0.0, "ABTT": 0.0, "Cluster-based": 0.0}, noise=0.003, base=0.8)
    v = C.c6_task_effect(d, METHODS)
    assert v.verdict == C.SUPPORTED
    zm = v.detail[v.detail.method == "ZM"]
    assert len(zm) and set(zm.test) == {"reported: zero by construction"}
    assert "ZM" not in set(v.detail[v.detail.test.str.startswith("fine-tuned:")].method)
    with pytest.raises(ValueError, match="shift"):
        C.c6_task_effect(d, ["ZM"])


def _c6_rows(pt_gain, ft_gain, seed, noise=0.003, tasks=("a",), n=3):
    """C6 rows with one counted method (ABTT): each state's score without processing varies by replicate, the
    method adds its gain plus noise."""
    r = np.random.default_rng(seed)
    rows = []
    for rep in range(n):
        for t in tasks:
            for state, gain in (("pre-trained", pt_gain), ("fine-tuned", ft_gain)):
                b = 0.8 + r.normal(0, 0.02)
                rows += [{"replicate": rep, "task": t, "state": state, "method": "none", "value": b},
                         {"replicate": rep, "task": t, "state": state, "method": "ABTT",
                          "value": b + gain + r.normal(0, noise)}]
    return pd.DataFrame(rows)


NOMINAL = 1 - C.LEVEL / 2 - 0.5       # 2.5%: the one-sided error of a two-sided 95% interval


def _at_most_nominal(rate, draws):
    """The rate at the null's boundary is at most nominal plus three Monte Carlo standard errors (with these draws
    a rule that supports 15% of the time fails by a wide margin)."""
    return rate <= NOMINAL + 3 * np.sqrt(NOMINAL * (1 - NOMINAL) / draws)


def test_c6_is_calibrated_at_each_boundary_of_its_null():
    """C6 supports only when all three of its parts hold (an intersection-union test): at the boundary of each
    part, with the other two certain, it supports at most at the nominal 2.5% (plus Monte Carlo error). Each
    boundary: a fine-tuned gain exactly at the margin; a pre-trained gain of exactly 0 (the fine-tuned model hurt,
    so the contrast holds); equal gains, both clearly inside their own bounds (the contrast at 0)."""
    sets = [f"set {i}" for i in range(1000)]                 # a cell per set: one call decides a thousand cells
    d = C.c6_task_effect(_c6_rows(0.05, C.FLAT_MARGIN, 0, tasks=sets), ["ABTT"]).detail
    ft = d[d.test.str.startswith("fine-tuned:")]
    d = C.c6_task_effect(_c6_rows(0.0, -0.05, 1, tasks=sets), ["ABTT"]).detail
    pt = d[d.test.str.startswith("pre-trained:")]
    contrast = [C.c6_task_effect(_c6_rows(0.005, 0.005, s, noise=0.0005), ["ABTT"]).verdict == C.SUPPORTED
                for s in range(300)]
    rates = {"fine-tuned at the margin": ((ft.verdict == C.SUPPORTED).mean(), len(ft)),
             "pre-trained gain 0": ((pt.verdict == C.SUPPORTED).mean(), len(pt)),
             "contrast 0": (np.mean(contrast), len(contrast))}
    assert all(_at_most_nominal(rate, n) for rate, n in rates.values()), rates
    assert not _at_most_nominal(0.15, 300)                  # the bound tells 15% from 2.5% at these draws
    assert all(rate > 0 for rate, _ in rates.values())      # each boundary is the boundary: not a null far inside


def c7_table(local, control, zm=0.5, n=4, noise=0.02):
    rows = []
    for r in range(n):
        for layer in (1, 2, 3):
            b = -3 + R.normal(0, 0.2)
            for method, e in (("none", 0), ("ZM", zm), ("random partitions", zm + control), ("Clustering+ZM", zm + local)):
                rows.append({"replicate": r, "task": "a", "layer": layer, "method": method,
                             "value": b + e + R.normal(0, noise)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("local,control,zm,expected", [
    (1.0, 0.1, 0.5, C.SUPPORTED),
    (0.1, 0.1, 0.5, C.INCONCLUSIVE),        # no better than random groups
    (0.1, 0.5, 0.5, C.CONTRADICTED),        # worse than random groups
    (1.0, 0.1, -0.5, C.SUPPORTED),          # ZM below the baseline is C5's cell, not C7's
    (-0.3, -0.5, 0.5, C.CONTRADICTED),      # beats random groups, but below global ZM
])
def test_c7_known_answers(local, control, zm, expected):
    v = C.c7_local_isotropy(c7_table(local, control, zm))
    assert v.verdict == expected, v.detail
    assert set(v.detail.test) == set(C.C7_TESTS) and "none" not in " ".join(v.detail.test)
    assert v.statistic.startswith("log10 I(W): Clustering+ZM - ")          # names the cell it reports
    assert v.statistic.replace("log10 I(W): ", "") in v.where
    assert v.replicates.startswith("sentence samples")


def c7_depth_table(local_by_layer, n=3, noise=0.02, seed=0):
    """C7 rows whose Clustering+ZM effect is ``local_by_layer[i]`` in layer i + 1 (control and ZM at 0.6, 0.5)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n):
        for layer, local in enumerate(local_by_layer, start=1):
            b = -3 + rng.normal(0, 0.2)
            for method, e in (("none", 0), ("ZM", 0.5), ("random partitions", 0.6), ("Clustering+ZM", 0.6 + local)):
                rows.append({"replicate": r, "task": "a", "layer": layer, "method": method,
                             "value": b + e + rng.normal(0, noise)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("local_by_layer,expected,grid", [
    ([0.0, 0.0, 0.02, 0.4, 0.8, 1.2], C.SUPPORTED, "supported in 3 of 6 layers, contradicted in 0"),  # grows with depth
    ([-0.3, -0.3, -0.3, 1.0, 1.0, 1.0], C.SUPPORTED, "supported in 3 of 6 layers, contradicted in 3"),  # a 3-3 split
    ([0.3, 0.3, 0.3, -1.0, -1.0, -1.0], C.CONTRADICTED, "supported in 3 of 6 layers, contradicted in 3"),  # reversed
    ([0.0] * 6, C.INCONCLUSIVE, "supported in 0 of 6 layers, contradicted in 0"),                         # no effect
])
def test_a_claim_is_decided_on_the_mean_over_layers_not_by_a_vote(local_by_layer, expected, grid):
    """One test per claim on each replicate's layer-mean effect (n = 3, the book's seeds): an effect that grows
    with depth is supported although half the layers are undecided, a 3-3 split is decided by the sizes, and the
    reversed plant is contradicted.  The grid and the last layer are reported, not voted."""
    v = C.by_layer(C.c7_local_isotropy, c7_depth_table(local_by_layer))
    assert v.verdict == expected, v.detail
    assert C.layer_tally(v.layers.verdict) == grid and v.row()["grid"] == grid
    assert v.scope == "mean of layers 1-6" and v.where.startswith("mean of layers 1-6")
    assert v.n == 3 and abs(v.estimate - np.mean(local_by_layer)) < 0.1
    last = v.layers.iloc[-1]
    assert v.last_layer["layer"] == 6 and v.last_layer["verdict"] == last.verdict == v.row()["last layer"]
    assert set(v.detail.layer) == {"mean", 1, 2, 3, 4, 5, 6}
    head = v.headline_cells()
    assert sorted(head.test) == sorted(C.C7_TESTS) and (head.layer == "mean").all()
    assert "The last layer (layer 6" in v.markdown() and "robustness" in v.markdown()


def test_by_layer_with_one_layer_is_that_layer_and_rejects_missing_layers():
    d = c7_depth_table([1.0, 1.0, 1.0])
    one = C.by_layer(C.c7_local_isotropy, d, layers=[2])
    assert one.layers.layer.tolist() == [2] and one.scope == "layer 2 only" and one.layer == 2
    assert one.last_layer == {} and one.row()["last layer"] == one.verdict == C.SUPPORTED
    with pytest.raises(ValueError, match=r"layers \[7\]"):
        C.by_layer(C.c7_local_isotropy, d, layers=[7])


def test_layer_mean_averages_within_keys_and_refuses_a_partial_mean():
    d = pd.DataFrame({"task": ["a"] * 4 + ["b"] * 3, "replicate": 0, "layer": [1, 2, 3, 4, 1, 2, 3],
                      "value": [1.0, 2.0, 3.0, 6.0, 1.0, 1.0, 1.0]})
    m = C.layer_mean(d, [1, 2, 3, 4]).set_index("task").value
    assert m["a"] == 3.0 and np.isnan(m["b"])             # b lacks layer 4: no mean over fewer layers
    assert C.layer_mean(d, [1, 2, 3]).set_index("task").value.tolist() == [2.0, 1.0]
    with pytest.raises(ValueError, match="more than one row per layer"):
        C.layer_mean(pd.concat([d, d]), [1, 2])


def test_minimum_detectable_effect_is_the_t_rule_at_the_stated_power():
    from scipy import stats
    values = np.array([0.1, 0.3, 0.2])
    m, lo, hi, n = C.t_interval(values)
    se = values.std(ddof=1) / np.sqrt(3)
    assert np.isclose(C.detectable_effect(lo, hi, n), (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * se)
    assert np.isclose(C.detectable_effect(-1, 1, 3), 1 + stats.t.ppf(0.8, 2) / stats.t.ppf(0.975, 2))
    assert np.isnan(C.detectable_effect(np.nan, 1, 3)) and np.isnan(C.detectable_effect(0, 1, 1))
    v = C.by_layer(C.c7_local_isotropy, c7_depth_table([1.0] * 3))
    assert np.isclose(v.mde, C.detectable_effect(v.low, v.high, v.n)) and v.row()["mde"] == v.mde


def test_a_contradiction_must_survive_the_bonferroni_level():
    """One cell barely on the wrong side among many is not a contradiction; a clear one is."""
    rows = []
    for i in range(20):
        eff = [0.5, 0.6, 0.55] if i else [-0.045, -0.04, -0.06]    # cell 0 slightly below 0, tight-ish
        rows += [{"cell": i, "replicate": r, "effect": e} for r, e in enumerate(eff)]
    t = C.cells(pd.DataFrame(rows), ["cell"], +1)
    assert t.verdict.iloc[0] == C.CONTRADICTED                 # unadjusted: contradicted
    a = C.adjust(t)
    assert a.verdict.iloc[0] == C.INCONCLUSIVE and (a.verdict.iloc[1:] == C.SUPPORTED).all()
    assert (a.low_adj <= a.low).all() and (a.high_adj >= a.high).all()
    rows[:3] = [{"cell": 0, "replicate": r, "effect": e} for r, e in enumerate([-1.0, -1.01, -0.99])]
    assert C.adjust(C.cells(pd.DataFrame(rows), ["cell"], +1)).verdict.iloc[0] == C.CONTRADICTED


@pytest.mark.parametrize("eff_a,eff_b,expected", [
    (-1.0, 0.5, C.SUPPORTED), (0.5, 0.5, C.CONTRADICTED), (0.0, 0.5, C.INCONCLUSIVE)])
def test_c1_known_answers(eff_a, eff_b, expected):
    rows = []
    for r in range(4):
        for task, e in (("a", eff_a), ("b", eff_b)):
            b = -2 + R.normal(0, 0.1)
            rows += [{"replicate": r, "task": task, "state": "pre-trained", "value": b},
                     {"replicate": r, "task": task, "state": "fine-tuned", "value": b + e + R.normal(0, 0.02)}]
    assert C.c1_isotropy(pd.DataFrame(rows)).verdict == expected


def test_c1_one_task_below_zero_must_survive_the_bonferroni_level():
    """C1 is supported by any one task: that union is where multiplicity belongs, so a task barely below 0 among
    many does not support it, while a clear fall does."""
    rows = []
    for i, eff in enumerate([(-0.045, -0.04, -0.06)] + [(0.5, 0.6, 0.55)] * 19):
        for r, e in enumerate(eff):
            rows += [{"replicate": r, "task": f"t{i}", "state": "pre-trained", "value": 0.0},
                     {"replicate": r, "task": f"t{i}", "state": "fine-tuned", "value": e}]
    d = pd.DataFrame(rows)
    assert C.cells(C.paired_effects(d, ["task"], "state", "fine-tuned", "pre-trained"), ["task"], -1).verdict.iloc[0] == C.SUPPORTED
    assert C.c1_isotropy(d).verdict == C.INCONCLUSIVE
    d.loc[(d.task == "t0") & (d.state == "fine-tuned"), "value"] = [-1.0, -1.01, -0.99]
    assert C.c1_isotropy(d).verdict == C.SUPPORTED


def test_ledger_rows():
    v = C.c5_enhancement_isotropy(enhancement_table(1.0, 0.5), METHODS, section="05")
    t = C.ledger([v, C.not_measured("C2", "x")])
    assert list(t.claim) == ["C5", "C2"] and t.verdict.tolist() == [C.SUPPORTED, C.NOT_MEASURED]


@pytest.mark.parametrize("deltas,expected", [
    ({"above_10x_median": 2}, C.SUPPORTED),
    ({"above_10x_median": 0, "rogue": 2}, C.INCONCLUSIVE),       # a tie is not growth
    ({"above_10x_median": -3, "above_10x_mean": 2}, C.CONTRADICTED),      # fewer dominant directions
    ({"above_10x_median": 2, "rogue": -3, "above_10x_mean": -3}, C.SUPPORTED),   # moving references are reported
    ({"above_10x_median": 2, "pcs_50": -20}, C.SUPPORTED),   # concentration is reported, never decides
])
def test_c3_known_answers(deltas, expected):
    rows = []
    for r in range(3):
        for crit, d in deltas.items():
            base = 10 + r
            rows += [{"replicate": r, "task": "a", "criterion": crit, "state": "pre-trained", "value": base},
                     {"replicate": r, "task": "a", "criterion": crit, "state": "fine-tuned", "value": base + d + 0.01 * r}]
    v = C.c3_directions(pd.DataFrame(rows))
    assert v.verdict == expected and len(v.detail) == len(deltas)
    assert set(v.detail[v.detail.test == "direct count: decides"].criterion) <= set(C.C3_COUNTS)
    assert v.statistic.startswith("change of the count ")


def knowledge_rows(excess_pt, excess_ft, n=4, noise=0.01, ks=(1, 2, 5), seed=0, excess_cross=None):
    """C4 rows: accuracy after random removal 0.8; after top removal 0.8 - excess (+ replicate noise); with
    ``excess_cross``, the cross-task control state too."""
    r = np.random.default_rng(seed)
    rows = []
    states = [("pre-trained", excess_pt), ("fine-tuned", excess_ft)]
    if excess_cross is not None:
        states.append((C.C4_CROSS, excess_cross))
    for t in ("mr", "bshift"):
        for rep in range(n):
            for state, ex in states:
                rows.append({"task": t, "replicate": rep, "state": state, "k": 0, "removed": "none", "accuracy": 0.82})
                for k in ks:
                    rows.append({"task": t, "replicate": rep, "state": state, "k": k, "removed": "random",
                                 "accuracy": 0.8 + r.normal(0, noise)})
                    rows.append({"task": t, "replicate": rep, "state": state, "k": k, "removed": "top",
                                 "accuracy": 0.8 - ex + r.normal(0, noise)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("pt, ft, expected", [
    (0.0, 0.2, C.SUPPORTED),          # only the fine-tuned model's top direction holds the label
    (0.0, 0.0, C.INCONCLUSIVE),       # top directions no worse than random ones anywhere
    (0.2, 0.0, C.CONTRADICTED),       # the pre-trained model's do, the fine-tuned model's do not
    (0.2, 0.2, C.INCONCLUSIVE),       # both carry it: no difference between the models
])
def test_c4_known_answers(pt, ft, expected):
    v = C.c4_knowledge(knowledge_rows(pt, ft))
    assert v.verdict == expected, v.detail
    assert set(v.detail.k) == {1, 2, 5} and v.n == 4          # the sweep is kept; the verdict is on k = C4_K
    assert "random" in v.control and str(C.C4_K) in v.statistic


@pytest.mark.parametrize("cross, expected", [
    (0.0, C.SUPPORTED),        # another task's fine-tuning leaves this label out of the top direction
    (0.2, C.INCONCLUSIVE),     # any fine-tuning puts the label there: not this task's knowledge
    (0.4, C.CONTRADICTED),     # another task's fine-tuning puts it there more
])
def test_c4_cross_task_control(cross, expected):
    v = C.c4_knowledge(knowledge_rows(0.0, 0.2, excess_cross=cross))
    assert v.verdict == expected, v.detail
    assert "another task" in v.control and "fine-tuned excess - other task's excess > 0" in set(v.detail.test)


def test_c4_decides_on_its_fixed_k_only():
    d = knowledge_rows(0.0, 0.0)
    d.loc[(d.k == 5) & (d.state == "fine-tuned") & (d.removed == "top"), "accuracy"] -= 0.3   # an effect at k=5 only
    assert C.c4_knowledge(d).verdict == C.INCONCLUSIVE                     # not chosen after seeing the numbers
    assert C.c4_knowledge(d, k=5).verdict == C.SUPPORTED
    with pytest.raises(ValueError, match="k=3"):
        C.c4_knowledge(d, k=3)


def structure_rows(ari_change, probe_change, floor=0.01, n=3, seed=0, freq_change=None):
    """C2 rows of three states per replicate: ARI 0.30 and held-out-type probe 0.85 pre-trained; fine-tuned seed s
    moved by ``ari_change`` / ``probe_change`` (frequency: ``freq_change`` when given); another seed s' on the same
    tokens differs from seed s by about ``floor`` (either sign)."""
    r = np.random.default_rng(seed)
    rows = []
    for t in ("mr", "bshift"):
        for rep in range(n):
            for structure in ("token type", "frequency (content words)"):
                ca, cp = ((ari_change, probe_change) if freq_change is None or structure == "token type"
                          else (freq_change, freq_change))
                fine = {"ARI": 0.30 + ca + r.normal(0, 0.003), "held-out-type probe accuracy": 0.85 + cp + r.normal(0, 0.003)}
                values = {"pre-trained": {"ARI": 0.30 + r.normal(0, 0.003), "held-out-type probe accuracy": 0.85 + r.normal(0, 0.003)},
                          "fine-tuned": fine,
                          "other seed": {m: v + floor * r.choice([-1, 1]) + r.normal(0, 0.002) for m, v in fine.items()}}
                for state, vals in values.items():
                    rows += [{"task": t, "replicate": rep, "state": state, "structure": structure, "measure": m,
                              "value": v} for m, v in {**vals, "NMI": 0.4}.items()]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("ari_change, probe_change, floor, freq_change, expected", [
    (-0.15, -0.10, 0.01, None, C.SUPPORTED),      # both structures fade, far beyond what reseeding moves them
    (+0.15, +0.10, 0.01, None, C.SUPPORTED),      # they sharpen instead: a change all the same ("changes massively")
    (-0.15, -0.10, 0.30, None, C.CONTRADICTED),   # the same change, but another seed moves them twice as far
    (0.0, 0.0, 0.05, None, C.CONTRADICTED),       # nothing changes, and seeds disagree by 0.05: well inside the floor
    (0.0, 0.0, 0.0, None, C.INCONCLUSIVE),        # nothing changes and nothing differs: noise against noise
    (-0.15, -0.10, 0.10, -0.002, C.CONTRADICTED), # type changes, frequency does not (seeds differ by 0.10)
])
def test_c2_known_answers_at_three_seeds(ari_change, probe_change, floor, freq_change, expected):
    v = C.c2_named_structures(structure_rows(ari_change, probe_change, floor, freq_change=freq_change))
    assert v.verdict == expected, v.detail
    assert set(v.detail.test) == set(C.C2_TESTS.values()) and len(v.detail) == 2 * 2 * 2 and v.n == 3
    assert "another fine-tuning seed" in v.control
    assert np.allclose(v.detail.margin, 0.0)                      # the floor is subtracted per replicate ...
    assert np.allclose(v.detail.estimate, v.detail.change - v.detail.floor)   # ... so the estimate is the excess


def test_shared_run_inflation_is_the_worst_case_variance_ratio():
    assert intervals.shared_run_inflation(3) == 4.0 and intervals.shared_run_inflation(5) == 8 / 3
    assert intervals.shared_run_inflation(2) == float("inf")      # two replicates would share both runs
    v = [0.3, 0.5, 0.4]
    m, lo, hi, n = intervals.t_interval(v)
    m2, lo2, hi2, _ = intervals.t_interval(v, inflation=4.0)
    assert m2 == m and np.isclose(hi2 - lo2, 2 * (hi - lo))        # variance x4: the half-width doubles
    assert not np.isfinite(intervals.t_interval(v, inflation=float("inf"))[1])
    # the worst case of the bound: correlation 1/2 between neighbouring replicates (e_s = a_s + a_{s+1}, iid a)
    r = np.random.default_rng(0)
    a = r.normal(size=(200_000, 5))
    e = a + np.roll(a, -1, axis=1)
    ratio = e.mean(1).var() / (e.var(1, ddof=1).mean() / 5)
    assert abs(ratio - intervals.shared_run_inflation(5)) < 0.05 * ratio


def c2_shared_run_null(n_sets, n=3, sample_noise=0.0, seed=0):
    """Sets of C2 rows (one task, one structure, one test) where the true change |fine-tuned - pre-trained| equals
    the true seed-to-seed floor: runs' values ~ N(delta, 1), delta chosen so that E|change| = E|floor|, and
    replicate s's floor reads run s + 1 (mod n), as :func:`helpers.structure.other_seed` pairs them."""
    from scipy.optimize import brentq

    r = np.random.default_rng(seed)

    def draw(delta, m):
        runs = delta + r.normal(size=(m, n))
        fine = runs + sample_noise * r.normal(size=(m, n))
        pre = sample_noise * r.normal(size=(m, n))
        other = np.roll(runs, -1, axis=1) + sample_noise * r.normal(size=(m, n))
        return pre, fine, other

    def gap(delta):
        pre, fine, other = draw(delta, 200_000)
        return np.abs(fine - pre).mean() - np.abs(fine - other).mean()

    return draw(brentq(gap, 0.0, 5.0, xtol=1e-3), n_sets)


def test_c2_is_calibrated_when_neighbouring_replicates_share_runs():
    """At the null's boundary (change = floor in expectation), a C2 cell supports in about 2.5-5% of run sets (the
    one-sided error of a 95% interval; more than 2.5% because the sizes |.| are skewed at n = 3); the floor
    subtracted without widening for the shared runs supports about twice as often, above 5%."""
    n_sets = 1500
    pre, fine, other = c2_shared_run_null(n_sets)
    rows = pd.DataFrame([{"task": f"set {i}", "replicate": s, "structure": "token type", "measure": "ARI",
                          "state": state, "value": v}
                         for i in range(n_sets) for s in range(3)
                         for state, v in (("pre-trained", pre[i, s]), ("fine-tuned", fine[i, s]),
                                          ("other seed", other[i, s]))])
    cells = C.c2_named_structures(rows).detail          # one cell per set; support is never Bonferroni-adjusted
    supports = (cells.verdict == C.SUPPORTED).mean()
    excess = np.abs(fine - pre) - np.abs(fine - other)
    naive = np.mean([C.t_interval(e)[1] > 0 for e in excess])
    assert len(cells) == n_sets and supports < 0.05 and naive > 0.05, (supports, naive)


def test_c2_floor_is_measured_on_the_same_tokens_and_needs_the_other_seed():
    d = structure_rows(-0.15, -0.10, floor=0.04)
    v = C.c2_named_structures(d)
    assert v.detail.floor.between(0.03, 0.05).all()
    assert (v.detail["signed change"] < 0).all()                  # the direction is kept for the reader
    with pytest.raises(ValueError, match="other seed"):
        C.c2_named_structures(d[d.state != "other seed"])


def test_c2_by_layer_is_that_layer_and_keeps_the_drift_beside():
    named = C.by_layer(C.c2_named_structures, structure_rows(-0.15, -0.10).assign(layer=6))
    assert named.scope == "layer 6 only" and named.verdict == C.SUPPORTED
    drift = C.by_layer(C.c2_drift, change_rows(0.0))
    v = C.with_reported(named, drift, "generic drift")
    assert v.verdict == C.SUPPORTED and v.reported["verdict"] == C.CONTRADICTED
    assert "Reported beside (does not decide):* generic drift: contradicted" in v.markdown()
    assert v.row()["reported beside"].startswith("generic drift: contradicted")


def test_a_contradicted_verdict_is_headed_by_a_contradicting_cell():
    """The headline of a contradicted claim is a cell that contradicts it, not a wide inconclusive one."""
    rows = []
    for r in range(3):
        for task, d in (("a", -20 + r), ("b", (-300, 0, 200)[r])):   # b: wide, inconclusive
            rows += [{"replicate": r, "task": task, "criterion": "above_10x_median", "state": "pre-trained", "value": 400},
                     {"replicate": r, "task": task, "criterion": "above_10x_median", "state": "fine-tuned", "value": 400 + d}]
    v = C.c3_directions(pd.DataFrame(rows))
    assert v.verdict == C.CONTRADICTED and v.high < 0 and "contradicted by: above_10x_median on a" in v.where
    s = C.c3_directions(pd.DataFrame([{**x, "value": x["value"] + (40 if x["state"] == "fine-tuned" else 0)}
                                      for x in rows if x["task"] == "a"]))
    assert s.verdict == C.SUPPORTED and s.where.startswith("weakest: ")


def change_rows(change, floor=0.70, n=4, seed=0, layers=(1, 2)):
    """C2 rows: seed-to-seed similarity ``floor``; pre-trained-to-fine-tuned similarity ``floor - change``."""
    r = np.random.default_rng(seed)
    rows = []
    for t in ("mr", "bshift"):
        for rep in range(n):
            for layer in layers:
                for measure in ("10-NN overlap", "linear CKA"):
                    rows += [{"task": t, "replicate": rep, "layer": layer, "measure": measure,
                              "pair": "fine-tuned vs other seed", "value": floor + r.normal(0, 0.01)},
                             {"task": t, "replicate": rep, "layer": layer, "measure": measure,
                              "pair": "pre-trained vs fine-tuned", "value": floor - change + r.normal(0, 0.01)}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("change, expected", [
    (0.30, C.SUPPORTED),       # fine-tuning moves the neighbourhoods far more than another seed does
    (0.05, C.INCONCLUSIVE),    # beyond the floor, but only by the margin: not "massive"
    (0.0, C.CONTRADICTED),     # no more change than between two seeds
    (-0.2, C.CONTRADICTED),    # the pre-trained space is closer to the fine-tuned one than seeds are to each other
])
def test_c2_drift_known_answers(change, expected):
    v = C.by_layer(C.c2_drift, change_rows(change))
    assert v.verdict == expected, v.detail
    assert set(v.layers.layer) == {1, 2} and len(v.detail) == 3 * 2 * 2 and v.n == 4   # the mean, layers 1 and 2
    assert "seeds" in v.control


def _v(claim, verdict, estimate=0.5, low=0.1, high=0.9, layers=None):
    import pandas as pd

    last = {**layers[-1]} if layers and len(layers) > 1 else {}
    return C.Verdict(claim, f"Statement of {claim}", "crit", f"statistic of {claim}", estimate, low, high, 3, "ctl",
                     verdict, where="mean of layers 5-6; mr" if last else "layer 6; mr", layers=pd.DataFrame(layers or []),
                     scope="mean of layers 5-6" if last else "layer 6 only", last_layer=last)


def test_detectable_ratio_is_the_t_quantile_over_root_n():
    from scipy import stats

    assert C.detectable_ratio(3) == pytest.approx(stats.t.ppf(0.975, 2) / 3 ** 0.5) == pytest.approx(2.484, abs=1e-3)
    assert C.detectable_ratio(10) < C.detectable_ratio(5) < C.detectable_ratio(3)
    assert C.detectable_ratio(1) == float("inf")
    # the rule it states: mean / sd just above the ratio is supported, just below is not
    for n in (3, 5):
        r = C.detectable_ratio(n)
        base = np.array([-1.0, 0.0, 1.0, -0.5, 0.5][:n])
        base = base / base.std(ddof=1)
        for ratio, excluded in ((r * 1.01, True), (r * 0.99, False)):
            m, lo, hi, _ = C.t_interval(base + ratio)
            assert (lo > 0) is excluded


def test_findings_page_summary_caveats_and_columns():
    from helpers import ledger as LG

    card = {"name": "m", "layers": 6, "hidden_size": 384, "differs_from_paper": "Contrastive, not MLM."}
    c1_layers = [{"layer": 5, "verdict": C.SUPPORTED, "estimate": -1.0, "low": -2.0, "high": -0.5, "where": ""},
                 {"layer": 6, "verdict": C.INCONCLUSIVE, "estimate": -2.8, "low": -6.0, "high": 0.4, "where": ""}]
    vs = [_v("C1", C.SUPPORTED, layers=c1_layers), _v("C2", C.CONTRADICTED), _v("C3", C.INCONCLUSIVE),
          _v("C4", C.SUPPORTED), _v("C5", C.INCONCLUSIVE), _v("C6", C.SUPPORTED), C.not_measured("C7", "Statement")]
    text = LG.findings_summary(vs, card, ["mr", "bshift"])
    assert "**3 supported**, **1 contradicted**, **2 inconclusive** of 7 claims" in text
    assert "**C2 contradicted**" in text and "C3 " not in text.replace("C3:", "")
    assert ("**C1 in the last layer alone** (layer 6, the paper's convention): inconclusive, statistic of C1: "
            "-2.8 [-6, +0.4]") in text and "on the mean over layers, the verdict, supported" in text
    assert "C4 and C6 are not independent" in text and "neural" not in text    # no mechanism the book does not measure
    vs[5] = _v("C6", C.INCONCLUSIVE)
    assert "not independent" not in LG.findings_summary(vs, card, ["mr"])
    from helpers.finetune import FinetuneConfig

    cfg = FinetuneConfig(epochs=1.0)
    caveats = LG.findings_caveats(card, {("mr", s): cfg for s in (0, 1, 2)}, 400, 400)
    assert "1 epoch at learning rate 0.0001" in caveats and "3 per task" in caveats and "2.48 standard" in caveats
    assert "Contrastive, not MLM." in caveats and C.LAYER_RULE in caveats and "80% power" in caveats
    assert "(C2's cells, whose floor reads the next seed's run, 4.97)" in caveats     # 2.48 x 2: shared runs
    assert "an MLM model's" not in caveats                                            # no comparison given
    assert "held-out samples share, on average, mr " in caveats and "too narrow" in caveats   # 400 of 854
    assert "n_sentences <= 284 makes its 3 samples disjoint" in caveats
    disjoint = LG.findings_caveats(card, {("mr", s): cfg for s in (0, 1, 2)}, 284, 400)
    assert "share no sentence on mr (854 test sentences)" in disjoint and "too narrow" not in disjoint
    import pandas as pd

    geo = pd.DataFrame([{"model": m, "layer": layer, "depth": layer / 2, "metric": metric, "value": v + layer}
                        for m, v in (("minilm", 0.1), ("mlm", 0.3)) for layer in (0, 1, 2)
                        for metric in ("average cosine", "log10 I(W)", "norm of the mean", "mean norm")])
    from helpers import layerwise as LW

    glance = LW.geometry_at_a_glance(geo)
    with_start = LG.findings_caveats(card, {("mr", s): cfg for s in (0, 1, 2)}, 400, 400, glance=glance)
    assert ("not an MLM model's either (chapter 00; last layer, the same held-out sentences): minilm, average cosine "
            "2.1, log10 I(W) 2.1") in with_start and "; mlm, average cosine 2.3" in with_start
    import pandas as pd

    from helpers import convergence as CV
    slow = pd.DataFrame([{"model": "minilm", "task": "bshift", "seed": 1, "gain in the last quarter": 0.1, "noise": 0.04,
                          "training loss drop in the last quarter": 0.2, "verdict": CV.IMPROVING}])
    assert "plateau" not in caveats
    assert "0 of 1 run reached a plateau" in LG.findings_caveats(card, {("mr", 0): cfg}, 400, 400, slow)
    cfg2 = FinetuneConfig(epochs=2.0, train_size=1000)
    assert "2 epochs at" in LG.findings_caveats(card, {("mr", 0): cfg2}, 10, 10)
    assert "1,000 training examples" in cfg2.describe() and "all training examples" in cfg.describe()
    table = LG.findings(vs)
    assert list(table.columns) == ["claim", "statement", "verdict here", "before its control",
                                   "beyond its control (decides)", "what the effect is", "last layer alone",
                                   "statistic (where)",
                                   "estimate [95% interval]", "smallest effect detectable (80% power)",
                                   "co-criterion (must agree)", "control run", "the paper's sources say"]
    assert table.iloc[1]["control run"] == "within the criterion: ctl"
    assert table.iloc[0]["statistic (where)"] == "statistic of C1 (mean of layers 5-6; mr)"
    assert table.iloc[0]["last layer alone"] == "inconclusive, -2.8 [-6, +0.4]"
    assert table.iloc[1]["last layer alone"] == "contradicted (the same layer)"
    assert table.iloc[0]["smallest effect detectable (80% power)"] == f"{C.detectable_effect(0.1, 0.9, 3):.3g}"
    every_layer_agrees = [_v(v.claim, v.verdict) for v in vs[:6]]
    assert "gives every claim the same verdict" in LG.findings_summary(every_layer_agrees, card, ["mr"])
    assert table.iloc[6]["estimate [95% interval]"] == "" and table.iloc[6]["statistic (where)"] == ""


def test_counts_agree_with_their_noun():
    from helpers import words

    assert words.count(1, "model") == "1 model" and words.count(2, "model") == "2 models"
    assert words.count(1.0, "epoch") == "1 epoch" and words.count(1.5, "epoch") == "1.5 epochs"
    assert words.count(3, "fine-tuning seed") == "3 fine-tuning seeds" and words.count(12000, "token") == "12,000 tokens"
    assert words.count(0, "claim") == "0 claims" and words.count(2, "index", "indices") == "2 indices"


def test_identical_integer_count_changes_are_within_a_counts_resolution():
    """(+1, +1, +1) has sd 0: a plain t-interval is [1, 1] and any level would call it decided; a count's rounding
    variance (Sheppard) keeps a one-direction change undecided, while a larger consistent change is still decided."""
    from helpers import intervals

    assert intervals.t_interval([1, 1, 1])[1:3] == (1.0, 1.0)
    m, lo, hi, _ = intervals.t_interval([1, 1, 1], quantum=1.0)
    assert lo < 0 < hi
    assert intervals.t_interval([3, 5, 4], quantum=1.0)[1] > 0
    rows = [{"task": "mr", "state": s, "replicate": r, "criterion": c, "value": v}
            for r in range(3) for c, pre, post in (("above_10x_median", 2, 3), ("rogue", 1, 0), ("pcs_50", 10, 14 + r))
            for s, v in (("pre-trained", pre), ("fine-tuned", post))]
    v = C.c3_directions(pd.DataFrame(rows))
    d = v.detail.set_index("criterion").verdict
    assert d["above_10x_median"] == C.INCONCLUSIVE and d["rogue"] == C.INCONCLUSIVE   # +1 / -1 in every seed
    assert d["pcs_50"] == C.SUPPORTED and v.verdict == C.INCONCLUSIVE


def test_welch_interval_matches_scipy():
    from scipy import stats

    a, b = np.array([1.0, 1.4, 0.9, 1.2]), np.array([0.2, 0.5, 0.1])
    d, lo, hi, na, nb = C.welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (na, nb) == (4, 3) and d == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((ci.low, ci.high))
    assert np.isnan(C.welch_interval([1.0], b)[1]) and np.isnan(C.welch_interval([1.0, 1.0], [2.0, 2.0])[1])


@pytest.mark.parametrize("local_b,expected", [(0.2, C.DIFFER), (1.0, C.SAME)])
def test_two_models_are_compared_in_the_same_cell_paired_by_replicate(local_b, expected):
    """The ledger per objective: the same claim functions on two models' tables; where the effects differ (1.0
    against 0.2) the difference interval excludes 0, where they do not (1.0 and 1.0) it covers 0; the comparison is
    on the mean of the claim's cells, paired by replicate (same seeds, same sentences)."""
    a = C.by_layer(C.c7_local_isotropy, c7_depth_table([1.0] * 4, seed=1))
    b = C.by_layer(C.c7_local_isotropy, c7_depth_table([local_b] * 4, seed=2))
    d = C.difference(a, b)
    assert d["n_a"] == d["n_b"] == 3 and d["estimate"] == pytest.approx(1.0 - local_b, abs=0.05)
    assert a.cell["test"] in d["cell"]
    o = C.objectives_difference(a, b)
    assert o["n"] == 3 and o["test"] == "paired by replicate"
    table = C.compare_models({"minilm": [a], "mlm": [b]})
    row = table.iloc[0]
    assert row["minilm vs mlm"] == expected and row["verdict: minilm"] == a.verdict == C.SUPPORTED
    assert row["same decisive verdict"] == (a.verdict == b.verdict == C.SUPPORTED) and row["test"] == "paired by replicate"
    with pytest.raises(ValueError, match="two models"):
        C.compare_models({"minilm": [a]})
    assert "effects" not in C.readable(a.detail) and "per seed" in C.readable(a.detail)


def test_readable_cells_blank_what_a_cell_lacks_and_give_reported_rows_no_verdict():
    t = pd.DataFrame({"test": ["decides", "concentration: reported"], "estimate": [0.123456, -2.0],
                      "low_adj": [0.1, np.nan], "verdict": [C.SUPPORTED, C.CONTRADICTED], "effects": [(1.0,), (2.0,)]})
    r = C.readable(t)
    assert r.verdict.tolist() == [C.SUPPORTED, C.REPORTED] and r.low_adj.tolist() == [0.1, ""]
    assert r.estimate.tolist() == [0.123, -2.0] and "effects" not in r


def _c5_table(effect_raw, effect_unit, n=3, noise=0.05, seed=0):
    """Rows of C5 in one layer for log10 I(W) (raw) and its unit-row version, ``none`` and ``ZM``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for metric, eff in (("log10 I(W)", effect_raw), ("log10 I(W) of unit rows", effect_unit)):
        for state in ("pre-trained", "fine-tuned"):
            for r in range(n):
                base = rng.normal(-2, 0.3)
                for layer in (1, 2):
                    rows += [{"metric": metric, "task": "mr", "state": state, "replicate": r, "layer": layer,
                              "method": "none", "value": base},
                             {"metric": metric, "task": "mr", "state": state, "replicate": r, "layer": layer,
                              "method": "ZM", "value": base + eff + rng.normal(0, noise)}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("raw, unit, expected, co", [
    (1.0, 1.0, C.SUPPORTED, C.SUPPORTED),          # both agree: kept
    (1.0, 0.0, C.INCONCLUSIVE, C.INCONCLUSIVE),    # the norms alone moved I(W): not kept
    (1.0, -1.0, C.INCONCLUSIVE, C.CONTRADICTED),   # the scale-free test says the opposite
    (-1.0, -1.0, C.CONTRADICTED, C.CONTRADICTED)])
def test_scale_free_co_criterion_must_agree(raw, unit, expected, co):
    from helpers import ledger as LG

    v = LG.isotropy_claim(C.c5_enhancement_isotropy, _c5_table(raw, unit), ["ZM"])
    assert v.verdict == expected and v.co["verdict"] == co
    assert v.co["primary verdict"] == (C.SUPPORTED if raw > 0 else C.CONTRADICTED)
    assert v.last_layer["verdict"] == expected            # the last layer is held to the same rule
    assert "log10 I(W) of unit rows: " + co in v.co_text() and "Co-criterion (must agree" in v.markdown()


def test_control_run_is_reported_with_its_difference():
    from helpers import ledger as LG

    tokens = LG.isotropy_claim(C.c5_enhancement_isotropy, _c5_table(1.0, 1.0), ["ZM"])
    raw = lambda t: t[t.metric == "log10 I(W)"].drop(columns="metric")
    same = C.by_layer(C.c5_enhancement_isotropy, raw(_c5_table(1.0, 1.0, seed=1)), ["ZM"])
    smaller = C.by_layer(C.c5_enhancement_isotropy, raw(_c5_table(0.2, 1.0, seed=1)), ["ZM"])
    a = C.with_control(tokens, same, "cloud", "what", "reading")
    b = C.with_control(tokens, smaller, "cloud", "what", "reading")
    assert a.verdict == b.verdict == C.SUPPORTED            # a control without `beyond` only reports
    assert a.control_run["verdict"] == C.SUPPORTED and "decides" not in a.control_run
    assert abs(a.control_run["difference"]) < 0.05                                     # no difference from the cloud
    assert b.control_run["difference low"] > 0                                         # the tokens' effect is larger
    assert b.control_text().startswith("cloud: supported, ") and "tokens - cloud: +0.7" in b.control_text()
    assert "Control run (what)" in b.markdown() and "reading" in b.markdown()


def _knowledge_with_room(none_pt, none_ft, top_pt, top_ft, n=3, noise=0.005, seed=0):
    """C4 rows, one layer: unprocessed probe accuracy ``none_*``, random removal costs nothing, top removal leaves
    ``top_*``; majority rate 0.5."""
    r = np.random.default_rng(seed)
    rows = []
    for rep in range(n):
        for state, none, top in (("pre-trained", none_pt, top_pt), ("fine-tuned", none_ft, top_ft)):
            rows.append({"task": "mr", "replicate": rep, "state": state, "k": 0, "removed": "none", "accuracy": none,
                         "majority": 0.5})
            for k in (1, 2):
                rows.append({"task": "mr", "replicate": rep, "state": state, "k": k, "removed": "random",
                             "accuracy": none + r.normal(0, noise), "majority": 0.5})
                rows.append({"task": "mr", "replicate": rep, "state": state, "k": k, "removed": "top",
                             "accuracy": top + r.normal(0, noise), "majority": 0.5})
    return pd.DataFrame(rows)


def test_headroom_excess_is_the_share_of_what_the_probe_knew():
    d = _knowledge_with_room(0.6, 0.9, 0.55, 0.75, noise=0.0)
    h = C.headroom_excess(d)
    top = h[(h.removed == "top") & (h.k == 1)].groupby("state").accuracy.mean()
    assert top["pre-trained"] == pytest.approx(0.5) and top["fine-tuned"] == pytest.approx(0.625)
    at_chance = C.headroom_excess(_knowledge_with_room(0.5, 0.9, 0.5, 0.75, noise=0.0))
    assert at_chance[at_chance.state == "pre-trained"].accuracy.isna().all()     # nothing to lose: undefined


@pytest.mark.parametrize("none_pt, top_pt, top_ft, expected, co", [
    (0.6, 0.6, 0.6, C.SUPPORTED, C.SUPPORTED),          # the fine-tuned top direction holds most of what it knew
    (0.6, 0.55, 0.75, C.INCONCLUSIVE, C.CONTRADICTED),  # larger drop (0.15 vs 0.05), smaller share (0.375 vs 0.5)
    (0.6, 0.6, 0.9, C.INCONCLUSIVE, C.INCONCLUSIVE),    # no effect in either
])
def test_c4_headroom_co_criterion(none_pt, top_pt, top_ft, expected, co):
    from helpers import ledger as LG

    v = LG.c4_verdict(_knowledge_with_room(none_pt, 0.9, top_pt, top_ft), 6)
    assert v.verdict == expected and v.co["verdict"] == co, v.co
    assert "headroom" in v.co["statistic"] and C.HEADROOM_RULE in v.markdown()


def test_c6_headroom_contrast():
    """The pre-trained model gains 0.02 from 0.70 (room 0.30), the fine-tuned one 0.005 from 0.97 (room 0.03): the raw
    contrast favours the pre-trained model, the shares of the room (0.067 vs 0.167) do not."""
    d = enhancement_table(0.02, 0.005, noise=0.001, base=0.0)
    d.loc[d.state == "pre-trained", "value"] += 0.70
    d.loc[d.state == "fine-tuned", "value"] += 0.97
    raw = C.c6_task_effect(d, METHODS)
    share = C.c6_task_effect(d, METHODS, headroom=True)
    assert raw.verdict == C.SUPPORTED and share.verdict != C.SUPPORTED
    assert "share of the room to gain" in " ".join(share.detail.test)
    from helpers import ledger as LG
    v = LG.c6_verdict(d, METHODS, 6)
    assert v.verdict == C.INCONCLUSIVE
    cell = share.detail[share.detail.test.str.startswith("pre-trained share")].iloc[0]
    assert v.co["estimate"] == pytest.approx(cell.estimate) and v.co["estimate"] < 0      # the co-criterion's own cell
    assert v.co_text().startswith("pre-trained share of the room to gain (1 - score) - fine-tuned share: ")


def test_label_shuffled_control_column_and_sentence():
    """The control fine-tuning's verdicts beside the real ones: a column per control in the findings table and
    the ledger, and a sentence naming the claims the control supports as the real runs do."""
    from helpers import ledger as LG

    real = [_v("C1", C.SUPPORTED), _v("C3", C.SUPPORTED), _v("C4", C.SUPPORTED), C.not_measured("C7", "S")]
    control = [_v("C1", C.SUPPORTED, estimate=-0.4, low=-0.6, high=-0.2), _v("C3", C.INCONCLUSIVE),
               _v("C4", C.CONTRADICTED), C.not_measured("C7", "S")]
    column = LG.control_column(real, control)
    assert column[0] == "supported, -0.4 [-0.6, -0.2] (layer 6; mr)" and column[2].startswith("contradicted")
    assert column[3] == ""
    table = LG.findings(real, {"label-shuffled": control})
    assert list(table.columns)[-2:] == ["label-shuffled fine-tuning (control)", "the paper's sources say"]
    text = LG.controls_sentence(real, {"label-shuffled": control})
    assert ("**label-shuffled**: supports C1 as the real runs do; differs on C3 (supported on the real runs, "
            "inconclusive here), C4 (supported on the real runs, contradicted here).") in text
    assert LG.CONTROL_READINGS["label-shuffled"] in text
    assert "supports none" in LG.controls_sentence(real, {"label-shuffled": control[1:]})
    same = LG.controls_sentence(real, {"mean-pooling head": real})
    assert "supports C1, C3, C4 as the real runs do; no verdict differs." in same
    assert LG.CONTROL_READINGS["mean-pooling head"] in same and "label-shuffled" not in same
    assert "controls=" in LG.controls_sentence(real, {})
    assert LG.check_controls(None) == [] and LG.check_controls("label-shuffled") == ["label-shuffled"]
    from helpers import finetune as F
    from helpers.checks import ParameterError

    with pytest.raises(ParameterError, match="controls='shuffled'.*label-shuffled"):
        LG.check_controls(["shuffled"])
    cfg = F.FinetuneConfig()
    assert LG.control_configs({("mr", 0): cfg}, "label-shuffled")["mr", 0].train_labels == "shuffled"
    mean = LG.control_configs({("mr", 0): cfg}, "mean-pooling head")["mr", 0]
    assert mean.pooling == "mean" and mean.train_labels == "true" and "mean of the last layer" in mean.describe()
    assert set(LG.CONTROL_READINGS) == set(LG.CONTROLS)


def test_a_claim_on_the_pre_trained_model_alone_gets_no_control_verdict():
    """C7 is decided on the pre-trained model, which a control fine-tuning shares: its control cell says so instead
    of repeating the real verdict, and the sentence neither counts it as supported by the control nor leaves it
    unexplained."""
    from helpers import ledger as LG

    real = [_v("C5", C.SUPPORTED), _v("C7", C.SUPPORTED)]
    control = [_v("C5", C.SUPPORTED), _v("C7", C.SUPPORTED)]
    assert LG.control_column(real, control) == ["supported, +0.5 [+0.1, +0.9] (layer 6; mr)", LG.NOT_A_FINETUNING_CLAIM]
    text = LG.controls_sentence(real, {"label-shuffled": control}, on="mr")
    assert text.startswith("- **label-shuffled** (on mr): supports C5 as the real runs do; no verdict differs.")
    assert "C7 is decided on the pre-trained model, which every control shares" in text
    assert "supports C5, C7" not in text
    table = LG.findings(real, {"label-shuffled": control}, on="mr")
    assert list(table["label-shuffled fine-tuning on mr (control)"])[-1] == LG.NOT_A_FINETUNING_CLAIM


def test_each_objective_gets_its_control_column_beside_the_comparison():
    """The both-objectives table: a column per control and model, each model's control verdict beside its own
    claims (matched by claim, not by position), C7 marked as not a fine-tuning claim."""
    from helpers import ledger as LG

    a = [_v("C5", C.SUPPORTED), _v("C6", C.SUPPORTED), _v("C7", C.SUPPORTED)]
    b = [_v("C5", C.SUPPORTED, estimate=0.7), _v("C6", C.INCONCLUSIVE, low=-0.1), _v("C7", C.SUPPORTED)]
    comparison = C.compare_models({"minilm": a, "mlm": b})
    controls = {"minilm": {"label-shuffled": [_v("C6", C.INCONCLUSIVE, low=-0.2), _v("C5", C.SUPPORTED)]},
                "mlm": {"label-shuffled": [_v("C5", C.CONTRADICTED, estimate=-0.5, low=-0.9, high=-0.1)]}}
    out = LG.with_control_columns(comparison, {"minilm": a, "mlm": b}, controls, on="mr")
    assert list(out.columns[-2:]) == ["label-shuffled on mr: minilm", "label-shuffled on mr: mlm"]
    assert list(out["label-shuffled on mr: minilm"]) == ["supported, +0.5 [+0.1, +0.9] (layer 6; mr)",
                                                         "inconclusive, +0.5 [-0.2, +0.9] (layer 6; mr)",
                                                         LG.NOT_A_FINETUNING_CLAIM]
    assert list(out["label-shuffled on mr: mlm"]) == ["contradicted, -0.5 [-0.9, -0.1] (layer 6; mr)", "",
                                                      LG.NOT_A_FINETUNING_CLAIM]
    assert list(LG.with_control_columns(comparison, {"minilm": a, "mlm": b}, {}).columns) == list(comparison.columns)


def test_control_runs_on_the_control_tasks_alone(monkeypatch):
    """The control fine-tunings are decided on ``control_tasks`` (default: the first task, every seed), each run the
    real run with the control's setting; a control task outside the chapter's tasks is refused by name."""
    from helpers import finetune as F, ledger as LG
    from helpers.checks import ParameterError

    seen = []
    monkeypatch.setattr(LG, "verdicts", lambda configs, *a: seen.append(configs) or [_v("C1", C.SUPPORTED)])
    real = {(t, s): F.FinetuneConfig(task=t, seed=s) for t in ("mr", "bshift") for s in (0, 1, 2)}
    out = LG.control_verdicts(real, ["label-shuffled"])
    assert list(out) == ["label-shuffled"] and list(seen[-1]) == [("mr", 0), ("mr", 1), ("mr", 2)]
    assert all(c.train_labels == "shuffled" and c.task == "mr" for c in seen[-1].values())
    LG.control_verdicts(real, ["label-shuffled"], control_tasks=["bshift", "mr"])
    assert set(seen[-1]) == set(real)
    LG.control_verdicts(real, ["label-shuffled"], control_tasks="bshift")
    assert list(seen[-1]) == [("bshift", 0), ("bshift", 1), ("bshift", 2)]
    assert LG.control_verdicts(real, []) == {}
    for bad, match in ((["sst2"], "control_tasks=.*'sst2' is not among the chapter's tasks; choose among: mr, bshift"),
                       ([], "control_tasks=\\[\\] is empty")):
        with pytest.raises(ParameterError, match=match):
            LG.control_verdicts(real, ["label-shuffled"], control_tasks=bad)


def test_findings_summary_says_where_a_co_criterion_or_a_control_run_matters():
    from helpers import ledger as LG

    card = {"name": "m", "layers": 2, "hidden_size": 8}
    norms_only = LG.isotropy_claim(C.c5_enhancement_isotropy, _c5_table(1.0, 0.0), ["ZM"])
    raw = lambda t: t[t.metric == "log10 I(W)"].drop(columns="metric")
    cloud_table = raw(_c5_table(1.0, 1.0, seed=1))
    cloud = C.by_layer(C.c5_enhancement_isotropy, cloud_table, ["ZM"])
    beyond = C.by_layer(C.c5_enhancement_isotropy, C.beyond_control(raw(_c5_table(1.0, 0.0)), cloud_table), ["ZM"])
    text = LG.findings_summary([C.with_control(norms_only, cloud, "Gaussian cloud", "w", "r", beyond=beyond)], card,
                               ["mr"])
    assert "**C5 is inconclusive before its control because its co-criterion disagrees**: on change of log10 I(W)" in text
    assert "would be supported" in text and "on log10 I(W) of unit rows it is inconclusive" in text
    assert "**C5**: inconclusive before their control too, so the control has no effect to attribute" in text
    # a verdict the control took away (the co-criterion agreeing) is not said to be the co-criterion's doing
    agreeing = LG.isotropy_claim(C.c5_enhancement_isotropy, _c5_table(1.0, 1.0), ["ZM"])
    taken = C.with_control(agreeing, cloud, "Gaussian cloud", "w", "r",
                           beyond=C.by_layer(C.c5_enhancement_isotropy,
                                             C.beyond_control(raw(_c5_table(1.0, 1.0)), cloud_table), ["ZM"]))
    assert taken.verdict == C.INCONCLUSIVE and taken.raw_verdict() == C.SUPPORTED
    said = LG.findings_summary([taken], card, ["mr"])
    assert "co-criterion disagrees" not in said and "**C5 inconclusive** (before its control: supported)" in said
    reported = LG.findings_summary([C.with_control(norms_only, cloud, "Gaussian cloud", "w", "r")], card, ["mr"])
    assert "beyond its control" not in reported          # a control that only reports is not said to decide
    agreeing = LG.isotropy_claim(C.c5_enhancement_isotropy, _c5_table(1.0, 1.0), ["ZM"])
    assert "co-criterion disagrees" not in LG.findings_summary([agreeing], card, ["mr"])


def test_c6_headroom_without_any_room_is_inconclusive_not_an_error():
    """Scores at the ceiling leave no room to gain: the shares are undefined, the contrast has no cell."""
    d = enhancement_table(0.0, 0.0, noise=0.0, base=0.0)
    d["value"] = 1.0
    v = C.c6_task_effect(d, METHODS, headroom=True)
    assert v.verdict == C.INCONCLUSIVE
    assert C.cells(pd.DataFrame({"task": [], "effect": []}), ["task"]).columns.tolist()[:2] == ["task", "estimate"]


def test_a_probe_at_the_majority_rate_leaves_its_seed_out_and_says_so():
    from helpers import ledger as LG

    d = _knowledge_with_room(0.6, 0.9, 0.6, 0.6)
    d.loc[(d.state == "pre-trained") & (d.replicate == 0) & (d.removed == "none"), "accuracy"] = 0.5
    v = LG.c4_verdict(d, 6)
    assert v.co["n"] == 2 and v.verdict == C.INCONCLUSIVE
    assert "(n = 2: fewer than 3 seeds have it defined)" in v.co_text()


def test_c4_with_no_probe_above_the_majority_rate_is_inconclusive_not_an_error():
    """Every probe at the majority rate: no share is defined, no cell is left, and no cell cannot support."""
    from helpers import ledger as LG

    d = _knowledge_with_room(0.5, 0.5, 0.5, 0.5)
    assert C.c4_knowledge(C.headroom_excess(d)).verdict == C.INCONCLUSIVE
    assert LG.c4_verdict(d, 6).verdict == C.INCONCLUSIVE
    with pytest.raises(ValueError, match="k=3"):
        C.c4_knowledge(C.headroom_excess(d), k=3)


def _enhancement_tables(pt, ft, seed):
    """Chapter 05's tables of one model (:func:`helpers.enhancement.measure`'s shape) from :func:`enhancement_table`:
    layers 0-2, raw and scale-free log10 I(W), the random-partition control as ZM's rows, no Gaussian cloud."""
    from helpers import enhancement as EN

    def with_control(d):
        return pd.concat([d, d[d.method == "ZM"].assign(method=EN.CONTROL)], ignore_index=True)

    iso = pd.concat([with_control(enhancement_table(pt, ft, n=3, seed=seed + layer)).assign(layer=layer, metric=metric)
                     for layer in (0, 1, 2) for metric in ("log10 I(W)", EN.SCALE_FREE)], ignore_index=True)
    return {"iso": iso, "scores": enhancement_table(pt, ft, n=3, seed=seed).assign(metric="accuracy"),
            "cloud": pd.DataFrame(columns=iso.columns)}


def test_enhancement_verdicts_decide_each_model_as_a_chapter_of_that_model_alone():
    """Chapter 05 with more_models: C5-C7 per model from the tables of every model (a model column) are the
    verdicts of each model's tables alone, and models with different effects get different verdicts."""
    from helpers import enhancement as EN, ledger as LG

    methods = ["none", *METHODS]
    a, b = _enhancement_tables(1.0, 0.5, 0), _enhancement_tables(0.0, 0.0, 10)
    both = {k: pd.concat([a[k].assign(model="a"), b[k].assign(model="b")], ignore_index=True) for k in a}
    split = EN.by_model(both)
    assert list(split) == ["a", "b"] and "model" not in split["a"]["iso"]
    pd.testing.assert_frame_equal(split["b"]["scores"], b["scores"])
    v = LG.enhancement_verdicts(both, methods)
    assert list(v) == ["a", "b"] and all(list(x) == ["C5", "C6", "C7"] for x in v.values())
    for name, alone in (("a", a), ("b", b)):
        for claim, expected in (("C5", LG.c5_verdict(alone, methods)), ("C6", LG.c6_verdict(alone["scores"], METHODS, 2)),
                                ("C7", LG.c7_verdict(alone, methods))):
            assert (v[name][claim].verdict, v[name][claim].estimate) == (expected.verdict, expected.estimate)
    assert v["a"]["C5"].verdict == C.SUPPORTED and v["b"]["C5"].verdict == C.INCONCLUSIVE
    cells = LG.model_table(v, "C5")
    assert list(cells.columns[:1]) == ["model"] and set(cells.model) == {"a", "b"}
    text = LG.per_model_markdown({m: x["C5"] for m, x in v.items()})
    assert text.index("*On a:*") < text.index("*On b:*") and text.count("**C5:") == 2
    assert "*On" not in LG.per_model_markdown({"a": v["a"]["C5"]})           # one model: no header
    assert LG.per_model_markdown({"a": C.not_measured("C7", "S"), "b": v["b"]["C7"]}, "needs ZM").startswith(
        "*On a:*\n\nneeds ZM")


def test_head_sentence_names_the_costliest_method_per_model():
    """Without retraining, model a's head loses most under ABTT, model b's under ZM; each sentence says so with
    its interval, and ZM's drop stands beside a worse method."""
    from helpers import ledger as LG

    rows = []
    for model, drop in (("a", {"none": 0.0, "ZM": 0.01, "ABTT": 0.2}), ("b", {"none": 0.0, "ZM": 0.1, "ABTT": 0.02})):
        for task in ("x", "y"):
            for r in range(3):
                base = 0.9 + 0.01 * r
                rows += [{"model": model, "task": task, "replicate": r, "method": m, "metric": "accuracy",
                          "value": base - d + 0.001 * (r + len(task))} for m, d in drop.items()]
    text = LG.head_sentence(pd.DataFrame(rows), ["ZM", "ABTT"], "accuracy")
    assert "a's fine-tuned head loses the most accuracy under **ABTT**: +0.200" in text
    assert "under ZM it loses +0.010" in text
    assert "b's fine-tuned head loses the most accuracy under **ZM**: +0.100" in text
    one = LG.head_sentence(pd.DataFrame(rows).query("model == 'a'").drop(columns="model"), ["ZM", "ABTT"], "accuracy")
    assert one.startswith("Without retraining, the fine-tuned head loses the most accuracy under **ABTT**")


def _cloud_tables(tokens_effect, cloud_effect, n=3, seed=0):
    """C5's tables as chapter 05 makes them, one method (ZM), layers 1-2: the tokens' (raw and unit-row log10 I(W))
    and their Gaussian cloud's (raw), each method's effect planted; the cloud shares nothing but its own noise."""
    tokens = _c5_table(tokens_effect, tokens_effect, n=n, seed=seed)
    cloud = _c5_table(cloud_effect, cloud_effect, n=n, seed=seed + 100)
    return {"iso": tokens, "cloud": cloud[cloud.metric == "log10 I(W)"]}


@pytest.mark.parametrize("tokens, cloud, expected, raw", [
    (1.0, 0.2, C.SUPPORTED, C.SUPPORTED),         # the tokens' rise exceeds the cloud's: kept
    (1.0, 1.0, C.INCONCLUSIVE, C.SUPPORTED),      # any cloud with this spectrum rises as much: taken away
    (1.0, 1.6, C.INCONCLUSIVE, C.SUPPORTED),      # the cloud rises more: taken away
    (-1.0, 0.0, C.CONTRADICTED, C.CONTRADICTED),  # reversed: the method lowers I(W), below the cloud too
    (0.0, 0.0, C.INCONCLUSIVE, C.INCONCLUSIVE),   # absent
])
def test_c5_is_decided_beyond_its_gaussian_cloud(tokens, cloud, expected, raw):
    """The full rule the ledger uses (raw test, unit-row co-criterion, the cloud deciding) at the book's n = 3."""
    from helpers import ledger as LG

    v = LG.c5_verdict(_cloud_tables(tokens, cloud), ["ZM"])
    assert (v.verdict, v.raw_verdict(), v.n) == (expected, raw, 3)
    assert v.control_run["decides"] and v.control_run["beyond n"] == 3
    assert np.isclose(v.control_run["beyond estimate"], tokens - cloud, atol=0.15)
    assert v.beyond_text().startswith(v.control_run["beyond verdict"]) and "beyond the Gaussian cloud" in v.control_text()
    assert v.row()["raw verdict"] == raw and v.row()["beyond its control"] == v.beyond_text()
    if raw != expected:
        assert f"before it the verdict was {raw}" in v.markdown()


def test_a_deciding_control_is_paired_within_the_replicate():
    """beyond_control differences the tokens and the control in the same cell, layer and replicate: a replicate-level
    shift shared by both cancels (a Welch difference of the two means would carry it as noise)."""
    t = pd.DataFrame({"task": "mr", "replicate": [0, 1, 2], "layer": 1, "value": [10.0, 20.0, 30.0]})
    c = t.assign(value=t.value - 1.0)
    d = C.beyond_control(t, c)
    assert d.value.tolist() == [1.0, 1.0, 1.0] and list(d.columns) == list(t.columns)
    assert C.beyond_control(t, c[c.replicate < 2]).replicate.tolist() == [0, 1]      # what the control lacks: dropped


def test_c7_is_decided_beyond_its_gaussian_cloud():
    """C7 through the ledger's rule: Clustering+ZM beats random partitions and ZM on the tokens; on a cloud where it
    beats them as much, the claim is not the tokens' (inconclusive); where the cloud shows nothing, it is kept."""
    from helpers import ledger as LG

    def table(local, seed):
        r = np.random.default_rng(seed)
        rows = []
        for metric in ("log10 I(W)", "log10 I(W) of unit rows"):
            for rep in range(3):
                for layer in (1, 2):
                    base = r.normal(-2, 0.3)
                    for method, eff in (("ZM", 0.0), ("random partitions", 0.0), ("Clustering+ZM", local)):
                        rows.append({"metric": metric, "task": "mr", "state": "pre-trained", "replicate": rep,
                                     "layer": layer, "method": method, "value": base + eff + r.normal(0, 0.02)})
        return pd.DataFrame(rows)
    methods = ["ZM", "Clustering+ZM"]
    kept = LG.c7_verdict({"iso": table(0.5, 0), "cloud": table(0.0, 1)}, methods)
    taken = LG.c7_verdict({"iso": table(0.5, 0), "cloud": table(0.5, 1)}, methods)
    assert (kept.verdict, taken.verdict) == (C.SUPPORTED, C.INCONCLUSIVE)
    assert kept.raw_verdict() == taken.raw_verdict() == C.SUPPORTED


def test_holm_adjusts_step_down_and_keeps_missing_values():
    adjusted = C.holm([0.01, 0.04, np.nan, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)
    assert np.isnan(adjusted[2])
    assert (C.holm([0.2, 0.001]) == pytest.approx([0.2, 0.002]))


def test_the_objectives_comparison_counts_only_decisive_agreement_and_corrects_across_claims():
    """Two inconclusive verdicts are not 'the same verdict'; a difference that one claim alone would call real
    (p = 0.03) is not called real among seven claims (Holm), while a large one is."""
    def v(claim, verdict, effects):
        e = np.asarray(effects, dtype=float)
        cell = pd.DataFrame([{"task": "mr", "effects": tuple(e), "effect replicates": tuple(range(len(e)))}])
        return replace(_v(claim, verdict, estimate=float(e.mean())), cell={"task": "mr"}, effects=tuple(e), detail=cell)
    r = np.random.default_rng(0)
    base = [list(r.normal(0, 1, 3)) for _ in range(7)]
    a = [v(f"C{i + 1}", C.INCONCLUSIVE if i < 2 else C.SUPPORTED, base[i]) for i in range(7)]
    shifted = {0: 30.0, 1: 0.0}     # C1: a large difference; C2: none; the rest: none
    b = [v(f"C{i + 1}", C.INCONCLUSIVE if i < 2 else C.SUPPORTED,
           [x - shifted.get(i, 0.0) + 0.01 * k for k, x in enumerate(base[i])]) for i in range(7)]
    t = C.compare_models({"mlm": a, "minilm": b})
    assert t["same decisive verdict"].tolist() == [False, False] + [True] * 5
    assert t.loc[0, "mlm vs minilm"] == C.DIFFER and (t.loc[1:, "mlm vs minilm"] != C.DIFFER).all()
    assert "Holm-adjusted p (mlm vs minilm)" in t and (t.test == "paired by replicate").all()
    from helpers import ledger as LG
    assert LG.objectives_sentence(t, "mlm", "minilm").startswith("Of 7 claims, 5 get the same decisive verdict")


def _cells(claim, per_cell, test="decides", replicates=(0, 1, 2), **keys):
    """A verdict whose headline cells hold ``per_cell`` ({task: per-replicate effects})."""
    rows = [{"task": t, "test": test, **keys, "estimate": float(np.mean(e)), "low": -1.0, "high": 1.0,
             "effects": tuple(map(float, e)), "effect replicates": tuple(replicates)} for t, e in per_cell.items()]
    return replace(_v(claim, C.SUPPORTED), detail=pd.DataFrame(rows).assign(layer="mean"), scope="mean of layers 1-2")


def test_the_objectives_are_compared_on_the_mean_of_the_decided_cells_never_a_cell_chosen_from_the_numbers():
    """The comparison reads every decided cell of the claim, averaged per replicate (here the weakest cell of a
    differs from b's and the mean does not: no difference), paired by replicate id, not by position."""
    a = _cells("C7", {"mr": [1.0, 1.1, 0.9], "bshift": [3.0, 3.1, 2.9]})
    b = _cells("C7", {"mr": [2.0, 2.2, 1.9], "bshift": [2.0, 2.1, 1.8]})
    d = C.objectives_difference(a, b)
    assert d["estimate"] == pytest.approx(0.0) and d["low"] < 0 < d["high"] and d["n"] == 3
    assert C.weakest(a.headline_cells()).task == "mr"                 # the weakest cell alone would differ by -1
    shuffled = _cells("C7", {"mr": [2.2, 1.9, 2.0], "bshift": [2.1, 1.8, 2.0]}, replicates=(1, 2, 0))
    assert C.objectives_difference(a, shuffled)["estimate"] == pytest.approx(0.0)
    assert C.objectives_difference(a, b)["low"] == pytest.approx(C.objectives_difference(a, shuffled)["low"])


def test_the_objectives_comparison_reads_the_co_criterion_and_widens_c2_and_c3():
    """Where a claim has a co-criterion, its statistic (free of the norms or the headroom) is compared; C2's interval
    is widened for the runs neighbouring replicates share, C3's for the rounding of counts."""
    a, b = _cells("C1", {"mr": [-5.0, -5.1, -4.9]}), _cells("C1", {"mr": [-1.0, -1.1, -0.9]})
    co_a, co_b = (replace(v, co={"statistic": "unit rows", "cells": _cells("C1", {"mr": [0.1, 0.2, 0.0]}).detail})
                  for v in (a, b))
    assert C.objectives_difference(a, b)["estimate"] == pytest.approx(-4.0)
    d = C.objectives_difference(co_a, co_b)
    assert d["estimate"] == pytest.approx(0.0) and d["statistic"] == "unit rows"
    plain = C.objectives_difference(_cells("C7", {"mr": [1.0, 1.2, 0.9]}), _cells("C7", {"mr": [0.0, 0.0, 0.0]}))
    c2 = C.objectives_difference(_cells("C2", {"mr": [1.0, 1.2, 0.9]}), _cells("C2", {"mr": [0.0, 0.0, 0.0]}))
    c3 = C.objectives_difference(_cells("C3", {"mr": [1.0, 1.2, 0.9]}, test="direct count: decides"),
                                 _cells("C3", {"mr": [0.0, 0.0, 0.0]}, test="direct count: decides"))
    width = lambda d: d["high"] - d["low"]
    assert width(c2) == pytest.approx(2 * width(plain))          # variance x4 at n = 3
    assert width(c3) > 2 * width(plain)                          # a count's rounding variance
    reported = _cells("C3", {"mr": [9.0, 9.0, 9.0]}, test="concentration: reported")
    both = replace(reported, detail=pd.concat([reported.detail, _cells("C3", {"bshift": [1.0, 1.2, 0.9]},
                                                                        test="direct count: decides").detail]))
    assert C.comparison_effects(both)[0].mean() == pytest.approx(np.mean([1.0, 1.2, 0.9]))   # reported cells left out


def test_a_claims_cells_are_shown_in_at_most_eight_columns():
    """What a chapter shows of a claim's cells: the names of each cell, its interval, n, its verdict (a reported
    cell none); the full table stays a click away."""
    from helpers import ledger as LG

    v = C.c6_task_effect(enhancement_table(0.05, 0.0, noise=0.003, base=0.8), METHODS)
    full = C.readable(LG.model_table({"m": {"C6": v}}, "C6", "detail"), 4)
    shown = LG.shown_cells(full)
    assert len(full.columns) > 8 >= len(shown.columns)
    assert list(shown.columns[-3:]) == ["estimate [95% interval]", "n", "verdict"] and shown.columns[0] == "model"
    assert set(shown.verdict[full.test.str.contains("reported")]) == {C.REPORTED}
    row = full.iloc[0]
    assert shown["estimate [95% interval]"].iloc[0] == C.format_interval(row.estimate, row.low, row.high)
