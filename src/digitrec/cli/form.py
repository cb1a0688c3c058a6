"""`digitrec form`: the fields of a form read from each scan, one row per scan."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from ..errors import DigitrecError
from . import archive
from .common import Row, add_model, add_threads, expand_paths, print_results
from .read import add_locator, check_locator


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "form", help="read the fields of a form on each scan, one row per scan",
        description="Read the fields a template names on each scan: each scan is registered "
                    "to the template's reference by the frame its rules draw (turned, "
                    "rescaled, photographed at an angle), then each field is read as "
                    "`digitrec read` reads a number, under its digits, pattern and check. "
                    "`--make-template REFERENCE` proposes a template from a reference scan.")
    p.add_argument("template", metavar="TEMPLATE",
                   help="the template (JSON, or YAML with PyYAML): {\"size\": [w, h], "
                        "\"frame\": corners, \"fields\": [{\"name\", \"box\": [l, t, r, b], "
                        "\"digits\": \"5\", \"pattern\", \"check\": \"luhn\"}]}; with "
                        "--make-template, the reference scan")
    p.add_argument("paths", nargs="*", metavar="SCAN",
                   help="scans of filled forms, folders of them, or glob patterns")
    p.add_argument("--make-template", action="store_true",
                   help="print a template proposed from the reference scan TEMPLATE: its "
                        "frame, and a field per cell its rules draw")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON, one object per scan")
    output.add_argument("--csv", action="store_true",
                        help="print CSV: file, status, registration, then a column per field")
    add_model(p)
    add_locator(p)
    add_threads(p)
    archive.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import Job
    from ..reading.form import load_template, make_template

    check_locator(args)
    if args.make_template:
        if args.paths:
            raise DigitrecError("--make-template reads one reference: no scans with it",
                                "bad_parameter")
        print(json.dumps(make_template(args.template).to_dict(), indent=2))
        return 0
    if not args.paths:
        raise DigitrecError("name the scans to read (or --make-template REFERENCE)",
                            "bad_parameter")
    template = load_template(args.template)
    names = [f.name for f in template.fields]
    fields = ["file", "status", "registered", *names, "error"]

    def csv_row(r: Row) -> list[Any]:
        found = r["fields"]
        return [r["file"], r["status"], r["registered"] or "",
                *(found[n]["text"] if n in found else "" for n in names), r.get("error", "")]

    def table(rows: Iterable[Row]) -> None:
        print("  ".join(fields[:-1]))
        for r in rows:
            print("  ".join(str(x) for x in csv_row(r)[:-1]) if r["status"] != "error"
                  else f"{r['file']}  error: {r['error']}")

    paths = expand_paths(args.paths)
    job = Job("form", args.model, locator=args.locator, locate=args.locate,
              settings=args.settings, template=template)
    if archive.wanted(args, len(paths)):
        return archive.read_all(args, [p for p, _ in paths], job,
                                lambda found: print_results(args, found, fields, csv_row, table),
                                (fields, csv_row))
    model = job.load(args.threads)

    def rows() -> Iterable[Row]:
        for path, problem in paths:
            if problem:
                yield {"file": path, **job.failure(DigitrecError(f"{path}: {problem}",
                                                                 "not_found"))}
            else:
                yield job.row(model, path)

    return print_results(args, rows(), fields, csv_row, table)
