"""What gates and experts share as components of a mixture."""

from sklearn.exceptions import NotFittedError


def check_component_fitted(component):
    """Raise NotFittedError unless the component holds fitted parameters.

    Components are fitted by a mixture estimator, not on their own, so
    ``sklearn.utils.validation.check_is_fitted`` (which wants ``fit``) does
    not apply to them.
    """
    if not hasattr(component, "coef_"):
        raise NotFittedError(
            f"This {type(component).__name__} is not fitted yet; it is fitted as "
            "part of a mixture estimator (MixtureOfExpertsRegressor or "
            "MixtureOfExpertsClassifier)."
        )
