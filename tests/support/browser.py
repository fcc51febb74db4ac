"""Headless Debian Chromium for the console's browser tests (Selenium)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"


def require_chromium() -> None:
    """Call at module level: skip the module, saying how to install, when Chromium is absent."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            "needs Debian's Chromium: apt-get install -y chromium chromium-driver", allow_module_level=True
        )
    pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")


def start_browser(profile: Path, extra_flags: Iterable[str] = ()) -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
        *extra_flags,
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout_s: float = 10.0) -> Any:
    """Poll `condition(driver)` until truthy; a row re-drawn by a live update meanwhile is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        driver, timeout_s, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    return wait.until(condition)


def click(driver: Any, find: Callable[[Any], Any], timeout_s: float = 10.0) -> None:
    """Click what `find` locates once it is enabled (retrying if a live update replaced it)."""

    def clicked(d: Any) -> bool:
        element = find(d)
        if not element.is_enabled():
            return False
        element.click()
        return True

    wait_for(driver, clicked, timeout_s)
