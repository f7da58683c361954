"""The label-shuffled control deciding the claims about fine-tuning (helpers.ledger.beyond_label_shuffled), through
the full rule the ledger uses at the book's n = 3: each claim's own test and co-criterion on the real runs, then the
same test on the real effect minus the control's, paired by seed, in the control's task.  Planted tables share the
pre-trained rows between the real and the control runs (the same model on the same sentences), as the book's do.

For each claim: an effect the real runs show and the shuffled runs do not is kept (learning the task); one the
shuffled runs show as much is taken away (fine-tuning as such); one the shuffled runs show more is taken away and
said so; an absent effect stays inconclusive.  A broken rule (the control not deciding, or differenced unpaired)
fails these tests."""
import numpy as np
import pandas as pd
import pytest

from helpers import claims as C, ledger as LG

N = 3
LAYERS = (0, 1, 2)
METHODS = ["ZM", "Clustering+ZM", "ABTT", "Cluster-based"]


def _iso(real_effect, control_effect, seed=0):
    """log10 I(W) (raw and of unit rows) of the unprocessed tokens: pre-trained rows per task, replicate and layer
    (replicate-level spread shared by both runs of a seed), the real runs on mr and bshift, the control on mr."""
    r = np.random.default_rng(seed)
    real, control = [], []
    for task in ("mr", "bshift"):
        for rep in range(N):
            for layer in LAYERS:
                base = r.normal(-2, 0.3)
                for metric in ("log10 I(W)", "log10 I(W) of unit rows"):
                    row = {"metric": metric, "task": task, "replicate": rep, "layer": layer, "method": "none"}
                    pt = {**row, "state": "pre-trained", "value": base}
                    real += [pt, {**row, "state": "fine-tuned", "value": base + real_effect + r.normal(0, 0.02)}]
                    if task == "mr":
                        control += [pt, {**row, "state": "fine-tuned",
                                         "value": base + control_effect + r.normal(0, 0.02)}]
    return pd.DataFrame(real), pd.DataFrame(control)


def _decide(claim_fn, real_tables, control_tables):
    real = [claim_fn(real_tables)]
    control = [claim_fn(control_tables)]
    return LG.beyond_label_shuffled(real, real_tables, control, control_tables, METHODS)[0]


@pytest.mark.parametrize("real, control, verdict, raw, beyond", [
    (-0.5, 0.0, C.SUPPORTED, C.SUPPORTED, C.SUPPORTED),           # learning the task lowers I(W): kept
    (-0.5, -0.5, C.INCONCLUSIVE, C.SUPPORTED, C.INCONCLUSIVE),    # shuffled fine-tuning lowers it as much: taken away
    (-0.5, -1.0, C.INCONCLUSIVE, C.SUPPORTED, C.CONTRADICTED),    # the shuffled runs lower it more: taken away
    (0.5, 0.0, C.CONTRADICTED, C.CONTRADICTED, C.CONTRADICTED),   # reversed: rises, beyond the control too
    (0.0, 0.0, C.INCONCLUSIVE, C.INCONCLUSIVE, C.INCONCLUSIVE),   # absent
])
def test_c1_is_decided_beyond_the_label_shuffled_runs(real, control, verdict, raw, beyond):
    iso, ctrl = _iso(real, control)
    v = _decide(lambda t: LG.c1_verdict(t), {"iso": iso}, {"iso": ctrl})
    assert (v.verdict, v.raw_verdict(), v.control_run["beyond verdict"]) == (verdict, raw, beyond)
    assert v.control_run["decides"] and v.control_run["beyond n"] == N
    assert np.isclose(v.control_run["beyond estimate"], real - control, atol=0.05)
    assert "real - label-shuffled runs" in v.control_text() and v.row()["beyond its control"] == v.beyond_text()
    sentence = LG.attribution(v)
    if (raw, beyond) == (C.SUPPORTED, C.SUPPORTED):
        assert "an effect of learning the task (on mr)." in sentence
    elif raw == C.SUPPORTED and beyond == C.INCONCLUSIVE:
        assert "not shown to be an effect of learning the task" in sentence and "does not show the two equal" in sentence
        beyond_below = dict(v.control_run, **{"beyond low": -0.3, "beyond high": -0.1})
        shifted = LG.attribution(C.Verdict(**{**v.__dict__, "control_run": beyond_below}))
        assert "covers 0" not in shifted and "short of the level that decides" in shifted
    elif raw == C.SUPPORTED:
        assert "fine-tuning as such" in sentence and "more of it" in sentence


