"""The terminal handlers driven for real: approvals typed into pipes and ptys, real signals."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import msgspec
import pytest
from scripts import OK, engineer_plan

from plancontrol import (
    CONTROL,
    Abort,
    AllSignals,
    ApprovalRequest,
    Approve,
    CallbackSignals,
    Cancelled,
    Context,
    Decision,
    Execution,
    Reject,
    Retry,
    Revise,
    Settings,
    Skip,
    decode_context,
    run_pipeline,
)
from plancontrol.core.answers import Code
from plancontrol.core.phases.control import run_steps
from plancontrol.handlers.terminal import SignalWatch, TerminalApprover
from plancontrol.testing import ScriptedExecutor, scripted_effects

PLAN = engineer_plan(2)
PLAN_REQUEST = ApprovalRequest(kind="plan", task="Compute primes", plan=PLAN)
STEP_REQUEST = ApprovalRequest(kind="step", task="Compute primes", plan=PLAN, step=2)
ERROR_REQUEST = ApprovalRequest(
    kind="error",
    task="Compute primes",
    plan=PLAN,
    step=1,
    error="step 1 failed after 3 attempt(s); last problem: NameError",
    retries_left=2,
)


@contextmanager
def piped(typed: str = "", close: bool = False) -> Iterator[tuple[IO[str], IO[str]]]:
    """A real pipe as the approver's input, ``typed`` already written into it (and the
    writing end closed when ``close``); yields (input, writer)."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as reader, os.fdopen(write_fd, "w") as writer:
        writer.write(typed)
        writer.flush()
        if close:
            writer.close()
        yield reader, writer


def approver(stream: IO[str], out: io.StringIO, **knobs: object) -> TerminalApprover:
    return TerminalApprover(stream, out, require_tty=False, **knobs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "request_", "decision"),
    [
        ("a\n", PLAN_REQUEST, Approve()),
        ("approve\n", PLAN_REQUEST, Approve()),
        ("r too costly\n", PLAN_REQUEST, Reject("too costly")),
        ("r\n", PLAN_REQUEST, Reject("rejected at the terminal")),
        ("v use numpy\n", PLAN_REQUEST, Revise("use numpy")),
        ("v\nsave a CSV too\n", PLAN_REQUEST, Revise("save a CSV too")),
        ("x\n", PLAN_REQUEST, Abort("aborted at the terminal")),
        ("s\n", STEP_REQUEST, Skip("skipped at the terminal")),
        ("S not needed\n", STEP_REQUEST, Skip("not needed")),
        ("t\n", ERROR_REQUEST, Retry()),
        ("v print less\n", ERROR_REQUEST, Revise("print less")),
        ("r\n", ERROR_REQUEST, Reject("rejected at the terminal")),
    ],
)
def test_a_typed_answer_becomes_its_decision(
    typed: str, request_: ApprovalRequest, decision: Decision
) -> None:
    out = io.StringIO()
    with piped(typed) as (stream, _):
        assert approver(stream, out).decide(request_) == decision


def test_the_plan_is_shown_with_the_choices_that_apply() -> None:
    out = io.StringIO()
    with piped("a\n") as (stream, _):
        approver(stream, out).decide(PLAN_REQUEST)
    shown = out.getvalue()
    assert shown.startswith(
        "Plan for: Compute primes\nStep 1 (engineer): Task number 1\n  - point 1"
    )
    assert "Approve the plan? [a]pprove, [r]eject, re[v]ise, abort [x]: " in shown


def test_a_step_and_a_failure_are_shown_with_their_own_choices() -> None:
    out = io.StringIO()
    with piped("a\nt\n") as (stream, _):
        terminal = approver(stream, out)
        assert terminal.decide(STEP_REQUEST) == Approve()
        assert terminal.decide(ERROR_REQUEST) == Retry()
    shown = out.getvalue()
    assert "Step 2 of 2 (engineer): Task number 2\n  - point 2\n" in shown
    assert "Run step 2? [a]pprove, [r]eject, re[v]ise, [s]kip, abort [x]: " in shown
    assert "It failed: step 1 failed after 3 attempt(s); last problem: NameError\n" in shown
    assert "It may run 2 more time(s).\n" in shown
    assert "Step 1 failed: re[t]ry, re[v]ise, [s]kip, [r]eject (give up), abort [x]: " in shown


def test_an_answer_that_does_not_apply_is_asked_again() -> None:
    out = io.StringIO()
    with piped("s\nmaybe\n\nx changed my mind\n") as (stream, _):
        assert approver(stream, out).decide(PLAN_REQUEST) == Abort("changed my mind")
    assert out.getvalue().count("please answer one of: a, r, v, x\n") == 3


