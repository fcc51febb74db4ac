"""The interactive API docs served from the installed Python environment, not a CDN.

Monitoring centres often run without internet, so ``/docs`` (Swagger UI) loads its script, style and
icon from ``/docs-assets``: the Swagger UI 5 build that the ``fastapi-offline`` package ships (Swagger
UI reads OpenAPI 3.1, which FastAPI emits, from version 5 on). The online validator badge is switched
off: for any host but localhost it would fetch an image from the validator's site. ``/redoc`` is not
served: Redoc's bundle always loads its vendor's logo from a CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
SWAGGER_JS, SWAGGER_CSS, FAVICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"
# FastAPI's defaults, less the validator badge (an external image).
SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI, docs_url: str = "/docs") -> None:
    """Serve /docs and its OAuth2 redirect page for ``app`` (built with docs_url=None, redoc_url=None)."""
    missing = [name for name in (SWAGGER_JS, SWAGGER_CSS, FAVICON) if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"API docs assets missing from {ASSETS_DIR}: {', '.join(missing)}")
    assert app.openapi_url and app.swagger_ui_oauth2_redirect_url
    openapi_url, redirect_url = app.openapi_url, app.swagger_ui_oauth2_redirect_url
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def prefix(request: Request) -> str:
        """The path the app is served under (behind a proxy that sets root_path)."""
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_PATH}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_PATH}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/{FAVICON}",
            oauth2_redirect_url=root + redirect_url,
            swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