def test_the_control_decides_on_its_own_task_alone():
    """The real verdict can rest on a task the control was not run on (bshift); beyond the control only mr counts."""
    iso, ctrl = _iso(-0.5, -0.5)
    iso.loc[(iso.task == "mr") & (iso.state == "fine-tuned"), "value"] += 0.5      # mr: no change on the real runs
    v = _decide(lambda t: LG.c1_verdict(t), {"iso": iso}, {"iso": ctrl})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == C.INCONCLUSIVE
    assert v.control_run["beyond verdict"] == C.CONTRADICTED           # mr: the shuffled runs lowered I(W), the real not
    assert set(v.control_run["beyond where"].split("task ")[-1:]) == {"mr"}


def test_the_difference_is_paired_by_seed():
    """A replicate-level spread shared by the real and the control run of a seed cancels: the same planted difference
    with a large seed-to-seed spread is still decided (unpaired, the spread would hide it)."""
    iso, ctrl = _iso(-0.2, 0.0)
    shift = {0: 0.0, 1: 3.0, 2: -3.0}           # a seed's sentences: both runs of the seed share it
    for t in (iso, ctrl):
        t["value"] += t.replicate.map(shift) * (t.state == "fine-tuned")
    v = _decide(lambda t: LG.c1_verdict(t), {"iso": iso}, {"iso": ctrl})
    assert v.control_run["beyond verdict"] == C.SUPPORTED


def _directions(real_growth, control_growth, seed=0):
    r = np.random.default_rng(seed)
    real, control = [], []
    for task in ("mr", "bshift"):
        for rep in range(N):
            for layer in LAYERS:
                base = float(r.integers(2, 5))
                row = {"task": task, "replicate": rep, "layer": layer, "criterion": "above_10x_median"}
                pt = {**row, "state": "pre-trained", "value": base}
                real += [pt, {**row, "state": "fine-tuned", "value": base + real_growth + float(r.integers(-1, 2))}]
                if task == "mr":
                    control += [pt, {**row, "state": "fine-tuned",
                                     "value": base + control_growth + float(r.integers(-1, 2))}]
    return pd.DataFrame(real), pd.DataFrame(control)


@pytest.mark.parametrize("real, control, verdict", [
    (8, 0, C.SUPPORTED),          # more dominant directions than the shuffled runs grow: kept
    (8, 8, C.INCONCLUSIVE),       # as many: any fine-tuning grows them
    (0, 0, C.INCONCLUSIVE),       # absent
])
def test_c3_is_decided_beyond_the_label_shuffled_runs(real, control, verdict):
    d, c = _directions(real, control)
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: C.by_layer(C.c3_directions, t["directions"], layers=[1, 2]),
                {"iso": iso, "directions": d}, {"iso": ctrl, "directions": c})
    assert v.verdict == verdict and v.raw_verdict() == (C.SUPPORTED if real else C.INCONCLUSIVE)


def _scores(pt_gain, ft_gain, control_gain, seed=0):
    """Re-fitted classifiers' scores: no processing 0.70 (pre-trained), 0.85 (fine-tuned), 0.60 (shuffled); each
    paper method adds its gain."""
    r = np.random.default_rng(seed)
    real, control = [], []
    for task in ("mr", "bshift"):
        for rep in range(N):
            for state, none, gain in (("pre-trained", 0.70, pt_gain), ("fine-tuned", 0.85, ft_gain),
                                      ("shuffled", 0.60, control_gain)):
                noise = r.normal(0, 0.01)
                rows = [{"task": task, "replicate": rep, "method": m, "state": state,
                         "value": none + noise + (0 if m == "none" else gain + r.normal(0, 0.002))}
                        for m in ["none", *METHODS]]
                if state == "shuffled":
                    if task == "mr":
                        control += [{**x, "state": "fine-tuned"} for x in rows]
                else:
                    real += rows
                    if task == "mr" and state == "pre-trained":
                        control += rows
    return pd.DataFrame(real), pd.DataFrame(control)


@pytest.mark.parametrize("control_gain, verdict", [
    (0.05, C.SUPPORTED),          # the methods still help the shuffled runs: learning the task stopped them helping
    (0.0, C.INCONCLUSIVE),        # they stopped helping the shuffled runs too: fine-tuning as such
])
def test_c6_is_decided_beyond_the_label_shuffled_runs(control_gain, verdict):
    s, c = _scores(0.05, 0.0, control_gain)
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: LG.c6_verdict(t["scores"], METHODS, 2), {"iso": iso, "scores": s},
                {"iso": ctrl, "scores": c})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == verdict


