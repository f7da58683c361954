"""Layer-wise geometry of an extraction: the metric suite for every layer, cached as CSV.

The table has one row per (layer, metric); :func:`compare` stacks a pre-trained and a fine-tuned
extraction of the same tokens.  Cached under ``<cache>/metrics/<extraction>-<key>/table.csv``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from . import cache, geometry, intervals, progress
from .extract import Extraction, check_aligned



LAYER0_NOTE = ("Layer 0 of a model without position information in its embedding output (rotary positions: the "
               "book's MLM encoder) repeats a token's vector wherever the token recurs, so distance-ratio measures "
               "(TwoNN) divide by zero there: their NaN or infinity stays in the table, without a warning.")


def layer_metrics(ex: Extraction, seed: int = 0) -> pd.DataFrame:
    """``geometry.metric_suite`` for every layer of ``ex`` (columns: layer, metric, value), cached
    (:data:`LAYER0_NOTE`)."""
    def compute():
        import warnings

        t = ex.tokens
        rows = []
        for layer in progress.bar(range(ex.n_layers + 1), desc="layers", unit="layer"):
            X = np.asarray(ex.hidden(layer))
            with warnings.catch_warnings():   # see LAYER0_NOTE
                warnings.simplefilter("ignore", RuntimeWarning)
                suite = geometry.metric_suite(X, t.token_id.values, t.sentence.values, seed=seed)
            rows += [{"layer": layer, "metric": k, "value": float(v)} for k, v in suite.items()]
        return pd.DataFrame(rows)

    return cache.cached_table("metrics", ex.path.name, {"extraction": ex.path.name, "seed": seed,
                                                        "code": cache.code_digest("layerwise")}, compute)


def model_geometry(extractions: dict, seed: int = 0) -> pd.DataFrame:
    """The pre-trained geometry of several models on the same sentences, side by side: :func:`layer_metrics` of
    each ``{model: Extraction}``, with columns model, layer, depth (layer / the model's last layer: models of
    different depth on one axis), metric, value."""
    frames = []
    for name, ex in extractions.items():
        t = layer_metrics(ex, seed)
        frames.append(t.assign(model=name, depth=t.layer / ex.n_layers))
    return pd.concat(frames, ignore_index=True)[["model", "layer", "depth", "metric", "value"]]


def pretrained_geometry(model_names, task: str, n_sentences: int = 400, max_length: int = 128, **data) -> pd.DataFrame:
    """:func:`model_geometry` of each model's pre-trained extraction of the same held-out sentences: the test
    split of ``task``, sampled like replicate 0 of the chapters (so chapter 00 and the findings page share it);
    ``data``: the split settings (``helpers.finetune.data_settings``)."""
    from .extract import extract, replicate_sample_seed

    seed = replicate_sample_seed(0)
    kw = dict(task=task, split="test", n_sentences=n_sentences, sample_seed=seed, max_length=max_length, **data)
    return model_geometry({m: extract(m, **kw) for m in dict.fromkeys(model_names)}, seed=seed)


GEOMETRY_AT_A_GLANCE = ("average cosine", "log10 I(W)", geometry.SCALE_FREE, "norm of the mean", "mean norm",
                        "dominant: rogue")
"""What the book reports of each model's pre-trained space (chapter 00 and the findings page): the anisotropy
of Ethayarajh (2019), I(W) of Mu & Viswanath (2018) raw and of unit-length rows, the norms I(W) moves with, and
the rogue dimensions of Timkey & van Schijndel (2021)."""


def geometry_at_a_glance(geometry_table: pd.DataFrame, metrics=GEOMETRY_AT_A_GLANCE) -> pd.DataFrame:
    """Per model and metric of :func:`model_geometry`: the last layer and the mean over the transformer layers
    1..L (columns model, metric, last layer, mean of layers 1..L)."""
    d = geometry_table[geometry_table.metric.isin(metrics)]
    rows = []
    for (model, metric), g in d.groupby(["model", "metric"], sort=False):
        last = g.layer.max()
        rows.append({"model": model, "metric": metric, "last layer": float(g.value[g.layer == last].iloc[0]),
                     "mean of layers 1..L": float(g.value[g.layer >= 1].mean())})
    out = pd.DataFrame(rows)
    out["metric"] = pd.Categorical(out.metric, categories=list(metrics), ordered=True)
    out["model"] = pd.Categorical(out.model, categories=list(dict.fromkeys(geometry_table.model)), ordered=True)
    return out.sort_values(["metric", "model"], kind="stable").reset_index(drop=True)


def compare(pre: Extraction, post: Extraction, seed: int = 0) -> pd.DataFrame:
    """Layer metrics of two aligned extractions, with a ``state`` column (pre-trained / fine-tuned)."""
    check_aligned(pre, post)
    return pd.concat([layer_metrics(pre, seed).assign(state="pre-trained"),
                      layer_metrics(post, seed).assign(state="fine-tuned")], ignore_index=True)


def finetuning_metrics(configs: dict, split: str = "test", n_sentences: int = 400, samples_per_seed: int = 1,
                       max_length: int = 128, **data) -> pd.DataFrame:
    """Chapter 02's measurements for ``{(model, task, seed): FinetuneConfig}``
    (:func:`helpers.finetune.configs_for_models`): per replicate and each of its ``samples_per_seed`` sentence
    samples (seeded by the replicate: :func:`helpers.extract.replicate_sample_seed`), :func:`compare` of the
    pre-trained model and the run on the same held-out sentences of ``split``; ``data``: the runs' split
    settings.  Columns: model, task, seed, sample_seed, n_tokens, state, layer, depth (layer / last layer),
    metric, value."""
    from . import finetune as F
    from .extract import extract, replicate_sample_seed

    frames = []
    for (m, t, s), cfg in configs.items():
        run = F.finetune(cfg)
        for j in range(samples_per_seed):
            ss = replicate_sample_seed(s, j)
            kw = dict(task=t, split=split, n_sentences=n_sentences, sample_seed=ss, max_length=max_length, **data)
            pre, post = extract(m, **kw), extract(run, **kw)
            d = compare(pre, post, seed=ss)
            frames.append(d.assign(model=m, task=t, seed=s, sample_seed=ss, n_tokens=pre.meta["n_tokens"],
                                   depth=d.layer / pre.n_layers))
    return pd.concat(frames, ignore_index=True)


# +1: a higher value means a more isotropic (evenly spread) space; -1: a lower value does.
ISOTROPY_DIRECTION = {"log10 I(W)": +1, geometry.SCALE_FREE: +1, "average cosine": -1, "IsoScore": +1, "IsoScore* (zeta=0.2)": +1,
                      "effective rank": +1, "participation ratio": +1, "EEE": -1, "VRM": -1, "uniformity": -1}


@lru_cache(maxsize=64)
def _dims(model: str) -> int | None:
    """The hidden size of ``model`` (a count of its directions is at most that), None where it cannot be read;
    read from its config once per process (:func:`summarize` asks for every cell)."""
    from . import models

    try:
        return int(models.model_config(model).hidden_size)
    except Exception:        # a model whose card cannot be read here: its counts keep only their lower bound
        return None


def summarize(df: pd.DataFrame, by=("task", "state", "layer", "metric"), replicate: str = "seed") -> pd.DataFrame:
    """Mean over replicates with its 95% interval (``low``, ``high``: :func:`helpers.intervals.level_interval`,
    which keeps a bounded measure's interval inside its range, counts of directions within the model's dimension
    when ``by`` has a ``model`` column; NaN for one replicate), sd and n.

    The unit of replication is the fine-tuning seed (column ``replicate``): rows of one replicate (several
    sentence samples) are averaged first, so n counts fine-tuning seeds, never samples crossed with seeds."""
    if replicate not in df.columns:
        raise ValueError(f"the table has no {replicate!r} column (the replicate: one fine-tuning seed per value)")
    per_replicate = df.groupby([*by, replicate]).value.mean()
    rows = []
    for key, v in per_replicate.groupby(list(by)):
        cell = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        _, low, high, _ = intervals.level_interval(v.to_numpy(), cell.get("metric", ""),
                                                   dims=_dims(cell["model"]) if "model" in cell else None)
        rows.append({**cell, "mean": v.mean(), "sd": v.std(), "n": v.count(), "low": low, "high": high})
    return pd.DataFrame(rows)


def isotropy_verdicts(last: pd.DataFrame) -> pd.DataFrame:
    """Per task and isotropy metric: did fine-tuning make the space more isotropic by that metric?

    ``last`` is :func:`summarize` output for one layer (per model, when it has a ``model`` column).  Returns
    (model,) task, metric, pre, post, more_isotropic.
    """
    keys = [c for c in ("model", "task", "metric") if c in last.columns]
    w = last.pivot_table(index=keys, columns="state", values="mean").reset_index()
    w = w[w.metric.isin(ISOTROPY_DIRECTION)]
    w["more_isotropic"] = np.sign(w["fine-tuned"] - w["pre-trained"]) * w.metric.map(ISOTROPY_DIRECTION) > 0
    return w.rename(columns={"pre-trained": "pre", "fine-tuned": "post"})[[*keys, "pre", "post", "more_isotropic"]]
