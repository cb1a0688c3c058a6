"""From any image to the model's input: decode, find the ink, locate it, shape it like MNIST.

numpy and Pillow only: everything here runs on the inference path and never imports torch.
"""

from .decode import MAX_PIXELS, ImageSource, gray_image
from .locate import InkGroup, locate
from .pipeline import REASONS, Processed, preprocess

__all__ = ["MAX_PIXELS", "REASONS", "ImageSource", "InkGroup", "Processed", "gray_image",
           "locate", "preprocess"]
