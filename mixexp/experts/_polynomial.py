"""Polynomial experts: the design ``phi(x)`` of an expert's inputs."""

import math
from numbers import Integral

import numpy as np
from sklearn.preprocessing import PolynomialFeatures

from .._data import weighted_moments
from .._linalg import monomials


class PolynomialDesign:
    """Experts whose design ``phi(x)`` is their inputs (``degree=1``) or the
    monomials up to ``self.degree`` of their standardized inputs
    ``z = (x - input_mean_) / input_scale_``, in the order of scikit-learn's
    ``PolynomialFeatures(degree, include_bias=False)``.

    The standardization is learnt from a new fit's rows (weighted means and
    standard deviations) and kept after: monomials of raw inputs far from
    zero are nearly collinear (x and x^2 on [100, 101]), so their
    coefficients lose their precision and a penalty on them depends on where
    the inputs' origin is; on ``z`` the fit depends on neither the units nor
    the origin of the inputs.
    """

    def _check_degree(self):
        # Checked here, not only with the other parameters: the data a fit
        # validates them on is built from phi(x).
        degree = self.degree
        if isinstance(degree, bool) or not isinstance(degree, Integral) or degree < 1:
            raise ValueError(
                f"degree={degree!r} must be an int >= 1 (the polynomial "
                "degree of the experts), not a bool or a float."
            )

    def _fit_features(self, X, sample_weight):
        """Learn the weighted means and standard deviations of the training
        inputs, for degree 2 and up (degree 1 keeps the inputs as they are).
        An expert without an intercept passes through the origin, which
        stays where it is: only scaled, not centred."""
        self._check_degree()
        for name in ("input_mean_", "input_scale_"):
            self.__dict__.pop(name, None)
        if self.degree > 1:
            if getattr(self, "fit_intercept", True):
                mean, scale = weighted_moments(X, sample_weight)
            else:  # the root mean square
                root = np.sqrt(weighted_moments(X**2, sample_weight)[0])
                mean, scale = np.zeros_like(root), np.where(root > 0, root, 1.0)
            self.input_mean_, self.input_scale_ = mean, scale

    def _n_design_features(self, n_inputs):
        self._check_degree()
        return math.comb(n_inputs + self.degree, self.degree) - 1

    def _features(self, X):
        """phi(x): the inputs, or the monomials of their standardization,
        refused when the largest monomial, max |z| ** degree, would overflow
        (the limit of ``check_magnitude``)."""
        self._check_degree()
        if self.degree == 1 or X.size == 0:
            return X
        Z = ((X - self.input_mean_) / self.input_scale_).astype(X.dtype, copy=False)
        largest = float(max(Z.max(), -Z.min()))  # no |Z| copy
        limit = np.sqrt(np.finfo(Z.dtype).max) * 1e-4
        if largest > 1 and self.degree * np.log(largest) > np.log(limit):
            raise ValueError(
                f"The degree-{self.degree} polynomial features of inputs "
                f"{largest:.3g} standard deviations from the training mean "
                f"reach 1e{self.degree * np.log10(largest):.0f}, whose squares "
                f"overflow in {X.dtype}. Remove or clip such outliers, or lower "
                "degree."
            )
        return monomials(Z, self.degree)

    def _feature_names(self, names):
        """Names of the columns of phi(x) from the inputs' ``names``: the
        monomials of ``z(name)``, the standardized inputs, from degree 2."""
        names = [str(name) for name in names]
        if self.degree == 1:
            return names
        features = PolynomialFeatures(self.degree, include_bias=False)
        features.fit(np.zeros((1, len(names))))
        return list(features.get_feature_names_out([f"z({n})" for n in names]))
