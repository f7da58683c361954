"""The paper's claims C1-C7: each one's statement, its criterion in words and the function that decides it.

Every claim function takes a long table with one row per measurement and a ``replicate`` column, and returns
a :class:`~helpers.verdicts.Verdict`: the claim, the criterion in words (declared in this module; revised after
earlier ledgers had been read, its history dated by commit on the methods page), the statistic, the estimate with
its 95% interval, the number of replicates, the control it was compared with, and a verdict in {supported,
contradicted, inconclusive}, plus the per-cell table behind it.  The decision rules they share (cells,
intervals, the layer rule, co-criteria, controls) are :mod:`helpers.verdicts`; the named thresholds and the
criteria (:data:`_CRITERIA`) are here, in one place beside the methods page.  C4 and C6 are measured in the last
layer only, where the mean over layers is that layer.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .directions import CROSS_TASK
from .intervals import (BOUNDS, LEVEL, bounded_interval, detectable_effect, detectable_ratio,  # noqa: F401
                        format_interval, level_interval, shared_run_inflation, t_interval, welch_interval)
from .verdicts import (  # noqa: F401  (the claims' shared rules, read as claims.X by the chapters)
    CELL_KEYS,
    CONTRADICTED,
    CONTROL_RULE,
    CO_RULE,
    DECISIVE,
    DECLARED_LAYERS,
    DIFFER,
    HEADROOM_RULE,
    INCONCLUSIVE,
    LAYER_RULE,
    MIN_REPLICATES,
    NOT_MEASURED,
    POWER,
    REPORTED,
    RESOLUTION,
    SAME,
    SUPPORTED,
    VERDICTS,
    Verdict,
    _summarise,
    adjust,
    against_control,
    agree,
    all_of,
    beyond_control,
    by_layer,
    cell_key,
    cells,
    decide,
    difference,
    holm,
    layer_mean,
    layer_tally,
    method_effects,
    not_measured,
    paired_effects,
    readable,
    weakest,
    with_control,
)

FLAT_MARGIN = 0.01
"""Accuracy margin for "no improvement" (C6): one point, below what a reader would call a gain and above the
seed-to-seed spread of the fine-tuned accuracy (about 0.002-0.004 on the default tasks)."""

C2_FLOOR = ("|fine-tuned s - fine-tuned s'| on replicate s's tokens, subtracted from that replicate's change (paired); "
            "the interval widened for the runs neighbouring replicates share")
"""C2's floor, derived from the run and not a constant: how far a structure measure moves between two
fine-tuning seeds on the same tokens (same k-means and probe seeds).  A change of the named structures must
exceed it to be "massive".  It is measured per replicate and subtracted from that replicate's change, so the
interval carries the floor's own noise; replicate s's floor uses run s' = s + 1 (mod n), so neighbouring
replicates share a run and the interval's variance is widened by :func:`helpers.intervals.shared_run_inflation`
(x4 at n = 3)."""
C2_DRIFT_MARGIN = 0.05
"""The generic drift reported beside C2 (10-NN overlap, CKA): 5 points of a similarity in [0, 1] beyond the
seed-to-seed floor before a change is called more than what seeds disagree on."""

C4_K = 1
"""Directions removed in the C4 verdict: the single most dominant one, fixed in this module (the paper removes the
top direction(s)); the other k of the sweep are reported, not decided on (no choice of k after the numbers)."""

THRESHOLDS = {
    "LEVEL": (LEVEL, "two-sided confidence level of every interval"),
    "C2_FLOOR": (C2_FLOOR, "C2's floor, subtracted per replicate: a change of a named structure must exceed what two fine-tuning seeds differ by"),
    "C2_DRIFT_MARGIN": (C2_DRIFT_MARGIN, "generic drift (reported beside C2) beyond the seed-to-seed floor"),
    "C4_K": (C4_K, "directions removed in the C4 verdict (the sweep's other k are reported only)"),
    "MIN_REPLICATES": (MIN_REPLICATES, "fewer fine-tuning seeds give 'inconclusive'"),
    "FLAT_MARGIN": (FLAT_MARGIN, "accuracy gain below which C6 calls a change 'no improvement'"),
    "RESOLUTION": (RESOLUTION, "a bound this close (relative) to the threshold is inconclusive, never decided by rounding"),
    "MULTIPLICITY": ("IUT / Bonferroni", "the side that needs every cell: each cell's 95% interval (intersection-union "
                     "test, valid unadjusted); the side one cell decides (contradiction; support for C1): that cell's "
                     "interval at level 1 - 0.05/m, m = cells of the claim in a layer"),
    "DECLARED_LAYERS": (DECLARED_LAYERS, "what a claim is decided on (by_layer); the last layer and every layer on "
                        "its own are reported beside it"),
    "POWER": (POWER, "power of the minimum detectable effect printed beside each estimate"),
}


COMPARED_TESTS = {
    "C3": ("direct count: decides",),
    "C4": ("fine-tuned excess - pre-trained excess > 0", "fine-tuned excess - other task's excess > 0"),
    "C6": ("pre-trained share of the room to gain - fine-tuned share of the room to gain > 0",
           "pre-trained gain - fine-tuned gain > 0"),
}
"""The cells of a claim that the objectives are compared on, where not all of its decided cells (C3: the deciding
count; C4: the contrasts of the fine-tuned excess at k = :data:`C4_K`; C6: the contrast of the gains)."""
COMPARISON_RULE = ("each claim's effect per replicate, averaged over the cells it is decided on, on the layer mean "
                   "(C2, C4, C6: the last layer, where they are measured; declared here, never a cell chosen from the "
                   "numbers), on the statistic built to be free of what "
                   "differs between the models: the co-criterion's where the claim has one (C1, C5, C7: log10 I(W) of "
                   "unit-length rows, blind to the norms; C4, C6: shares of each model's headroom), the claim's own "
                   "otherwise (C2: changes of ARI and probe accuracy beyond the floor, both in [0, 1]; C3: counts of "
                   "directions); the difference paired by replicate (replicate r of both models is fine-tuned with "
                   "seed r and measured on the same sentences), C2's interval widened for shared runs and C3's for "
                   "rounding, Holm-adjusted over the claims")
"""How :func:`compare_models` compares two objectives (the chapters glue it)."""


def comparison_effects(v: Verdict) -> tuple[pd.Series, str]:
    """The per-replicate effect of :data:`COMPARISON_RULE`: the mean over the claim's compared cells (the
    co-criterion's headline cells where it has one, the verdict's otherwise; :data:`COMPARED_TESTS`), per
    replicate present in every cell; and the statistic's name.  An empty series when the cells carry no replicate."""
    cells, statistic = (v.co["cells"], v.co["statistic"]) if v.co and "cells" in v.co else (v.headline_cells(), v.statistic)
    if cells is None or cells.empty or "effect replicates" not in cells:
        return pd.Series(dtype=np.float64), statistic
    tests = COMPARED_TESTS.get(v.claim.split()[0])
    if tests and "test" in cells:
        cells = cells[cells.test.isin(tests)]
    if v.claim.startswith("C4") and "k" in cells:
        cells = cells[cells.k == C4_K]
    if "test" in cells:
        cells = cells[~cells.test.astype(str).str.contains("reported")]
    per = [pd.Series(r.effects, index=list(r["effect replicates"]), dtype=np.float64) for _, r in cells.iterrows()
           if len(r.effects) and None not in r["effect replicates"]]
    if not per:
        return pd.Series(dtype=np.float64), statistic
    table = pd.concat(per, axis=1).dropna()          # replicates every cell has
    return table.mean(axis=1).sort_index(), statistic


