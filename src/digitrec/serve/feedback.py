"""The server's side of learning from corrections: each reading it serves is remembered in the
corrections database under a new id, and a correction names that id. Off unless `serve
--feedback PATH` (or `create_app(feedback=...)`) turns it on.

Who may correct: with a token set, whoever sends it (``Authorization: Bearer TOKEN``); without
one, only clients on this machine. `digitrec serve` refuses to listen beyond localhost with
feedback on and no token, so a token-less server is never reachable from elsewhere; the
loopback check here is the second lock, for an app mounted by other means.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import secrets

import numpy as np
from fastapi import Request

from ..corrections import Store
from ..errors import DigitrecError
from ..inference import Model, Prediction
from ..reading.result import Reading

# `serve --workers N` hands its settings to each worker process through these.
MAX_ORIGINAL = 2 * 2**20  # an upload larger than this is corrected without its original
log = logging.getLogger("digitrec.serve")


def _uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class Feedback:
    """Remembers served readings and stores corrections of them in one database."""

    def __init__(self, path: str | os.PathLike[str], model: Model, token: str | None = None,
                 keep_originals: bool = False) -> None:
        self.store = Store(path)
        self.model_sha256 = hashlib.sha256(model.path.read_bytes()).hexdigest()
        self.token = token or None
        self.keep_originals = keep_originals

    def _remember(self, kind: str, images: list[np.ndarray], predicted: str | None,
                  probabilities: list[list[float]], original: bytes) -> str | None:
        if not images:  # nothing the model saw: nothing a correction could teach
            return None
        kept = original if self.keep_originals and len(original) <= MAX_ORIGINAL else None
        try:
            return self.store.remember(kind, np.stack([_uint8(i) for i in images]),
                                       self.model_sha256, predicted, probabilities, kept)
        except DigitrecError as exc:
            # The reading still stands; it just cannot be corrected.
            log.warning("reading not remembered for correction: %s", exc)
            return None

    def digit(self, prediction: Prediction, original: bytes) -> str | None:
        """The id under which ``prediction`` can be corrected; None when no digit was found."""
        if prediction.processed is None or prediction.probabilities is None:
            return None
        return self._remember("digit", [prediction.processed], str(prediction.digit),
                              [prediction.probabilities.tolist()], original)

    def number(self, reading: Reading, original: bytes) -> str | None:
        """The id under which ``reading`` can be corrected: its digits' images are kept, in
        order, to pair with the digits of the right answer."""
        digits = [c for c in reading.characters
                  if c.processed is not None and c.probabilities is not None]
        return self._remember("number", [c.processed for c in digits], reading.text or None,
                              [c.probabilities.tolist() for c in digits], original)

    def check_allowed(self, request: Request) -> None:
        """Refuse (401) a client that may not write or read corrections."""
        if self.token is None:
            if not is_loopback(request.client.host if request.client else None):
                raise DigitrecError("feedback from other machines needs the server to have a "
                                    "token (--feedback-token)", "unauthorized")
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(),
                                                                    self.token.encode()):
            raise DigitrecError("feedback needs the server's token: send the header "
                                "'Authorization: Bearer TOKEN'", "unauthorized")
