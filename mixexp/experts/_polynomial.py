"""Polynomial experts: the design ``phi(x)`` of an expert's inputs."""

from numbers import Integral

import numpy as np
from sklearn.preprocessing import PolynomialFeatures

from .._linalg import monomials


class PolynomialDesign:
    """Experts whose design ``phi(x)`` holds the monomials of their inputs
    up to ``self.degree``, in the order of scikit-learn's
    ``PolynomialFeatures(degree, include_bias=False)``; degree 1 is the
    inputs themselves."""

    def _features(self, X):
        """phi(x): the design features of the inputs, refused when their
        largest monomial, max |x| ** degree, would overflow where X itself
        does not (the limit of ``check_magnitude``)."""
        # Checked here, not only with the other parameters: the data a fit
        # validates them on is built from phi(x).
        degree = self.degree
        if isinstance(degree, bool) or not isinstance(degree, Integral) or degree < 1:
            raise ValueError(
                f"degree={degree!r} must be an int >= 1 (the polynomial "
                "degree of the experts), not a bool or a float."
            )
        if self.degree == 1 or X.size == 0:
            return X
        largest = float(max(X.max(), -X.min()))  # no |X| copy
        limit = np.sqrt(np.finfo(X.dtype).max) * 1e-4
        if largest > 1 and self.degree * np.log(largest) > np.log(limit):
            raise ValueError(
                f"The degree-{self.degree} polynomial features of X reach "
                f"{largest:.3g} ** {self.degree} = "
                f"1e{self.degree * np.log10(largest):.0f}, whose squares overflow "
                f"in {X.dtype}. Scale the features first "
                "(e.g. StandardScaler in a Pipeline before the mixture), or "
                "lower degree."
            )
        return monomials(X, self.degree)

    def _feature_names(self, names):
        """Names of the columns of phi(x) from the inputs' ``names``."""
        names = [str(name) for name in names]
        if self.degree == 1:
            return names
        features = PolynomialFeatures(self.degree, include_bias=False)
        features.fit(np.zeros((1, len(names))))
        return list(features.get_feature_names_out(names))
