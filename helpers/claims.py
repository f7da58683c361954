"""Verdicts on the paper's claims (paper-spec section 4), computed from tidy per-replicate measurements.

Every claim function takes a long table with one row per measurement and a ``replicate`` column, and returns
a :class:`Verdict`: the claim, the criterion in words (fixed in this module, before any number is seen), the
statistic, the estimate with its 95% interval, the number of replicates, the control it was compared with,
and a verdict in {supported, contradicted, inconclusive}, plus the per-cell table behind it.

**Statistics.** The unit of replication is the fine-tuning seed: replicate *r* pairs fine-tuning seed *r*
with its own seeded sentence sample (and k-means seed), and the pre-trained model is measured on the same
sample, so pre-trained values are independent measurements, never copies of one value.  Effects are paired
differences within a replicate; their mean gets a two-sided Student-t interval over replicates
(:func:`t_interval`).  A cell (one task, state, method, layer ...) is

* **supported** when its interval excludes no change (or the stated margin) in the claimed direction,
* **contradicted** when it excludes it in the other direction,
* **inconclusive** otherwise, and always with fewer than :data:`MIN_REPLICATES` replicates.

A claim about every cell ("each method raises I(W) on every task") is supported when every cell is,
contradicted when any cell is, inconclusive otherwise (:func:`all_of`).  The headline estimate is the weakest
cell: the one whose interval comes closest to refuting the claim.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not yet measured"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)

# Named thresholds, each with its rationale (the ledger lists them).
LEVEL = 0.95
"""Two-sided confidence level of every interval: the field's convention."""
MIN_REPLICATES = 3
"""Fewer fine-tuning seeds give no verdict: with 2, the t quantile is 12.7 and one seed can decide alone."""
FLAT_MARGIN = 0.01
"""Accuracy margin for "no improvement" (C6): one point, below what a reader would call a gain and above the
seed-to-seed spread of the fine-tuned accuracy (about 0.002-0.004 on the default tasks)."""

C4_K = 1
"""Directions removed in the C4 verdict: the single most dominant one, fixed before the run (the paper removes the
top direction(s)); the other k of the sweep are reported, not decided on (no choice of k after the numbers)."""

THRESHOLDS = {
    "LEVEL": (LEVEL, "two-sided confidence level of every interval"),
    "C4_K": (C4_K, "directions removed in the C4 verdict (the sweep's other k are reported only)"),
    "MIN_REPLICATES": (MIN_REPLICATES, "fewer fine-tuning seeds give 'inconclusive'"),
    "FLAT_MARGIN": (FLAT_MARGIN, "accuracy gain below which C6 calls a change 'no improvement'"),
}


# ----------------------------------------------------------------------------- statistics
def t_interval(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of a two-sided Student-t interval of the mean; low = high = NaN for n < 2."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half, n


def decide(low: float, high: float, n: int, direction: int = +1, margin: float = 0.0) -> str:
    """Verdict of one cell: the claim predicts a change of sign ``direction`` beyond ``margin`` (direction
    -1 with a margin m means "below +m": "no improvement larger than m")."""
    if n < MIN_REPLICATES or not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    if direction > 0:
        return SUPPORTED if low > margin else CONTRADICTED if high < margin else INCONCLUSIVE
    return SUPPORTED if high < margin else CONTRADICTED if low > margin else INCONCLUSIVE


def all_of(verdicts) -> str:
    """Every cell supported -> supported; any contradicted -> contradicted; otherwise inconclusive."""
    v = list(verdicts)
    if not v:
        return INCONCLUSIVE
    if any(x == CONTRADICTED for x in v):
        return CONTRADICTED
    return SUPPORTED if all(x == SUPPORTED for x in v) else INCONCLUSIVE


def paired_effects(df: pd.DataFrame, by: list[str], column: str, treated, reference, value: str = "value") -> pd.DataFrame:
    """Per replicate and group ``by``: value[column == treated] - value[column == reference] (paired)."""
    keys = [*by, "replicate"]
    a = df[df[column] == treated].set_index(keys)[value]
    b = df[df[column] == reference].set_index(keys)[value]
    d = (a - b).dropna().rename("effect").reset_index()
    return d


def method_effects(df: pd.DataFrame, methods, by=("task", "state"), reference: str = "none") -> pd.DataFrame:
    """Paired effects of every method against ``reference`` (columns: by..., replicate, effect, method)."""
    return pd.concat([paired_effects(df, list(by), "method", m, reference).assign(method=m) for m in methods],
                     ignore_index=True)


def cells(effects: pd.DataFrame, by: list[str], direction: int = +1, margin: float = 0.0) -> pd.DataFrame:
    """Interval and verdict of every group of paired effects (columns: by..., estimate, low, high, n, verdict)."""
    rows = []
    for key, g in effects.groupby(by, sort=False):
        m, lo, hi, n = t_interval(g.effect)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "estimate": m, "low": lo, "high": hi, "n": n,
                     "verdict": decide(lo, hi, n, direction, margin)})
    return pd.DataFrame(rows)


