"""Benchmark: extraction throughput against this machine's dense-matmul peak, measured in the same run.

Prints tokens/s of :func:`helpers.extract.extract` (the whole batch loop: forward passes plus the copy of
every layer's hidden states into the memory-mapped output) and of the bare forward passes, the achieved
FLOP/s (model FLOPs of the padded batches: 2 x (4d^2 + 2 d f) per token and layer for the dense maps,
plus 4 T d for attention scores and mixing), and both as a fraction of the peak FLOP/s of float32
``torch.mm`` on square matrices.  Not a test: ratios are printed, not asserted.

    python benchmarks/extract_speed.py [--sentences 1000] [--batch-size 128]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ISOBOOK_QUIET", "1")

import numpy as np
import torch


from peak import matmul_peak  # noqa: E402  (benchmarks/peak.py: run as a script, its folder is on sys.path)


def model_flops(lengths, batches, d, f, layers) -> float:
    total = 0.0
    for b in batches:
        T = max(lengths[i] for i in b)
        tokens = T * len(b)
        total += layers * tokens * (2 * (4 * d * d + 2 * d * f) + 4 * T * d)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=800)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    os.environ["ISOBOOK_CACHE"] = tempfile.mkdtemp(prefix="isobench-")
    from helpers import extract as E, models, tasks, tokens

    peak = matmul_peak()
    tok, enc = models.load_tokenizer("minilm"), models.load_encoder("minilm")
    cfg = enc.config
    df = tasks.load("mr")
    sample = E.sample_sentences(df, "train", args.sentences, 0)
    ids = tok(sample.text.tolist(), truncation=True, max_length=args.max_length)["input_ids"]
    lengths = [len(x) for x in ids]
    order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    flops = model_flops(lengths, batches, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers)
    padded = [tok.pad({"input_ids": [ids[i] for i in b]}, return_tensors="pt") for b in batches]
    with torch.inference_mode():
        enc(**padded[0])
        t0 = time.perf_counter()
        for p in padded:
            enc(**p)
        fwd = time.perf_counter() - t0
    tokens.corpus_counts("minilm", "mr")  # warm: the frequency table is a separate, cached artifact
    t0 = time.perf_counter()
    ex = E.extract("minilm", "mr", split="train", n_sentences=args.sentences, max_length=args.max_length,
                   batch_size=args.batch_size, frequency_corpus="mr")  # same sample as above, empty cache
    wall = time.perf_counter() - t0
    loop = ex.meta["seconds"]
    n_real = ex.meta["n_tokens"]
    print(f"machine: {torch.get_num_threads()} torch threads; float32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"sample: {args.sentences} MR sentences, {n_real} real tokens, batch {args.batch_size}, length-bucketed")
    print(f"forward passes only : {n_real / fwd:9.0f} tokens/s  {flops / fwd / 1e9:6.1f} GFLOP/s  "
          f"= {flops / fwd / peak:.2f} of peak")
    print(f"extract() batch loop: {n_real / loop:9.0f} tokens/s  {flops / loop / 1e9:6.1f} GFLOP/s  "
          f"= {flops / loop / peak:.2f} of peak")
    print(f"extract() end to end: {n_real / wall:9.0f} tokens/s (tokenizing, token table, writing to disk included)")


if __name__ == "__main__":
    main()
