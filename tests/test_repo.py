"""Repository hygiene: clean notebooks, one source of truth for dependencies, a complete table of contents."""
import nbformat as nbf
import pytest
import yaml

from helpers import paths

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = nbf.read(path, as_version=4)
    nbf.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    assert code.index(tagged[0]) == 0, "the parameters cell is the first code cell"


def test_environment_yml_wraps_requirements():
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert pip == ["-r requirements.txt", "-e ."]
    assert "python=3.11" in env["dependencies"]


def test_torch_is_pinned():
    reqs = (paths.ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in reqs
    assert any(r.startswith("jupyter-book==1.") for r in reqs)


def _toc_files(node):
    for key in ("chapters", "parts", "sections"):
        for child in node.get(key, []):
            if "file" in child:
                yield child["file"]
            yield from _toc_files(child)


def test_toc_lists_every_notebook():
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text())
    files = set(_toc_files(toc))
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} == {f for f in files if f.startswith("notebooks/")}
    for f in files - {f"notebooks/{p.stem}" for p in NOTEBOOKS}:      # pages: they exist
        assert (paths.ROOT / f"{f}.md").is_file(), f


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_visible_to_papermill(path):
    """papermill silently skips lines it cannot parse; such a parameter could not be overridden."""
    import ast

    from helpers import run

    nb = nbf.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
    assert list(run.notebook_parameters(path)) == assigned


def test_ledger_takes_the_enhancement_chapters_parameters_whole():
    """Chapter 06 and the findings page read chapter 05's cached tables: same parameter names and defaults, or
    they would silently decide the claims on other runs.  Their one parameter of their own is ``more_models``
    (the models decided beside chapter 05's ``model``, whose tables they compute), empty by default."""
    from helpers import run

    def defaults(nb):
        return {k: v["default"] if isinstance(v, dict) else v
                for k, v in run.notebook_parameters(paths.NOTEBOOKS / f"{nb}.ipynb").items()}

    p05 = defaults("05_enhancement")
    for nb in ("06_claims_ledger", "findings"):
        own = defaults(nb)
        assert own.pop("more_models") == "[]", nb
        assert own == p05, nb


def test_publishing_workflow_builds_with_make_book_and_deploys_pages():
    """The GitHub Pages workflow: `make book`, then _build/html uploaded and deployed (parsed, not run)."""
    wf = yaml.safe_load((paths.ROOT / ".github" / "workflows" / "book.yml").read_text())
    on = wf.get("on", wf.get(True))                        # YAML 1.1 reads a bare `on` key as True
    assert "push" in on and wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert "make book" in runs
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert build["timeout-minutes"] <= 90


def test_citation_cites_the_paper_and_the_book():
    cff = yaml.safe_load((paths.ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"].startswith("1.2") and cff["title"] and cff["license"]
    paper = cff["preferred-citation"]
    assert "Geometry of Embedding Space" in paper["title"] and {a["family-names"] for a in paper["authors"]} == {"Rajaee", "Pilehvar"}
    assert (paths.ROOT / "LICENSE").read_text().startswith("MIT License")
