"""The book's MLM encoder (``model="mlm"``): shipping a pre-training run, its checkpoints, and the geometry of
its space along pre-training (the pre-training chapter).

``models/mlm/`` in the repository holds what :func:`ship` copies from a finished ``helpers.pretrain`` run::

    model.safetensors, config.json, tokenizer files    the final BertForMaskedLM, float32
    checkpoints/frac-F/                                 weights after a fraction F of training, float16 (half the
                                                        bytes; hidden states are computed in float32 after loading)
    record.json                                         the run's record: config, code digest, corpus, timings,
                                                        machine, first training losses, final held-out scores
    log.csv                                             training loss; held-out MLM loss and masked accuracy

The random initialisation (fraction 0) is not shipped: it is regenerated from the record's seed into the cache
(:func:`checkpoint_dirs`), bit for bit what the run started from.

``make pretrain`` (``python -m helpers.mlm --rebuild``) pre-trains the default config from the corpus (resuming
a killed run) and ships it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache, extract as E, layerwise as LW, levers, paths, pretrain as P, progress

SHIPPED = paths.MODELS / "mlm"


def ship(run: P.PretrainRun, dest: Path = SHIPPED, checkpoint_dtype: str = "float16") -> Path:
    """Copy a finished pre-training run into the repository (final weights float32, intermediate checkpoints
    in ``checkpoint_dtype`` without the initialisation, record, log, vocabulary), written to a temporary
    sibling and renamed into place."""
    import torch
    from transformers import AutoModelForMaskedLM

    tmp = dest.with_name(f".{dest.name}-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(run.model_dir, tmp)
    for frac, d in run.checkpoints[:-1]:
        if frac == 0.0:
            continue
        m = AutoModelForMaskedLM.from_pretrained(str(d), use_safetensors=True, local_files_only=True)
        out = tmp / "checkpoints" / d.name
        m.to(getattr(torch, checkpoint_dtype)).save_pretrained(str(out))
        for f in d.glob("tokenizer*"):
            shutil.copy2(f, out / f.name)
    shutil.copy2(run.path / "log.csv", tmp / "log.csv")
    cfg = config_of(run.record)
    vocab = P.vocabulary_file(cfg)
    if vocab.resolve() != (dest.parent / vocab.name).resolve():   # the vocabulary the run was keyed by, beside
        shutil.copy2(vocab, dest.parent / vocab.name)
    cache.write_json_atomic(tmp / "record.json", {**run.record, "checkpoint_dtype": checkpoint_dtype,
                                                  "artifact": run.path.name, "vocabulary_file": vocab.name})
    for name in ("levers.csv", "levers.json"):           # the lever table (helpers.levers) stays beside the weights
        if (dest / name).is_file():
            shutil.copy2(dest / name, tmp / name)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


def config_of(record: dict) -> P.PretrainConfig:
    """The :class:`~helpers.pretrain.PretrainConfig` a record was made with."""
    c = {k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()}
    return P.PretrainConfig(**c)


def record(dest: Path = SHIPPED) -> dict:
    return json.loads((dest / "record.json").read_text())


def log(dest: Path = SHIPPED) -> pd.DataFrame:
    return pd.read_csv(dest / "log.csv")


def initialisation_dir(dest: Path = SHIPPED) -> Path:
    """The run's random initialisation (fraction 0), regenerated from the record's config and seed into the
    cache (``helpers.pretrain.new_model``), with the shipped tokenizer."""
    from transformers import AutoTokenizer

    rec = record(dest)
    cfg = config_of(rec)
    out = cache.artifact_dir("pretrain-init", "mlm-init", {"config": rec["config"], "code": P.code_digest()})
    if not cache.is_done(out):
        model = P.new_model(cfg)
        with cache.building(out, {"config": rec["config"]}) as tmp:
            P.save_model(model, AutoTokenizer.from_pretrained(str(dest), local_files_only=True), tmp, cfg)
    return out


def checkpoint_dirs(dest: Path = SHIPPED) -> list[tuple[float, Path]]:
    """(fraction of training, model directory) from the initialisation to the final weights."""
    d = dest / "checkpoints"
    shipped = sorted((float(p.name.split("-")[1]), p) for p in d.glob("frac-*")) if d.is_dir() else []
    return [(0.0, initialisation_dir(dest)), *shipped, (1.0, dest)]


TRAJECTORY_METRICS = ("log10 I(W)", "log10 I(W) single-sign", "average cosine", "IsoScore", "dominant: rogue",
                      "dominant: pcs_50", "mean norm", "norm of the mean")
"""What the pre-training chapter follows per layer and checkpoint (``geometry.metric_suite`` names)."""


def trajectory(task: str = "mr", split: str = "test", n_sentences: int = 400, sample_seed: int = 0,
               max_length: int = 128, reference: str | None = "minilm", dest: Path = SHIPPED,
               metrics=TRAJECTORY_METRICS) -> pd.DataFrame:
    """Per checkpoint and layer, the metrics of :data:`TRAJECTORY_METRICS` on the same held-out sentences
    (``geometry.metric_suite`` via ``layerwise.layer_metrics``, cached), with the fraction of training and the
    tokens seen; the ``reference`` model's values on the same sentences as ``checkpoint="reference"`` rows."""
    rec = record(dest)
    total = rec["tokens_seen"]
    frames = []
    kw = dict(task=task, split=split, n_sentences=n_sentences, sample_seed=sample_seed, max_length=max_length)
    points = checkpoint_dirs(dest)
    for k, (frac, d) in enumerate(points):
        t0 = time.time()
        ex = E.extract(str(d), **kw)
        m = LW.layer_metrics(ex, seed=sample_seed)
        frames.append(m[m.metric.isin(metrics)].assign(model="mlm", checkpoint=f"{frac:.2f}", fraction=frac,
                                                       tokens=int(round(frac * total)), n_tokens=ex.meta["n_tokens"]))
        progress.say(f"[pre-training geometry] checkpoint {k + 1}/{len(points)} (fraction {frac:.2f}) in "
                     f"{progress.duration(time.time() - t0)}")
    if reference:
        ex = E.extract(reference, **kw)
        m = LW.layer_metrics(ex, seed=sample_seed)
        frames.append(m[m.metric.isin(metrics)].assign(model=reference, checkpoint="reference", fraction=np.nan,
                                                       tokens=np.nan, n_tokens=ex.meta["n_tokens"]))
    return pd.concat(frames, ignore_index=True)


