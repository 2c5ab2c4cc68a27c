"""The report page in a real headless Chromium (the system's, apt package ``chromium``,
driven by playwright): it loads with no console error and no network request, its charts
draw with a size, and its screenshot is not blank. Never skipped in CI (CI=true); skipped
locally only when no Chromium is installed."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = (os.environ.get("TIERING_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs the apt package chromium)")
        pytest.skip("no Chromium installed (apt-get install chromium)")
    return CHROMIUM


def _tiering(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tiering", *args], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def page_file(tmp_path: Path, small: Path) -> Path:
    store = str(tmp_path / "s.duckdb")
    october = small.parent / "small-2026-10"
    _tiering("run", "--month", "2026-10", "--billing", str(october / "billing.csv"),
             "--subscribers", str(october / "subscribers.csv"), "--store", store)
    _tiering("run", "--month", "2026-11", "--billing", str(small / "billing.csv"),
             "--subscribers", str(small / "subscribers.csv"), "--store", store)
    out = tmp_path / "page" / "report.html"
    _tiering("report", "--month", "2026-11", "--compare", "2026-10", "--out", str(out),
             "--store", store)
    return out


def test_report_draws_in_headless_chromium(chromium: str, page_file: Path, tmp_path: Path):
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:"))
                    else requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
            sizes = page.eval_on_selector_all(
                ".js-plotly-plot", "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return [r.width, r.height]; })")
            bars = page.locator(".js-plotly-plot .barlayer path").count()
            heat = page.locator(".js-plotly-plot .hm image").count()
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert problems == [] and requests == []
    # Histogram, shares, unrated, migration heat map (one partition: no per-region chart).
    assert len(sizes) == 4 and all(w > 100 and h > 100 for w, h in sizes)
    assert bars > 10 and heat == 1
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert ImageStat.Stat(image).stddev[0] > 10  # not one flat colour
    low, high = image.getextrema()
    assert high - low > 100
