"""The whole book on a named parameter set: a staged copy of the book's sources with the set's values injected.

``python -m helpers.staging minilm-only`` (``make book PARAMS=minilm-only``) builds every page of the book with
every notebook that declares a parameter of ``params/minilm-only.yml`` run on it.  The sources
(``_config.yml``, the table of contents, ``book/``, the notebooks) are copied to ``_build/books/<set>/``, each
notebook with the set's values in papermill's ``injected-parameters`` cell right after its ``parameters`` cell
(shown on the page, so a reader sees what the page ran on); the three stages of :mod:`helpers.book` then run on
that copy: the fine-tuning runs its chapters resolve, the chapters two at a time, the strict build, into
``_build/books/<set>/_build/html``.  The default book and its execution cache are untouched; artifacts
(``data/cache``) are shared, keyed as always, so a run or a table that both books read is built once.

A staged book keeps its own build records (``_build/books/<set>/_build/*.json``), which its build status page
reports, and is checked against the reference ledger of its set (``reference/<set>.csv``) where one is committed:
``make test`` builds the small set ``params/smoke.yml`` this way.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from . import cache, checks, paths, run
from .book import toc_notebooks
from .checks import ParameterError

STAGED = paths.BUILD / "books"
"""Where staged books live: ``_build/books/<set>/`` (sources, its execution cache and its HTML under ``_build/``)."""
LEFT_OUT: tuple[str, ...] = ()
"""Pages of the default book a staged book leaves out: none (its build status page reads the staged book's own
records, :func:`helpers.book.records`, and checks it against the reference of its set)."""
INJECTED = "injected-parameters"
"""papermill's tag (and here the cell id) of the cell holding a parameter set's values."""


def _toc(docs: list[str], root: Path) -> dict:
    """The book's table of contents without :data:`LEFT_OUT`; with a subset of notebooks (``docs`` not the whole
    book), a contents of those notebooks alone, the first one the root page."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    if set(docs) != set(toc_notebooks(root / "_toc.yml", root)) - set(LEFT_OUT):
        return {"format": "jb-book", "root": docs[0], **({"chapters": [{"file": d} for d in docs[1:]]} if docs[1:] else {})}

    def prune(node):
        for key in ("parts", "chapters", "sections"):
            if key in node:                     # an entry left out, and a part or section left empty by it
                node[key] = [prune(c) for c in node[key] if c.get("file") not in LEFT_OUT]
                node[key] = [c for c in node[key] if "file" in c or any(c.get(k) for k in ("chapters", "sections"))]
        return node
    return prune(toc)


def inject(nb, values: dict):
    """``nb`` with ``values`` in an :data:`INJECTED` cell after its ``parameters`` cell (papermill's
    ``parameterize_notebook``, whose cell id is made deterministic here), or ``nb`` itself if ``values`` is empty."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    if not values:
        return nb
    nb.metadata.setdefault("papermill", nbformat.NotebookNode())
    untagged = [c for c in nb.cells if "tags" not in c.metadata]
    for cell in untagged:                       # papermill reads every cell's tags
        cell.metadata["tags"] = []
    nb = parameterize_notebook(nb, values, comment="Parameters of this book (a parameter set)", kernel_name="python3",
                               language="python")
    for cell in untagged:
        del cell.metadata["tags"]
    for cell in nb.cells:
        if INJECTED in cell.metadata.get("tags", []):
            cell["id"] = INJECTED
    return nb


def stage(params, notebooks: list[str] | None = None, root: Path = paths.ROOT, into: Path | None = None) -> tuple[str, Path]:
    """(set name, staged root): the book's sources under ``into`` (default ``_build/books/<set>``) with the set's
    values injected into every notebook that declares them.  ``notebooks``: document names (``notebooks/00_...``)
    for a book of those alone (default: every notebook of the contents but :data:`LEFT_OUT`).  Every name the set
    gives a notebook is checked (:func:`helpers.run.load_parameter_set`, :func:`helpers.run.check_names`) before
    anything is written; a staged notebook is rewritten only when its content changed, so its execution cache
    entry survives a second staging."""
    import nbformat

    file = run.parameter_set_file(params)
    book_docs = [d for d in toc_notebooks(root / "_toc.yml", root) if d not in LEFT_OUT]
    docs = book_docs if notebooks is None else list(notebooks)
    unknown = [d for d in docs if d not in book_docs]
    if not docs or unknown:
        raise ParameterError(f"notebooks={notebooks!r}: not pages of the book; choose among {', '.join(book_docs)}")
    per_notebook = (checks.load_yaml(file.read_text()) or {}).get("notebooks") or {}
    stray = sorted(set(per_notebook) - {Path(d).name for d in book_docs})
    if stray:
        raise ParameterError(f"{file.name}: notebooks {stray} are not in the book; its notebooks: "
                             f"{', '.join(Path(d).name for d in book_docs)}")
    staged = {}
    for doc in docs:
        path = root / f"{doc}.ipynb"
        name, values = run.load_parameter_set(file, path)
        run.check_names(path, values)
        staged[doc] = nbformat.writes(inject(nbformat.read(path, as_version=4), values))
    into = Path(into) if into is not None else STAGED / name
    into.mkdir(parents=True, exist_ok=True)
    cache.write_text_atomic(into / "_config.yml", (root / "_config.yml").read_text())
    cache.write_text_atomic(into / "_toc.yml", yaml.safe_dump(_toc(docs, root), sort_keys=False))
    for page in (root / "book").rglob("*"):
        if page.is_file():
            target = into / page.relative_to(root)
            if not target.is_file() or target.read_bytes() != page.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(page, target)
    for old in (into / "notebooks").glob("*.ipynb") if (into / "notebooks").is_dir() else []:
        if f"notebooks/{old.stem}" not in staged:
            old.unlink()
    for doc, text in staged.items():
        target = into / f"{doc}.ipynb"
        if not target.is_file() or target.read_text() != text:
            cache.write_text_atomic(target, text)
    return name, into


def build(params, notebooks: list[str] | None = None, capture: bool = False, into: Path | None = None, **settings):
    """(staged root, the build's process): :func:`stage`, then :func:`helpers.book.build` on the staged sources (the
    runs its chapters resolve, the chapters two at a time, the strict build), its runs' sweeps named for the set."""
    from . import book

    name, root = stage(params, notebooks, into=into)
    return root, book.build(capture=capture, root=root, name=f"book-{name}-artifacts", **settings)


def main(argv=None) -> int:
    """``python -m helpers.staging SET [--workers N] [--address A | --scheduler-file F]`` (``make book PARAMS=SET``)."""
    import argparse
    import sys
    import time

    from . import book

    ap = argparse.ArgumentParser(prog="python -m helpers.staging", description=__doc__.split("\n\n")[0])
    ap.add_argument("params", help="a parameter set: a file, or a name in params/ (e.g. minilm-only, smoke)")
    book.add_stage_arguments(ap)
    a = ap.parse_args(argv)
    t0 = time.time()
    try:
        root, res = build(a.params, **book.stage_settings(a))
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rc = book.report(res, root / "_build" / "html", time.time() - t0, f"Book on {a.params}")
    if rc == 0:
        book.check_reference(root, since=t0)
    return rc


if __name__ == "__main__":
    import sys

    sys.exit(main())
