"""The claims ledger: every verdict of :mod:`helpers.claims` from the book's cached measurements, per layer
where a claim is measured per layer, and the tables the ledger chapter and the findings page show.

The measurements are those of chapters 03-05 (same parameters, same cached tables): C1, C3, C5 and C7 from
:func:`helpers.enhancement.measure` and C2 from :func:`helpers.structure.change_table` at every transformer
layer (:data:`helpers.claims.DECLARED_LAYERS`); C4 from :func:`helpers.directions.knowledge_table` and C6 from
the re-fitted classifiers, at the last layer.
"""
from __future__ import annotations

import pandas as pd

from . import claims as C, directions as D, enhancement as EN, structure as S, transforms as TR

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


def transformer_layers(iso: pd.DataFrame) -> list[int]:
    """The declared layers of :data:`helpers.claims.DECLARED_LAYERS`: 1..L of the measured table."""
    return list(range(1, int(iso.layer.max()) + 1))


def verdicts(configs: dict, n_sentences: int = 400, n_train_sentences: int = 400, methods=None, n_clusters: int = 27,
             max_fit_tokens: int | None = 20_000, extract_max_length: int = 128, tables: dict | None = None) -> list:
    """C1-C7 for fine-tuning configurations ``{(task, seed): FinetuneConfig}`` (the tables of chapter 05 are
    read from the cache, or passed as ``tables``)."""
    methods = EN.check_methods(list(TR.METHODS if methods is None else methods))
    if tables is None:
        tables = EN.measure(configs, n_sentences, n_train_sentences, methods, n_clusters, max_fit_tokens,
                            extract_max_length)
    iso, scores, dirs = tables["iso"], tables["scores"], tables["directions"]
    layers = transformer_layers(iso)
    last = layers[-1]
    paper = [m for m in TR.PAPER_METHODS if m in methods]
    log_iw = iso[iso.metric == "log10 I(W)"]
    out = [
        C.by_layer(C.c1_isotropy, log_iw[log_iw.method == "none"].drop(columns=["method", "metric"]), layers=layers,
                   section="02 / 05"),
        C.by_layer(C.c2_structure, S.change_table(configs, n_sentences, extract_max_length).drop(columns="other_seed"),
                   layers=layers, section="03 / claim C2"),
        C.by_layer(C.c3_directions, dirs, layers=layers, section="04 / counts"),
        C.by_layer(C.c4_knowledge, D.knowledge_table(configs, n_sentences, n_train_sentences, extract_max_length)
                   .assign(layer=last), section="04 / knowledge"),
        C.by_layer(C.c5_enhancement_isotropy, log_iw.drop(columns="metric"), paper, layers=layers,
                   section="05 / isotropy"),
        C.by_layer(C.c6_task_effect, scores.assign(layer=last), paper, section="05 / task score"),
    ]
    local = log_iw[(log_iw.state == "pre-trained") & log_iw.method.isin(["ZM", EN.CONTROL, "Clustering+ZM"])]
    if {"ZM", "Clustering+ZM"} <= set(methods):
        out.append(C.by_layer(C.c7_local_isotropy, local.drop(columns="state"), layers=layers,
                              section="05 / local vs global"))
    else:
        out.append(C.not_measured("C7", C.C7_STATEMENT, "05 / local vs global"))
    return out


def layer_grid(verdicts) -> pd.DataFrame:
    """Claim x layer: each claim's verdict in every layer it was measured in, and its claim-level verdict."""
    rows = {}
    for v in verdicts:
        row = {f"layer {int(r.layer)}": r.verdict for r in v.layers.itertuples()} if not v.layers.empty else {}
        rows[v.claim] = {**row, "claim-level": v.verdict}
    grid = pd.DataFrame(rows).T
    cols = sorted([c for c in grid if c.startswith("layer ")], key=lambda c: int(c.split()[1]))
    return grid[[*cols, "claim-level"]].fillna("")


def findings(verdicts) -> pd.DataFrame:
    """One row per claim for a reader: the claim, the book's verdict with its headline number, the paper's."""
    return pd.DataFrame([{
        "claim": v.claim, "statement": v.statement, "verdict here": v.verdict,
        "headline": f"{v.interval()} ({v.where})" if v.verdict != C.NOT_MEASURED else "",
        "the paper's sources say": PAPER_RESULTS[v.claim]} for v in verdicts])
