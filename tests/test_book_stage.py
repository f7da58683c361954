"""The book's artifact stage: every run the chapters read is built before any notebook executes, and a chapter
executed with ISOBOOK_NO_TRAINING=1 (as in the book build) fails if it would train, passes once the stage ran."""
import nbformat as nbf
import pytest

from helpers import book, finetune as F, paths, progress, run

TINY_FT = {"epochs": 1.0, "batch_size": 16, "max_length": 32, "train_size": 32, "eval_size": 16,
           "checkpoints": 0, "evals_per_epoch": 1}


def test_stage_covers_every_run_every_chapter_resolves():
    """The stage's runs are exactly the union of the runs the chapters' defaults resolve."""
    from helpers import checks

    from helpers import ledger as LG

    stage = {c for sw in book.artifact_sweeps() for m in sw.models for c in [*sw.configs(m).values(),
                                                                              *sw.control_configs(m).values()]}
    chapters, controls = set(), set()
    for doc, v in book.chapter_defaults():
        seeds = sorted(set(checks.as_list(v.get("seeds"))) | set(checks.as_list(v.get("seed"))))
        for m in [*checks.as_list(v.get("models", v.get("model"))), *checks.as_list(v.get("more_models"))]:
            real = F.configs_for(m, v["tasks"], seeds, v["finetune"])
            chapters |= set(real.values())
            on = LG.control_task_names(v.get("control_tasks"), v["tasks"])
            for c in checks.as_list(v.get("controls")):
                controls |= set(LG.control_configs({k: cfg for k, cfg in real.items() if k[0] in on}, c).values())
    assert chapters and stage == chapters | controls
    assert {(c.task, c.train_labels) for c in controls} == {("mr", "shuffled")}   # the ledger's default control
    names = {d for d, _ in book.chapter_defaults()}
    assert {"notebooks/01_finetuning", "notebooks/02_isotropy", "notebooks/07_during_finetuning"} <= names
    assert "notebooks/00_models_and_data" not in names          # declares no seed: it trains nothing


def test_stage_builds_a_chapters_control_runs_beside_its_real_ones(tmp_path):
    """A chapter whose defaults ask for the label-shuffled control gets those runs built too (same model, tasks
    and seeds; the control's settings added to its ``finetune``)."""
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbf.v4.new_code_cell(f"model = 'minilm'\ntasks = ['mr']\nseeds = [0, 1]\ncontrols = ['label-shuffled']\n"
                             f"finetune = {TINY_FT!r}")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p]
    path = tmp_path / "42_controls.ipynb"
    nbf.write(nb, path)
    (sw,) = book.artifact_sweeps([str(path)])          # one sweep: the control runs share its workers
    assert sw.finetune == TINY_FT and sw.seeds == [0, 1] and sw.tasks == ["mr"] and sw.controls == ["label-shuffled"]
    controls = sw.control_configs("minilm")
    assert list(controls) == [("label-shuffled", "mr", 0), ("label-shuffled", "mr", 1)]
    assert {c.train_labels for c in controls.values()} == {"shuffled"}


@pytest.mark.parametrize("control_tasks, expected", [(None, ["mr"]), (["bshift"], ["bshift"]),
                                                     (["bshift", "mr"], ["bshift", "mr"])])
def test_stage_builds_the_control_runs_on_the_control_tasks_only(tmp_path, control_tasks, expected):
    """The control runs are built on ``control_tasks`` (default: the chapter's first task), the real ones on
    every task; a control task that is not among the chapter's tasks is refused before anything is built."""
    from helpers.checks import ParameterError

    def chapter(control_tasks):
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        p = nbf.v4.new_code_cell(f"model = 'minilm'\ntasks = ['mr', 'bshift']\nseeds = [0, 1]\n"
                                 f"controls = ['label-shuffled']\ncontrol_tasks = {control_tasks!r}\n"
                                 f"finetune = {TINY_FT!r}")
        p.metadata["tags"] = ["parameters"]
        nb.cells = [p]
        path = tmp_path / "43_controls.ipynb"
        nbf.write(nb, path)
        return str(path)

    (sw,) = book.artifact_sweeps([chapter(control_tasks)])
    assert sw.tasks == ["mr", "bshift"] and sw.finetune == TINY_FT
    controls = sw.control_configs("minilm")
    assert set(controls) == {("label-shuffled", t, s) for t in expected for s in (0, 1)}
    assert all(c.train_labels == "shuffled" for c in controls.values())
    with pytest.raises(ParameterError, match="control_tasks.*sst2.*choose among: mr, bshift"):
        book.artifact_sweeps([chapter(["sst2"])])


