"""digitrec: read handwritten digits, numbers, sums and tables from the images people have."""

__version__ = "0.1.0"

from .errors import DigitrecError
from .inference import Prediction
from .reading import Reader, load_model
from .vision import preprocess

__all__ = ["DigitrecError", "Prediction", "Reader", "__version__", "load_model", "preprocess"]
