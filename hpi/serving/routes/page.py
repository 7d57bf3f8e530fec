"""GET /: a page to try the server, told what it serves (its body's data-serves: the endpoints it may post to, as
relative paths): with /ocr it sends photos there and draws their boxes and texts."""
import functools
from importlib import resources

from ..schemas import ENDPOINT
from .deps import dependencies

# The page makes no request but to this server, and loads nothing from elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'")


def router():
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse

    deps, router = dependencies(), APIRouter()

    @router.get("/", include_in_schema=False)
    async def index(context: deps.Context):
        return HTMLResponse(index_page(ocr=context.ocr is not None), headers={"Content-Security-Policy": PAGE_CSP})

    return router


@functools.lru_cache(maxsize=2)
def index_page(ocr: bool) -> str:
    page = resources.files("hpi.serving").joinpath("index.html").read_text(encoding="utf-8")
    default = f'<body data-serves="{ENDPOINT.lstrip("/")}">'
    if page.count(default) != 1:
        raise RuntimeError(f"hpi/serving/index.html lost its {default}")
    return page.replace(default, default[:-2] + ' ocr">') if ocr else page
