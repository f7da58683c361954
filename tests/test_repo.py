"""Repository hygiene: clean notebooks, one source of truth for dependencies, a complete table of contents."""
import ast
import re

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
    assert all(c.get("id") for c in nb.cells), "every cell has an id (nbformat 4.5; a missing one becomes an error)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    assert code.index(tagged[0]) == 0, "the parameters cell is the first code cell"
    shown = [c.source.splitlines()[0] for c in code[1:] if not {"hide-input", "remove-input"} & set(c.metadata.get("tags", []))]
    assert not shown, f"code cells a reader meets before the science (tag them hide-input): {shown}"


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
    they would silently decide the claims on other runs (``more_models`` included: the models decided beside
    ``model``, whose tables chapter 05 computes too).  Their parameters of their own are ``controls`` (control
    fine-tunings decided beside the real runs: the label-shuffled one by default) and ``control_tasks`` (their
    tasks: None, the first task), the same in both, so the findings page reads the ledger's control runs."""
    from helpers import run

    def defaults(nb):
        return {k: v["default"] if isinstance(v, dict) else v
                for k, v in run.notebook_parameters(paths.NOTEBOOKS / f"{nb}.ipynb").items()}

    def models(values):
        return {ast.literal_eval(values.pop("model")), *ast.literal_eval(values.pop("more_models"))}

    p05 = defaults("05_enhancement")
    models05 = models(p05)
    for nb in ("06_claims_ledger", "findings"):
        own = defaults(nb)
        assert own.pop("controls") == '["label-shuffled"]', nb     # the label-shuffled control by default
        assert own.pop("control_tasks") == "None", nb               # on the first task
        assert ast.literal_eval(own["model"]) == "mlm", nb          # the ledger leads with the paper's objective
        assert models(own) == models05 == {"mlm", "minilm"}, nb     # the same models' tables, in another order
        assert own == p05, nb


def test_publishing_workflow_builds_with_make_book_and_deploys_pages():
    """The GitHub Pages workflow: `make book`, then _build/html uploaded and deployed (parsed, not run)."""
    wf = yaml.safe_load((paths.ROOT / ".github" / "workflows" / "book.yml").read_text())
    on = wf.get("on", wf.get(True))                        # YAML 1.1 reads a bare `on` key as True
    assert "push" in on and wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert "make book" in runs and "make reproduce" in runs      # a book that does not reproduce is not deployed
    assert runs.index("make reproduce") > runs.index("make book")
    steps = [s.get("uses", "") or s.get("run", "") for s in build["steps"]]
    upload = next(i for i, s in enumerate(steps) if s.startswith("actions/upload-pages-artifact"))
    assert upload > steps.index("make reproduce")
    assert build["steps"][upload]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert build["timeout-minutes"] >= 120          # its own runner: the full two-objective book, cold


