"""Layer-wise geometry of an extraction: the metric suite for every layer, cached as CSV.

The table has one row per (layer, metric); :func:`compare` stacks a pre-trained and a fine-tuned
extraction of the same tokens.  Cached under ``<cache>/metrics/<extraction>-<key>/table.csv``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import cache, geometry, intervals, progress
from .extract import Extraction, check_aligned



def layer_metrics(ex: Extraction, seed: int = 0) -> pd.DataFrame:
    """``geometry.metric_suite`` for every layer of ``ex`` (columns: layer, metric, value), cached."""
    def compute():
        t = ex.tokens
        rows = []
        for layer in progress.bar(range(ex.n_layers + 1), desc="layers", unit="layer"):
            X = np.asarray(ex.hidden(layer))
            for k, v in geometry.metric_suite(X, t.token_id.values, t.sentence.values, seed=seed).items():
                rows.append({"layer": layer, "metric": k, "value": float(v)})
        return pd.DataFrame(rows)

    return cache.cached_table("metrics", ex.path.name, {"extraction": ex.path.name, "seed": seed,
                                                        "code": cache.code_digest("layerwise")}, compute)


def compare(pre: Extraction, post: Extraction, seed: int = 0) -> pd.DataFrame:
    """Layer metrics of two aligned extractions, with a ``state`` column (pre-trained / fine-tuned)."""
    check_aligned(pre, post)
    return pd.concat([layer_metrics(pre, seed).assign(state="pre-trained"),
                      layer_metrics(post, seed).assign(state="fine-tuned")], ignore_index=True)


# +1: a higher value means a more isotropic (evenly spread) space; -1: a lower value does.
ISOTROPY_DIRECTION = {"log10 I(W)": +1, geometry.SCALE_FREE: +1, "average cosine": -1, "IsoScore": +1, "IsoScore* (zeta=0.2)": +1,
                      "effective rank": +1, "participation ratio": +1, "EEE": -1, "VRM": -1, "uniformity": -1}


def summarize(df: pd.DataFrame, by=("task", "state", "layer", "metric"), replicate: str = "seed") -> pd.DataFrame:
    """Mean over replicates with its 95% interval (``low``, ``high``: :func:`helpers.intervals.level_interval`,
    which keeps a bounded measure's interval inside its range; NaN for one replicate), sd and n.

    The unit of replication is the fine-tuning seed (column ``replicate``): rows of one replicate (several
    sentence samples) are averaged first, so n counts fine-tuning seeds, never samples crossed with seeds."""
    if replicate not in df.columns:
        raise ValueError(f"the table has no {replicate!r} column (the replicate: one fine-tuning seed per value)")
    per_replicate = df.groupby([*by, replicate]).value.mean()
    rows = []
    for key, v in per_replicate.groupby(list(by)):
        cell = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        _, low, high, _ = intervals.level_interval(v.to_numpy(), cell.get("metric", ""))
        rows.append({**cell, "mean": v.mean(), "sd": v.std(), "n": v.count(), "low": low, "high": high})
    return pd.DataFrame(rows)


def isotropy_verdicts(last: pd.DataFrame) -> pd.DataFrame:
    """Per task and isotropy metric: did fine-tuning make the space more isotropic by that metric?

    ``last`` is :func:`summarize` output for one layer.  Returns task, metric, pre, post, more_isotropic.
    """
    w = last.pivot_table(index=["task", "metric"], columns="state", values="mean").reset_index()
    w = w[w.metric.isin(ISOTROPY_DIRECTION)]
    w["more_isotropic"] = np.sign(w["fine-tuned"] - w["pre-trained"]) * w.metric.map(ISOTROPY_DIRECTION) > 0
    return w.rename(columns={"pre-trained": "pre", "fine-tuned": "post"})[["task", "metric", "pre", "post", "more_isotropic"]]
