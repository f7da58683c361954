"""The reference every benchmark divides by: this machine's float32 matmul peak, measured in the same run."""
from __future__ import annotations

import time

import torch


def matmul_peak(sizes=(1024, 2048, 3072), repeats=5) -> float:
    """Best float32 FLOP/s of ``torch.mm`` on square matrices (the machine's reachable peak)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        t0 = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t0))
    return best
