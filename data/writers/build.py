"""Make the other writers' characters from their sources: real handwritten digits and operators
beyond MNIST's, each source turned into MNIST's form (28x28, ink white on black, fitted and
centred) by digitrec's own preprocessing, so that a network learns them as it will see them.
SOURCES below names each repository, commit, file, class mapping and licence; nothing of the
data is committed, only this recipe.

    python data/writers/build.py --mirrors DIR   # DIR holds bare clones named OWNER+NAME
                                                 # (or OWNER+NAME/repo[/.git])
    python data/writers/build.py --clone         # clone the sources from GitHub first (online)

Writes data/writers/NAME.npz for each source: images (N, 28, 28) uint8, labels (N,) the
character each is (operators as digitrec writes them: × for x, * and ·, ÷ for ÷ and /),
writers (N,) an id per writer where the source tells them apart (else the source's name), and
the SHA-256 of the source files it was made from. `digitrec.writers.load_writers` reads them.

Also data/writers/mnist-writers.npz: who wrote each of MNIST's own digits, from QMNIST's
extended labels (its training set matches MNIST's one by one, in order, as do the first 10,000
of its test set), so that a string can be written by one writer as real numbers are
(`digitrec.writers.load_mnist_writers`). Only the labels are read, never QMNIST's images.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import importlib.util
import io
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from digitrec.vision import preprocess

HERE = Path(__file__).parent
# A source's samples: (image as a uint8 array of any size, ink white on black; its character;
# its writer's id), from the source files' bytes by path.
Samples = Iterator[tuple[np.ndarray, str, str]]


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    paths: tuple[str, ...]
    licence: str
    what: str
    decode: Callable[[dict[str, bytes]], Samples]


def _usps(files: dict[str, bytes]) -> Samples:
    for path in sorted(files):
        rows = np.loadtxt(io.BytesIO(gzip.decompress(files[path])))
        for row in rows:  # a label, then 16x16 values from -1 (paper) to 1 (ink)
            yield np.uint8(np.round((row[1:].reshape(16, 16) + 1) * 127.5)), str(int(row[0])), \
                "usps"


def _semeion(files: dict[str, bytes]) -> Samples:
    rows = np.loadtxt(io.BytesIO(files["semeion.data"]))
    for k, row in enumerate(rows):  # 256 pixels of 0/1, then the class one-hot
        # About 80 people wrote every digit twice; the file runs in blocks of about 200 rows,
        # 20 of each digit, which look like the same few people's: the block stands in for a
        # writer's id (not documented by the source).
        yield np.uint8(row[:256].reshape(16, 16) * 255), str(int(row[256:].argmax())), \
            f"semeion-{k // 200}"


def _optdigits(files: dict[str, bytes]) -> Samples:
    for path in sorted(files):
        lines = [line.strip() for line in files[path].decode().splitlines()]
        bits = [k for k, line in enumerate(lines) if len(line) == 32 and set(line) <= {"0", "1"}]
        for start in bits[::32]:  # 32 rows of 32 bits, then the label on the next line
            grid = np.array([[c == "1" for c in lines[start + r]] for r in range(32)])
            yield np.uint8(grid * 255), lines[start + 32].strip(), f"optdigits-{path}"


def _nsysu(files: dict[str, bytes]) -> Samples:
    pixels = np.loadtxt(io.BytesIO(files["nsysu-digits/X.csv"]), delimiter=",")
    table = files["nsysu-digits/nsysu-digits.csv"].decode().splitlines()
    for row, line in zip(pixels, table, strict=True):
        _, label, sheet = line.split(",")
        yield np.uint8(np.clip(row.reshape(28, 28), 0, 255)), str(int(float(label))), \
            f"nsysu-{sheet}"


MDAS_NAMES = {"addition_plus": "+", "subtraction_minus": "-", "multiplication_cross": "×",
              "multiplication_dot": "×", "division_obelus": "÷", "division_slash": "÷"}


def _mdas(files: dict[str, bytes]) -> Samples:
    with zipfile.ZipFile(io.BytesIO(files["mdas_symbol_dataset/mdas_symbols_v1.zip"])) as z:
        for name in sorted(z.namelist()):
            folder, _, file = name.rpartition("/")
            kind = folder.rpartition("/")[2]
            # Files named after their class are the drawings; the rest are rotated and
            # mirrored copies of them, which the training's augmentation makes anyway.
            if kind in MDAS_NAMES and file.startswith(kind + "-") and file.endswith(".png"):
                image = Image.open(io.BytesIO(z.read(name))).convert("L")
                yield np.asarray(image), MDAS_NAMES[kind], "mdas"


SOURCES = {
    "usps": Source(
        "dgkim5360/the-elements-of-statistical-learning-notebooks",
        "2c13a4818379451bcce802bcd7917f4878e12977",
        ("data/zipcode/zip.train.gz", "data/zipcode/zip.test.gz"),
        "none stated (USPS zip codes made available by AT&T Research, as the ESL book's data)",
        "9,298 digits from envelopes of the US Postal Service, 16x16", _usps),
    "semeion": Source(
        "claytonkb/basic_nn", "ece06403dabc4d5458fb1a017ba75aef5cd0ae02", ("semeion.data",),
        "none stated in the repository (Semeion Research Center's set from UCI's repository)",
        "1,593 digits by about 80 people, each digit twice, 16x16 binary", _semeion),
    "optdigits": Source(
        "vladimirbelinski/Character_Recognition_Using_Neural_Networks-T3_IA",
        "1a9bbaf4fa3b90a7e38824fafa6d29b22592edec",
        ("optdigits-orig.tra", "optdigits-orig.tes"),
        "none stated for the data (UCI's optdigits; the repository's code is Apache-2.0)",
        "2,880 digits by 30 writers, 32x32 binary: UCI's training files only; its "
        "writer-independent test file is scikit-learn's 8x8 digits, a benchmark here", _optdigits),
    "nsysu": Source(
        "SageLabTW/auto-grading", "67537335992dc73574cca703a915a0a450842aa6",
        ("nsysu-digits/X.csv", "nsysu-digits/nsysu-digits.csv"),
        "ODbL 1.0 (the database) and DbCL 1.0 (its contents), by V. Hong, J. Lin and C.-Y. Pan",
        "1,890 digits scanned from exam answer boxes, 28x28, a sheet id each", _nsysu),
    "mdas": Source(
        "jdmacleod/handwritten-calculator", "c00b70f1dfafe54c17de6ed7fc49b9598d134e2c",
        ("mdas_symbol_dataset/mdas_symbols_v1.zip",), "MIT (c) 2024 Jason MacLeod",
        "about 1,500 drawn operators by two people: + - x (and the dot) ÷ (and the slash)",
        _mdas),
}


# Who wrote MNIST's digits: QMNIST's extended labels (its images are not read).
QMNIST_REPO, QMNIST_COMMIT = "facebookresearch/qmnist", "94061367ec2e099ea18c553c75727ecf849ddb9b"
QMNIST_PATHS = ("qmnist-train-labels.tsv.gz", "qmnist-test-labels.tsv.gz")
QMNIST_LICENCE = "BSD (c) Facebook, Inc. and its affiliates"


@functools.cache
def _corpus_builder() -> Any:
    """bench/real/build.py, whose way of finding a source's clone and reading a file at a
    commit this shares."""
    path = HERE.parents[1] / "bench" / "real" / "build.py"
    spec = importlib.util.spec_from_file_location("digitrec_corpus_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fetch(repo: str, commit: str, paths: tuple[str, ...], mirrors: Path,
           clone: bool) -> dict[str, bytes]:
    """The files ``paths`` of ``repo`` at ``commit``, from its clone under ``mirrors`` (made
    first with ``clone``)."""
    corpus = _corpus_builder()
    git_dir = corpus.mirror_of(mirrors, repo, clone)
    return {path: corpus.source_bytes(git_dir, commit, path) for path in paths}


def _save(target: Path, files: dict[str, bytes], repo: str, commit: str, licence: str,
          **arrays: np.ndarray) -> None:
    """``arrays`` and where they came from (the SHA-256 of ``files``, in order) at
    ``target``, written atomically."""
    digest = hashlib.sha256(b"".join(hashlib.sha256(b).digest()
                                     for b in files.values())).hexdigest()
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays, source_sha256=np.array(digest), repo=np.array(repo),
                            commit=np.array(commit), licence=np.array(licence))
    Path(tmp.name).replace(target)


def build(name: str, source: Source, mirrors: Path, out: Path, clone: bool = False) -> int:
    """Write ``out`` / NAME.npz from the source's files in its clone under ``mirrors`` (made
    first with ``clone``); how many characters it holds."""
    files = _fetch(source.repo, source.commit, source.paths, mirrors, clone)
    images, labels, writers = [], [], []
    for image, label, writer in source.decode(files):
        processed = preprocess(image)
        if processed.image is None:  # no ink found: nothing a reader would be given
            continue
        images.append(np.uint8(np.round(processed.image * 255)))
        labels.append(label)
        writers.append(writer)
    _save(out / f"{name}.npz", files, source.repo, source.commit, source.licence,
          images=np.stack(images), labels=np.array(labels), writers=np.array(writers))
    return len(images)


def build_mnist_writers(mirrors: Path, out: Path, clone: bool = False) -> int:
    """Write ``out`` / mnist-writers.npz from QMNIST's extended labels: for MNIST's training
    digits and its first 10,000 test digits, each one's class (to check the match) and its
    writer, as "series-writer" (NIST's writer numbers are per series); how many writers."""
    files = _fetch(QMNIST_REPO, QMNIST_COMMIT, QMNIST_PATHS, mirrors, clone)
    columns = {}
    for part, path, count in (("train", QMNIST_PATHS[0], 60000), ("test", QMNIST_PATHS[1], 10000)):
        table = np.loadtxt(io.BytesIO(gzip.decompress(files[path])), dtype=np.int64,
                           max_rows=count)
        columns[f"{part}_labels"] = table[:, 0].astype(np.uint8)
        columns[part] = np.array([f"{s}-{w}" for s, w in table[:, 1:3]])
    _save(out / "mnist-writers.npz", files, QMNIST_REPO, QMNIST_COMMIT, QMNIST_LICENCE,
          **columns)
    return len(set(columns["train"]) | set(columns["test"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--mirrors", type=Path, help="a folder of bare clones, OWNER+NAME")
    where.add_argument("--clone", action="store_true", help="clone the sources from GitHub")
    parser.add_argument("--only", nargs="+", choices=[*SOURCES, "mnist-writers"],
                        help="these sources only")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    mirrors = args.mirrors or Path(tempfile.mkdtemp(prefix="digitrec-writers-"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name in [n for n in args.only or SOURCES if n in SOURCES]:
        source = SOURCES[name]
        count = build(name, source, mirrors, args.out, args.clone)
        print(f"{name}: {count:,} characters from {source.repo} -> {args.out / name}.npz")
    if not args.only or "mnist-writers" in args.only:
        count = build_mnist_writers(mirrors, args.out, args.clone)
        print(f"mnist-writers: {count:,} writers of MNIST's digits from {QMNIST_REPO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
