"""Helpers shared by several test modules."""

from unittest import mock

import numpy as np

from mixexp._accelerate import Squarem
from mixexp._data import TrainingData


def gate_training_data(X, sample_weight, n_experts, rows=None):
    """Training data for a gate alone (y is not used by it)."""
    data = TrainingData(X, np.zeros((X.shape[0], 1)), sample_weight, n_experts, 1)
    data = data.restart(np.random.RandomState(0))
    if rows is not None:
        data.rows = rows  # small chunks: the statistics must add up across them
    return data


def fit_recording_reseeds(model, X, y, **fit_params):
    """Fit, and say for each EM iteration whether it re-seeded an expert or
    followed the pruning of degenerate ones (either may lower the bound)."""
    import mixexp._em as em
    import mixexp._prune as prune

    reseeded = []
    reseed, degenerate = em.reseed_dead_experts, prune.degenerate_experts
    pruned = []  # the next iteration starts a retrained, smaller model

    def recording(*args, **kwargs):
        dead = reseed(*args, **kwargs)
        reseeded.append(dead.size > 0 or bool(pruned))
        pruned.clear()
        return dead

    def recording_degenerate(*args, **kwargs):
        found = degenerate(*args, **kwargs)
        if found[0].size:
            pruned.append(True)
        return found

    jump = Squarem.extrapolate

    def extrapolating(*args, **kwargs):  # a jump re-seeds nothing
        jumped = jump(*args, **kwargs)
        if jumped is not None:
            reseeded.append(bool(pruned))
            pruned.clear()
        return jumped

    with (
        mock.patch.object(em, "reseed_dead_experts", recording),
        mock.patch.object(prune, "degenerate_experts", recording_degenerate),
        mock.patch.object(Squarem, "extrapolate", extrapolating),
    ):
        model.fit(X, y, **fit_params)
    assert len(reseeded) == len(model.lower_bounds_)  # one check per iteration
    return model, np.array(reseeded, dtype=bool)


def plain_em(monkeypatch):
    """Turn off EM's SQUAREM acceleration (fits then follow plain EM's path)."""
    import mixexp._em as em

    monkeypatch.setattr(em, "squarem", lambda *parts: None)


def search_n_experts(model, X, y, n_experts=(1, 2)):
    """GridSearchCV over ``n_experts`` of ``model`` behind a StandardScaler,
    scored by the held-out log-likelihood, fitted on (X, y)."""
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mixexp.metrics import log_likelihood_scorer

    step = type(model).__name__.lower()
    return GridSearchCV(
        make_pipeline(StandardScaler(), model),
        {f"{step}__n_experts": list(n_experts)},
        scoring=log_likelihood_scorer,
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)


class Terminal:
    """A stand-in for a terminal (``tty=True``) or a file: collects what is
    written."""

    def __init__(self, tty):
        self.text, self.tty = "", tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return self.tty
