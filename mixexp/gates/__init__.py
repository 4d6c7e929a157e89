"""Gating models: which expert is in charge of an input."""

from ._softmax import SoftmaxGate

__all__ = ["SoftmaxGate"]
