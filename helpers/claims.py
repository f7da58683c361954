"""Verdicts on the paper's claims (defined in the book's methods page, book/methods.md), computed from tidy per-replicate measurements.

Every claim function takes a long table with one row per measurement and a ``replicate`` column, and returns
a :class:`Verdict`: the claim, the criterion in words (declared in this module; revised after earlier ledgers had been read, its history dated
by commit on the methods page), the
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

**Many cells.**  Support needs *every* cell's 95% interval on the claimed side: an intersection-union test,
whose error rate is at most 5% without adjustment (Berger 1982).  Contradiction needs *one* cell on the wrong
side, a union of tests, so a cell contradicts only when its interval at the Bonferroni level
1 - 0.05 / m (m = the claim's cells in that layer) excludes the claimed side (:func:`adjust`): one side
condition among dozens cannot contradict a claim by chance alone.

**Layers.**  One decision per claim, declared here (:data:`DECLARED_LAYERS`): the claim is
decided on the within-replicate **mean of its effect over the transformer layers 1..L** (:func:`layer_mean`: every
layer used, one test, no vote), by :func:`by_layer`.  The last layer (the paper's convention) is decided too and
shown beside it, and the claim x layer grid (each layer on its own) stays as robustness with its own tally; neither
changes the verdict.  C4 and C6 are measured in the last layer only, where the mean is that layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .directions import CROSS_TASK
from .intervals import (BOUNDS, LEVEL, bounded_interval, detectable_effect, detectable_ratio,  # noqa: F401
                        format_interval, level_interval, shared_run_inflation, t_interval, welch_interval)

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not yet measured"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)

# Named thresholds, each with its rationale (the ledger lists them).  LEVEL (the confidence level of every
# interval) lives with the interval functions in helpers.intervals.
MIN_REPLICATES = 3
"""Fewer fine-tuning seeds give no verdict: with 2, the t quantile is 12.7 and one seed can decide alone."""
FLAT_MARGIN = 0.01
"""Accuracy margin for "no improvement" (C6): one point, below what a reader would call a gain and above the
seed-to-seed spread of the fine-tuned accuracy (about 0.002-0.004 on the default tasks)."""

RESOLUTION = 1e-9
"""Relative distance from the threshold below which an interval's bound counts as touching it: such a cell is
inconclusive, so that a verdict never flips on the last digits of a floating-point reduction."""

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

DECLARED_LAYERS = "the mean of the effect over every transformer layer (1..L)"
"""What a claim is decided on: each replicate's effect averaged over every transformer
layer, not the input embeddings (layer 0 is not contextual: fine-tuning barely moves it and the paper measures
contextual representations).  All of them rather than the last: a contrastive encoder's last layer is the one its
sentence objective reshaped (chapter 02), so one layer must not decide a claim about the space.  One test on the
mean rather than a vote over layers: an effect that grows with depth (the usual fine-tuning pattern) counts with
its size, and no layer needs a multiplicity correction.  The last layer is the second column of the ledger."""

LAYER_RULE = ("Each claim is decided once, on every replicate's effect averaged over the transformer layers 1..L "
              "(one test on the mean: every layer counts with its size, no vote, no correction across layers). "
              "The last layer, the paper's convention, is decided the same way and shown beside the verdict; each "
              "layer on its own is a robustness grid with its own tally, never the verdict. C2, C4 and C6 are "
              "measured in the last layer only (their k-means clusterings, probes and re-fitted classifiers are the "
              "costly part of the book), so their verdict is that layer's.")
"""The layer rule in words: the ledger chapter and the findings page glue this text (one source with :func:`by_layer`)."""

POWER = 0.8
"""Power of the minimum detectable effect the ledger prints beside each estimate (:func:`helpers.intervals.detectable_effect`)."""

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


# ----------------------------------------------------------------------------- statistics
def decide(low: float, high: float, n: int, direction: int = +1, margin: float = 0.0) -> str:
    """Verdict of one cell: the claim predicts a change of sign ``direction`` beyond ``margin`` (direction
    -1 with a margin m means "below +m": "no improvement larger than m")."""
    if n < MIN_REPLICATES or not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    tol = RESOLUTION * max(1.0, abs(low), abs(high), abs(margin))
    if min(abs(low - margin), abs(high - margin)) <= tol:
        return INCONCLUSIVE          # a bound on the threshold: the last digits would decide
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


def layer_tally(verdicts) -> str:
    """The claim x layer grid in a few words: "supported in 4 of 6 layers, contradicted in 0" (robustness,
    never the verdict)."""
    v = list(verdicts)
    return f"supported in {v.count(SUPPORTED)} of {len(v)} layers, contradicted in {v.count(CONTRADICTED)}"


def layer_mean(df: pd.DataFrame, layers, value: str = "value") -> pd.DataFrame:
    """Each measurement averaged over ``layers`` within everything else it is keyed by (task, state, replicate,
    method ...): one row per key without a ``layer`` column.  A key measured in only some of the layers gets
    NaN (a mean over fewer layers is not the declared one).  Effects are differences of these values, so the
    effect of the mean is the mean of the per-layer effects."""
    layers = [int(x) for x in layers]
    d = df[df.layer.isin(layers)]
    keys = [c for c in d.columns if c not in ("layer", value)]
    g = d.groupby(keys, dropna=False, sort=False)[value]
    counts = g.size()
    if (counts > len(layers)).any():
        raise ValueError(f"layer_mean: some key has more than one row per layer; the table's keys {keys} do not "
                         "identify a measurement")
    return g.mean().where(g.count() == len(layers)).reset_index()


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


def cells(effects: pd.DataFrame, by: list[str], direction: int = +1, margin: float = 0.0,
          quantum: float = 0.0, shared_runs: bool = False) -> pd.DataFrame:
    """Interval and verdict of every group of paired effects (columns: by..., estimate, low, high, n,
    direction, margin, verdict, per seed: the per-replicate effects as text, for figures and readers).
    ``quantum``: the resolution of the measurements differenced (counts: 1; :func:`helpers.intervals.t_interval`).
    ``shared_runs``: replicate s's effect also reads run s + 1 (mod n) (a seed-to-seed floor), so replicates are
    not independent: the variance is widened by :func:`helpers.intervals.shared_run_inflation`."""
    rows = []
    for key, g in effects.groupby(by, sort=False):
        v = np.asarray(g.effect, dtype=np.float64)
        inflation = shared_run_inflation(int(np.isfinite(v).sum())) if shared_runs else 1.0
        m, lo, hi, n = t_interval(g.effect, quantum=quantum, inflation=inflation)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "estimate": m, "low": lo, "high": hi, "n": n, "direction": direction,
                     "margin": margin, "verdict": decide(lo, hi, n, direction, margin),
                     "per seed": " ".join(f"{x:+.3g}" for x in v[np.isfinite(v)]),
                     "effects": tuple(float(x) for x in v[np.isfinite(v)])})
    return pd.DataFrame(rows, columns=[*by, "estimate", "low", "high", "n", "direction", "margin", "verdict", "per seed",
                                       "effects"])


def adjust(table: pd.DataFrame, m: int | None = None, level: float = LEVEL, side: str = CONTRADICTED) -> pd.DataFrame:
    """Multiplicity over a claim's ``m`` cells (default: the table's rows), on the ``side`` that one cell can
    decide alone: a cell keeps that verdict only when its interval at the Bonferroni level
    ``1 - (1 - level) / m`` gives it too; otherwise it becomes inconclusive.  The other side needs every cell
    (an intersection-union test) and is unchanged.  Default: one cell contradicts ("every cell must hold");
    C1 ("at least one task") is the reverse: one cell supports.  Adds ``low_adj``, ``high_adj``."""
    from scipy import stats

    t = table.copy()
    if t.empty:
        return t
    m = len(t) if m is None else m
    alpha = (1 - level) / max(1, m)
    df = np.where(t.n > 1, t.n - 1, np.nan)
    widen = stats.t.ppf(1 - alpha / 2, df) / stats.t.ppf(0.5 + level / 2, df)   # the same interval, wider quantile
    t["low_adj"] = t.estimate - widen * (t.estimate - t.low)
    t["high_adj"] = t.estimate + widen * (t.high - t.estimate)
    for i, r in t.iterrows():
        if r.verdict == side and decide(r.low_adj, r.high_adj, r.n, r.direction, r.margin) != side:
            t.loc[i, "verdict"] = INCONCLUSIVE
    return t


def weakest(table: pd.DataFrame, direction: int = +1) -> pd.Series:
    """The cell whose interval comes closest to refuting the claim (lowest low for +1, highest high for -1)."""
    t = table.copy()
    score = t.low.fillna(-np.inf) if direction > 0 else -t.high.fillna(np.inf)
    return t.loc[score.idxmin()]


# ----------------------------------------------------------------------------- the verdict object
def _verdict_interval(result: dict) -> str:
    """"supported, +0.12 [+0.05, +0.2]" from a result's verdict, estimate, low and high."""
    return f"{result['verdict']}, {format_interval(result['estimate'], result['low'], result['high'])}"


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
    replicates: str = "fine-tuning seeds"
    layers: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    layer: int | None = None
    scope: str = ""
    last_layer: dict = field(default_factory=dict)
    cell: dict = field(default_factory=dict)
    effects: tuple = ()
    co: dict = field(default_factory=dict)
    control_run: dict = field(default_factory=dict)
    reported: dict = field(default_factory=dict)

    @property
    def mde(self) -> float:
        """Minimum detectable effect of the headline cell (:data:`POWER`; :func:`helpers.intervals.detectable_effect`)."""
        return detectable_effect(self.low, self.high, self.n, LEVEL, POWER)

    def interval(self, fmt: str = "{:+.3g}") -> str:
        return format_interval(self.estimate, self.low, self.high, fmt)

    def markdown(self) -> str:
        """The verdict as a paragraph the chapters glue: claim, criterion, number, control, verdict."""
        n_note = "" if self.n >= MIN_REPLICATES else (
            f" Only {self.n} fine-tuning seed(s): at least {MIN_REPLICATES} are needed for a verdict "
            f"(`seeds: [0, 1, 2]`).")
        scope = f" ({self.scope})" if self.scope else ""
        mde = (f" The smallest effect {self.n} seeds detect here with {int(POWER * 100)}% power: {self.mde_text()}."
               if self.mde_text() else "")
        return (f"**{self.claim}: {self.statement}**\n\n"
                f"*Criterion (declared in `helpers.claims`; its history: the methods page):* {self.criterion}\n\n"
                f"*Result{scope}:* {self.statistic}{' — ' + self.where if self.where else ''}: {self.interval()} "
                f"({int(LEVEL * 100)}% t-interval over n = {self.n} {self.replicates}). *Control:* {self.control}."
                f"{mde}{n_note}{self._layer_note()}{self._co_note()}{self._control_note()}{self._reported_note()}\n\n"
                f"**Verdict: {self.verdict}.**")

    def co_text(self) -> str:
        """The co-criterion's own verdict and estimate ("" when the claim has none)."""
        return f"{self.co['statistic']}: {_verdict_interval(self.co)}{self.co_n_note()}" if self.co else ""

    def co_n_note(self) -> str:
        """" (n = 2: fewer than 3 seeds have it defined)" when the co-criterion's headline cell lacks seeds."""
        n = self.co.get("n", MIN_REPLICATES) if self.co else MIN_REPLICATES
        return f" (n = {n}: fewer than {MIN_REPLICATES} seeds have it defined)" if n < MIN_REPLICATES else ""

    def control_text(self) -> str:
        """The control run's verdict, its estimate and the effect beyond it ("" when the claim has none)."""
        c = self.control_run
        if not c:
            return ""
        if c.get("decides"):
            diff = (f"; beyond the {c['name']} (tokens - {c['name']}, paired; decides): "
                    f"{c['beyond verdict']}, {format_interval(c['beyond estimate'], c['beyond low'], c['beyond high'])}")
        else:
            diff = (f"; tokens - {c['name']}: {format_interval(c['difference'], c['difference low'], c['difference high'])} "
                    f"(Welch)" if np.isfinite(c["difference low"]) else "")
        return f"{c['name']}: {_verdict_interval(c)}{diff}"

    def raw_verdict(self) -> str:
        """The verdict before a deciding control (:func:`with_control`): the claim's own test and co-criterion."""
        return self.control_run.get("raw verdict", self.verdict)

    def beyond_text(self) -> str:
        """"supported, +0.12 [+0.05, +0.2]" of the effect beyond the deciding control ("" without one)."""
        c = self.control_run
        if not c.get("decides"):
            return ""
        return f"{c['beyond verdict']}, {format_interval(c['beyond estimate'], c['beyond low'], c['beyond high'])}"

    def reported_text(self) -> str:
        """The test reported beside the verdict, with its own verdict ("" when the claim has none)."""
        r = self.reported
        return f"{r['what']}: {_verdict_interval(r)} ({r['where']})" if r else ""

    def _reported_note(self) -> str:
        return f" *Reported beside (does not decide):* {self.reported_text()}." if self.reported else ""

    def _co_note(self) -> str:
        if not self.co:
            return ""
        return f" *Co-criterion (must agree; {self.co['rule']}):* {self.co_text()} ({self.co['where']})."

    def _control_note(self) -> str:
        if not self.control_run:
            return ""
        rule = (f" *The control decides ({self.control_run['rule']}):* before it the verdict was "
                f"{self.control_run['raw verdict']}." if self.control_run.get("decides") else "")
        return (f" *Control run ({self.control_run['what']}):* {self.control_text()}; {self.control_run['reading']}."
                f"{rule}")

    def headline_cells(self) -> pd.DataFrame:
        """The cells the verdict was decided on: those of the layer mean (or of the one layer measured)."""
        if self.detail.empty or "layer" not in self.detail:
            return self.detail
        key = "mean" if self.scope.startswith("mean") else self.layer
        return self.detail[self.detail.layer.astype(str) == str(key)].reset_index(drop=True)

    def layer_verdicts(self) -> str:
        """The claim x layer grid as text: "1: supported, 2: inconclusive, ..." ("" when not per layer)."""
        return ", ".join(f"{int(r.layer)}: {r.verdict}" for r in self.layers.itertuples())

    def last_layer_text(self) -> str:
        """"supported, +0.12 [+0.05, +0.2]" for the last layer ("" when the verdict is that layer's)."""
        return _verdict_interval(self.last_layer) if self.last_layer else ""

    def last_layer_column(self) -> str:
        """The ledger's "last layer alone" cell: :meth:`last_layer_text`, or the verdict when it is that layer's."""
        return self.last_layer_text() or f"{self.verdict} (the same layer)"

    def mde_text(self) -> str:
        """:attr:`mde` to three significant digits ("" without an interval)."""
        return f"{self.mde:.3g}" if np.isfinite(self.mde) else ""

    def _layer_note(self) -> str:
        if self.layers.empty:
            return ""
        if len(self.layers) == 1:
            return f" Measured in layer {int(self.layers.layer.iloc[0])} only."
        ll = self.last_layer
        return (f" *The last layer (layer {ll['layer']}; the paper's convention, reported beside the verdict):* "
                f"{self.last_layer_text()} ({ll['where']}). *Each layer on its own (robustness, not the verdict):* "
                f"{self.layer_verdicts()}; {layer_tally(self.layers.verdict)}.")

    def row(self) -> dict:
        """One row of the claims ledger."""
        ll = self.last_layer
        return {"claim": self.claim, "statement": self.statement, "test": self.criterion, "statistic": self.statistic,
                "scope": self.scope, "where": self.where, "estimate": self.estimate, "low": self.low, "high": self.high,
                "n": self.n, "mde": self.mde, "replicates": self.replicates, "control": self.control,
                "verdict": self.verdict, "last layer": ll.get("verdict", self.verdict),
                "last layer estimate": ll.get("estimate", self.estimate), "last layer low": ll.get("low", self.low),
                "last layer high": ll.get("high", self.high), "section": self.section,
                "layers": self.layer_verdicts(),
                "grid": layer_tally(self.layers.verdict) if len(self.layers) > 1 else "",
                "raw verdict": self.raw_verdict(), "beyond its control": self.beyond_text(),
                "co-criterion": self.co_text(), "control run": self.control_text(),
                "reported beside": self.reported_text()}


