"""digitrec: recognise handwritten digits with a CNN trained on MNIST."""

__version__ = "0.1.0"

from .inference import Model, load_model

__all__ = ["Model", "__version__", "load_model"]
