"""Size and load time of report.html for runs of 3 and 30 engineer steps, each saving a plot.

    .venv/bin/python bench/report.py [--repeat 5] [--screenshot docs/report-demo.png]

Each run is recorded with `plancontrol.run` against the test server: every step's script
prints 40 lines and saves a 240x160 PNG (written by hand with zlib, about 105 kB, so that the
figure does not depend on matplotlib); the judge accepts it. Then `plancontrol report` writes
the page (a new process, imports included; the median of --repeat), and headless chromium
(Debian's, /usr/bin/chromium, through playwright) opens it --repeat times: the median time
from navigation start to the end of the load event, and the page's height.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import plancontrol
from plancontrol import Plan, Step
from plancontrol.core.answers import Code, Verdict
from plancontrol.servers.scripted import OpenAITestServer

ARGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]

PLOT = """\
import struct, zlib
from pathlib import Path

w, h, step = 240, 160, {step}
rows = b"".join(
    b"\\x00" + b"".join(bytes(((x * step) % 256, (y * 3) % 256, (x + y) % 256)) for x in range(w))
    for y in range(h)
)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
Path("data").mkdir(exist_ok=True)
head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
Path("data/plot_{step}.png").write_bytes(png + chunk(b"IEND", b""))
for n in range(40):
    print("step {step}, value", n, n * {step})
"""


def record(folder: Path, steps: int) -> None:
    """Record a run of ``steps`` engineer steps, each saving a plot, into ``folder``."""
    plan = Plan(tuple(Step(f"Plot series {i}", "engineer") for i in range(1, steps + 1)))
    replies: dict[str, list[object]] = {
        "planner": [plan],
        "engineer": [Code(PLOT.format(step=i)) for i in range(1, steps + 1)],
        "judge": [Verdict("success", f"plot {i} saved") for i in range(1, steps + 1)],
    }
    settings = {"n_plan_reviews": 0, "max_plan_steps": steps}
    with OpenAITestServer(replies) as server:
        plancontrol.run(
            f"Plot {steps} series", folder, model="m", base_url=server.base_url, env={},
            settings=settings,
        ).unwrap()  # fmt: skip


def write_seconds(folder: Path, repeat: int) -> float:
    """Median seconds of ``plancontrol report`` in a new process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "plancontrol", "report", str(folder)], check=True,
                       capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load(page_file: Path, repeat: int, screenshot: Path | None = None) -> tuple[float, int]:
    """Median milliseconds to the end of the load event in headless chromium; page height."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        for _ in range(repeat):
            page.goto(page_file.as_uri(), wait_until="load")
            entry = "JSON.stringify(performance.getEntriesByType('navigation')[0])"
            times.append(json.loads(page.evaluate(entry))["loadEventEnd"])
        height = int(page.evaluate("document.body.scrollHeight"))
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        browser.close()
    return statistics.median(times), height


def screenshot_demo(target: Path) -> None:
    """The first screen of the demo run's report, as docs/report.md shows it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo"
        from plancontrol.app.api import demo

        demo(folder).unwrap()
        load(folder / "report.html", 1, target)


def in_process(folder: Path, verdicts: bool) -> float:
    """Seconds of ``write_report`` in this process (imports done), reading the judge's
    verdicts back or not."""
    from plancontrol.app.report import write_report

    start = time.perf_counter()
    write_report(folder, folder / "again.html", verdicts=verdicts).unwrap()
    return time.perf_counter() - start


HEADER = (
    "| steps | report.html | of which plots (PNG files) | `plancontrol report` "
    "| in process | without verdicts | load in chromium | page height |\n"
    "|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--screenshot", type=Path, help="save the demo report's first screen")
    args = parser.parse_args()
    if args.screenshot:
        screenshot_demo(args.screenshot)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (3, 30):
            folder = Path(tmp) / f"run-{steps}"
            record(folder, steps)
            seconds = write_seconds(folder, args.repeat)
            page = folder / "report.html"
            images = sum(p.stat().st_size for p in (folder / "work" / "data").glob("*.png"))
            ms, height = load(page, args.repeat)
            inside = (in_process(folder, True), in_process(folder, False))
            rows.append((steps, page.stat().st_size, images, seconds, *inside, ms, height))
    print(HEADER)
    for steps, size, images, seconds, judged, fast, ms, height in rows:
        print(f"| {steps} | {size / 1024:.0f} kB | {images / 1024:.0f} kB | {seconds:.2f} s "
              f"| {judged:.2f} s | {fast:.2f} s | {ms:.0f} ms | {height} px |")  # fmt: skip
    (_, z3, _, t3, _, _, m3, _), (_, z30, _, t30, _, _, m30, _) = rows
    print(f"\n30-step over 3-step: size {z30 / z3:.1f}, write time {t30 / t3:.2f}, "
          f"load time {m30 / m3:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
