"""The reference ledger check: passes on the same numbers, fails on a changed one (on the reference's machine family),
reports how far numbers moved elsewhere and fails there only on a changed verdict."""
import json

import pandas as pd
import pytest

from helpers import paths, reference as R


def ledger(c1_estimate=-0.523, c1_verdict="supported", accuracy=0.8515):
    """A small record as :func:`helpers.reference.record` makes it: cells as stored text."""
    rows = [{"kind": "claim", "objective": "mlm", "item": "C1", "verdict": c1_verdict, "statistic": "log10 I(W)",
             "estimate [95% interval]": f"{c1_estimate:+.3g} [-0.774, -0.272]", "estimate": c1_estimate,
             "low": -0.774, "high": -0.272, "n": 3, "label-shuffled control": "inconclusive"},
            {"kind": "claim", "objective": "minilm", "item": "C1", "verdict": "inconclusive", "statistic": "log10 I(W)",
             "estimate [95% interval]": "+0.479 [+0.367, +0.592]", "estimate": 0.479, "low": 0.367, "high": 0.592,
             "n": 3, "label-shuffled control": "supported"},
            {"kind": "run", "objective": "mlm", "item": "mr seed 0 true", "statistic": "accuracy",
             "test score": accuracy}]
    columns = list(dict.fromkeys(c for r in rows for c in r))
    return pd.DataFrame([{c: R._text(r[c]) if c in r else "" for c in columns} for r in rows], columns=columns)


@pytest.fixture
def committed(tmp_path):
    """The small record committed as the reference ``t`` (parameters: the default book's, this machine)."""
    R.write(ledger(), R.book_parameters(paths.ROOT), "t", tmp_path)
    return tmp_path


def test_the_same_numbers_reproduce_the_reference(committed):
    res = R.check(paths.ROOT, "t", committed, table=ledger())
    assert res["status"] == "reproduces" and not res["fails"] and res["differences"].empty
    assert R.REPRODUCES in res["text"]


def test_a_changed_number_fails_on_the_reference_machine_and_names_the_cell(committed):
    res = R.check(paths.ROOT, "t", committed, table=ledger(accuracy=0.8516))
    assert res["status"] == "differs" and res["fails"]
    (row,) = res["differences"].itertuples(index=False)
    assert (row.kind, row.objective, row.item, row.field) == ("run", "mlm", "mr seed 0 true", "test score")
    assert row.reference == "0.8515" and row[5] == "0.8516" and row.moved.startswith("moved +0.0001")


def test_a_changed_verdict_is_named_with_old_and_new(committed):
    res = R.check(paths.ROOT, "t", committed, table=ledger(c1_verdict="inconclusive"))
    d = res["differences"]
    assert res["fails"] and d.field.tolist() == ["verdict"]
    assert (d.reference.iloc[0], d["this build"].iloc[0]) == ("supported", "inconclusive")


def test_on_another_machine_family_numbers_may_move_but_a_verdict_may_not(committed):
    meta = committed / "t.json"
    info = json.loads(meta.read_text())
    info["platform"]["cpu"] = "another processor"
    meta.write_text(json.dumps(info))
    moved = R.check(paths.ROOT, "t", committed, table=ledger(c1_estimate=-0.5231))
    assert moved["status"] == "differs" and not moved["fails"] and "another machine family" in moved["text"]
    assert set(moved["differences"].field) == {"estimate"}      # the printed interval rounds it away
    assert moved["differences"].moved.iloc[0].startswith("moved -0.0001")
    flipped = R.check(paths.ROOT, "t", committed, table=ledger(c1_verdict="contradicted"))
    assert flipped["fails"]


def test_a_missing_row_and_other_parameters_fail(committed, tmp_path):
    fewer = ledger().iloc[:2]
    res = R.check(paths.ROOT, "t", committed, table=fewer)
    assert res["fails"] and (res["differences"]["this build"] == "(no such row)").all()
    R.write(ledger(), {**R.book_parameters(paths.ROOT), "seeds": [0, 1]}, "u", tmp_path)
    other = R.check(paths.ROOT, "u", tmp_path, table=ledger())
    assert other["status"] == "other parameters" and other["fails"]
    assert R.check(paths.ROOT, "none", tmp_path, table=ledger())["status"] == "no reference"