def objectives_difference(a: Verdict, b: Verdict, level: float = LEVEL) -> dict:
    """Two objectives' effects on one claim compared by :data:`COMPARISON_RULE` (:func:`comparison_effects` of each):
    the mean of a - b over the replicates both have, its t-interval (C2 widened for shared runs, C3 for rounding)
    and two-sided p.  Keys: cell, statistic, estimate, low, high, n, p, test."""
    from scipy import stats

    ea, statistic = comparison_effects(a)
    eb, _ = comparison_effects(b)
    both = ea.index.intersection(eb.index)
    where = "layer mean" if (a.scope or "").startswith("mean") else "last layer"
    out = {"cell": f"mean of its decided cells, {where}", "statistic": statistic, "estimate": np.nan,
           "low": np.nan, "high": np.nan, "n": len(both), "p": np.nan, "test": ""}
    if len(both) < 2:
        return out
    diff = (ea[both] - eb[both]).to_numpy()
    claim = a.claim.split()[0]
    inflation = shared_run_inflation(len(diff)) if claim == "C2" else 1.0
    quantum = 1.0 if claim == "C3" else 0.0
    m, lo, hi, n = t_interval(diff, level=level, quantum=quantum, inflation=inflation)
    half = (hi - lo) / 2
    se = half / stats.t.ppf(0.5 + level / 2, n - 1) if n > 1 and np.isfinite(half) else np.nan
    p = float(2 * stats.t.sf(abs(m) / se, n - 1)) if se and np.isfinite(se) and se > 0 else np.nan
    return {**out, "estimate": m, "low": lo, "high": hi, "n": n, "p": p, "test": "paired by replicate"}


