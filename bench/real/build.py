"""Make the corpus's images from their sources: each row of labels.csv names a repository, a
commit and a file there, and where the number sits in it (`path#box=x0,y0,x1,y1`, in the
file's own pixels as Pillow opens it, before any EXIF rotation; `form.pdf#page=2&box=...` for
a page of a PDF drawn at 150 dpi by PDFium, pypdfium2). The images of sources whose
licence lets us share them are committed; the others are made here from a local copy of the
source, so that only our labels and boxes travel with digitrec.

    python bench/real/build.py --mirrors DIR   # DIR holds bare clones named OWNER+NAME
                                               # (or OWNER+NAME/repo[/.git])
    python bench/real/build.py --clone         # clone the sources from GitHub first (online)
    python bench/real/build.py --check         # every image there, none differs from its source

A file already there is left as it is unless --check finds it differs.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent
PDF_DPI = 150


def parse_path(path: str) -> tuple[str, int | None, tuple[int, int, int, int] | None]:
    """'folder/file.jpg#box=1,2,30,40' -> ('folder/file.jpg', None, (1, 2, 30, 40)); a PDF's
    page comes first: 'form.pdf#page=2&box=...' (pages from 1, drawn at PDF_DPI)."""
    name, _, fragment = path.partition("#")
    fields = dict(part.partition("=")[::2] for part in fragment.split("&") if part)
    if set(fields) - {"page", "box"}:
        raise SystemExit(f"{path}: only #page=N&box=x0,y0,x1,y1 is understood")
    box = tuple(int(v) for v in fields["box"].split(",")) if "box" in fields else None
    return name, int(fields["page"]) if "page" in fields else None, box  # type: ignore[return-value]


def mirror_of(mirrors: Path, repo: str, clone: bool = False) -> Path:
    """The git folder of ``repo`` (OWNER/NAME) under ``mirrors``: a bare clone named
    OWNER+NAME, or the layouts of digitrec's development machines' mirrors; cloned there from
    GitHub first with ``clone`` where there is none."""
    folder = mirrors / repo.replace("/", "+")
    mirror = next((m for m in (folder / "repo" / ".git", folder / "repo", folder)
                   if (m / "HEAD").is_file()), folder)
    if not mirror.exists() and clone:
        subprocess.run(["git", "clone", "--bare", "--quiet", f"https://github.com/{repo}.git",
                        str(mirror)], check=True)
    return mirror


def source_bytes(mirror: Path, commit: str, path: str) -> bytes:
    done = subprocess.run(["git", f"--git-dir={mirror}", "show", f"{commit}:{path}"],
                          capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{mirror}: cannot read {commit}:{path} "
                         f"({done.stderr.decode(errors='replace').strip()})")
    return done.stdout


def image_of(data: bytes, page: int | None, box: tuple[int, int, int, int] | None) -> bytes:
    """The row's image as PNG: the source's pixels in the box (all of them without one); for a
    PDF, its page drawn at PDF_DPI by PDFium (pypdfium2)."""
    if page is not None:
        import pypdfium2

        image = pypdfium2.PdfDocument(data)[page - 1].render(scale=PDF_DPI / 72).to_pil()
    else:
        image = Image.open(io.BytesIO(data))
        image.load()
    if box is not None:
        image = image.crop(box)
    if image.mode not in ("L", "RGB", "RGBA", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def same_pixels(a: bytes, b: bytes) -> bool:
    """Whether two image files hold the same pixels (PNG encoders differ in their bytes)."""
    first, second = Image.open(io.BytesIO(a)), Image.open(io.BytesIO(b))
    return (first.mode, first.size, first.tobytes()) == (second.mode, second.size,
                                                          second.tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, help="folder of bare clones named OWNER+NAME")
    parser.add_argument("--clone", action="store_true",
                        help="clone each source from GitHub into a temporary folder")
    parser.add_argument("--check", action="store_true",
                        help="compare every image there with its source instead of writing")
    args = parser.parse_args(argv)
    if not (args.mirrors or args.clone):
        parser.error("give --mirrors DIR or --clone")

    with (HERE / "labels.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    mirrors = args.mirrors or Path(tempfile.mkdtemp(prefix="digitrec-real-"))
    made = same = differ = 0
    for row in rows:
        target = HERE / row["file"]
        if target.exists() and not args.check:
            continue
        mirror = mirror_of(mirrors, row["source"], args.clone)
        name, page, box = parse_path(row["path"])
        data = image_of(source_bytes(mirror, row["commit"], name), page, box)
        if args.check:
            if not target.exists() or not same_pixels(target.read_bytes(), data):
                differ += 1
                print(f"{row['file']}: missing or not its source's pixels", file=sys.stderr)
            else:
                same += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        made += 1
    print(f"{len(rows)} rows: {made} images made, {same} checked equal, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
