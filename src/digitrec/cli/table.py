"""`digitrec table`: a page of handwritten numbers in a table, as CSV, JSON or a spreadsheet."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..errors import DigitrecError, describe
from ..reading.picture import check_picture
from .common import add_model, add_threads, expand_paths, printable
from .read import _argument, add_locator, check_locator, picture_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..reading.table import UNSURE, parse_columns

    p = sub.add_parser(
        "table", help="read a table of handwritten numbers on a page into CSV, JSON or a "
                      "spreadsheet",
        description="Find the table on each page (its ruled grid, or aligned columns of "
                    "writing), read every cell as `digitrec read` does, and write the table. "
                    "Cells read with little confidence are marked for a person to check.")
    p.add_argument("paths", nargs="+", metavar="PAGE", help="photos or scans of pages")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print JSON: each page's table and every cell (row, column, "
                             "span, box, text, confidence, status)")
    output.add_argument("--csv", action="store_true",
                        help="print CSV: the columns' names, then one line per table row "
                             "(several pages: a file column first)")
    p.add_argument("--xlsx", metavar="OUT.xlsx", type=Path,
                   help="also write a spreadsheet, a sheet per page, the cells to check "
                        "filled yellow (needs: pip install 'digitrec[table]')")
    p.add_argument("--columns", type=_argument(parse_columns), metavar="SPEC",
                   help=r"the columns' names, left to right, each with the pattern its cells "
                        r"match where known: 'day=\d{1,2},month=\d{1,2},year=\d{4}'")
    p.add_argument("--header", action="store_true",
                   help="the first row holds the columns' printed names: not read as numbers "
                        "(the names read by Tesseract where it is installed)")
    p.add_argument("--review", metavar="FILE.csv", type=Path,
                   help="write the cells to check (read unsure, or fitting no pattern) to "
                        "FILE: file, row, column, box, text, confidence, status")
    p.add_argument("--unsure", type=float, default=UNSURE, metavar="P",
                   help=f"a cell read with less confidence than P is to be checked "
                        f"(default {UNSURE})")
    p.add_argument("--show", type=_argument(check_picture), metavar="OUT.png",
                   help="draw each page with its grid and readings into OUT.png (several "
                        "pages: OUT-1-NAME.png, ...)")
    add_model(p)
    add_locator(p)
    add_threads(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import Job
    from ..reading.picture import save_picture
    from ..reading.table import Table, table_picture

    check_locator(args)
    if not 0 <= args.unsure <= 1:
        raise DigitrecError("--unsure must be between 0 and 1", "bad_parameter")
    if args.xlsx is not None and args.xlsx.suffix.lower() != ".xlsx":
        raise DigitrecError(f"xlsx: {args.xlsx} does not end in .xlsx", "bad_parameter")
    if args.xlsx is not None:
        _openpyxl()
    paths = expand_paths(args.paths)
    reader = Job("read", args.model, locator=args.locator, locate=args.locate,
                 settings=args.settings).load(args.threads)
    tables: list[tuple[str, Table]] = []
    errors = []
    many = len(paths) > 1
    for k, (path, problem) in enumerate(paths, 1):
        try:
            if problem:
                raise DigitrecError(f"{path}: {problem}", "not_found")
            table = reader.table(path, args.columns, args.unsure, args.header)
        except DigitrecError as exc:
            errors.append(str(exc))
            continue
        tables.append((path, table))
        if table.reason:
            errors.append(f"{path}: {table.reason}")
        if args.show:
            try:
                save_picture(table_picture(path, table), picture_path(args.show, path, k, many))
            except DigitrecError as exc:
                errors.append(str(exc))
    _print(args, tables, many)
    if args.xlsx is not None and tables:
        _write_xlsx(args.xlsx, tables)
    if args.review is not None:
        _write_review(args.review, tables)
    for error in errors:
        print(f"digitrec: error: {printable(error)}", file=sys.stderr)
    return 1 if errors else 0


def _print(args: argparse.Namespace, tables: list[tuple[str, Any]], many: bool) -> None:
    if args.json:
        print(json.dumps([{"file": path, **table.to_dict(decimals=4)} for path, table in tables],
                         indent=2))
        return
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        for k, (path, table) in enumerate(tables):
            if k == 0 and table.names:
                writer.writerow(["file", *table.names] if many else table.names)
            for row in table.body():
                writer.writerow([path, *row] if many else row)
        return
    for path, table in tables:
        print(f"{printable(path)}: {table.shape[0]} rows x {table.shape[1]} columns"
              f"{'' if table.ruled else ' (not ruled)'}, {len(table.review)} to check"
              + (f": {table.reason}" if table.reason else ""))
        marked = {(c.row - table.header, c.column) for c in table.review}
        rows = [[text + ("?" if (i, j) in marked else "") for j, text in enumerate(row)]
                for i, row in enumerate(table.body())]
        widths = [max(len(x) for x in column) for column in zip(*rows, table.names,
                                                                  strict=True)] if rows else []
        for row in [table.names, *rows]:
            print("  " + "  ".join(f"{x:>{w}}" for x, w in zip(row, widths, strict=True)))


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:
        raise DigitrecError("xlsx: needs openpyxl: pip install 'digitrec[table]'",
                            "missing_dependency") from None
    return openpyxl


def _write_xlsx(out: Path, tables: list[tuple[str, Any]]) -> None:
    """A sheet per page: the names, then the rows; numbers as numbers, cells to check filled
    yellow with their confidence in a comment."""
    openpyxl = _openpyxl()
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    book = openpyxl.Workbook()
    book.remove(book.active)
    check = PatternFill("solid", fgColor="FFF2A8")
    for k, (path, table) in enumerate(tables, 1):
        sheet = book.create_sheet(f"{k} {Path(path).stem}"[:31].translate(
            str.maketrans("[]:*?/\\", "_______")))
        sheet.append(table.names)
        for row in table.body():
            sheet.append([_number(x) for x in row])
        for cell in table.review:
            place = sheet.cell(row=cell.row + 2 - table.header, column=cell.column + 1)
            place.fill = check
            place.comment = Comment(f"{cell.status}: {cell.confidence:.0%} sure", "digitrec")
    try:
        with atomic_path(out) as tmp:
            book.save(tmp)
    except OSError as exc:
        raise DigitrecError(f"{out}: cannot write the spreadsheet ({describe(exc)})",
                            "write_failed") from None


def _number(text: str) -> Any:
    """A cell's text as a number where it is one (a spreadsheet sums those), else as is."""
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text) if text else text
    except ValueError:
        return text


def _write_review(out: Path, tables: list[tuple[str, Any]]) -> None:
    try:
        with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "row", "column", "box", "text", "confidence", "status"])
            for path, table in tables:
                for c in table.review:
                    writer.writerow([path, c.row, c.column, " ".join(map(str, c.box)), c.text,
                                     round(c.confidence, 4), c.status])
    except OSError as exc:
        raise DigitrecError(f"{out}: cannot write the review ({describe(exc)})",
                            "write_failed") from None