def by_layer(claim_fn, df: pd.DataFrame, *args, layers=None, value: str = "value", **kwargs) -> Verdict:
    """``claim_fn`` decided on the mean over ``layers`` (default: every layer of ``df``'s ``layer`` column; the
    declared rule, :data:`DECLARED_LAYERS`) of each replicate's measurements (:func:`layer_mean` of the column
    ``value``), with the last layer (``last_layer``) and every layer on its own (``layers``: the claim x layer grid,
    robustness) beside it.  With one layer the verdict is that layer's.  ``detail`` holds the mean's cells (``layer`` = "mean") and every layer's."""
    if "layer" not in df:
        raise ValueError("by_layer needs a 'layer' column")
    present = sorted(int(x) for x in df.layer.unique())
    chosen = present if layers is None else [int(x) for x in layers]
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise ValueError(f"layers {missing} are not in the table (it has {present})")
    if not chosen:
        raise ValueError("by_layer needs at least one layer")
    per = {layer: claim_fn(df[df.layer == layer].drop(columns="layer"), *args, **kwargs) for layer in chosen}
    grid = pd.DataFrame([{"layer": layer, "verdict": v.verdict, "estimate": v.estimate, "low": v.low, "high": v.high,
                          "where": v.where} for layer, v in per.items()])
    last_layer = chosen[-1]
    if len(chosen) == 1:
        h, scope, where = per[last_layer], f"layer {last_layer} only", f"layer {last_layer}"
        detail = h.detail.assign(layer=last_layer)
        ll = {}
    else:
        h = claim_fn(layer_mean(df, chosen, value), *args, **kwargs)
        scope = f"mean of layers {chosen[0]}-{chosen[-1]}" if chosen == list(range(chosen[0], chosen[-1] + 1)) \
            else "mean of layers " + ", ".join(map(str, chosen))
        where = scope
        detail = pd.concat([h.detail.assign(layer="mean"), *(v.detail.assign(layer=layer) for layer, v in per.items())],
                           ignore_index=True)
        ll = grid.iloc[-1].to_dict()         # the last layer's row of the grid
    return Verdict(h.claim, h.statement, h.criterion, h.statistic, h.estimate, h.low, h.high, h.n, h.control, h.verdict,
                   where=f"{where}; {h.where}" if h.where else where, detail=detail, section=h.section,
                   replicates=h.replicates, layers=grid, layer=last_layer if len(chosen) == 1 else None, scope=scope,
                   last_layer=ll, cell=h.cell, effects=h.effects)


