"""The reference ledger: what a build of the book must reproduce, and the check that it does.

A *record* of a built book (:func:`record`) is one row per claim and objective (the verdict, the headline statistic,
its estimate and 95% interval as the book prints them and as numbers, the replicates, the last layer alone, the
Gaussian cloud's control and each control fine-tuning's verdict) and one row per fine-tuning run (its test score in
the task's primary metric), computed by the ledger's own functions (:func:`helpers.ledger.verdicts`,
:func:`helpers.ledger.control_verdicts`) on the parameters of the book's findings page, from the cached tables the
chapters made.  The committed reference of a book is ``reference/<set>.csv`` (``default`` for ``make book``, a
parameter set's name for a staged book) with ``reference/<set>.json`` beside it: the parameters it was built on and
the machine that built it.

:func:`compare` says, cell by cell, what differs, old and new.  On the machine family that made the reference (same
processor architecture and model, same torch, CPU or GPU alike) the book's runs and tables are bit-for-bit
deterministic, so every difference is a failure of reproduction; elsewhere a number may move in its last digits
(other kernels, other summation orders), so the check reports how far each number moved and fails only on a
verdict that changed.

``python -m helpers.reference`` (``make reproduce``) checks the default book (exit 1 on a mismatch); ``--update``
writes the reference from the current build (a deliberate change of numbers: commit it with the change and say why);
``--set NAME`` a staged book's.
"""
from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path

import pandas as pd

from . import cache, paths

REFERENCE = paths.ROOT / "reference"
"""Where the committed references live (``<set>.csv`` and ``<set>.json``)."""
DEFAULT = "default"
"""The name of the default book's reference (``make book`` with no parameter set)."""
KEY = ("kind", "objective", "item")
"""The columns that name a row: ``claim`` rows (item ``C1``...) and ``run`` rows (item ``task seed labels``)."""
NUMBERS = ("estimate", "low", "high", "test score")
"""Fields compared as numbers: their move (new - old) is reported."""
VERDICT_FIELDS = ("verdict",)
"""Fields whose change fails the check on any machine."""
REPRODUCES = "reproduces the reference ledger"


def _text(x) -> str:
    """A cell as it is stored: floats by ``repr`` (every digit: the check is exact on the reference's machine)."""
    if isinstance(x, float):
        return "nan" if math.isnan(x) else repr(x)
    return "" if x is None else str(x)


def book_parameters(root: Path = paths.ROOT) -> dict:
    """The parameters the book's claims are decided on: those of its findings page (``root``: the book's sources; a
    staged book's injected values included), with a sweep file's settings where the page names one."""
    from . import run

    return run.effective_parameters(Path(root) / "notebooks" / "findings.ipynb")


