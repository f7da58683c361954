"""The decision rules every claim of the ledger shares: cells, intervals, verdicts, layers, co-criteria and controls.

A claim function (:mod:`helpers.claims`, where each claim's criterion is declared beside the methods page) turns
a tidy table of per-replicate measurements into paired effects; this module decides them.

**Statistics.** The unit of replication is the fine-tuning seed: replicate *r* pairs fine-tuning seed *r*
with its own seeded sentence sample (and k-means seed), and the pre-trained model is measured on the same
sample, so pre-trained values are independent measurements, never copies of one value.  Effects are paired
differences within a replicate; their mean gets a two-sided Student-t interval over replicates
(:func:`helpers.intervals.t_interval`).  A cell (one task, state, method, layer ...) is

* **supported** when its interval excludes no change (or the stated margin) in the claimed direction,
* **contradicted** when it excludes it in the other direction,
* **inconclusive** otherwise, and always with fewer than :data:`MIN_REPLICATES` replicates (:func:`decide`).

A claim about every cell ("each method raises I(W) on every task") is supported when every cell is,
contradicted when any cell is, inconclusive otherwise (:func:`all_of`).  The headline estimate is the weakest
cell: the one whose interval comes closest to refuting the claim.

**Many cells.**  Support needs *every* cell's 95% interval on the claimed side: an intersection-union test,
whose error rate is at most 5% without adjustment (Berger 1982).  Contradiction needs *one* cell on the wrong
side, a union of tests, so a cell contradicts only when its interval at the Bonferroni level
1 - 0.05 / m (m = the claim's cells in that layer) excludes the claimed side (:func:`adjust`): one side
condition among dozens cannot contradict a claim by chance alone.

**Layers.**  One decision per claim (:data:`DECLARED_LAYERS`): the claim is decided on the within-replicate
**mean of its effect over the transformer layers 1..L** (:func:`layer_mean`: every layer used, one test, no
vote), by :func:`by_layer`.  The last layer (the paper's convention) is decided too and shown beside it, and the
claim x layer grid (each layer on its own) stays as robustness with its own tally; neither changes the verdict.

**What must agree.**  A co-criterion (the same claim function on a statistic without the primary's confound,
:func:`agree`) and a deciding control (the same test on the effect beyond the control, paired within the
replicate: :func:`beyond_control`, :func:`against_control`, :func:`with_control`) can each only take a verdict
away.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .intervals import LEVEL, detectable_effect, format_interval, shared_run_inflation, t_interval, welch_interval

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "supported", "contradicted", "inconclusive", "not yet measured"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)

# Named thresholds, each with its rationale (the ledger lists them).  LEVEL (the confidence level of every
# interval) lives with the interval functions in helpers.intervals.
MIN_REPLICATES = 3
"""Fewer fine-tuning seeds give no verdict: with 2, the t quantile is 12.7 and one seed can decide alone."""
RESOLUTION = 1e-9
"""Relative distance from the threshold below which an interval's bound counts as touching it: such a cell is
inconclusive, so that a verdict never flips on the last digits of a floating-point reduction."""

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
        ids = g.replicate.to_numpy() if "replicate" in g else np.full(len(g), None)
        inflation = shared_run_inflation(int(np.isfinite(v).sum())) if shared_runs else 1.0
        m, lo, hi, n = t_interval(g.effect, quantum=quantum, inflation=inflation)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "estimate": m, "low": lo, "high": hi, "n": n, "direction": direction,
                     "margin": margin, "verdict": decide(lo, hi, n, direction, margin),
                     "per seed": " ".join(f"{x:+.3g}" for x in v[np.isfinite(v)]),
                     "effects": tuple(float(x) for x in v[np.isfinite(v)]),
                     "effect replicates": tuple(ids[np.isfinite(v)].tolist())})
    return pd.DataFrame(rows, columns=[*by, "estimate", "low", "high", "n", "direction", "margin", "verdict", "per seed",
                                       "effects", "effect replicates"])


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
            diff = (f"; beyond the {c['name']} ({c['contrast']}, paired; decides): "
                    f"{c['beyond verdict']}, {format_interval(c['beyond estimate'], c['beyond low'], c['beyond high'])}")
        else:
            diff = (f"; {c['contrast']}: {format_interval(c['difference'], c['difference low'], c['difference high'])}"
                    if np.isfinite(c["difference low"]) else "")
        return f"{c['name']}: {_verdict_interval(c)}{diff}"

    def raw_verdict(self) -> str:
        """The verdict before a deciding control (:func:`with_control`): the claim's own test and co-criterion."""
        return self.control_run.get("raw verdict", self.verdict)

    def primary_verdict(self) -> str:
        """The verdict of the claim's own test on its cells, before its co-criterion (:func:`agree`) and its deciding
        control (:func:`with_control`)."""
        return self.co["primary verdict"] if self.co else self.raw_verdict()

    def title(self) -> str:
        """"C4: inconclusive (its cells: supported; its co-criterion: inconclusive)": the verdict, and where its
        cells alone say otherwise, what changed it (a figure of the cells is titled so that it never contradicts
        its panel)."""
        cells = self.primary_verdict()
        if cells == self.verdict:
            return f"{self.claim}: {self.verdict}"
        why = []
        if self.co and self.co["verdict"] != cells:
            why.append(f"its co-criterion: {self.co['verdict']}")
        c = self.control_run
        if c.get("decides") and c["beyond verdict"] != c["raw verdict"]:
            why.append(f"beyond its control: {c['beyond verdict']}")
        return f"{self.claim}: {self.verdict} (its cells: {cells}; {'; '.join(why)})"

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
        "where": co.where, "primary verdict": primary.verdict, "rule": rule, "n": co.n,
        "cells": co.headline_cells()})


