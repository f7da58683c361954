import pytest

from helpers import baseline
from helpers.checks import ParameterError


def test_frozen_baseline_beats_chance_and_is_cached(tmp_cache, monkeypatch):
    r = baseline.frozen_baseline("minilm", "mr", train_size=300, max_length=48)
    assert r["train_examples"] == 300
    assert 0.6 < r["test"]["accuracy"] <= 1.0  # frozen sentence embeddings carry sentiment
    monkeypatch.setattr(baseline, "sentence_embeddings", lambda *a, **k: pytest.fail("recomputed"))
    assert baseline.frozen_baseline("minilm", "mr", train_size=300, max_length=48) == r


def test_layer_out_of_range_is_rejected():
    with pytest.raises(ParameterError, match="layer"):
        baseline.sentence_embeddings("minilm", ["a b c"], layer=9)