def platform_key() -> dict:
    """What makes two builds' numbers bit-for-bit comparable: processor architecture and model, torch, the device."""
    import torch

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"arch": platform.machine(), "cpu": model or platform.processor(), "torch": torch.__version__,
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def record(root: Path = paths.ROOT) -> pd.DataFrame:
    """The ledger of the book in ``root`` as cells (see the module doc), from the cached runs and tables (it trains
    nothing: a missing run is an error naming it)."""
    from . import checks, enhancement as EN, finetune as F, ledger as LG, sweep as SW

    v = book_parameters(root)
    model, tasks, seeds, finetune = v["model"], v["tasks"], v["seeds"], v["finetune"]
    n_sentences, n_train, methods, n_clusters, max_fit, max_length = (
        v["n_sentences"], v["n_train_sentences"], v["methods"], v["n_clusters"], v["max_fit_tokens"],
        v["extract_max_length"])
    if v.get("sweep") is not None:
        model, tasks, seeds, finetune, n_sentences, n_train, methods, n_clusters, max_fit, max_length = (
            SW.chapter_settings(v["sweep"], model))
    methods, controls = EN.check_methods(methods), LG.check_controls(v["controls"])
    on = LG.control_task_names(v["control_tasks"], tasks)
    args = (n_sentences, n_train, methods, n_clusters, max_fit, max_length)
    rows = []
    for m in dict.fromkeys([model, *checks.as_list(v["more_models"])]):
        configs = F.configs_for(m, tasks, seeds, finetune)
        verdicts, control_runs = LG.verdicts_with_controls(configs, controls, *args, on)
        columns = {name: dict(zip((x.claim for x in verdicts), LG.control_column(verdicts, c)))
                   for name, c in control_runs.items()}
        for x in verdicts:
            rows.append({"kind": "claim", "objective": m, "item": x.claim, "verdict": x.verdict,
                         "raw verdict": x.raw_verdict(), "beyond its control": x.beyond_text(),
                         "statistic": x.statistic, "estimate [95% interval]": x.interval(), "estimate": x.estimate,
                         "low": x.low, "high": x.high, "n": x.n, "last layer alone": x.last_layer_column(),
                         "deciding control": x.control_text(),
                         **{f"{name} control": columns[name][x.claim] for name in columns}})
        runs = {"true": configs, **{name: LG.control_runs(configs, name, on) for name in controls}}
        for labels, cfgs in runs.items():
            for (t, s), cfg in cfgs.items():
                metrics = F.load(F.run_dir(cfg)).metrics
                rows.append({"kind": "run", "objective": m, "item": f"{t} seed {s} {labels}",
                             "test score": float(metrics["test"][metrics["primary_metric"]]),
                             "statistic": metrics["primary_metric"]})
    columns = list(dict.fromkeys(c for r in rows for c in r))
    return pd.DataFrame([{c: _text(r[c]) if c in r else "" for c in columns} for r in rows], columns=columns)


def book_name(root: Path) -> str:
    """The reference a book is checked against: :data:`DEFAULT` for the default book, a staged book's set name (its
    folder's name under ``_build/books/``) otherwise."""
    return DEFAULT if Path(root).resolve() == paths.ROOT.resolve() else Path(root).name


def paths_of(name: str = DEFAULT, where: Path | None = None) -> tuple[Path, Path]:
    """The reference ``name``'s table and metadata files (in :data:`REFERENCE` unless ``where`` says otherwise)."""
    where = Path(REFERENCE if where is None else where)
    return where / f"{name}.csv", where / f"{name}.json"


VERDICT_COLOURS = {"supported": "#d9f2d9", "contradicted": "#f8d7d7", "inconclusive": "#eeeeee"}


def figure_svg(table: pd.DataFrame, title: str = "") -> str:
    """The reference ledger's claims as one figure (SVG text, reproducible: no date, a fixed id salt): a claim x
    objective grid, each cell coloured by its verdict and printing the verdict before its control, the effect
    beyond the control and the estimate with its 95% interval."""
    import io
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    claims = table[table.kind == "claim"]
    objectives = list(dict.fromkeys(claims.objective))
    items = list(dict.fromkeys(claims["item"]))
    fig, ax = plt.subplots(figsize=(3.2 + 3.4 * len(objectives), 0.75 * len(items) + 0.9))
    for j, m in enumerate(objectives):
        for i, c in enumerate(items):
            r = claims[(claims.objective == m) & (claims["item"] == c)]
            if r.empty:
                continue
            r = r.iloc[0]
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=VERDICT_COLOURS.get(r.verdict, "white"),
                                       edgecolor="white", lw=2))
            beyond = f"beyond its control: {r['beyond its control']}" if r.get("beyond its control") else ""
            raw = f" (before its control: {r['raw verdict']})" if r.get("raw verdict") else ""
            text = "\n".join([f"{r.verdict}{raw}", r["estimate [95% interval]"], textwrap.shorten(beyond, 58)])
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(objectives))
    ax.set_ylim(len(items), 0)
    ax.set_xticks([j + 0.5 for j in range(len(objectives))], objectives)
    ax.xaxis.tick_top()
    from . import claims as C
    statements = {c: getattr(C, f"{c}_STATEMENT", "") for c in items}
    ax.set_yticks([i + 0.5 for i in range(len(items))],
                  [f"{c}: " + textwrap.fill(statements[c], 42) if statements[c] else c for c in items], fontsize=7)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=8, pad=18)
    fig.tight_layout()
    out = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "isotropy-book", "svg.fonttype": "none"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def write(table: pd.DataFrame, parameters: dict, name: str = DEFAULT, where: Path | None = None) -> Path:
    """Write ``table`` as the reference ``name`` (atomically), with the parameters and the machine beside it, and
    its figure (:func:`figure_svg`, ``name.svg``: the README shows the default's)."""
    csv, meta = paths_of(name, where)
    cache.write_text_atomic(csv, table.to_csv(index=False))
    cache.write_json_atomic(meta, {"parameters": parameters, "platform": platform_key()})
    cache.write_text_atomic(csv.with_suffix(".svg"), figure_svg(table, figure_title(name)))
    return csv