def test_c6_beyond_the_control_does_not_ask_the_reference_to_have_gained():
    """Beyond the control, C6's reference state holds zeros (the real gain minus the control's is in the fine-tuned
    cells): its cells are reported, not required, or no C6 could ever hold beyond a control."""
    s, c = _scores(0.05, 0.0, 0.05)
    ref = LG._gain_difference(s[s.task == "mr"], c).assign(layer=2)
    strict = C.by_layer(C.c6_task_effect, ref, METHODS)
    lenient = C.by_layer(C.c6_task_effect, ref, METHODS, reference_gains=False)
    assert lenient.verdict == C.SUPPORTED and strict.verdict == C.INCONCLUSIVE
    assert (lenient.detail.test == "reference: method - none (reported)").any()
    assert C.readable(lenient.detail).query("test.str.startswith('reference')").verdict.eq(C.REPORTED).all()


def test_a_verdict_resting_on_a_task_the_control_did_not_run_on_is_not_kept():
    """C1 holds on bshift alone (I(W) falls there); on mr, where the control ran, the real runs' I(W) rises, less
    than the shuffled runs' does: real - shuffled is negative on mr, but the claim is not shown where the control
    ran, so it is not said to hold beyond it."""
    iso, ctrl = _iso(-0.5, 1.0)
    iso.loc[(iso.task == "mr") & (iso.state == "fine-tuned"), "value"] += 0.8      # mr: +0.3 on the real runs
    v = _decide(lambda t: LG.c1_verdict(t), {"iso": iso}, {"iso": ctrl})
    assert v.raw_verdict() == C.SUPPORTED and v.control_run["beyond verdict"] == C.SUPPORTED
    assert v.control_run["within verdict"] != C.SUPPORTED and v.verdict == C.INCONCLUSIVE
    assert "not tested by the control: where it ran (on mr)" in LG.attribution_label(v)
    assert "rests on cells the control does not cover" in LG.attribution(v)


def test_c1_beyond_the_control_needs_its_scale_free_co_criterion():
    """The shuffled runs leave raw I(W) alone but lower the unit-row I(W) as much as the real runs: beyond the
    control, raw I(W) says supported and the scale-free statistic does not, so the verdict is not kept."""
    iso, ctrl = _iso(-0.5, 0.0)
    unit = (ctrl.metric == "log10 I(W) of unit rows") & (ctrl.state == "fine-tuned")
    ctrl.loc[unit, "value"] -= 0.5
    v = _decide(lambda t: LG.c1_verdict(t), {"iso": iso}, {"iso": ctrl})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == C.INCONCLUSIVE


def test_c6_contradiction_is_decided_beyond_the_control_too():
    """The methods raise both the real and the shuffled fine-tuned scores by 0.05: contradicted before the control,
    not beyond it (the real gain minus the control's is 0), and not said to be one of learning the task."""
    s, c = _scores(0.05, 0.05, 0.05)
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: LG.c6_verdict(t["scores"], METHODS, 2), {"iso": iso, "scores": s},
                {"iso": ctrl, "scores": c})
    assert v.raw_verdict() == C.CONTRADICTED and v.verdict == C.INCONCLUSIVE
    assert "learning the task" not in LG.attribution_label(v) or "not shown" in LG.attribution_label(v)


def test_c2_beyond_the_control_compares_the_sizes_of_change_not_their_floors():
    """Both runs move the structures by 0.3; the shuffled seeds disagree more (a floor of 0.2): the change is not
    larger for learning the task, whatever the floors."""
    named, c = _c2(0.3, 0.3)
    c.loc[c.state == "other seed", "value"] += 0.18
    iso, ctrl = _iso(0.0, 0.0)
    fn = lambda t: C.by_layer(C.c2_named_structures, t["c2"].drop(columns="other_seed").assign(layer=2))
    v = _decide(fn, {"iso": iso, "c2": named}, {"iso": ctrl, "c2": c})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == C.INCONCLUSIVE


def test_c4_beyond_the_control_needs_its_headroom_co_criterion():
    """The real probe loses 0.1 of 0.32 room to the top direction, the shuffled one 0.06 of 0.12: more accuracy,
    a smaller share of what it knew. Beyond the control the raw test and the shares disagree: not kept."""
    k, c = _knowledge(0.1, 0.06)
    k.loc[(k.state == "fine-tuned") & (k.removed == "none"), "accuracy"] = 0.82
    c.loc[(c.state == "fine-tuned") & (c.removed == "none"), "accuracy"] = 0.62
    c.loc[(c.state == "fine-tuned") & (c.removed != "none"), "accuracy"] -= 0.2
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: LG.c4_verdict(t["knowledge"], 2), {"iso": iso, "knowledge": k},
                {"iso": ctrl, "knowledge": c})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == C.INCONCLUSIVE


