"""Browser tests' common ground: Debian's Chromium driven headless by Playwright (never `playwright install`), and a
guard that aborts and records every request leaving 127.0.0.1."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API) for the duration of the block."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (Debian package chromium, scripts/apt-packages.txt)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Guard:
    """Every request of a browser context, with those leaving 127.0.0.1 aborted and kept for the assertion."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.external: list[str] = []

    @staticmethod
    def is_local(url: str) -> bool:
        parsed = urlparse(url)
        return parsed.scheme in ("data", "blob", "about") or (parsed.hostname or "") in LOCAL_HOSTS

    def attach(self, context: Any) -> None:
        def route(route: Any, request: Any) -> None:
            self.requests.append(request.url)
            if self.is_local(request.url):
                route.continue_()
            else:
                self.external.append(request.url)
                route.abort()

        context.route("**/*", route)
        context.on("page", lambda page: page.on("websocket", lambda ws: self.see_socket(ws.url)))

    def see_socket(self, url: str) -> None:
        self.requests.append(url)
        if not self.is_local(url):
            self.external.append(url)
