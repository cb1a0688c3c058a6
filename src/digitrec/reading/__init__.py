"""Reading handwriting: whole numbers (lines of digits, decimal points, commas and minus signs)
and sums, by segmentation scored with the digit model combined with a sequence reader; the
`Reader` that owns the models. Torch-free, like the rest of the inference path."""

from .lines import read
from .picture import picture
from .reader import Reader, load_model
from .result import READ_REASONS, Character, Reading, TextLine

__all__ = ["READ_REASONS", "Character", "Reader", "Reading", "TextLine", "load_model", "picture",
           "read"]
