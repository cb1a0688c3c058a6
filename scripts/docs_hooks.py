"""MkDocs hooks: the reference pages written from the code at every build, so they cannot
drift from it (every command and option from the argparse parsers, every endpoint from the
server's OpenAPI schema, every error and reason code from the source), and the benchmarks'
notes, sources and figures taken into the site from bench/."""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).parents[1]
BENCH_FILES = ["bench/NOTES.md", "bench/real/SOURCES.md",
               *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "bench/results").glob("*.png")))]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in BENCH_FILES:
        files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    for uri, write in (("reference/cli.md", cli_page), ("reference/http.md", http_page),
                       ("reference/codes.md", codes_page), ("reference/model-card.md", card_page)):
        files.append(File.generated(config, uri, content=write()))
    return files


def _usage(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_usage().split())


def cli_page() -> str:
    """Every subcommand: its description, usage and each argument's help, from the parsers
    `digitrec` itself uses."""
    from digitrec.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    out = ["# Command line", "",
           "Written from `digitrec`'s own argument parsers at every build of this site: what "
           "`digitrec COMMAND --help` prints, command by command.", ""]
    for name, sub in commands.items():
        out += [f"## `digitrec {name}`", "", sub.description or "", "", "```text",
                _usage(sub), "```", "", "| argument | what it does |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            names = (", ".join(f"`{o}`" for o in action.option_strings)
                     or f"`{action.metavar or action.dest}`")
            if action.option_strings and action.metavar:
                names += f" `{action.metavar}`"
            text = (action.help or "").replace("|", "\\|").replace("\n", " ")
            if "%(default)" in text:
                text = text.replace("%(default)s", str(action.default))
            out.append(f"| {names} | {text} |")
        out.append("")
    return "\n".join(out)


def http_page() -> str:
    """Every endpoint of `digitrec serve`, from the app's OpenAPI schema."""
    from digitrec.serve.app import create_app

    schema = create_app().openapi()
    out = ["# HTTP API", "",
           "Written from the server's OpenAPI schema at every build of this site (the running "
           "server serves the same schema at `/openapi.json`, and an interactive page at "
           "`/docs`).", ""]
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out += [f"## `{method.upper()} {path}`", "", f"**{op.get('summary', '')}**", "",
                    (op.get("description") or "").strip(), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | what it is |", "|---|---|---|"]
                for p in params:
                    desc = (p.get("description") or p.get("schema", {}).get("description")
                            or "").replace("|", "\\|")
                    out.append(f"| `{p['name']}` | {p['in']} | {desc} |")
                out.append("")
            answers = ", ".join(f"{code}" for code in op.get("responses", {}))
            out += [f"Answers: {answers}.", ""]
    out += ["## Schemas", "", "```json",
            json.dumps(schema.get("components", {}).get("schemas", {}), indent=1)[:60000],
            "```", ""]
    return "\n".join(out)


def _codes() -> dict[str, list[str]]:
    """Each error code the source raises, with the files that raise it: the second argument
    (or ``code=``) of every DigitrecError and subclass, and every class's own ``code``."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "src/digitrec").rglob("*.py")):
        where = str(path.relative_to(ROOT / "src"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith(
                    ("Error", "Image", "TooLarge")):
                args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "code")]
                for a in args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        found.setdefault(a.value, set()).add(where)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, ast.Assign) and len(item.targets) == 1
                            and getattr(item.targets[0], "id", "") == "code"
                            and isinstance(item.value, ast.Constant)):
                        found.setdefault(item.value.value, set()).add(where)
    return {code: sorted(files) for code, files in sorted(found.items())}


def codes_page() -> str:
    """Every error code and every reason a reading can be empty."""
    from digitrec.reading.result import READ_REASONS

    out = ["# Error and reason codes", "",
           "Written from the source at every build of this site. An error is one line naming "
           "the file or setting and the problem, with a code for machines: the CLI prints "
           "`digitrec: error: ...` and exits non-zero, the API answers a 4xx with "
           '`{"detail": ..., "code": ...}`, `--json` rows carry `"status": "error"` and the '
           "code.", "", "## Error codes", "", "| code | raised in |", "|---|---|"]
    out += [f"| `{code}` | {', '.join(f'`{f}`' for f in files)} |"
            for code, files in _codes().items()]
    out += ["", "## Reasons a reading is empty", "",
            "Not errors: the image was read and held no digit, number or sum (`reason_code`).",
            "", "| reason code | what it says |", "|---|---|"]
    out += [f"| `{code}` | {text} |" for code, text in READ_REASONS.items()]
    return "\n".join(out) + "\n"


def card_page() -> str:
    """The model card's fields (from `digitrec.contract.ModelCard` and the comments beside
    them), and what the shipped digit model's card holds."""
    from digitrec.inference import load_digit_model

    path = ROOT / "src/digitrec/contract.py"
    lines = path.read_text().split("\n")
    tree = ast.parse("\n".join(lines))
    card = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "ModelCard")
    out = ["# The model card", "",
           "Every model file digitrec writes carries its card in the ONNX file's metadata: what "
           "it is, how it was trained, on what, and how well it does. `digitrec info MODEL` "
           "prints it; `model.card` and `model.info()` give it in Python. Written from "
           "`digitrec.contract.ModelCard` at every build of this site.", "",
           "| field | type | what it holds |", "|---|---|---|"]
    for node in card.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        k = node.lineno - 1
        said = [lines[k].split("#", 1)[1].strip()] if "#" in lines[k] else []
        above = []
        j = k - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            above.insert(0, lines[j].strip()[1:].strip())
            j -= 1
        text = " ".join(above + said).replace("|", "\\|")
        kind = ast.unparse(node.annotation).replace("|", "or")
        out.append(f"| `{node.target.id}` | `{kind}` | {text} |")
    shipped = load_digit_model().info()
    out += ["", "## The shipped digit model's card", "", "| field | value |", "|---|---|"]
    for key, value in shipped.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        out.append(f"| `{key}` | `{shown}` |".replace("|`", "| `"))
    return "\n".join(out) + "\n"