def recipe_sentence(rec: dict) -> str:
    """The recipe of a record, in words (every setting read from the record's config)."""
    c = rec["config"]
    pos = ("rotary position embeddings (RoFormer; Su et al. 2021)" if c.get("positions") == "rotary"
           else "BERT's learned absolute position embeddings")
    sched = (f"warm-up over {c['warmup_steps']:,} steps, constant, then linear decay to 0 over the last "
             f"{c['decay_fraction']:.0%} of the steps (warm-up-stable-decay, as ModernBERT)" if c.get("schedule") == "wsd"
             else f"warm-up over {c['warmup_steps']:,} steps, then linear decay to 0")
    return (f"**Recipe.** {pos}; MLM only, {c['mask_rate']:.0%} of the tokens (80% [MASK], 10% random, 10% kept), the "
            f"output layer on the masked positions only, no dropout while pre-training; packed sequences of "
            f"{c['seq_length']} tokens, batches of {c['batch_size']} sequences, {rec['steps']:,} optimizer steps; AdamW "
            f"(beta1 {c['betas'][0]}, beta2 {c['betas'][1]}, weight decay {c['weight_decay']}), peak learning rate "
            f"{c['learning_rate']:g}, {sched}; gradient clipping at {c['clip_norm']}. Low-compute choices of Cramming "
            f"(Geiping & Goldstein 2022) and the BabyLM winners, with the small-batch beta2 of Porian et al. (2024).")


def levers_record(dest: Path = SHIPPED) -> dict:
    """The lever table's record (``levers.json``: its arms' settings, steps, tokens per step, code digest)."""
    return json.loads((dest / "levers.json").read_text())


def levers_sentence(curves: pd.DataFrame, rec: dict) -> str:
    """What the lever table shows, decided from its numbers: the best arm at the last common step, each other
    arm's accuracy there, and where the shipped recipe stands against the bigram cloze."""
    last = levers.last_common_step(curves)
    at = levers.accuracy_at(curves, last)
    best, best_acc = at.index[0], float(at.iloc[0])
    chosen = next(iter(dict.fromkeys(curves.arm)))
    gaps = "; ".join(f"{a}: {v:.3f}" for a, v in at.items() if a != best)
    cloze = rec["baselines"]["bigram_cloze"]
    return (f"At step {last:,} the best arm is **{best}** ({best_acc:.3f} on held-out [MASK] positions; the others: "
            f"{gaps}). " + (f"The shipped recipe is that arm. " if best == chosen else
                            f"The shipped recipe ({chosen}) is not the best arm at this step. ")
            + f"The bigram cloze on the same positions scores {cloze:.3f}.")


