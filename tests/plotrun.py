"""A scripted test-server run whose engineer script saves a plot (PNG) and a drawing (SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts import review

import plancontrol
from plancontrol import Plan, Step
from plancontrol.core.answers import Code, Verdict
from plancontrol.testing import OpenAITestServer

PLOT_PLAN = Plan(
    (
        Step("Plot the squares of 0 to 9", "engineer", ("save data/squares.png",)),
        Step("Write a report on the plot", "researcher", ("cite data/squares.png",)),
    )
)

PLOT_CODE = """\
import struct, zlib
from pathlib import Path

Path("data").mkdir(exist_ok=True)
try:  # a real plot where matplotlib is installed, else a red PNG written by hand
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure(figsize=(4, 3), dpi=60)
    plt.plot(range(10), [n * n for n in range(10)], color="red", linewidth=8)
    plt.savefig("data/squares.png")
except ImportError:
    w, h = 120, 60
    rows = b"".join(b"\\x00" + b"\\xff\\x00\\x00" * w for _ in range(h))

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
    Path("data/squares.png").write_bytes(png + chunk(b"IEND", b""))
Path("data/shape.svg").write_text(
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
    '<rect width="40" height="20" fill="blue"/></svg>'
)
for n in range(60):
    print("square", n, n * n)
"""

REPORT_MD = (
    "# Squares\n\nThe plot is in `data/squares.png`.\n\n"
    "<script>alert('raw html')</script>\n\n| n | n² |\n|---|---|\n| 3 | 9 |\n"
)

PLOT_REPLIES: dict[str, list[Any]] = {
    "planner": [PLOT_PLAN, PLOT_PLAN],
    "plan_reviewer": [review("keep it to two steps")],
    "engineer": [Code("import missing_module_xyz"), Code(PLOT_CODE)],
    "judge": [
        Verdict("fix", "ModuleNotFoundError: missing_module_xyz", "plot without it"),
        Verdict("success", "the plot was saved to data/squares.png"),
    ],
    "researcher": [REPORT_MD],
}


def plot_run(folder: Path, **options: Any) -> Any:
    """Record the plot run into ``folder`` on a scripted server; the run's result."""
    with OpenAITestServer(PLOT_REPLIES) as server:
        return plancontrol.run(
            "Plot the squares and report on them", folder, model="test-model",
            base_url=server.base_url, env={}, **options,
        )  # fmt: skip
