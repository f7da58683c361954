"""Sweeps on Dask distributed: a real 2-worker LocalCluster (a worker killed mid-step, finished work skipped,
chapter 06 reading the results), an existing cluster by --scheduler-file and --address, and bad sweep files."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers import paths, sweep as SW
from helpers.checks import ParameterError

TINY_FT = "{epochs: 2.0, batch_size: 16, max_length: 32, train_size: 48, eval_size: 16, checkpoints: 0, evals_per_epoch: 1}"
TINY_ENH = ("{n_sentences: 30, n_train_sentences: 40, methods: [ZM, Clustering+ZM], n_clusters: 4, "
            "max_fit_tokens: 2000, extract_max_length: 48}")


def sweep_file(tmp_path, name="tiny", seeds="[0, 1]", steps="[finetune]", notebooks="[]", more=""):
    f = tmp_path / f"{name}.yml"
    f.write_text(f"description: a tiny sweep for the tests\nmodel: minilm\ntasks: [mr]\nseeds: {seeds}\n"
                 f"finetune: {TINY_FT}\nsteps: {steps}\nenhancement: {TINY_ENH}\nnotebooks: {notebooks}\nretries: 1\n"
                 + more)
    return f


@pytest.mark.parametrize("text, match", [
    ("tasks: [mr]\nsteeps: [finetune]\n", "unknown key"),
    ("tasks: [mr]\nsteps: [train]\n", "steps"),
    ("tasks: [nope]\n", "task"),
    ("tasks: []\n", "tasks"),
    ("tasks: [mr]\nseeds: [0, 0]\n", "seeds"),
    ("tasks: [mr]\nfinetune: {epoch: 1}\n", "finetune"),
    ("tasks: [mr]\nsteps: [enhancement]\nenhancement: {n_sentence: 3}\n", "enhancement"),
    ("tasks: [mr]\nnotebooks: [99]\n", "notebook"),
])
def test_bad_sweep_files_are_refused_before_any_work(tmp_path, text, match):
    f = tmp_path / "bad.yml"
    f.write_text(text)
    with pytest.raises(ParameterError, match=match):
        SW.load(f)


def test_cli_names_the_problem(tmp_path, capsys):
    assert SW.main([str(tmp_path / "missing.yml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_shipped_sweeps_load():
    for f in sorted((paths.PARAMS / "sweeps").glob("*.yml")):
        text = f.read_text()
        if "bert-base-uncased" in text or "paper-bert-glue" in text:
            continue   # needs the hub to resolve the model
        SW.load(f)


def _kill_a_worker_mid_step(client, cache_dir, killed, stop):
    """Wait until a fine-tuning run is being built, then SIGKILL the worker process that builds it (or until
    ``stop`` is set: no clock, so a slow or busy machine only waits longer)."""
    while not stop.is_set():
        if list((cache_dir / "finetune").glob(".tmp-*")):
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def test_a_sweeps_controls_are_checked_and_handed_to_the_ledger(tmp_path):
    """A sweep's control fine-tunings: checked when the file is read (the control's name, its tasks among the
    sweep's), one run per control, control task and seed, and the ledger's notebook gets them as parameters."""
    from helpers.checks import ParameterError

    spec = SW.load(sweep_file(tmp_path, more="controls: [label-shuffled]\n"))
    assert spec.controls == ["label-shuffled"] and list(spec.control_configs("minilm")) == [
        ("label-shuffled", "mr", 0), ("label-shuffled", "mr", 1)]
    assert all(c.train_labels == "shuffled" for c in spec.control_configs("minilm").values())
    assert SW.load(sweep_file(tmp_path)).control_configs("minilm") == {}          # none by default
    params = spec.notebook_params("06_claims_ledger", "minilm")
    assert params["controls"] == ["label-shuffled"] and params["control_tasks"] is None
    f = tmp_path / "two.yml"
    f.write_text(f"model: minilm\ntasks: [mr, bshift]\nseeds: [0]\nfinetune: {TINY_FT}\ncontrols: [label-shuffled]\n"
                 "control_tasks: [bshift]\n")
    assert list(SW.load(f).control_configs("minilm")) == [("label-shuffled", "bshift", 0)]
    with pytest.raises(ParameterError, match="controls='shuffled'.*label-shuffled"):
        SW.load(sweep_file(tmp_path, more="controls: [shuffled]\n"))
    with pytest.raises(ParameterError, match="control_tasks.*bshift.*choose among: mr"):
        SW.load(sweep_file(tmp_path, more="controls: [label-shuffled]\ncontrol_tasks: [bshift]\n"))


def test_sweep_on_a_two_worker_local_cluster_survives_a_killed_worker_and_skips_done_work(tmp_path, monkeypatch):
    from distributed import Client

    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("ISOBOOK_CACHE", str(cache_dir))          # workers inherit it
    spec = SW.load(sweep_file(tmp_path, steps="[finetune, enhancement]", notebooks="[06_claims_ledger]",
                              more="controls: [label-shuffled]\n"))
    cluster, threads = SW.local_cluster(2)
    killed, lines = [], []
    try:
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            stop = threading.Event()
            killer = threading.Thread(target=_kill_a_worker_mid_step, args=(client, cache_dir, killed, stop))
            killer.start()
            try:
                table = SW.run(spec, client=client, threads=threads, say=lines.append)
            finally:
                stop.set()
                killer.join()
            assert killed, "no worker was killed: the test did not exercise the rerun"
            assert (table.status == "done").all(), table
            # two runs, their measurements, the two label-shuffled control runs, the ledger
            assert len(table) == 7 and set(table.step) == {"finetune", "enhancement", "notebook 06_claims_ledger"}
            assert any(line.startswith("[7/7]") and "elapsed" in line and "left" in line for line in lines)
            runs = sorted(p for p in (cache_dir / "finetune").iterdir() if p.is_dir())
            assert len(runs) == 4 and not any(p.name.startswith(".tmp-") for p in runs)
            # chapter 06 ran on the sweep and read its summary and the cached tables
            summary = SW.read_summary("tiny")
            assert set(summary.seed.dropna().astype(int)) == {0, 1} and summary["test metric"].notna().sum() == 6
            executed = list((paths.EXECUTED / "06_claims_ledger").glob("sweep-tiny-*.ipynb"))
            assert executed and b"Traceback" not in executed[0].read_bytes()
            assert b"label-shuffled fine-tuning on mr (control)" in executed[0].read_bytes()
            # a rerun finds every step done
            again = SW.run(spec, client=client, threads=threads, say=lines.append)
            assert (again[again.step != "notebook 06_claims_ledger"].status == "skipped (done)").all()
    finally:
        cluster.close()


def test_sweep_against_a_separately_started_cluster(tmp_path):
    """`dask scheduler` + `dask worker` started on their own, the sweep by --scheduler-file and by --address."""
    env = {**os.environ, "ISOBOOK_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "ISOBOOK_QUIET": "1"}
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if sched_file.is_file() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        procs.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                                       "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        f = sweep_file(tmp_path, name="remote", seeds="[0]")
        cmd = [sys.executable, "-m", "helpers.sweep", str(f), "--scheduler-file", str(sched_file)]
        res = subprocess.run(cmd, env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert "[1/1] finetune minilm mr 0: done" in res.stdout
        import json

        address = json.loads(sched_file.read_text())["address"]
        res = subprocess.run([sys.executable, "-m", "helpers.sweep", str(f), "--address", address],
                             env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0 and "0 step(s) to run, 1 already done" in res.stdout, res.stdout + res.stderr
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_remaining_time_uses_the_time_of_each_kind_of_step():
    took = {"finetune": [400.0, 440.0], "enhancement": [40.0]}
    assert SW._remaining(["finetune", "enhancement"], took, workers=2) == pytest.approx((420 + 40) / 2)
    assert SW._remaining(["notebook"], took, workers=1) == pytest.approx(880 / 3)   # unseen kind: mean of all
    assert SW._remaining([], took, workers=2) == 0


def test_the_longest_runs_start_first():
    """The book's MLM encoder fine-tunes for 2 epochs at 4 x 256, MiniLM for 1 at 6 x 384: MiniLM's runs cost more
    and a sweep of both submits them first, whatever the order of its models; a model whose config cannot be read
    costs 0 (it keeps its place among equals)."""
    from helpers import finetune as F

    mlm, minilm = (next(iter(F.configs_for(m, ["mr"], [0]).values())) for m in ("mlm", "minilm"))
    assert SW.training_cost(minilm) > SW.training_cost(mlm) > 0
    assert SW.training_cost(F.FinetuneConfig(model="minilm", epochs=3.0)) == 3 * SW.training_cost(F.FinetuneConfig(model="minilm"))

    class Unreadable:
        epochs, model = 1.0, "no-such-model"

    assert SW.training_cost(Unreadable()) == 0.0
    for models in (["mlm", "minilm"], ["minilm", "mlm"]):
        assert SW.start_order(SW.Sweep(name="t", models=models, tasks=["mr"], seeds=[0])) == ["minilm", "mlm"]


def test_a_step_is_done_only_for_the_run_its_marker_names(tmp_path, tmp_cache):
    """A step's record counts as done when its artifacts exist and the run it recorded is the run its marker names:
    a run keyed by other code (the helpers changed while the step trained) does not stand for this one."""
    import shutil

    from helpers import cache, finetune as F

    cfg = F.FinetuneConfig(model="minilm", task="mr", seed=0)
    marker, spec = SW._marker("finetune", cfg, {})
    artifact = tmp_path / "a-run"
    artifact.mkdir()
    for run, done in ((spec["run"] + "-other-code", False), (spec["run"], True)):
        shutil.rmtree(marker, ignore_errors=True)
        with cache.building(marker, spec) as tmp:
            cache.write_json_atomic(tmp / "result.json", {"run": run, "artifacts": [str(artifact)]})
        assert (SW.is_done("finetune", cfg, {}) is not None) is done
    artifact.rmdir()
    assert SW.is_done("finetune", cfg, {}) is None          # and never when an artifact is gone