def compare_models(verdicts_by_model: dict, level: float = LEVEL) -> pd.DataFrame:
    """One row per claim for models ``{name: [Verdict, ...]}`` (the first is the reference): each model's verdict
    and estimate, and the reference minus each other model by :data:`COMPARISON_RULE` (:func:`objectives_difference`:
    the mean of the claim's decided cells, on a statistic comparable across the models, paired by replicate, its
    95% interval); "the effects differ" only when the Holm-adjusted p over the claims compared is below 0.05
    (:func:`holm`: seven claims are seven tests), "no difference detected" otherwise (with the interval's width,
    not a proof of equality), "n/a" without an interval.  "same decisive verdict": both models supported, or both
    contradicted (two inconclusive verdicts are not an agreement)."""
    names = list(verdicts_by_model)
    if len(names) < 2:
        raise ValueError(f"compare_models needs two models or more; got {names}")
    by = {m: {v.claim: v for v in vs} for m, vs in verdicts_by_model.items()}
    ref = names[0]
    rows, ps = [], {m: [] for m in names[1:]}
    for claim in by[ref]:
        row = {"claim": claim}
        for m in names:
            v = by[m].get(claim)
            row[f"verdict: {m}"] = v.verdict if v is not None else NOT_MEASURED
            row[f"estimate: {m}"] = v.interval() if v is not None and v.verdict != NOT_MEASURED else ""
        for m in names[1:]:
            a, b = by[ref][claim], by[m].get(claim)
            d = objectives_difference(a, b, level) if b is not None and NOT_MEASURED not in (a.verdict, b.verdict) else None
            row["statistic compared"] = d["statistic"] if d else ""
            row[f"{ref} - {m} [95% interval]"] = format_interval(d["estimate"], d["low"], d["high"]) if d else ""
            row["test"] = d["test"] if d else ""
            ps[m].append(d["p"] if d else np.nan)
            row["same decisive verdict"] = (row.get("same decisive verdict", True) and b is not None
                                            and a.verdict == b.verdict and a.verdict in DECISIVE)
        rows.append(row)
    table = pd.DataFrame(rows)
    for m in names[1:]:
        adjusted = holm(ps[m], level)
        table[f"Holm-adjusted p ({ref} vs {m})"] = [f"{x:.3g}" if np.isfinite(x) else "" for x in adjusted]
        table[f"{ref} vs {m}"] = ["n/a" if not np.isfinite(x) else DIFFER if x < 1 - level else SAME for x in adjusted]
    return table


# ----------------------------------------------------------------------------- claims
C1_STATEMENT = "Fine-tuning does not necessarily make the embedding space more isotropic"
C2_STATEMENT = ("Fine-tuning massively changes the local structures of the pre-trained space: the regions that "
                "encode token type and token frequency")
C3_STATEMENT = "The number of elongated (dominant) directions grows after fine-tuning"
C4_STATEMENT = "After fine-tuning the dominant directions carry the task's knowledge, unlike before"
C5_STATEMENT = "ZM, Clustering+ZM, ABTT and the cluster-based method raise I(W) of pre-trained and fine-tuned representations"
C6_STATEMENT = ("Isotropy enhancement does not improve fine-tuned representations on the task, and helps them less "
                "than it helps pre-trained ones")
C7_STATEMENT = ("The local view is more isotropic than the global one: I(W) after Clustering+ZM exceeds I(W) after "
                "global ZM (pre-trained model)")


_CRITERIA = {
    "C1": ("per task, the paired change of {metric} (fine-tuned - pre-trained, same held-out tokens); supported when "
           "the interval of at least one task lies below 0 at the Bonferroni level over the tasks (isotropy fell), "
           "contradicted when every task's {level}% interval lies above 0 (it rose everywhere); the same test on log10 I(W) "
           "of the tokens scaled to unit length must agree, otherwise inconclusive (raw I(W) moves with the norms)"),
    "C2": ("for every task, both structures the claim names (token type, with stop words that exclude negation "
           "cues; frequency bucket within content words) and both views of each (the adjusted Rand index of k-means "
           "clusters with the labels; the accuracy of a linear probe whose training and test tokens share no word "
           "type), on held-out tokens of the last layer: per replicate s, the size of the change |fine-tuned s - "
           "pre-trained| minus the seed-to-seed floor |fine-tuned s - fine-tuned s'| (another fine-tuning seed, "
           "s' = s + 1 mod n, on the same tokens with the same k-means and probe seeds); its {level}% interval over "
           "replicates, with the variance widened x 2(n-1)/(n-2) (x4 at n = 3) because neighbouring replicates share "
           "a run; supported when every interval lies above 0 (a change beyond what fine-tuning seeds disagree on: "
           "'massively'), contradicted when one lies below 0 at the Bonferroni level (fine-tuning moves that "
           "structure less than reseeding does).  "
           "Generic drift (the share of each token's 10 nearest neighbours kept and linear CKA, pre-trained vs seed "
           "s against seed s vs s') is reported beside it, in every layer"),
    "C3": ("for every task, the paired change of the count of covariance eigenvalues above 10x the median eigenvalue "
           "of the same tokens (fine-tuned - pre-trained, held-out tokens): more directions is growth and a tie is "
           "not; supported when every {level}% interval lies above 0, contradicted when one lies below 0 at the "
           "Bonferroni level.  The median is the reference because it stays put when a few directions explode: one "
           "exploding direction adds one, and the count does not move with the scale.  Counts against the mean "
           "eigenvalue and rogue dimensions (whose references rise with the dominant directions themselves, so that "
           "one exploding direction can push the others out) and the spread measures (directions for 50% / 90% of "
           "the variance, directions above 1/d of it, participation ratio, which fall when variance concentrates) "
           "are reported, not decided on"),
    "C4": ("per task, a probe of the sentence label on the tokens of the last layer, with directions and probe "
           "fitted on validation-split sentences (neither model was trained on them) and accuracy on test sentences: "
           "the excess loss from removing the top {k} principal direction(s) over removing {k} random orthonormal "
           "direction(s) (the control), paired by fine-tuning seed; supported when the fine-tuned model's excess is "
           "above 0 and exceeds both the pre-trained model's and that of the encoder fine-tuned on another task "
           "(same sentences and labels; when the run has two tasks) ({level}% intervals above 0) for every task, "
           "contradicted when for some task one of those two is the larger (interval below 0, Bonferroni level); the same "
           "test on shares of each probe's headroom (accuracy above the majority rate) must agree, otherwise "
           "inconclusive (the fine-tuned probe has more accuracy to lose)"),
    "C5": ("for every method, task and model (pre-trained, fine-tuned): the paired change of log10 I(W) of held-out "
           "test tokens (method fitted on training tokens) against no processing; supported when every {level}% "
           "interval lies above 0, contradicted when any lies below 0; the same test on log10 I(W) of the tokens "
           "scaled to unit length must agree, otherwise inconclusive; and the same test on the effect beyond a "
           "Gaussian cloud with each layer's token mean and covariance (the method's change on the tokens minus its "
           "change on the cloud, paired within each replicate) must agree, otherwise inconclusive (any cloud with "
           "that spectrum shows the effect)"),
    "C6": ("for every method that can change the classifier and every task, the paired change of the test score of "
           "a classifier re-fitted on the processed features of the fine-tuned encoder stays below +{margin:g} (its "
           "{level}% interval entirely below), the same methods raise the pre-trained encoder's score (every "
           "{level}% interval above 0: a method that never helped cannot have stopped helping), and on average over "
           "those methods and tasks the enhancements help the pre-trained encoder more than the fine-tuned one "
           "(interval of the mean difference above 0); "
           "contradicted when some fine-tuned interval lies entirely above +{margin:g} at the Bonferroni level.  "
           "ZM is reported, not counted: a standardised linear classifier of mean-pooled tokens cannot see a shift, "
           "so its change is zero by construction.  The contrast in shares of each model's room to gain (1 - score) "
           "must agree, otherwise inconclusive (the fine-tuned model sits nearer its ceiling)"),
    "C7": ("for every task of the pre-trained model, on held-out tokens: log10 I(W) after Clustering+ZM exceeds "
           "that after centring random partitions of the same sizes (the cluster structure, beyond any per-group "
           "centring) and that after global ZM (local beats global); supported when every {level}% interval lies "
           "above 0, contradicted when one lies below 0 at the Bonferroni level.  Whether ZM itself raises I(W) is "
           "C5's cell, not C7's.  The same test on log10 I(W) of the tokens scaled to unit length must agree, "
           "otherwise inconclusive; and the same test on the effect beyond the Gaussian cloud of the tokens' moments "
           "(tokens - cloud, paired within each replicate) must agree, otherwise inconclusive (k-means beats global "
           "centring on any cloud with that spectrum)"),
}


