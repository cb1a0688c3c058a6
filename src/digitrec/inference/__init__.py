"""The deployable predictor: an exported ONNX model on ONNX Runtime, with numpy and no torch."""

from .model import DEFAULT_MODEL, MODEL_ENV, Model, load_model
from .result import Prediction

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "Model", "Prediction", "load_model"]
