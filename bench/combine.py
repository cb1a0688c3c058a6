"""Fitting how `read` weighs its two readers where they disagree (`reading.combine.Balance`),
on numbers of MNIST's *validation* digits: the benchmark's test digits are never used to fit it.

    python bench/combine.py              # 100 numbers per condition, a few minutes
    python bench/combine.py -n 30        # a quick look
    python bench/combine.py --sums       # `calc`'s balance, on bench/calc.py's sums

The numbers are bench/read.py's conditions (gaps, touching, overlapping, comb forms, 1-10
digits, marks) drawn from the validation split instead. Each number is read once, keeping what
both readers say of every line; then every balance in the grid decides those lines again.
Prints exact-string accuracy per condition for each balance beside segmentation alone and the
sequence reader alone, picks the balance with the best mean that is nowhere below both readers
(or, if none is, the one least below), and writes bench/results/combine.json. With --sums, the
same for `calc` (`reading.combine.SUM_BALANCE`) on bench/calc.py's sums of 3-9 symbols drawn
from the validation digits, into bench/results/combine-sums.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from _common import add_data_dir, results_path, save
from calc import make_sums  # bench/calc.py and bench/read.py, beside this script
from calc import sequence_alone as sums_sequence
from read import make_numbers, sequence_reader

import digitrec
from digitrec.reading import combine
from digitrec.reading import lines as line_reading
from digitrec.reading.combine import Balance, Evidence

RESULTS = results_path("combine.json")
SUMS_RESULTS = results_path("combine-sums.json")
SEQUENCE_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
FLOORS = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0)


def evidence_of(model: digitrec.Reader, data: bytes, sums: bool = False
                ) -> list[Evidence | None]:
    """What both readers say of each line of ``data``, as `read` (with ``sums``, `calc`)
    gathers it."""
    found: list[Evidence | None] = []

    def keep(*args, **kwargs):  # what `read` calls, recording its evidence
        evidence = combine.weigh(*args[:5])  # the balance, if passed, is the grid's to set
        found.append(evidence)
        return None if evidence is None else combine.decide(evidence)

    original, line_reading.choose = line_reading.choose, keep
    try:
        if sums:
            model.calc(data)
        else:
            model.read(data)
    finally:
        line_reading.choose = original
    return found


def text_of(lines: list[Evidence | None], balance: Balance) -> str:
    """What `read` prints for these lines under ``balance``: nothing if a line has no reading."""
    if any(e is None for e in lines):
        return ""
    return "\n".join(t for t in (combine.decide(e, balance).text for e in lines) if t)


def segmentation_text(lines: list[Evidence | None]) -> str:
    if any(e is None or e.segmented is None for e in lines):
        return ""
    return "\n".join(t for t in (e.segmented.text for e in lines) if t)  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=100, help="numbers per condition")
    parser.add_argument("--seed", type=int, default=1)
    add_data_dir(parser)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--sums", action="store_true", help="fit `calc`'s balance instead")
    args = parser.parse_args()

    model = digitrec.load_model(threads=1)
    if args.sums:
        sequence = sums_sequence(model)
        conditions = make_sums(args.count, args.seed, args.data_dir, validation=True)
        current = combine.SUM_BALANCE
    else:
        found = sequence_reader(model)
        sequence = None if found is None else (lambda data: found(data)[0])
        conditions = make_numbers(args.count, args.seed, args.data_dir, validation=True)
        current = combine.BALANCE
    if sequence is None:
        sys.exit("no sequence reader installed: nothing to balance")
    output = args.output or (SUMS_RESULTS if args.sums else RESULTS)
    gathered = {cond: [(row["text"], evidence_of(model, row["data"], args.sums),
                        sequence(row["data"])) for row in rows]
                for cond, rows in conditions.items()}

    def exact(cond: str, read) -> float:
        rows = gathered[cond]
        return sum(read(lines, alone) == text for text, lines, alone in rows) / len(rows)

    alone = {cond: {"segmentation": exact(cond, lambda lines, _: segmentation_text(lines)),
                    "sequence": exact(cond, lambda _, seq: seq)} for cond in gathered}
    grid = []
    for weight, floor in itertools.product(SEQUENCE_WEIGHTS, FLOORS):
        balance = Balance(weight, floor)
        by = {cond: exact(cond, lambda lines, _, b=balance: text_of(lines, b))
              for cond in gathered}
        below = max(max(a.values()) - by[cond] for cond, a in alone.items())
        grid.append({"sequence": weight, "floor": floor, "exact": by,
                     "mean": float(np.mean(list(by.values()))), "most_below_best": below})
    fair = [g for g in grid if g["most_below_best"] <= 0] or grid
    chosen = max(fair, key=lambda g: (g["mean"], -g["most_below_best"]))
    report = save({"benchmark": "combine", "per_condition": args.count, "alone": alone,
                   "grid": grid, "chosen": chosen,
                   "current": {"sequence": current.sequence, "floor": current.floor}}, output)
    _print(report)
    print(f"written to {output}")


def _print(report: dict) -> None:
    conds = list(report["alone"])
    print("| sequence weight | floor | " + " | ".join(conds) + " | mean | most below the "
          "better reader |")
    print("|---|---|" + "---|" * (len(conds) + 2))
    for name in ("segmentation", "sequence"):
        cells = [f"{report['alone'][c][name]:.1%}" for c in conds]
        mean = np.mean([report["alone"][c][name] for c in conds])
        print(f"| {name} alone | | " + " | ".join(cells) + f" | {mean:.1%} | |")
    for g in report["grid"]:
        mark = " **chosen**" if g is report["chosen"] or g == report["chosen"] else ""
        cells = [f"{g['exact'][c]:.1%}" for c in conds]
        print(f"| {g['sequence']} | {g['floor']}{mark} | " + " | ".join(cells)
              + f" | {g['mean']:.1%} | {g['most_below_best']:+.1%} |")
    c = report["chosen"]
    print(f"\nchosen: Balance(sequence={c['sequence']}, floor={c['floor']}) "
          f"(the package has sequence={report['current']['sequence']}, "
          f"floor={report['current']['floor']})")


if __name__ == "__main__":
    main()
