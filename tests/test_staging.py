"""The whole book on a parameter set (helpers.staging): the set's values injected into every notebook that declares
them, the runs of its chapters found from those values, a bad set refused before anything is written, and a staged
book built strictly with its parameters shown on the page."""
import nbformat
import pytest
import yaml

from helpers import book, paths, run, staging
from helpers.checks import ParameterError


def _set(tmp_path, **body):
    f = tmp_path / "myset.yml"
    f.write_text(yaml.safe_dump(body))
    return f


def test_the_default_book_decides_on_both_objectives_each_with_its_budget_and_control():
    """make book with no parameter set: the MLM encoder and MiniLM in one sweep (one pool of workers), each with its
    six real runs, its three label-shuffled control runs and the fine-tuning budget it ships; the ledger and the
    findings page lead with the MLM encoder (the paper's objective)."""
    (sw,) = book.artifact_sweeps()
    assert sorted(sw.models) == ["minilm", "mlm"] and sw.controls == ["label-shuffled"]
    runs = {m: (sw.configs(m), sw.control_configs(m)) for m in sw.models}
    assert all(len(real) == 6 and len(control) == 3 for real, control in runs.values())
    assert runs["mlm"][0][("mr", 0)].epochs == 2.0 != runs["minilm"][0][("mr", 0)].epochs   # the budget each ships
    for doc in ("notebooks/06_claims_ledger", "notebooks/findings"):
        v = run.effective_parameters(paths.ROOT / f"{doc}.ipynb")
        assert (v["model"], v["more_models"]) == ("mlm", ["minilm"])


def _staged_values(root):
    for doc in book.toc_notebooks(root / "_toc.yml", root):
        nb = nbformat.read(root / f"{doc}.ipynb", as_version=4)
        injected = [c for c in nb.cells if staging.INJECTED in c.metadata.get("tags", [])]
        yield doc, run.notebook_parameters(paths.ROOT / f"{doc}.ipynb"), run.effective_parameters(root / f"{doc}.ipynb"), nb, injected


def test_the_minilm_only_set_takes_the_mlm_encoder_out_of_every_chapter(tmp_path):
    name, root = staging.stage("minilm-only", into=tmp_path / "book")
    assert name == "minilm-only"
    assert book.toc_notebooks(root / "_toc.yml", root) == book.toc_notebooks()      # every page, status included
    for doc, declared, values, nb, injected in _staged_values(root):
        if "more_models" in declared:           # the set's value, in a cell right after the parameters cell
            assert values["more_models"] == [] and values["model"] == "minilm"
            assert len(injected) == 1 and injected[0].id == staging.INJECTED
            tagged = [i for i, c in enumerate(nb.cells) for t in c.metadata.get("tags", []) if t in ("parameters", staging.INJECTED)]
            assert [nb.cells[i].id for i in tagged][1] == staging.INJECTED and tagged[1] == tagged[0] + 1
        elif "model" not in declared:            # a notebook that declares neither is the source, unchanged
            assert not injected
            assert nbformat.read(paths.ROOT / f"{doc}.ipynb", as_version=4).cells == nb.cells
    (sw,) = book.artifact_sweeps(root=root, name="book-minilm-only-artifacts")
    assert sw.models == ["minilm"] and sw.name == "book-minilm-only-artifacts-0"
    assert len(sw.configs("minilm")) == 6 and len(sw.control_configs("minilm")) == 3


def test_the_small_set_reaches_what_the_default_reaches_under_keys_of_its_own(tmp_path):
    """params/smoke.yml (make test): every page of the book, both objectives, the controls, three seeds, a budget of a
    few dozen steps; its runs are other runs than the default book's (their own keys: nothing of the default touched)."""
    from helpers import finetune as F

    _, root = staging.stage("smoke", into=tmp_path / "book")
    assert book.toc_notebooks(root / "_toc.yml", root) == book.toc_notebooks()
    (small,), (full,) = book.artifact_sweeps(root=root, name="smoke"), book.artifact_sweeps()
    assert sorted(small.models) == sorted(full.models) and small.seeds == full.seeds == [0, 1, 2]
    assert small.controls == full.controls and small.control_tasks == full.control_tasks
    for m in small.models:
        cfg = small.configs(m)[("mr", 0)]
        steps = cfg.epochs * cfg.train_size / cfg.batch_size
        assert 10 <= steps <= 50, f"{m}: {steps} steps"
        assert F.run_dir(cfg) != F.run_dir(full.configs(m)[("mr", 0)])
    for doc, declared, values, nb, injected in _staged_values(root):
        for name in ("n_sentences", "n_train_sentences"):
            if name in declared:
                assert values[name] <= 50


