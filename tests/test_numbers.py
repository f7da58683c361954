"""Numbers as researchers type them (issue 39): every value a user writes (``-p``, a parameter set, a sweep file,
the staged book's set) is read by ``helpers.checks.load_yaml``, where ``1e-9`` is a float as in YAML 1.2 and JSON
(PyYAML's YAML 1.1 makes it a string); a string that only reads as a number is refused with the fix."""
import nbformat as nbf
import pytest
import yaml

from helpers import checks, finetune as F, run, staging, sweep as SW
from helpers.checks import ParameterError, load_yaml

HINT = r"\(got the string '{0}'; write it as a number, e.g. {0} without quotes\)"


def _file(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


@pytest.mark.parametrize("text, value", [
    ("1e-9", 1e-9), ("3E-4", 3e-4), ("-2e5", -2e5), (".5", 0.5), ("+1.5e3", 1500.0), ("-.5", -0.5),
    ("1.5e3", 1500.0), ("2.0e-5", 2e-5), ("0.1", 0.1), ("1.", 1.0),
])
def test_numbers_with_an_exponent_or_a_point_are_floats(text, value):
    got = load_yaml(text)
    assert type(got) is float and got == value
    assert load_yaml(f"x: {text}") == {"x": value}


def test_yaml_1_1_would_have_read_them_as_strings_and_is_left_as_it_is():
    """The reason for the loader; and the loader does not change PyYAML's own SafeLoader (the book's _toc.yml)."""
    assert yaml.safe_load("[1e-9, 3E-4, -2e5, +1.5e3]") == ["1e-9", "3E-4", "-2e5", "+1.5e3"]
    assert load_yaml("[1e-9, 3E-4, -2e5, +1.5e3]") == [1e-9, 3e-4, -2e5, 1500.0]


def test_numbers_inside_lists_and_dicts():
    data = load_yaml("finetune: {learning_rate: 3e-4, epochs: 2, weight_decay: 1e-2}\n"
                     "grid: [1e-4, 3e-4]\n"
                     "deep: [{x: -2e5, y: [.5, {z: 1E3}]}]\n")
    assert data == {"finetune": {"learning_rate": 3e-4, "epochs": 2, "weight_decay": 0.01},
                    "grid": [1e-4, 3e-4], "deep": [{"x": -2e5, "y": [0.5, {"z": 1000.0}]}]}
    assert type(data["finetune"]["learning_rate"]) is float and type(data["finetune"]["epochs"]) is int
    assert all(type(v) is float for v in data["grid"])


@pytest.mark.parametrize("text, value", [
    ("'1e-9'", "1e-9"), ('"3e-4"', "3e-4"), ("1e-9-model", "1e-9-model"), ("data/1e-9.tsv", "data/1e-9.tsv"),
    ("mr", "mr"), ("e5", "e5"), ("1e", "1e"), ("1e-", "1e-"), ("1.2.3", "1.2.3"), ("sst2", "sst2"),
    ("08", "08"),                       # as YAML 1.1 reads it (sweeps write notebooks as [05, 08]: 5 and '08')
    ("16", 16), ("05", 5), ("-3", -3),  # integers stay integers
])
def test_look_alike_strings_stay_strings_and_integers_integers(text, value):
    got = load_yaml(text)
    assert type(got) is type(value) and got == value
    assert load_yaml(f"[{text}, 1e-9]") == [value, 1e-9]


def test_the_loader_is_safe():
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("!!python/object/apply:os.system ['echo unsafe']")
    assert issubclass(checks._Loader, yaml.SafeLoader)


def test_the_runners_p_values():
    got = run.parse_overrides([("finetune", '{"learning_rate": 1e-9}'), ("tasks", "[mr, bshift]"),
                               ("finetune_q", "{learning_rate: '1e-9'}"), ("x", "3e-4")])
    assert got == {"finetune": {"learning_rate": 1e-9}, "tasks": ["mr", "bshift"],
                   "finetune_q": {"learning_rate": "1e-9"}, "x": 3e-4}
    assert type(got["finetune"]["learning_rate"]) is float and type(got["x"]) is float


def test_the_issues_command_is_accepted_and_a_quoted_number_refused_with_the_fix(capsys):
    """``python -m helpers.run 06 -p finetune '{"learning_rate": 1e-9}'`` (dry run: nothing executes)."""
    assert run.main(["06", "-p", "finetune", '{"learning_rate": 1e-9}', "--dry-run"]) == 0
    assert '"finetune": {"learning_rate": 1e-09}' in capsys.readouterr().out
    assert run.main(["06", "-p", "finetune", "{learning_rate: '1e-9', epochs: 1}", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "learning_rate='1e-9' is not valid; it must be a number (got the string '1e-9'; " \
           "write it as a number, e.g. 1e-9 without quotes)" in err


def test_a_parameter_set_file(tmp_path):
    f = _file(tmp_path, "lr.yml", "description: a learning rate as typed\nparameters:\n  finetune: {learning_rate: 3e-4}\n"
                                  "notebooks:\n  01_finetuning: {finetune: {learning_rate: 3e-4, warmup_ratio: 1e-1}}\n")
    name, params = run.load_parameter_set(f, run.find_notebook("01"))
    assert name == "lr" and params == {"finetune": {"learning_rate": 3e-4, "warmup_ratio": 0.1}}
    assert all(type(v) is float for v in params["finetune"].values())
    _, shared = run.load_parameter_set(f, run.find_notebook("02"))
    assert type(shared["finetune"]["learning_rate"]) is float
    quoted = _file(tmp_path, "q.yml", "parameters:\n  finetune: {warmup_ratio: '1e-1'}\n")
    with pytest.raises(ParameterError, match="warmup_ratio='1e-1' is not valid; it must be a number " + HINT.format("1e-1")):
        run.load_parameter_set(quoted, run.find_notebook("01"))


def test_a_notebooks_numeric_parameter_given_a_quoted_number(tmp_path):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbf.v4.new_code_cell("lr = 0.1\nsteps = 10\nname = 'a'\nflag = False")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "tiny.ipynb"
    nbf.write(nb, path)
    run.check_numbers(path, {"lr": 1e-3, "steps": 20, "name": "1e-3", "flag": True})     # all fine
    with pytest.raises(ParameterError, match="lr='1e-3' is not valid; it must be a number " + HINT.format("1e-3")):
        run.check_numbers(path, {"lr": "1e-3"})
    with pytest.raises(ParameterError, match="steps='20'.*" + HINT.format("20")):
        run.execute(path, {"steps": "20"})                 # refused before a kernel starts


def test_a_sweep_file(tmp_path):
    shared = _file(tmp_path, "set.yml", "parameters:\n  finetune: {learning_rate: 3e-4, weight_decay: 1e-2}\n")
    f = _file(tmp_path, "lr.yml", "model: minilm\ntasks: [mr]\nseeds: [0, 1]\n"
                                  "finetune: {learning_rate: 3e-4, warmup_ratio: 1e-1, epochs: 2e0}\n")
    sw = SW.load(f)
    assert sw.finetune == {"learning_rate": 3e-4, "warmup_ratio": 0.1, "epochs": 2.0}
    cfg = sw.configs("minilm")[("mr", 1)]
    assert (cfg.learning_rate, cfg.warmup_ratio, cfg.epochs) == (3e-4, 0.1, 2.0) and type(cfg.learning_rate) is float
    via_set = SW.load(_file(tmp_path, "via.yml", f"params: {shared}\nmodel: minilm\ntasks: [mr]\nseeds: [0]\n"))
    assert via_set.finetune == {"learning_rate": 3e-4, "weight_decay": 0.01}
    for setting in ("learning_rate", "warmup_ratio"):
        bad = _file(tmp_path, "bad.yml", f"model: minilm\ntasks: [mr]\nseeds: [0]\nfinetune: {{{setting}: '1e-4'}}\n")
        with pytest.raises(ParameterError, match=f"{setting}='1e-4' is not valid; .*" + HINT.format("1e-4")):
            SW.load(bad)


def test_the_staged_books_set(tmp_path):
    f = _file(tmp_path, "lr.yml", "notebooks:\n  01_finetuning: {finetune: {learning_rate: 3e-4}}\n")
    name, root = staging.stage(f, ["notebooks/01_finetuning"], into=tmp_path / "book")
    values = run.effective_parameters(root / "notebooks" / "01_finetuning.ipynb")
    assert name == "lr" and values["finetune"] == {"learning_rate": 3e-4}
    assert type(values["finetune"]["learning_rate"]) is float
    nb = nbf.read(root / "notebooks" / "01_finetuning.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if staging.INJECTED in c.metadata.get("tags", [])]
    assert "0.0003" in cell.source and "'3e-4'" not in cell.source


def test_the_error_names_a_quoted_number():
    with pytest.raises(ParameterError) as e:
        checks.positive("learning_rate", "1e-9")
    assert str(e.value) == ("learning_rate='1e-9' is not valid; it must be a number > 0 (got the string '1e-9'; "
                            "write it as a number, e.g. 1e-9 without quotes)")
    with pytest.raises(ParameterError, match="batch_size='16' is not valid; it must be a positive integer " + HINT.format("16")):
        checks.positive("batch_size", "16", integer=True)
    with pytest.raises(ParameterError, match=r"k='3' is out of range; it must be an integer in \[1, 5\] " + HINT.format("3")):
        checks.in_range("k", "3", 1, 5)
    with pytest.raises(ParameterError) as e:          # not a number at all: no hint
        checks.positive("learning_rate", "fast")
    assert "got the string" not in str(e.value)
    with pytest.raises(ParameterError) as e:          # a number that is not > 0: no hint either
        checks.positive("learning_rate", -1e-9)
    assert "got the string" not in str(e.value)


def test_fine_tuning_settings_given_a_quoted_number_say_so():
    """Where the runner's check is not on the way (a chapter's own ``finetune`` parameter, a script)."""
    with pytest.raises(ParameterError, match="learning_rate='1e-9' is not valid; it must be a number > 0 " + HINT.format("1e-9")):
        F.configs_for("minilm", ["mr"], [0], {"learning_rate": "1e-9"})
    assert F.configs_for("minilm", ["mr"], [0], load_yaml("{learning_rate: 1e-9}"))[("mr", 0)].learning_rate == 1e-9
