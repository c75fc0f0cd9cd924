"""The web page in a real headless Chromium (Debian's ``chromium``, driven by Playwright): a
real HTTP source sends events to the real display process, and the page shows them live."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from springhead_testinfra.browser import chromium
from springhead_testing import SourceProcess, adapter_env

#: Debian's chromium, installed by testinfra when missing: a browser that cannot be had fails
#: the test with its log, it never skips.
CHROMIUM = str(chromium())

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ROWS = "#events tbody tr"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def artefact(name: str, tmp_path: Path) -> Path:
    """Where a test artefact goes: ``SPRINGHEAD_TEST_ARTEFACTS`` when set, else the test's
    temporary folder."""
    folder = Path(os.environ.get("SPRINGHEAD_TEST_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def test_events_from_a_source_appear_live_filter_click_pause(
    client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    display_env = {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1", "NAME": "display"}
    async with SourceProcess("springhead_display", display_env) as display:
        page_url = f"http://127.0.0.1:{display.port}/"
        source_env = adapter_env(page_url, WEBHOOK_PATH="/")
        async with SourceProcess("springhead_http", source_env) as source:
            source_url = f"http://127.0.0.1:{source.port}/"

            async def send(body: bytes, content_type: str, key: str) -> None:
                headers = {"Content-Type": content_type, "Idempotency-Key": key}
                async with client.post(source_url, data=body, headers=headers) as response:
                    assert response.status == 202, await response.text()

            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                await page.goto(page_url)
                await expect(page.locator("#status")).to_have_text("live")
                await expect(page.locator(ROWS)).to_have_count(0)

                # Rows appear without a reload, newest first.
                await send(b'{"greeting": "hello"}', "application/json", "json-1")
                await send(b"plain words", "text/plain", "text-2")
                await send(bytes(range(200)), "application/octet-stream", "binary-3")
                await expect(page.locator(ROWS)).to_have_count(3)
                await expect(page.locator(ROWS).first).to_contain_text("binary-3")
                await expect(page.locator("#received")).to_have_text("3")

                # The filter narrows the rows.
                await page.fill("#filter", "id:json-1")
                await expect(page.locator(ROWS)).to_have_count(1)
                # A click shows the attributes and the data: JSON as JSON.
                await page.locator(ROWS).first.click()
                await expect(page.locator("#data-kind")).to_have_text("data: json, 21 bytes")
                data = await page.locator("#data").text_content()
                assert data == '{\n  "greeting": "hello"\n}'
                await expect(page.locator("#curl")).to_contain_text("ce-id: json-1")
                # Binary data as base64, with its size.
                await page.fill("#filter", "")
                await expect(page.locator(ROWS)).to_have_count(3)
                await page.locator(ROWS).first.click()
                await expect(page.locator("#data-kind")).to_have_text(
                    "data: binary (base64), 200 bytes"
                )

                # Pause stops updates (the counters still move); resume brings them in.
                await page.click("#pause")
                await send(b"while paused", "text/plain", "paused-4")
                await expect(page.locator("#received")).to_have_text("4")
                await expect(page.locator(ROWS)).to_have_count(3)
                await page.click("#pause")
                await expect(page.locator(ROWS)).to_have_count(4)
                await expect(page.locator(ROWS).first).to_contain_text("paused-4")

                # "Copy as curl" re-sends the event: run the command the page shows.
                await page.locator(ROWS).nth(1).click()
                await expect(page.locator("#data-kind")).to_have_text(
                    "data: binary (base64), 200 bytes"
                )
                command = await page.locator("#curl").text_content()
                assert command is not None
                shell = await asyncio.create_subprocess_exec("bash", "-c", command)
                assert await shell.wait() == 0
                await expect(page.locator(ROWS)).to_have_count(5)
                async with client.get(page_url + "api/events") as response:
                    events = (await response.json())["events"]
                resent, original = [e for e in events if e["attributes"]["id"] == "binary-3"]
                assert resent["seq"] == 5
                assert resent["attributes"] == original["attributes"]
                assert resent["data_base64"] == original["data_base64"]

                await page.locator(ROWS).nth(2).click()
                screenshot = artefact("display-page.png", tmp_path)
                await page.screenshot(path=str(screenshot), full_page=True)
                print(f"screenshot: {screenshot}")
                await browser.close()