CO_RULE = ("the claim keeps its verdict only when the same test on log10 I(W) of the tokens scaled to unit length "
           "gives the same verdict, otherwise it is inconclusive: raw I(W) moves with the vectors' norms")
"""How the scale-free co-criterion of C1, C5 and C7 combines with the primary test (:func:`agree`)."""

HEADROOM_RULE = ("the claim keeps its verdict only when the same test on effects divided by the room each model had "
                 "(C4: probe accuracy above the majority rate, the most a removal can cost; C6: one minus the score, "
                 "the most a method can add) gives the same verdict, otherwise it is inconclusive: the fine-tuned model "
                 "has more accuracy to lose and less to gain")
"""How the headroom co-criterion of C4 and C6 combines with the primary test (:func:`agree`)."""


def agree(primary: Verdict, co: Verdict, statistic: str, rule: str = CO_RULE) -> Verdict:
    """``primary`` kept only where the co-criterion ``co`` (the same claim function on a statistic without the
    primary's confound: ``rule``) reaches the same verdict, otherwise inconclusive; on the layer mean and on the
    last layer alike.  The co-criterion's own result is kept in ``co`` (a referee sees both)."""
    verdict = primary.verdict if co.verdict == primary.verdict else INCONCLUSIVE
    ll = dict(primary.last_layer)
    if ll and co.last_layer:
        ll["verdict"] = ll["verdict"] if co.last_layer["verdict"] == ll["verdict"] else INCONCLUSIVE
    return replace(primary, verdict=verdict, last_layer=ll, co={
        "statistic": statistic, "verdict": co.verdict, "estimate": co.estimate, "low": co.low, "high": co.high,
        "where": co.where, "primary verdict": primary.verdict, "rule": rule, "n": co.n})


