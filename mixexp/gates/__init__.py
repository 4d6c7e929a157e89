"""Gating models: which expert is in charge of an input."""

from ._gaussian import GaussianGate
from ._softmax import SoftmaxGate
from ._tree import TreeGate

__all__ = ["GaussianGate", "SoftmaxGate", "TreeGate"]
