import json

import nbformat as nbf
import pytest
import yaml

from helpers import paths, run
from helpers.checks import ParameterError


@pytest.fixture
def tiny_nb(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbf.v4.new_code_cell("x = 1\nwords = ['a']")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbf.v4.new_code_cell("print('x is', x, 'words', len(words))")]
    path = tmp_path / "07_tiny.ipynb"
    nbf.write(nb, path)
    return path


def test_parameters_are_injected(tiny_nb):
    out = run.execute(tiny_nb, {"x": 41, "words": ["a", "b"]})
    nb = nbf.read(out, as_version=4)
    assert "injected-parameters" in nb.cells[1].metadata.tags
    assert "x is 41 words 2" in nb.cells[-1].outputs[0]["text"]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["parameters"] == {"x": 41, "words": ["a", "b"]} and meta["seconds"] >= 0


def test_unknown_name_is_rejected_with_the_list(tiny_nb):
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) y .*\n  x = 1\n  words = \['a'\]"):
        run.execute(tiny_nb, {"y": 2})
    assert not (paths.EXECUTED).exists()  # nothing ran


def test_output_path_is_deterministic(tiny_nb):
    a = run.output_path(tiny_nb, "default", {"x": 2, "words": ["a"]})
    b = run.output_path(tiny_nb, "default", {"words": ["a"], "x": 2})
    c = run.output_path(tiny_nb, "default", {"x": 3, "words": ["a"]})
    assert a == b != c
    assert a.parent.name == "07_tiny" and a.name.startswith("default-")


def test_cli_rejects_unknown_names_and_runs_several_sets(tiny_nb, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path)
    assert run.main([str(tiny_nb), "-p", "bogus", "1"]) == 2
    assert "bogus" in capsys.readouterr().err
    for name, x in (("small", 1), ("big", 2)):
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump({"notebooks": {"07_tiny": {"x": x}}}))
    assert run.main([str(tiny_nb), "--params", str(tmp_path / "small.yml"), "--params", str(tmp_path / "big.yml"),
                     "-p", "words", "[c, d, e]"]) == 0
    outs = sorted(p.name for p in (paths.EXECUTED / "07_tiny").glob("*.ipynb"))
    assert len(outs) == 2 and outs[0].startswith("big-") and outs[1].startswith("small-")
    nb = nbf.read(paths.EXECUTED / "07_tiny" / outs[0], as_version=4)
    assert "x is 2 words 3" in nb.cells[-1].outputs[0]["text"]


def test_parameter_sets_shared_and_per_notebook(tiny_nb, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path)
    f = tmp_path / "s.yml"
    f.write_text(yaml.safe_dump({"parameters": {"x": 5}, "notebooks": {"07_tiny": {"words": []}}}))
    assert run.load_parameter_set(f, tiny_nb) == ("s", {"x": 5, "words": []})
    f.write_text(yaml.safe_dump({"parameters": {"nonexistent": 5}}))
    with pytest.raises(ParameterError, match="nonexistent"):
        run.load_parameter_set(f, tiny_nb)
    f.write_text(yaml.safe_dump({"notebooks": {"07_tiny": {"nope": 1}}}))
    _, params = run.load_parameter_set(f, tiny_nb)
    with pytest.raises(ParameterError, match="nope"):
        run.check_names(tiny_nb, params)


def test_notebook_lookup_by_prefix():
    assert run.find_notebook("00").name == "00_models_and_data.ipynb"
    with pytest.raises(ParameterError, match="00_models_and_data"):
        run.find_notebook("42")


def test_shipped_parameter_sets_fit_every_notebook():
    files = sorted(paths.PARAMS.glob("*.yml"))
    assert {"embedded-default", "paper-bert-glue"} <= {f.stem for f in files}
    for f in files:
        for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
            _, params = run.load_parameter_set(f, nb)
            run.check_names(nb, params)


def test_parallel_kernels_do_not_collide_and_print_no_tcp_warning(tiny_nb, capfd):
    """Four notebooks at once, from one working directory (what a sweep's workers do): every kernel has its own
    IPC sockets, so each run gets its own parameters back, and no unencrypted-TCP warning is printed."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: run.execute(tiny_nb, {"x": i}, set_name=f"p{i}"), range(4)))
    for i, out in enumerate(outs):
        assert f"x is {i} words 1" in nbf.read(out, as_version=4).cells[-1].outputs[0]["text"]
    assert "without encryption" not in capfd.readouterr().err
