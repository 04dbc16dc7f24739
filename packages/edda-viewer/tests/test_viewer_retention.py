"""The instance list's retention line: with ``--retention-days N`` the viewer says which finished instances an app
with ``instance_retention_days=N`` deletes, and how many are past the period now; without it, it says nothing.

On real databases (SQLite; PostgreSQL when EDDA_TEST_POSTGRES_URL is set), filled by an app on a clock set 40 days
back; the page is checked in the system's Chromium against the ``edda-viewer`` command.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import viewer_demo_workflows as demo
from viewer_test_support import CHROMIUM, CHROMIUM_ARGS, require_chromium, start_viewer_process

from edda import EddaApp, WorkflowFailedError
from edda.exceptions import ConfigurationError
from edda.testing import FakeClock
from edda_viewer import cli
from edda_viewer._data import ViewerData
from edda_viewer._options import ViewerOptions

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)


async def seed(url: str) -> None:
    """Two charges that finished 40 days ago (one failed), and one that finished today."""
    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    async with EddaApp(service_name="retention-seed", db_url=url, clock=clock, recovery_interval=0.1) as app:
        for iid, amount in (("old-1", 10.0), ("old-2", 150.0)):
            await demo.viewer_demo_charge.start(instance_id=iid, customer_id="C-1", amount=amount)
            try:
                await app.wait_for_result(iid, timeout=30)
            except WorkflowFailedError:
                pass
    async with EddaApp(service_name="retention-seed-today", db_url=url, recovery_interval=0.1) as app:
        await demo.viewer_demo_charge.start(instance_id="new-1", customer_id="C-2", amount=20.0)
        await app.wait_for_result("new-1", timeout=30)


@pytest.fixture
async def seeded(db_url: str) -> AsyncIterator[str]:
    await seed(db_url)
    yield db_url


def test_the_option_is_parsed_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="edda-viewer")
    cli.configure(parser)
    assert parser.parse_args(["--retention-days", "30"]).retention_days == 30.0
    assert parser.parse_args([]).retention_days is None
    assert ViewerOptions(retention_days=0.5).retention_days == 0.5
    for bad in (0, -3, float("nan"), float("inf"), True):
        with pytest.raises(ConfigurationError, match=r"retention_days \(--retention-days\) must be a number of days"):
            ViewerOptions(retention_days=bad)
    assert cli.main(["--retention-days", "0", "--db", "nowhere.db"]) == 2
    assert "--retention-days) must be a number of days" in capsys.readouterr().err


async def test_the_data_counts_what_the_period_deletes(seeded: str) -> None:
    async with EddaApp(service_name="viewer-retention", db_url=seeded, run_workflows=False) as app:
        data = ViewerData(app, read_only=True)
        cutoff, due = await data.retention_due(30)
        assert due == 2
        assert abs((app.clock.now() - timedelta(days=30) - cutoff).total_seconds()) < 60
        assert (await data.retention_due(39))[1] == 2
        assert (await data.retention_due(41))[1] == 0  # they finished 40 days ago


@pytest.mark.timeout(180)
async def test_the_list_shows_the_retention_line_only_with_the_option(seeded: str, tmp_path: Path) -> None:
    require_chromium()
    with_days, base = start_viewer_process(seeded, tmp_path, extra_args=("--retention-days", "30"))
    try:
        without, plain_base = start_viewer_process(seeded, tmp_path)
        try:
            async with playwright_api.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page()
                    await page.goto(base + "/")
                    line = page.get_by_test_id("retention")
                    await expect(line).to_contain_text("instances that finished more than 30 days ago")
                    await expect(line).to_contain_text("instance_retention_days=30; 2 are past it now")
                    await expect(page.locator("a[data-instance-link]")).to_have_count(3)  # the list is unchanged

                    await page.goto(plain_base + "/")
                    await expect(page.locator("a[data-instance-link]")).to_have_count(3)
                    assert await page.get_by_test_id("retention").count() == 0
                finally:
                    await browser.close()
        finally:
            without.stop()
    finally:
        with_days.stop()