def heldout_curve(dest: Path = SHIPPED) -> pd.DataFrame:
    """(step, tokens, held-out MLM loss, held-out masked accuracy) from the shipped log."""
    lg = log(dest)
    cols = ["step", "tokens", "heldout_loss", "heldout_mask_accuracy", "heldout_all_accuracy"]
    return lg.dropna(subset=["heldout_mask_accuracy"])[cols].reset_index(drop=True)


def checkpoint_table(traj: pd.DataFrame, dest: Path = SHIPPED, metrics=TRAJECTORY_METRICS) -> pd.DataFrame:
    """The last layer at every checkpoint (and the reference model's), with the held-out [MASK]-position
    accuracy logged nearest the checkpoint's step (within half the evaluation interval; "not evaluated" for the
    random initialisation, which the run does not evaluate)."""
    rec = record(dest)
    curve = heldout_curve(dest)
    steps, half = rec["steps"], rec["config"]["eval_every"] / 2
    is_last = traj.layer == traj.groupby("model").layer.transform("max")
    table = (traj[is_last].pivot_table(index=["model", "checkpoint"], columns="metric", values="value", dropna=False)
             .reindex(columns=list(metrics)).dropna(how="all"))

    def accuracy(model: str, checkpoint: str) -> str:
        if model != "mlm":
            return "not an MLM"
        step = float(checkpoint) * steps
        near = curve.iloc[(curve.step - step).abs().argsort()[:1]]
        if not len(near) or abs(float(near.step.iloc[0]) - step) > half:
            return "not evaluated"
        return f"{float(near.heldout_mask_accuracy.iloc[0]):.3f} (step {int(near.step.iloc[0]):,})"

    tokens = {c: f"{int(round(float(c) * rec['tokens_seen'])):,}" for c in table.index.get_level_values(1) if c != "reference"}
    out = table.round(3)
    out.insert(0, "held-out [MASK] accuracy", [accuracy(m, c) for m, c in table.index])
    out.insert(0, "tokens seen", [tokens.get(c, "") for _, c in table.index])
    return out


def against_reference(traj: pd.DataFrame, reference: str = "minilm") -> pd.DataFrame:
    """The final MLM model beside the reference model on the same sentences: each measure in the last layer and
    averaged over the transformer layers 1..L (layer 0, the embeddings, left out), one row per measure."""
    final = traj[(traj.model == "mlm") & (traj.fraction == 1.0)]
    ref = traj[traj.checkpoint == "reference"]
    cols = {}
    for name, d in (("mlm", final), (reference, ref)):
        if not len(d):
            continue
        piv = d.pivot_table(index="layer", columns="metric", values="value")
        cols[f"{name}: last layer"] = piv.loc[piv.index.max()]
        cols[f"{name}: mean of layers 1-{piv.index.max()}"] = piv.loc[piv.index >= 1].mean()
    out = pd.DataFrame(cols)
    return out.reindex([m for m in TRAJECTORY_METRICS if m in out.index])


def facts(traj: pd.DataFrame, collapse_cosine: float = 0.9) -> dict:
    """What the chapter's prose says, computed (never typed): collapse early in training, anisotropy rising
    with depth at the end, rogue dimensions, the last layer against the reference model."""
    mlm = traj[traj.model == "mlm"]
    piv = mlm.pivot_table(index=["fraction", "layer"], columns="metric", values="value")
    layers = sorted(mlm.layer.unique())
    upper = [l for l in layers if l >= 2] or layers[1:]      # "every layer above the first" (all for a 1-layer model)
    final = piv.loc[1.0]
    cos_upper = piv["average cosine"].unstack("layer")[upper].min(axis=1)     # per checkpoint: least collapsed upper layer
    collapsed = [f for f, v in cos_upper.items() if v > collapse_cosine]
    last = max(layers)
    ref = traj[traj.checkpoint == "reference"].pivot_table(index="layer", columns="metric", values="value")
    out = {
        "collapsed_fractions": collapsed,
        "collapse_peak_fraction": float(cos_upper.idxmax()),
        "collapse_peak_cosine": float(cos_upper.max()),
        "final_upper_min_cosine": float(cos_upper.loc[1.0]),
        "final_cosine_by_layer": {int(l): float(final.loc[l, "average cosine"]) for l in layers},
        "cosine_rises_with_depth": bool(final.loc[last, "average cosine"] > final.loc[1, "average cosine"]),
        "final_last": {k: float(final.loc[last, k]) for k in final.columns},
        "final_rogue_layers": int((final["dominant: rogue"] > 0).sum()),
        "first_rogue_fraction": next((float(f) for f, g in piv["dominant: rogue"].groupby(level=0) if (g > 0).any()), None),
    }
    if len(ref):
        out["reference_last"] = {k: float(ref.loc[ref.index.max(), k]) for k in ref.columns}
    return out


