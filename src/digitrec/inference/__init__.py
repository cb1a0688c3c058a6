"""Scoring with exported models on ONNX Runtime, numpy and no torch: the digit model (`Model`),
the sequence readers (`lines`), the calculator (`calculator`), calibration. A leaf: it knows
nothing of reading."""

from .model import DEFAULT_MODEL, Model, load_digit_model
from .result import Prediction

__all__ = ["DEFAULT_MODEL", "Model", "Prediction", "load_digit_model"]
