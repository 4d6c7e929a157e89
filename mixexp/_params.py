"""Parameter constraints shared by the estimators and their components."""

import functools
import inspect
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval as _SklearnInterval


class Interval(_SklearnInterval):
    """scikit-learn's ``Interval`` constraint, refusing bools.

    A bool is an Integral (and a Real), so scikit-learn's takes
    ``n_experts=True`` for 1 and ``tol=True`` for 1.0: a typo passes
    validation and fails, or fits something else, later. A drop-in
    replacement: ``Interval(Integral, 1, None, closed="left")``.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)


class ParamNamesOnce:
    """Read a class's parameter names from its ``__init__`` once.

    scikit-learn reads them from the signature on every ``get_params``,
    which clone, ``set_params`` and parameter validation each call, a dozen
    times per fit. The signature of a class never changes, so the names are
    cached per class.
    Put it before ``BaseEstimator`` in the bases.
    """

    @classmethod
    def _get_param_names(cls):
        return list(_param_names(cls))


@functools.cache
def _param_names(cls):
    return tuple(BaseEstimator._get_param_names.__func__(cls))


def init_with(base_init, before, **defaults):
    """An ``__init__`` taking the parameters of ``base_init`` and, keyword
    only and placed before ``before``, those of ``defaults``.

    scikit-learn reads an estimator's parameters from the signature of its
    ``__init__``; this gives a subclass its base's signature plus a few
    parameters of its own (a classifier's ``class_weight``) without
    repeating the base's two dozen, which would then have to be kept in
    step by hand.
    """
    signature = inspect.signature(base_init)
    names = list(signature.parameters)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in defaults.items()
    ]
    at = names.index(before)
    parameters = list(signature.parameters.values())

    def __init__(self, *args, **kwargs):
        for name, default in defaults.items():
            setattr(self, name, kwargs.pop(name, default))
        base_init(self, *args, **kwargs)

    __init__.__signature__ = signature.replace(
        parameters=parameters[:at] + added + parameters[at:]
    )
    return __init__


def check_class_weight(class_weight):
    """Refuse class weights that are not non-negative finite numbers."""
    if not isinstance(class_weight, dict):
        return
    for label, weight in class_weight.items():
        if (
            isinstance(weight, bool | np.bool_)
            or not isinstance(weight, Real | np.number)
            or not np.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(
                f"class_weight[{label!r}] = {weight!r}; class weights must be "
                "non-negative finite numbers, e.g. {0: 1.0, 1: 5.0}."
            )
