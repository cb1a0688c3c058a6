"""The one exception type users see, with a stable code beside the sentence."""

from __future__ import annotations


class DigitrecError(Exception):
    """A problem the user can act on (bad file, missing data, wrong model).

    The CLI prints it as a single line and exits non-zero instead of showing a traceback,
    so its message must name the file or setting at fault and what is wrong with it. ``code``
    says the same for machines (JSON output, API bodies), so clients match codes, not prose.
    """

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


def describe(exc: BaseException, limit: int = 200) -> str:
    """Another library's exception as one short line, to put inside a DigitrecError."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ImageError(DigitrecError):
    """An input image that cannot be read: corrupt, truncated, empty or too small."""

    code = "corrupt"


class NotAnImage(ImageError):
    """Bytes no supported image format recognises."""

    code = "not_an_image"


class ImageTooLarge(ImageError):
    """An image with more pixels than digitrec will decode (a decompression bomb)."""

    code = "too_large"
