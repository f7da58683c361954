"""Same code, same seeds, same numbers on every machine: the enhancement measurements (k-means, eigen-solvers,
lbfgs classifiers) give a byte-identical table whatever thread count the process was started with, because
every cached table is computed with a fixed thread count (``helpers.cache.TABLE_THREADS``).  The second test
shows that the check can fail: without the fixed count, 1 and 2 threads differ on the same input.

Whether k-means or BLAS round differently under 1 and 2 threads depends on the CPU and its libraries (on some
machines they agree to the last digit), so the table carries a positive control that differs on any machine
that runs two threads: a float32 sum of 10^7 numbers by torch's parallel reduction, whose partial sums are
split by thread count."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONTROL = "float32 sum of 10^7 numbers (torch parallel reduction)"

SCRIPT = r"""
CONTROL = "%s"
import sys, json, numpy as np, pandas as pd
from helpers import cache, classifiers as CL, enhancement as EN, transforms as TR

def compute():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((128, 128))
    X = (rng.standard_normal((3000, 128)) @ A * 0.1 + 1.0).astype(np.float32)
    T = (rng.standard_normal((800, 128)) @ A * 0.1 + 1.0).astype(np.float32)
    y = (T[:, 0] + 0.3 * rng.standard_normal(len(T)) > T[:, 0].mean()).astype(int)
    yx = (X[:, 0] + 0.3 * rng.standard_normal(len(X)) > X[:, 0].mean()).astype(int)
    rows = []
    for name, t in EN.fit_methods([*TR.PAPER_METHODS, "Whitening", "Soft ZCA"], X, seed=0, n_clusters=9, control=True).items():
        Xt, Tt = t.transform(X), t.transform(T)
        for metric, v in EN.isotropy_metrics(Tt).items():
            rows.append({"method": name, "metric": metric, "value": float(v)})
        clf = CL.sentence_classifier("mr").fit(Xt, yx)
        rows.append({"method": name, "metric": "probability sum", "value": float(clf.predict_proba(Tt)[:, 1].sum())})
    import torch
    big = torch.from_numpy(np.random.default_rng(1).standard_normal(10_000_000).astype(np.float32))
    rows.append({"method": "control", "metric": CONTROL, "value": float(big.sum())})
    return pd.DataFrame(rows)

if sys.argv[1] == "cached":
    table = cache.cached_table("test", "determinism", {"case": 1}, compute)
else:
    from threadpoolctl import threadpool_limits
    with threadpool_limits(int(sys.argv[2])):
        table = compute()
print(table.to_json(orient="records", double_precision=15))
""" % CONTROL


def _run(tmp_path: Path, threads: int, mode: str) -> list:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "ISOBOOK_CACHE": str(tmp_path / f"cache-{mode}-{threads}")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(threads)], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_enhancement_table_is_identical_under_one_and_two_threads(tmp_path):
    one, two = _run(tmp_path, 1, "cached"), _run(tmp_path, 2, "cached")
    assert len(one) >= 7 * 7 + 1       # 6 methods + the random-partition control, 7 numbers each; the sum
    assert one == two


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to run two threads")
def test_without_the_fixed_thread_count_the_table_depends_on_threads(tmp_path):
    """The sensitivity check of the test above: the same computation outside ``cached_table`` differs in its
    last digits between 1 and 2 threads (if this ever passes trivially, the test above proves nothing).  The
    positive control differs on every machine; the enhancement rows may or may not, depending on the CPU."""
    one, two = _run(tmp_path, 1, "free"), _run(tmp_path, 2, "free")
    control = [(a["value"], b["value"]) for a, b in zip(one, two) if a["metric"] == CONTROL]
    assert len(control) == 1 and control[0][0] != control[0][1]
    assert one != two
