"""Browser fixtures: Debian's Chromium driven by Playwright against the e2e stack.

    page = await console_page(stack, Role.OPERATOR)   # signed in with a new key of that role
    await page.screenshot(path=artifact("name.png"))
    start_gateway(stack, port)                         # a new gateway where the old one was
    gateway_pages                                      # URL of an app serving only its pages

Chromium is `/usr/bin/chromium` (`make system-deps` installs it; Playwright's own browser
downloads are not used). One browser for the session, a fresh context (own sessionStorage)
per page. Screenshots go to `test-artifacts/browser/` (git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from libs.common.api_keys import ApiKeyRecord, RedisApiKeyStore, Role, issue_key
from libs.common.redis_connect import redis_from_url
from libs.common.redis_server import free_port
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.e2e.conftest import (  # the e2e fixtures, for this directory too
    e2e_sim,
    flushed,
    make_stack,
    pytest_runtest_makereport,
    stack,
)
from tests.e2e.harness import E2EStack, ServiceProcess
from tests.simulator import REPO_ROOT

__all__ = ["e2e_sim", "make_stack", "pytest_runtest_makereport", "stack"]


@pytest.fixture
async def e2e_redis_url(redis_url: str) -> str:
    """The session's Redis db, flushed: the console's tests run on one Redis (the e2e suite
    runs the stack on a Redis Cluster too)."""
    return await flushed(redis_url)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1500}

ConsolePage = Callable[..., Awaitable[Page]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for the session."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifact(request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`artifact("x.png")`: a path under test-artifacts/browser/, named after the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def path(name: str) -> Path:
        return ARTIFACTS / f"{request.node.name}-{name}"

    return path


@pytest.fixture
def gateway_pages() -> Iterator[str]:
    """The gateway app in a thread, lifespan off, for its pages (`/docs`, `/console`): they
    need neither Redis nor a key."""
    app = create_app(GatewaySettings(redis_url="redis://127.0.0.1:1/0", port=0))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gateway-pages", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def issue(
    stack: E2EStack, role: Role, name: str, accounts: tuple[str, ...] = ("default",)
) -> str:
    """A new gateway API key of `role` for `name`, bound to `accounts`, written to the
    stack's Redis."""
    client = redis_from_url(stack.redis_url)
    try:
        issued = issue_key()
        record = ApiKeyRecord.issue(issued, role, name, now_ns=time.time_ns(), accounts=accounts)
        await RedisApiKeyStore(client).create(record)
        return issued.key
    finally:
        await client.aclose()


@pytest.fixture
async def console_page(browser: Browser) -> AsyncIterator[ConsolePage]:
    """`await console_page(stack, role)`: a page on the stack's console, signed in with a new
    key of `role` (a Role or the key itself), showing the console."""
    contexts = []

    async def open_page(
        stack: E2EStack, role: Role, accounts: tuple[str, ...] = ("default",)
    ) -> Page:
        key = await issue(stack, role, f"console-{role}", accounts)
        context = await browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = await context.new_page()
        await page.goto(f"{stack.gateway.base_url}/console")
        await page.fill("#api-key", key)
        await page.click("#login-button")
        await page.wait_for_selector("#console:not([hidden])")
        await page.wait_for_function(
            "document.getElementById('stream-status').textContent === 'live'"
        )
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            await context.close()


def start_gateway(stack: E2EStack, port: int) -> ServiceProcess:
    """Start a gateway on `port`: after a kill, on the port the page was served from (a page
    reconnects to its own address). Not waited for: see `stack.wait_ready`."""
    name = f"gateway-{sum(1 for p in stack.processes if p.service == 'gateway') + 1}"
    log_path = stack.log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.gateway", "--port", str(port)],
            cwd=REPO_ROOT,
            env=stack._env("gateway", None),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process = ServiceProcess("gateway", name, port, proc, log_path)
    stack.processes.append(process)
    return process
