"""The book's linear read-outs of frozen features, in one place: the sentence classifier of C6 (chapter 05),
of the frozen baseline (chapter 01) and of the removal counterpart, and the token probe of chapter 03.  Each is
a scikit-learn pipeline: flat features dropped (:class:`DropFlatFeatures`), standardised features, then a
linear model with fixed settings."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from . import tasks


def sentence_classifier(task: str, seed: int = 0) -> Pipeline:
    """The book's frozen-feature classifier, unfitted: features flat on the training sentences dropped
    (:class:`DropFlatFeatures`), standardised features, then logistic regression (ridge for regression tasks)
    with fixed settings."""
    return _read_out(Ridge(alpha=1.0) if tasks.spec(task).regression
                     else LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


class DropFlatFeatures(TransformerMixin, BaseEstimator):
    """Drop the features whose standard deviation on the training rows is at most ``rtol`` times the largest
    feature's.  A hidden dimension a model has switched off (all-MiniLM-L6-v2's last layer holds 1e-32 in one
    of its 384) passes scikit-learn's constant-feature test, whose tolerance is relative to that feature's own
    mean; standardising it would scale float noise by 1e31, and any transform that leaves 1e-16 of rounding
    there (top-k removal) would decide the prediction.  A scikit-learn transformer (``fit`` sets ``keep_``)."""

    def __init__(self, rtol: float = 1e-6):
        self.rtol = rtol

    def fit(self, X, y=None) -> "DropFlatFeatures":
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2:
            raise ValueError(f"DropFlatFeatures needs a 2-D array of at least 2 rows, got shape {X.shape}")
        std = X.std(axis=0)
        self.keep_ = std > self.rtol * std.max() if std.max() > 0 else np.ones(len(std), bool)  # all flat: keep
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "keep_")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got shape {X.shape}")
        return X[:, self.keep_]


def linear_probe(C: float = 1.0, max_iter: int = 5000, seed: int = 0) -> Pipeline:
    """The token probe of chapter 03, unfitted: flat features dropped, standardised, logistic regression."""
    return _read_out(LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def _read_out(head) -> Pipeline:
    """Every read-out's pipeline: flat features dropped, standardised features, then ``head``."""
    return make_pipeline(DropFlatFeatures(), StandardScaler(), head)
