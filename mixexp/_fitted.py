"""What every fitted mixture answers, whatever its targets: which expert is
in charge of an input, the posterior of each expert given the target, the
log-likelihood and the information criteria built on it."""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ._dask import dask_rows
from ._data import FLOAT_DTYPES, check_magnitude
from ._estep import log_joint, mix, responsibilities
from ._html_repr import MixtureReprMixin
from ._validation import check_targets, numeric_input


class FittedMixture(MixtureReprMixin):
    """The fitted API of the mixture estimators: ``predict_gate_proba``,
    ``responsibilities``, ``log_likelihood``, ``bic`` and ``aic``; and,
    from :class:`~mixexp._html_repr.MixtureReprMixin`, their HTML
    representation.

    A mixin of :class:`~mixexp._base.BaseMixtureOfExperts`: it reads the
    fitted ``gate_``, ``experts_`` and feature columns, and the estimator's
    ``_split`` and ``_encode_targets``.
    """

    def _validate_X(self, X):
        check_is_fitted(self)
        with numeric_input(X):
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return check_magnitude(X, "X")

    @dask_rows
    def predict_gate_proba(self, X):
        """Gate probabilities: which expert is in charge of each input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        gate_proba : ndarray of shape (n_samples, n_experts)
            The gate probabilities ``g_k(x)``; each row sums to one.
        """
        return self.gate_.predict_proba(self._split(self._validate_X(X))[0])

    def _mix(self, X, dense):
        """``mix`` of the fitted parts on validated X (see ``_estep.mix``)."""
        return mix(self.gate_, self.experts_, *self._split(X), dense)

    def _log_joint(self, X, y):
        """log g_k(x_i) and log P_k(y_i | x_i), each (n_experts, n_samples),
        on validated, encoded inputs."""
        n_experts = self.expert_load_.shape[0]
        return log_joint(self.gate_, self.experts_, *self._split(X), y, n_experts)

    def _validate_Xy(self, X, y):
        X = self._validate_X(X)
        check_targets(y)
        y = self._encode_targets(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {y.shape[0]}; pass one "
                "target per row of X."
            )
        return X, y

    @dask_rows
    def responsibilities(self, X, y):
        """Posterior probability of each expert given input and target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Observed targets.

        Returns
        -------
        responsibilities : ndarray of shape (n_samples, n_experts)
            The posterior of each expert,
            ``h_k(x, y) = g_k(x) P_k(y | x) / sum_j g_j(x) P_j(y | x)``.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.responsibilities(X[:4], y[:4]).sum(axis=1)
        array([1., 1., 1., 1.])
        """
        return responsibilities(*self._log_joint(*self._validate_Xy(X, y)))[0].T

    @dask_rows
    def log_likelihood(self, X, y):
        """Log-likelihood of each sample under the mixture.

        This is log p(y | x), not the estimator's ``score`` (which is R² or
        accuracy, what cross-validation tools optimize).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Observed targets.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            The log-likelihood of each sample, ``log sum_k g_k(x) P_k(y | x)``.

        See Also
        --------
        mixexp.metrics.log_likelihood_scorer : Its mean on held-out data, as a
            scorer for GridSearchCV and cross_validate.

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_piecewise_linear
        >>> X, y = make_piecewise_linear(500, noise=0.2, random_state=0)
        >>> moe = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
        >>> moe.log_likelihood(X[:4], y[:4]).shape
        (4,)
        """
        return responsibilities(*self._log_joint(*self._validate_Xy(X, y)))[1]

    def _n_parameters(self):
        """Free parameters of the gate and the experts."""
        check_is_fitted(self)
        return self.gate_._n_parameters() + self.experts_._n_parameters()

    def bic(self, X, y):
        """Bayesian information criterion on (X, y); lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        bic : float
            -2 log-likelihood + n_parameters * log(n_samples).
        """
        log_lik = self.log_likelihood(X, y)
        return -2.0 * log_lik.sum() + self._n_parameters() * np.log(log_lik.shape[0])

    def aic(self, X, y):
        """Akaike information criterion on (X, y); lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        aic : float
            -2 log-likelihood + 2 n_parameters.
        """
        return -2.0 * self.log_likelihood(X, y).sum() + 2.0 * self._n_parameters()