def weakest(table: pd.DataFrame, direction: int = +1) -> pd.Series:
    """The cell whose interval comes closest to refuting the claim (lowest low for +1, highest high for -1)."""
    t = table.copy()
    score = t.low.fillna(-np.inf) if direction > 0 else -t.high.fillna(np.inf)
    return t.loc[score.idxmin()]


# ----------------------------------------------------------------------------- the verdict object
@dataclass
class Verdict:
    claim: str
    statement: str
    criterion: str
    statistic: str
    estimate: float
    low: float
    high: float
    n: int
    control: str
    verdict: str
    where: str = ""
    detail: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    section: str = ""

    def interval(self, fmt: str = "{:+.3g}") -> str:
        if not np.isfinite(self.estimate):
            return "n/a"
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return fmt.format(self.estimate) + " (no interval)"
        return f"{fmt.format(self.estimate)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"

    def markdown(self) -> str:
        """The verdict as a paragraph the chapters glue: claim, criterion, number, control, verdict."""
        n_note = "" if self.n >= MIN_REPLICATES else (
            f" Only {self.n} fine-tuning seed(s): at least {MIN_REPLICATES} are needed for a verdict "
            f"(`seeds: [0, 1, 2]`).")
        return (f"**{self.claim}: {self.statement}**\n\n"
                f"*Criterion (fixed before the run):* {self.criterion}\n\n"
                f"*Result:* {self.statistic}{' — ' + self.where if self.where else ''}: {self.interval()} "
                f"({int(LEVEL * 100)}% t-interval over n = {self.n} fine-tuning seeds). *Control:* {self.control}.{n_note}\n\n"
                f"**Verdict: {self.verdict}.**")

    def row(self) -> dict:
        """One row of the claims ledger."""
        return {"claim": self.claim, "statement": self.statement, "test": self.criterion, "statistic": self.statistic,
                "where": self.where, "estimate": self.estimate, "low": self.low, "high": self.high, "n seeds": self.n,
                "control": self.control, "verdict": self.verdict, "section": self.section}


def not_measured(claim: str, statement: str, section: str = "") -> Verdict:
    return Verdict(claim, statement, "", "", np.nan, np.nan, np.nan, 0, "", NOT_MEASURED, section=section)


def _summarise(claim, statement, criterion, statistic, table, verdict, control, direction=+1, section="",
               label=lambda r: "", detail=None, decisive=None) -> Verdict:
    """A verdict whose headline is a cell: when the claim is contradicted, the cell of ``decisive`` (default:
    ``table``) that contradicts it most clearly; otherwise the weakest cell of ``table``.  ``detail`` (default:
    ``table``) is kept."""
    detail = table if detail is None else detail
    decisive = table if decisive is None else decisive
    against = decisive[decisive.verdict == CONTRADICTED] if len(decisive) else decisive
    if verdict == CONTRADICTED and len(against):
        w = against.loc[against.high.idxmin() if direction > 0 else against.low.idxmax()]
        prefix = "contradicted by"
    elif len(table):
        w, prefix = weakest(table, direction), "weakest"
    else:
        return Verdict(claim, statement, criterion, statistic, np.nan, np.nan, np.nan, 0, control, INCONCLUSIVE,
                       detail=detail, section=section)
    test = f" ({w.test})" if "test" in w.index and isinstance(w.test, str) else ""
    return Verdict(claim, statement, criterion, statistic, float(w.estimate), float(w.low), float(w.high), int(w.n),
                   control, verdict, where=f"{prefix}: {label(w)}{test}", detail=detail, section=section)


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
                "global ZM, which is not below the baseline (non-input layers, pre-trained)")


