"""POST /api/predict and /api/predict/batch: read the digit in uploaded images."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from ...errors import DigitrecError
from ..deps import PoolDep
from ..schemas import BATCH_BODY, ERRORS, IMAGE_BODY, MAX_BATCH, BatchItem, BatchResult, Result
from ..uploads import image_upload, is_form

router = APIRouter(prefix="/api")


@router.post("/predict", response_model=Result, responses=ERRORS, openapi_extra=IMAGE_BODY,
             summary="Read the digit in one image")
async def predict(request: Request, pool: PoolDep) -> Result:
    """Send the image as the raw request body, or as the `file` field of a form."""
    return await pool.predict(*await image_upload(request))


@router.post("/predict/batch", response_model=BatchResult, responses=ERRORS,
             openapi_extra=BATCH_BODY, summary="Read the digits in several images")
async def predict_batch(request: Request, pool: PoolDep) -> BatchResult:
    """A form with up to 64 files in `files`; a file that cannot be read gets an `error`
    and the others are still read."""
    if not is_form(request):
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
                result = await pool.predict(await upload.read(), name)
                items.append(BatchItem(file=name, filename=name, result=result, error=None,
                                       code=None))
            except DigitrecError as exc:
                items.append(BatchItem(file=name, filename=name, result=None, error=str(exc),
                                       code=exc.code))
    return BatchResult(results=items)
