"""The run report as one self-contained HTML page: ``plancontrol report`` and ``api.report``."""

from plancontrol.app.report.gather import RunView, gather
from plancontrol.app.report.render import REPORT, highlighted, markdown, render_html, write_report

__all__ = ["REPORT", "RunView", "gather", "highlighted", "markdown", "render_html", "write_report"]
