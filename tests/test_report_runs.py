"""report.html is written as each session ends: a run, an interrupted one, a resume, a fork."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from plotrun import PLOT_REPLIES, REPORT_MD, plot_run
from returns.result import Failure, Success

import plancontrol
from plancontrol.core.answers import Code, Verdict
from plancontrol.handlers.local import ApproveAll, Uninterrupted
from plancontrol.recording.wiring import Handlers
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow

IMAGE = re.compile(r'<img class="produced" src="data:([^;]+);base64,([^"]+)" alt="([^"]+)">')


class CtrlCAfterStep1:
    """An event sink that presses Ctrl-C as step 1 ends (after its snapshot)."""

    def emit(self, event: object) -> None:
        from plancontrol.core.events import StepComplete

        if isinstance(event, StepComplete) and event.step == 1:
            raise KeyboardInterrupt


def test_a_run_writes_report_html_with_its_plots_inline(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    assert isinstance(plot_run(folder), Success)
    html = (folder / "report.html").read_text(encoding="utf-8")
    shown = {name: (mime, base64.b64decode(data)) for mime, data, name in IMAGE.findall(html)}
    work = folder / "work"
    assert shown == {
        "data/shape.svg": ("image/svg+xml", (work / "data" / "shape.svg").read_bytes()),
        "data/squares.png": ("image/png", (work / "data" / "squares.png").read_bytes()),
    }
    assert '<details class="output stdout"><summary>stdout (61 lines)</summary>' in html
    assert '<div class="output stderr"><div class="label">stderr</div>' in html  # 4 lines: open
    assert "&lt;script&gt;alert('raw html')&lt;/script&gt;" in html
    assert "<td>3</td>" in html  # the Markdown table
    verdicts = re.findall(r"Judge: <strong>(\w+)</strong>", html)
    assert verdicts == ["fix", "success"]
    again = plancontrol.report(folder, html=tmp_path / "again.html")
    assert again == Success(tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == (folder / "report.html").read_bytes()


def _sessions(html: str) -> list[tuple[str, ...]]:
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td><td>(\w+)</td><td>([^<]*)</td>", html)
    return [tuple(row) for row in rows]


def test_interrupted_resumed_and_forked_runs_each_get_their_report(tmp_path: Path) -> None:
    folder, branch = tmp_path / "run", tmp_path / "branch"
    replies = {**PLOT_REPLIES, "researcher": [REPORT_MD, "# Forked report\n"]}
    interrupting = Handlers(
        events=CtrlCAfterStep1(), approver=ApproveAll(), signals=Uninterrupted()
    )
    with OpenAITestServer(replies) as server:
        with pytest.raises(KeyboardInterrupt):
            plancontrol.run(
                "Plot the squares and report on them", folder, model="test-model",
                base_url=server.base_url, env={}, handlers=interrupting,
            )  # fmt: skip
        html = (folder / "report.html").read_text(encoding="utf-8")
        assert '<dd class="status">interrupted; resumable after step-01</dd>' in html
        assert _sessions(html) == [("1", "run", "interrupted", "the start")]
        assert html.count('<span class="badge pending">not run</span>') == 2  # plan + step 2
        assert len(IMAGE.findall(html)) == 2  # step 1's plots are there already

        assert isinstance(plancontrol.resume(folder, env={}), Success)
        html = (folder / "report.html").read_text(encoding="utf-8")
        assert '<dd class="status">finished</dd>' in html
        assert _sessions(html) == [
            ("1", "run", "interrupted", "the start"),
            ("2", "resume", "completed", "step-01"),
        ]
        original = (folder / "report.html").read_bytes()

        forked = plancontrol.fork(folder, branch, from_step=2, env={})
        assert isinstance(forked, Success)
    html = (branch / "report.html").read_text(encoding="utf-8")
    assert f"<dd><code>{folder.resolve()}</code> at step 2</dd>" in html
    assert "<h1>Forked report</h1>" in html
    assert _sessions(html) == [
        ("1", "run", "interrupted", "the start"),
        ("2", "fork", "completed", "step-01"),
    ]
    assert len(IMAGE.findall(html)) == 2  # step 1's plots, copied with the work folder
    assert (folder / "report.html").read_bytes() == original


def test_a_failed_run_says_why_it_stopped_and_shows_the_failed_attempt(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    failing = {
        **PLOT_REPLIES,
        "engineer": [Code("raise SystemExit('no data')")],
        "judge": [Verdict("fix", "it exited with status 1", "find the data")],
    }
    with OpenAITestServer(failing) as server:
        stopped = plancontrol.run(
            "Plot the squares and report on them", folder, model="test-model",
            base_url=server.base_url, env={}, settings={"max_n_attempts": 1},
        )  # fmt: skip
    assert isinstance(stopped, Failure)
    html = (folder / "report.html").read_text(encoding="utf-8")
    status = re.search(r'<dd class="status">([^<]*)</dd>', html)
    assert status is not None
    assert status.group(1).startswith("failed: ")
    assert _sessions(html) == [("1", "run", "failed", "the start")]
    assert '<span class="badge failed">exit code 1</span>' in html
    assert "no data" in html
    assert IMAGE.findall(html) == []


def test_approval_decisions_are_shown_with_the_plan_and_the_steps(tmp_path: Path) -> None:
    from plancontrol import Approve, Skip
    from plancontrol.handlers.local import DiscardEvents
    from plancontrol.testing import ScriptedApprover

    folder = tmp_path / "run"
    approver = ScriptedApprover([Approve(), Approve(), Skip("no report needed")])
    handlers = Handlers(events=DiscardEvents(), approver=approver, signals=Uninterrupted())
    with OpenAITestServer(PLOT_REPLIES) as server:
        done = plancontrol.run(
            "Plot the squares and report on them", folder, model="test-model",
            base_url=server.base_url, env={}, handlers=handlers,
            settings={"approval": "before_each_step"},
        )  # fmt: skip
    assert isinstance(done, Success)
    html = (folder / "report.html").read_text(encoding="utf-8")
    step_2 = html[html.index('<section class="step" id="step-2">') :]
    decisions = re.findall(r'<p class="decision">Approval: ([^<]*)</p>', html)
    assert decisions == ["plan: approve", "step: approve", "step: skip (no report needed)"]
    assert '<p class="decision">Approval: step: skip (no report needed)</p>' in step_2
    assert '<span class="badge skipped">skipped</span>' in step_2
