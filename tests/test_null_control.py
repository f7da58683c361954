"""Negative control of the claims pipeline on real runs: a null fine-tuning (learning rate so small that the
weights barely move) must not make any claim that asserts a change *caused by fine-tuning* come out
'supported' (C1: isotropy fell; C2: the token-type and frequency structure faded; C3: more dominant directions; C4: the top directions hold more of the label
after fine-tuning; C6: enhancement helps pre-trained more than fine-tuned).  With a real effect these verdicts can be 'supported' (tests/test_claims.py feeds them one), so
this test can fail: it fails if the pipeline invents an effect, e.g. by comparing unpaired samples or by
treating copies of one value as replicates."""
import pytest

from helpers import claims as C, directions as D, enhancement as EN, finetune as F, structure as S, transforms as TR

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
        tables["structure"] = S.c2_table(configs, n_sentences=30, extract_max_length=48, k=4)
        yield tables


def test_null_finetuning_supports_no_change(null_tables):
    iso, dirs, scores = null_tables["iso"], null_tables["directions"], null_tables["scores"]
    last = iso[iso.layer == iso.layer.max()]
    base = last[(last.method == "none") & (last.metric == "log10 I(W)")]
    assert sorted(base.replicate.unique()) == SEEDS and set(base.state) == {"pre-trained", "fine-tuned"}
    verdicts = [C.c1_isotropy(base), C.c2_structure(null_tables["structure"]), C.c3_directions(dirs), C.c4_knowledge(null_tables["knowledge"]),
                C.c6_task_effect(scores, ["ZM", "Clustering+ZM", "ABTT"])]
    for v in verdicts:
        assert v.n == len(SEEDS), v.claim
        assert v.verdict != C.SUPPORTED, (v.claim, v.detail)
    # the pre-trained values are distinct measurements (one sentence sample per replicate), not copies
    pre = base[base.state == "pre-trained"].value
    assert pre.nunique() == len(SEEDS)
