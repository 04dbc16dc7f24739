"""The viewer in a real headless Chromium, against real databases (SQLite; PostgreSQL when EDDA_TEST_POSTGRES_URL is
set): the ``edda-viewer`` command serves the pages and a separate worker process runs the workflows, as in
production. The tests save one screenshot per page into docs/images/viewer/."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import viewer_demo_workflows as demo
from viewer_test_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    LoopThread,
    Process,
    child_env,
    database,
    free_port,
    require_chromium,
    start_viewer_process,
    start_worker_process,
    wait_until_serving,
)

from edda import EddaApp, WorkflowFailedError
from edda_viewer._layout import instance_href

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)  # a shared 2-core CI machine: give the pages time, never a fixed sleep
Page = playwright_api.Page

pytestmark = pytest.mark.xdist_group("test_viewer_browser")  # one browser for the module's tests

SECRET = "Viewer-S3cret-pw"
SEEDED = 25  # inst-000 ... inst-024; every fifth fails


def with_password(url: str) -> tuple[str, str | None]:
    """The URL with a password (the one it has, or SECRET added: trust authentication ignores it) and that
    password; SQLite URLs carry none."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url, None
    if parts.password:
        return url, parts.password
    user, host = parts.netloc.rsplit("@", 1) if "@" in parts.netloc else ("postgres", parts.netloc)
    return urlunsplit((parts.scheme, f"{user}:{SECRET}@{host}", parts.path, parts.query, parts.fragment)), SECRET


async def seed(url: str) -> None:
    async with EddaApp(service_name="viewer-seed", db_url=url) as app:
        for i in range(SEEDED):
            amount = 150.0 if i % 5 == 0 else 10.0 + i
            iid = await demo.viewer_demo_charge.start(
                instance_id=f"inst-{i:03d}", customer_id=f"C-{i % 4}", amount=amount
            )
            try:
                await app.wait_for_result(iid, timeout=30)
            except WorkflowFailedError:
                pass


@dataclass
class Deployment:
    kind: str
    url: str
    base: str
    secret: str | None
    viewer: Process
    worker: Process
    tmp: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_chromium()
    tmp = tmp_path_factory.mktemp(f"viewer-{request.param}")
    with database(request.param, tmp) as plain_url:
        url, secret = with_password(plain_url)
        loop = LoopThread()
        try:
            loop.run(seed(url))
        finally:
            loop.close()
        # The worker's outbox relayer publishes to a port where nothing listens: events fail, with their error.
        worker = start_worker_process(url, tmp, broker_url=f"http://127.0.0.1:{free_port()}/")
        try:
            viewer, base = start_viewer_process(url, tmp, env={"EDDA_APP_URL": "http://app.internal:8001"})
            try:
                yield Deployment(request.param, url, base, secret, viewer, worker, tmp)
            finally:
                viewer.stop()
        finally:
            worker.stop()


@pytest.fixture
async def page(deployment: Deployment) -> AsyncIterator[Page]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1200, "height": 760})
        try:
            yield await context.new_page()
        finally:
            await browser.close()


async def open_page(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_function("window.did_handshake === true")


async def choose(page: Page, testid: str, option: str) -> None:
    await page.locator(f'[data-testid="{testid}"]').click()
    await page.get_by_role("option", name=option, exact=True).click()


def links(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("a[data-instance-link]")


def screenshot(deployment: Deployment, name: str) -> Path | None:
    if deployment.kind != "sqlite":
        return None  # one set of pictures: the SQLite run's
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


def assert_secret_absent(deployment: Deployment, *texts: str) -> None:
    if deployment.secret is None:
        return
    for text in (*texts, deployment.viewer.output, deployment.worker.output):
        assert deployment.secret not in text
        assert deployment.url not in text


async def test_the_list_shows_filters_and_pages_the_instances(deployment: Deployment, page: Page) -> None:
    await open_page(page, deployment.base + "/")
    await expect(links(page).first).to_have_text("inst-024")
    assert await links(page).count() == SEEDED
    await expect(page.get_by_test_id("database")).to_contain_text(urlsplit(deployment.url).path.rsplit("/", 1)[-1])
    if (shot := screenshot(deployment, "instances.png")) is not None:
        await page.screenshot(path=shot)
    html = await page.content()

    await choose(page, "status", "failed")
    await expect(links(page)).to_have_text(["inst-020", "inst-015", "inst-010", "inst-005", "inst-000"])
    await choose(page, "status", "any status")
    await page.get_by_test_id("search").fill("inst-01")
    await expect(links(page)).to_have_count(10)
    await expect(links(page).first).to_have_text("inst-019")
    await page.get_by_test_id("search").fill("")
    await page.get_by_test_id("input-filter").fill("customer_id=C-1; amount=150")
    await expect(links(page)).to_have_text(["inst-005"])
    await page.get_by_test_id("input-filter").fill("")
    await expect(links(page)).to_have_count(SEEDED)

    await choose(page, "page-size", "10")
    await expect(links(page)).to_have_count(10)
    first = await links(page).all_inner_texts()
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_test_id("page-number")).to_have_text("page 2")
    second = await links(page).all_inner_texts()
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_test_id("page-number")).to_have_text("page 3")
    third = await links(page).all_inner_texts()
    assert first == [f"inst-{i:03d}" for i in range(24, 14, -1)]
    assert second == [f"inst-{i:03d}" for i in range(14, 4, -1)]
    assert third == [f"inst-{i:03d}" for i in range(4, -1, -1)]
    await expect(page.get_by_role("button", name="Next")).to_be_disabled()
    await page.get_by_role("button", name="Previous").click()
    await expect(links(page)).to_have_text(second)
    assert_secret_absent(deployment, html, await page.content())
    # EDDA_APP_URL (set for this deployment) is accepted, explained and not echoed.
    assert "EDDA_APP_URL is not needed any more and is ignored" in deployment.viewer.output
    assert "app.internal" not in deployment.viewer.output


