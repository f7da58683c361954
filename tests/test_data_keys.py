"""Keys that know the data: artifacts built from a task are keyed by the content of its loaded table, not by
where it was read from (two copies of SST-2 with different labels never share a run or an extraction)."""
import shutil

from helpers import extract as E, finetune as F, models, tasks as T


def _sst2(root, flip=False):
    d = root / "SST-2"
    d.mkdir(parents=True)
    rows = "".join(f"a {'fine' if i % 2 else 'bad'} film number {i} \t{(i + flip) % 2 if i < 6 else i % 2}\n" for i in range(40))
    (d / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (d / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"film {i} is {'good' if i % 2 else 'bad'} \t{i % 2}\n" for i in range(12)))
    return root


def test_relabelled_copy_gets_its_own_run_and_extraction(tmp_path, tmp_cache):
    original, relabelled = _sst2(tmp_path / "orig"), _sst2(tmp_path / "relabelled", flip=True)
    spec = models.resolve("minilm")
    a = F.FinetuneConfig(task="sst2", glue_dir=str(original))
    b = F.FinetuneConfig(task="sst2", glue_dir=str(relabelled))
    assert a.key_spec(spec) != b.key_spec(spec) and F.run_dir(a, spec) != F.run_dir(b, spec)
    kw = dict(task="sst2", split="test", n_sentences=4, max_length=32)
    ea = E.extract("minilm", glue_dir=str(original), **kw)
    eb = E.extract("minilm", glue_dir=str(relabelled), **kw)
    assert ea.path != eb.path


def test_same_content_under_another_path_is_one_run(tmp_path, tmp_cache):
    original = _sst2(tmp_path / "orig")
    moved = tmp_path / "elsewhere" / "glue"
    shutil.copytree(original, moved)
    spec = models.resolve("minilm")
    a = F.FinetuneConfig(task="sst2", glue_dir=str(original))
    b = F.FinetuneConfig(task="sst2", glue_dir=str(moved))
    assert F.run_dir(a, spec) == F.run_dir(b, spec)
    kw = dict(task="sst2", split="test", n_sentences=4, max_length=32)
    assert E.extract("minilm", glue_dir=str(original), **kw).path == E.extract("minilm", glue_dir=str(moved), **kw).path


def test_digest_follows_content_split_and_order():
    df = T.load("mr")
    d = T.table_digest(df)
    assert d == T.table_digest(df.copy()) == T.data_digest("mr")
    flipped = df.copy()
    flipped.loc[0, "label"] = 1 - flipped.loc[0, "label"]
    assert T.table_digest(flipped) != d
    assert T.data_digest("mr", split_seed=1) != d                 # another split is other data for a run
    assert T.table_digest(df.iloc[::-1]) != d
