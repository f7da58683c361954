"""The claims ledger: every verdict of :mod:`helpers.claims` from the book's cached measurements, per layer
where a claim is measured per layer, and the tables the ledger chapter and the findings page show.

The measurements are those of chapters 03-05 (same parameters, same cached tables): C1, C3, C5 and C7 from
:func:`helpers.enhancement.measure` and C2 from :func:`helpers.structure.change_table` at every transformer
layer, decided on their mean over layers (:data:`helpers.claims.LAYER_RULE`); C4 from
:func:`helpers.directions.knowledge_table` and C6 from the re-fitted classifiers, at the last layer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import claims as C, directions as D, enhancement as EN, extract as E, finetune as F, structure as S, transforms as TR, words
from .checks import as_list

NOT_REPORTED = "not reported in the sources available (only the abstract was read; no number of the paper is known)"

PAPER_RESULTS = {
    "C1": '"fine-tuning does not necessarily result in isotropy enhancements" (abstract)',
    "C2": '"local structures in pre-trained contextual word representations (CWRs), such as those encoding token types '
          'or frequency, undergo a massive change during fine-tuning" (abstract)',
    "C3": '"dramatic growth in the number of elongated directions in the embedding space" (abstract)',
    "C4": 'the elongated directions "in contrast to pre-trained CWRs, carry the essential linguistic knowledge in the '
          'fine-tuned embedding space" (abstract)',
    "C5": NOT_REPORTED,
    "C6": '"making existing isotropy enhancement methods ineffective" (abstract); by how much, on which tasks: ' + NOT_REPORTED,
    "C7": 'the companion paper (Rajaee & Pilehvar, ACL 2021): the space is "significantly more isotropic from a local '
          'point of view (when embeddings are clustered and each cluster is made zero-mean)" (its section 1)',
}
"""What the paper's sources say for each claim, quoted (../shared/research/paper-spec.md: only the abstract of
Rajaee & Pilehvar 2021 and the first section of their ACL 2021 companion paper were read); nothing else is
attributed to the paper."""


CLOUD = "Gaussian cloud"
CLOUD_WHAT = ("the same test on samples of a Gaussian with each layer's training-token mean and covariance, "
              "methods fitted and measured on it like on the tokens (helpers.enhancement.gaussian_cloud)")
CLOUD_READING = {
    "C5": "where the cloud shows the effect too, the methods raise I(W) of any cloud with this mean and spectrum; "
          "the claim is decided on the tokens' effect beyond the cloud's, so it holds only where the methods raise "
          "I(W) of the tokens more than that of their Gaussian cloud",
    "C7": "where the cloud shows it too, k-means beats global centring on any cloud with this spectrum (it cuts along "
          "the top directions); the claim is decided on the effect beyond the cloud's, local structure of the tokens",
}
"""What the Gaussian-cloud control of C5 and C7 means for the verdict (glued beside it)."""


def transformer_layers(iso: pd.DataFrame) -> list[int]:
    """The declared layers of :data:`helpers.claims.DECLARED_LAYERS`: 1..L of the measured table."""
    return list(range(1, int(iso.layer.max()) + 1))


def _metric(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[table.metric == name].drop(columns="metric")


def isotropy_claim(fn, table: pd.DataFrame, *args, **kwargs) -> C.Verdict:
    """``fn`` decided on raw log10 I(W) over the transformer layers (``table``: rows with a ``metric`` and a ``layer``
    column), kept only where the same test on the scale-free statistic agrees (:func:`helpers.claims.agree`,
    :data:`helpers.claims.CO_RULE`)."""
    layers = transformer_layers(table)
    return C.agree(C.by_layer(fn, _metric(table, "log10 I(W)"), *args, layers=layers, **kwargs),
                   C.by_layer(fn, _metric(table, EN.SCALE_FREE), *args, layers=layers, **kwargs), EN.SCALE_FREE)


def c1_by_model(metrics: pd.DataFrame, section: str = "") -> dict[str, C.Verdict]:
    """C1 per model from chapter 02's measurements (:func:`helpers.layerwise.finetuning_metrics`): the sentence
    samples of a fine-tuning seed averaged first (the replicate is the seed), log10 I(W) and its scale-free twin at
    the transformer layers, decided by :func:`isotropy_claim`; ``{model: Verdict}`` in the table's order."""
    out = {}
    for m, d in metrics.groupby("model", sort=False):
        rows = (d[(d.layer >= 1) & d.metric.isin(["log10 I(W)", EN.SCALE_FREE])]
                .groupby(["task", "state", "seed", "layer", "metric"], as_index=False).value.mean()
                .rename(columns={"seed": "replicate"}))
        out[m] = isotropy_claim(C.c1_isotropy, rows, section=section)
    return out


def _cloud_control(v: C.Verdict, fn, tokens: pd.DataFrame, cloud: pd.DataFrame | None, *args, layers) -> C.Verdict:
    """``v`` with ``fn`` decided again on the Gaussian cloud's log10 I(W), and on the tokens' effect beyond the
    cloud's (:func:`helpers.claims.beyond_control`: paired within each replicate, layer and cell), which decides
    (:func:`helpers.claims.with_control`); ``v`` as is without a cloud table."""
    if cloud is None or cloud.empty:
        return v
    raw, control_table = _metric(tokens, "log10 I(W)"), _metric(cloud, "log10 I(W)")
    control = C.by_layer(fn, control_table, *args, layers=layers)
    beyond = C.by_layer(fn, C.beyond_control(raw, control_table), *args, layers=layers)
    return C.with_control(v, control, CLOUD, CLOUD_WHAT, CLOUD_READING[v.claim], beyond=beyond)


def c1_verdict(tables: dict, section: str = "") -> C.Verdict:
    """C1 on chapter 05's unprocessed held-out tokens (method ``none``), with the scale-free co-criterion."""
    iso = tables["iso"]
    return isotropy_claim(C.c1_isotropy, _unprocessed(iso), section=section)


def c5_verdict(tables: dict, methods, section: str = "") -> C.Verdict:
    """C5 on the paper's methods among ``methods``, with the scale-free co-criterion and the Gaussian-cloud
    control (:data:`CLOUD_WHAT`)."""
    paper = _paper(methods)
    v = isotropy_claim(C.c5_enhancement_isotropy, tables["iso"], paper, section=section)
    return _cloud_control(v, C.c5_enhancement_isotropy, tables["iso"], tables.get("cloud"), paper,
                          layers=transformer_layers(tables["iso"]))


