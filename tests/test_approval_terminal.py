"""Approval at the terminal: a real `plancontrol run --approval …` in a pseudo-terminal, with
the decisions typed, journaled, and served again on replay."""

from __future__ import annotations

import sys
from pathlib import Path

from scripts import OK, PRIMES, Terminal, plancontrol, review

from plancontrol import decode_context
from plancontrol.replies import Code
from plancontrol.testing import OpenAITestServer


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


def test_without_a_terminal_the_configured_default_decides(tmp_path: Path) -> None:
    replies = {"planner": [PRIMES, PRIMES], "plan_reviewer": [review("fine")]}
    with OpenAITestServer(replies) as server:
        done = plancontrol(
            "run",
            "Compute primes",
            "--base-url",
            server.base_url,
            "--model",
            "test-model",
            "--run-dir",
            "run",
            "--approval",
            "after_planning",
            "--approval-default",
            "reject",
            cwd=tmp_path,
        )
    assert done.returncode == 1
    assert "the input is not a terminal: reject (the default)" in done.stderr
    assert "workflow stopped: plan rejected" in done.stderr
