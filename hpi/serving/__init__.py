"""`hpi serve`: text recognition over HTTP with PaddleX serving's envelope, and lines of concurrent requests
batched into one predict call. Needs the `serve` extra (fastapi, uvicorn), imported only when an app is made.

    from hpi import TextRecognition
    from hpi.serving import ServeSettings, create_app

    app = create_app(TextRecognition(model_dir=..., use_hpip=True), settings=ServeSettings(batch_wait_ms=5))
"""
from .app import create_app
from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
