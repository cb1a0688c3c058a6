"""The page, and what describes the running service: GET /, /api/model, /healthz."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from ..deps import WEB, PoolDep
from ..schemas import Health

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(WEB / "index.html")


@router.get("/api/model", summary="What the loaded model says about itself")
async def model_info(pool: PoolDep) -> dict[str, Any]:
    digits = pool.reader.digits
    return {**digits.info(), "path": digits.path.name,
            "novelty_threshold": digits.novelty_threshold}


@router.get("/healthz", response_model=Health,
            summary="Liveness: the models are loaded; which files, by SHA-256")
async def health(request: Request) -> Health:
    return Health(status="ok", models=request.app.state.models)