def test_models_whose_runs_agree_share_one_sweep_and_no_model_gets_runs_it_does_not_read(tmp_path):
    """Two models a chapter compares with the same tasks, settings, seeds and controls are one sweep (their runs
    share the workers); a model whose chapters ask for no control stays in a sweep of its own, without them."""
    def chapter(name, body):
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        p = nbf.v4.new_code_cell(f"tasks = ['mr']\nseeds = [0, 1]\nfinetune = {TINY_FT!r}\n" + body)
        p.metadata["tags"] = ["parameters"]
        nb.cells = [p]
        nbf.write(nb, tmp_path / f"{name}.ipynb")
        return str(tmp_path / f"{name}.ipynb")

    both = chapter("44_both", "model = 'minilm'\nmore_models = ['mlm']\ncontrols = ['label-shuffled']")
    (sw,) = book.artifact_sweeps([both])
    assert sw.models == ["minilm", "mlm"]
    assert all(len(sw.configs(m)) == 2 and len(sw.control_configs(m)) == 2 for m in sw.models)
    alone = chapter("45_mlm", "model = 'mlm'\ncontrols = []")
    first, second = book.artifact_sweeps([chapter("46_minilm", "model = 'minilm'\ncontrols = ['label-shuffled']"), alone])
    assert (first.models, second.models) == (["minilm"], ["mlm"])
    assert len(first.control_configs("minilm")) == 2 and not second.control_configs("mlm")


def test_a_notebook_starts_once_the_notebooks_it_reads_have_ended():
    """Stage 2's order: the ledger waits for chapters 03-05 (not for the short chapters), the findings page for
    the ledger, the build status page for every other notebook; the others start at once."""
    ch = {n: f"notebooks/{n}" for n in ("00_models_and_data", "02_isotropy", "03_local_structure",
                                        "04_elongated_directions", "05_enhancement", "06_claims_ledger", "findings",
                                        "status")}
    pending = list(ch.values())
    assert book.ready(pending) == [ch[n] for n in ("00_models_and_data", "02_isotropy", "03_local_structure",
                                                   "04_elongated_directions", "05_enhancement")]
    after_05 = [d for d in pending if d not in (ch["03_local_structure"], ch["04_elongated_directions"],
                                                ch["05_enhancement"])]
    assert book.ready(after_05) == [ch["00_models_and_data"], ch["02_isotropy"], ch["06_claims_ledger"]]
    assert book.ready([ch["findings"], ch["status"], ch["00_models_and_data"]]) == [ch["findings"],
                                                                                 ch["00_models_and_data"]]
    assert book.ready([ch["findings"], ch["status"]]) == [ch["findings"]]
    assert book.ready([ch["status"]]) == [ch["status"]]
    assert book.ready([ch["06_claims_ledger"], ch["findings"]]) == [ch["06_claims_ledger"]]  # 03-05 cached


@pytest.fixture
def training_chapter(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbf.v4.new_code_cell(f"model = 'minilm'\ntasks = ['mr']\nseed = 0\nfinetune = {TINY_FT!r}")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbf.v4.new_code_cell(
        "from helpers import finetune as F\n"
        "runs = {t: F.finetune(cfg) for t, cfg in F.configs_by_task(model, tasks, seed, finetune).items()}\n"
        "print('accuracy', runs['mr'].metrics['test']['accuracy'])")]
    path = tmp_path / "41_tiny_training.ipynb"
    nbf.write(nb, path)
    return path


def test_chapter_reads_prebuilt_runs_and_never_trains(training_chapter, tmp_cache, monkeypatch):
    import papermill as pm

    monkeypatch.setenv(F.NO_TRAINING, "1")
    with pytest.raises(pm.PapermillExecutionError, match="artifact stage"):
        run.execute(training_chapter)                      # nothing built: the chapter would train, and is refused
    lines = []
    assert book.build_artifacts(notebooks=[str(training_chapter)], say=lines.append)
    assert any("1 fine-tuning run(s)" in line for line in lines) and lines[-1].startswith("[book artifacts] done")
    assert any("; 1 worker(s)" in line for line in lines)   # one worker per core, but never more than the runs
    out = run.execute(training_chapter)                    # same environment: it reads the run, trains nothing
    assert "accuracy" in nbf.read(out, as_version=4).cells[-1].outputs[0]["text"]
    lines.clear()
    assert book.build_artifacts(notebooks=[str(training_chapter)], say=lines.append)
    assert any("0 step(s) to run, 1 already done" in line for line in lines)


