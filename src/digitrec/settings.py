"""Every setting digitrec takes from the environment, read in one place: here, at the edge (the
CLI, the Python API's loaders, a server worker starting), and passed down as a `Settings`.
Nothing below reads `os.environ`: a function's behaviour is its arguments.

Command-line options win over these; these win over the defaults (the shipped models, the
user's cache).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import DigitrecError

# The variables, by the setting each one gives.
ENV = {
    "model": "DIGITREC_MODEL",  # the digit model
    "reader": "DIGITREC_READER",  # the sequence reader `read` combines with segmentation
    "sum_reader": "DIGITREC_CALC_READER",  # ...and the reader of sums `calc` does
    "calculator": "DIGITREC_CALC_MODEL",  # the classifier of digits and operators
    "locator": "DIGITREC_LOCATOR",  # the handwriting locator `read` and `calc` find ink with
    "data_dir": "DIGITREC_DATA",  # the MNIST folder
    "mnist_mirrors": "DIGITREC_MNIST_MIRRORS",  # comma-separated base URLs
    # `serve`'s, which reach its worker processes this way (set by `digitrec serve`):
    "feedback": "DIGITREC_FEEDBACK",
    "feedback_token": "DIGITREC_FEEDBACK_TOKEN",
    "keep_originals": "DIGITREC_KEEP_ORIGINALS",
    "max_pixels": "DIGITREC_MAX_PIXELS",
    "header_timeout": "DIGITREC_HEADER_TIMEOUT",
}


@dataclass(frozen=True)
class Torchrun:
    """This process's place in the group torchrun started."""

    rank: int
    size: int
    local_rank: int
    local_size: int


@dataclass(frozen=True)
class Settings:
    model: Path | None = None
    reader: Path | None = None
    sum_reader: Path | None = None
    calculator: Path | None = None
    locator: Path | None = None
    data_dir: Path | None = None
    mnist_mirrors: tuple[str, ...] = ()
    cache_dir: Path = Path.home() / ".cache" / "digitrec"
    feedback: Path | None = None
    feedback_token: str | None = None
    keep_originals: bool = False
    max_pixels: int | None = None
    header_timeout: float | None = None
    torchrun: Torchrun | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (by default this process's environment) gives; a value
        that does not parse is refused in one line naming its variable."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            return env.get(ENV[name]) or None

        def path(name: str) -> Path | None:
            value = text(name)
            return None if value is None else Path(value).expanduser()

        def number(name: str, kind: type[int] | type[float]) -> int | float | None:
            value = text(name)
            try:
                return None if value is None else kind(value)
            except ValueError:
                raise DigitrecError(f"${ENV[name]}: {value!r} is not a number",
                                    "bad_parameter") from None

        mirrors = text("mnist_mirrors") or ""
        cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digitrec"
        return cls(model=path("model"), reader=path("reader"), sum_reader=path("sum_reader"),
                   calculator=path("calculator"), locator=path("locator"),
                   data_dir=path("data_dir"),
                   mnist_mirrors=tuple(m.strip() for m in mirrors.split(",") if m.strip()),
                   cache_dir=cache, feedback=path("feedback"),
                   feedback_token=text("feedback_token"),
                   keep_originals=env.get(ENV["keep_originals"]) == "1",
                   max_pixels=number("max_pixels", int),
                   header_timeout=number("header_timeout", float),
                   torchrun=_torchrun(env))

    def environment(self) -> dict[str, str]:
        """These settings as the variables that give them, for processes started from this
        one (a server's workers): ``from_environment`` there reads back the same."""
        out = {}
        for name, variable in ENV.items():
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "1" if value else ""
            if value not in (None, ""):
                out[variable] = str(value)
        return out


def _torchrun(env: Mapping[str, str]) -> Torchrun | None:
    size = int(env.get("WORLD_SIZE", "1"))
    if size <= 1 or "RANK" not in env:
        return None
    return Torchrun(int(env["RANK"]), size, int(env.get("LOCAL_RANK", "0")),
                    int(env.get("LOCAL_WORLD_SIZE", size)))