SHUFFLED_CLAUSE = ("; where the label-shuffled control runs, the same test on the real effect minus the shuffled runs' "
                   "(paired by seed, on the control's tasks) must agree, otherwise inconclusive: an effect any "
                   "fine-tuning of this length shows is not one of learning the task")
"""What the label-shuffled control adds to the criterion of each claim about fine-tuning (decided in
:func:`helpers.ledger.beyond_label_shuffled`)."""
FINE_TUNING_CLAIMS = ("C1", "C2", "C3", "C4", "C6")
"""The claims about what fine-tuning does, which a control fine-tuning can decide (C5 and C7 have the Gaussian cloud)."""


def criterion(claim: str, metric: str = "log10 I(W)", margin: float = FLAT_MARGIN, k: int = C4_K) -> str:
    """The test of a claim in words, as declared in this module (chapters show it above the numbers)."""
    checks_claim = _CRITERIA.get(claim)
    if checks_claim is None:
        raise ValueError(f"claim={claim!r} is not valid; choose one of: {', '.join(_CRITERIA)}")
    text = checks_claim.format(metric=metric, margin=margin, level=int(LEVEL * 100), k=k)
    return text + (SHUFFLED_CLAUSE if claim in FINE_TUNING_CLAIMS else "")


def c1_isotropy(df: pd.DataFrame, metric: str = "log10 I(W)", section: str = "") -> Verdict:
    """C1 from rows (task, state in {pre-trained, fine-tuned}, replicate, value) of ``metric`` in one layer.

    Per task the paired effect fine-tuned - pre-trained; the claim ("not necessarily") holds when at least one
    task's interval lies below 0, and is contradicted when every task's interval lies above 0."""
    eff = paired_effects(df, ["task"], "state", "fine-tuned", "pre-trained")
    table = adjust(cells(eff, ["task"], direction=-1), side=SUPPORTED)   # one task suffices: the union is support
    v = table.verdict.tolist()
    verdict = (SUPPORTED if SUPPORTED in v else CONTRADICTED if v and all(x == CONTRADICTED for x in v)
               else INCONCLUSIVE)
    best = table.loc[table.high.fillna(np.inf).idxmin()] if len(table) else None
    crit = criterion("C1", metric=metric)
    if best is None:
        return Verdict("C1", C1_STATEMENT, crit, f"change of {metric}", np.nan, np.nan, np.nan, 0, "none", INCONCLUSIVE,
                       detail=table, section=section)
    return Verdict("C1", C1_STATEMENT, crit, f"change of {metric} (fine-tuned - pre-trained)", float(best.estimate),
                   float(best.low), float(best.high), int(best.n),
                   "the pre-trained model on the same held-out tokens (paired)", verdict, where=f"task {best.task}",
                   detail=table, section=section, cell=cell_key(best), effects=tuple(best.effects))