def test_meter_prints_a_line_every_tenth_with_rates_and_time_left():
    lines, t = [], [0.0]
    meter = progress.Meter("finetune x", 95, {"examples": 16, "tokens": 400}, out=lines.append, clock=lambda: t[0])
    meter.start()
    for step in range(1, 96):
        t[0] += 0.5
        meter.step(step)
    assert len(lines) == 1 + 10                           # start, every 10 steps (9 lines) and the last one
    assert lines[1] == "[finetune x] step 10/95 (11%) | 32 examples/s | 800 tokens/s | elapsed 5s, about 42s left"
    assert lines[-1].startswith("[finetune x] step 95/95 (100%)") and lines[-1].endswith("about 0s left")


def test_refusal_names_the_run_and_the_stage(monkeypatch):
    monkeypatch.setenv(F.NO_TRAINING, "1")
    with pytest.raises(RuntimeError, match="run xyz is not in the cache.*artifact stage"):
        F.refuse_training_if_prebuilt("run xyz")
    monkeypatch.setenv(F.NO_TRAINING, "0")
    F.refuse_training_if_prebuilt("run xyz")


def _notebook(path, *sources):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_execution_stage_runs_notebooks_in_parallel_and_stores_them_as_myst_nb_finds_them(tmp_path):
    """Stage 2 executes notebooks two at a time (each writes when it started and ended: the two overlap), stores
    them in a jupyter-cache that myst-nb's own lookup (``match_cache_notebook`` on the notebook as read) finds, a
    second call executes nothing, and a failing notebook is reported and not stored."""
    import json

    import nbformat
    from jupyter_cache import get_cache

    from helpers import book

    for name in ("a", "b"):
        _notebook(tmp_path / "nb" / f"{name}.ipynb",
                  f"import json, time, pathlib\nt0 = time.time(); time.sleep(3)\n"
                  f"pathlib.Path('{name}.json').write_text(json.dumps([t0, time.time()]))\nprint('{name} done')")
    _notebook(tmp_path / "nb" / "bad.ipynb", "raise RuntimeError('a broken chapter')")
    jc_dir, lines = tmp_path / "jc", []
    ok = book.execute_chapters(workers=2, notebooks=["nb/a", "nb/b", "nb/bad"], root=tmp_path, cache_dir=jc_dir,
                               say=lines.append)
    assert not ok and any("nb/bad FAILED" in x and "a broken chapter" in x for x in lines), lines
    (a0, a1), (b0, b1) = (json.loads((tmp_path / "nb" / f"{n}.json").read_text()) for n in ("a", "b"))
    assert a0 < b1 and b0 < a1, "the two notebooks did not run at the same time"
    jc = get_cache(str(jc_dir))
    for name in ("a", "b"):
        record = jc.match_cache_notebook(nbformat.read(tmp_path / "nb" / f"{name}.ipynb", as_version=4))
        _, merged = jc.merge_match_into_notebook(nbformat.read(tmp_path / "nb" / f"{name}.ipynb", as_version=4))
        assert f"{name} done" in merged.cells[0].outputs[0].text and record.data["execution_seconds"] > 2
    with pytest.raises(KeyError):
        jc.match_cache_notebook(nbformat.read(tmp_path / "nb" / "bad.ipynb", as_version=4))
    lines.clear()
    assert book.execute_chapters(workers=2, notebooks=["nb/a", "nb/b"], root=tmp_path, cache_dir=jc_dir, say=lines.append)
    assert lines[0].startswith("[book execute] 0 of 2 notebook(s) to execute"), lines


