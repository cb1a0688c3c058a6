"""From any image to the model's input: decode, find the ink, locate it, shape it like MNIST.

numpy and Pillow only: everything here runs on the inference path and never imports torch.
"""

from .decode import ImageSource, gray_image
from .locate import InkGroup, locate
from .pipeline import REASONS, Ink, Processed, find_ink, preprocess

__all__ = ["REASONS", "ImageSource", "Ink", "InkGroup", "Processed", "find_ink", "gray_image",
           "locate", "preprocess"]
