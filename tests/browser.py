"""Pages opened in headless Chromium the way a person opens them: Debian's `chromium`, driven by
Playwright through `executable_path` (Playwright's own browser download is never used).

The pages under test live on this machine (loopback, or a file): every other request is
refused and recorded, so a page that needs the internet shows it. A check fails with what the
browser saw (uncaught exceptions, console errors, failed responses, refused requests) and the
step it was at, and keeps its screenshot either way.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    expect,
)
from playwright.sync_api import Error as PlaywrightError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The machine is shared: a page's step may take this long before it counts as not shown.
STEP_TIMEOUT_S = 90
VIEWPORT = {"width": 1400, "height": 1000}


def launch_chromium(playwright: Playwright) -> Browser:
    """The system's Chromium (Debian's `chromium` package), headless."""
    executable = shutil.which("chromium")
    if executable is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=executable)


@dataclass
class Visit:
    """One page and what its browser saw while the check ran."""

    page: Page
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, console errors
    failed: list[str] = field(default_factory=list)  # HTTP errors and failed requests
    outside: list[str] = field(default_factory=list)  # requests refused: they leave the machine
    doing: str = "opening the page"

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        """Names what the check looks for, so that its failure says what was not seen."""
        self.doing = description
        yield
        self.doing = ""

    def forget_errors(self) -> None:
        """Drop what was seen so far (a sign-in page's expected 401s)."""
        self.errors.clear()
        self.failed.clear()

    def report(self) -> str:
        seen = {
            "errors": self.errors,
            "failed requests": self.failed,
            "refused (would leave the machine)": self.outside,
        }
        return "\n".join(f"  {name}: {items[:10]}" for name, items in seen.items() if items)

    def on_console(self, message: ConsoleMessage) -> None:
        # A refused request is reported as such, not as the page's own error.
        if message.type == "error" and message.location.get("url") not in self.outside:
            self.errors.append(f"console: {message.text[:300]}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def on_request_failed(self, request: Request) -> None:
        if request.url not in self.outside:
            self.failed.append(f"{request.failure} {request.url}")

    def route(self, route: Route, substitutes: dict[str, Path]) -> None:
        url = route.request.url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file" or parts.hostname in LOOPBACK:
            route.continue_()
            return
        for prefix, folder in substitutes.items():
            if url.startswith(prefix):
                route.fulfill(path=folder / url[len(prefix) :].partition("?")[0])
                return
        self.outside.append(url)
        route.abort("blockedbyclient")


@contextmanager
def visit(
    browser: Browser,
    url: str,
    screenshot: Path,
    *,
    credentials: tuple[str, str] | None = None,
    substitutes: dict[str, Path] | None = None,
    may_leave: frozenset[str] = frozenset(),
    allowed_errors: tuple[str, ...] = (),
) -> Iterator[Visit]:
    """`url` opened in a fresh browser context; the block checks the page through
    `Visit.page`. `substitutes` answers requests under a URL prefix from a local folder (a CDN
    this machine cannot reach); `may_leave` names requests refused without failing the check;
    `allowed_errors` are patterns of errors a page is known to show (the reason at the caller).
    The screenshot (full page) is written after the block, whether the check passed or not."""
    login = {"username": credentials[0], "password": credentials[1]} if credentials else None
    context = browser.new_context(viewport=VIEWPORT, http_credentials=login)  # type: ignore[arg-type]
    context.set_default_timeout(STEP_TIMEOUT_S * 1000)
    expect.set_options(timeout=STEP_TIMEOUT_S * 1000)  # Playwright's assertions: one global
    page = context.new_page()
    seen = Visit(page)
    context.route("**/*", lambda route: seen.route(route, substitutes or {}))
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on("console", seen.on_console)
    page.on("response", seen.on_response)
    page.on("requestfailed", seen.on_request_failed)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(url)
        yield seen
        seen.doing = "the page's own code running without errors"
        errors = [e for e in seen.errors if not any(re.search(p, e) for p in allowed_errors)]
        assert not errors, "errors"
        seen.doing = "no request leaving the machine"
        assert set(seen.outside) <= may_leave, "requests left"
    except (PlaywrightError, AssertionError) as error:
        page.screenshot(path=screenshot, full_page=True)
        raise AssertionError(
            f"{url}: not seen: {seen.doing}\n  {str(error).splitlines()[0]}\n"
            f"{seen.report()}\n  screenshot: {screenshot}"
        ) from error
    else:
        page.screenshot(path=screenshot, full_page=True)
    finally:
        context.close()
