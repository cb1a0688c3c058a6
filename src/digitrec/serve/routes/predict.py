"""POST /api/predict and /api/predict/batch: read the digit in uploaded images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile

from ...errors import DigitrecError
from ..deps import Reader, get_reader
from ..schemas import BATCH_BODY, ERRORS, IMAGE_BODY, MAX_BATCH, BatchItem, BatchResult, Result

router = APIRouter(prefix="/api")
ReaderDep = Annotated[Reader, Depends(get_reader)]


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


@router.post("/predict", response_model=Result, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read the digit in one image")
async def predict(request: Request, reader: ReaderDep) -> Result:
    """Send the image as the raw request body, or as the `file` field of a form."""
    if _is_form(request):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise DigitrecError("the form has no file field named 'file'", "no_file")
            return await reader.predict(await upload.read(), upload.filename or "upload")
    return await reader.predict(await request.body(), "upload")


@router.post("/predict/batch", response_model=BatchResult, responses=ERRORS,
             openapi_extra=BATCH_BODY, summary="Read the digits in several images")
async def predict_batch(request: Request, reader: ReaderDep) -> BatchResult:
    """A form with up to 64 files in `files`; a file that cannot be read gets an `error`
    and the others are still read."""
    if not _is_form(request):
        raise DigitrecError("send the images as multipart/form-data files named 'files'",
                            "not_multipart")
    async with request.form(max_files=MAX_BATCH, max_fields=MAX_BATCH) as form:
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not uploads:
            raise DigitrecError("the form has no files in a field named 'files'", "no_file")
        items = []
        for upload in uploads:
            name = upload.filename or "upload"
            try:
                result = await reader.predict(await upload.read(), name)
                items.append(BatchItem(file=name, filename=name, result=result, error=None,
                                       code=None))
            except DigitrecError as exc:
                items.append(BatchItem(file=name, filename=name, result=None, error=str(exc),
                                       code=exc.code))
    return BatchResult(results=items)