def test_citation_cites_the_paper_and_the_book():
    cff = yaml.safe_load((paths.ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"].startswith("1.2") and cff["title"] and cff["license"]
    paper = cff["preferred-citation"]
    assert "Geometry of Embedding Space" in paper["title"] and {a["family-names"] for a in paper["authors"]} == {"Rajaee", "Pilehvar"}
    assert (paths.ROOT / "LICENSE").read_text().startswith("MIT License")


def _seaborn_calls(source: str):
    """Every ``sns.<plot>(...)`` call of a cell (balanced parentheses), as text."""
    import re

    for m in re.finditer(r"sns\.\w+\(", source):
        depth, i = 1, m.end()
        while depth and i < len(source):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        yield source[m.start():i]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_coloured_category_takes_the_books_palette(path):
    """The book's one colour rule (helpers.plots.PRE_POST): seaborn's default palette starts with the blue and
    orange that mean pre-trained and fine-tuned, so a figure that colours anything by a category names its
    palette."""
    nb = nbf.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for call in _seaborn_calls(cell.source):
            if "hue=" in call:
                assert "palette=" in call, f"{path.name}: a coloured category without a palette from helpers.plots: {call[:120]}"


def test_seaborn_call_scanner_sees_a_call_without_palette():
    src = 'g = sns.relplot(data=d, x="a", y=f(b, c), hue="task",\n kind="line")\nsns.barplot(x=1, hue="s", palette=p)'
    calls = list(_seaborn_calls(src))
    assert len(calls) == 2 and "palette=" not in calls[0] and "palette=" in calls[1]


def test_figures_facet_by_task_alone_or_by_model_and_task():
    """One model: the figures facet by the task as before (the frame untouched); several: by "model | task", so
    the objectives sit side by side on the same task."""
    import pandas as pd
    from helpers import plots

    d = pd.DataFrame({"model": ["minilm", "mlm"], "task": ["mr", "mr"], "value": [1.0, 2.0]})
    assert plots.facet(False) == "task" and plots.by_model(d, False) is d
    both = plots.by_model(d, True)
    assert plots.facet(True) == "model | task" and list(both["model | task"]) == ["minilm | mr", "mlm | mr"]
    assert "model | task" not in d


def test_no_other_colour_is_near_the_model_states():
    from helpers import plots

    def rgb(h):
        return [int(h[i:i + 2], 16) for i in (1, 3, 5)]

    for other in (*plots.OTHER, plots.CONTROL, *plots.METHOD_COLORS.values()):
        for state in plots.PRE_POST.values():
            distance = sum((a - b) ** 2 for a, b in zip(rgb(other), rgb(state))) ** 0.5
            assert distance > 80, f"{other} is too near the model-state colour {state}"
    assert plots.palette(["mr", "bshift", "mr"]) == {"mr": plots.OTHER[0], "bshift": plots.OTHER[1]}


@pytest.mark.parametrize("path", [*NOTEBOOKS, *sorted((paths.ROOT / "book").glob("*.md"))], ids=lambda p: p.name)
def test_glued_text_is_formatted_where_it_is_made(path):
    """A glued number carries its unit or noun (helpers.words.quantity / count, formatted in the cell that glues
    it); a format spec in the page (``{glue:text}`x:.3f```) would print a bare number."""
    import re

    specs = re.findall(r"\{glue:text\}`[^`:]+:[^`]+`", path.read_text())
    assert not specs, f"{path.name}: {specs}"


WORK_WORDS = re.compile(r"\bsessions?\b|closing note", re.IGNORECASE)
"""Words of the way the project was made, which a reader of the book has no use for: its history is its commits."""
ALLOWED_WORK_WORDS: dict[str, set[str]] = {}
"""Files allowed a match (a library's own name that contains the word, say), with the matching lines: none today."""


def _product_files():
    root = paths.ROOT
    files = [root / "README.md", root / "CONTRIBUTING.md", root / "Makefile", *sorted((root / "book").rglob("*.md")),
             *sorted((root / "docs").rglob("*.md")), *sorted((root / "helpers").glob("*.py")),
             *sorted((root / "params").rglob("*.yml")), *NOTEBOOKS]
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(paths.ROOT)))
def test_the_project_speaks_of_itself_alone(path):
    """No "session" or "closing note" in the README, the book's pages, the notebooks, the helpers or the parameter
    sets: the project's history is its commits (a change is dated by its short hash)."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if WORK_WORDS.search(ln)]
    allowed = ALLOWED_WORK_WORDS.get(str(path.relative_to(paths.ROOT)), set())
    assert [ln for ln in lines if ln not in allowed] == [], f"{path.name} speaks of how it was made"


def test_the_work_word_finder_sees_the_word_and_not_its_neighbours():
    assert WORK_WORDS.search("measured in Session 12") and WORK_WORDS.search("the sessions' closing notes")
    assert not WORK_WORDS.search("sessional obsession") and not WORK_WORDS.search("a closing bracket")
