"""The run report as one self-contained HTML page (jinja2, markdown-it-py, pygments); no network."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from returns.result import Failure, Result, Success

from plancontrol.app.report.charts import PLOT_WIDTH, ROW, bar_rows, timeline
from plancontrol.core.problem import Problem
from plancontrol.core.report import dollars

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

    from plancontrol.app.report.gather import RunView
    from plancontrol.recording.session_replay import ReplayOutcome

__all__ = [
    "FOLD_LINES",
    "REPORT",
    "export_report",
    "highlighted",
    "markdown",
    "render_html",
    "with_report_checked",
    "write_report",
]

FOLD_LINES = 20
"""Output longer than this many lines is folded in a ``<details>`` element."""

REPORT = "report.html"
"""The report's file name in a run folder."""


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("plancontrol.app.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(markdown=markdown, highlighted=highlighted, dollars=dollars)
    env.filters["folded"] = lambda text: text.count("\n") + 1 > FOLD_LINES
    return env


def markdown(text: str) -> Markup:
    """Markdown rendered to HTML, raw HTML in it shown as text, links kept inert.

    >>> str(markdown("# Hi <b>x</b>"))
    '<h1>Hi &lt;b&gt;x&lt;/b&gt;</h1>\\n'
    """
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(parser.render(text))


def highlighted(code: str) -> Markup:
    """Python code as highlighted HTML (pygments, CSS classes from ``pygments_css``).

    >>> "<span class=\\"nb\\">print</span>" in highlighted("print(1)")
    True
    """
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return Markup(highlight(code, PythonLexer(), HtmlFormatter(cssclass="code")))


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(cssclass="code", style="default").get_style_defs(".code"))


def render_html(view: RunView) -> str:
    """The report page of ``view``; the same run folder always gives the same bytes."""
    attempts = {s.number: len(s.attempts) for s in view.steps}
    summary = view.summary
    values: dict[str, Any] = {
        "view": view,
        "css": resources.files("plancontrol.app.report")
        .joinpath("templates/report.css")
        .read_text(encoding="utf-8")
        + _pygments_css(),
        "timeline": timeline(summary.timings, attempts),
        "charts": {
            f"{measure} by {name}": bar_rows(groups, measure)
            for name, groups in (("role", summary.by_role), ("step", summary.by_step))
            for measure in ("tokens", "cost")
        },
        "plot_width": PLOT_WIDTH,
        "row": ROW,
    }
    return _environment().get_template("report.html.j2").render(values)


def write_report(
    run_dir: Path, html: Path | None = None, *, verdicts: bool = True, writer: bool = False
) -> Result[Path, Problem]:
    """Write the report of the run in ``run_dir`` to ``html`` (``run_dir/report.html`` by
    default); the file written, or a one-line Problem (not a run, not an .html file, cannot
    write there). ``verdicts`` as ``gather`` takes it; ``writer``: the caller holds the run's
    lock (its session just ended), so the run is shown as its records say, not as running."""
    from plancontrol.app.report.gather import gather
    from plancontrol.handlers.files import write_atomic

    target = html or run_dir / REPORT
    if target.suffix.lower() not in (".html", ".htm"):
        return Failure(
            Problem(
                what=f"{target} is not an .html file",
                where="html",
                fix="name a file ending in .html with `html`",
            )
        )
    match gather(run_dir, verdicts=verdicts, writer=writer):
        case Failure(problem):
            return Failure(problem)
        case Success(view):
            page = render_html(view).encode("utf-8")
    try:
        write_atomic(target, page)
    except OSError as exc:
        return Failure(
            Problem(
                what=f"cannot write {target}: {exc.strerror}",
                where=str(target),
                fix="choose another file with `html`",
            )
        )
    return Success(target)


def export_report(run_dir: Path) -> Problem | None:
    """Write ``run_dir/report.html`` at the end of a session, by the process that recorded it
    (and still holds its lock); why it could not be written, or None."""
    written = write_report(run_dir, writer=True)
    return written.failure() if isinstance(written, Failure) else None


def with_report_checked(run_dir: Path, outcome: ReplayOutcome) -> ReplayOutcome:
    """``outcome`` with ``report.html`` checked as well: the page the folder gives now must
    be the one in it (the page is written after its session's journal is sealed, so it is
    checked by writing it again, in memory, rather than by a journaled hash)."""
    import dataclasses

    from plancontrol.app.report.gather import gather

    page = run_dir / REPORT
    if not page.is_file():
        return outcome
    view = gather(run_dir)
    if isinstance(view, Failure) or render_html(view.unwrap()).encode("utf-8") == page.read_bytes():
        return outcome
    changed = (*outcome.changed_files, (REPORT, "its bytes differ from the page the run gives"))
    return dataclasses.replace(outcome, changed_files=changed)
