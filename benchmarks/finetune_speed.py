"""Benchmark: a default fine-tuning step against this machine's float32 matmul peak, measured in the same run.

What it measures, on the default recipe (``helpers.finetune.FinetuneConfig()``: MiniLM on MR, batch 16,
dynamic padding, length-grouped batches, AdamW):

- FLOPs of forward + backward of real batches, **counted** with ``torch.utils.flop_counter.FlopCounterMode``
  (matmuls and attention; element-wise work is not counted, so the ratio is the matmul efficiency);
- a step's breakdown: data (collating a padded batch), forward, backward, optimizer (``zero_grad`` + ``step``),
  for each optimizer implementation available (``torch.optim.AdamW`` for-each and fused);
- tokens per second of the step loop and of a real ``Trainer`` run (``helpers.finetune.finetune`` on a
  capped training set in a temporary cache: evaluation and logging included);
- every rate as a fraction of the peak FLOP/s of ``torch.mm`` on square float32 matrices.

Not a test: ratios are printed, not asserted.

    python benchmarks/finetune_speed.py [--steps 40] [--trainer-examples 960]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ISOBOOK_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch


from peak import matmul_peak  # noqa: E402  (benchmarks/peak.py: run as a script, its folder is on sys.path)


def batches_of_default_run(n_steps: int, model: str = "minilm"):
    """The first ``n_steps`` padded batches of the default MR run, in its length-grouped order (as lists of
    encoded examples; collated inside the timed loop)."""
    from transformers import DataCollatorWithPadding, set_seed
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from helpers import finetune as F, models, tasks

    cfg = F.FinetuneConfig(model=model)
    mspec, tspec, df = F.validate(cfg)
    set_seed(cfg.seed)
    tok = models.load_tokenizer(mspec)
    train = F.subsample(tasks.split(df, "train"), cfg.train_size, cfg.seed)
    enc = tok(train.text.tolist(), truncation=True, max_length=cfg.max_length)
    lengths = [len(x) for x in enc["input_ids"]]
    g = torch.Generator().manual_seed(cfg.seed)
    order = list(LengthGroupedSampler(cfg.batch_size, lengths=lengths, generator=g))
    feats = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
              "token_type_ids": enc["token_type_ids"][i], "labels": int(train.label.iloc[i])} for i in order]
    groups = [feats[i:i + cfg.batch_size] for i in range(0, len(feats), cfg.batch_size)][:n_steps]
    return cfg, mspec, DataCollatorWithPadding(tok), groups


def counted_flops(model, batch) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = model(**batch)
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def time_steps(model, opt, collate, groups) -> dict:
    """Seconds per phase over the batches (after one warm-up step), and the real tokens."""
    parts = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    tokens = 0
    for k, group in enumerate(groups):
        t0 = time.perf_counter()
        batch = collate(group)
        t1 = time.perf_counter()
        loss = model(**batch).loss
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        if k == 0:
            continue   # warm-up (allocations, optimizer state)
        tokens += int(batch["attention_mask"].sum())
        for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[name] += dt
    parts["tokens"] = tokens
    parts["steps"] = len(groups) - 1
    return parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40, help="steps of the timed loop (after one warm-up)")
    ap.add_argument("--model", default="minilm", help="the model to fine-tune (helpers.models: minilm, mlm, ...)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--trainer-examples", type=int, default=960, help="training examples of the Trainer run (0: skip)")
    args = ap.parse_args()
    os.environ["ISOBOOK_CACHE"] = tempfile.mkdtemp(prefix="isobench-")
    from helpers import finetune as F, models

    if args.threads:
        torch.set_num_threads(args.threads)
    peak = matmul_peak()
    cfg, mspec, collate, groups = batches_of_default_run(args.steps + 1, args.model)
    print(f"machine: {torch.get_num_threads()} torch threads; float32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    torch.manual_seed(0)
    model = models.load_classifier(mspec, 2).train()
    flops, tok_counted = 0.0, 0
    for group in groups[1:]:
        batch = collate(group)
        flops += counted_flops(model, batch)
        tok_counted += int(batch["attention_mask"].sum())
    per_token = flops / tok_counted
    padded = sum(int(collate(g)["attention_mask"].numel()) for g in groups[1:])
    print(f"default run: {args.model} on MR, batch {cfg.batch_size}, {args.steps} length-grouped steps, {tok_counted} real "
          f"tokens ({tok_counted / padded:.2f} of the padded positions)")
    print(f"counted FLOPs (forward + backward, FlopCounterMode): {flops / args.steps / 1e9:.2f} GFLOP per step, "
          f"{per_token / 1e6:.1f} MFLOP per real token")
    results = {}
    impls = [("AdamW for-each (adamw_torch, before)", dict(foreach=True)),
             ("AdamW fused (adamw_torch_fused)", dict(fused=True))]
    for name, kw in impls:
        torch.manual_seed(0)
        model = models.load_classifier(mspec, 2).train()
        try:
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, **kw)
        except (RuntimeError, TypeError) as e:
            print(f"  {name}: not available ({e})")
            continue
        r = time_steps(model, opt, collate, groups)
        total = sum(r[p] for p in ("data", "forward", "backward", "optimizer"))
        results[name] = r
        print(f"\n{name}: {r['tokens'] / total:,.0f} tokens/s, {r['steps'] / total:.2f} steps/s; "
              f"achieved {per_token * r['tokens'] / total / 1e9:.1f} GFLOP/s = {per_token * r['tokens'] / total / peak:.2f} of peak")
        for p in ("data", "forward", "backward", "optimizer"):
            share = r[p] / total
            extra = ""
            if p in ("forward", "backward"):
                fl = per_token * r["tokens"] * (1 / 3 if p == "forward" else 2 / 3)
                extra = f"  ({fl / r[p] / peak:.2f} of peak, at the usual 1:2 split of the counted FLOPs)"
            print(f"  {p:<9} {1000 * r[p] / r['steps']:7.1f} ms/step  {share:5.1%}{extra}")
        fb = r["forward"] + r["backward"]
        print(f"  forward + backward alone: {per_token * r['tokens'] / fb / peak:.2f} of peak")
    if args.trainer_examples:
        t0 = time.perf_counter()
        run = F.finetune(model=args.model, train_size=args.trainer_examples, eval_size=100, checkpoints=0)
        wall = time.perf_counter() - t0
        n_tok = run.metrics["train_examples"] * np.mean([len(g[0]["input_ids"]) for g in groups[1:]])
        secs = run.metrics["train_seconds"]
        print(f"\nTrainer run ({args.trainer_examples} examples, {run.total_steps} steps, evaluation included): "
              f"{secs:.1f} s of training ({wall:.1f} s with setup), about {run.metrics['train_examples'] / secs:,.0f} "
              f"examples/s; {per_token * n_tok / secs / peak:.2f} of peak (tokens estimated from the batches above)")


if __name__ == "__main__":
    main()