def test_a_set_is_refused_before_anything_is_staged(tmp_path):
    into = tmp_path / "book"
    with pytest.raises(ParameterError, match="exist in no notebook"):
        staging.stage(_set(tmp_path, parameters={"more_modells": ["mlm"]}), into=into)
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) n_clusters for 00_models_and_data"):
        staging.stage(_set(tmp_path, notebooks={"00_models_and_data": {"n_clusters": 10}}), into=into)
    with pytest.raises(ParameterError, match="are not in the book"):
        staging.stage(_set(tmp_path, notebooks={"99_nothing": {"seed": 1}}), into=into)
    with pytest.raises(ParameterError, match="no such file; named sets in params/: .*minilm-only"):
        staging.stage("no-such-set", into=into)
    with pytest.raises(ParameterError, match="not pages of the book"):
        staging.stage("minilm-only", ["notebooks/nothing"], into=into)
    assert not into.exists()


def test_staging_again_rewrites_only_what_changed(tmp_path):
    into = tmp_path / "book"
    staging.stage(_set(tmp_path, parameters={"more_models": []}), into=into)
    nb = into / "notebooks" / "02_isotropy.ipynb"
    before = {p: p.stat().st_mtime_ns for p in (into / "notebooks").glob("*.ipynb")}
    staging.stage(_set(tmp_path, parameters={"more_models": []}), into=into)
    assert {p: p.stat().st_mtime_ns for p in (into / "notebooks").glob("*.ipynb")} == before
    staging.stage(_set(tmp_path, parameters={"more_models": ["mlm"]}), ["notebooks/02_isotropy"], into=into)
    assert run.effective_parameters(nb)["more_models"] == ["mlm"]
    assert [p.name for p in (into / "notebooks").glob("*.ipynb")] == ["02_isotropy.ipynb"]    # the others removed
    assert yaml.safe_load((into / "_toc.yml").read_text()) == {"format": "jb-book", "root": "notebooks/02_isotropy"}
    assert book.toc_notebooks(into / "_toc.yml", into) == ["notebooks/02_isotropy"]


def test_a_staged_book_builds_strictly_and_shows_the_sets_values(tmp_path, monkeypatch):
    """Chapter 00 on a set that leaves out the MLM encoder (``more_models: []``), built alone with ``-W``: the page
    shows the injected values and only MiniLM's geometry; the default book's execution cache is not touched."""
    default_cache = book.JUPYTER_CACHE
    before = sorted(p.name for p in default_cache.rglob("*")) if default_cache.exists() else []
    root, res = staging.build(_set(tmp_path, notebooks={"00_models_and_data": {"more_models": []}}),
                              ["notebooks/00_models_and_data"], capture=True, into=tmp_path / "book")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    page = (root / "_build" / "html" / "notebooks" / "00_models_and_data.html").read_text()
    assert "Parameters of this book" in page and "more_models" in page
    assert "<strong>minilm</strong>" in page and "<strong>mlm</strong>" not in page   # one model's geometry, glued
    text = nbformat.read(root / "notebooks" / "00_models_and_data.ipynb", as_version=4)
    assert run.effective_parameters(root / "notebooks" / "00_models_and_data.ipynb")["more_models"] == []
    assert text.metadata["papermill"]["parameters"] == {"more_models": []}
    after = sorted(p.name for p in default_cache.rglob("*")) if default_cache.exists() else []
    assert after == before
    # a second build executes nothing: stage 2 stored the page where myst-nb looks for the staged root
    root, res = staging.build(_set(tmp_path, notebooks={"00_models_and_data": {"more_models": []}}),
                              ["notebooks/00_models_and_data"], capture=True, into=tmp_path / "book")
    assert res.returncode == 0 and "Executing notebook" not in res.stdout + res.stderr
