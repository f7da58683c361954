"""Benchmark: MLM pre-training throughput against this machine's float32 matmul peak, measured in the same run.

A step of the default recipe (``helpers.pretrain.PretrainConfig()``: 8 packed sequences of 128 tokens, 15%
masked, rotary positions, the MLM head on masked positions only), on random token ids (the cost does not depend on the text):

- FLOPs of forward + backward, **counted** with ``torch.utils.flop_counter.FlopCounterMode``;
- a step's breakdown: data (rows and masks), forward, backward, clipping, optimizer (AdamW for-each, the
  recipe's, and fused for comparison);
- tokens per second and the achieved FLOP/s as a fraction of the peak of ``torch.mm`` on square float32 matrices.

Not a test: ratios are printed, not asserted.

    python benchmarks/pretrain_speed.py [--steps 12]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from helpers import pretrain as P


from peak import matmul_peak  # noqa: E402  (benchmarks/peak.py: run as a script, its folder is on sys.path)


def batch(cfg, rows, step):
    ids = rows[P.batch_rows(len(rows), cfg.batch_size, cfg.seed, step)].astype(np.int64)
    inputs, pos, targets = P.mask_batch(ids, cfg.mask_rate, cfg.vocab_size, len(P.SPECIALS), cfg.seed, step)
    return torch.from_numpy(inputs), torch.from_numpy(pos), torch.from_numpy(targets)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    cfg = P.PretrainConfig()
    rng = np.random.default_rng(0)
    rows = rng.integers(len(P.SPECIALS), cfg.vocab_size, size=(cfg.batch_size * (args.steps + 2), cfg.seq_length))
    peak = matmul_peak()
    print(f"machine: {torch.get_num_threads()} torch threads; float32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    model = P.new_model(cfg).train()
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss, *_ = P.masked_loss(model, *batch(cfg, rows, 0))
        loss.backward()
    flops = float(counter.get_total_flops())
    model.zero_grad(set_to_none=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {type(model).__name__} {cfg.layers} x {cfg.hidden_size}, vocabulary {cfg.vocab_size}, {n_params / 1e6:.1f}M parameters; "
          f"step: {cfg.batch_size} x {cfg.seq_length} = {cfg.tokens_per_step} tokens, ~{cfg.mask_rate:.0%} predicted")
    print(f"counted FLOPs (forward + backward): {flops / 1e9:.2f} GFLOP per step = {flops / cfg.tokens_per_step / 1e6:.1f} "
          f"MFLOP per token (6 x parameters per token would be {6 * n_params / 1e6:.1f}: the output layer runs on the "
          f"masked positions only)")
    for name, fused in (("AdamW (the recipe's optimizer: fused)", False), ("AdamW fused, rebuilt", True)):
        model = P.new_model(cfg).train()
        opt = P.optimizer(cfg, model)
        if fused:
            opt = torch.optim.AdamW(opt.param_groups, lr=cfg.learning_rate, betas=cfg.betas, eps=1e-6, fused=True)
        parts = dict.fromkeys(("data", "forward", "backward", "clip", "optimizer"), 0.0)
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            b = batch(cfg, rows, step)
            t1 = time.perf_counter()
            loss, *_ = P.masked_loss(model, *b)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            t4 = time.perf_counter()
            opt.step()
            t5 = time.perf_counter()
            if step:
                for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    parts[k] += dt
        total = sum(parts.values())
        rate = args.steps * cfg.tokens_per_step / total
        print(f"\n{name}: {rate:,.0f} tokens/s; achieved {flops * args.steps / total / 1e9:.1f} GFLOP/s = "
              f"{flops * args.steps / total / peak:.2f} of peak")
        for k, v in parts.items():
            print(f"  {k:<9} {1000 * v / args.steps:7.1f} ms/step  {v / total:5.1%}")
        fb = parts["forward"] + parts["backward"]
        print(f"  forward + backward alone: {flops * args.steps / fb / peak:.2f} of peak")


if __name__ == "__main__":
    main()
