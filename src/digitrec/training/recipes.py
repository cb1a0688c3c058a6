"""Training recipes: everything that, with the data, determines the trained weights.

Kept free of torch so the command line can show them in --help without loading it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..contract import DIGITS, LINE_CHARS, SUM_LINE_CHARS, SYMBOLS
from ..errors import DigitrecError

SCHEDULES = ("onecycle", "constant")
LINE_ARCHITECTURES = ("linereader",)  # networks that read a whole line, not one digit
LOCATOR_ARCHITECTURES = ("locator",)  # networks that find handwriting in an ink map


@dataclass(frozen=True)
class Recipe:
    arch: str = "digitnet"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    augment: bool = True
    augment_strength: float = 1.0  # scales every augmentation range
    variants: float = 0.3  # share of 1s drawn European (flagged) and of 7s crossed
    standardize: bool = False
    seed: int = 0
    # The sequence reader (arch "linereader") trains on this many generated strings an epoch,
    # the locator on this many composed scenes.
    strings: int = 20_000
    # Operators a digit network learns besides the digits (classes 10 on), for `digitrec calc`.
    symbols: str = ""
    # The SHA-256 of the real lines a sequence reader mixes into its strings, or of the real
    # images the locator cuts scenes from (`train --real`, `digitrec.corpus.digest`); "" for
    # none.
    real: str = ""
    # The SHA-256 of the other writers' characters (`digitrec.writers`, `train --writers`) a
    # digit network or a sequence reader learns beside MNIST's; "" for none.
    writers: str = ""

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            known = ", ".join(SCHEDULES)
            raise DigitrecError(f"unknown schedule {self.schedule!r} (known: {known})")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise DigitrecError("epochs, batch size and learning rate must be positive")
        if not 0 <= self.label_smoothing < 1 or self.weight_decay < 0:
            raise DigitrecError("label smoothing must be in [0, 1) and weight decay not negative")
        if self.augment_strength < 0:
            raise DigitrecError("augment strength must not be negative")
        if not 0 <= self.variants <= 1:
            raise DigitrecError("variants must be a fraction in [0, 1]")
        if self.strings < 1:
            raise DigitrecError("strings per epoch must be positive")
        if any(s not in SYMBOLS for s in self.symbols) or len(set(self.symbols)) < len(
                self.symbols):
            raise DigitrecError(f"symbols must be distinct characters of {SYMBOLS!r}")
        if self.real and self.task == "digits":
            raise DigitrecError("real handwriting (--real) teaches a sequence reader (presets "
                                "read and calc-read) or the locator (preset locate); a digit "
                                "model learns real digits with `digitrec finetune --data "
                                "MANIFEST`", "bad_parameter")
        if self.task == "locate" and self.symbols:
            raise DigitrecError("the locator finds handwriting: it learns no symbols")
        if self.task == "locate" and self.writers:
            raise DigitrecError("other writers' characters (--writers) teach the digit "
                                "networks and the sequence readers, not the locator",
                                "bad_parameter")
        if self.task == "read" and self.symbols not in ("", SYMBOLS):
            raise DigitrecError(f"a sequence reader learns all of {SYMBOLS!r} or none")

    @property
    def task(self) -> str:
        """What the recipe trains: "read" (whole lines), "locate" (where handwriting is) or
        "digits"."""
        if self.arch in LOCATOR_ARCHITECTURES:
            return "locate"
        return "read" if self.arch in LINE_ARCHITECTURES else "digits"

    @property
    def classes(self) -> str:
        """The characters the network's outputs stand for (the line reader's after CTC's
        blank); the locator's one output is handwriting, against everything else."""
        if self.task == "locate":
            return ""
        if self.task == "read":  # the operators' place in the readers' common alphabet
            return SUM_LINE_CHARS if self.symbols else LINE_CHARS
        return DIGITS + self.symbols

    @property
    def outputs(self) -> int:
        return 1 if self.task == "locate" else len(self.classes) + (self.task == "read")


# Share of each batch replayed from MNIST when fine-tuning on corrections (Tuning.for_corrections).
CORRECTIONS_REPLAY = 0.9


@dataclass(frozen=True)
class Tuning:
    """How `digitrec finetune` adapts a model to a user's images. The defaults were chosen on
    writers bench/adapt.py does not report (bench/NOTES.md)."""

    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-4
    replay: float = 0.5  # share of each batch drawn from MNIST
    val_share: float = 0.2  # of the user's images, held out to measure the gain
    seed: int = 0

    def for_corrections(self) -> Tuning:
        """These settings for a corrections database: corrections are only what the model got
        wrong, its hardest cases, and learning them moves boundaries that every writer's digits
        share; replaying more MNIST holds those in place (bench/NOTES.md: at 100 corrections,
        0.5 cost 0.16-0.55 point of MNIST, 0.9 cost 0.04-0.09 and read the writers as well)."""
        return dataclasses.replace(self, replay=CORRECTIONS_REPLAY)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or self.lr <= 0:
            raise DigitrecError("steps, batch size (at least 2) and learning rate must be "
                                "positive", "bad_parameter")
        for name in ("replay", "val_share"):
            if not 0 <= getattr(self, name) < 1:
                raise DigitrecError(f"the {name.replace('_', ' ')} must be in [0, 1), not "
                                    f"{getattr(self, name)}", "bad_parameter")


PRESETS: dict[str, Recipe] = {
    "default": Recipe(),
    "fast": Recipe(epochs=2, augment=False),
    "best": Recipe(arch="digitnet-wide", epochs=50),
    # A network this small underfits the full augmentation and label smoothing, and learns
    # best at a higher rate (bench/NOTES.md).
    "tiny": Recipe(arch="tiny", epochs=30, lr=1e-2, label_smoothing=0.0, augment_strength=0.5),
    # The Keras tutorial's recipe: Adam at its default rate, no schedule, no augmentation.
    "seed": Recipe(arch="seed", epochs=5, batch_size=32, lr=1e-3, schedule="constant",
                   label_smoothing=0.0, augment=False, variants=0.0),
    # The classifier `digitrec calc` reads digits and operators with: digits and generated
    # operators, 17 classes; in calc, the shipped digit model splits the digits' share.
    "calc": Recipe(symbols=SYMBOLS),
    # The sequence reader for `digitrec read`: generated strings, not single digits.
    "read": Recipe(arch="linereader", epochs=8, batch_size=32, lr=3e-3, label_smoothing=0.0,
                   augment=False, strings=20_000),
}
# The sequence reader `digitrec calc` combines with the calculator: the same recipe on strings
# of which a share are sums.
PRESETS["calc-read"] = dataclasses.replace(PRESETS["read"], symbols=SYMBOLS)
# The handwriting locator `read` and `calc` find writing with: composed scenes, not digits.
PRESETS["locate"] = Recipe(arch="locator", epochs=12, batch_size=16, lr=5e-3,
                           label_smoothing=0.0, augment=False, variants=0.0, strings=10_000)