def figure_title(name: str) -> str:
    return (f"reference/{name}.csv: each claim's verdict on each objective (green supported, red contradicted, grey "
            "inconclusive), estimate [95% interval]")


def read(name: str = DEFAULT, where: Path | None = None) -> tuple[pd.DataFrame, dict] | None:
    """The reference ``name`` (table, its metadata), or None where none is committed."""
    csv, meta = paths_of(name, where)
    if not csv.is_file():
        return None
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    return table, (json.loads(meta.read_text()) if meta.is_file() else {})


def _moved(old: str, new: str) -> str:
    try:
        a, b = float(old), float(new)
    except ValueError:
        return ""
    if not (math.isfinite(a) and math.isfinite(b)):
        return ""
    rel = f", {abs(b - a) / abs(a):.2g} of it" if a else ""
    return f"moved {b - a:+.3g}{rel}"


def compare(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """Every cell that differs between a record and the reference: columns kind, objective, item, field, reference,
    this build, moved (for numbers: new - old and its share of old); rows or fields on one side only appear with
    an empty other side."""
    new, old = new.astype(str).set_index(list(KEY)), old.astype(str).set_index(list(KEY))
    out = []
    for key in list(dict.fromkeys([*old.index, *new.index])):
        a = old.loc[key] if key in old.index else None
        b = new.loc[key] if key in new.index else None
        fields = list(dict.fromkeys([*(a.index if a is not None else []), *(b.index if b is not None else [])]))
        for f in fields:
            x = "" if a is None or f not in a else a[f]
            y = "" if b is None or f not in b else b[f]
            if x != y:
                out.append({**dict(zip(KEY, key)), "field": f, "reference": x if a is not None else "(no such row)",
                            "this build": y if b is not None else "(no such row)",
                            "moved": _moved(x, y) if f in NUMBERS else ""})
    return pd.DataFrame(out, columns=[*KEY, "field", "reference", "this build", "moved"])


def built_record(root: Path = paths.ROOT) -> Path:
    """Where a build's status page keeps the ledger it computed (:func:`record`, as text), so that the check at the
    end of the same build reads it instead of computing it again: ``root/_build/reference-record.csv`` and its
    ``.json`` (the parameters and code it was computed with)."""
    return Path(root) / "_build" / "reference-record.csv"


def keep_record(table: pd.DataFrame, root: Path = paths.ROOT, parameters: dict | None = None) -> None:
    """Store a build's :func:`record` beside it (:func:`built_record`), atomically, with the book's parameters
    (:func:`book_parameters`, read here unless given)."""
    path = built_record(root)
    parameters = book_parameters(root) if parameters is None else parameters
    cache.write_text_atomic(path, table.to_csv(index=False))
    cache.write_json_atomic(path.with_suffix(".json"), {"parameters": parameters,
                                                       "code": cache.code_digest("reference")})


def kept_record(root: Path = paths.ROOT, since: float | None = None, parameters: dict | None = None) -> pd.DataFrame | None:
    """The record a status page of this build kept (:func:`keep_record`): written at or after ``since`` (the build's
    start; None: never reused) with the book's parameters (``parameters``: :func:`book_parameters`, read here
    unless given) and this code; None otherwise."""
    path = built_record(root)
    meta = path.with_suffix(".json")
    if since is None or not (path.is_file() and meta.is_file()) or min(path.stat().st_mtime, meta.stat().st_mtime) < since:
        return None
    kept = json.loads(meta.read_text())
    parameters = book_parameters(root) if parameters is None else parameters
    if (cache.canonical_json(kept.get("parameters")) != cache.canonical_json(parameters)
            or kept.get("code") != cache.code_digest("reference")):
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])


