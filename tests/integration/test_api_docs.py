"""The API docs work without internet: /docs references only assets the API itself serves, and Swagger UI
renders the operations in headless Chromium whose network reaches nothing but the API.

The browser opens the API under a made-up host name (mapped to 127.0.0.1) rather than `localhost`, so
Swagger UI behaves as it does for a monitoring centre's server; every other host goes to a dead proxy.
Needs `apt-get install -y chromium chromium-driver` for the browser test.
"""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from services.config import load_settings
from tests.support.api_server import running_api
from tests.support.browser import CHROMEDRIVER, CHROMIUM, start_browser, wait_for

pytestmark = pytest.mark.integration

HOST = "docs.tidewatch.test"
OFFLINE = [
    "--proxy-server=http://127.0.0.1:9",  # nothing listens there: every proxied request fails
    f"--proxy-bypass-list={HOST}",
    f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND",
]
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
EXTERNAL = re.compile(r"(?:https?:)?//[\w.-]")
CDN_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"  # FastAPI's default


class References(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_html_references_only_assets_the_api_serves() -> None:
    async with running_api(load_settings()) as api, httpx.AsyncClient(base_url=api.url) as http:
        docs = await http.get("/docs")
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
        assert not EXTERNAL.search(docs.text), EXTERNAL.search(docs.text)
        page = References()
        page.feed(docs.text)
        assert {Path(url).suffix for url in page.urls} == set(CONTENT_TYPES)
        for url in page.urls:
            assert url.startswith("/"), url
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert CONTENT_TYPES[Path(url).suffix] in asset.headers["content-type"], url
        (spec_url,) = re.findall(r"url: '([^']+)'", docs.text)
        spec = (await http.get(spec_url)).json()
        assert spec["openapi"].startswith("3.1") and "/api/v1/observations" in spec["paths"]

        redirect = await http.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200 and not EXTERNAL.search(redirect.text)
        assert (await http.get("/redoc")).status_code == 404  # Redoc would fetch its logo from a CDN


def _outside_origin(driver) -> list[str]:
    """URLs the page loaded or points at that are not the API's own."""
    return driver.execute_script(
        "const urls = performance.getEntriesByType('resource').map(e => e.name);"
        "document.querySelectorAll('[src], link[href]').forEach(e => urls.push(e.src || e.href));"
        "return urls.filter(u => !u.startsWith(location.origin + '/'));"
    )


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's Chromium: apt-get install -y chromium chromium-driver",
)
async def test_swagger_ui_renders_the_operations_with_the_network_cut_off(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    async with running_api(load_settings()) as api:
        port = api.url.rsplit(":", 1)[1]
        driver = await asyncio.to_thread(start_browser, tmp_path / "profile", OFFLINE)
        run = asyncio.to_thread
        try:
            await run(driver.get, f"http://{HOST}:{port}/docs")
            summary = '.opblock-summary-path[data-path="/api/v1/observations"]'
            operation = await run(wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, summary))
            assert operation.text == "/api/v1/observations"
            await run(operation.click)  # expands it: the parameters come from the OpenAPI 3.1 document
            bucket = 'tr[data-param-name="bucket"]'
            await run(wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, bucket).is_displayed())
            assert await run(_outside_origin, driver) == []  # failed loads are listed too

            # The cut is real: a CDN is unreachable from the page.
            cdn = await run(
                driver.execute_async_script,
                "fetch(arguments[0]).then(() => arguments[1]('reached'), () => arguments[1]('blocked'));",
                CDN_CSS,
            )
            assert cdn == "blocked"
            assert await run(_outside_origin, driver) == [CDN_CSS]
        finally:
            await run(driver.quit)