def _knowledge(real_excess, control_excess, seed=0):
    r = np.random.default_rng(seed)
    real, control = [], []
    for task in ("mr", "bshift"):
        for rep in range(N):
            runs = [("pre-trained", 0.0, "both"), ("fine-tuned", real_excess, "real")]
            if task == "mr":
                runs.append(("fine-tuned", control_excess, "control"))
            for state, ex, where in runs:
                rows = [{"task": task, "replicate": rep, "state": state, "k": 0, "removed": "none",
                         "accuracy": 0.82, "majority": 0.5}]
                for k in (1, 2):
                    rows += [{"task": task, "replicate": rep, "state": state, "k": k, "removed": "random",
                              "accuracy": 0.8 + r.normal(0, 0.005), "majority": 0.5},
                             {"task": task, "replicate": rep, "state": state, "k": k, "removed": "top",
                              "accuracy": 0.8 - ex + r.normal(0, 0.005), "majority": 0.5}]
                if where in ("both", "real"):
                    real += rows
                if where in ("both", "control") and task == "mr":
                    control += rows
    return pd.DataFrame(real), pd.DataFrame(control)


@pytest.mark.parametrize("control_excess, verdict", [
    (0.0, C.SUPPORTED),           # only the real runs' top direction holds the label: kept
    (0.2, C.INCONCLUSIVE),        # the shuffled runs' holds it as much: taken away
])
def test_c4_is_decided_beyond_the_label_shuffled_runs(control_excess, verdict):
    k, c = _knowledge(0.2, control_excess)
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: LG.c4_verdict(t["knowledge"], 2), {"iso": iso, "knowledge": k},
                {"iso": ctrl, "knowledge": c})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == verdict


def _c2(real_change, control_change, seed=0):
    """C2 rows: a structure measure per state; the other seed's run sits a seed-to-seed floor of 0.02 away."""
    r = np.random.default_rng(seed)
    real, control = [], []
    for task in ("mr", "bshift"):
        for rep in range(N):
            for structure in ("token type", "frequency"):
                for measure in C.C2_TESTS:
                    base = 0.5 + r.normal(0, 0.05)
                    row = {"task": task, "replicate": rep, "structure": structure, "measure": measure,
                           "other_seed": (rep + 1) % N}
                    pt = {**row, "state": "pre-trained", "value": base}
                    for change, out in ((real_change, real), (control_change, control)):
                        if out is control and task != "mr":
                            continue
                        ft = base - change + r.normal(0, 0.005)
                        out += [pt, {**row, "state": "fine-tuned", "value": ft},
                                {**row, "state": "other seed", "value": ft + 0.02}]
    return pd.DataFrame(real), pd.DataFrame(control)


@pytest.mark.parametrize("control_change, verdict", [
    (0.0, C.SUPPORTED),           # the shuffled runs leave the structures where they were: kept
    (0.3, C.INCONCLUSIVE),        # they move them as far: taken away
])
def test_c2_is_decided_beyond_the_label_shuffled_runs(control_change, verdict):
    named, c = _c2(0.3, control_change)
    iso, ctrl = _iso(0.0, 0.0)
    fn = lambda t: C.by_layer(C.c2_named_structures, t["c2"].drop(columns="other_seed").assign(layer=2))
    v = _decide(fn, {"iso": iso, "c2": named}, {"iso": ctrl, "c2": c})
    assert v.raw_verdict() == C.SUPPORTED and v.verdict == verdict


def test_the_control_decides_every_claim_about_fine_tuning():
    """The claims whose criterion says the label-shuffled runs decide are the ones the ledger decides beyond them."""
    assert LG.SHUFFLED_DECIDES == C.FINE_TUNING_CLAIMS
    for claim in C.FINE_TUNING_CLAIMS:
        assert C.criterion(claim).endswith(C.SHUFFLED_CLAUSE)
    assert C.SHUFFLED_CLAUSE not in C.criterion("C5") + C.criterion("C7")


def test_c6_beyond_the_control_at_the_ceiling_is_inconclusive_not_an_error():
    """Fine-tuned scores at 1.0 leave no room to gain: the shares beyond the control are undefined, and C6 is
    inconclusive there rather than failing (a user's easy task does this)."""
    s, c = _scores(0.05, 0.0, 0.05)
    s.loc[s.state == "fine-tuned", "value"] = 1.0
    iso, ctrl = _iso(0.0, 0.0)
    v = _decide(lambda t: LG.c6_verdict(t["scores"], METHODS, 2), {"iso": iso, "scores": s},
                {"iso": ctrl, "scores": c})
    assert v.verdict == C.INCONCLUSIVE and v.control_run["decides"]
