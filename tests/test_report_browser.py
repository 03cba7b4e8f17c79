"""Reports in a real browser: headless Chromium opens them offline and every image decodes.

Uses the system chromium (playwright's own browser download cannot reach its host here);
skips with the reason when chromium or the playwright package is missing.
"""

from pathlib import Path

import pytest
from helpers import launch_chromium, playwright_or_skip
from report_fakes import fake_run, fake_sweep

pytestmark = pytest.mark.slow  # starts Chromium: the biggest share of `make test-fast` otherwise


@pytest.fixture(scope="module")
def browser():
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def open_offline(browser, path: Path):
    """Load the page with every non-file, non-data request refused and recorded."""
    page = browser.new_page()
    outside, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def guard(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", guard)
    response = page.goto(path.resolve().as_uri(), wait_until="load")
    assert response is None or response.ok
    return page, outside, errors


def images(page) -> list[dict]:
    return page.evaluate(
        "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
        "w: i.naturalWidth, h: i.naturalHeight}))"
    )


def test_comparison_report_renders_with_every_image(browser, tmp_path):
    from lrcn.train.report import find_runs
    from lrcn.train.report_write import write_report

    fake_sweep(tmp_path / "sweep", pngs=True)
    html = write_report(find_runs([str(tmp_path / "sweep")]))[1]
    page, outside, errors = open_offline(browser, html)
    assert page.title() == "lrcn report: 4 runs"
    imgs = images(page)
    assert len(imgs) == 9 and all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in imgs), imgs
    best = page.locator("tr.best")
    assert best.count() == 1 and "convlstm-lr0.001-frames20" in best.inner_text()
    assert page.locator("table").first.locator("tbody tr").count() == 4
    assert outside == [] and errors == []
    page.close()


def test_run_report_renders_with_every_image(browser, tmp_path):
    from lrcn.train.report_write import write_run_report

    path = write_run_report(
        fake_run(tmp_path / "run", pngs=True, skipped=[{"path": "a/b.avi", "reason": "no frames decoded"}])
    )
    page, outside, errors = open_offline(browser, path)
    imgs = images(page)
    assert len(imgs) == 2 and all(i["complete"] and i["w"] > 0 for i in imgs), imgs
    text = page.inner_text("body")
    for needle in ("Per-class accuracy", "Timings", "Skipped files (1)", "no frames decoded", "Config"):
        assert needle in text, needle
    assert outside == [] and errors == []
    page.close()
