"""Errors of the model package (serving turns them into HTTP answers)."""
from __future__ import annotations


class ModelError(Exception):
    """The model cannot do what was asked (no data, no labels of one class, bad argument)."""


class NoModelError(ModelError):
    """No model is registered or saved where one was asked for: callers fall back to rules."""