_CRITERIA = {
    "C1": ("per task, the paired change of {metric} (fine-tuned - pre-trained, same held-out tokens); supported when "
           "the {level}% interval of at least one task lies below 0 (isotropy fell), contradicted when every task's "
           "interval lies above 0 (it rose everywhere)"),
    "C2": ("for every task and both structures (token type, with stop words that exclude negation cues; frequency "
           "bucket within content words), on held-out tokens of the last layer: (i) the drop of the adjusted Rand "
           "index between k-means clusters and the labels, pre-trained - fine-tuned, minus its noise floor (the mean "
           "absolute change of that index when the same space is clustered with another k-means seed); (ii) the "
           "drop of accuracy of a linear probe whose training and test tokens share no word type (it cannot "
           "memorise token identity); supported when every {level}% interval lies above 0, contradicted when any "
           "lies below 0 (agreement that moved less than re-clustering moves it, or a probe that gained)"),
    "C3": ("for every task and every count of paper-spec section 2.7 on held-out tokens of the last layer "
           "(principal directions above 1/d of the variance; directions needed for 50% and for 90% of it; eigenvalues "
           "above 10x the mean; rogue dimensions), the paired change of the count, fine-tuned - pre-trained; more "
           "directions is growth and ties are not; supported when every {level}% interval lies above 0, "
           "contradicted when any lies below 0"),
    "C4": ("per task, a probe of the sentence label on the tokens of the last layer, with directions and probe "
           "fitted on validation-split sentences (neither model was trained on them) and accuracy on test sentences: "
           "the excess loss from removing the top {k} principal direction(s) over removing {k} random orthonormal "
           "direction(s) (the control), paired by fine-tuning seed; supported when the fine-tuned model's excess is "
           "above 0 and exceeds the pre-trained model's ({level}% intervals above 0) for every task, contradicted "
           "when for some task the pre-trained model's excess is the larger (interval below 0)"),
    "C5": ("for every method, task and model (pre-trained, fine-tuned): the paired change of log10 I(W) of held-out "
           "test tokens (method fitted on training tokens) against no processing; supported when every {level}% "
           "interval lies above 0, contradicted when any lies below 0"),
    "C6": ("for every method and task, the paired change of the test score of a classifier re-fitted on the "
           "processed features of the fine-tuned encoder stays below +{margin:g} (its {level}% interval entirely "
           "below), and on average over methods and tasks the enhancements help the pre-trained encoder more than "
           "the fine-tuned one (interval of the mean difference above 0); contradicted when some fine-tuned "
           "interval lies entirely above +{margin:g}"),
    "C7": ("in every non-input layer and task of the pre-trained model, on held-out tokens: log10 I(W) after "
           "Clustering+ZM exceeds that after centring random partitions of the same sizes and that after global "
           "ZM ({level}% intervals above 0), and ZM is not below the baseline; contradicted when any of these "
           "intervals lies on the wrong side of 0"),
}


def criterion(claim: str, metric: str = "log10 I(W)", margin: float = FLAT_MARGIN, k: int = C4_K) -> str:
    """The test of a claim in words, as fixed in this module (chapters show it before the numbers)."""
    checks_claim = _CRITERIA.get(claim)
    if checks_claim is None:
        raise ValueError(f"claim={claim!r} is not valid; choose one of: {', '.join(_CRITERIA)}")
    return checks_claim.format(metric=metric, margin=margin, level=int(LEVEL * 100), k=k)


def c1_isotropy(df: pd.DataFrame, metric: str = "log10 I(W)", section: str = "") -> Verdict:
    """C1 from rows (task, state in {pre-trained, fine-tuned}, replicate, value) of ``metric`` in one layer.

    Per task the paired effect fine-tuned - pre-trained; the claim ("not necessarily") holds when at least one
    task's interval lies below 0, and is contradicted when every task's interval lies above 0."""
    eff = paired_effects(df, ["task"], "state", "fine-tuned", "pre-trained")
    table = cells(eff, ["task"], direction=-1)
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
                   detail=table, section=section)


C2_TESTS = ("ARI drop beyond the k-means noise floor", "held-out-type probe accuracy drop")


