"""GET /health (liveness: 200 while the process serves), /ready (503 until the model is loaded, then 200) and
/metrics (Prometheus text)."""
from ..envelope import failure, new_log_id, success
from ..metrics import CONTENT_TYPE
from ..schemas import models
from .deps import dependencies


def router():
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse, Response

    deps, schemas, router = dependencies(), models(), APIRouter()

    @router.get("/health", operation_id="checkHealth", response_model=schemas.NoResultResponse)
    async def health():
        return success(new_log_id(), None, "Healthy")

    @router.get("/ready", operation_id="checkReady", response_model=schemas.NoResultResponse,
                responses={503: {"model": schemas.NoResultResponse}})
    async def readiness(context: deps.Context):
        reason = context.not_ready()
        if reason is None:
            return success(new_log_id(), None, "Ready")
        return JSONResponse(failure(new_log_id(), 503, reason), status_code=503)

    @router.get("/metrics", include_in_schema=False)
    async def prometheus(metrics: deps.Metrics):
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return router