C2_TESTS = {"ARI": "clusters: ARI with the labels", "held-out-type probe accuracy": "probe on held-out word types"}
"""The views of each named structure that decide C2: {measure of helpers.structure.c2_table: test name}."""
C2_DRIFT_NAME = "generic drift"
"""The name of the measure reported beside C2 (:func:`c2_drift`), never deciding it."""
C2_DRIFT = (C2_DRIFT_NAME + ": the share of each token's 10 nearest neighbours kept and linear CKA, (seed s vs seed s') - "
            "(pre-trained vs seed s), beyond " + f"{C2_DRIFT_MARGIN:g}" + " in every cell, mean of the transformer layers")
"""The generic drift reported beside C2 (:func:`c2_drift`)."""


def c2_named_structures(df: pd.DataFrame, section: str = "", control: pd.DataFrame | None = None) -> Verdict:
    """C2 from rows (task, replicate, state in {pre-trained, fine-tuned, other seed}, structure, measure, value) of
    :func:`helpers.structure.c2_table` in one layer.  Per task, structure and test (:data:`C2_TESTS`) and
    replicate s: |fine-tuned s - pre-trained| - |fine-tuned s - fine-tuned s'| on replicate s's tokens
    (:data:`C2_FLOOR`: paired, so the interval carries the floor's noise, and widened for the runs that
    neighbouring replicates share, :func:`helpers.intervals.shared_run_inflation`).  Every cell must lie above 0;
    one cell below 0 at the Bonferroni level contradicts.  The detail keeps each cell's mean change, floor and
    signed change.  With ``control`` (the same table of control fine-tunings, the label-shuffled runs, on the same
    tokens) the effect is the size of replicate s's change minus the size of the control's, |fine-tuned s -
    pre-trained| - |control s - pre-trained|, in the cells both have: whether learning the task moves the structure
    further than fine-tuning as such (each floor is noise of its own run, not part of the comparison)."""
    from .structure import OTHER_SEED

    def parts_of(table):
        d = table[table.measure.isin(list(C2_TESTS))]
        w = d.pivot_table(index=["task", "structure", "measure", "replicate"], columns="state", values="value")
        missing = {"pre-trained", "fine-tuned", OTHER_SEED} - set(w.columns)
        if missing:
            raise ValueError(f"C2 needs the states pre-trained, fine-tuned and {OTHER_SEED!r}; missing {sorted(missing)}")
        change = w["fine-tuned"] - w["pre-trained"]
        floor_s = (w["fine-tuned"] - w[OTHER_SEED]).abs()
        return change, floor_s, (change.abs() - floor_s).rename("effect")

    keys = ["task", "structure", "measure"]
    change, floor_s, excess = parts_of(df)
    if control is not None:     # the size of the real change minus the control's (same seed, same tokens)
        excess = (change.abs() - parts_of(control)[0].abs()).dropna().rename("effect")
        change, floor_s = (x.reindex(excess.index) for x in (change, floor_s))
    size, floor, signed = (x.groupby(keys).mean() for x in (change.abs(), floor_s, change))
    parts = []
    for key, g in excess.reset_index().groupby(keys, sort=False):
        t = cells(g.assign(test=C2_TESTS[key[2]]), ["test", "task", "structure"], direction=+1, shared_runs=True)
        parts.append(t.assign(change=float(size[key]), floor=float(floor[key]), **{"signed change": float(signed[key])}))
    table = adjust(pd.concat(parts, ignore_index=True)) if parts else cells(excess.reset_index(), ["task"])
    return _summarise("C2", C2_STATEMENT, criterion("C2"),
                      lambda r: f"size of the change |fine-tuned - pre-trained| of the {r.test.split(':')[0]} beyond "
                                f"its seed-to-seed floor (change {r.change:.3g}, floor {r.floor:.3g})", table,
                      all_of(table.verdict),
                      "another fine-tuning seed on the same tokens (the floor, subtracted per replicate)", +1, section,
                      lambda r: f"{r.structure} on {r.task}")


def c2_drift(df: pd.DataFrame, margin: float = C2_DRIFT_MARGIN, section: str = "") -> Verdict:
    """The generic drift reported beside C2, from rows (task, replicate, measure, pair, value) of
    :func:`helpers.structure.change_table` in one layer (:func:`by_layer` for the layers).  Per task, measure and
    replicate: similarity(fine-tuned s, seed s') - similarity(pre-trained, fine-tuned s), same tokens; every cell
    must lie above ``margin``.  It does not decide C2: k-NN overlap and CKA move with any change of the space, CKA
    mostly with its top directions (C3's territory)."""
    w = df.pivot_table(index=["task", "measure", "replicate"], columns="pair", values="value")
    eff = (w["fine-tuned vs other seed"] - w["pre-trained vs fine-tuned"]).rename("effect").reset_index()
    table = adjust(cells(eff, ["task", "measure"], direction=+1, margin=margin, shared_runs=True))
    return _summarise("C2 (generic drift)", C2_STATEMENT, C2_DRIFT,
                      lambda r: f"{r.measure}: (seed s vs seed s') - (pre-trained vs seed s)", table,
                      all_of(table.verdict), "two fine-tuning seeds of the same task on the same tokens (the floor)",
                      +1, section, lambda r: f"{r.measure} on {r.task}")


