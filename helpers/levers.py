"""The lever table of the MLM recipe: each arm is the book's pre-training run (``helpers.pretrain``) with one
setting changed, run for the same number of steps (hence the same tokens) and evaluated on the same held-out
[MASK] positions, so the recipe the book ships is chosen by measurement.

An arm's first ``steps`` are exactly what the full run of its config would compute (batches, masks and the
learning rate are pure functions of the step; the warm-up-stable-decay schedule is constant until its last
fifth), so the chosen recipe's arm is read from the shipped run's own log, not trained twice.

``python -m helpers.levers [--steps 3000]`` trains the other arms (resumable: each is a ``helpers.pretrain``
work directory stopped after ``steps``) and writes ``models/mlm/levers.csv`` with ``levers.json`` (each arm's
config, the recipe's code digest, the steps); the pre-training chapter draws it.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from . import cache, paths, pretrain as P, progress

ARMS = {
    "chosen: rotary, beta2 0.999": {},
    "learned absolute positions (BERT)": {"positions": "absolute"},
}
"""Arm name -> the settings it changes from :class:`~helpers.pretrain.PretrainConfig`'s defaults.  Next arms
to measure (each is one line here and ~20 min of 2 CPU cores): beta2 0.98 (``{"betas": (0.9, 0.98)}``),
a linear decay from the start (``{"schedule": "linear"}``, visible only past a third of the run)."""

PROBE_STEPS = 3000
DEST = paths.MODELS / "mlm"


def arm_config(overrides: dict, base: dict | None = None) -> P.PretrainConfig:
    """The recipe (``base``: settings over :class:`~helpers.pretrain.PretrainConfig`'s defaults) with one arm's
    settings changed."""
    return P.PretrainConfig(**{**asdict(P.PretrainConfig()), **(base or {}), **overrides})


def _logged(cfg: P.PretrainConfig) -> pd.DataFrame | None:
    """The log of ``cfg``'s run so far: the finished run's, else its work directory's last resume point."""
    final = P.run_dir(cfg)
    if cache.is_done(final):
        return P.load(final).log
    state = final.with_name(final.name + ".work") / "state" / "state.json"
    return pd.DataFrame(json.loads(state.read_text())["log"]) if state.is_file() else None


def run_arm(name: str, steps: int = PROBE_STEPS, say=print, base: dict | None = None, arms: dict = ARMS) -> pd.DataFrame:
    """The arm's log up to ``steps``, training what is missing (the chosen recipe is never trained here: its
    log comes from the main run, which must have reached ``steps``)."""
    cfg = arm_config(arms[name], base)
    log = _logged(cfg)
    at = 0 if log is None else int(log.step.max())
    if at < steps:
        if not arms[name]:
            raise RuntimeError(f"the chosen recipe's run is at step {at} < {steps}: run `make pretrain` first")
        say(f"[levers] {name}: training steps {at + 1}..{steps}")
        P.pretrain(cfg, stop_after=steps - at, say=say)
        log = _logged(cfg)
    return log[log.step <= steps].assign(arm=name)


def table(steps: int = PROBE_STEPS, say=print, base: dict | None = None, arms: dict = ARMS) -> pd.DataFrame:
    """Held-out curves of every arm, one row per evaluation: arm, step, tokens, held-out loss, [MASK]-position
    accuracy and the 80/10/10 accuracy."""
    cols = ["arm", "step", "tokens", "heldout_loss", "heldout_mask_accuracy", "heldout_all_accuracy"]
    frames = [run_arm(name, steps, say, base, arms) for name in arms]
    out = pd.concat(frames, ignore_index=True).dropna(subset=["heldout_mask_accuracy"])
    return out[cols].reset_index(drop=True)


def summary(curves: pd.DataFrame, at=None, tokens_per_step: int | None = None) -> pd.DataFrame:
    """Arm x steps: held-out [MASK]-position accuracy at equal steps (and so equal tokens), arms in the order
    they were run; ``at`` defaults to the evaluated steps nearest a third, two thirds and all of the last step
    every arm reached."""
    tps = tokens_per_step or P.PretrainConfig().tokens_per_step
    if at is None:
        last = last_common_step(curves)
        steps = sorted(set(curves.step))
        at = sorted({min(steps, key=lambda s: abs(s - f * last)) for f in (1 / 3, 2 / 3, 1)})
    piv = curves[curves.step.isin(at)].pivot_table(index="arm", columns="step", values="heldout_mask_accuracy")
    piv.columns = [f"step {c:,} ({c * tps / 1e6:.1f}M tokens)" for c in piv.columns]
    return piv.reindex(list(dict.fromkeys(curves.arm)))


def last_common_step(curves: pd.DataFrame) -> int:
    """The last evaluated step every arm reached."""
    return int(curves.groupby("arm").step.max().min())


def accuracy_at(curves: pd.DataFrame, step: int) -> pd.Series:
    """Held-out [MASK]-position accuracy of every arm at ``step``, best first."""
    return curves[curves.step == step].set_index("arm").heldout_mask_accuracy.sort_values(ascending=False)


def best_arm(curves: pd.DataFrame) -> tuple[str, float, float]:
    """(arm, its accuracy, the runner-up's) at the last step every arm reached."""
    at = accuracy_at(curves, last_common_step(curves))
    return at.index[0], float(at.iloc[0]), float(at.iloc[1]) if len(at) > 1 else float("nan")


def write(curves: pd.DataFrame, steps: int, dest: Path = DEST, arms: dict = ARMS) -> Path:
    """``levers.csv`` and ``levers.json`` (the settings of the ``arms`` the table was made with, code digest,
    steps) into ``dest``, atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".levers.csv.tmp"
    curves.to_csv(tmp, index=False)
    tmp.replace(dest / "levers.csv")
    cache.write_json_atomic(dest / "levers.json", {
        "steps": steps, "code": P.code_digest(), "tokens_per_step": P.PretrainConfig().tokens_per_step,
        "arms": {name: {k: list(v) if isinstance(v, tuple) else v for k, v in over.items()} for name, over in arms.items()}})
    return dest / "levers.csv"


def shipped(dest: Path = DEST) -> pd.DataFrame | None:
    p = dest / "levers.csv"
    return pd.read_csv(p) if p.is_file() else None


def main(argv=None) -> int:
    """``python -m helpers.levers [--steps N] [--threads N] [--arm NAME]``: train the lever arms (resuming)."""
    import argparse

    import torch

    ap = argparse.ArgumentParser(prog="python -m helpers.levers", description=main.__doc__)
    ap.add_argument("--steps", type=int, default=PROBE_STEPS)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--arm", action="append", choices=list(ARMS), help="train only these arms (no table written)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.arm:
        for name in a.arm:
            run_arm(name, a.steps)
        return 0
    curves = table(a.steps)
    print(summary(curves).round(3).to_string())
    print(f"[levers] wrote {write(curves, a.steps)} in {progress.duration(time.time() - t0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
