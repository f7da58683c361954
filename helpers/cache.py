"""Content-addressed artifact cache with atomic writes.

An artifact is a directory ``<cache>/<kind>/<name>-<key>/`` that holds a ``DONE.json`` marker
written last.  It is built in a temporary sibling directory and renamed into place, so a run
killed halfway leaves either nothing or a stale ``.tmp-*`` directory, never a half artifact
that looks done.  Keys hash the canonical JSON of everything that determines the artifact.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import paths

DONE = "DONE.json"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def key_of(obj: Any, n: int = 12) -> str:
    """Short SHA-256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


HELPERS = Path(__file__).parent
# Modules that never change a result (files, messages, progress bars, the runner and the book build): an
# edit of them must not throw away hours of fine-tuning.  Every other helper a module imports is its code.
NEUTRAL = frozenset({"cache", "checks", "paths", "progress", "env", "plots", "run", "book", "sweep", "__init__"})


def code_modules(*modules: str, root: Path = HELPERS) -> list[str]:
    """The ``helpers`` modules whose source computes what ``modules`` compute: the modules and, transitively,
    every helper they import (``from . import x``, ``from .x import y``, at any depth), less :data:`NEUTRAL`."""
    seen: set[str] = set()
    todo = [m for m in modules]
    while todo:
        name = todo.pop()
        if name in seen or name in NEUTRAL:
            continue
        seen.add(name)
        todo += _relative_imports((root / f"{name}.py").read_bytes())
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _relative_imports(source: bytes) -> tuple[str, ...]:
    """The helpers a module's source imports (``from . import x``, ``from .x import y``), parsed once per content
    of the file (a chapter asks for code digests hundreds of times; an edited file is parsed again)."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names += [a.name for a in node.names] if node.module is None else [node.module.split(".")[0]]
    return tuple(names)


def code_digest(*modules: str, n: int = 12, root: Path = HELPERS) -> str:
    """SHA-256 of the source of the ``helpers`` modules that compute an artifact (:func:`code_modules` of
    ``modules``, e.g. ``"transforms"``): put it in the artifact's key, so that an edit of that code (and only
    of that code) recomputes the artifact.  No hand-bumped version numbers."""
    return modules_digest(code_modules(*modules, root=root), n=n, root=root)


def modules_digest(names, n: int = 12, root: Path = HELPERS) -> str:
    """SHA-256 of the source files of exactly these ``helpers`` modules (by name, in sorted order)."""
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode() + b"\0" + (root / f"{name}.py").read_bytes())
    return h.hexdigest()[:n]


def source_digest(fn, n: int = 12) -> str:
    """SHA-256 of a function's own source (e.g. a ``compute`` defined in a notebook cell)."""
    import inspect

    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):  # no source available: its qualified name is the best identity left
        src = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    return hashlib.sha256(src.encode()).hexdigest()[:n]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: a reader sees the old
    file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


class DiskFull(OSError):
    """The disk under an artifact lacks the space it needs: raised before the work that would fill it."""


def reserve(path: Path, nbytes: int | None = None) -> None:
    """Allocate the blocks of file ``path`` (its current size, or ``nbytes``) on the disk now
    (``posix_fallocate``), so that writing it through a memory map cannot find the disk full halfway: an
    unreserved page written to a full disk kills the process with SIGBUS (a notebook's kernel "dies"), where
    this raises :class:`DiskFull` naming the file, the space it needs and the space left."""
    path = Path(path)
    nbytes = path.stat().st_size if nbytes is None else int(nbytes)
    if nbytes <= 0 or not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, nbytes)
        except OSError as err:
            import errno

            if err.errno != errno.ENOSPC:
                raise
            free = shutil.disk_usage(path.parent).free
            raise DiskFull(errno.ENOSPC, f"no space left on the disk for {path} ({nbytes / 2**20:,.0f} MiB needed, "
                                         f"{free / 2**20:,.0f} MiB free under {path.parent}): free some, or point "
                                         f"ISOBOOK_CACHE at a larger disk") from None


