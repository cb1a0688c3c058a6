"""The API's request and response bodies. The OpenAPI schema, validation and docs all come from
these definitions; a result carries the same fields as `digitrec predict --json`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictInt, field_validator

MAX_UPLOAD = 10 * 1024 * 1024  # bytes in one request
MAX_BATCH = 64  # images in one batch request
# How long a request may wait for a worker before it is answered 503: past this, a client is
# better told to come back than kept waiting behind a queue the server cannot clear.
QUEUE_TIMEOUT = 30.0
_ID = ("this reading's id, to correct it by POST /api/feedback within an hour; null when the "
       "server keeps no corrections or nothing was read")


class Result(BaseModel):
    digit: int | None = Field(description="the digit read; null when no digit was found")
    confidence: float = Field(description="probability of that digit; 0 when none was found")
    status: str = Field(description='"ok", "uncertain" (confidence under 0.5) or "no digit"')
    unusual: bool = Field(description="unlike any digit the model learned (a letter?)")
    novelty: float | None = Field(description="distance from the digits the model learned")
    top3: list[tuple[int, float]] = Field(description="the three likeliest digits, likeliest "
                                                      "first, each with its probability")
    probabilities: list[float] | None = Field(description="probability of each digit 0-9")
    reason: str | None = Field(description="why no digit was found")
    reason_code: str | None = Field(
        description="the reason for machines: no_ink, faint, texture, too_wide or solid_blob")
    processed: str | None = Field(
        description="the 28x28 image the model saw, as a PNG data URL")
    timing_ms: float = Field(description="server time for this image: decode, preprocess, model")
    id: str | None = Field(None, description=_ID)


class ReadCharacter(BaseModel):
    char: str = Field(description='a digit, or ".", "," or "-"')
    box: list[int] = Field(description="left, top, right, bottom, in the image's pixels")
    confidence: float = Field(description="the model's probability for a digit; 1 for a mark")
    unusual: bool = Field(description="unlike any digit the model learned (a letter?)")
    probabilities: list[float] | None = Field(description="of each digit 0-9, for a digit")


class ReadLine(BaseModel):
    text: str
    confidence: float = Field(description="the sequence reader's probability of the text "
                                          "(without one, the product of its characters')")
    agreed: bool | None = Field(description="whether the segmentation and the sequence "
                                            "reader read the same; null with one reader")
    characters: list[ReadCharacter]


class ReadResult(BaseModel):
    text: str = Field(description="every line read, top to bottom, joined by newlines")
    confidence: float = Field(description="the least confident line's confidence")
    status: str = Field(description='"ok" or "no number"')
    lines: list[ReadLine]
    reason: str | None = Field(description="why nothing was read")
    reason_code: str | None = Field(description="the reason for machines: no_ink, faint, "
                                                "texture, no_match")
    timing_ms: float = Field(description="server time for this image")
    id: str | None = Field(None, description=_ID)


class CalcCharacter(ReadCharacter):
    char: str = Field(description="a digit or one of + - × ÷ = ( ) .")
    probabilities: list[float] | None = Field(
        description="of each class in the result's `classes`, for a character the "
                    "classifier read (null for a mark read by its shape)")


class CalcSum(BaseModel):
    read: str = Field(description="the line as read, e.g. 12×7=")
    expression: str | None = Field(description="what was worked out: the line before its '='")
    value: str | None = Field(description="its value in decimal: exact where the decimals "
                                          "end, else rounded and marked '≈'")
    fraction: str | None = Field(description="the exact value as a fraction, e.g. 1/3")
    written: str | None = Field(description="the answer written after '=', if any")
    agrees: bool | None = Field(description="whether the written answer is right; null when "
                                            "none was written")
    error: str | None = Field(description="why the line has no value: malformed, a division "
                                          "by zero, a number too long")
    error_code: str | None = Field(description="that reason for machines: bad_expression, "
                                               "division_by_zero, too_large")
    confidence: float = Field(description="the product of its characters' confidences")
    characters: list[CalcCharacter]


class CalcResult(BaseModel):
    text: str = Field(description="each sum and its value, e.g. '12×7 = 84', joined by "
                                  "newlines")
    confidence: float = Field(description="the least confident sum's confidence")
    status: str = Field(description='"ok" or "no sum"')
    classes: str = Field(description="what the characters' probabilities stand for")
    sums: list[CalcSum]
    reason: str | None = Field(description="why nothing was read")
    reason_code: str | None = Field(description="the reason for machines: no_ink, faint, "
                                                "texture")
    timing_ms: float = Field(description="server time for this image")


class BatchItem(BaseModel):
    file: str = Field(description="the file's name, as `predict --json` gives it")
    filename: str = Field(description="the same name, under the field's earlier name")
    result: Result | None = Field(description="null when the file could not be read")
    error: str | None = Field(description="why the file could not be read")
    code: str | None = Field(description="that reason for machines (as a 4xx body's code)")


class BatchResult(BaseModel):
    results: list[BatchItem]


class FeedbackIn(BaseModel):
    id: str = Field(max_length=100, description="the reading's id, from its result")
    label: str | StrictInt = Field(description="what it should have been: a digit 0-9 for "
                             "/api/predict's, the number (digits . , -) for /api/read's; a "
                             "whole number may be sent as a JSON number")
    writer: str | None = Field(None, max_length=100, pattern=r"^[\w .@+-]*$",
                               description="a tag for whoever wrote it, to fine-tune for them")

    @field_validator("label", mode="before")
    @classmethod
    def _as_text(cls, label: object) -> str:
        """A digit sent as the number 4 is what most clients send; it is stored as "4"."""
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise ValueError("give it as text, or a whole number as a JSON number")
        text = str(label)
        if len(text) > 200:
            raise ValueError("at most 200 characters")
        return text


class FeedbackOut(BaseModel):
    correction: int = Field(description="the stored correction's number in the database")
    label: str = Field(description="the label as stored")


class FeedbackStats(BaseModel):
    corrections: int
    by_label: dict[str, int]
    by_writer: dict[str, int]
    by_model: dict[str, int]
    confusions: list[dict[str, Any]] = Field(description="the (predicted, label) pairs "
                                                         "corrected most, with their counts")


class Problem(BaseModel):
    detail: str = Field(description="what is wrong, naming the file")
    code: str | None = Field(None, description="the same for machines: not_an_image, corrupt, "
                                               "empty, too_small, too_large, no_file, ...")


class ModelFile(BaseModel):
    role: str = Field(description="digits, reader (of numbers), calculator, sum reader")
    file: str = Field(description="the file's name")
    sha256: str = Field(description="the file's SHA-256, as loaded at start")


class Health(BaseModel):
    status: str
    models: list[ModelFile] = Field(description="every model the server loaded at start")


FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in [
        (400, "a body that is not JSON"),
        (401, "no token, or the wrong one (code unauthorized)"),
        (404, "no reading with that id, or older than an hour (not_found); or the server "
              "keeps no corrections (feedback_off)"),
        (409, "the corrections database is full (feedback_full)"),
        (422, "a label that does not fit the reading (bad_label), or a malformed body"),
    ]
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in [
        (400, "malformed request"),
        (413, f"upload over {MAX_UPLOAD // 2**20} MB, or an image with too many pixels"),
        (415, "not an image"),
        (422, "corrupt, truncated or empty image, or no file in the form"),
        (503, f"no worker free within {QUEUE_TIMEOUT:g} s (code busy): try again after "
              "Retry-After seconds"),
    ]
}
_BINARY = {"type": "string", "format": "binary"}
IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": _BINARY}}},
    "image/png": {"schema": _BINARY},
    "image/jpeg": {"schema": _BINARY},
    "application/octet-stream": {"schema": _BINARY},
}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["files"],
        "properties": {"files": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                 "items": _BINARY}}}}}}}


class TableCellResult(BaseModel):
    row: int = Field(description="the cell's first row, from 0")
    column: int = Field(description="the cell's first column, from 0")
    rows: int = Field(description="how many rows it spans (a merged cell: more than 1)")
    columns: int = Field(description="how many columns it spans")
    box: list[int] = Field(description="left, top, right, bottom in the image's pixels")
    text: str
    confidence: float
    status: str = Field(description="ok, unsure (for a person to check), empty, print (a "
                                    "printed label, not handwriting) or no_match")
    id: str | None = Field(None, description=_ID)


class TableResult(BaseModel):
    rows: int
    columns: int
    names: list[str] = Field(description="the columns' names, left to right")
    ruled: bool = Field(description="whether the grid was drawn (else aligned writing)")
    status: str = Field(description='"ok" or "no table"')
    reason: str | None = Field(description="why no table was found")
    table: list[list[str]] = Field(description="the text of each row's cells; a merged "
                                               "cell's in its first row and column")
    cells: list[TableCellResult]
    review: int = Field(description="how many cells are for a person to check")
    timing_ms: float = Field(description="server time for this image")
