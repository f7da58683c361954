"""Figure style and the book's recurring plots (seaborn/matplotlib, no state beyond the theme)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PRE_POST = {"pre-trained": "#4C72B0", "fine-tuned": "#DD8452"}
"""The book's one colour rule: blue is the pre-trained model and orange the fine-tuned one, in every figure; no
other category is drawn in blue or orange.  Black is the unprocessed reference (or a model's own head), grey a
control or a floor; every other category (method, task, structure, seed pair, split) takes :data:`OTHER`."""

OTHER = ("#009E73", "#882255", "#8C564B", "#AA4499", "#17BECF", "#E41A1C", "#117733", "#4D4D4D", "#6B8E23", "#E6AB02")
"""Colours for categories that are not the model state (green, wine, brown, magenta, cyan, red, dark green, dark
grey, olive, gold): none of them is near :data:`PRE_POST`'s blue or orange (tested: RGB distance above 80); ten, so
that two categories of one figure (five token types, four frequency buckets) need no colour twice."""
CONTROL = "#949494"
"""Controls and floors (random partitions, random directions, another k-means seed, the majority class)."""

METHOD_COLORS = {"none": "#000000", "ZM": OTHER[0], "Clustering+ZM": OTHER[1], "ABTT": OTHER[2],
                 "Cluster-based": OTHER[4], "Whitening": OTHER[3], "Soft ZCA": OTHER[5],
                 "random partitions": CONTROL}
"""One colour per enhancement method in every figure of the book (the control grey; Clustering+ZM wine and the
cluster-based method cyan, with their own markers, so the two cluster methods are not told apart by shade
alone)."""
METHOD_DASHES = {m: "" for m in METHOD_COLORS} | {"random partitions": (4, 2), "ZM": (1, 1)}
"""Dash patterns: the control dashed and ZM dotted, so that lines lying on each other stay visible."""
METHOD_MARKERS = {"none": "o", "ZM": "s", "Clustering+ZM": "^", "ABTT": "D", "Cluster-based": "v", "Whitening": "P",
                  "Soft ZCA": "*", "random partitions": "X"}
"""One (filled) marker per method: a method whose line lies under another's still shows its points."""


def palette(names, start: int = 0) -> dict:
    """{name: colour} for a category other than the model state (tasks, structures, seed pairs, splits), in the
    order given, from :data:`OTHER` (cycled past its length) from its colour ``start`` on: two categories in one
    figure take different ``start`` so that no colour means two things."""
    names = list(dict.fromkeys(names))
    return {n: OTHER[(start + i) % len(OTHER)] for i, n in enumerate(names)}


def facet(several: bool, column: str = "task") -> str:
    """The column a chapter's figures facet by: the task (``column``) alone, or "model | task" when the chapter
    compares several models (:func:`by_model` fills it)."""
    return f"model | {column}" if several else column


def by_model(d, several: bool, column: str = "task"):
    """``d`` with the column :func:`facet` names: "minilm | mr" (model and ``column``) when a chapter compares
    several models, so that a figure faceted by it shows each model on each task side by side; ``d`` as it is
    otherwise."""
    return d.assign(**{facet(several, column): d["model"].astype(str) + " | " + d[column].astype(str)}) if several else d


def setup() -> None:
    """The book's figure theme (called once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 96, "savefig.dpi": 110, "figure.figsize": (7.5, 4.2),
                         "axes.titlesize": "medium"})


def zipf(ax, counts: np.ndarray, edges=(100, 1_000, 10_000), labels=None):
    """Rank-frequency (Zipf) plot of token counts on log-log axes, frequency-bucket edges marked."""
    c = np.sort(np.asarray(counts))[::-1]
    c = c[c > 0]
    ranks = np.arange(1, len(c) + 1)
    ax.loglog(ranks, c, lw=1.5)
    for e in edges:
        ax.axvline(e, color="grey", ls=":", lw=1)
    ax.set_xlabel("frequency rank of the token id")
    ax.set_ylabel("count in the corpus")
    return ax