def _local(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The pre-trained model's rows of the methods C7 compares (``None`` stays ``None``, empty stays empty)."""
    if table is None or table.empty:
        return table
    return table[(table.state == "pre-trained") & table.method.isin(["ZM", EN.CONTROL, "Clustering+ZM"])
                 ].drop(columns="state")


def c7_verdict(tables: dict, methods, section: str = "") -> C.Verdict:
    """C7 on the pre-trained model, with the scale-free co-criterion and the Gaussian-cloud control; "not yet
    measured" without ZM and Clustering+ZM among ``methods``."""
    if not {"ZM", "Clustering+ZM"} <= set(methods):
        return C.not_measured("C7", C.C7_STATEMENT, section)
    v = isotropy_claim(C.c7_local_isotropy, _local(tables["iso"]), section=section)
    return _cloud_control(v, C.c7_local_isotropy, _local(tables["iso"]), _local(tables.get("cloud")),
                          layers=transformer_layers(tables["iso"]))


def c4_verdict(knowledge: pd.DataFrame, layer: int, section: str = "") -> C.Verdict:
    """C4 on :func:`helpers.directions.knowledge_table` (measured in ``layer``), kept only where the same test on
    shares of each probe's headroom agrees (:func:`helpers.claims.headroom_excess`, :data:`helpers.claims.HEADROOM_RULE`)."""
    k = knowledge.assign(layer=layer)
    return C.agree(C.by_layer(C.c4_knowledge, k, section=section),
                   C.by_layer(C.c4_knowledge, C.headroom_excess(k), section=section),
                   "share of the probe's headroom (accuracy - majority rate) removed", C.HEADROOM_RULE)


def c6_verdict(scores: pd.DataFrame, methods, layer: int, section: str = "") -> C.Verdict:
    """C6 on the re-fitted classifiers' scores (measured in ``layer``), kept only where the contrast in shares of
    each model's room to gain agrees (:data:`helpers.claims.HEADROOM_RULE`)."""
    s = scores.assign(layer=layer)
    return C.agree(C.by_layer(C.c6_task_effect, s, methods, section=section),
                   C.by_layer(C.c6_task_effect, s, methods, section=section, headroom=True),
                   "pre-trained share of the room to gain (1 - score) - fine-tuned share", C.HEADROOM_RULE)


def structure_verdicts(configs: dict, n_sentences: int = 400, extract_max_length: int = 128, k: int = 27,
                       section: str = "") -> tuple[dict[str, dict[str, C.Verdict]], pd.DataFrame, pd.DataFrame]:
    """C2 per model for ``{(model, task, seed): FinetuneConfig}`` by the ledger's function (:func:`c2_verdict`:
    the named structures in the last layer, generic drift over the transformer layers reported beside).  Returns
    ``{model: {"C2": ...}}`` and the two tables it read (:func:`helpers.structure.c2_table`,
    :func:`helpers.structure.change_table`), each with a ``model`` column."""
    out, named, drift = {}, [], []
    for m, cfgs in E.configs_by_model(configs).items():
        c2_rows = S.c2_table(cfgs, n_sentences, extract_max_length, k)
        change_rows = S.change_table(cfgs, n_sentences, extract_max_length)
        layers = range(1, int(change_rows.layer.max()) + 1)
        out[m] = {"C2": c2_verdict(cfgs, n_sentences, extract_max_length, k, layers, section, c2_rows=c2_rows,
                                   change_rows=change_rows)}
        named.append(c2_rows.assign(model=m))
        drift.append(change_rows.assign(model=m))
    return out, pd.concat(named, ignore_index=True), pd.concat(drift, ignore_index=True)


def direction_verdicts(configs: dict, n_sentences: int = 400, n_fit_sentences: int = 400,
                       extract_max_length: int = 128) -> tuple[dict[str, dict[str, C.Verdict]], pd.DataFrame]:
    """C3 and C4 per model for ``{(model, task, seed): FinetuneConfig}`` by the ledger's functions: C3 on the
    counts of dominant directions of each replicate's held-out tokens (:func:`helpers.enhancement.direction_counts`,
    the pieces chapter 05 caches) over the transformer layers, C4 (:func:`c4_verdict`) on
    :func:`helpers.directions.knowledge_table` in the last layer.  Returns ``{model: {"C3": ..., "C4": ...}}`` and
    the knowledge table with a ``model`` column."""
    out, knowledge = {}, []
    for m, cfgs in E.configs_by_model(configs).items():
        rows = []
        for (t, s), cfg in cfgs.items():
            held_out = E.replicate_extractions(cfg, F.finetune(cfg), {"test": n_sentences}, extract_max_length)
            rows += [EN.direction_counts(held_out[state, "test"]).assign(task=t, replicate=s, state=state)
                     for state in ("pre-trained", "fine-tuned")]
        counts = pd.concat(rows, ignore_index=True)
        layers = transformer_layers(counts)
        k = D.knowledge_table(cfgs, n_sentences, n_fit_sentences, extract_max_length)
        out[m] = {"C3": C.by_layer(C.c3_directions, counts, layers=layers, section="04 / counts"),
                  "C4": c4_verdict(k, layers[-1], "04 / knowledge")}
        knowledge.append(k.assign(model=m))
    return out, pd.concat(knowledge, ignore_index=True)


def enhancement_verdicts(tables: dict, methods, section: str = "") -> dict[str, dict[str, C.Verdict]]:
    """C5, C6 and C7 per model from :func:`helpers.enhancement.measure_models`'s tables (a ``model`` column), each
    by the functions the ledger uses (:func:`c5_verdict`, :func:`c6_verdict` on the paper's methods in the model's
    last layer, :func:`c7_verdict`): ``{model: {"C5": ..., "C6": ..., "C7": ...}}`` in the tables' order."""
    paper = _paper(methods)
    return {m: {"C5": c5_verdict(t, methods, section),
                "C6": c6_verdict(t["scores"], paper, int(t["iso"].layer.max()), section),
                "C7": c7_verdict(t, methods, section)} for m, t in EN.by_model(tables).items()}


def shown_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """A claim's cells as a page shows them (at most 8 columns; the full table a click away): the columns that name
    a cell (model, test, task, state ...), the estimate with its 95% interval, n and the cell's verdict
    (``cells``: :func:`model_table`'s rows, raw or :func:`helpers.claims.readable`)."""
    keys = [c for c in ("model", *C.CELL_KEYS) if c in cells and (cells[c].astype(str) != "").any()]

    def number(x):
        return float(x) if x not in ("", None) else np.nan

    out = cells[keys].copy()
    out["estimate [95% interval]"] = [C.format_interval(number(e), number(lo), number(hi)) for e, lo, hi in
                                      zip(cells.estimate, cells.low, cells.high)]
    out["n"] = cells.n
    verdict = cells.verdict.copy()
    if "test" in cells:
        verdict[cells.test.astype(str).str.contains("reported")] = C.REPORTED
    out["verdict"] = verdict
    return out.astype(object).where(out.notna(), "")


def model_table(verdicts: dict, claim: str, part: str = "headline") -> pd.DataFrame:
    """One claim's cells over models (``verdicts``: :func:`enhancement_verdicts`), a ``model`` column first: the
    cells it was decided on (:meth:`~helpers.claims.Verdict.headline_cells`, ``part="headline"``) or every cell
    (``part="detail"``)."""
    d = pd.concat([(v[claim].headline_cells() if part == "headline" else v[claim].detail).assign(model=m)
                   for m, v in verdicts.items()], ignore_index=True)
    return d[["model", *[c for c in d.columns if c != "model"]]]


def per_model_markdown(verdicts: dict, not_measured: str | None = None) -> str:
    """``{model: Verdict}`` as the paragraphs a chapter glues: each verdict's
    :meth:`~helpers.claims.Verdict.markdown` (``not_measured`` in its place for a verdict not measured, when
    given), under "*On model:*" when several models are compared."""
    several = len(verdicts) > 1
    return "\n\n".join((f"*On {m}:*\n\n" if several else "")
                        + (not_measured if not_measured is not None and v.verdict == C.NOT_MEASURED else v.markdown())
                        for m, v in verdicts.items())


def head_sentence(head: pd.DataFrame, methods, metric_name: str) -> str:
    """Which of ``methods`` costs the fine-tuned head the most ``metric_name`` without retraining, per model
    (``head``: :func:`helpers.enhancement.measure`'s table; a ``model`` column when several): the mean over
    replicates and tasks of score(none) - score(method), its 95% t-interval (:func:`helpers.claims.t_interval`),
    and ZM's beside it."""
    names = list(dict.fromkeys(head.model)) if "model" in head else [None]
    lines = []
    for m in names:
        h = head if m is None else head[head.model == m]
        hd = h.pivot_table(index=["task", "replicate"], columns="method", values="value")
        drops = {x: C.t_interval(hd["none"] - hd[x]) for x in methods if x in hd}
        if not drops:
            continue
        worst = max(drops, key=lambda x: drops[x][0])

        def text(x):
            mean, lo, hi, n = drops[x]
            return f"{mean:+.3f}" + (f" (95% interval [{lo:+.3f}, {hi:+.3f}])" if np.isfinite(lo) else " (one replicate)")

        who = "the fine-tuned head" if len(names) == 1 else f"{m}'s fine-tuned head"
        lines.append(f"Without retraining, {who} loses the most {metric_name} under **{worst}**: {text(worst)} on average"
                     + (f"; under ZM it loses {text('ZM')}." if "ZM" in drops and worst != "ZM" else "."))
    return " ".join(lines)


def c2_verdict(configs: dict, n_sentences: int, extract_max_length: int, k: int, layers, section: str = "",
               c2_rows: pd.DataFrame | None = None, change_rows: pd.DataFrame | None = None) -> C.Verdict:
    """C2 on the structures it names (:func:`helpers.structure.c2_table`, the last layer, k-means with ``k``
    clusters), with the generic drift of the space (:func:`helpers.structure.change_table`, the mean of ``layers``)
    reported beside it; a chapter that already holds the two tables passes them (``c2_rows``, ``change_rows``)."""
    if c2_rows is None:
        c2_rows = S.c2_table(configs, n_sentences, extract_max_length, k)
    if change_rows is None:
        change_rows = S.change_table(configs, n_sentences, extract_max_length)
    named = c2_rows.drop(columns="other_seed").assign(layer=int(max(layers)))
    drift = C.by_layer(C.c2_drift, change_rows.drop(columns="other_seed"), layers=layers, section=section)
    return C.with_reported(C.by_layer(C.c2_named_structures, named, section=section), drift, C.C2_DRIFT_NAME)


def claim_tables(configs: dict, n_sentences: int = 400, n_train_sentences: int = 400, methods=None,
                 n_clusters: int = 27, max_fit_tokens: int | None = 20_000, extract_max_length: int = 128,
                 tables: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every cached table the claims read, for ``{(task, seed): FinetuneConfig}``: chapter 05's
    (:func:`helpers.enhancement.measure`, or ``tables`` when a chapter holds them already), with ``c2`` and ``change``
    (chapter 03: :func:`helpers.structure.c2_table`, :func:`helpers.structure.change_table`) and ``knowledge``
    (chapter 04: :func:`helpers.directions.knowledge_table`)."""
    methods = EN.check_methods(list(TR.METHODS if methods is None else methods))
    if tables is None:
        tables = EN.measure(configs, n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens,
                            extract_max_length)
    return {**tables,
            "c2": tables["c2"] if "c2" in tables else S.c2_table(configs, n_sentences, extract_max_length, n_clusters),
            "change": tables["change"] if "change" in tables else S.change_table(configs, n_sentences, extract_max_length),
            "knowledge": tables["knowledge"] if "knowledge" in tables else
            D.knowledge_table(configs, n_sentences, n_train_sentences, extract_max_length)}


def verdicts(configs: dict, n_sentences: int = 400, n_train_sentences: int = 400, methods=None, n_clusters: int = 27,
             max_fit_tokens: int | None = 20_000, extract_max_length: int = 128, tables: dict | None = None) -> list:
    """C1-C7 for fine-tuning configurations ``{(task, seed): FinetuneConfig}``, each by its own test and
    co-criterion, C5 and C7 decided beyond their Gaussian cloud (the tables of :func:`claim_tables`, read from the
    cache, or passed as ``tables``).  The label-shuffled control decides the claims about fine-tuning in
    :func:`verdicts_with_controls`."""
    methods = EN.check_methods(list(TR.METHODS if methods is None else methods))
    tables = claim_tables(configs, n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens,
                          extract_max_length, tables)
    iso, scores, dirs = tables["iso"], tables["scores"], tables["directions"]
    layers = transformer_layers(iso)
    last = layers[-1]
    paper = _paper(methods)
    out = [
        c1_verdict(tables, "02 / 05"),
        c2_verdict(configs, n_sentences, extract_max_length, n_clusters, layers, "03 / claim C2",
                   c2_rows=tables["c2"], change_rows=tables["change"]),
        C.by_layer(C.c3_directions, dirs, layers=layers, section="04 / counts"),
        c4_verdict(tables["knowledge"], last, "04 / knowledge"),
        c5_verdict(tables, methods, "05 / isotropy"),
        c6_verdict(scores, paper, last, "05 / task score"),
        c7_verdict(tables, methods, "05 / local vs global"),
    ]
    return out


SHUFFLED_NAME = "label-shuffled fine-tuning"
SHUFFLED_WHAT = ("the same runs (settings, seeds, sentences) trained on labels permuted across the texts, measured "
                 "and decided by the same functions")
SHUFFLED_CONTRAST = "real - label-shuffled runs"
SHUFFLED_READING = ("the claim is decided on the real runs' effect minus the label-shuffled runs' (same seed, same "
                    "sentences, the control's tasks): what learning the task does beyond what fine-tuning as such does")
def _on_tasks(d: pd.DataFrame, tasks) -> pd.DataFrame:
    return d[d.task.isin(tasks)]


def _unprocessed(iso: pd.DataFrame) -> pd.DataFrame:
    """log10 I(W) and its unit-row twin of the unprocessed tokens (method ``none``), with their ``metric`` column."""
    return iso[(iso.method == "none") & iso.metric.isin(["log10 I(W)", EN.SCALE_FREE])].drop(columns="method")


def _gain_difference(real: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """C6's rows beyond a control fine-tuning: the fine-tuned scores of the real runs minus the control runs' (same
    task, method, replicate), with a reference state of zeros, so that C6's cells read the real gain minus the
    control's (method - none) and its contrast the control's gain minus the real one."""
    d = C.beyond_control(real[real.state == "fine-tuned"], control[control.state == "fine-tuned"])
    return pd.concat([d, d.assign(state="pre-trained", value=0.0)], ignore_index=True)


def _room_scaled(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores divided by each state's room to gain, 1 - score without processing (same task and replicate), so that
    method - none is the share of the room a method gains (C6's headroom co-criterion); no room: NaN."""
    keys = ["task", "replicate", "state"]
    none = scores[scores.method == "none"].set_index(keys).value
    room = (1 - none).where(1 - none > 0)
    return scores.assign(value=scores.value.to_numpy() / room.reindex(pd.MultiIndex.from_frame(scores[keys])).to_numpy())


def _paper(methods) -> list[str]:
    return [m for m in TR.PAPER_METHODS if m in methods]


C4_SHARES = "share of the probe's headroom (accuracy - majority rate) removed"
C6_SHARES = "pre-trained share of the room to gain (1 - score) - fine-tuned share"

WITHIN_SHUFFLED = {
    "C1": lambda r, tasks, layers, methods: isotropy_claim(C.c1_isotropy, _on_tasks(_unprocessed(r["iso"]), tasks)),
    "C2": lambda r, tasks, layers, methods: C.by_layer(
        C.c2_named_structures, _on_tasks(r["c2"], tasks).drop(columns="other_seed").assign(layer=layers[-1])),
    "C3": lambda r, tasks, layers, methods: C.by_layer(C.c3_directions, _on_tasks(r["directions"], tasks),
                                                       layers=layers),
    "C4": lambda r, tasks, layers, methods: c4_verdict(_on_tasks(r["knowledge"], tasks), layers[-1]),
    "C6": lambda r, tasks, layers, methods: c6_verdict(_on_tasks(r["scores"], tasks), _paper(methods), layers[-1]),
}
"""Each claim about fine-tuning on the real runs restricted to the control's tasks, by the ledger's own rule (with
its co-criterion): a verdict resting on a task the control did not run on is not said to hold beyond it."""

BEYOND_SHUFFLED = {
    "C1": lambda r, c, tasks, layers, methods: isotropy_claim(
        C.c1_isotropy, C.against_control(_on_tasks(_unprocessed(r["iso"]), tasks), _unprocessed(c["iso"]))),
    "C2": lambda r, c, tasks, layers, methods: C.by_layer(
        C.c2_named_structures, _on_tasks(r["c2"], tasks).drop(columns="other_seed").assign(layer=layers[-1]),
        control=c["c2"].drop(columns="other_seed")),
    "C3": lambda r, c, tasks, layers, methods: C.by_layer(
        C.c3_directions, C.against_control(_on_tasks(r["directions"], tasks), c["directions"]), layers=layers),
    "C4": lambda r, c, tasks, layers, methods: C.agree(
        C.by_layer(C.c4_knowledge, C.against_control(_on_tasks(r["knowledge"], tasks), c["knowledge"])
                   .assign(layer=layers[-1])),
        C.by_layer(C.c4_knowledge, C.against_control(C.headroom_excess(_on_tasks(r["knowledge"], tasks)),
                                                     C.headroom_excess(c["knowledge"])).assign(layer=layers[-1])),
        C4_SHARES, C.HEADROOM_RULE),
    "C6": lambda r, c, tasks, layers, methods: C.agree(
        C.by_layer(C.c6_task_effect, _gain_difference(_on_tasks(r["scores"], tasks), c["scores"])
                   .assign(layer=layers[-1]), _paper(methods), reference_gains=False),
        C.by_layer(C.c6_task_effect, _gain_difference(_room_scaled(_on_tasks(r["scores"], tasks)),
                                                      _room_scaled(c["scores"])).assign(layer=layers[-1]),
                   _paper(methods), reference_gains=False),
        C6_SHARES, C.HEADROOM_RULE),
}
"""Each claim about fine-tuning decided beyond the label-shuffled control (:func:`beyond_label_shuffled`): its own
test, same criterion, cells and co-criterion, on the real runs' effect minus the control runs' in the control's
tasks, paired by seed (:func:`helpers.claims.against_control`; C2: the size of the change minus the control's; C6:
the real gain minus the control's gain, so its contrast is the control's gain minus the real one and the
pre-trained gains, which the two runs share, are the real verdict's cells).  Arguments: the real and the control's
tables (:func:`claim_tables`), the control's tasks, the transformer layers, the methods."""
SHUFFLED_DECIDES = tuple(BEYOND_SHUFFLED)


def beyond_label_shuffled(real: list, real_tables: dict, control: list, control_tables: dict, methods) -> list:
    """The verdicts ``real`` with the label-shuffled control deciding the claims of :data:`BEYOND_SHUFFLED`
    (:func:`helpers.claims.with_control`, :data:`helpers.claims.CONTROL_RULE`): a claim keeps its verdict only where
    the same rule on the real runs restricted to the control's tasks (:data:`WITHIN_SHUFFLED`) and on the real
    effect minus the control's (:data:`BEYOND_SHUFFLED`) both reach it; the control's own verdict (``control``) is
    reported beside.  Tables: :func:`claim_tables` of the real and the control runs (each claim reads only its own)."""
    tasks = sorted(set(control_tables["iso"].task))
    layers = transformer_layers(real_tables["iso"])
    by = {v.claim: v for v in control}
    out = []
    for v in real:
        if v.claim in BEYOND_SHUFFLED and v.verdict != C.NOT_MEASURED and v.claim in by:
            v = C.with_control(v, by[v.claim], SHUFFLED_NAME, SHUFFLED_WHAT, SHUFFLED_READING,
                               beyond=BEYOND_SHUFFLED[v.claim](real_tables, control_tables, tasks, layers, methods),
                               contrast=SHUFFLED_CONTRAST,
                               within=WITHIN_SHUFFLED[v.claim](real_tables, tasks, layers, methods),
                               scope=", ".join(tasks))
        out.append(v)
    return out


def verdicts_with_controls(configs: dict, controls, n_sentences: int = 400, n_train_sentences: int = 400,
                           methods=None, n_clusters: int = 27, max_fit_tokens: int | None = 20_000,
                           extract_max_length: int = 128, control_tasks=None,
                           tables: dict | None = None) -> tuple[list, dict[str, list]]:
    """The ledger's verdicts: C1-C7 of ``configs`` (:func:`verdicts`) and ``{control: C1-C7}`` of every control
    fine-tuning of ``controls`` on ``control_tasks`` (:func:`control_verdicts`), with the label-shuffled control,
    when run, deciding the claims about fine-tuning (:func:`beyond_label_shuffled`).  One call for every chapter
    and the reference ledger, so they decide alike."""
    methods = EN.check_methods(list(TR.METHODS if methods is None else methods))
    args = (n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens, extract_max_length)
    names = check_controls(controls)
    control_task_names(control_tasks, [t for t, _ in configs])      # checked even when no control is asked for
    real_tables = claim_tables(configs, *args, tables=tables)
    real = verdicts(configs, *args, tables=real_tables)
    runs = {}
    for name in names:
        cfgs = control_runs(configs, name, control_tasks)
        ctrl_tables = claim_tables(cfgs, *args)
        runs[name] = verdicts(cfgs, *args, tables=ctrl_tables)
        if name == LABEL_SHUFFLED:
            real = beyond_label_shuffled(real, real_tables, runs[name], ctrl_tables, methods)
    return real, runs


LABEL_SHUFFLED, MEAN_POOLING = "label-shuffled", "mean-pooling head"
CONTROLS = tuple(F.CONTROLS)
"""Control fine-tunings a ledger can decide every claim on beside the real runs (the ``controls`` parameter of
chapter 06 and the findings page), each the same runs (settings, seeds, sentences) with one thing changed
(``helpers.finetune.CONTROLS``): ``label-shuffled`` trains on labels permuted across the texts, so it shows what
any fine-tuning at this learning rate and length does to the space against what learning the task does;
``mean-pooling head`` trains a head on the mean of the last layer's tokens instead of the pooled [CLS] position,
so it shows how much of the change comes from moving the readout away from the one MiniLM was trained for."""
CONTROL_READINGS = {
    LABEL_SHUFFLED: "A claim about what fine-tuning does that the label-shuffled fine-tuning supports too is not about "
                    "learning the task: any run of this length moves the space that way.",
    MEAN_POOLING: "A verdict that changes when the head reads the mean of the tokens (as MiniLM's own training did) "
                  "rather than [CLS] depends on the readout the fine-tuning trains, not only on the task.",
}
"""How to read each control's column."""


def check_controls(controls) -> list[str]:
    """The ``controls`` parameter checked against :data:`CONTROLS` (a list, or None for none)."""
    from .checks import choice

    names = list(dict.fromkeys(as_list(controls))) if controls is not None else []
    for name in names:
        choice("controls", name, CONTROLS)
    return names


def control_configs(configs: dict, control: str) -> dict:
    """The fine-tuning configurations of ``control`` beside ``configs`` (same keys, settings and seeds)."""
    from dataclasses import replace

    if control not in F.CONTROLS:
        raise ValueError(f"control={control!r} is not valid; choose one of: {', '.join(CONTROLS)}")
    return {k: replace(cfg, **F.CONTROLS[control]) for k, cfg in configs.items()}


def control_task_names(control_tasks, tasks) -> list[str]:
    """The tasks the control fine-tunings run on: ``control_tasks`` (each one of ``tasks``), or, when None, the
    first of ``tasks``.  One task with the book's seeds asks the control's question (what does fine-tuning do to
    the space without the task?); each further task adds as many runs as there are seeds."""
    from .checks import ParameterError

    task_names = list(dict.fromkeys(as_list(tasks)))
    if control_tasks is None:
        return task_names[:1]
    names = list(dict.fromkeys(as_list(control_tasks)))
    if not names:
        raise ParameterError(f"control_tasks={control_tasks!r} is empty; give None (the first task) or some of: "
                             f"{', '.join(task_names)}")
    for t in names:
        if t not in task_names:
            raise ParameterError(f"control_tasks={control_tasks!r} is not valid: {t!r} is not among the chapter's "
                                 f"tasks; choose among: {', '.join(task_names)}")
    return names


def control_runs(configs: dict, control: str, control_tasks=None) -> dict:
    """The control fine-tunings of ``control`` for the runs of ``configs`` (``{(task, seed): FinetuneConfig}``) on
    ``control_tasks`` (:func:`control_task_names`: default the first task): :func:`control_configs` of those runs."""
    names = control_task_names(control_tasks, [t for t, _ in configs])
    return control_configs({k: cfg for k, cfg in configs.items() if k[0] in names}, control)


def control_verdicts(configs: dict, controls, n_sentences: int = 400, n_train_sentences: int = 400, methods=None,
                     n_clusters: int = 27, max_fit_tokens: int | None = 20_000, extract_max_length: int = 128,
                     control_tasks=None) -> dict[str, list]:
    """``{control: C1-C7}`` decided by the same functions on each control fine-tuning of ``configs``
    (:func:`control_configs`) on ``control_tasks`` (:func:`control_task_names`: default the first task), measured on
    the same sentences."""
    control_task_names(control_tasks, [t for t, _ in configs])      # checked even when no control is asked for
    return {c: verdicts(control_runs(configs, c, control_tasks), n_sentences, n_train_sentences, methods, n_clusters,
                        max_fit_tokens, extract_max_length) for c in check_controls(controls)}


PRE_TRAINED_ONLY = ("C7",)
"""Claims decided on the pre-trained model alone (C7: the local view against the global one before any
fine-tuning): a control fine-tuning shares that model and those sentences, so its verdict repeats the real one by
construction and is not shown as evidence."""
NOT_A_FINETUNING_CLAIM = "n/a: decided on the pre-trained model, which the control shares"


def control_column(real, control) -> list[str]:
    """One cell per claim: the control run's verdict and estimate in its own headline cell ("" where the claim was
    not measured; :data:`NOT_A_FINETUNING_CLAIM` for the claims of :data:`PRE_TRAINED_ONLY`)."""
    by = {v.claim: v for v in control}
    return [NOT_A_FINETUNING_CLAIM if v.claim in PRE_TRAINED_ONLY and v.verdict != C.NOT_MEASURED else
            "" if v.claim not in by or by[v.claim].verdict == C.NOT_MEASURED else
            f"{by[v.claim].verdict}, {by[v.claim].interval()} ({by[v.claim].where})" for v in real]


def controls_sentence(real, controls: dict, on: str = "") -> str:
    """What the control fine-tunings say (run on ``on``, e.g. "mr"), claim by claim where they support what the real
    runs support (or say how to run them when none was); the claims of :data:`PRE_TRAINED_ONLY` are left out."""
    if not controls:
        return ("No control fine-tuning was run here. With `controls=[\"label-shuffled\"]` every claim is decided "
                "again on runs with the same settings and seeds whose training labels are permuted across the texts; "
                "with `controls=[\"mean-pooling head\"]`, on runs whose head reads the mean of the last layer instead "
                "of [CLS]; the ledger gets a column for each.")
    lines = []
    for name, control in controls.items():
        by = {v.claim: v for v in control if v.claim not in PRE_TRAINED_ONLY}
        both = [v.claim for v in real if v.verdict == C.SUPPORTED and by.get(v.claim) is not None
                and by[v.claim].verdict == C.SUPPORTED]
        differ = [f"{v.claim} ({v.verdict} on the real runs, {by[v.claim].verdict} here)" for v in real
                  if v.verdict != C.NOT_MEASURED and v.claim in by and by[v.claim].verdict not in (v.verdict, C.NOT_MEASURED)]
        lines.append(f"- **{name}**" + (f" (on {on})" if on else "") + ": "
                     + (f"supports {', '.join(both)} as the real runs do" if both else
                        "supports none of the claims the real runs support")
                     + (f"; differs on {', '.join(differ)}." if differ else "; no verdict differs.")
                     + f" {CONTROL_READINGS.get(name, '')}".rstrip())
    shared = [v.claim for v in real if v.claim in PRE_TRAINED_ONLY and v.verdict != C.NOT_MEASURED]
    if shared:
        lines.append(f"- {', '.join(shared)} is decided on the pre-trained model, which every control shares: no "
                     "control fine-tuning tests it.")
    return "\n".join(lines)


def with_control_columns(comparison: pd.DataFrame, by_model: dict, controls_by_model: dict, on: str = "") -> pd.DataFrame:
    """:func:`helpers.claims.compare_models`'s table with a column per control and model (:func:`control_column`:
    the control's verdict and estimate beside that model's real one), so a reader sees for each objective what
    fine-tuning without the task does."""
    out = comparison.copy()
    for m, vs in by_model.items():
        labels = {v.claim: attribution_label(v) for v in vs}
        if any(labels.values()):
            out[f"what the effect is: {m}"] = [labels.get(c, "") for c in out.claim]
    for m, controls in controls_by_model.items():
        for name, control in controls.items():
            cells = dict(zip((v.claim for v in by_model[m]), control_column(by_model[m], control)))
            out[f"{name}{f' on {on}' if on else ''}: {m}"] = [cells.get(c, "") for c in out.claim]
    return out


def compare_objectives(model: str, verdicts: list, control_runs: dict, more_models, tasks, seeds,
                       finetune: dict | None, n_sentences: int = 400, n_train_sentences: int = 400, methods=None,
                       n_clusters: int = 27, max_fit_tokens: int | None = 20_000, extract_max_length: int = 128,
                       control_tasks=None, on: str = "") -> pd.DataFrame:
    """The ledger's "both objectives" table: ``model``'s ``verdicts`` and ``control_runs`` (decided already) beside
    those of every model of ``more_models`` on the same tasks, seeds and sentences
    (:func:`helpers.claims.compare_models`, the difference of the headline effects paired by replicate, Holm-adjusted), with a
    column per control and model (:func:`with_control_columns`)."""
    others = [m for m in dict.fromkeys(as_list(more_models)) if m != model]
    args = (n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens, extract_max_length)
    by_model, controls = {model: verdicts}, {model: control_runs}
    for m in others:
        by_model[m], controls[m] = verdicts_with_controls(F.configs_for(m, tasks, seeds, finetune or {}),
                                                          list(control_runs), *args, control_tasks=control_tasks)
    return with_control_columns(C.compare_models(by_model), by_model, controls, on)


def model_rows(cards: dict) -> pd.DataFrame:
    """What each compared model is: objective, size, data and tokens seen (from its model card)."""
    return pd.DataFrame([{"model": m, "layers x width": f"{c['layers']} x {c['hidden_size']}",
                          "parameters (M)": c.get("parameters_millions", ""), "pre-training": c.get("training", ""),
                          "source": c.get("source", "")} for m, c in cards.items()])


def objectives_sentence(table: pd.DataFrame, ref: str, other: str) -> str:
    """A sentence on :func:`helpers.claims.compare_models`: which claims get the same decisive verdict for both
    models, and where the effects differ beyond noise (paired by replicate, Holm-adjusted over the claims)."""
    same = table.loc[table["same decisive verdict"], "claim"].tolist()
    differ = table.loc[table[f"{ref} vs {other}"] == C.DIFFER, "claim"].tolist()
    return (f"Of {len(table)} claims, {len(same)} get the same decisive verdict (both supported or both contradicted) "
            f"on {ref} and {other}" + (f" ({', '.join(same)})" if same else "") + "; "
            + (f"the effects differ for {', '.join(differ)}" if differ else "no claim's effect is shown to differ")
            + f" (compared on {C.COMPARISON_RULE}; an interval that covers 0 is not a proof of equality: its width "
              "says how large a difference could hide in it).")


def findings_summary(verdicts, card: dict, tasks) -> str:
    """The findings page's opening paragraph, from the run: the verdict counts, each supported or contradicted
    claim with its statistic and interval, C1 in the last layer, and which supported verdicts share one
    mechanism."""
    by = {v.claim: v for v in verdicts}
    counts = pd.Series([v.verdict for v in verdicts]).value_counts()
    head = (f"On {card['name']} ({card['layers']} layers x {card['hidden_size']}), tasks "
            f"{', '.join(as_list(tasks))}: "
            + ", ".join(f"**{counts.get(k, 0)} {k}**" for k in C.VERDICTS) + f" of {len(verdicts)} claims.")
    lines = [head, ""]
    for v in verdicts:
        if v.verdict in (C.SUPPORTED, C.CONTRADICTED):
            lines.append(f"- **{v.claim} {v.verdict}**. {v.statement.rstrip('.')}. *Statistic:* {v.statistic} "
                         f"({v.where}): {v.interval()}.")
    differ = [v for v in verdicts if v.last_layer and v.last_layer["verdict"] != v.verdict]
    for v in differ:
        lines.append(f"- **{v.claim} in the last layer alone** (layer {v.last_layer['layer']}, the paper's "
                     f"convention): {v.last_layer['verdict']}, {v.statistic}: "
                     f"{C.format_interval(v.last_layer['estimate'], v.last_layer['low'], v.last_layer['high'])} "
                     f"({v.last_layer['where']}); on the mean over layers, the verdict, {v.verdict}.")
    if not differ:
        lines.append("- The last layer alone (the paper's convention) gives every claim the same verdict as the mean "
                     "over layers.")
    for v in verdicts:
        co = v.co
        if co and co["verdict"] != co["primary verdict"] and v.raw_verdict() != co["primary verdict"]:
            lines.append(f"- **{v.claim} is {v.raw_verdict()} before its control because its co-criterion disagrees**: "
                         f"on {v.statistic} alone it would be {co['primary verdict']} ({v.interval()}), on "
                         f"{co['statistic']} it is {co['verdict']} "
                         f"({C.format_interval(co['estimate'], co['low'], co['high'])}{v.co_n_note()}).")
    undecided = []
    for v in verdicts:
        if not v.control_run.get("decides"):
            continue
        if v.control_run["raw verdict"] in C.DECISIVE:
            lines.append(f"- {attribution(v)}")
        else:
            undecided.append(v.claim)
    if undecided:
        lines.append(f"- **{', '.join(undecided)}**: inconclusive before their control too, so the control has no effect "
                     "to attribute (each one's test beyond its control is in the table below).")
    if all(k in by and by[k].verdict == C.SUPPORTED for k in ("C4", "C6")):
        lines.append("- C4 and C6 are not independent: both rest on the fine-tuned last layer's top direction, which "
                     "removing takes from a label probe (C4) and which isotropy enhancement rescales (C6).")
    return "\n".join(lines)


ATTRIBUTION = {
    CLOUD: ("a property of the tokens", "a property of any Gaussian cloud with the tokens' mean and covariance"),
    SHUFFLED_NAME: ("an effect of learning the task", "an effect of fine-tuning as such (the label-shuffled runs show it)"),
}
"""What an effect beyond each deciding control is, and what it is when the control shows it too."""


def attribution_label(v: C.Verdict) -> str:
    """A few words on what the verdict's effect is, from its raw verdict, the claim restricted to what the control
    covers and its verdict beyond the deciding control (:data:`ATTRIBUTION`): "" without a deciding control."""
    c = v.control_run
    if not c.get("decides"):
        return ""
    own, shared = ATTRIBUTION.get(c["name"], (f"beyond the {c['name']}", f"shown by the {c['name']} too"))
    on = f" (on {c['scope']})" if c.get("scope") else ""
    raw, beyond, within = c["raw verdict"], c["beyond verdict"], c.get("within verdict", c["raw verdict"])
    if raw not in C.DECISIVE:
        return "no effect to attribute (inconclusive before its control)"
    if within != raw:
        return f"not tested by the control: where it ran{on}, the real runs alone are {within}"
    if beyond == raw:
        return own + on
    if beyond == C.INCONCLUSIVE:
        return f"not shown to be {own}{on} (the control's effect is not shown to be smaller)"
    return f"{shared}{on}, and more so"


def attribution(v: C.Verdict) -> str:
    """One sentence per claim with a deciding control: the verdict, the raw verdict, the control's own verdict and
    the effect beyond it (paired interval), and what the effect is (:func:`attribution_label`); a verdict whose
    control matches or exceeds it says so here, and a non-significant difference is never read as equality."""
    c = v.control_run
    beyond = C.format_interval(c["beyond estimate"], c["beyond low"], c["beyond high"])
    control = f"{c['verdict']}, {C.format_interval(c['estimate'], c['low'], c['high'])}"
    head = (f"**{v.claim} {v.verdict}** (before its control: {c['raw verdict']}). On the {c['name']} the same test "
            f"gives {control}; beyond it ({c['contrast']}, paired by seed): {c['beyond verdict']}, {beyond}. ")
    label = attribution_label(v)
    if c["raw verdict"] not in C.DECISIVE:
        return head + "With no effect before the control there is nothing to attribute."
    if c.get("within verdict", c["raw verdict"]) != c["raw verdict"]:
        return head + f"The effect is {label}: the verdict rests on cells the control does not cover."
    if c["beyond verdict"] == c["raw verdict"]:
        return head + f"The effect is {label}."
    if c["beyond verdict"] == C.INCONCLUSIVE:
        if c["beyond low"] <= 0 <= c["beyond high"]:
            return (head + f"The effect is {label}: the interval beyond the control covers 0, which does not show the "
                    "two equal either (its width says how large a difference could hide in it).")
        return (head + f"The effect is {label}: beyond the control its headline cell lies on the other side of 0, short "
                "of the level that decides (a contradiction needs the Bonferroni level over the claim's cells).")
    return head + f"The effect is {label}: the control shows more of it than the real data."


def reading_guide(verdicts) -> str:
    """The units and names a reader of the findings page needs, once: I(W) and what a change of log10 I(W) is as a
    factor (with C1's estimate of the run as the example), the test score, the structure measures, the methods'
    abbreviations."""
    by = {v.claim: v for v in verdicts}
    c1 = by.get("C1")
    example = ""
    if c1 is not None and c1.verdict != C.NOT_MEASURED and np.isfinite(c1.estimate) and "log10 I(W)" in c1.statistic:
        example = (f" C1's estimate here, {c1.estimate:+.3g}, is I(W) multiplied by {10 ** c1.estimate:.3g} "
                   f"(10^{c1.estimate:+.3g}).")
    return "\n".join([
        "- **I(W)**: the partition isotropy of Mu & Viswanath (2018), min over unit directions of the partition "
        "function divided by its max, in (0, 1], 1 for a perfectly isotropic space. The book reports "
        "**log10 I(W)** (at most 0); a change of +d in log10 I(W) multiplies I(W) by 10^d (+0.3 doubles it, "
        "-1 divides it by ten)." + example + " *Unit rows*: the same on tokens scaled to length 1, blind to their "
        "norms.",
        "- **Test score**: the fine-tuned classifier's accuracy on the task's test split, in [0, 1] (a regression "
        "task: Spearman's correlation); a *change of score* is in accuracy points (0.01 = one point).",
        "- **ARI**: the adjusted Rand index of k-means clusters with the token labels (0 for chance, 1 for the same "
        "partition); **probe accuracy**: a linear probe's accuracy on word types it was not trained on, in [0, 1].",
        "- **Counts of directions**: covariance eigenvalues above 10x the median eigenvalue, an integer between 0 and "
        "the width.",
        "- **Methods**: **ZM** zero-mean (the mean vector subtracted); **Clustering+ZM** k-means, then each cluster "
        "made zero-mean; **ABTT** all-but-the-top (zero-mean, then the top principal directions removed); "
        "**Cluster-based** each cluster's own top directions removed; **random partitions** groups of the clusters' "
        "sizes drawn at random, each made zero-mean (the control of Clustering+ZM).",
        "- **MLM**: masked language modelling, the paper's pre-training objective; **MiniLM**: a sentence encoder "
        "pre-trained contrastively (all-MiniLM-L6-v2).",
    ])


def starting_points(glance: pd.DataFrame) -> str:
    """The pre-trained spaces of the models of :func:`helpers.layerwise.geometry_at_a_glance` in one sentence
    (last layer: average cosine, log10 I(W), the norm of the mean against the mean norm)."""
    parts = []
    for m in glance.model.cat.categories if hasattr(glance.model, "cat") else dict.fromkeys(glance.model):
        r = glance[glance.model == m].set_index("metric")["last layer"]
        parts.append(f"{m}, average cosine {words.number(r['average cosine'], 3)}, log10 I(W) "
                     f"{words.number(r['log10 I(W)'], 3)}, a mean vector of norm {words.number(r['norm of the mean'], 3)} "
                     f"against a mean token norm of {words.number(r['mean norm'], 3)}")
    return "; ".join(parts)


def sample_overlap(configs: dict, n_sentences: int) -> str:
    """How much the replicates' held-out samples share, per task (the mean over pairs of seeds of the share of one
    sample's sentences the other has too; each seed draws ``n_sentences`` of the test split: disjoint blocks while
    they fit, :func:`helpers.extract.sample_sentences`), and what it means for the intervals, which treat the
    replicates as independent."""
    from itertools import combinations

    from . import tasks

    shared, disjoint = [], []
    for t in dict.fromkeys(t for t, _ in configs):
        seeds = sorted(s for u, s in configs if u == t)
        cfg = configs[t, seeds[0]]
        table = tasks.load(t, **cfg.data)
        n_test = int((table.split == "test").sum())
        samples = {s: set(E.sample_sentences(table, "test", n_sentences, E.replicate_sample_seed(s)).sentence_id)
                   for s in seeds}
        pairs = [len(samples[a] & samples[b]) / n_sentences for a, b in combinations(seeds, 2)]
        if not pairs:
            continue
        if max(pairs) == 0:
            disjoint.append(f"{t} ({n_test:,} test sentences)")
        else:
            shared.append(f"{t} {np.mean(pairs):.0%} (of {n_test:,} test sentences; n_sentences <= "
                          f"{n_test // len(seeds)} makes its {len(seeds)} samples disjoint)")
    out = []
    if disjoint:
        out.append("The replicates' held-out samples share no sentence on " + ", ".join(disjoint) + ": each seed "
                   "reads its own block of one seeded permutation of the test split, so the replicates are "
                   "independent in their sentences as in their fine-tuning seed, as the intervals assume.")
    if shared:
        out.append("Two replicates' held-out samples share, on average, " + ", ".join(shared) + " of their "
                   "sentences: the intervals treat replicates as independent, which they are in their fine-tuning "
                   "seed but not wholly in their sentences, so where the spread comes from the sentences more than "
                   "from the seed they are too narrow (most for C7, whose replicates differ only in their sentences).")
    return " ".join(out)


def findings_caveats(card: dict, configs: dict, n_sentences: int, n_train_sentences: int,
                     convergence: pd.DataFrame | None = None, glance: pd.DataFrame | None = None) -> str:
    """What limits every verdict of the run, from its parameters: the model and (given ``glance``,
    :func:`helpers.layerwise.geometry_at_a_glance` of it and an MLM model on the same sentences) how far its
    pre-trained space is from an MLM model's, the fine-tuning budget and (given the runs' ``convergence``,
    :func:`helpers.convergence.convergence_table`) whether they reached a plateau, the replicates and the effect
    they can detect (C2's, whose floor shares runs, twice as large), the samples, the layer rule."""
    from . import convergence as CV
    from .intervals import shared_run_inflation

    cfg = next(iter(configs.values()))
    n = len({s for _, s in configs})          # fine-tuning seeds per task
    start = ("" if glance is None or glance.model.nunique() < 2 else
             f" Its pre-trained space is not an MLM model's either (chapter 00; last layer, the same held-out "
             f"sentences): {starting_points(glance)}.")
    return "\n".join([
        f"- **The model is not the paper's.** {card.get('differs_from_paper', card['name'])}{start}",
        f"- **A CPU budget.** Each fine-tuning run: {cfg.describe()}."
        + (f" {CV.convergence_sentence(convergence)}" if convergence is not None else ""),
        f"- **Replicates and power.** The unit of replication is the fine-tuning seed: {n} per task. A claim is "
        f"supported in a cell only when the {int(C.LEVEL * 100)}% t-interval of its {n} paired differences excludes "
        f"zero, that is when |mean| exceeds {C.detectable_ratio(n):.2f} standard deviations of the seed-to-seed "
        f"differences (C2's cells, whose floor reads the next seed's run, "
        f"{C.detectable_ratio(n) * np.sqrt(shared_run_inflation(n)):.2f}); a smaller effect, however real, comes out "
        f"*inconclusive*, which here often means underpowered rather than absent. The table gives each estimate's minimum detectable effect (the true "
        f"effect found with {int(C.POWER * 100)}% power at this spread).",
        f"- **Samples.** {n_sentences} held-out test sentences and {n_train_sentences} training sentences per seed "
        f"(every method and classifier is fitted on the training ones). {sample_overlap(configs, n_sentences)}",
        f"- **The layer rule.** {C.LAYER_RULE}",
    ])


GRID_VERDICT = "verdict (mean of layers)"


def layer_grid(verdicts) -> pd.DataFrame:
    """Claim x layer: each claim's verdict in every layer on its own (robustness), the tally, and the verdict
    (decided on the mean over layers; the one layer where only one is measured)."""
    rows = {}
    for v in verdicts:
        row = {f"layer {int(r.layer)}": r.verdict for r in v.layers.itertuples()} if not v.layers.empty else {}
        tally = C.layer_tally(v.layers.verdict) if len(v.layers) > 1 else (v.scope or "")
        rows[v.claim] = {**row, "tally": tally, GRID_VERDICT: v.verdict}
    grid = pd.DataFrame(rows).T
    cols = sorted([c for c in grid if c.startswith("layer ")], key=lambda c: int(c.split()[1]))
    return grid[[*cols, "tally", GRID_VERDICT]].fillna("")


FINDINGS_SHOWN = ["claim", "statement", "verdict here", "before its control", "beyond its control (decides)",
                  "what the effect is", "estimate [95% interval]", "last layer alone"]
"""The findings table's columns shown on the page (the full table is a click away)."""
LEDGER_SHOWN = ["claim", "verdict", "raw verdict", "beyond its control", "what the effect is",
                "estimate [95% interval]", "last layer alone", "MDE (80% power)"]
"""The ledger's columns shown on chapter 06's page (the full table is a click away)."""


def objectives_shown(table: pd.DataFrame, ref: str, other: str) -> list[str]:
    """The columns of :func:`compare_objectives`'s table shown on a page (at most 8; the full table a click away)."""
    wanted = ["claim", f"verdict: {ref}", f"verdict: {other}", f"what the effect is: {ref}",
              f"what the effect is: {other}", f"{ref} - {other} [95% interval]", f"{ref} vs {other}",
              "same decisive verdict"]
    return [c for c in wanted if c in table]


def styled(table: pd.DataFrame, bold=(), nowrap=()):
    """A table as the chapters show it: no index, text left and top, ``bold`` and ``nowrap`` columns kept on one
    line."""
    bold, nowrap = [c for c in bold if c in table], [c for c in nowrap if c in table]
    style = (table.style.hide(axis="index")
             .set_properties(**{"text-align": "left", "vertical-align": "top", "font-size": "0.85em",
                                "white-space": "normal"}))
    if bold:
        style = style.set_properties(subset=bold, **{"font-weight": "bold", "white-space": "nowrap"})
    if nowrap:
        style = style.set_properties(subset=nowrap, **{"white-space": "nowrap"})
    return style


def findings(verdicts, controls: dict | None = None, on: str = "") -> pd.DataFrame:
    """One row per claim for a reader: the claim, the book's verdict (on the mean over layers), the last layer's
    (the paper's convention), the statistic it rests on (what is measured, in which unit, where), its estimate
    with the 95% interval over fine-tuning seeds and its minimum detectable effect, the scale-free co-criterion,
    the control run (or the control inside the criterion), the paper's sources; with ``controls`` ({name: their
    verdicts}, :func:`control_verdicts`) a column per control fine-tuning before the last."""
    measured = [v.verdict != C.NOT_MEASURED for v in verdicts]
    table = pd.DataFrame([{
        "claim": v.claim, "statement": v.statement, "verdict here": v.verdict,
        "before its control": v.raw_verdict() if m and v.control_run.get("decides") else "",
        "beyond its control (decides)": (v.beyond_text() or "no deciding control") if m else "",
        "what the effect is": attribution_label(v) if m else "",
        "last layer alone": v.last_layer_column() if m else "",
        "statistic (where)": f"{v.statistic} ({v.where})" if m and v.where else (v.statistic if m else ""),
        "estimate [95% interval]": v.interval() if m else "",
        f"smallest effect detectable ({int(C.POWER * 100)}% power)": v.mde_text() if m else "",
        "co-criterion (must agree)": (v.co_text() or "none") if m else "",
        "control run": (v.control_text() or f"within the criterion: {v.control}") if m else "",
        "the paper's sources say": PAPER_RESULTS[v.claim]} for v, m in zip(verdicts, measured)])
    for name, control in (controls or {}).items():
        table.insert(len(table.columns) - 1, f"{name} fine-tuning{f' on {on}' if on else ''} (control)",
                     control_column(verdicts, control))
    return table