def c2_structure(df: pd.DataFrame, section: str = "") -> Verdict:
    """C2 from rows (task, replicate, state, structure, measure, value) of :func:`helpers.structure.c2_table`.

    Per task, structure and replicate: (i) ARI[pre] - ARI[ft] - floor, floor = mean over the two states of
    |ARI - ARI with another k-means seed|; (ii) probe accuracy[pre] - [ft] with word types held out.  Every
    cell must lie above 0 (:func:`all_of`)."""
    keys = ["task", "structure", "replicate"]
    w = df.pivot_table(index=[*keys, "state"], columns="measure", values="value")
    floor = (w["ARI"] - w["ARI, other k-means seed"]).abs().groupby(keys).mean()
    ari = w["ARI"].unstack("state")
    probe = w["held-out-type probe accuracy"].unstack("state")
    effects = pd.concat([
        (ari["pre-trained"] - ari["fine-tuned"] - floor).rename("effect").reset_index().assign(test=C2_TESTS[0]),
        (probe["pre-trained"] - probe["fine-tuned"]).rename("effect").reset_index().assign(test=C2_TESTS[1])],
        ignore_index=True).dropna(subset=["effect"])
    table = cells(effects, ["test", "task", "structure"], direction=+1)
    return _summarise("C2", C2_STATEMENT, criterion("C2"), "drop, pre-trained - fine-tuned (ARI: beyond its noise floor)",
                      table, all_of(table.verdict),
                      "the same space clustered with another k-means seed (ARI); probes that cannot memorise word "
                      "types, and the pre-trained model on the same held-out tokens (paired)", +1, section,
                      lambda r: f"{r.structure} on {r.task}")


def c3_directions(df: pd.DataFrame, section: str = "") -> Verdict:
    """C3 from rows (task, state, replicate, criterion, value = a count of dominant directions)."""
    eff = paired_effects(df, ["task", "criterion"], "state", "fine-tuned", "pre-trained")
    table = cells(eff, ["task", "criterion"], direction=+1)
    return _summarise("C3", C3_STATEMENT, criterion("C3"), "change of the count (fine-tuned - pre-trained)", table,
                      all_of(table.verdict), "the pre-trained model on the same held-out tokens (paired)", +1, section,
                      lambda r: f"{r.criterion} on {r.task}")


def c4_knowledge(df: pd.DataFrame, k: int = C4_K, section: str = "") -> Verdict:
    """C4 from rows (task, replicate, state, k, removed in {none, top, random}, accuracy) of
    :func:`helpers.directions.knowledge_table`.  Excess = accuracy after random removal - after top removal (what
    the top directions hold beyond any k directions); cells per task and k: the fine-tuned excess (> 0) and the
    contrast fine-tuned - pre-trained excess (> 0).  The verdict uses k (fixed before the run); the detail holds
    every k of the sweep."""
    d = df[df.removed.isin(["top", "random"])]
    acc = d.pivot_table(index=["task", "k", "replicate", "state"], columns="removed", values="accuracy")
    excess = (acc["random"] - acc["top"]).rename("excess").reset_index()
    e = excess.pivot_table(index=["task", "k", "replicate"], columns="state", values="excess").dropna()
    contrast = (e["fine-tuned"] - e["pre-trained"]).rename("effect").reset_index()
    ft = excess[excess.state == "fine-tuned"].rename(columns={"excess": "effect"})
    table = pd.concat([cells(ft, ["task", "k"], +1).assign(test="fine-tuned: random - top removal > 0"),
                       cells(contrast, ["task", "k"], +1).assign(test="fine-tuned excess - pre-trained excess > 0")],
                      ignore_index=True)
    at_k = table[table.k == k]
    if at_k.empty:
        raise ValueError(f"k={k} is not among the measured k ({sorted(table.k.unique())}); measure it or choose one of them")
    ft_k, con_k = at_k[at_k.test.str.startswith("fine-tuned:")], at_k[at_k.test.str.startswith("fine-tuned excess")]
    verdict = (CONTRADICTED if (con_k.verdict == CONTRADICTED).any() else
               SUPPORTED if (con_k.verdict == SUPPORTED).all() and (ft_k.verdict == SUPPORTED).all() else INCONCLUSIVE)
    return _summarise("C4", C4_STATEMENT, criterion("C4", k=k),
                      f"label-probe accuracy, (random - top removal) fine-tuned - pre-trained, k = {k}", con_k, verdict,
                      f"removing {k} random direction(s); the pre-trained model on the same sentences", +1, section,
                      lambda r: f"task {r.task}", detail=table, decisive=con_k)


def c5_enhancement_isotropy(df: pd.DataFrame, methods, section: str = "") -> Verdict:
    """C5 from rows (task, state, method, replicate, value = log10 I(W) of held-out tokens, last layer) with a
    ``none`` method as baseline.  Cells: task x state x method; each must raise log10 I(W) (interval > 0)."""
    d = df[df.method.isin([*methods, "none"])]
    effects = method_effects(d, methods)
    table = cells(effects, ["task", "state", "method"], direction=+1)
    crit = criterion("C5")
    return _summarise("C5", C5_STATEMENT, crit, "change of log10 I(W) (method - none)", table, all_of(table.verdict),
                      "no processing on the same tokens (paired)", +1, section,
                      lambda r: f"{r.method} on {r.state} {r.task}")


