"""Scores of fitted mixtures that scikit-learn's model selection can use."""

import numpy as np
from sklearn.pipeline import Pipeline

__all__ = ["log_likelihood_scorer"]


def _final_model(estimator, X):
    """The model that has ``log_likelihood`` and X as that model sees it:
    through the transforms of a Pipeline, and into a fitted search's
    ``best_estimator_``."""
    while not hasattr(estimator, "log_likelihood"):
        if isinstance(estimator, Pipeline):
            for _, step in estimator.steps[:-1]:
                if step is not None and step != "passthrough":
                    X = step.transform(X)
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        else:
            raise TypeError(
                f"{type(estimator).__name__} has no log_likelihood(X, y): "
                "log_likelihood_scorer scores a fitted mixexp estimator, a "
                "Pipeline ending in one, or a fitted search over them."
            )
    return estimator, X


def log_likelihood_scorer(estimator, X, y, sample_weight=None):
    """Mean held-out log-likelihood ``log p(y | x)`` of a fitted mixture.

    A scorer (greater is better) for ``GridSearchCV(scoring=...)``,
    ``cross_validate`` and ``cross_val_score``: it scores the probability
    the model gives the observed targets, where ``score`` (R² or accuracy)
    scores only the mean or the most probable class. It works on a mixexp
    estimator, on a ``Pipeline`` whose last step is one (the earlier steps
    transform X first), and on a fitted search over either.

    Parameters
    ----------
    estimator : estimator
        A fitted mixexp estimator, a Pipeline ending in one, or a fitted
        search (``best_estimator_``) over them.
    X : array-like of shape (n_samples, n_features)
        Held-out inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Held-out targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in the mean.

    Returns
    -------
    score : float
        The (weighted) mean of ``log_likelihood(X, y)``.

    See Also
    --------
    mixexp.MixtureOfExpertsRegressor.log_likelihood
        The per-sample log-likelihood it averages.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_piecewise_linear
    >>> from mixexp.metrics import log_likelihood_scorer
    >>> X, y = make_piecewise_linear(600, noise=0.2, random_state=0)
    >>> moe = MixtureOfExpertsRegressor(random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), moe)
    >>> search = GridSearchCV(
    ...     pipe,
    ...     {"mixtureofexpertsregressor__n_experts": [1, 3]},
    ...     scoring=log_likelihood_scorer,
    ... ).fit(X, y)
    >>> search.best_params_
    {'mixtureofexpertsregressor__n_experts': 3}
    """
    model, X = _final_model(estimator, X)
    values = model.log_likelihood(X, y)
    if sample_weight is None:
        return float(np.mean(values))
    return float(np.average(values, weights=np.asarray(sample_weight, dtype=float)))
