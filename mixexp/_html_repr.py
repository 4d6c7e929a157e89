"""The estimators' HTML representation in notebooks.

scikit-learn draws an estimator as a box whose "?" links to its API page
(``BaseEstimator._get_doc_link``, built from ``_doc_link_module`` and
``_doc_link_template``) and a meta-estimator as nested boxes of the
estimators it holds (``_sk_visual_block_``). Here mixexp's estimators and
parts link to mixexp's own API pages, and a mixture shows its gate and its
experts as nested boxes.
"""

try:  # scikit-learn >= 1.7
    from sklearn.utils._repr_html.estimator import _VisualBlock
except ImportError:  # scikit-learn 1.6
    from sklearn.utils._estimator_html_repr import _VisualBlock

#: Where the built documentation is published (``docs/``, built with
#: ``python -m sphinx -b html docs docs/_build/html``); every "?" link of the
#: HTML representation starts here. Change it when the site moves.
DOCS_URL = "https://mixexp.github.io/mixexp"

#: The API page of a public class, as ``docs/api.rst``'s autosummary writes
#: it: ``generated/<public module>.<class>.html``.
DOC_LINK_TEMPLATE = DOCS_URL + "/generated/{estimator_module}.{estimator_name}.html"


class DocLinkMixin:
    """Point the "?" of the HTML representation at mixexp's API page.

    scikit-learn fills the template with the class name and its module up
    to the first private part (``mixexp.gates._gaussian`` gives
    ``mixexp.gates``), which is where mixexp exports its public classes.
    """

    _doc_link_module = "mixexp"
    _doc_link_template = DOC_LINK_TEMPLATE


class MixtureReprMixin(DocLinkMixin):
    """A mixture's HTML representation: its gate and its experts as nested
    boxes, each with its own documentation link: the fitted components once
    the mixture is fitted, else the ones it will fit."""

    def _sk_visual_block_(self):
        from .gates import SoftmaxGate

        # None stands for the default component made at fit; show which.
        gate = SoftmaxGate() if self.gate is None else self.gate
        expert = self._default_expert() if self.expert is None else self.expert
        gate = getattr(self, "gate_", gate)
        expert = getattr(self, "experts_", expert)
        parts = {"gate": gate, "expert": expert}
        return _VisualBlock(
            "parallel",
            list(parts.values()),
            names=[f"{role}: {type(part).__name__}" for role, part in parts.items()],
            name_details=[str(part) for part in parts.values()],
        )