def free_space(path: Path) -> str:
    """The free space of the disk that holds ``path`` (or its nearest existing parent), e.g. ``'41.9 GiB'``."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return f"{shutil.disk_usage(path).free / 2**30:.1f} GiB"


def artifact_dir(kind: str, name: str, spec: dict) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return paths.cache_root() / kind / f"{safe}-{key_of(spec)}"


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).is_file()


@contextmanager
def _locked(final: Path) -> Iterator[None]:
    """An exclusive POSIX lock (``lockf``: also on NFS) on ``.lock-<name>`` beside the artifact: one builder
    of an artifact at a time, across processes and machines that share the cache; released by the kernel
    when its holder dies."""
    import fcntl

    with open(final.parent / f".lock-{final.name}", "a+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


@contextmanager
def building(final: Path, spec: dict) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success mark it done and rename it to ``final``.

    On an exception the temporary directory is removed and nothing is published.  Builders of the same
    artifact take turns (a lock file beside it, so parallel workers on a shared cache never remove each
    other's work); under the lock, temporary directories left by an earlier builder that was killed
    (SIGKILL, power loss, a lost worker) are removed first, so the build restarts cleanly.  A builder that
    finds the artifact done when its turn ends discards its own copy.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(final):
        for stale in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name}-"))
        try:
            yield tmp
            write_json_atomic(tmp / DONE, {"spec": spec, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
            if final.exists():  # built meanwhile by another process, or a stale un-marked directory
                if is_done(final):
                    shutil.rmtree(tmp)
                    return
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


TABLE_THREADS = 1
"""Threads of the BLAS, OpenMP and torch pools while a cached table is computed.  Floating-point reductions split
over threads add in another order, and k-means, eigen-solvers and lbfgs amplify the last digits: measured
here, 1 against 2 threads moved log10 I(W) after the cluster-based method by 8e-7 on the same input.  One
thread is the count every machine has, so a table is the same on a laptop, a CI runner and a cluster node
(``tests/test_determinism.py``)."""


def cores() -> int:
    """The cores this process may use: its CPU affinity where the OS reports one (a pinned container, a batch
    job's share), else the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def fixed_threads(n: int = TABLE_THREADS):
    """Context manager: BLAS / OpenMP pools limited to ``n`` threads (``threadpoolctl``), and torch's intra-op
    pool too (its parallel reductions split partial sums by thread count, whatever the CPU); both restored on
    exit."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        with threadpool_limits(n):
            torch.set_num_threads(n)
            yield
    finally:
        torch.set_num_threads(before)


def cached_table(kind: str, name: str, spec: dict, compute):
    """A pandas table computed once by ``compute()`` (under :func:`fixed_threads`) and cached as ``table.csv``
    under ``spec``'s key and the digest of ``compute``'s own source (a function in a notebook cell is code too)."""
    import pandas as pd

    spec = {**spec, "compute": source_digest(compute), "threads": TABLE_THREADS}
    final = artifact_dir(kind, name, spec)
    if not is_done(final):
        with fixed_threads():
            table = compute()
        with building(final, spec) as tmp:
            table.to_csv(tmp / "table.csv", index=False)
    return pd.read_csv(final / "table.csv", keep_default_na=False, na_values=["", "nan", "NaN"])


# ----------------------------------------------------------------------------- listing and pruning
def artifacts(root: Path | None = None) -> list[dict]:
    """Every artifact directory under the cache root: kind, name, path, bytes, age in days (since it was
    finished; since its last change when unfinished), done (False: a killed build's leftover)."""
    root = Path(root or paths.cache_root())
    now, rows = time.time(), []
    for kind_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        for d in sorted(p for p in kind_dir.iterdir() if p.is_dir()):
            size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file() and not f.is_symlink())
            done = is_done(d)
            mtime = (d / DONE).stat().st_mtime if done else d.stat().st_mtime
            rows.append({"kind": kind_dir.name, "name": d.name, "path": d, "bytes": size,
                         "age_days": (now - mtime) / 86400, "done": done})
    return rows


def select(rows: list[dict], kind: str | None = None, key: str | None = None, older_than: float | None = None,
           stale: bool = False) -> list[dict]:
    """The artifacts that match every filter given (kind; a substring of the name or key; older than N days;
    unfinished leftovers only)."""
    return [r for r in rows if (kind is None or r["kind"] == kind) and (key is None or key in r["name"])
            and (older_than is None or r["age_days"] > older_than) and (not stale or not r["done"])]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def main(argv=None) -> int:
    """``python -m helpers.cache [list|prune] [--kind K] [--key S] [--older-than DAYS] [--stale] [--dry-run]``"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers.cache", description=(
        "List the artifacts of the cache (sizes, ages) or prune them by kind, key or age. "
        f"Cache root: {paths.cache_root()} (ISOBOOK_CACHE overrides it)."))
    ap.add_argument("action", nargs="?", choices=("list", "prune"), default="list")
    ap.add_argument("--kind", help="artifact kind (a folder of the cache: finetune, extract, enhancement, ...)")
    ap.add_argument("--key", help="a substring of the artifact's name or key")
    ap.add_argument("--older-than", type=float, metavar="DAYS", help="finished more than DAYS days ago")
    ap.add_argument("--stale", action="store_true", help="only unfinished leftovers of killed builds")
    ap.add_argument("--dry-run", action="store_true", help="prune: say what would go, remove nothing")
    a = ap.parse_args(argv)
    rows = artifacts()
    kinds = sorted({r["kind"] for r in rows})
    if a.kind is not None and a.kind not in kinds:
        ap.error(f"--kind {a.kind!r} is not in the cache; kinds present: {', '.join(kinds) or 'none'}")
    chosen = select(rows, a.kind, a.key, a.older_than, a.stale)
    if a.action == "list":
        for r in chosen:
            print(f"{r['kind']:<12} {_size(r['bytes']):>9} {r['age_days']:7.1f} d  {'' if r['done'] else '(unfinished) '}{r['name']}")
        for k in sorted({r["kind"] for r in chosen}):
            sub = [r for r in chosen if r["kind"] == k]
            print(f"total {k:<12} {len(sub):4d} artifacts {_size(sum(r['bytes'] for r in sub)):>9}")
        print(f"total {'':12} {len(chosen):4d} artifacts {_size(sum(r['bytes'] for r in chosen)):>9}")
        return 0
    if a.kind is None and a.key is None and a.older_than is None and not a.stale:
        ap.error("prune needs at least one of --kind, --key, --older-than, --stale (nothing is pruned by default)")
    before = sum(r["bytes"] for r in rows)
    freed = sum(r["bytes"] for r in chosen)
    for r in chosen:
        print(f"{'would remove' if a.dry_run else 'removing'} {r['kind']}/{r['name']} ({_size(r['bytes'])})")
        if not a.dry_run:
            shutil.rmtree(r["path"], ignore_errors=True)
    print(f"cache: {_size(before)} before, {_size(before - (0 if a.dry_run else freed))} after"
          + (f" ({_size(freed)} would be freed)" if a.dry_run else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
