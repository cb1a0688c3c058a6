"""Reading whole numbers: lines of digits, decimal points, commas and minus signs, by
segmentation scored with the digit model. Torch-free, like the rest of the inference path."""

from .picture import picture
from .reader import read
from .result import READ_REASONS, Character, Reading, TextLine

__all__ = ["READ_REASONS", "Character", "Reading", "TextLine", "picture", "read"]
