"""Parameter constraints shared by the estimators and their components."""

import numpy as np
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