def beyond_control(tokens: pd.DataFrame, control: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """The measurements of ``tokens`` minus those of ``control`` in the same cell, layer and replicate (same seed,
    same sentences): a claim function applied to this table decides the effect *beyond the control*, paired within
    the replicate (an effect that is a difference of two measurements becomes the difference of the two effects).
    Cells or layers the control lacks are dropped."""
    keys = [c for c in tokens.columns if c != value and c in control.columns]
    m = tokens.merge(control[[*keys, value]], on=keys, how="inner", suffixes=("", " of the control"))
    return m.assign(**{value: m[value] - m[f"{value} of the control"]}).drop(columns=f"{value} of the control")


def against_control(real: pd.DataFrame, control: pd.DataFrame, treated: str = "fine-tuned",
                    reference: str = "pre-trained") -> pd.DataFrame:
    """Rows that decide a claim about fine-tuning *beyond a control fine-tuning* (the label-shuffled runs): the real
    runs' ``treated`` rows, with the control runs' ``treated`` rows in the place of the ``reference`` state, in the
    tasks and replicates both have.  A claim function whose effect is the paired difference treated - reference then
    decides fine-tuned(real) - fine-tuned(control) = (real - pre-trained) - (control - pre-trained): the real effect
    minus the control's, paired by seed (both runs of seed s are measured on replicate s's sentences, against the
    same pre-trained model, which cancels)."""
    if "state" not in real or "state" not in control:
        raise ValueError("against_control needs a 'state' column in both tables")
    r = real[real.state == treated]
    c = control[control.state == treated].assign(state=reference)
    both = (r[["task", "replicate"]].drop_duplicates()
            .merge(c[["task", "replicate"]].drop_duplicates(), on=["task", "replicate"]))
    r, c = (x.merge(both, on=["task", "replicate"]) for x in (r, c))
    return pd.concat([r, c[r.columns]], ignore_index=True)


CONTROL_RULE = ("the claim keeps its verdict only when the same test on the effect beyond the control (the effect "
                "minus the control's, paired within each replicate) gives the same verdict, otherwise it is "
                "inconclusive: an effect that the control shows as much is not the one the claim names")
"""How a deciding control combines with the claim's own test (:func:`with_control` with ``beyond``)."""


def with_control(v: Verdict, control: Verdict, name: str, what: str, reading: str,
                 beyond: Verdict | None = None, contrast: str = "", within: Verdict | None = None,
                 scope: str = "") -> Verdict:
    """``v`` with the same claim decided on a control run (``control``: e.g. the Gaussian cloud of the tokens'
    moments).  With ``beyond`` (the claim decided on :func:`beyond_control`'s table: the effect minus the
    control's, paired within the replicate) the control decides (:data:`CONTROL_RULE`): ``v`` keeps its verdict,
    on the layer mean and on the last layer alike, only where ``beyond`` reaches the same one; the verdict before
    the control is kept as ``control_run["raw verdict"]``; ``contrast`` names the difference in words (default "tokens -
    ``name``").  ``within``: the claim's own test on the real data restricted to the cells the control covers
    (``scope``, e.g. its tasks): where given, it must reach the verdict too, so that a verdict resting on a cell the
    control does not cover is not said to hold beyond it.  Without ``beyond`` the control only reports, with the
    difference tokens - control in ``v``'s headline cell (:func:`difference`)."""
    d = difference(v, control)
    run = {"name": name, "what": what, "reading": reading, "verdict": control.verdict,
           "contrast": contrast or f"tokens - {name}",
           "estimate": control.estimate, "low": control.low, "high": control.high,
           "difference": d["estimate"], "difference low": d["low"], "difference high": d["high"]}
    if beyond is None:
        return replace(v, control_run=run)
    agrees = beyond.verdict == v.verdict and (within is None or within.verdict == v.verdict)
    verdict = v.verdict if agrees else INCONCLUSIVE
    ll = dict(v.last_layer)
    if ll and beyond.last_layer:
        keep = beyond.last_layer["verdict"] == ll["verdict"] and (
            within is None or not within.last_layer or within.last_layer["verdict"] == ll["verdict"])
        ll["verdict"] = ll["verdict"] if keep else INCONCLUSIVE
    run.update({"decides": True, "raw verdict": v.verdict, "rule": CONTROL_RULE, "beyond verdict": beyond.verdict,
                "beyond estimate": beyond.estimate, "beyond low": beyond.low, "beyond high": beyond.high,
                "beyond n": beyond.n, "beyond where": beyond.where, "scope": scope,
                "within verdict": within.verdict if within is not None else v.verdict})
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
    t = detail.drop(columns=[c for c in ("effects", "effect replicates") if c in detail]).round(digits)
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
