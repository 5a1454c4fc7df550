"""The ``diff`` command: two run folders side by side, step by step; reads them only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plancontrol.app.cli.exits import fail, or_fail
from plancontrol.app.cli.options import JsonSummary

__all__ = ["diff"]


def diff(
    run_a: Annotated[Path, typer.Argument(help="A run folder (e.g. the original).")],
    run_b: Annotated[Path, typer.Argument(help="Another run folder (e.g. its fork).")],
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the comparison as one self-contained HTML page."),
    ] = None,
    json_summary: JsonSummary = False,
) -> None:
    """Compare two runs of one task step by step: plan changes; which steps' model
    requests, code, outputs, summaries and produced files (by sha256) differ; each step's
    tokens, cost and time in each run. Exit 0 when they match, 1 when they differ."""
    from plancontrol.app.diff.compare import compare
    from plancontrol.app.diff.record import load_run

    if html is not None:
        _check_page_path(html)
    a = or_fail(load_run(run_a))
    b = or_fail(load_run(run_b))
    found = compare(a, b)
    if html is not None:
        from plancontrol.app.diff.page import diff_page

        html.write_text(diff_page(found, a, b), encoding="utf-8")
    _print(found, json_summary)
    raise typer.Exit(0 if found.same else 1)


def _check_page_path(html: Path) -> None:
    """Refuse a page path that would overwrite anything but an HTML page, or has no folder."""
    if html.exists() and (html.is_dir() or html.suffix.lower() not in (".html", ".htm")):
        raise fail(f"--html {html}: it exists and is not an .html page; give a new file name")
    if not html.parent.is_dir():
        raise fail(f"--html {html}: no folder {html.parent}; create it or give another path")


def _print(found: object, json_summary: bool) -> None:
    from plancontrol.app.diff.compare import Diff

    assert isinstance(found, Diff)
    if json_summary:
        from plancontrol.app.cli.output import emit
        from plancontrol.app.diff.render import diff_document

        emit(diff_document(found))
        return
    from rich.console import Console

    from plancontrol.app.diff.render import diff_tables

    Console(highlight=False).print(diff_tables(found))