def check(root: Path = paths.ROOT, name: str | None = None, where: Path | None = None,
          table: pd.DataFrame | None = None, since: float | None = None, keep: bool = False) -> dict:
    """Compare the book in ``root`` with the reference ``name`` (default: its own, :func:`book_name`):
    ``{"status", "text", "differences", "fails"}``.
    status: ``reproduces``, ``differs``, ``no reference`` or ``other parameters`` (the reference was built on other
    parameters: nothing to compare); fails: whether a check that guards the reference must fail (any difference on
    the reference's platform, a changed verdict anywhere, other parameters).
    ``since``: the build's start, to read the record its status page kept (:func:`kept_record`) instead of computing
    it again; ``keep``: keep the record computed here for that (the status page)."""
    name = book_name(root) if name is None else name
    ref = read(name, where)
    if ref is None:
        return {"status": "no reference", "fails": False, "differences": pd.DataFrame(),
                "text": f"has no reference ledger to compare with (reference/{name}.csv is not committed)"}
    old, meta = ref
    parameters = book_parameters(root)
    if cache.canonical_json(meta.get("parameters")) != cache.canonical_json(parameters):
        return {"status": "other parameters", "fails": True, "differences": pd.DataFrame(),
                "text": f"was built on other parameters than its reference ledger (reference/{name}.json): nothing "
                        "to compare (a deliberate change: `python -m helpers.reference --update`)"}
    if table is None:
        table = kept_record(root, since, parameters)
    if table is None:
        table = record(root)
        if keep:
            keep_record(table, root, parameters)
    diff = compare(table, old)
    same_platform = meta.get("platform") == platform_key()
    if diff.empty:
        return {"status": "reproduces", "fails": False, "differences": diff,
                "text": f"{REPRODUCES} (reference/{name}.csv: {len(old)} cells' rows, every one the same)"}
    verdicts = diff[diff.field.isin(VERDICT_FIELDS)]
    where_made = meta.get("platform", {})
    note = ("" if same_platform else
            f" (the reference was made on {where_made.get('cpu', '?')} / {where_made.get('device', '?')}, torch "
            f"{where_made.get('torch', '?')}; this build on another machine family, where numbers may move in their "
            "last digits: only a changed verdict fails the check)")
    return {"status": "differs", "fails": same_platform or not verdicts.empty, "differences": diff,
            "text": f"DIFFERS from the reference ledger in {len(diff)} cell(s), {len(verdicts)} of them verdicts{note}"}


def say(result: dict, out=None, limit: int = 40) -> None:
    """Print a check's result: its sentence, then the differing cells (old and new), at most ``limit``."""
    out = sys.stdout if out is None else out
    print(f"[reference] This build {result['text']}", file=out)
    d = result["differences"]
    for r in d.head(limit).itertuples(index=False):
        print(f"[reference]   {r.kind} {r.objective} {r.item} | {r.field}: {r.reference!r} -> {r[5]!r}"
              + (f" ({r.moved})" if r.moved else ""), file=out)
    if len(d) > limit:
        print(f"[reference]   ... and {len(d) - limit} more", file=out)


def main(argv=None) -> int:
    """``python -m helpers.reference [--set NAME] [--update]``: check a built book against its reference (exit 1
    when the check fails), or write the reference from it."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.reference", description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default=None, help="a staged book's parameter set (default: the default book)")
    ap.add_argument("--update", action="store_true", help="write the reference from the current build")
    a = ap.parse_args(argv)
    from .env import environment
    from .finetune import NO_TRAINING

    root = paths.ROOT if a.set is None else paths.BUILD / "books" / a.set
    name = book_name(root)
    with environment({NO_TRAINING: "1"}):     # the check reads what the build made; it never trains
        if a.update:
            table = record(root)
            print(f"[reference] wrote {write(table, book_parameters(root), name)} ({len(table)} rows)")
            return 0
        result = check(root, name)
    say(result)
    return 1 if result["fails"] or result["status"] == "no reference" else 0


if __name__ == "__main__":
    sys.exit(main())
