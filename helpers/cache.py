"""Content-addressed artifact cache with atomic writes.

An artifact is a directory ``<cache>/<kind>/<name>-<key>/`` that holds a ``DONE.json`` marker
written last.  It is built in a temporary sibling directory and renamed into place, so a run
killed halfway leaves either nothing or a stale ``.tmp-*`` directory, never a half artifact
that looks done.  Keys hash the canonical JSON of everything that determines the artifact.
"""
from __future__ import annotations

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


def code_digest(*modules: str, n: int = 12) -> str:
    """SHA-256 of the source files of ``helpers`` modules (e.g. ``"transforms"``): put it in an artifact's
    key so that an edit of the code that computes the artifact recomputes it."""
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(name.encode() + b"\0" + (Path(__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:n]


def write_json_atomic(path: Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def artifact_dir(kind: str, name: str, spec: dict) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return paths.cache_root() / kind / f"{safe}-{key_of(spec)}"


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).is_file()


@contextmanager
def building(final: Path, spec: dict) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success mark it done and rename it to ``final``.

    On an exception the temporary directory is removed and nothing is published.  Temporary directories
    left by an earlier run of the same artifact that was killed (SIGKILL, power loss) are removed first, so
    the build restarts cleanly; two processes must not build the same artifact at the same time.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".tmp-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name}-"))
    try:
        yield tmp
        write_json_atomic(tmp / DONE, {"spec": spec, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        if final.exists():  # a concurrent builder won, or a stale un-marked directory
            if is_done(final):
                shutil.rmtree(tmp)
                return
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cached_table(kind: str, name: str, spec: dict, compute):
    """A pandas table computed once by ``compute()`` and cached as ``table.csv`` under ``spec``'s key."""
    import pandas as pd

    final = artifact_dir(kind, name, spec)
    if not is_done(final):
        table = compute()
        with building(final, spec) as tmp:
            table.to_csv(tmp / "table.csv", index=False)
    return pd.read_csv(final / "table.csv", keep_default_na=False, na_values=["", "nan", "NaN"])