async def test_the_detail_page_draws_the_diagram_and_the_history(deployment: Deployment, page: Page) -> None:
    await open_page(page, deployment.base + "/workflow/inst-000")
    await expect(page.get_by_test_id("instance-status")).to_have_text("failed")
    await expect(page.get_by_test_id("diagram").locator("svg")).to_be_visible(timeout=20_000)
    await expect(page.locator("text=TerminalError: amount 150.0 over the limit").first).to_be_visible()
    entries = page.locator(".q-timeline__entry[data-kind]")
    kinds = [await e.get_attribute("data-kind") for e in await entries.all()]
    outcomes = [await e.get_attribute("data-outcome") for e in await entries.all()]
    assert kinds == ["activity", "activity", "compensation"]
    assert outcomes == ["completed", "failed", "executed"]
    await expect(page.get_by_test_id("compensations")).to_contain_text("viewer_demo_release")
    if (shot := screenshot(deployment, "detail.png")) is not None:
        await page.screenshot(path=shot, full_page=True)
    await page.get_by_role("button", name='Expand "Traceback"').click()
    await expect(page.get_by_test_id("traceback")).to_contain_text("Traceback (most recent call last)")
    assert_secret_absent(deployment, await page.content())


async def test_a_workflow_started_through_the_form_runs_to_completion(deployment: Deployment, page: Page) -> None:
    await open_page(page, deployment.base + "/")
    await page.get_by_test_id("start-workflow").click()
    await choose(page, "workflow-choice", "viewer_demo_ship")
    field = lambda path: page.locator(f'[data-path="{path}"]')  # noqa: E731  (inputs carry their path)
    await field("order_id").fill(f"ORD-{deployment.kind}")
    await field("customer.name").fill("Ada")
    await field("customer.address.street").fill("1 Main St")
    await page.locator('[data-path="customer.tier"]').click()
    await page.get_by_role("option", name="GOLD", exact=True).click()
    await page.locator('[data-add="lines"]').click()
    await field("lines.0.sku").fill("pen")
    await field("lines.0.qty").fill("2")
    await page.get_by_test_id("start-submit").click()  # the city is missing: nothing starts
    city = page.locator("label.q-field", has=field("customer.address.city"))
    await expect(city).to_contain_text("required")
    await expect(page.get_by_text("Fix the 1 field(s) marked above; nothing was started.")).to_be_visible()
    if (shot := screenshot(deployment, "start-form.png")) is not None:
        await page.set_viewport_size({"width": 1200, "height": 1300})  # the whole dialog
        await page.wait_for_timeout(500)  # let the error message's transition end
        await page.get_by_test_id("start-dialog").screenshot(path=shot)
    await field("customer.address.city").fill("Oslo")
    await page.get_by_test_id("start-submit").click()
    await page.wait_for_url(re.compile(r"/workflow/[^/]+$"))
    await expect(page.get_by_test_id("instance-status")).to_have_text("completed", timeout=30_000)
    await expect(page.get_by_test_id("output")).to_contain_text("Ada/Oslo/gold/2")
    await expect(page.get_by_test_id("input")).to_contain_text(f"ORD-{deployment.kind}")


