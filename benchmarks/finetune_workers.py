"""Benchmark: how the artifact stage should spend a machine's cores on fine-tuning runs.

Fine-tuning on a CPU runs on ``helpers.finetune.TRAIN_THREADS`` (one) thread, so that a run's weights do not depend
on the machine's core count; the artifact stage then runs one run per core.  This prints what that costs or gains
against the alternative (one run at a time on every core), on the same capped default run (MiniLM on MR):

- ``one run, all cores``: one process training with ``cores`` threads (``TRAIN_THREADS`` overridden);
- ``one run per core``: ``cores`` processes of one thread each, started together;

and the ratio of their summed training examples per second (> 1: one run per core is faster).  Each process
trains in its own temporary cache; evaluation and logging are included, as in a real run.  Not a test: the ratio
is printed, not asserted.

    python benchmarks/finetune_workers.py [--examples 640]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys, time
from helpers import finetune as F
F.TRAIN_THREADS = int(sys.argv[1])
cfg = F.FinetuneConfig(train_size=int(sys.argv[2]), epochs=1.0, checkpoints=0)
t0 = time.time()
run = F.finetune(cfg)
print(json.dumps({"examples": run.metrics["train_examples"] * cfg.epochs, "seconds": run.metrics["train_seconds"],
                  "threads": run.metrics["torch_threads"], "wall": time.time() - t0}))
"""


def _start(threads: int, examples: int, cache: str) -> subprocess.Popen:
    env = {**os.environ, "ISOBOOK_CACHE": cache, "ISOBOOK_QUIET": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(threads), str(examples)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen) -> dict:
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(err[-3000:])
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=640, help="training examples of each run (one epoch)")
    a = ap.parse_args()
    from helpers.cache import cores as usable_cores

    cores = usable_cores()
    with tempfile.TemporaryDirectory() as d:
        alone = _finish(_start(cores, a.examples, f"{d}/alone"))
        t0 = time.time()
        procs = [_start(1, a.examples, f"{d}/w{i}") for i in range(cores)]
        each = [_finish(p) for p in procs]
        wall = time.time() - t0
    rate_alone = alone["examples"] / alone["seconds"]
    rate_each = sum(r["examples"] / r["seconds"] for r in each)
    print(f"cores: {cores}; each run: {a.examples} training examples, one epoch (MiniLM on MR, batch 16)")
    print(f"one run, all cores ({alone['threads']} threads): {rate_alone:,.1f} examples/s")
    print(f"one run per core ({cores} x {each[0]['threads']} thread), started together: {rate_each:,.1f} examples/s "
          f"summed (wall {wall:.0f} s for all)")
    print(f"ratio one run per core / one run on all cores: {rate_each / rate_alone:.2f}")


if __name__ == "__main__":
    main()