def test_no_retry_is_offered_once_the_retries_are_used_up() -> None:
    out = io.StringIO()
    spent = msgspec.structs.replace(ERROR_REQUEST, retries_left=0)
    with piped("t\ns\n") as (stream, _):
        assert approver(stream, out).decide(spent) == Skip("skipped at the terminal")
    shown = out.getvalue()
    assert "It may not run again (max_step_retries)." in shown
    assert "Step 1 failed: [s]kip, [r]eject (give up), abort [x]: " in shown
    assert "please answer one of: s, r, x" in shown


def test_answers_typed_ahead_serve_the_next_requests() -> None:
    out = io.StringIO()
    with piped("a\nv\nfewer steps\nx\n") as (stream, _):
        terminal = approver(stream, out)
        decisions = [terminal.decide(PLAN_REQUEST) for _ in range(3)]
    assert decisions == [Approve(), Revise("fewer steps"), Abort("aborted at the terminal")]


def test_no_answer_within_the_timeout_gives_the_default_and_says_so() -> None:
    out = io.StringIO()
    with piped() as (stream, _):
        terminal = approver(stream, out, timeout=0.3, default="reject")
        began = time.monotonic()
        decision = terminal.decide(PLAN_REQUEST)
        waited = time.monotonic() - began
    assert decision == Reject("no answer within 0.3 s")
    assert 0.3 <= waited < 5
    shown = out.getvalue()
    assert "abort [x] (no answer in 0.3 s: reject): " in shown
    assert shown.endswith("no answer within 0.3 s: reject (the default)\n")


def test_a_half_typed_feedback_times_out_to_the_default() -> None:
    out = io.StringIO()
    with piped("v\n") as (stream, _):
        decision = approver(stream, out, timeout=0.2, default="skip").decide(ERROR_REQUEST)
    assert decision == Skip("no feedback within 0.2 s")


def test_a_default_that_does_not_apply_becomes_abort() -> None:
    out = io.StringIO()
    with piped() as (stream, _):
        decision = approver(stream, out, timeout=0.1, default="skip").decide(PLAN_REQUEST)
    assert decision == Abort("no answer within 0.1 s; the default 'skip' does not apply to a plan")
    assert "(no answer in 0.1 s: abort)" in out.getvalue()


def test_the_end_of_the_input_gives_the_default() -> None:
    out = io.StringIO()
    with piped("", close=True) as (stream, _):
        decision = approver(stream, out, default="approve").decide(PLAN_REQUEST)
    assert decision == Approve()
    assert out.getvalue().endswith("the input ended: approve (the default)\n")


def test_an_input_that_is_not_a_terminal_gives_the_default_without_reading() -> None:
    out = io.StringIO()
    with piped("r\n") as (stream, _):
        terminal = TerminalApprover(stream, out, default="abort")
        assert terminal.decide(PLAN_REQUEST) == Abort("the input is not a terminal")
        assert stream.readline() == "r\n"  # nothing was read
    assert "Plan for: Compute primes" in out.getvalue()


def test_a_pseudo_terminal_is_read_like_a_person_typing() -> None:
    main, secondary = pty.openpty()
    with os.fdopen(secondary, "r") as stream:
        os.write(main, b"v add a plot\n")
        out = io.StringIO()
        assert TerminalApprover(stream, out).decide(PLAN_REQUEST) == Revise("add a plot")
    os.close(main)


def test_from_settings_takes_the_timeout_and_the_default() -> None:
    settings = Settings(approval="on_error", approval_timeout=0.1, approval_default="skip")
    out = io.StringIO()
    with piped() as (stream, _):
        terminal = TerminalApprover.from_settings(settings, stream, out, require_tty=False)
        assert (terminal.timeout, terminal.default) == (0.1, "skip")
        assert terminal.decide(ERROR_REQUEST) == Skip("no answer within 0.1 s")


def test_a_stream_without_a_file_descriptor_is_read_line_by_line() -> None:
    out = io.StringIO()
    terminal = TerminalApprover(io.StringIO("v\nmore tests\n"), out, require_tty=False)
    assert terminal.decide(STEP_REQUEST) == Revise("more tests")


CHILD_APPROVER = """
import sys, msgspec
from plancontrol import ApprovalRequest, Decision, Plan, Step
from plancontrol.handlers.terminal import TerminalApprover
plan = Plan((Step("Compute primes", "engineer"),))
terminal = TerminalApprover(require_tty=False, timeout=20)
for kind in ("plan", "step"):
    decision = terminal.decide(ApprovalRequest(kind=kind, task="t", plan=plan, step=1))
    print(msgspec.json.encode(decision).decode(), flush=True)
"""


@pytest.mark.slow
def test_a_real_process_reads_its_stdin_and_prompts_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD_APPROVER],
        input="v\nsplit it in two\ns\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"type": "Revise", "feedback": "split it in two"},
        {"type": "Skip", "reason": "skipped at the terminal"},
    ]
    assert "Approve the plan? [a]pprove" in done.stderr
    assert "feedback for the planner (an empty line goes back): " in done.stderr
    assert "Run step 1? " in done.stderr


# --- SignalWatch ----------------------------------------------------------------------------


