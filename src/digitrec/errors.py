"""The one exception type users see."""


class DigitrecError(Exception):
    """A problem the user can act on (bad file, missing data, wrong model).

    The CLI prints it as a single line and exits non-zero instead of showing a traceback,
    so its message must name the file or setting at fault and what is wrong with it.
    """
