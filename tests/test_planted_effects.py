"""The claim rules on real token embeddings with a planted effect of known size (issue "Verdicts a referee
accepts", item 3): the pre-trained MiniLM's last-layer tokens of three held-out samples per task stand in for the
fine-tuning seeds' replicates, and a "fine-tuned" space is made from each by a known transformation.  At n = 3,
as the book runs, the rule must support the planted effect and contradict its reversal; unplanted, it must not
support.  A failure means the rule cannot see, at the book's replicate count, an effect of the size planted."""
import numpy as np
import pandas as pd
import pytest

from helpers import claims as C, extract as E, geometry as G

SEEDS = (0, 1, 2)
TASKS = ("mr", "bshift")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """{(task, replicate): last-layer tokens of the pre-trained model on that replicate's held-out sample}."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ISOBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        out = {}
        for t in TASKS:
            for s in SEEDS:
                ex = E.extract("minilm", task=t, split="test", n_sentences=60, sample_seed=E.replicate_sample_seed(s),
                               max_length=48)
                out[t, s] = np.asarray(ex.hidden(ex.n_layers), dtype=np.float64)
        return out


_BEFORE: dict = {}


def _rows(tokens, plant, measure):
    """Rows (task, replicate, state, value) of ``measure`` before and after ``plant`` (the unplanted space's
    value computed once per measure)."""
    rows = []
    for (t, s), X in tokens.items():
        before = _BEFORE.setdefault((measure.__name__, t, s), measure(X))
        rows += [{"task": t, "replicate": s, "state": "pre-trained", **before},
                 {"task": t, "replicate": s, "state": "fine-tuned", **measure(plant(X, s))}]
    return pd.DataFrame(rows)


def _log10_iw(X):
    return {"value": G.partition_isotropy(X, return_log=True) / np.log(10)}


def _common_direction(X, seed, size=1.0):
    """Every token moved along one random unit direction by ``size`` mean norms: a shared component, which lowers
    I(W) (the tokens crowd into a cone)."""
    u = np.random.default_rng(100 + seed).normal(size=X.shape[1])
    return X + size * np.linalg.norm(X, axis=1).mean() * u / np.linalg.norm(u)


@pytest.mark.parametrize("plant, expected", [
    (lambda X, s: _common_direction(X, s), C.SUPPORTED),          # isotropy falls: "not necessarily rises" holds
    (lambda X, s: 0.5 * X, C.CONTRADICTED),                       # halved norms raise I(W) in every task: contradicted
    (lambda X, s: X.copy(), C.INCONCLUSIVE),                      # nothing planted: exactly no change
])
def test_c1_sees_a_planted_change_of_isotropy_at_three_replicates(tokens, plant, expected):
    v = C.c1_isotropy(_rows(tokens, plant, _log10_iw))
    assert v.n == len(SEEDS)
    assert v.verdict == expected, v.detail


def _counts(X):
    return {"value": float(G.dominant_directions(X)["above_10x_median"])}


def _explode(X, seed, k=3, factor=20.0):
    """``k`` new dominant directions: the ``k`` strongest principal directions below 10x the median eigenvalue
    get ``factor`` x their variance.  They stay above the median, which therefore does not move, so each adds one
    to the count: the planted effect is exactly +k."""
    mu = X.mean(0)
    w, V = np.linalg.eigh(np.cov(X, rowvar=False))          # ascending
    below = np.flatnonzero(w <= 10 * np.median(w))[-k:]     # the k strongest that do not count yet
    scale = np.ones_like(w)
    scale[below] = np.sqrt(factor)
    return mu + ((X - mu) @ V) * scale @ V.T


def _flatten(X, seed):
    """The directions above 10x the median eigenvalue shrunk to the median: the count falls to zero."""
    mu = X.mean(0)
    w, V = np.linalg.eigh(np.cov(X, rowvar=False))
    scale = np.where(w > 10 * np.median(w), np.sqrt(np.median(w) / np.maximum(w, np.median(w))), 1.0)
    return mu + ((X - mu) @ V) * scale @ V.T


@pytest.mark.parametrize("plant, expected", [(_explode, C.SUPPORTED), (_flatten, C.CONTRADICTED)])
def test_c3_sees_planted_dominant_directions_at_three_replicates(tokens, plant, expected):
    d = _rows(tokens, plant, _counts).assign(criterion="above_10x_median")
    base = d[d.state == "pre-trained"].value
    assert (base > 0).all()                 # the real tokens have dominant directions to flatten
    v = C.c3_directions(d)
    assert v.verdict == expected, v.detail
    if plant is _explode:                   # the planted size is what the count sees: three directions each
        assert v.estimate == pytest.approx(3)
