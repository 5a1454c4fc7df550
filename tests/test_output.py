"""What the commands print: text as written, each failure once, 80 columns, JSON for scripts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scripts import PRIMES, happy_replies, plancontrol

from plancontrol import Plan, Step, decode_context
from plancontrol.core.answers import Code, Verdict
from plancontrol.handlers.prices import cost_usd
from plancontrol.servers.replies import Usage
from plancontrol.testing import OpenAITestServer

BRACKETS = "Compare [TT] and [1] with [bold]x[/] ok"
WIDTH = 80


@pytest.fixture(autouse=True)
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command here runs as in an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return (done.stdout + done.stderr).splitlines()


def one_document(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The single JSON document a command printed on stdout."""
    assert done.stdout.count("\n") == 1, done.stdout
    document = json.loads(done.stdout)
    assert isinstance(document, dict)
    return document


def run_on(server: OpenAITestServer, task: str, *extra: str, cwd: Path, model: str = "m") -> Any:
    return plancontrol(
        "run",
        task,
        "--base-url",
        server.base_url,
        "--model",
        model,
        "--reviews",
        "0",
        "--attempts",
        "1",
        "--run-dir",
        "run",
        *extra,
        cwd=cwd,
    )


@pytest.mark.slow
def test_brackets_from_the_user_and_the_model_print_as_written(tmp_path: Path) -> None:
    plan = Plan((Step(BRACKETS, "engineer", ("keep [red]x[/] and [/]",)),))
    replies = {
        "planner": [plan],
        "engineer": [Code("print('[TT] [/] ok')")],
        "judge": [Verdict("success", "printed [TT] and [/] as asked")],
    }
    with OpenAITestServer(replies) as server:
        done = run_on(server, BRACKETS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"step 1/1 engineer: {BRACKETS}" in done.stderr.splitlines()
    assert "│ keep [red]x[/] and [/] │" in done.stderr  # the plan table's instructions cell
    shown = plancontrol("show", "run", cwd=tmp_path)
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout.splitlines()[0] == f"task: {BRACKETS}"
    assert "│ printed [TT] and │" in shown.stdout  # the step's summary, in its cell
    assert "│ [/] as asked     │" in shown.stdout
    assert max(len(line) for line in lines(shown)) <= WIDTH


@pytest.mark.slow
def test_a_failing_run_says_its_failure_once_in_80_columns(tmp_path: Path) -> None:
    reason = "it exits with 3 and writes nothing"
    replies = {
        "planner": [PRIMES],
        "engineer": [Code("raise SystemExit(3)")],
        "judge": [Verdict("fix", reason, "do not exit")],
    }
    with OpenAITestServer(replies) as server:
        done = run_on(server, "Compute primes", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    said = " ".join((done.stdout + done.stderr).split())  # a wrapped line is joined again
    assert said.count(f"last problem: {reason}") == 1
    assert "workflow stopped: step 1 failed after 1 attempt(s)" in said
    assert "  step 1 failed in " in done.stderr  # the progress line, without the reason
    assert max(len(line) for line in lines(done)) <= WIDTH, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "run folder: run",
        "replay it with: plancontrol replay run",
    ]
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.outcomes[0].error.count(reason) == 1


@pytest.mark.slow
def test_the_closing_tables_fit_80_columns_and_name_each_file_whole(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert max(len(line) for line in out) <= WIDTH
    assert "…" not in done.stdout
    assert "  step 2: reports/step_2_researcher_output.md" in out
    assert "  step 1: primes.txt" in out
    assert out[-2:] == ["run folder: run", "replay it with: plancontrol replay run"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a finished demo run in ``demo``."""
    folder = tmp_path_factory.mktemp("json")
    done = plancontrol("demo", "--run-dir", "demo", "-q", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["demo", "--run-dir", "again", "-q"], 0, {"type": "run", "run_dir": "again"}),
        (["replay", "demo", "-q"], 0, {"type": "replay", "identical": True, "difference": None}),
        (["check", "demo"], 0, {"type": "check", "ok": True}),
        (["check", "demo", "--secrets"], 0, {"type": "secrets", "found": []}),
        (["resume", "demo", "--from-step", "2", "-q"], 0, {"type": "run", "status": "completed"}),
        (
            ["fork", "demo", "--from-step", "2", "--into", "branch", "-q"],
            0,
            {"type": "run", "status": "completed", "run_dir": "branch"},
        ),
        (["show", "demo"], 0, {"type": "show", "status": "finished", "run_dir": "demo"}),
        (["init", "config.toml"], 0, {"type": "init", "path": "config.toml"}),
        (["run", "any task", "--show-config"], 0, {"type": "config"}),
        (["version"], 0, {"type": "version"}),
        (
            ["run", "any task", "--bogus"],
            2,
            {"type": "error", "error": {"kind": "usage", "message": "No such option: --bogus"}},
        ),
        (
            ["show", "nowhere"],
            2,
            {
                "type": "error",
                "error": {
                    "kind": "input",
                    "message": "nowhere is not a folder; pass the folder that `plancontrol run` "
                    "wrote",
                },
            },
        ),
        (
            ["replay", "demo", "--part", "review", "--rerun-code"],
            2,
            {
                "type": "error",
                "error": {
                    "kind": "input",
                    "message": "--rerun-code replays the whole run; leave out --part",
                },
            },
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_every_command_prints_one_json_document_under_json(
    recorded: Path, args: list[str], status: int, expected: dict[str, Any]
) -> None:
    done = plancontrol(*args, "--json", cwd=recorded)
    assert done.returncode == status, done.stderr
    document = one_document(done)
    assert {key: document.get(key) for key in expected} == expected


@pytest.mark.slow
def test_json_of_a_stopped_run_has_the_error_kind_and_message(tmp_path: Path) -> None:
    replies = {
        "planner": [PRIMES],
        "engineer": [Code("raise SystemExit(3)")],
        "judge": [Verdict("fix", "it exits with 3", "do not exit")],
    }
    with OpenAITestServer(replies) as server:
        done = run_on(server, "Compute primes", "--json", "-q", cwd=tmp_path)
    assert done.returncode == 1
    document = one_document(done)
    assert (document["type"], document["status"], document["error"]["kind"]) == (
        "run",
        "stopped",
        "attempts_exhausted",
    )
    assert document["error"]["message"].startswith(
        "step 1 failed after 1 attempt(s); last problem: it exits with 3"
    )


@pytest.mark.slow
def test_costs_in_json_carry_no_float_noise(tmp_path: Path) -> None:
    replies = happy_replies(PRIMES, reviews=0)
    replies["planner"] = [Usage(PRIMES, prompt_tokens=88, completion_tokens=9)]
    noisy = cost_usd("gpt-4o-mini", 88, 9)
    assert repr(noisy) == "1.8599999999999998e-05"  # 88 * 0.15 + 9 * 0.6 dollars per million
    with OpenAITestServer(replies) as server:
        done = run_on(server, "Compute primes", "--json", "-q", cwd=tmp_path, model="gpt-4o-mini")
    assert done.returncode == 0, done.stderr
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.usage[0].cost_usd == noisy  # recorded exactly; rounded only when printed
    document = one_document(done)
    by_role = {row["key"]: row["cost_usd"] for row in document["report"]["by_role"]}
    assert by_role["planner"] == 1.86e-05
    assert (
        '"key":"planner","calls":1,"prompt_tokens":88,"completion_tokens":9,"cost_usd":0.0000186'
        in (done.stdout)
    )
    total = sum(row.cost_usd or 0.0 for row in ctx.usage)
    assert document["report"]["total"]["cost_usd"] == round(total, 10)
    assert not re.search(r"\d{12,}", done.stdout), done.stdout


def test_the_approval_prompt_shows_brackets_as_written() -> None:
    import io

    from plancontrol.core.ports import ApprovalRequest
    from plancontrol.handlers.terminal import TerminalApprover

    shown = io.StringIO()
    approver = TerminalApprover(io.StringIO("a\n"), shown, require_tty=False)
    plan = Plan((Step(BRACKETS, "engineer", ("keep [red]x[/] and [/]",)),))
    approver.decide(ApprovalRequest(kind="plan", task=f"Task {BRACKETS}", plan=plan))
    approver.decide(ApprovalRequest(kind="error", task="t", plan=plan, step=1, error="bad [/] [i]"))
    said = shown.getvalue().splitlines()
    assert said[:3] == [
        f"Plan for: Task {BRACKETS}",
        f"Step 1 (engineer): {BRACKETS}",
        "  - keep [red]x[/] and [/]",
    ]
    assert "It failed: bad [/] [i]" in said
