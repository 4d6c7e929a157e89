"""Gating models: which expert is in charge of an input."""

from ._gaussian import GaussianGate
from ._softmax import SoftmaxGate

__all__ = ["GaussianGate", "SoftmaxGate"]
