"""The demo page, Swagger UI and ReDoc, all from files in the package: no CDN, so they work offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from service.security import require_docs_key

STATIC = Path(__file__).resolve().parents[1] / "static"
VENDOR = "/static/vendor"
FAVICON = "/favicon.ico"

OPENAPI_URL = "/openapi.json"
# The demo page loads only its own files and calls only this server; nothing may frame it (clickjacking).
DEMO_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)
docs = APIRouter(include_in_schema=False, dependencies=[Depends(require_docs_key)])


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)  # HEAD: uptime monitors' default
async def demo() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=DEMO_HEADERS)


@router.get(FAVICON)
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.png", media_type="image/png")


@docs.get(OPENAPI_URL)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        swagger_ui_parameters={"validatorUrl": None},  # the default validator badge calls swagger.io
    )
    page.headers["X-Frame-Options"] = "DENY"
    return page


@docs.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
    page.headers["X-Frame-Options"] = "DENY"
    return page


def install_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    app.include_router(docs)