def c6_task_effect(df: pd.DataFrame, methods, margin: float = FLAT_MARGIN, section: str = "") -> Verdict:
    """C6 from rows (task, state, method, replicate, value = task score of a classifier re-fitted per
    condition).  Fine-tuned cells: method - none must stay below +``margin`` (no improvement); the contrast,
    (pre-trained effect) - (fine-tuned effect) averaged over methods and tasks within a replicate (one test, no
    multiplicity), must be above 0."""
    effects = method_effects(df, methods)
    ft = cells(effects[effects.state == "fine-tuned"], ["task", "method"], direction=-1, margin=margin)
    pt = cells(effects[effects.state == "pre-trained"], ["task", "method"], direction=+1)
    e = effects.pivot_table(index=["task", "method", "replicate"], columns="state", values="effect").dropna()
    contrast_eff = (e["pre-trained"] - e["fine-tuned"]).groupby("replicate").mean().rename("effect").reset_index()
    contrast = cells(contrast_eff.assign(task="all", method="mean of methods"), ["task", "method"], direction=+1)
    table = pd.concat([ft.assign(test="fine-tuned: method - none < margin"),
                       pt.assign(test="pre-trained: method - none > 0"),
                       contrast.assign(test="pre-trained gain - fine-tuned gain > 0")], ignore_index=True)
    ft_v = all_of(ft.verdict)
    helps_pt_more = (contrast.verdict == SUPPORTED).all()
    verdict = (CONTRADICTED if ft_v == CONTRADICTED else
               SUPPORTED if ft_v == SUPPORTED and helps_pt_more else INCONCLUSIVE)
    crit = criterion("C6", margin=margin)
    return _summarise("C6", C6_STATEMENT, crit, "change of the fine-tuned test score (method - none)", ft, verdict,
                      "the same methods on the pre-trained encoder (paired by replicate)", -1, section,
                      lambda r: f"{r.method} on {r.task}", detail=table, decisive=ft)


def c7_local_isotropy(df: pd.DataFrame, section: str = "") -> Verdict:
    """C7 from rows (task, layer, method in {none, ZM, Clustering+ZM, random partitions}, replicate,
    value = log10 I(W)) of the pre-trained model in non-input layers.  Cells per task and layer:
    Clustering+ZM - random partitions of the same sizes > 0 (beyond the control), Clustering+ZM - ZM > 0, and
    ZM - none not below 0."""
    by = ["task", "layer"]
    parts = {
        "Clustering+ZM - random partitions > 0": (paired_effects(df, by, "method", "Clustering+ZM", "random partitions"), +1),
        "Clustering+ZM - ZM > 0": (paired_effects(df, by, "method", "Clustering+ZM", "ZM"), +1),
        "ZM - none >= 0": (paired_effects(df, by, "method", "ZM", "none"), +1),
    }
    tables = {name: cells(eff, by, direction) for name, (eff, direction) in parts.items()}
    table = pd.concat([t.assign(test=name) for name, t in tables.items()], ignore_index=True)
    main = [*tables["Clustering+ZM - random partitions > 0"].verdict, *tables["Clustering+ZM - ZM > 0"].verdict]
    zm_below = (tables["ZM - none >= 0"].verdict == CONTRADICTED).any()
    verdict = CONTRADICTED if zm_below else all_of(main)
    crit = criterion("C7")
    ctl = tables["Clustering+ZM - random partitions > 0"]
    return _summarise("C7", C7_STATEMENT, crit, "log10 I(W): Clustering+ZM - random partitions of the same sizes",
                      ctl, verdict, "random partitions of the same sizes, centred the same way", +1, section,
                      lambda r: f"{r.task} layer {int(r.layer)}", detail=table, decisive=table)


# What qualifies each claim's verdict, beyond the shared deviations (model, data, budget) of the default run.
QUALIFIERS = {
    "C1": "the authors' single-sign I(W) is reported beside the both-sign value; norms beside both",
    "C2": "the paper's clustering and probing protocols are not retrievable: k-means with k = 27 on the last layer, "
          "token-level linear probes; token types and frequency buckets by this book's rules (chapter 03)",
    "C3": "the paper's own count is not retrievable; every count of the spec is tested and must agree",
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
