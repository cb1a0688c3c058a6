"""An uploaded image, from a form's `file` field or the raw body."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from ..errors import DigitrecError


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def image_upload(request: Request) -> tuple[bytes, str]:
    """One image from a request: the `file` field of a form, or the raw body; with its name."""
    if is_form(request):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise DigitrecError("the form has no file field named 'file'", "no_file")
            return await upload.read(), upload.filename or "upload"
    return await request.body(), "upload"
