"""Gating models: which expert is in charge of an input."""

from ._constant import ConstantGate
from ._gaussian import GaussianGate
from ._softmax import SoftmaxGate
from ._tree import TreeGate

__all__ = ["ConstantGate", "GaussianGate", "SoftmaxGate", "TreeGate"]
