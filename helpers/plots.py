"""Figure style and the book's recurring plots (seaborn/matplotlib, no state beyond the theme)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PRE_POST = {"pre-trained": "#4C72B0", "fine-tuned": "#DD8452"}

METHOD_COLORS = {"none": "#000000", "ZM": "#0173B2", "Clustering+ZM": "#DE8F05", "ABTT": "#029E73",
                 "Cluster-based": "#6A3D9A", "Whitening": "#CC78BC", "Soft ZCA": "#CA9161",
                 "random partitions": "#949494"}
"""One colour per enhancement method in every figure of the book (the control grey; Clustering+ZM orange and
the cluster-based method purple, so the two cluster methods are not told apart by shade alone)."""
METHOD_DASHES = {m: "" for m in METHOD_COLORS} | {"random partitions": (4, 2), "ZM": (1, 1)}
"""Dash patterns: the control dashed and ZM dotted, so that lines lying on each other stay visible."""
METHOD_MARKERS = {"none": "o", "ZM": "s", "Clustering+ZM": "^", "ABTT": "D", "Cluster-based": "v", "Whitening": "P",
                  "Soft ZCA": "*", "random partitions": "X"}
"""One (filled) marker per method: a method whose line lies under another's still shows its points."""


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
