"""The estimators' HTML representation: the gate and the experts as nested
blocks, and the "?" links pointing at mixexp's API pages."""

import re

import pytest
from sklearn.tree import DecisionTreeRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
)
from mixexp._html_repr import DOCS_URL
from mixexp.datasets import make_piecewise_linear
from mixexp.experts import LinearExpert, LogisticExpert
from mixexp.gates import GaussianGate, SoftmaxGate


def _labels(html):
    """The names of the nested blocks (the markup around them varies with
    the scikit-learn version)."""
    return re.findall(r">\s*((?:gate|expert): \w+)\s*<", html)


def test_components_are_nested_blocks():
    model = MixtureOfExpertsRegressor(
        gate=GaussianGate(), expert=LinearExpert(degree=2)
    )
    html = model._repr_html_()
    assert 'class="sk-parallel"' in html
    labels = " ".join(_labels(html))
    assert "gate: GaussianGate" in labels
    assert "expert: LinearExpert" in labels
    # Each component is a block of its own, with its parameters.
    assert "LinearExpert(degree=2)" in html


def test_defaults_name_the_component_made_at_fit():
    labels = " ".join(_labels(MixtureOfExpertsClassifier()._repr_html_()))
    assert "gate: SoftmaxGate" in labels and "expert: LogisticExpert" in labels
    tree = DecisionTreeRegressor(max_depth=2)
    labels = " ".join(_labels(MixtureOfExpertsRegressor(expert=tree)._repr_html_()))
    assert "expert: DecisionTreeRegressor" in labels


def test_fitted_model_shows_fitted_components():
    X, y = make_piecewise_linear(200, random_state=0)
    model = HierarchicalMixtureOfExpertsRegressor(depth=1, random_state=0).fit(X, y)
    labels = " ".join(_labels(model._repr_html_()))
    assert "gate: TreeGate" in labels and "expert: LinearExpert" in labels


@pytest.mark.parametrize(
    "estimator, page",
    [
        (MixtureOfExpertsRegressor(), "mixexp.MixtureOfExpertsRegressor"),
        (
            HierarchicalMixtureOfExpertsRegressor(),
            "mixexp.HierarchicalMixtureOfExpertsRegressor",
        ),
        (MixtureOfExpertsClassifierCV(), "mixexp.MixtureOfExpertsClassifierCV"),
        (GaussianGate(), "mixexp.gates.GaussianGate"),
        (SoftmaxGate(), "mixexp.gates.SoftmaxGate"),
        (LogisticExpert(), "mixexp.experts.LogisticExpert"),
    ],
)
def test_doc_link_points_at_the_api_page(estimator, page):
    # docs/api.rst's autosummary writes each public class to generated/.
    assert estimator._get_doc_link() == f"{DOCS_URL}/generated/{page}.html"


def test_repr_links_every_block():
    model = MixtureOfExpertsRegressor(
        gate=GaussianGate(), expert=LinearExpert(degree=2)
    )
    links = set(re.findall(r'href="([^"#]+)"', model._repr_html_()))
    assert {
        f"{DOCS_URL}/generated/mixexp.MixtureOfExpertsRegressor.html",
        f"{DOCS_URL}/generated/mixexp.gates.GaussianGate.html",
        f"{DOCS_URL}/generated/mixexp.experts.LinearExpert.html",
    } <= links
