"""POST /api/read: read every number in an uploaded image."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ...errors import DigitrecError
from ..deps import ReaderDep, image_upload
from ..schemas import ERRORS, IMAGE_BODY, ReadResult

router = APIRouter(prefix="/api")


def _constraints(digits: str | None, pattern: str | None) -> tuple[tuple[int, int] | None,
                                                                    str | None]:
    if len(digits or "") > 20 or len(pattern or "") > 200:
        raise DigitrecError("digits or pattern is too long (at most 20 and 200 characters)",
                            "bad_parameter")
    span = None
    if digits:
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", digits)
        if not match:
            raise DigitrecError(f"digits: {digits!r} is not a count (5) or a range (4-6)",
                                "bad_parameter")
        span = (int(match.group(1)), int(match.group(2) or match.group(1)))
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DigitrecError(f"pattern: {pattern!r} is not a regular expression ({exc})",
                                "bad_parameter") from None
    return span, pattern or None


@router.post("/read", response_model=ReadResult, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read every number in one image")
async def read(request: Request, reader: ReaderDep,
               digits: Annotated[str | None, Query(
                   description="each line has N digits, or N-M")] = None,
               pattern: Annotated[str | None, Query(
                   description="each line matches this regular expression in full")] = None,
               ) -> ReadResult:
    """Send the image as the raw request body, or as the `file` field of a form, as for
    /api/predict."""
    span, regex = _constraints(digits, pattern)
    return await reader.read(*await image_upload(request), span, regex)
