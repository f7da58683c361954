"""Caches that know the code: artifact keys carry a digest of the source that computes them; listing and
pruning the cache."""
import os
import shutil
import time

import pandas as pd
import pytest

from helpers import book, cache


def test_code_of_an_artifact_is_the_module_and_the_helpers_it_imports():
    assert cache.code_modules("layerwise") == ["extract", "finetune", "geometry", "intervals", "layerwise", "models", "tasks",
                                               "tokens"]
    assert cache.code_modules("transforms") == ["geometry", "transforms"]
    for m in ("finetune", "extract", "enhancement"):
        assert not set(cache.code_modules(m)) & cache.NEUTRAL     # progress bars and messages change no result


@pytest.fixture
def helpers_copy(tmp_path):
    root = tmp_path / "helpers"
    shutil.copytree(cache.HELPERS, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_editing_a_helper_recomputes_what_it_computes_and_only_that(helpers_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path / "cache"))
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [len(calls)]})

    def table():
        spec = {"what": "demo", "code": cache.code_digest("layerwise", root=helpers_copy)}
        return cache.cached_table("demo", "t", spec, compute)

    before = {m: cache.code_digest(m, root=helpers_copy) for m in ("layerwise", "transforms", "finetune", "tokens")}
    assert table().x[0] == 1 and table().x[0] == 1 and len(calls) == 1          # cached
    with open(helpers_copy / "geometry.py", "a") as f:
        f.write("\n# an edit of the metric code\n")
    after = {m: cache.code_digest(m, root=helpers_copy) for m in before}
    assert after["layerwise"] != before["layerwise"] and after["transforms"] != before["transforms"]
    assert after["finetune"] == before["finetune"] and after["tokens"] == before["tokens"]   # runs survive
    assert table().x[0] == 2 and len(calls) == 2                                 # recomputed once
    with open(helpers_copy / "progress.py", "a") as f:                           # a neutral module
        f.write("\n# a new progress message\n")
    assert cache.code_digest("layerwise", root=helpers_copy) == after["layerwise"]


def test_editing_a_helper_reexecutes_the_pages(helpers_copy, tmp_path, monkeypatch):
    cache_dir = tmp_path / ".jupyter_cache"
    cache_dir.mkdir()
    monkeypatch.setattr(book, "JUPYTER_CACHE", cache_dir)
    monkeypatch.setattr(book, "DIGEST", tmp_path / "digest.txt")
    quiet = dict(say=lambda s: None, root=helpers_copy)
    assert not book.invalidate_if_helpers_changed(**quiet) and cache_dir.exists()     # first build
    assert not book.invalidate_if_helpers_changed(**quiet) and cache_dir.exists()     # nothing changed
    with open(helpers_copy / "plots.py", "a") as f:                                  # even a plotting edit
        f.write("\n# another colour\n")
    assert book.invalidate_if_helpers_changed(**quiet) and not cache_dir.exists()


def test_the_code_a_notebook_cell_defines_is_part_of_a_cached_table(tmp_path, monkeypatch):
    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path))
    assert cache.source_digest(cache.key_of) != cache.source_digest(cache.code_digest)
    a = cache.cached_table("demo", "t", {"k": 1}, lambda: pd.DataFrame({"x": [1]}))
    b = cache.cached_table("demo", "t", {"k": 1}, lambda: pd.DataFrame({"x": [1, 2]}))
    assert len(a) == 1 and len(b) == 2          # another compute, another artifact


def _artifact(root, kind, name, days_old, done=True, size=1000):
    d = root / kind / name
    d.mkdir(parents=True)
    (d / "blob").write_bytes(b"0" * size)
    if done:
        (d / cache.DONE).write_text("{}")
        t = time.time() - days_old * 86400
        os.utime(d / cache.DONE, (t, t))
    return d


def test_list_and_prune_by_age_kind_key_and_stale(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ISOBOOK_CACHE", str(tmp_path))
    old = _artifact(tmp_path, "finetune", "minilm-mr-aaa", 40, size=5000)
    new = _artifact(tmp_path, "finetune", "minilm-mr-bbb", 1)
    ext = _artifact(tmp_path, "extract", "minilm-mr-ccc", 40)
    leftover = _artifact(tmp_path, "extract", ".tmp-minilm-mr-ddd-x", 0, done=False)
    assert cache.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "total finetune" in out and "(unfinished)" in out and "4 artifacts" in out
    with pytest.raises(SystemExit):
        cache.main(["prune"])                                    # nothing is pruned without a filter
    cache.main(["prune", "--older-than", "30", "--kind", "finetune", "--dry-run"])
    assert old.exists()
    cache.main(["prune", "--older-than", "30", "--kind", "finetune"])
    assert not old.exists() and new.exists() and ext.exists()
    assert "before" in capsys.readouterr().out
    cache.main(["prune", "--stale"])
    assert not leftover.exists() and ext.exists()
    cache.main(["prune", "--key", "ccc"])
    assert not ext.exists() and new.exists()
    with pytest.raises(SystemExit):
        cache.main(["list", "--kind", "nope"])


def test_a_reserved_file_holds_its_blocks_and_a_full_disk_is_an_error_naming_the_file(tmp_path, monkeypatch):
    """``cache.reserve`` allocates a sparse file's blocks now (a memory-mapped write then cannot meet a full disk,
    which kills the process with SIGBUS); where the disk lacks them it raises ``DiskFull`` naming the file, the MiB
    needed and the MiB free, and other errors pass through."""
    import errno
    import os

    import numpy as np

    f = tmp_path / "hidden.npy"
    out = np.lib.format.open_memmap(f, mode="w+", dtype=np.float32, shape=(64, 1024, 64))
    assert f.stat().st_blocks * 512 < f.stat().st_size / 2, "open_memmap's file is no longer sparse"
    cache.reserve(f)
    assert f.stat().st_blocks * 512 >= f.stat().st_size
    del out

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(cache.DiskFull, match=r"hidden\.npy \(16 MiB needed, [\d,]+ MiB free under"):
        cache.reserve(f)

    def denied(fd, offset, length):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(os, "posix_fallocate", denied)
    with pytest.raises(OSError) as err:
        cache.reserve(f)
    assert not isinstance(err.value, cache.DiskFull)
    assert cache.free_space(tmp_path / "not" / "yet").endswith(" GiB")
