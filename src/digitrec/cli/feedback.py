"""`digitrec feedback`: what the server's corrections database holds, and its images written
out as a folder per class for `finetune` (or any other tool)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..corrections import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "feedback", help="look into the corrections `serve --feedback` stored, or export them",
        description="The corrections people sent through `digitrec serve --feedback DB`: "
                    "'stats' counts them, 'export' writes their images as a folder per class "
                    "(DIR/7/*.png), the layout `finetune --data` reads; `finetune --feedback "
                    "DB` reads the database directly.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB",
                             help="stats or export")
    stats = verbs.add_parser("stats", help="counts by label, writer and model; the "
                                           "confusions corrected most")
    stats.add_argument("db", metavar="DB", help="the corrections database (SQLite)")
    stats.add_argument("--json", action="store_true", help="print the counts as JSON")
    export = verbs.add_parser("export", help="write the corrected images as a folder per "
                                             "class")
    export.add_argument("db", metavar="DB", help="the corrections database (SQLite)")
    export.add_argument("out", metavar="DIR", type=Path, help="where to write DIR/LABEL/*.png")
    export.add_argument("--writer", metavar="TAG", help="only this writer's corrections")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..corrections import Store

    store = Store.existing(args.db)
    if args.verb == "stats":
        found = store.stats()
        if args.json:
            print(json.dumps(found, indent=2))
            return 0
        print(f"{found['corrections']} corrections in {args.db}")
        for title, key in (("by label", "by_label"), ("by writer", "by_writer"),
                           ("by model (SHA-256)", "by_model")):
            print(f"{title}: " + ", ".join(f"{k} {n}" for k, n in found[key].items()))
        if found["confusions"]:
            print("corrected most: " + ", ".join(
                f"{c['predicted']} -> {c['label']} ({c['count']})" for c in found["confusions"]))
        return 0
    return _export(store, args.out, args.writer)


def _export(store: Store, out: Path, writer: str | None) -> int:
    from PIL import Image

    from ..atomic import atomic_path
    from ..labelled import digit_pairs

    written = skipped = 0
    for correction in store.corrections(writer):
        pairs = digit_pairs(correction)
        skipped += not pairs
        for k, (image, char) in enumerate(pairs):
            folder = out / char
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / f"{correction.id:06d}-{k}.png") as tmp:
                Image.fromarray(image).save(tmp, "PNG")  # as the model saw it: MNIST's form
            written += 1
    print(f"{written} images written to {out}"
          + (f"; {skipped} corrections whose images and label do not pair up skipped"
             if skipped else ""))
    return 0