def test_sigterm_flips_should_continue_and_the_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    with SignalWatch(out) as watch:
        assert signal.getsignal(signal.SIGTERM) != before[1]
        assert watch.should_continue(1) is True
        os.kill(os.getpid(), signal.SIGTERM)
        assert watch.should_continue(1) is False
        assert (watch.stopping, watch.received) == (True, "SIGTERM")
        os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM does not stop it at once
        assert watch.received == "SIGTERM"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert out.getvalue() == (
        "SIGTERM received: stopping after the current step; press Ctrl-C again to stop now\n"
        "SIGTERM received: still stopping after the current step\n"
    )


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    with (tmp_path / "err").open("w") as out, SignalWatch(out) as watch:
        os.kill(os.getpid(), signal.SIGINT)
        assert watch.should_continue(3) is False
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    assert (tmp_path / "err").read_text() == (
        "SIGINT received: stopping after the current step; press Ctrl-C again to stop now\n"
    )


def test_the_watch_and_a_pause_hook_work_together() -> None:
    class Hooks:
        def __init__(self) -> None:
            self.paused = 0

        def pause_check(self) -> None:
            self.paused += 1

    hooks = Hooks()
    with SignalWatch(io.StringIO()) as watch:
        signals = AllSignals(CallbackSignals(hooks), watch)
        assert signals.should_continue(1) is True
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.should_continue(2) is False
    assert hooks.paused == 2


def test_a_signal_during_a_step_stops_the_run_before_the_next_one() -> None:
    def run(script: object) -> Execution:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while step 1's code runs
        return Execution(exit_code=0, stdout="ok")

    out = io.StringIO()
    replies = {"engineer": [Code("a"), Code("b")], "judge": [OK, OK]}
    with SignalWatch(out) as watch:
        fx = scripted_effects(replies, executor=ScriptedExecutor(run), signals=watch)
        halt = run_steps(Context(task="t", plan=PLAN), fx).failure()
    assert halt.error == Cancelled(step=2)
    assert halt.context.completed_steps == (1,)
    assert out.getvalue().startswith("SIGINT received: stopping after the current step")


CHILD_RUN = """
import sys
from pathlib import Path
from plancontrol import Context, Execution, encode_context
from plancontrol.core.phases.control import run_steps
from plancontrol.core.plan import Plan, Step
from plancontrol.core.answers import Code, Verdict
from plancontrol.handlers.terminal import SignalWatch
from plancontrol.testing import ScriptedExecutor, scripted_effects

def run(script):
    print(f"step {script.step} running", flush=True)
    sys.stdin.readline()  # the parent says when the step may end
    return Execution(exit_code=0, stdout=f"step {script.step} done")

plan = Plan(tuple(Step(f"Task {n}", "engineer") for n in (1, 2, 3)))
replies = {"engineer": [Code("x")] * 3, "judge": [Verdict("success", "made 2 3 5")] * 3}
with SignalWatch() as watch:
    fx = scripted_effects(replies, executor=ScriptedExecutor(run), signals=watch)
    try:
        halt = run_steps(Context(task="t", plan=plan), fx).failure()
    except KeyboardInterrupt:
        print("interrupted at once", flush=True)
        sys.exit(130)
Path(sys.argv[1]).write_bytes(encode_context(halt.context))
print(halt.message, flush=True)
"""


def _child(tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_RUN, str(tmp_path / "stopped.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_ctrl_c_in_a_real_run_stops_after_the_step_and_the_run_resumes(tmp_path: Path) -> None:
    with _child(tmp_path) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        assert child.stdout.readline() == "step 1 running\n"
        child.send_signal(signal.SIGINT)
        assert child.stderr.readline() == (
            "SIGINT received: stopping after the current step; press Ctrl-C again to stop now\n"
        )
        out, _ = child.communicate("go\n", timeout=60)
    assert child.returncode == 0
    assert out == "cancelled before step 2: cancelled by request; resume to continue from there\n"
    stopped = decode_context((tmp_path / "stopped.json").read_bytes()).unwrap()
    assert stopped.completed_steps == (1,)
    again = scripted_effects({"engineer": [Code("y"), Code("z")], "judge": [OK, OK]})
    done = run_pipeline(CONTROL, stopped, again).unwrap()
    assert done.completed_steps == (1, 2, 3)
    assert [r.step for r in again.agents.requests] == [2, 2, 3, 3]
    assert "### Step 1\nmade 2 3 5" in again.agents.requests[0].messages[0].content


@pytest.mark.slow
def test_a_second_ctrl_c_in_a_real_run_stops_it_at_once(tmp_path: Path) -> None:
    with _child(tmp_path) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        assert child.stdout.readline() == "step 1 running\n"
        child.send_signal(signal.SIGINT)
        assert child.stderr.readline().startswith("SIGINT received: stopping")
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=60)
    assert (child.returncode, out) == (130, "interrupted at once\n")
    assert not (tmp_path / "stopped.json").exists()