def summary_lines(f: dict, reference: str = "minilm") -> list[str]:
    """The chapter's findings as sentences, each decided by :func:`facts` (the numbers are the run's)."""
    cos = f["final_cosine_by_layer"]
    lines = []
    if f["collapsed_fractions"]:
        fr = ", ".join(f"{x:.0%}" for x in f["collapsed_fractions"])
        lines.append(f"**Early collapse.** At {fr} of pre-training every layer above the first has an average cosine "
                     f"above 0.9 (peak {f['collapse_peak_cosine']:.2f} at {f['collapse_peak_fraction']:.0%}): the "
                     f"degenerate phase of MLM training, where every token sits near one direction.")
    else:
        lines.append(f"**No collapse at the checkpoints kept.** The least similar upper layer peaks at an average "
                     f"cosine of {f['collapse_peak_cosine']:.2f} (at {f['collapse_peak_fraction']:.0%} of training), "
                     f"below 0.9.")
    lines.append(f"**The final model is {'past' if f['final_upper_min_cosine'] < 0.9 else 'still in'} that phase**: "
                 f"average cosine per layer " + ", ".join(f"{l}: {v:.2f}" for l, v in cos.items()) + ".")
    lines.append(("**Anisotropy rises with depth** (Ethayarajh 2019): the last layer's average cosine is above the first's."
                  if f["cosine_rises_with_depth"] else
                  "**Anisotropy does not rise with depth** here, unlike Ethayarajh's (2019) BERT: the last layer's "
                  "average cosine is not above the first's."))
    if f["first_rogue_fraction"] is not None:
        when = ("are there from the random initialisation on" if f["first_rogue_fraction"] == 0 else
                f"appear by {f['first_rogue_fraction']:.0%} of training")
        lines.append(f"**Rogue dimensions** (a dimension holding more than 10x its share of the average cosine; Timkey "
                     f"& van Schijndel 2021) {when}; at the end {f['final_rogue_layers']} of {len(cos)} layers have one.")
    else:
        lines.append("**No rogue dimension** (more than 10x its share of the cosine) at any checkpoint, unlike BERT-base.")
    last, ref = f["final_last"], f.get("reference_last")
    if ref:
        lines.append(f"**Against {reference}** (contrastive), last layer on the same sentences: average cosine "
                     f"{last['average cosine']:.2f} vs {ref['average cosine']:.2f}, log10 I(W) {last['log10 I(W)']:.1f} vs "
                     f"{ref['log10 I(W)']:.1f}, norm of the mean {last['norm of the mean']:.2f} vs "
                     f"{ref['norm of the mean']:.2f} (mean norm {last['mean norm']:.2f} vs {ref['mean norm']:.2f}): the MLM "
                     f"model's space is {'more' if last['log10 I(W)'] < ref['log10 I(W)'] else 'less'} anisotropic by I(W).")
    return lines


def main(argv=None) -> int:
    """``python -m helpers.mlm --rebuild`` (``make pretrain``): pre-train the default config (resuming a
    killed run), then ship it into ``models/mlm``; ``--ship`` ships a finished run without training."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.mlm", description=main.__doc__)
    ap.add_argument("--rebuild", action="store_true", help="pre-train (or resume) and ship")
    ap.add_argument("--ship", action="store_true", help="ship the finished run of the default config")
    a = ap.parse_args(argv)
    if not (a.rebuild or a.ship):
        ap.error("say --rebuild or --ship")
    t0 = time.time()
    cfg = P.PretrainConfig()
    if a.ship and not cache.is_done(P.run_dir(cfg)):
        print(f"error: no finished pre-training run at {P.run_dir(cfg)}; use --rebuild", file=sys.stderr)
        return 2
    run = P.pretrain(cfg)
    print(f"[pretrain] {run.path}: held-out [MASK] accuracy {run.record['final']['heldout_mask_accuracy']:.3f}, "
          f"loss {run.record['final']['heldout_loss']:.3f} ({progress.duration(time.time() - t0)})")
    print(f"[pretrain] shipped to {ship(run)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
