"""Negative control of the claims pipeline on real runs: a null fine-tuning (learning rate so small that the
weights barely move) must not make any claim that asserts a change *caused by fine-tuning* come out
'supported' (C1: isotropy fell; C2: the token-type and frequency structure faded; C3: more dominant directions; C4: the top directions hold more of the label
after fine-tuning; C6: enhancement helps pre-trained more than fine-tuned).  With a real effect these verdicts can be 'supported' (tests/test_claims.py feeds them one), so
this test can fail: it fails if the pipeline invents an effect, e.g. by comparing unpaired samples or by
treating copies of one value as replicates."""
import pytest

from helpers import claims as C, directions as D, enhancement as EN, finetune as F, ledger as LG, structure as S, transforms as TR

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def null_tables(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISOBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        configs = F.configs_for("minilm", ["mr"], SEEDS, dict(epochs=1.0, learning_rate=1e-12, batch_size=16,
                                max_length=32, train_size=32, eval_size=16, checkpoints=0, evals_per_epoch=1))
        tables = EN.measure(configs, n_sentences=30, n_train_sentences=40, methods=["ZM", "Clustering+ZM", "ABTT"],
                            n_clusters=4, extract_max_length=48, sweep_grid={})
        tables["knowledge"] = D.knowledge_table(configs, n_sentences=30, n_fit_sentences=40, extract_max_length=48, ks=(1, 2))
        tables["structure"] = S.change_table(configs, n_sentences=30, extract_max_length=48)
        tables["ledger"] = LG.verdicts(configs, n_sentences=30, n_train_sentences=40, methods=["ZM", "Clustering+ZM", "ABTT"],
                                       n_clusters=4, extract_max_length=48, tables=dict(tables))
        yield tables


def test_null_finetuning_supports_no_change(null_tables):
    iso, dirs, scores = null_tables["iso"], null_tables["directions"], null_tables["scores"]
    last = iso[iso.layer == iso.layer.max()]
    base = last[(last.method == "none") & (last.metric == "log10 I(W)")]
    assert sorted(base.replicate.unique()) == SEEDS and set(base.state) == {"pre-trained", "fine-tuned"}
    layers = list(range(1, int(iso.layer.max()) + 1))
    verdicts = [C.by_layer(C.c1_isotropy, iso[(iso.method == "none") & (iso.metric == "log10 I(W)")]
                           .drop(columns=["method", "metric"]), layers=layers),
                C.by_layer(C.c2_drift, null_tables["structure"].drop(columns="other_seed"), layers=layers),
                C.by_layer(C.c3_directions, dirs, layers=layers), C.c4_knowledge(null_tables["knowledge"]),
                C.c6_task_effect(scores, ["ZM", "Clustering+ZM", "ABTT"])]
    for v in verdicts:
        assert v.n == len(SEEDS), v.claim
        assert v.verdict != C.SUPPORTED, (v.claim, v.detail)
        assert (v.layers.empty or (v.layers.verdict != C.SUPPORTED).all()), (v.claim, v.layers)   # no layer either
        assert v.last_layer.get("verdict") != C.SUPPORTED
    # the pre-trained values are distinct measurements (one sentence sample per replicate), not copies
    pre = base[base.state == "pre-trained"].value
    assert pre.nunique() == len(SEEDS)


def test_the_ledger_of_a_null_finetuning_supports_no_change(null_tables):
    """The ledger helper (every claim, per layer where measured) on the same null runs: C1-C4 and C6 assert a
    change caused by fine-tuning and must not be supported in any layer; the grid has every transformer layer."""
    verdicts = {v.claim: v for v in null_tables["ledger"]}
    assert list(verdicts) == ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    for claim in ("C1", "C2", "C3", "C4", "C6"):
        assert verdicts[claim].verdict != C.SUPPORTED, (claim, verdicts[claim].layers)
    grid = LG.layer_grid(null_tables["ledger"])
    n_layers = int(null_tables["iso"].layer.max())
    assert [c for c in grid.columns if c.startswith("layer ")] == [f"layer {i}" for i in range(1, n_layers + 1)]
    assert (grid[LG.GRID_VERDICT] == [verdicts[c].verdict for c in grid.index]).all()
    assert len(LG.findings(null_tables["ledger"])) == 7
