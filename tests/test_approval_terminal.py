"""Approval at the terminal: a real `plancontrol run --approval …` in a pseudo-terminal, with
the decisions typed, journaled, and served again on replay."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scripts import OK, PRIMES, Terminal, plancontrol, review

from plancontrol import decode_context
from plancontrol.core.answers import Code
from plancontrol.testing import OpenAITestServer

pytestmark = pytest.mark.slow  # every test here starts a process or a server


def test_decisions_typed_at_the_terminal_steer_the_run_and_replay(tmp_path: Path) -> None:
    replies = {
        "planner": [PRIMES, PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("print(2, 3, 5)")],
        "judge": [OK],
        "researcher": ["# never asked"],
    }
    with OpenAITestServer(replies) as server:
        argv = [sys.executable, "-m", "plancontrol", "run", "Compute primes"]
        argv += ["--base-url", server.base_url, "--model", "test-model", "--run-dir", "run"]
        term = Terminal([*argv, "--approval", "before_each_step"], tmp_path)
        term.expect("Approve the plan?")
        term.type("v use the sieve of Eratosthenes")
        term.expect("Approve the plan?")
        term.type("a")
        term.expect("Run step 1?")
        term.type("a")
        term.expect("Run step 2?")
        term.type("s not needed today")
        assert term.wait() == 0
        planner = [e for e in server.log if e.key == "planner"]
        researcher = [e for e in server.log if e.key == "researcher"]
    assert len(planner) == 3  # the draft, the revision after review, the one asked for here
    assert "use the sieve of Eratosthenes" in planner[2].body["messages"][-1]["content"]
    assert researcher == []  # step 2 was skipped
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert [(o.step, o.status) for o in ctx.outcomes] == [(1, "completed"), (2, "skipped")]
    assert ctx.outcomes[1].error == "not needed today"
    journal = (tmp_path / "run" / "sessions" / "01" / "journal.jsonl").read_text()
    assert journal.count('"type":"Decided"') == 4
    assert '"feedback":"use the sieve of Eratosthenes"' in journal
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay identical to the recording" in replayed.stdout


def test_without_a_terminal_approvals_are_refused_before_planning(tmp_path: Path) -> None:
    replies = {"planner": [PRIMES, PRIMES], "plan_reviewer": [review("fine")]}
    with OpenAITestServer(replies) as server:
        done = subprocess.run(
            [*run_argv(server), "--approval", "after_planning", "--approval-default", "reject"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert server.log == []  # nothing paid for a question nobody could answer
    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: approval 'after_planning' asks at the terminal, but the input is not a "
        "terminal: run it in a terminal, or without approvals (--approval none)\n"
    )
    assert not (tmp_path / "run").exists()


def test_ctrl_c_at_the_prompt_stops_at_once_and_the_run_resumes(tmp_path: Path) -> None:
    replies = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("print(2, 3, 5)")],
        "judge": [OK],
        "researcher": ["# Report\nThree primes."],
    }
    with OpenAITestServer(replies) as server:
        term = Terminal([*run_argv(server), "--approval", "after_planning"], tmp_path)
        term.expect("Approve the plan?")
        pressed = time.monotonic()
        term.proc.send_signal(signal.SIGINT)
        try:
            term.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            term.proc.kill()
            term.wait()
            pytest.fail(f"still at the prompt 15 s after one Ctrl-C:\n{term.seen}")
        waited = time.monotonic() - pressed
        assert term.wait() == 1
        shown = " ".join(term.seen.split())
        assert "Ctrl-C: stopping the run here" in shown
        assert (
            "workflow stopped: run aborted at the plan's approval: stopped with Ctrl-C at the "
            "prompt; resume to continue from there"
        ) in shown
        assert waited < 15
        run = tmp_path / "run"
        status = json.loads((run / "sessions" / "01" / "session.json").read_text())["status"]
        assert status == "failed"
        assert not (run / "sessions" / "01" / "snapshots" / "approve.json").exists()
        resumed = plancontrol("resume", "run", "--set", "settings.approval=none", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        asked = [e.key for e in server.log]
    assert asked.count("planner") == 2  # the draft and its revision: not planned again
    assert asked.count("engineer") == 1
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr


def run_argv(server: OpenAITestServer) -> list[str]:
    """``plancontrol run "Compute primes"`` on ``server`` into ``run``."""
    argv = [sys.executable, "-m", "plancontrol", "run", "Compute primes"]
    return [*argv, "--base-url", server.base_url, "--model", "test-model", "--run-dir", "run"]
