"""A batch of tasks: each its own run folder, failures kept apart, finished runs skipped."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scripts import plancontrol as cli

import plancontrol
from plancontrol.app.batch_tasks import read_tasks
from plancontrol.core.answers import Code, Verdict
from plancontrol.runs.lock import holder

PLAN = {
    "sub_tasks": [
        {"sub_task": "Save the number", "sub_task_agent": "engineer", "bullet_points": ["out.txt"]}
    ]
}
TASKS = [
    {"task": "Task alpha: save 1", "id": "alpha", "plan": "plan.json"},
    {"task": "Task beta: save 2", "plan": "plan.json", "variables": {"audience": "students"}},
    {"task": "Task broken: it fails", "id": "broken", "plan": "plan.json",
     "settings": {"max_n_attempts": 1}},
]  # fmt: skip
MARKERS = ("Task alpha", "Task beta", "Task broken")  # in the engineer's request
FAILED = "failed: step 1 failed after 1 attempt(s); last problem: the script exited with code 3"


def task_list(folder: Path, lines: list[str] | None = None) -> Path:
    """``folder/tasks.jsonl`` (the three tasks, or ``lines``) and the plan file they name."""
    folder.mkdir(exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(PLAN))
    path = folder / "tasks.jsonl"
    path.write_text("\n".join(lines or [json.dumps(t) for t in TASKS]) + "\n")
    return path


def reply(body: dict[str, Any]) -> Any:
    """The engineer saves a file and the judge approves, except for the broken task."""
    from plancontrol.testing import role_of

    broken = "Task broken" in json.dumps(body)
    if role_of(body) == "engineer":
        return Code("raise SystemExit(3)" if broken else "open('out.txt', 'w').write('1')")
    if broken:
        return Verdict("fix", "it exits with 3", "do not exit")
    return Verdict("success", "saved")


def asked_by(log: list[Any], marker: str) -> int:
    """How many requests the server saw for the task whose text holds ``marker``."""
    return sum(marker in json.dumps(exchange.body) for exchange in log)


@pytest.mark.slow
def test_a_batch_records_each_task_skips_the_finished_and_replays(tmp_path: Path) -> None:
    from plancontrol.testing import OpenAITestServer

    task_list(tmp_path)
    with OpenAITestServer(reply) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--max-retries", "0"]
        first = cli("batch", "tasks.jsonl", "--into", "out", "--workers", "2", *flags,
                    "--json", cwd=tmp_path)  # fmt: skip
        before = (len(server.log), {m: asked_by(server.log, m) for m in MARKERS})
        again = cli("batch", "tasks.jsonl", "--into", "out", *flags, cwd=tmp_path)
        skipped = (len(server.log), {m: asked_by(server.log, m) for m in MARKERS})
        retried = cli("batch", "tasks.jsonl", "--into", "out", "--retry-failed", *flags,
                      "--json", cwd=tmp_path)  # fmt: skip
        after = (len(server.log), {m: asked_by(server.log, m) for m in MARKERS})
    assert first.returncode == 1, first.stderr
    document = json.loads(first.stdout)
    assert document["counts"] == {
        "finished": 2, "failed": 1, "stopped": 0, "running": 0, "error": 0
    }  # fmt: skip
    assert (document["steps_done"], document["steps_planned"], document["cost_usd"]) == (2, 3, None)
    rows = document["tasks"]
    assert [(r["id"], r["action"], r["status"], r["exit_code"]) for r in rows] == [
        ("alpha", "run", "finished", 0),
        ("task-beta-save-2-2", "run", "finished", 0),
        ("broken", "run", "failed", 1),
    ]
    assert [(r["steps_done"], r["steps_planned"]) for r in rows] == [(1, 1), (1, 1), (0, 1)]
    assert rows[2]["message"].startswith(FAILED)
    assert (tmp_path / "out" / "alpha" / "work" / "out.txt").read_text() == "1"
    manifest = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert [r["status"] for r in manifest["rows"]] == ["finished", "finished", "failed"]
    assert before == (
        6,
        {"Task alpha": 1, "Task beta": 1, "Task broken": 1},
    )  # engineer and judge each

    assert again.returncode == 1
    assert skipped == before  # nothing asked again: every run was skipped
    lines = again.stdout.splitlines()
    assert lines[0].split() == ["id", "done", "status", "steps", "cost", "time"]
    assert [line.split()[:4] for line in lines[1:4]] == [
        ["alpha", "skip", "finished", "1/1"],
        ["task-beta-save-2-2", "skip", "finished", "1/1"],
        ["broken", "skip", "failed", "0/1"],
    ]
    assert lines[4].split()[:6] == ["total", "finished", "2,", "failed", "1", "2/3"]

    assert retried.returncode == 1
    actions = [(r["id"], r["action"]) for r in json.loads(retried.stdout)["tasks"]]
    assert actions == [("alpha", "skip"), ("task-beta-save-2-2", "skip"), ("broken", "resume")]
    assert after == (
        8,
        {"Task alpha": 1, "Task beta": 1, "Task broken": 2},
    )  # only the failed one again

    replayed = cli("replay", "out", "--json", cwd=tmp_path)
    runs = json.loads(replayed.stdout)["runs"]
    assert sorted((r["run_dir"], r["status"]) for r in runs) == [
        ("out/alpha", "identical"),
        ("out/broken", "identical"),
        ("out/task-beta-save-2-2", "identical"),
    ]
    assert replayed.returncode == 0


@pytest.mark.slow
def test_the_library_call_runs_a_batch_and_keeps_the_variables(tmp_path: Path) -> None:
    from plancontrol.app.batch import ModelOptions
    from plancontrol.testing import OpenAITestServer

    tasks = task_list(tmp_path, [json.dumps(TASKS[1])])
    with OpenAITestServer(reply) as server:
        options = ModelOptions(model="m", base_url=server.base_url, max_retries=0)
        summary = plancontrol.batch(tasks, tmp_path / "out", options=options).unwrap()
    assert [(r.id, r.status, r.exit_code) for r in summary.rows] == [
        ("task-beta-save-2-1", "finished", 0)
    ]
    assert summary.ok
    ctx = plancontrol.decode_context(
        (tmp_path / "out" / "task-beta-save-2-1" / "context.json").read_bytes()
    ).unwrap()
    assert dict(ctx.variables) == {"audience": "students"}


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"id": "a"}', 'line 2: Object missing required field `task`'),
        ('{"task": "t", "colour": 1}', "line 2: Object contains unknown field `colour`"),
        ('{"task": "t", "id": "alpha"}', "line 2: the id 'alpha' is used twice"),
        ('{"task": "t", "id": "../up"}', "line 2: the id '../up' is not a folder name"),
        ('{"task": "t", "plan": "none.json"}', "line 2: the plan file none.json is not there"),
        ('{"task": "t", "settings": {"max_plan_steps": 0}}',
         "line 2: invalid settings: settings.max_plan_steps must be at least 1, got 0"),
        ("not json", "line 2: JSON is malformed"),
    ],
)  # fmt: skip
def test_a_bad_line_is_refused_with_its_number(tmp_path: Path, line: str, said: str) -> None:
    tasks = task_list(tmp_path, [json.dumps(TASKS[0]), line])
    refused = plancontrol.batch(tasks, tmp_path / "out").failure()
    assert refused.message.startswith(f"{tasks} {said}")
    assert refused.message.endswith("; fix that line of the task list and run the command again")
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was made
    assert read_tasks(tasks).failure() == refused


@pytest.mark.slow
def test_the_command_refuses_a_bad_line_in_one_line_with_exit_2(tmp_path: Path) -> None:
    task_list(tmp_path, [json.dumps(TASKS[0]), '{"task": ""}'])
    done = cli("batch", "tasks.jsonl", "--into", "out", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "plancontrol: tasks.jsonl line 2: the task is empty; "
        "fix that line of the task list and run the command again\n"
    )
    assert not (tmp_path / "out").exists()


SLOW = {"task": "Task slow: save 1", "id": "slow", "plan": "plan.json"}


def hangs_first(calls: list[str]) -> Callable[[dict[str, Any]], Any]:
    """``reply``, except that the slow task's first script hangs (its pid in work/started)."""
    from plancontrol.testing import role_of

    def answer(body: dict[str, Any]) -> Any:
        if role_of(body) == "engineer" and "Task slow" in json.dumps(body):
            calls.append("slow")
            if len(calls) == 1:
                return Code(
                    "import os, pathlib, time\n"
                    "pathlib.Path('started').write_text(str(os.getpid()))\n"
                    "time.sleep(120)"
                )
        return reply(body)

    return answer