def with_reported(v: Verdict, reported: Verdict, what: str) -> Verdict:
    """``v`` with another test of the same claim shown beside it (``reported``: e.g. C2's generic drift), which
    never changes the verdict."""
    return replace(v, reported={"what": what, "statistic": reported.statistic, "verdict": reported.verdict,
                                "estimate": reported.estimate, "low": reported.low, "high": reported.high,
                                "where": reported.where})


C3_COUNTS = ("above_10x_median",)
"""The count that decides C3: eigenvalues above 10x the median eigenvalue (scale-free; one exploding direction adds
one)."""
C3_REPORTED = ("above_10x_mean", "rogue")
"""Direct counts against references that rise with the dominant directions (not monotone): reported beside C3."""
INTEGER_COUNTS = ("above_10x_median", "above_10x_mean", "rogue", "pcs_50", "pcs_90", "above_uniform")
"""The criteria that count directions (integers: their intervals carry a count's rounding variance)."""
CONCENTRATION = ("pcs_50", "pcs_90", "above_uniform", "participation ratio", "variance share above 10x mean")
"""How concentrated the variance is: the spread counts fall, and the share of the dominant directions rises, when
it concentrates into few directions (reported beside C3, not decided on)."""


def c3_directions(df: pd.DataFrame, section: str = "") -> Verdict:
    """C3 from rows (task, state, replicate, criterion, value = a count) of the unprocessed held-out tokens.
    Cells: task x :data:`C3_COUNTS`; the counts against moving references (:data:`C3_REPORTED`, test "direct
    count, moving reference: reported") and the spread counts (:data:`CONCENTRATION`, test "concentration:
    reported") are kept in ``detail`` and never decide.  Counts are integers: their intervals carry the
    rounding variance of a count (``quantum=1``), so a change of one direction in every seed is not decided.  The
    mean over layers (:func:`by_layer`) keeps one count's resolution: the same direction crosses the threshold in
    neighbouring layers together, so the layers' roundings are not independent (the conservative choice)."""
    q = 1.0
    eff = paired_effects(df, ["task", "criterion"], "state", "fine-tuned", "pre-trained")
    direct = adjust(cells(eff[eff.criterion.isin(C3_COUNTS)], ["task", "criterion"], direction=+1, quantum=q))
    moving = cells(eff[eff.criterion.isin(C3_REPORTED)], ["task", "criterion"], direction=+1, quantum=q)
    spread = pd.concat([cells(eff[eff.criterion.isin(CONCENTRATION) & (eff.criterion.isin(INTEGER_COUNTS) == integer)],
                              ["task", "criterion"], direction=+1, quantum=q * integer) for integer in (True, False)],
                       ignore_index=True)
    detail = pd.concat([direct.assign(test="direct count: decides"),
                        moving.assign(test="direct count, moving reference: reported"),
                        spread.assign(test="concentration: reported")], ignore_index=True)
    return _summarise("C3", C3_STATEMENT, criterion("C3"), lambda r: f"change of the count {r.criterion} (fine-tuned - pre-trained)",
                      direct, all_of(direct.verdict), "the pre-trained model on the same held-out tokens (paired)", +1,
                      section, lambda r: f"{r.criterion} on {r.task}", detail=detail, decisive=direct)


C4_CROSS = CROSS_TASK
"""The cross-task control state of :func:`helpers.directions.knowledge_table`."""