def test_reproduce_command_exits_non_zero_on_a_mismatch_and_update_rewrites(committed, monkeypatch, capsys):
    monkeypatch.setattr(R, "REFERENCE", committed)
    (committed / "t.csv").rename(committed / "default.csv")
    (committed / "t.json").rename(committed / "default.json")
    monkeypatch.setattr(R, "record", lambda root=paths.ROOT: ledger())
    assert R.main([]) == 0 and "This build reproduces the reference ledger" in capsys.readouterr().out
    monkeypatch.setattr(R, "record", lambda root=paths.ROOT: ledger(c1_estimate=-0.6))
    assert R.main([]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "claim mlm C1 | estimate: '-0.523' -> '-0.6'" in out
    assert R.main(["--update"]) == 0 and R.main([]) == 0       # a deliberate change: the reference follows
    import os
    from helpers.finetune import NO_TRAINING
    assert NO_TRAINING not in os.environ                      # the command's no-training guard does not leak
    assert pd.read_csv(committed / "default.csv", dtype=str).estimate.iloc[0] == "-0.6"


def test_the_committed_references_are_of_the_books_they_guard():
    """reference/default.csv holds every claim for each objective of the default book, and every run; its
    parameters are the default findings page's (a change of defaults must come with a new reference)."""
    ref = R.read(R.DEFAULT)
    assert ref is not None, "reference/default.csv is not committed"
    table, meta = ref
    params = R.book_parameters(paths.ROOT)
    assert meta["parameters"] == params
    objectives = [params["model"], *params["more_models"]]
    claims = table[table.kind == "claim"]
    assert sorted(set(claims.objective)) == sorted(objectives)
    assert all(sorted(claims[claims.objective == m].item) == [f"C{i}" for i in range(1, 8)] for m in objectives)
    runs = table[table.kind == "run"]
    assert len(runs) == len(objectives) * (len(params["tasks"]) + 1) * len(params["seeds"])    # + the control's runs
    assert runs["test score"].astype(float).between(0, 1).all()


def test_a_book_is_known_by_the_folder_of_its_table_of_contents(tmp_path):
    """A notebook finds the book it belongs to (its status page checks that book against that book's reference, and
    reads that book's records): the default book, or a staged one under _build/books/<set>/."""
    from helpers import book

    staged = tmp_path / "books" / "smoke"
    (staged / "notebooks").mkdir(parents=True)
    (staged / "_toc.yml").write_text("format: jb-book\nroot: notebooks/findings\n")
    assert book.book_root(staged / "notebooks") == staged.resolve() and R.book_name(staged) == "smoke"
    assert book.book_root(paths.NOTEBOOKS) == paths.ROOT and R.book_name(paths.ROOT) == R.DEFAULT
    assert book.records(staged)["times"] == staged / "_build" / book.TIMES.name
    assert book.records(paths.ROOT)["cells"] == book.CELL_TIMES


def test_the_last_strict_build_is_read_back_only_if_made_by_these_helpers(tmp_path):
    """make test's browser checks read the build its first step made (return code and log) instead of building again,
    but never one made by other helpers."""
    from helpers import book, cache

    root = tmp_path / "books" / "t"
    (root / "_build").mkdir(parents=True)
    assert book.last_build(root) is None
    record = {"returncode": 0, "args": ["jupyter-book"], "log": "build succeeded.\n", "helpers": book.helpers_digest()}
    cache.write_json_atomic(book.records(root)["build"], record)
    last = book.last_build(root)
    assert last.returncode == 0 and "build succeeded" in last.stdout
    cache.write_json_atomic(book.records(root)["build"], {**record, "helpers": "older"})
    assert book.last_build(root) is None


def test_the_reference_figure_is_drawn_from_its_table(committed):
    """write() draws the ledger's figure beside it (the README shows the default's): one row per claim, one column
    per objective, the same bytes for the same table; the committed default figure is that of the committed table."""
    svg = (committed / "t.svg").read_text()
    assert svg.startswith("<?xml") and "mlm" in svg and "minilm" in svg and "C1:" in svg and "-0.523" in svg
    assert R.figure_svg(ledger(), R.figure_title("t")) == svg
    assert R.figure_svg(ledger(c1_estimate=-0.4), R.figure_title("t")) != svg
    table, _ = R.read(R.DEFAULT)
    assert R.figure_svg(table, R.figure_title(R.DEFAULT)) == R.paths_of(R.DEFAULT)[0].with_suffix(".svg").read_text()


def test_the_check_at_the_end_of_a_build_reads_the_record_its_status_page_kept(committed, monkeypatch, tmp_path):
    """The status page computes the ledger and keeps it; the check at the end of the same build reads it (never one
    kept before the build started, or under other code or parameters) instead of computing it a second time."""
    import os
    import time

    monkeypatch.setattr(R, "built_record", lambda root=paths.ROOT: tmp_path / "kept" / "reference-record.csv")
    computed = []
    monkeypatch.setattr(R, "record", lambda root=paths.ROOT: computed.append(1) or ledger(c1_estimate=-0.6))
    start = time.time() - 1
    page = R.check(paths.ROOT, "t", committed, keep=True)                  # the status page: computes and keeps
    assert computed == [1] and page["status"] == "differs"
    end = R.check(paths.ROOT, "t", committed, since=start)                # the build's last check: reads it
    assert computed == [1] and end["text"] == page["text"]
    assert (end["differences"].astype(str).values == page["differences"].astype(str).values).all()
    R.check(paths.ROOT, "t", committed)                                   # no build start given: computed
    R.check(paths.ROOT, "t", committed, since=time.time() + 60)           # kept before this build: computed
    assert computed == [1, 1, 1]
    meta = tmp_path / "kept" / "reference-record.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "code": "other"}))
    os.utime(meta, (start + 2, start + 2))
    R.check(paths.ROOT, "t", committed, since=start)                      # other code: computed
    assert computed == [1, 1, 1, 1]