async def test_cancelling_runs_the_compensations_and_the_page_shows_them(deployment: Deployment, page: Page) -> None:
    async with EddaApp(service_name="viewer-test-client", db_url=deployment.url, run_workflows=False):
        # An id with a slash, a space and a quote: the page's address encodes it.
        iid = await demo.viewer_demo_hold.start(instance_id=f'hold/{deployment.kind} "desk"', item="desk")
    await open_page(page, deployment.base + instance_href(iid))
    await expect(page.get_by_test_id("instance-id")).to_have_text(iid)
    await expect(page.get_by_test_id("instance-status")).to_have_text("waiting_for_event", timeout=30_000)
    await page.get_by_test_id("cancel").click()
    await page.get_by_test_id("confirm-cancel").click()
    await expect(page.get_by_test_id("instance-status")).to_have_text("cancelled", timeout=30_000)
    compensation = page.locator('.q-timeline__entry[data-kind="compensation"]')
    await expect(compensation).to_have_attribute("data-outcome", "executed")
    await expect(page.get_by_test_id("compensations")).to_contain_text("executed")


async def test_the_list_updates_live_without_a_reload(deployment: Deployment, page: Page) -> None:
    await open_page(page, deployment.base + "/")
    await expect(links(page).first).to_be_visible()
    async with EddaApp(service_name="viewer-test-client", db_url=deployment.url, run_workflows=False):
        iid = await demo.viewer_demo_charge.start(instance_id=f"live-{deployment.kind}", customer_id="C-9", amount=1.0)
    row = page.locator("tr", has=page.get_by_text(iid, exact=True))
    await expect(row).to_be_visible(timeout=20_000)
    await expect(row.locator("[data-status]")).to_have_attribute("data-status", "completed", timeout=30_000)


async def test_the_outbox_page_skips_and_resends_events(deployment: Deployment, page: Page) -> None:
    async with EddaApp(service_name="viewer-test-client", db_url=deployment.url, run_workflows=False):
        iid = await demo.viewer_demo_tour.start(instance_id=f"tour-{deployment.kind}", key=deployment.kind)
    await open_page(page, deployment.base + "/outbox")
    row = page.get_by_test_id("outbox").locator("tr", has=page.get_by_text(iid, exact=True))
    # The broker cannot be reached: after one retry the relayer gives up, and the page shows why.
    await expect(row).to_contain_text("failed", timeout=30_000)
    await expect(row).to_contain_text("viewer.demo.notified")
    await expect(row.locator("td").nth(5)).not_to_be_empty()  # the last error
    assert "2" == (await row.locator("td").nth(4).inner_text()).strip()  # attempts
    if (shot := screenshot(deployment, "outbox.png")) is not None:
        await page.screenshot(path=shot)
    await row.locator('[data-action="skip"]').click()
    await expect(row).to_have_count(0)  # no longer pending or failed
    await choose(page, "outbox-status", "skipped")
    await expect(row).to_contain_text("skipped")
    await row.locator('[data-action="resend"]').click()
    await expect(row).to_have_count(0)  # no longer skipped: sent again (and failing again)
    await choose(page, "outbox-status", "pending and failed")
    await expect(row).to_be_visible()


def test_without_authentication_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    db.write_bytes(b"")
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "edda_viewer.cli", "--db", str(db), "--host", "0.0.0.0", "--port", str(port)],
        env=child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in proc.stderr and "--insecure" in proc.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


async def test_the_viewer_beside_an_app_with_basic_auth(tmp_path: Path) -> None:
    require_chromium()
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    port = free_port()
    env = child_env(EDDA_DB_URL=url, VIEWER_USER="ops", VIEWER_PASSWORD="correct horse")
    script = str(Path(demo.__file__).with_name("viewer_demo_embedded.py"))
    viewer = Process([sys.executable, script, str(port)], env=env, cwd=tmp_path, log=tmp_path / "embedded.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_until_serving, viewer, base)
        async with httpx.AsyncClient() as client:
            assert (await client.get(base + "/")).status_code == 401
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(http_credentials={"username": "ops", "password": "correct horse"})
                page = await context.new_page()
                await open_page(page, base + "/")
                await page.get_by_test_id("start-workflow").click()
                await choose(page, "workflow-choice", "viewer_demo_charge")
                await page.locator('[data-path="customer_id"]').fill("C-42")
                await page.locator('[data-path="amount"]').fill("12.5")
                await page.get_by_test_id("start-submit").click()
                await page.wait_for_url(re.compile(r"/workflow/[^/]+$"))
                # No separate worker: the app that embeds the viewer runs the workflow.
                await expect(page.get_by_test_id("instance-status")).to_have_text("completed", timeout=30_000)
            finally:
                await browser.close()
        assert "authentication: basic auth" in viewer.output
    finally:
        viewer.stop()