def test_a_notebook_whose_kernel_dies_beside_another_is_executed_again_alone(tmp_path):
    """A kernel that ends mid-run (the system's out-of-memory killer, a crash: here the kernel kills itself while
    another notebook runs) is not a cell's error: stage 2 names the notebook, waits for the other to end and
    executes it once more with none beside it, where it passes (it dies only when it is not alone).  One that dies
    alone too is reported as failed, once, with the cause; the others are stored."""
    import nbformat
    from jupyter_cache import get_cache

    _notebook(tmp_path / "nb" / "long.ipynb", "import time, pathlib\npathlib.Path('long.running').touch()\n"
              "time.sleep(6)\npathlib.Path('long.running').unlink()\nprint('long done')")
    _notebook(tmp_path / "nb" / "fragile.ipynb", "import os, signal, time, pathlib\ntime.sleep(1.5)\n"
              "if pathlib.Path('long.running').exists():\n    os.kill(os.getpid(), signal.SIGKILL)\nprint('alone, fine')")
    _notebook(tmp_path / "nb" / "doomed.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    jc_dir, lines = tmp_path / "jc", []
    ok = book.execute_chapters(workers=2, notebooks=["nb/long", "nb/fragile"], root=tmp_path, cache_dir=jc_dir,
                               say=lines.append)
    assert ok, lines
    assert any(x.startswith(f"[book execute] nb/fragile: {book.KERNEL_DIED}") and "nb/long" in x
               and "again with no other notebook beside it" in x for x in lines), lines
    jc = get_cache(str(jc_dir))
    _, merged = jc.merge_match_into_notebook(nbformat.read(tmp_path / "nb" / "fragile.ipynb", as_version=4))
    assert "alone, fine" in merged.cells[0].outputs[0].text
    assert any("nb/long executed in" in x and "kernel peak" in x for x in lines), lines
    lines.clear()
    ok = book.execute_chapters(workers=2, notebooks=["nb/doomed"], root=tmp_path, cache_dir=jc_dir, say=lines.append)
    failed = [x for x in lines if "nb/doomed FAILED" in x]
    assert not ok and len(failed) == 1 and book.KERNEL_DIED in failed[0], lines


def test_a_kernels_peak_memory_is_its_largest_childs_high_water_mark():
    """The peak stage 2 reports per notebook: a child that holds 300 MiB for half a second reads 300-400 MiB (its
    high-water mark, kept until it ends), one that holds nothing reads far less."""
    import subprocess
    import sys

    with book.ChildrenPeak(every=0.1) as big:
        subprocess.run([sys.executable, "-c", "x = bytearray(300 * 2**20); import time; time.sleep(0.5)"], check=True)
    with book.ChildrenPeak(every=0.1) as small:
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)"], check=True)
    assert 300 <= big.peak_mib < 400 and 0 < small.peak_mib < 100, (big.peak_mib, small.peak_mib)


def test_the_status_page_lists_each_notebooks_kernel_peak_largest_first(tmp_path):
    """The record stage 2 keeps (``{doc: MiB}``) is read back largest first; no record, an empty table."""
    import json

    record = tmp_path / "kernel-peaks.json"
    record.write_text(json.dumps({"nb/small": 210.5, "nb/big": 1621.0, "nb/mid": 900.0}))
    table = book.kernel_peaks(record)
    assert list(table.notebook) == ["nb/big", "nb/mid", "nb/small"] and table["peak MiB"].tolist() == [1621.0, 900.0, 210.5]
    assert book.kernel_peaks(tmp_path / "absent.json").empty


def test_stage_two_records_every_cells_seconds_and_names_the_slowest(tmp_path):
    """Each executed code cell gets its seconds (nbclient's timing stamps, removed from the stored notebook); a
    cell that sleeps 2 s is the slowest, with its share of its notebook."""
    import json

    import nbformat

    from helpers import book

    _notebook(tmp_path / "nb" / "slow.ipynb", "import time\ntime.sleep(2)")
    doc, text, seconds, err, cells, peak = book._execute_one("nb/slow", tmp_path)
    assert err is None and len(cells) == 1 and 1.9 < cells[0]["seconds"] < seconds
    assert cells[0]["code"] == "import time"
    assert all("execution" not in c.metadata for c in nbformat.reads(text, as_version=4).cells)
    record = tmp_path / "cell-times.json"
    record.write_text(json.dumps({"nb/slow": cells, "nb/fast": [{"cell": 0, "id": "x", "seconds": 0.5, "code": "1"},
                                                                {"cell": 1, "id": "y", "seconds": 1.5, "code": "2"}]}))
    slow = book.slowest_cells(2, record)
    assert list(slow.notebook) == ["nb/slow", "nb/fast"] and slow["share of the notebook"].tolist() == [1.0, 0.75]
    assert book.slowest_cells(5, tmp_path / "absent.json").empty


def test_no_cell_of_the_book_has_a_time_limit(tmp_path, monkeypatch):
    """The chapters compute their tables in stage 2, so a per-cell limit would fail a slow machine where a fast one
    passes: the book's setting is 'none'.  A cell that sleeps 2 s runs to the end under it, and is stopped under a
    limit of 1 s (so the check would see a limit if there were one)."""
    import yaml

    assert book._execution_settings()["timeout"] < 0
    assert yaml.safe_load((paths.ROOT / "_config.yml").read_text())["execute"]["timeout"] < 0
    _notebook(tmp_path / "nb" / "slow.ipynb", "import time\ntime.sleep(2)")
    assert book._execute_one("nb/slow", tmp_path)[3] is None
    monkeypatch.setattr(book, "_execution_settings", lambda: {"timeout": 1, "allow_errors": False})
    assert "timed out" in (book._execute_one("nb/slow", tmp_path)[3] or "")
