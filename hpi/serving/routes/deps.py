"""What the routers take their shared state from: the app's ServingContext (app.state.context), handed to an
endpoint by FastAPI's `Depends`. Built on first use, as schemas.py's models: importing hpi.serving needs no fastapi.

    deps = dependencies()
    async def readiness(context: deps.Context): ...        # the whole context
    async def prometheus(metrics: deps.Metrics): ...        # or the part an endpoint needs
"""
import functools
from types import SimpleNamespace

from ..context import ServingContext
from ..metrics import ServingMetrics
from ..settings import ServeSettings


@functools.lru_cache(maxsize=None)
def dependencies() -> SimpleNamespace:
    from typing import Annotated

    from fastapi import Depends, Request

    def get_context(request: Request) -> ServingContext:
        return request.app.state.context

    def get_settings(context: ServingContext = Depends(get_context)) -> ServeSettings:
        return context.settings

    def get_metrics(context: ServingContext = Depends(get_context)) -> ServingMetrics:
        return context.metrics

    return SimpleNamespace(Context=Annotated[ServingContext, Depends(get_context)],
                           Settings=Annotated[ServeSettings, Depends(get_settings)],
                           Metrics=Annotated[ServingMetrics, Depends(get_metrics)])
