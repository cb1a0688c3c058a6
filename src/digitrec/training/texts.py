"""What the generated handwriting says: random numbers and sums, as the sequence readers and
the locator learn them."""

from __future__ import annotations

import numpy as np

MAX_LENGTH = 12
MARKS = 0.25  # share of numbers with a point, a comma or a minus sign


def number_text(rng: np.random.Generator) -> str:
    """1-MAX_LENGTH digits; a share MARKS of them with a decimal point or comma, a leading
    minus sign, or in groups joined by dashes (a date, 16-12-22, or a phone number)."""
    length = int(rng.integers(1, MAX_LENGTH + 1))
    digits = "".join(str(d) for d in rng.integers(0, 10, length))
    if length < 2 or rng.random() >= MARKS:
        return digits
    mark = str(rng.choice([".", ",", "-", "dashes"]))
    if mark == "-":
        return "-" + digits
    if mark == "dashes":  # as long as the other numbers, dashes included
        cuts = sorted(rng.choice(np.arange(1, length), min(length - 1, int(rng.integers(1, 3))),
                             replace=False))
        dashed = "-".join(digits[a:b] for a, b in zip([0, *cuts], [*cuts, length], strict=True))
        return dashed if len(dashed) <= MAX_LENGTH else dashed[-MAX_LENGTH:].lstrip("-")
    at = int(rng.integers(1, length))
    return digits[:at] + mark + digits[at:]


def _sum_number(rng: np.random.Generator) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(1, 4))))
    return digits + ("." + str(int(rng.integers(0, 10))) if rng.random() < 0.1 else "")


def sum_text(rng: np.random.Generator) -> str:
    """A sum of at most MAX_LENGTH symbols: 2-4 numbers joined by operators, one pair in
    brackets in a share, a leading minus in a few, "=" at the end of half, an answer after
    it in some."""
    while True:
        numbers = [_sum_number(rng) for _ in range(int(rng.integers(2, 5)))]
        if rng.random() < 0.2:
            k = int(rng.integers(0, len(numbers) - 1))
            numbers[k : k + 2] = [f"({numbers[k]}{rng.choice(list('+-×÷'))}{numbers[k + 1]})"]
        text = numbers[0] + "".join(str(rng.choice(list("+-×÷"))) + n for n in numbers[1:])
        if rng.random() < 0.1:
            text = "-" + text
        if rng.random() < 0.5:
            text += "=" + (_sum_number(rng) if rng.random() < 0.3 else "")
        if len(text) <= MAX_LENGTH:
            return text