def batch_hanging(folder: Path, *args: str) -> tuple[subprocess.Popen[str], int, int]:
    """``plancontrol batch`` started in ``folder`` with ``args``, once the slow task's script
    hangs: the batch, its run's process and the script's."""
    started = folder / "out" / "slow" / "work" / "started"  # scripts write in work/ only
    argv = [sys.executable, "-m", "plancontrol", "batch", "tasks.jsonl", "--into", "out", *args]
    batch = subprocess.Popen(
        argv, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    run_pid = holder(folder / "out" / "slow")
    if run_pid is None:  # never started: leave nothing running, then say so
        batch.kill()
    assert run_pid is not None, batch.communicate()
    return batch, run_pid, int(started.read_text())


@pytest.mark.slow
def test_a_killed_run_is_resumed_and_a_task_that_cannot_start_is_an_error(
    tmp_path: Path,
) -> None:
    from plancontrol.testing import OpenAITestServer

    crash = {"task": "Task crash", "id": "crash", "pipeline": "no_such_module:PIPELINE"}
    task_list(tmp_path, [json.dumps(SLOW), json.dumps(crash), json.dumps(TASKS[0])])
    calls: list[str] = []
    with OpenAITestServer(hangs_first(calls)) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--max-retries", "0"]
        batch, run_pid, script_pid = batch_hanging(tmp_path, *flags, "--json", "--workers", "2")
        os.kill(run_pid, signal.SIGKILL)  # the run's process dies without a word
        os.kill(script_pid, signal.SIGKILL)  # and so does its script
        out, _ = batch.communicate(timeout=120)
        first = {r["id"]: r for r in json.loads(out)["tasks"]}
        again = cli("batch", "tasks.jsonl", "--into", "out", *flags, "--json", cwd=tmp_path)
    assert batch.returncode == 1
    assert (first["slow"]["status"], first["slow"]["exit_code"]) == ("stopped", -9)
    assert first["crash"]["status"] == "error"
    assert first["crash"]["exit_code"] == 2
    assert "no_such_module" in first["crash"]["message"]
    assert (first["alpha"]["status"], first["alpha"]["exit_code"]) == ("finished", 0)
    second = {r["id"]: (r["action"], r["status"]) for r in json.loads(again.stdout)["tasks"]}
    assert second == {
        "slow": ("resume", "finished"),
        "crash": ("run", "error"),
        "alpha": ("skip", "finished"),
    }
    assert calls == ["slow", "slow"]
    assert (tmp_path / "out" / "slow" / "work" / "out.txt").read_text() == "1"


@pytest.mark.slow
def test_ctrl_c_stops_the_batch_and_its_runs_which_the_next_invocation_resumes(
    tmp_path: Path,
) -> None:
    from plancontrol.testing import OpenAITestServer

    task_list(tmp_path, [json.dumps(SLOW), json.dumps(TASKS[0])])
    calls: list[str] = []
    with OpenAITestServer(hangs_first(calls)) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--max-retries", "0"]
        batch, _, script_pid = batch_hanging(tmp_path, *flags)
        batch.send_signal(signal.SIGINT)
        _, err = batch.communicate(timeout=120)
        with contextlib.suppress(ProcessLookupError):
            os.kill(script_pid, signal.SIGKILL)
        manifest = json.loads((tmp_path / "out" / "batch.json").read_text())
        again = cli("batch", "tasks.jsonl", "--into", "out", *flags, "--json", cwd=tmp_path)
    assert batch.returncode == 130
    assert err.splitlines()[-1] == (
        "plancontrol: interrupted; what finished is in out; "
        "run the same command again to resume the runs that stopped"
    )
    rows = manifest["rows"]
    assert [(r["id"], r["status"]) for r in rows] == [("slow", "stopped")]  # alpha never began
    assert rows[0]["message"] == "stopped before planning ended"  # no snapshot before step 1
    second = {r["id"]: (r["action"], r["status"]) for r in json.loads(again.stdout)["tasks"]}
    assert second == {"slow": ("resume", "finished"), "alpha": ("run", "finished")}
    assert again.returncode == 0


def test_a_batch_that_cannot_start_says_why_and_makes_nothing(tmp_path: Path) -> None:
    tasks = task_list(tmp_path)
    (tmp_path / "afile").write_text("")
    refusals = [
        plancontrol.batch(tasks, tmp_path / "out", workers=0),
        plancontrol.batch(tmp_path / "none.jsonl", tmp_path / "out"),
        plancontrol.batch(tasks, tmp_path / "afile"),
        plancontrol.batch(task_list(tmp_path, [" "]), tmp_path / "out"),
    ]
    assert [r.failure().message for r in refusals] == [
        "`workers` must be at least 1, got 0; give 1 or more",
        f"cannot read {tmp_path}/none.jsonl: No such file or directory; "
        "pass the path of the task list (JSON lines, one task a line)",
        f"`into` {tmp_path}/afile is not a folder; name a folder (made if missing)",
        f"{tmp_path}/tasks.jsonl holds no task; write one JSON object a line, e.g. "
        '{"task": "...", "id": "first"}',
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_at_a_terminal_a_bar_over_the_batch_is_redrawn_under_the_tasks_lines(
    tmp_path: Path,
) -> None:
    from scripts import ANSI, Terminal

    from plancontrol.testing import OpenAITestServer

    task_list(tmp_path, [json.dumps(TASKS[0]), json.dumps(TASKS[2])])  # alpha, then broken
    with OpenAITestServer(reply) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--max-retries", "0"]
        argv = [sys.executable, "-m", "plancontrol", "batch", "tasks.jsonl", "--into", "out"]
        term = Terminal([*argv, *flags], tmp_path)
        for shown in (
            "alpha: ran: finished",
            "1/2 tasks done, 0 failed, 1 running, ",
            f"broken: ran: {FAILED}",
            "2/2 tasks done, 1 failed, 0 running, ",  # drawn once more as it goes
            "alpha   run   finished",  # then the table, below
        ):
            term.expect(shown)
        assert term.wait() == 1
    drawn = r"━+ +\d/2 tasks done, \d failed, \d running, \d\d:\d\d"
    drawings = re.findall(drawn, ANSI.sub("", term.raw))
    assert len(drawings) >= 3  # the bar and its line, drawn again and again in place
    assert "\x1b[2K" in term.raw  # each drawing cleared before the next
