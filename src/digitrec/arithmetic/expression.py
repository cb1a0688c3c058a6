"""Working out a handwritten sum exactly: our own small parser over + - × ÷ ( ) and decimals.

Never Python's `eval`: the text comes from a photo. The grammar, in order of precedence:

    sum      := product (("+" | "-") product)*
    product  := signed (("×" | "÷") signed | "(" sum ")")*      a number before "(" multiplies
    signed   := "-" signed | primary
    primary  := number | "(" sum ")"
    number   := digits ["." digits] | "." digits

Arithmetic is on fractions, so 0.1 + 0.2 is 0.3 and 1 ÷ 3 × 3 is 1. There is no power, and an
expression has at most MAX_SYMBOLS symbols and each number at most MAX_DIGITS digits, so every
result's numerator and denominator have about as many digits as the expression at most: no
input makes the arithmetic blow up. A ``=`` ends the expression; what follows it, if anything,
is the answer the writer gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import DigitrecError

MAX_SYMBOLS = 200
MAX_DIGITS = 30
PLACES = 10  # a value whose decimals do not end is shown rounded to this many places

# What a reader may hand over for each operator: × as an x or a star, ÷ as a slash or colon.
ALIASES = {"x": "×", "X": "×", "*": "×", "·": "×", "/": "÷", ":": "÷", "−": "-"}
OPERATORS = "+-×÷"


class ExpressionError(DigitrecError):
    """An expression that cannot be worked out: malformed, a division by zero, too large."""

    code = "bad_expression"


@dataclass(frozen=True)
class Worked:
    expression: str  # as read, operators in their usual signs (× ÷), no spaces
    value: Fraction
    written: Fraction | None = None  # the answer written after "=", if any

    @property
    def text(self) -> str:
        """The value as a decimal: exact where its decimals end, else rounded (with "≈")."""
        return decimal_text(self.value)

    @property
    def agrees(self) -> bool | None:
        """Whether the written answer is the value; None where none was written."""
        return None if self.written is None else self.written == self.value


def decimal_text(value: Fraction, places: int = PLACES) -> str:
    """``value`` in decimal: every digit where the decimals end (the denominator has no prime
    factor but 2 and 5), else rounded half away from zero to ``places`` and marked "≈"."""
    rest, twos, fives = value.denominator, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    exact = rest == 1
    shown = max(twos, fives) if exact else places
    scaled = abs(value) * 10**shown
    digits = int(scaled) if exact else int(scaled + Fraction(1, 2))
    whole, decimals = divmod(digits, 10**shown)
    text = str(whole) + (f".{decimals:0{shown}d}".rstrip("0").rstrip(".") if shown else "")
    sign = "-" if value < 0 and digits else ""
    return ("" if exact else "≈ ") + sign + text


def _symbols(text: str) -> str:
    out = "".join(ALIASES.get(ch, ch) for ch in text if not ch.isspace())
    if not out:
        raise ExpressionError("an empty expression: nothing to work out")
    if len(out) > MAX_SYMBOLS:
        raise ExpressionError(f"an expression of {len(out)} symbols is too long (at most "
                              f"{MAX_SYMBOLS})")
    for k, ch in enumerate(out):
        if not (ch.isdigit() or ch in OPERATORS or ch in ".()="):
            raise ExpressionError(f"{ch!r} at position {k + 1} is not part of a sum "
                                  "(digits, + - × ÷ ( ) . and =)")
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def fail(self, problem: str) -> ExpressionError:
        if not self.peek():
            return ExpressionError(f"{problem}, but {self.text!r} ends there")
        return ExpressionError(f"{problem}: {self.peek()!r} at position {self.at + 1} in "
                               f"{self.text!r}")

    def whole(self) -> Fraction:
        value = self.sum()
        if self.peek() == ")":
            raise self.fail("a closing bracket that no bracket opened")
        if self.peek():
            raise self.fail("an unexpected symbol")
        return value

    def sum(self) -> Fraction:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.peek()
            self.at += 1
            right = self.product()
            value = value + right if op == "+" else value - right
        return value

    def product(self) -> Fraction:
        value = self.signed()
        while self.peek() in ("×", "÷", "("):
            op = self.peek()
            if op != "(":
                self.at += 1
            right = self.signed()
            if op == "÷":
                if right == 0:
                    raise ExpressionError(f"division by zero in {self.text!r}",
                                          code="division_by_zero")
                value = value / right
            else:
                value = value * right
        return value

    def signed(self) -> Fraction:
        if self.peek() == "-":
            self.at += 1
            return -self.signed()
        return self.primary()

    def primary(self) -> Fraction:
        ch = self.peek()
        if ch == "(":
            opened = self.at
            self.at += 1
            value = self.sum()
            if self.peek() != ")":
                raise ExpressionError(f"the bracket at position {opened + 1} is never closed "
                                      f"in {self.text!r}")
            self.at += 1
            return value
        if ch.isdigit() or ch == ".":
            return self.number()
        if not ch:
            raise self.fail("a number or a bracket should follow")
        raise self.fail("a number or a bracket was expected")

    def number(self) -> Fraction:
        start = self.at
        while self.peek().isdigit() or self.peek() == ".":
            self.at += 1
        written = self.text[start : self.at]
        whole, point, decimals = written.partition(".")
        if "." in decimals or (point and not decimals):
            raise ExpressionError(f"{written!r} at position {start + 1} is not a number in "
                                  f"{self.text!r}")
        if len(whole) + len(decimals) > MAX_DIGITS:
            raise ExpressionError(f"the number at position {start + 1} has more than "
                                  f"{MAX_DIGITS} digits", code="too_large")
        return Fraction(int(whole or "0") * 10 ** len(decimals) + int(decimals or "0"),
                        10 ** len(decimals))


def work_out(text: str) -> Worked:
    """The exact value of ``text`` (a sum as read: digits, + - × ÷ ( ) . and =, with x * / :
    accepted for × and ÷), and the answer written after "=" if there is one. Raises
    ExpressionError, one line naming the problem and where, for anything else."""
    symbols = _symbols(text)
    asked, _, answer = symbols.partition("=")
    if not asked:
        raise ExpressionError(f"nothing before '=' in {symbols!r}")
    if "=" in answer:
        raise ExpressionError(f"more than one '=' in {symbols!r}")
    value = _Parser(asked).whole()
    written = _Parser(answer).whole() if answer else None
    return Worked(asked, value, written)