def beyond_control(tokens: pd.DataFrame, control: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """The measurements of ``tokens`` minus those of ``control`` in the same cell, layer and replicate (same seed,
    same sentences): a claim function applied to this table decides the effect *beyond the control*, paired within
    the replicate (an effect that is a difference of two measurements becomes the difference of the two effects).
    Cells or layers the control lacks are dropped."""
    keys = [c for c in tokens.columns if c != value and c in control.columns]
    m = tokens.merge(control[[*keys, value]], on=keys, how="inner", suffixes=("", " of the control"))
    return m.assign(**{value: m[value] - m[f"{value} of the control"]}).drop(columns=f"{value} of the control")


CONTROL_RULE = ("the claim keeps its verdict only when the same test on the effect beyond the control (tokens - "
                "control, paired within each replicate) gives the same verdict, otherwise it is inconclusive: an effect "
                "that any data with the control's properties shows is not one of the tokens")
"""How a deciding control combines with the claim's own test (:func:`with_control` with ``beyond``)."""


def with_control(v: Verdict, control: Verdict, name: str, what: str, reading: str,
                 beyond: Verdict | None = None) -> Verdict:
    """``v`` with the same claim decided on a control run (``control``: e.g. the Gaussian cloud of the tokens'
    moments).  With ``beyond`` (the claim decided on :func:`beyond_control`'s table: the effect minus the
    control's, paired within the replicate) the control decides (:data:`CONTROL_RULE`): ``v`` keeps its verdict,
    on the layer mean and on the last layer alike, only where ``beyond`` reaches the same one; the verdict before
    the control is kept as ``control_run["raw verdict"]``.  Without it the control only reports, with the Welch
    difference tokens - control in ``v``'s headline cell (:func:`difference`)."""
    d = difference(v, control)
    run = {"name": name, "what": what, "reading": reading, "verdict": control.verdict,
           "estimate": control.estimate, "low": control.low, "high": control.high,
           "difference": d["estimate"], "difference low": d["low"], "difference high": d["high"]}
    if beyond is None:
        return replace(v, control_run=run)
    verdict = v.verdict if beyond.verdict == v.verdict else INCONCLUSIVE
    ll = dict(v.last_layer)
    if ll and beyond.last_layer:
        ll["verdict"] = ll["verdict"] if beyond.last_layer["verdict"] == ll["verdict"] else INCONCLUSIVE
    run.update({"decides": True, "raw verdict": v.verdict, "rule": CONTROL_RULE, "beyond verdict": beyond.verdict,
                "beyond estimate": beyond.estimate, "beyond low": beyond.low, "beyond high": beyond.high,
                "beyond n": beyond.n, "beyond where": beyond.where})
    return replace(v, verdict=verdict, last_layer=ll, control_run=run)


CELL_KEYS = ("test", "task", "state", "structure", "method", "criterion", "measure", "k")
"""The columns that name a cell of a claim (which of them a claim has depends on the claim)."""


def cell_key(row: pd.Series) -> dict:
    """The keys of one cell (:data:`CELL_KEYS` that the row has)."""
    return {k: row[k] for k in CELL_KEYS if k in row.index}


REPORTED = "reported (not decided on)"


def readable(detail: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A verdict's cells for a reader: rounded; without the full-precision per-replicate ``effects`` (the ``per
    seed`` column shows them); cells reported beside the claim (their test says "reported") carry no verdict;
    a value a cell does not have (the Bonferroni bounds exist only where a cell can decide alone) is blank."""
    t = detail.drop(columns=[c for c in ("effects",) if c in detail]).round(digits)
    if "test" in t and "verdict" in t:
        t.loc[t.test.astype(str).str.contains("reported"), "verdict"] = REPORTED
    return t.astype(object).where(t.notna(), "")


def difference(a: Verdict, b: Verdict, level: float = LEVEL) -> dict:
    """Two models' effects in one cell of a claim, compared: the cell of ``a``'s headline and the same cell (same
    task, method, state ... keys) among the cells ``b`` was decided on.  **Paired** by replicate when both have the
    same replicates (replicate r of each model is fine-tuned with seed r and measured on the same sentences): the
    mean of a - b with its t-interval; otherwise the difference of the means with Welch's interval
    (:func:`helpers.intervals.welch_interval`).  Keys: cell, estimate, low, high, n_a, n_b, p (two-sided), test."""
    from scipy import stats

    where = ", ".join(f"{k} {v}" for k, v in a.cell.items())
    cells_b = b.headline_cells()
    match = cells_b
    for k, v in a.cell.items():
        if k in match:
            match = match[match[k].astype(str) == str(v)]
    none = {"cell": where, "estimate": np.nan, "low": np.nan, "high": np.nan, "n_a": len(a.effects), "n_b": 0,
            "p": np.nan, "test": ""}
    if not a.effects or len(match) != 1 or "effects" not in match:
        return none
    ea, eb = np.asarray(a.effects, dtype=np.float64), np.asarray(match.iloc[0].effects, dtype=np.float64)
    if len(ea) == len(eb) and len(ea) >= 2:
        diff = ea - eb
        m, lo, hi, n = t_interval(diff, level=level)
        sd = diff.std(ddof=1)
        p = float(2 * stats.t.sf(abs(m) / (sd / np.sqrt(n)), n - 1)) if sd > 0 else np.nan
        return {"cell": where, "estimate": m, "low": lo, "high": hi, "n_a": len(ea), "n_b": len(eb), "p": p,
                "test": "paired by replicate"}
    d, lo, hi, na, nb = welch_interval(ea, eb, level)
    p = (float(stats.ttest_ind(ea, eb, equal_var=False).pvalue) if np.isfinite(lo) else np.nan)
    return {"cell": where, "estimate": d, "low": lo, "high": hi, "n_a": na, "n_b": nb, "p": p, "test": "Welch"}


DIFFER, SAME = "the effects differ", "no difference detected"
DECISIVE = (SUPPORTED, CONTRADICTED)


def holm(p_values, level: float = LEVEL) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` (NaN stays NaN; Holm 1979): reject where the adjusted p is below
    ``1 - level``; the family-wise error over the claims compared stays at most ``1 - level``."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    idx = [i for i in np.argsort(p, kind="stable") if np.isfinite(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare_models(verdicts_by_model: dict, level: float = LEVEL) -> pd.DataFrame:
    """One row per claim for models ``{name: [Verdict, ...]}`` (the first is the reference): each model's verdict
    and estimate, and the reference minus each other model in the reference's headline cell (:func:`difference`:
    paired by replicate, its 95% interval); "the effects differ" only when the Holm-adjusted p over the claims
    compared is below 0.05 (:func:`holm`: seven claims are seven tests), "no difference detected" otherwise (with the
    interval's width, not a proof of equality), "n/a" without an interval.  "same decisive verdict": both models
    supported, or both contradicted (two inconclusive verdicts are not an agreement)."""
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
            d = difference(a, b, level) if b is not None and NOT_MEASURED not in (a.verdict, b.verdict) else None
            row["cell compared"] = d["cell"] if d else ""
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


def not_measured(claim: str, statement: str, section: str = "") -> Verdict:
    return Verdict(claim, statement, "", "", np.nan, np.nan, np.nan, 0, "", NOT_MEASURED, section=section)


def _summarise(claim, statement, criterion, statistic, table, verdict, control, direction=+1, section="",
               label=lambda r: "", detail=None, decisive=None, replicates="fine-tuning seeds") -> Verdict:
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
        return Verdict(claim, statement, criterion, statistic if isinstance(statistic, str) else "", np.nan, np.nan,
                       np.nan, 0, control, INCONCLUSIVE, detail=detail, section=section, replicates=replicates)
    test = f" ({w.test})" if "test" in w.index and isinstance(w.test, str) else ""
    statistic = statistic(w) if callable(statistic) else statistic
    if "state" in w.index and w.state == "pre-trained":   # a cell of the pre-trained model varies by sample only
        replicates = "sentence samples of the pre-trained model (those of the fine-tuning seeds)"
    return Verdict(claim, statement, criterion, statistic, float(w.estimate), float(w.low), float(w.high), int(w.n),
                   control, verdict, where=f"{prefix}: {label(w)}{test}", detail=detail, section=section,
                   replicates=replicates, cell=cell_key(w), effects=tuple(w.get("effects", ())))


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


def criterion(claim: str, metric: str = "log10 I(W)", margin: float = FLAT_MARGIN, k: int = C4_K) -> str:
    """The test of a claim in words, as declared in this module (chapters show it above the numbers)."""
    checks_claim = _CRITERIA.get(claim)
    if checks_claim is None:
        raise ValueError(f"claim={claim!r} is not valid; choose one of: {', '.join(_CRITERIA)}")
    return checks_claim.format(metric=metric, margin=margin, level=int(LEVEL * 100), k=k)


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


def c2_named_structures(df: pd.DataFrame, section: str = "") -> Verdict:
    """C2 from rows (task, replicate, state in {pre-trained, fine-tuned, other seed}, structure, measure, value) of
    :func:`helpers.structure.c2_table` in one layer.  Per task, structure and test (:data:`C2_TESTS`) and
    replicate s: |fine-tuned s - pre-trained| - |fine-tuned s - fine-tuned s'| on replicate s's tokens
    (:data:`C2_FLOOR`: paired, so the interval carries the floor's noise, and widened for the runs that
    neighbouring replicates share, :func:`helpers.intervals.shared_run_inflation`).  Every cell must lie above 0;
    one cell below 0 at the Bonferroni level contradicts.  The detail keeps each cell's mean change, floor and
    signed change."""
    from .structure import OTHER_SEED

    d = df[df.measure.isin(list(C2_TESTS))]
    w = d.pivot_table(index=["task", "structure", "measure", "replicate"], columns="state", values="value")
    missing = {"pre-trained", "fine-tuned", OTHER_SEED} - set(w.columns)
    if missing:
        raise ValueError(f"C2 needs the states pre-trained, fine-tuned and {OTHER_SEED!r}; missing {sorted(missing)}")
    keys = ["task", "structure", "measure"]
    change = w["fine-tuned"] - w["pre-trained"]
    floor_s = (w["fine-tuned"] - w[OTHER_SEED]).abs()
    excess = (change.abs() - floor_s).rename("effect")
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
                   headroom: bool = False) -> Verdict:
    """C6 from rows (task, state, method, replicate, value = task score of a classifier re-fitted per
    condition).  Fine-tuned cells (methods not in :data:`SHIFT_INVARIANT`): method - none must stay below
    +``margin`` (no improvement); the contrast, (pre-trained effect) - (fine-tuned effect) averaged over those
    methods and tasks within a replicate (one test, no multiplicity), must be above 0.  With ``headroom`` each
    state's effects in the contrast are divided by its room to gain, 1 - score without processing (a score in
    [0, 1]; the fine-tuned model sits nearer its ceiling), and that contrast cell is the headline."""
    counted = [m for m in methods if m not in SHIFT_INVARIANT]
    if not counted:
        raise ValueError(f"C6 needs a method that can change a linear classifier; {list(methods)} are all shift-only")
    effects = method_effects(df, methods)
    shift = effects[~effects.method.isin(counted)]
    effects = effects[effects.method.isin(counted)]
    ft = adjust(cells(effects[effects.state == "fine-tuned"], ["task", "method"], direction=-1, margin=margin))
    pt = cells(effects[effects.state == "pre-trained"], ["task", "method"], direction=+1)
    e = effects.pivot_table(index=["task", "method", "replicate"], columns="state", values="effect").dropna()
    if headroom:
        none = df[df.method == "none"].pivot_table(index=["task", "replicate"], columns="state", values="value")
        room = (1 - none).where(1 - none > 0)
        e = (e / room.reindex(e.index.droplevel("method"))[e.columns].to_numpy()).dropna()
    contrast_eff = (e["pre-trained"] - e["fine-tuned"]).groupby("replicate").mean().rename("effect").reset_index()
    contrast = cells(contrast_eff.assign(task="all", method="mean of methods"), ["task", "method"], direction=+1)
    gain = "share of the room to gain" if headroom else "gain"
    parts = [ft.assign(test="fine-tuned: method - none < margin"), pt.assign(test="pre-trained: method - none > 0"),
             contrast.assign(test=f"pre-trained {gain} - fine-tuned {gain} > 0")]
    if len(shift):
        parts.append(cells(shift, ["task", "state", "method"], direction=-1, margin=margin)
                     .assign(test="reported: zero by construction"))
    table = pd.concat(parts, ignore_index=True)
    ft_v = all_of(ft.verdict)
    helps_pt_more = len(contrast) > 0 and (contrast.verdict == SUPPORTED).all()   # no contrast cell: not shown
    helps_pt = len(pt) > 0 and all_of(pt.verdict) == SUPPORTED      # "stopped helping" needs them to help before
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
