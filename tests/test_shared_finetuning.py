"""One source of fine-tuning settings: every chapter takes the `finetune` dict whole and resolves its runs
through `helpers.finetune`, so a parameter set cannot move one chapter to other runs than the rest."""
import ast
import re

import nbformat as nbf
import pytest

from helpers import finetune as F, paths, run

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("0*.ipynb"))
FINETUNING = [p for p in NOTEBOOKS if "finetune" in run.notebook_parameters(p)]
PARAMETER_SETS = sorted(paths.PARAMS.glob("*.yml"))


def resolved(path, param_file) -> tuple:
    """(the models, the settings of every run) that chapter ``path`` resolves under a parameter set: the chapter's
    own defaults, overridden as the runner overrides them.  The models as a set: the ledger leads with the MLM
    encoder where the other chapters lead with MiniLM, and both resolve the same runs."""
    names = ("model", "more_models", "finetune")
    defaults = {k: ast.literal_eval(v) for k, v in run.notebook_parameters(path).items() if k in names}
    _, params = run.load_parameter_set(param_file, path)
    merged = {**defaults, **params}
    models = tuple(sorted({merged["model"], *merged.get("more_models", [])}))
    return models, F.FinetuneConfig(**F.check_settings(merged["finetune"]))


def test_every_chapter_that_needs_runs_takes_the_finetune_dict():
    assert len(FINETUNING) >= 7
    for path in NOTEBOOKS:
        nb = nbf.read(path, as_version=4)
        params = run.notebook_parameters(path)
        assert not set(params) & set(F.SETTINGS), f"{path.name} declares fine-tuning settings outside `finetune`"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
        assert "FinetuneConfig(" not in code, f"{path.name} builds its own FinetuneConfig"
        if re.search(r"F\.finetune\(", code):       # one model, or `model` and `more_models` with the same dict
            one = re.search(r"F\.configs_(for|by_task)\(model, tasks, \w+, finetune\)", code)
            several = (re.search(r"F\.(configs_for_models\(model_names|configs_by_task\(m), tasks, \w+, finetune\)", code)
                       and re.search(r"model_names = (list\(dict\.fromkeys\()?\[model, \*checks\.as_list\(more_models\)\]", code))
            assert one or several, path.name


@pytest.mark.parametrize("param_file", PARAMETER_SETS, ids=lambda p: p.stem)
def test_every_chapter_resolves_the_same_runs(param_file):
    seen = {p.stem: resolved(p, param_file) for p in FINETUNING}
    assert len(set(seen.values())) == 1, seen


def test_a_per_chapter_override_is_caught(tmp_path):
    """The check above can fail: a set that changes one chapter's epochs resolves different runs."""
    bad = tmp_path / "bad.yml"
    bad.write_text("parameters:\n  finetune: {epochs: 3.0}\nnotebooks:\n  02_isotropy:\n    finetune: {epochs: 1.0}\n")
    seen = {p.stem: resolved(p, bad) for p in FINETUNING}
    assert len(set(seen.values())) == 2
    assert seen["02_isotropy"][1].epochs == 1.0 and seen["05_enhancement"][1].epochs == 3.0
