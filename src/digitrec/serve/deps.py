"""What the routes share, made once when the app starts (`app.state`): the pool that reads
images and the feedback store, as FastAPI dependencies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from ..errors import DigitrecError
from .feedback import Feedback
from .pool import Pool

WEB = Path(__file__).parent / "web"  # the page and its assets, served by the app itself


def get_pool(request: Request) -> Pool:
    return request.app.state.pool


def get_feedback(request: Request) -> Feedback:
    """The server's feedback store, for a client allowed to use it."""
    feedback = request.app.state.pool.feedback
    if feedback is None:
        raise DigitrecError("this server keeps no corrections: start it with --feedback PATH",
                            "feedback_off")
    feedback.check_allowed(request)
    return feedback


PoolDep = Annotated[Pool, Depends(get_pool)]
FeedbackDep = Annotated[Feedback, Depends(get_feedback)]
