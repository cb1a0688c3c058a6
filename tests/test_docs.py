"""The documentation cannot go stale: the site builds with `mkdocs build --strict` (no broken
link or anchor, every page in the navigation, the reference pages written from the code), every
`$ digitrec ...` line in the README's and the docs' console examples is a command the parser
accepts, and every example that shows its output prints that output today."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import missing, run

from digitrec.cli import build_parser

REPO = Path(__file__).parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# Commands quick enough to run in the suite; the others' examples are only parsed.
RUN = {"predict", "read", "calc", "table", "info"}
# A line of an example's output that stands for any number of lines.
ELIDED = "..."
# An example that writes files is only parsed: running it would write into the repository.
WRITES = ("--output", "--show", "--xlsx", "--review", "--report-dir", "--out")


def examples() -> list[tuple[str, str, list[str]]]:
    """(where, command line, its output as shown) for every `$ digitrec` line of every
    console block."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in re.finditer(r"```console\n(.*?)```", text, re.S):
            line_no = text[: block.start()].count("\n") + 2
            lines = block.group(1).rstrip("\n").split("\n")
            k = 0
            while k < len(lines):
                if lines[k].startswith("$ "):
                    output = []
                    j = k + 1
                    full = lines[k]
                    while full.endswith("\\") and j < len(lines):  # a continued line
                        full = full[:-1] + lines[j]
                        j += 1
                    while j < len(lines) and not lines[j].startswith("$ "):
                        output.append(lines[j])
                        j += 1
                    where = f"{page.relative_to(REPO)}:{line_no + k}"
                    found.append((where, full[2:], output))
                    k = j
                else:
                    k += 1
    return found


def command(line: str) -> list[str] | None:
    """The arguments of a `digitrec` command line: environment assignments before it, and a
    pipe, redirection or comment after it, left out; None for a line that runs something else."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    for token in lexer:
        if token in ("|", ">", ">>", "&&", ";", "<"):
            break
        words.append(token)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words.pop(0)
    return words[1:] if words and words[0] == "digitrec" else None


ALL = examples()


def test_the_site_builds_strictly(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("reference/cli/index.html", "reference/http/index.html",
                 "reference/codes/index.html", "reference/python/index.html",
                 "reference/model-card/index.html", "bench/NOTES/index.html"):
        assert (tmp_path / "site" / page).exists()
    cli = (tmp_path / "site" / "reference/cli/index.html").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert all(f"digitrec {name}" in cli for name in commands)
    http = (tmp_path / "site" / "reference/http/index.html").read_text()
    for endpoint in ("/api/predict", "/api/read", "/api/calc", "/api/table", "/api/feedback",
                     "/healthz"):
        assert endpoint in http


def test_there_are_examples_to_check() -> None:
    assert sum(bool(out) for _, _, out in ALL) >= 10 and len(ALL) >= 60


@pytest.mark.parametrize("where,line,output", ALL, ids=[w for w, _, _ in ALL])
def test_every_example_is_a_command_and_prints_what_it_shows(where, line, output,
                                                            monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    args = command(line)
    if args is None:
        return  # an example of another program (curl, python): nothing of ours to check
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `{line}` is not a command digitrec accepts")
    if not output or parsed.command not in RUN or set(args) & {"--help", *WRITES}:
        return
    named = getattr(parsed, "paths", [])
    if not all(list(REPO.glob(p)) if "*" in p else (REPO / p).exists() for p in named):
        return  # an illustration on the reader's own files
    # Globs as a shell expands them; every file the example names must be in the repository.
    expanded = []
    for arg in args:
        matches = sorted(str(p.relative_to(REPO)) for p in REPO.glob(arg)) if "*" in arg else []
        expanded += matches or [arg]
    if "--header" in args and shutil.which("tesseract") is None:
        missing("tesseract not installed: the example's names are read from print")
    done = run(*expanded)
    got = [x.rstrip() for x in done.stdout.rstrip("\n").split("\n")]
    assert _matches([x.rstrip() for x in output], got), (
        f"{where}: `{line}` now prints:\n" + "\n".join(got))


def _matches(shown: list[str], got: list[str]) -> bool:
    """Whether ``got`` is ``shown``, a line "..." in it standing for any lines."""
    if not shown:
        return not got
    if shown[0].strip() == ELIDED:
        return any(_matches(shown[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and shown[0] == got[0] and _matches(shown[1:], got[1:])
