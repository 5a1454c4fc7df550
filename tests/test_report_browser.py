"""report.html in a real browser (Debian's chromium, headless): it loads offline, shows all."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from plotrun import plot_run
from returns.result import Success

import plancontrol

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_RUN = Path(__file__).parents[1] / "cassettes" / "demo-local"


@dataclass
class Seen:
    """What the page did while it loaded: console errors, uncaught errors, requests."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def opened(page_file: Path) -> Iterator[tuple[Any, Seen]]:
    """``page_file`` loaded in headless chromium: the page and what it did."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install it with `apt-get install -y chromium`")
    seen = Seen()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            yield page, seen
        finally:
            browser.close()


def red_pixels(png: bytes) -> int:
    """How many pixels of an 8-bit RGB or RGBA PNG (as chromium screenshots are) are red."""
    at, chunks, size = 8, b"", (0, 0, 0)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", data[:10])
            size = (width, height, 4 if colour == 6 else 3)
        elif kind == b"IDAT":
            chunks += data
        at += 12 + length
    width, height, bpp = size
    raw, stride, rows = zlib.decompress(chunks), width * bpp, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, corner = previous[x], previous[x - bpp] if x >= bpp else 0
            p = left + up - corner
            nearest = min(
                (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
            )[2]
            line[x] = (line[x] + (0, left, up, (left + up) // 2, nearest)[kind]) & 0xFF
        rows.append(line)
        previous = line
    return sum(
        1
        for line in rows
        for x in range(0, stride, bpp)
        if line[x] > 200 and line[x + 1] < 90 and line[x + 2] < 90
    )


@pytest.fixture(scope="module")
def plot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser") / "run"
    assert isinstance(plot_run(folder), Success)
    return folder


def test_the_plot_runs_report_loads_offline_with_every_code_output_and_image(
    plot_folder: Path, tmp_path: Path
) -> None:
    page_file = plot_folder / "report.html"
    codes = sorted((plot_folder / "work" / "codebase").glob("step_*_attempt_*.py"))
    images = [
        p for p in (plot_folder / "work").rglob("*")
        if p.suffix in (".png", ".svg") and ".plancontrol" not in p.parts
    ]  # fmt: skip
    with opened(page_file) as (page, seen):
        assert seen.errors == []
        assert seen.requests == [page_file.as_uri()]
        assert page.locator(".attempt .code").count() == len(codes) == 2
        shown = page.locator(".attempt .code").all_inner_texts()
        assert [t.strip() for t in shown] == [p.read_text().strip() for p in codes]
        stderr = page.locator(".output.stderr pre").inner_text()
        assert stderr.strip().endswith("No module named 'missing_module_xyz'")
        assert page.locator("img.produced").count() == len(images) == 2
        loaded = page.eval_on_selector_all("img.produced", "els => els.map(e => e.naturalWidth)")
        assert all(width > 0 for width in loaded)
        plot = page.locator('img.produced[alt="data/squares.png"]')
        plot.scroll_into_view_if_needed()
        shot = plot.screenshot(path=str(tmp_path / "plot.png"))
        assert red_pixels(shot) > 50  # the red line (or the red square) is on the screen
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_long_output_is_folded_and_opens_with_a_click(plot_folder: Path) -> None:
    with opened(plot_folder / "report.html") as (page, seen):
        folded = page.locator("details.output.stdout")
        assert folded.count() == 1
        lines = folded.locator("pre")
        assert not lines.is_visible()
        folded.locator("summary").click()
        assert lines.is_visible()
        assert lines.inner_text().splitlines()[-1] == "square 59 3481"
        assert seen.errors == []


def test_the_demo_runs_report_renders_offline(tmp_path: Path) -> None:
    page_file = tmp_path / "demo.html"
    assert plancontrol.report(DEMO_RUN, html=page_file) == Success(page_file)
    with opened(page_file) as (page, seen):
        assert seen.errors == []
        assert seen.requests == [page_file.as_uri()]
        reports = sorted((DEMO_RUN / "reports").glob("*.md"))
        assert page.locator("article.markdown").count() == len(reports) == 2
        assert page.locator("section.step").count() == 2
        assert page.locator("svg.timeline rect").count() > 0
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)


def test_a_diff_page_of_a_run_and_its_copy_loads_offline_and_shows_each_step(
    plot_folder: Path, tmp_path: Path
) -> None:
    import shutil

    from scripts import plancontrol

    copy = tmp_path / "copy"
    shutil.copytree(plot_folder, copy)
    page_file = tmp_path / "diff.html"
    done = plancontrol("diff", str(plot_folder), str(copy), "--html", str(page_file), cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    with opened(page_file) as (page, seen):
        assert seen.errors == []
        assert seen.requests == [page_file.as_uri()]
        text = page.inner_text("body")
        assert str(plot_folder) in text
        assert str(copy) in text
        assert "the runs match" in text
        steps = [line.split("\t")[:4] for line in text.splitlines() if line.startswith("step ")]
        assert steps == [
            ["step 1", "engineer", "completed", "completed"],
            ["step 2", "researcher", "completed", "completed"],
        ]
        page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)
    assert (tmp_path / "diff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