def headroom_excess(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`c4_knowledge`'s rows with ``accuracy`` rescaled to the probe's headroom: (accuracy - majority rate) /
    (unprocessed accuracy - majority rate) per task, replicate and state, so that random - top removal is the share
    of what the probe knew beyond the majority class that the removal took.  A probe at or below the majority rate
    has nothing to lose: NaN (its cells drop out)."""
    keys = ["task", "replicate", "state"]
    base = df[df.removed == "none"].groupby(keys).apply(lambda g: float((g.accuracy - g.majority).mean()),
                                                         include_groups=False).rename("room")
    out = df.join(base, on=keys)
    room = out.room.where(out.room > 0)
    return out.assign(accuracy=(out.accuracy - out.majority) / room).drop(columns="room")


def c4_knowledge(df: pd.DataFrame, k: int = C4_K, section: str = "") -> Verdict:
    """C4 from rows (task, replicate, state, k, removed in {none, top, random}, accuracy) of
    :func:`helpers.directions.knowledge_table`.  Excess = accuracy after random removal - after top removal (what
    the top directions hold beyond any k directions); cells per task and k: the fine-tuned excess (> 0), the
    contrast fine-tuned - pre-trained excess (> 0) and, where the table has it, the cross-task contrast
    fine-tuned - fine-tuned-on-another-task excess (> 0: it is *this* task's fine-tuning that put the label in
    the top direction).  The verdict uses k (fixed in this module); the detail holds every k of the sweep."""
    d = df[df.removed.isin(["top", "random"])]
    if k not in set(d.k):
        raise ValueError(f"k={k} is not among the measured k ({sorted(d.k.unique())}); measure it or choose one of them")
    acc = d.pivot_table(index=["task", "k", "replicate", "state"], columns="removed", values="accuracy", dropna=False)
    # dropna=False: a removal or a state whose every share is NaN (no probe above the majority rate) keeps its column
    excess = (acc["random"] - acc["top"]).rename("excess").reset_index()
    e = excess.pivot_table(index=["task", "k", "replicate"], columns="state", values="excess", dropna=False)
    contrast = (e["fine-tuned"] - e["pre-trained"]).dropna().rename("effect").reset_index()
    ft = excess[excess.state == "fine-tuned"].dropna(subset=["excess"]).rename(columns={"excess": "effect"})
    parts = [cells(ft, ["task", "k"], +1).assign(test="fine-tuned: random - top removal > 0"),
             cells(contrast, ["task", "k"], +1).assign(test="fine-tuned excess - pre-trained excess > 0")]
    if C4_CROSS in e:
        cross = (e["fine-tuned"] - e[C4_CROSS]).dropna().rename("effect").reset_index()
        parts.append(cells(cross, ["task", "k"], +1).assign(test="fine-tuned excess - other task's excess > 0"))
    table = pd.concat(parts, ignore_index=True)
    at_k = table[table.k == k]
    ft_k = at_k[at_k.test.str.startswith("fine-tuned:")]
    decisive = adjust(at_k[~at_k.test.str.startswith("fine-tuned:")])
    verdict = (CONTRADICTED if (decisive.verdict == CONTRADICTED).any() else
               SUPPORTED if len(decisive) and len(ft_k) and (decisive.verdict == SUPPORTED).all()
               and (ft_k.verdict == SUPPORTED).all() else INCONCLUSIVE)
    return _summarise("C4", C4_STATEMENT, criterion("C4", k=k),
                      lambda r: f"label-probe accuracy, (random - top removal): {r.test.replace(' > 0', '')}, k = {k}",
                      decisive, verdict,
                      f"removing {k} random direction(s); the pre-trained model on the same sentences; the encoder "
                      "fine-tuned on another task, on the same sentences and labels", +1, section,
                      lambda r: f"task {r.task}", detail=table, decisive=decisive)


def c5_enhancement_isotropy(df: pd.DataFrame, methods, section: str = "") -> Verdict:
    """C5 from rows (task, state, method, replicate, value = log10 I(W) of held-out tokens, last layer) with a
    ``none`` method as baseline.  Cells: task x state x method; each must raise log10 I(W) (interval > 0)."""
    d = df[df.method.isin([*methods, "none"])]
    effects = method_effects(d, methods)
    table = adjust(cells(effects, ["task", "state", "method"], direction=+1))
    crit = criterion("C5")
    return _summarise("C5", C5_STATEMENT, crit, "change of log10 I(W) (method - none)", table, all_of(table.verdict),
                      "no processing on the same tokens (paired)", +1, section,
                      lambda r: f"{r.method} on {r.state} {r.task}")


SHIFT_INVARIANT = ("ZM",)
"""Methods whose C6 change is zero by construction (a standardised linear classifier of mean-pooled tokens
cannot see a constant shift): reported in C6's detail, not counted."""


def c6_task_effect(df: pd.DataFrame, methods, margin: float = FLAT_MARGIN, section: str = "",
                   headroom: bool = False, reference_gains: bool = True) -> Verdict:
    """C6 from rows (task, state, method, replicate, value = task score of a classifier re-fitted per
    condition).  Fine-tuned cells (methods not in :data:`SHIFT_INVARIANT`): method - none must stay below
    +``margin`` (no improvement); the contrast, (pre-trained effect) - (fine-tuned effect) averaged over those
    methods and tasks within a replicate (one test, no multiplicity), must be above 0.  With ``headroom`` each
    state's effects in the contrast are divided by its room to gain, 1 - score without processing (a score in
    [0, 1]; the fine-tuned model sits nearer its ceiling), and that contrast cell is the headline.  With
    ``reference_gains=False`` the reference state's gains are reported, not required (the reference is a control
    fine-tuning, :func:`against_control`: whether the methods help the pre-trained model is the real verdict's
    cell, and the control shares that model)."""
    counted = [m for m in methods if m not in SHIFT_INVARIANT]
    if not counted:
        raise ValueError(f"C6 needs a method that can change a linear classifier; {list(methods)} are all shift-only")
    effects = method_effects(df, methods)
    shift = effects[~effects.method.isin(counted)]
    effects = effects[effects.method.isin(counted)]
    ft = adjust(cells(effects[effects.state == "fine-tuned"], ["task", "method"], direction=-1, margin=margin))
    pt = cells(effects[effects.state == "pre-trained"], ["task", "method"], direction=+1)
    e = (effects.pivot_table(index=["task", "method", "replicate"], columns="state", values="effect")
         .reindex(columns=["pre-trained", "fine-tuned"]).dropna())     # a state without any finite effect: no rows
    if headroom:
        none = df[df.method == "none"].pivot_table(index=["task", "replicate"], columns="state", values="value")
        room = (1 - none).where(1 - none > 0)
        e = (e / room.reindex(e.index.droplevel("method"))[e.columns].to_numpy()).dropna()
    contrast_eff = (e["pre-trained"] - e["fine-tuned"]).groupby("replicate").mean().rename("effect").reset_index()
    contrast = cells(contrast_eff.assign(task="all", method="mean of methods"), ["task", "method"], direction=+1)
    gain = "share of the room to gain" if headroom else "gain"
    pt_test = "pre-trained: method - none > 0" if reference_gains else "reference: method - none (reported)"
    parts = [ft.assign(test="fine-tuned: method - none < margin"), pt.assign(test=pt_test),
             contrast.assign(test=f"pre-trained {gain} - fine-tuned {gain} > 0")]
    if len(shift):
        parts.append(cells(shift, ["task", "state", "method"], direction=-1, margin=margin)
                     .assign(test="reported: zero by construction"))
    table = pd.concat(parts, ignore_index=True)
    ft_v = all_of(ft.verdict)
    helps_pt_more = len(contrast) > 0 and (contrast.verdict == SUPPORTED).all()   # no contrast cell: not shown
    helps_pt = not reference_gains or (len(pt) > 0 and all_of(pt.verdict) == SUPPORTED)  # they helped before
    verdict = (CONTRADICTED if ft_v == CONTRADICTED else
               SUPPORTED if ft_v == SUPPORTED and helps_pt_more and helps_pt else INCONCLUSIVE)
    crit = criterion("C6", margin=margin)
    control = "the same methods on the pre-trained encoder (paired by replicate)"
    if ft_v == SUPPORTED and helps_pt_more and not helps_pt:      # what keeps it from support: the pre-trained gains
        return _summarise("C6", C6_STATEMENT, crit, "change of the pre-trained test score (method - none)", pt,
                          verdict, control, +1, section, lambda r: f"{r.method} on {r.task} (pre-trained)",
                          detail=table, decisive=pt)
    if headroom and len(contrast):     # what the headroom variant changes is the contrast: it is the headline
        return _summarise("C6", C6_STATEMENT, crit, f"pre-trained {gain} - fine-tuned {gain}", contrast, verdict,
                          control, +1, section, lambda r: "mean over the methods and tasks", detail=table,
                          decisive=contrast)
    return _summarise("C6", C6_STATEMENT, crit, "change of the fine-tuned test score (method - none)", ft, verdict,
                      control, -1, section, lambda r: f"{r.method} on {r.task}", detail=table, decisive=ft)


C7_TESTS = ("Clustering+ZM - random partitions > 0", "Clustering+ZM - ZM > 0")


def c7_local_isotropy(df: pd.DataFrame, section: str = "") -> Verdict:
    """C7 from rows (task, method in {ZM, Clustering+ZM, random partitions}, replicate, value = log10 I(W)) of
    the pre-trained model in one layer (:func:`by_layer` for the grid).  Cells per task: Clustering+ZM -
    random partitions of the same sizes > 0 (beyond the control) and Clustering+ZM - ZM > 0 (local beats
    global).  Replicates are sentence samples (with their k-means seed): the pre-trained model is not fine-tuned."""
    by = [c for c in ("task", "layer") if c in df]
    effects = pd.concat([paired_effects(df, by, "method", "Clustering+ZM", "random partitions").assign(test=C7_TESTS[0]),
                         paired_effects(df, by, "method", "Clustering+ZM", "ZM").assign(test=C7_TESTS[1])],
                        ignore_index=True)
    table = adjust(cells(effects, ["test", *by], +1))
    label = (lambda r: f"{r.task} layer {int(r.layer)}") if "layer" in by else (lambda r: f"{r.task}")
    return _summarise("C7", C7_STATEMENT, criterion("C7"), lambda r: f"log10 I(W): {r.test.replace(' > 0', '')}",
                      table, all_of(table.verdict), "random partitions of the same sizes, centred the same way; global ZM",
                      +1, section, label, replicates="sentence samples (pre-trained model)")


# What qualifies each claim's verdict, beyond the shared deviations (model, data, budget) of the default run.
QUALIFIERS = {
    "C1": "the authors' single-sign I(W) is reported beside the both-sign value; norms beside both",
    "C2": "the paper's clustering and probing protocols are not retrievable: decided on k-means (k = 27) and "
          "held-out-type probes of token type and frequency at the last layer against a second fine-tuning seed on "
          "the same tokens; nearest-neighbour overlap and CKA (generic drift) reported beside (chapter 03)",
    "C3": "the paper's own count is not retrievable; decided on eigenvalues above 10x the median eigenvalue (rogue "
          "dimensions and eigenvalues above 10x the mean reported), the spread counts reported as concentration",
    "C4": "token-level probes of the sentence label (the paper's probing tasks are not retrievable); the "
          "fine-tuned head's own score under removal is reported in chapter 04, not decided on",
    "C5": "I(W) of held-out tokens, methods fitted on training sentences (the companion code fits and measures "
          "on the same tokens)",
    "C6": "frozen-feature logistic regression on mean-pooled tokens (the companion uses a small MLP on padded "
          "token matrices); ZM cannot change a standardised linear classifier",
    "C7": "held-out tokens; against random partitions of the same sizes",
}


def ledger(verdicts) -> pd.DataFrame:
    """One row per claim (ledger columns of :meth:`Verdict.row`)."""
    return pd.DataFrame([v.row() for v in verdicts])
