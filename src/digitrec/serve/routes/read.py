"""POST /api/read: read every number in an uploaded image; POST /api/calc: every sum, worked
out; POST /api/table: the table on a page, every cell read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ...errors import DigitrecError
from ...reading.search import check_pattern, parse_digits
from ...reading.table import parse_columns
from ..deps import PoolDep
from ..schemas import ERRORS, IMAGE_BODY, CalcResult, ReadResult, TableResult
from ..uploads import image_upload

router = APIRouter(prefix="/api")


def _constraints(digits: str | None, pattern: str | None) -> tuple[tuple[int, int] | None,
                                                                    str | None]:
    if len(digits or "") > 20:
        raise DigitrecError("digits: over 20 characters is not a count or a range",
                            "bad_parameter")
    return (parse_digits(digits) if digits else None,
            check_pattern(pattern) if pattern else None)


@router.post("/read", response_model=ReadResult, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read every number in one image")
async def read(request: Request, pool: PoolDep,
               digits: Annotated[str | None, Query(
                   description="each line has N digits, or N-M")] = None,
               pattern: Annotated[str | None, Query(
                   description="each line matches this regular expression in full")] = None,
               ) -> ReadResult:
    """Send the image as the raw request body, or as the `file` field of a form, as for
    /api/predict."""
    span, regex = _constraints(digits, pattern)
    return await pool.read(*await image_upload(request), span, regex)


@router.post("/calc", response_model=CalcResult, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read every handwritten sum in one image and work it out")
async def calc(request: Request, pool: PoolDep) -> CalcResult:
    """Send the image as for /api/read. Each line of writing is read as a sum (digits,
    + - × ÷ = ( ) and decimal points) and worked out exactly."""
    return await pool.calc(*await image_upload(request))


@router.post("/table", response_model=TableResult, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read the table on a page: its grid, and every cell's number")
async def table(request: Request, pool: PoolDep,
                columns: Annotated[str | None, Query(
                    description=r"the columns' names, each with its cells' pattern where "
                                r"known: 'day=\d{1,2},month=\d{1,2},year=\d{4}'")] = None,
                header: Annotated[bool, Query(
                    description="the first row holds the columns' printed names")] = False,
                ) -> TableResult:
    """Send the page as for /api/read. The same shapes as `digitrec table --json`."""
    if len(columns or "") > 2000:
        raise DigitrecError("columns: over 2000 characters", "bad_parameter")
    return await pool.table(*await image_upload(request),
                            parse_columns(columns) if columns else None, header)
