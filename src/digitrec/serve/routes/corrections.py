"""POST /api/feedback: what a reading should have been; GET /api/feedback/stats: what has been
corrected so far. Both need feedback on, and a client allowed to use it (see serve.feedback)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from ..deps import FeedbackDep
from ..schemas import FEEDBACK_ERRORS, FeedbackIn, FeedbackOut, FeedbackStats

router = APIRouter(prefix="/api")


@router.post("/feedback", response_model=FeedbackOut, responses=FEEDBACK_ERRORS,
             summary="Correct a reading the server gave")
async def correct(body: FeedbackIn, feedback: FeedbackDep) -> FeedbackOut:
    """Name the reading by the `id` its result carried and give the right `label`; stored with
    the images the model saw, what it said and the model's SHA-256. Correcting the same reading
    again replaces its label. Stored for good (synchronously) before the answer is sent."""
    number = await anyio.to_thread.run_sync(
        feedback.store.correct, body.id, body.label, body.writer or None)
    return FeedbackOut(correction=number, label=body.label.strip())


@router.get("/feedback/stats", response_model=FeedbackStats, responses=FEEDBACK_ERRORS,
            summary="Counts of the corrections stored so far (no images)")
async def stats(feedback: FeedbackDep) -> FeedbackStats:
    return FeedbackStats(**await anyio.to_thread.run_sync(feedback.store.stats))
